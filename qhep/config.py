"""Run configuration: Hydra composition of the `task`, `method` and `backend` groups plus top-level settings.

Methods and backends are typed dataclasses and tasks are their YAML cards, all in Hydra's ConfigStore, so an
override like `method.n_layers=4` is type-checked, and a wrong group choice, key or value becomes one line
that lists what is valid. A method's named configurations (its published setups, `qhep.methods.named`) are options
of the `method/<method>` group: `method=qae/ngairangbam2021`, with overrides on top as usual.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, fields
from typing import Any

from hydra import compose, initialize
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from qhep.errors import QhepError
from qhep.harness.launchers import SETTINGS as LAUNCHERS
from qhep.harness.reduction import ReductionConfig
from qhep.methods import METHODS, named
from qhep.protocols import PROTOCOLS
from qhep.quantum.backends import BACKENDS
from qhep.settings import SEED, Flag, Number, Text, declared, problems, setting
from qhep.tasks import TASKS, load_card
from qhep.tasks.settings import TASK_SETTINGS, is_task_setting, task_problems

DEFAULTS = {"task": "lhco", "protocol": "unsupervised", "method": "qae", "backend": "fast"}
STAGES = ("encoder", "scorer")  # a chain's stages: settings sections that are themselves methods


@dataclass
class TunedConfig:
    """A run's tuning identity, set by `qhep tune` on the final runs of the configuration it chose: the tuning sweep
    that chose the method settings on validation events, and that search's budget (configurations tried). It
    labels the run's row (`qsvm (tuned, budget 12)`) and keeps it apart from the default's; it never changes a fit."""

    sweep: str | None = setting(None, Text(optional=True))
    budget: int | None = setting(None, Number(int, ge=1, optional=True))


@dataclass
class RunConfig:
    defaults: list[Any] = field(default_factory=lambda: ["_self_", *({k: v} for k, v in DEFAULTS.items())])
    task: Any = MISSING
    protocol: Any = MISSING
    method: Any = MISSING
    backend: Any = MISSING
    seed: int = setting(0, SEED)
    reduction: ReductionConfig = field(default_factory=ReductionConfig)
    results_dir: str = setting("results", Text())
    # background events a working point (rejection, SIC, eps_S at fixed eps_B) must rest on to be a number
    min_background: int = setting(25, Number(int, ge=1))
    # replicates of the seeded bootstrap over the test events that gives every figure its uncertainty; 0: none
    bootstrap: int = setting(200, Number(int, ge=0, le=100_000))
    plots: bool = setting(True, Flag())
    progress: bool = setting(True, Flag())
    # backends that submit jobs: print what training and scoring would submit (circuits, shots, QPU time), stop
    dry_run: bool = setting(False, Flag())
    # backends that submit jobs: submit every job that needs no earlier results, journal the ids and return
    # without waiting (IBM queues take hours); `qhep jobs <folder>` shows them, `qhep resume <folder>` collects them
    detach: bool = setting(False, Flag())
    # score a seeded, stratified subsample of the test set (bounds QPU time); null: all
    test_events: int | None = setting(None, Number(int, ge=2, optional=True))
    tuned: TunedConfig = field(default_factory=TunedConfig)  # set by qhep tune (the chosen configuration's runs)


@dataclass
class LaunchConfig:
    """Where a sweep's points run (qhep.harness.launchers): the sweep's setting, never a run's, so it is composed
    apart and enters no run's configuration, record or training identity."""

    defaults: list[Any] = field(default_factory=lambda: ["_self_", {"launcher": "inline"}])
    launcher: Any = MISSING


def group_options() -> dict[str, list[str]]:
    return {"task": sorted(TASKS), "protocol": sorted(PROTOCOLS), "method": sorted(METHODS),
            "backend": sorted(BACKENDS)}


@functools.cache  # the registries are fixed for the life of the process; a sweep composes many points
def _register() -> None:
    store = ConfigStore.instance()
    store.store(name="qhep_run", node=RunConfig)
    for name in TASKS:
        store.store(group="task", name=name, node=load_card(name))
    for name, (_, settings) in PROTOCOLS.items():
        store.store(group="protocol", name=name, node=settings)
    for name, (method, settings) in METHODS.items():
        store.store(group="method", name=name, node=settings)
        for configuration in method.named_configurations:  # method=qae/ngairangbam2021
            store.store(group=f"method/{name}", name=configuration, node=named.node(name, configuration))
        if not method.stages:  # a chain's stages: any other method (method/scorer), one that transforms (encoder)
            store.store(group="method/scorer", name=name, node=settings)
            if method.transforms:
                store.store(group="method/encoder", name=name, node=settings)
    for name, backend in BACKENDS.items():
        store.store(group="backend", name=name, node=backend)
    store.store(name="qhep_launch", node=LaunchConfig)
    for name, settings in LAUNCHERS.items():
        store.store(group="launcher", name=name, node=settings)


def is_launcher_setting(item: str) -> bool:
    """`launcher=...` or `launcher.<key>=...`: a sweep's setting, not a point's."""
    return item.partition("=")[0].partition(".")[0] == "launcher"


def compose_launcher(overrides: list[str]):
    """The launcher's settings (a qhep.harness.launchers settings object) for `launcher...=` overrides, checked
    like a run's: an unknown launcher, key or value is one line that says what is valid."""
    _register()
    name = "inline"
    for item in overrides:
        key, value = _literal(item)
        if key == "launcher":
            if value not in LAUNCHERS:
                raise QhepError(f"unknown launcher {value!r}; choose one of: {', '.join(LAUNCHERS)}")
            name = value
    valid = [f.name for f in fields(LAUNCHERS[name]) if f.name != "name"]
    for item in overrides:
        key = item.partition("=")[0]
        if key != "launcher" and key.partition(".")[2] not in valid:
            raise QhepError(f"unknown setting {key!r}; valid settings of launcher {name}: "
                            f"{', '.join(valid) or 'none'}")
    try:
        with initialize(version_base=None, config_path=None):
            cfg = compose("qhep_launch", overrides=list(overrides))
    except Exception as exc:  # a value of the wrong type: name the setting and what it takes
        text = " ".join(str(part) for part in (exc, exc.__cause__) if part)
        bad = next((o for o in overrides if o.partition("=")[0].partition(".")[2] in text and o.partition("=")[2]
                    and o.partition("=")[0] != "launcher"), None)
        if bad is None:
            raise QhepError(text.strip().splitlines()[0]) from None
        key, _, value = bad.partition("=")
        expected = type(getattr(LAUNCHERS[name](), key.partition(".")[2])).__name__
        raise QhepError(f"invalid value {value!r} for {key} (expected {expected})") from None
    found = problems(OmegaConf.to_container(cfg.launcher), declared(LAUNCHERS[name]), "launcher")
    if found:
        raise QhepError(found[0])
    return OmegaConf.to_object(cfg.launcher)


def compose_run(overrides: list[str]) -> DictConfig:
    """The resolved run configuration for `key=value` overrides, or a QhepError that says what is wrong.

    Every value is checked against its declaration before this returns, so nothing downstream (a folder, a
    loaded file, a job) happens for a configuration that is not valid."""
    _register()
    chosen = next((o.partition("=")[2] for o in reversed(overrides) if o.partition("=")[0] == "method"),
                  DEFAULTS["method"])
    overrides = [_stage_choice(item, named.split(chosen)[0]) for item in overrides]
    choices = dict(DEFAULTS)
    for item in overrides:
        key, value = _literal(item)
        if key in choices:
            # method=qae/ngairangbam2021: a named configuration of qae (a bad name: one line with the valid ones)
            if (named.split(value)[0] if key == "method" else value) not in group_options()[key]:
                raise QhepError(f"unknown {key} {value!r}; choose one of: {', '.join(group_options()[key])}")
            choices[key] = value
    try:
        cfg = _compose(overrides)
    except QhepError:
        raise
    except Exception as exc:  # Hydra/OmegaConf errors: turn into one line naming the key and what is valid
        raise QhepError(_explain(exc, overrides, choices)) from None
    for key in (item.partition("=")[0] for item in overrides):
        group, _, rest = key.partition(".")
        if group == "task" and rest and not is_task_setting(cfg.task.name, rest):
            raise QhepError(f"task.{rest} describes the task and is not a setting; the settings of task "
                            f"{cfg.task.name}: {', '.join(TASK_SETTINGS[cfg.task.name])}")
    found = config_problems(cfg) or pairing_problems(cfg, overrides)
    if found:
        raise QhepError(found[0])
    return cfg


def _stage_choice(item: str, method: str) -> str:
    """`method.encoder=ae` chooses a chain's stage: Hydra's spelling of that choice is `method/encoder=ae`."""
    key, sep, value = item.partition("=")
    group, _, stage = key.partition(".")
    if group != "method" or not sep or stage not in STAGES:
        return item
    if method in METHODS and not METHODS[method][0].stages:
        raise QhepError(f"{key}: method {method} has no stages; {key} is a setting of method=chain")
    able = sorted(name for name, (method, _) in METHODS.items()
                  if not method.stages and (stage == "scorer" or method.transforms))
    if value not in able:
        raise QhepError(f"unknown {key} {value!r}; choose one of: {', '.join(able)}")
    return f"method/{stage}={value}"


def _literal(item: str) -> tuple[str, str]:
    """(key, value) of a plain `key=value` override. Values are literals: an interpolation such as
    ${oc.env:QISKIT_IBM_TOKEN} would read the environment (a token) into errors and records, and Hydra's
    +key / ++key / ~key would add or delete settings that no declaration checks."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise QhepError(f"expected key=value, got {item!r}")
    if key[0] in "+~" or "@" in key or ("/" in key and key.replace("/", ".", 1).partition(".")[2] not in STAGES):
        raise QhepError(f"{key}: settings are set with key=value; adding (+), deleting (~) or repackaging (@) "
                        "settings is not supported")
    if "${" in value:
        raise QhepError(f"{key}: values are literals; interpolations (${{...}}) are not read")
    parent = key.rpartition(".")[0]
    if key.endswith(".name") and (parent in DEFAULTS or parent in (f"method.{stage}" for stage in STAGES)):
        options = group_options()[parent] if parent in DEFAULTS else sorted(METHODS)
        raise QhepError(f"{key} is chosen with {parent}=<name> (one of: {', '.join(options)})")
    return key, value


def config_problems(cfg: DictConfig) -> list[str]:
    """Every setting against its declared check: the run's, the reduction's, the method's, the backend's, the
    task's."""
    values = OmegaConf.to_container(cfg, resolve=False)
    method_class, method_settings = METHODS[values["method"]["name"]]
    stages = [(f"method.{stage}", values["method"][stage]) for stage in method_class.stages]
    found = (problems(values, declared(RunConfig), "") + problems(values["reduction"], declared(ReductionConfig),
                                                                 "reduction")
             + problems(values["tuned"], declared(TunedConfig), "tuned")
             + [p for where, section in stages for p in problems(section, declared(METHODS[section["name"]][1]), where)]
             + problems(values["protocol"], declared(PROTOCOLS[values["protocol"]["name"]][1]), "protocol")
             + problems(values["method"], declared(method_settings), "method")
             + problems(values["backend"], declared(type(BACKENDS[values["backend"]["name"]])), "backend")
             + task_problems(values["task"]))
    return found or method_class.settings_problems(OmegaConf.to_object(cfg.method),
                                                   type(BACKENDS[values["backend"]["name"]]))


def pairing_problems(cfg: DictConfig, overrides: list[str]) -> list[str]:
    """Settings that are each valid but do not go together."""
    method = METHODS[cfg.method.name][0]
    quantum = method.is_quantum(cfg.method)
    backend = type(BACKENDS[cfg.backend.name])
    chose_backend = [o for o in overrides if o.partition("=")[0].partition(".")[0] == "backend"]
    task = TASKS[cfg.task.name]
    view, condition = method.view_of(cfg.method), method.condition_of(cfg.method)
    if view not in task.views:
        offering = [name for name, other in TASKS.items() if view in other.views]
        return [f"method {cfg.method.name} reads the {view} view; task {cfg.task.name} offers: "
                f"{', '.join(task.views)}" + (f" (set task={' or task='.join(offering)})" if offering else "")]
    if condition and condition not in task.conditions:
        return [f"method {cfg.method.name} is conditioned on {condition}; task {cfg.task.name} offers "
                + (f"as conditions: {', '.join(task.conditions)}" if task.conditions else "no condition")]
    if condition and view == "features" and condition in cfg.task.get("features", ()):
        return [f"method {cfg.method.name} is conditioned on {condition}, which is also one of task.features: "
                f"drop it from task.features"]
    if cfg.protocol.name not in method.protocols:
        return [f"method {cfg.method.name} runs under protocol {' or '.join(method.protocols)}, not "
                f"{cfg.protocol.name}: set protocol={method.protocols[0]}"]
    if not quantum and chose_backend:
        return [f"method {cfg.method.name} is classical and runs on no quantum backend: {chose_backend[0]} "
                "would be ignored; leave the backend out"]
    if cfg.dry_run and not quantum:
        return [f"dry_run=true prices quantum jobs; method {cfg.method.name} is classical: there is nothing to price"]
    if cfg.dry_run and not backend.submits_jobs:
        pricing = ", ".join(name for name, b in BACKENDS.items() if b.submits_jobs)
        return [f"dry_run=true prices jobs on shot-based or remote backends ({pricing}); backend {cfg.backend.name} "
                "runs locally and exactly: there is nothing to price"]
    return detach_problems(cfg, method, quantum, backend)


def detach_problems(cfg: DictConfig, method, quantum: bool, backend) -> list[str]:
    """What keeps a run from detaching (submitting its jobs and returning without waiting)."""
    if not cfg.detach:
        return []
    if cfg.dry_run:
        return ["detach=true submits jobs and dry_run=true submits none: set only one of them"]
    if not quantum:
        return [f"detach=true submits quantum jobs; method {cfg.method.name} is classical: nothing to submit"]
    if not backend.submits_jobs:
        submitting = ", ".join(name for name, b in BACKENDS.items() if b.submits_jobs)
        return [(f"detach=true submits jobs on shot-based or remote backends ({submitting}); backend "
                 f"{cfg.backend.name} runs locally and submits none: choose one of those")]
    return method.detach_problems(OmegaConf.to_object(cfg.method), backend)


def _compose(overrides: list[str]) -> DictConfig:
    with initialize(version_base=None, config_path=None):
        return compose("qhep_run", overrides=overrides)


def _explain(exc: Exception, overrides: list[str], choices: dict) -> str:
    text = " ".join(str(part) for part in (exc, exc.__cause__) if part)
    named = [o for o in overrides if f"'{o.partition('=')[0]}'" in text or o.partition("=")[0] in text]
    # the longest key the message names: `backend.shots`, not `backend` (a prefix of it, and already checked)
    bad = max(named, key=lambda o: len(o.partition("=")[0]), default=None)
    if bad is None:  # a parse error quotes the input it stopped at: name the setting that holds it
        fragments = re.findall(r"'([^']+)'", text)
        holder = next((o for o in overrides for f in fragments if f in o.partition("=")[2]), None)
        first = text.strip().splitlines()[0]
        return f"cannot read {holder!r}: {first}" if holder else first
    key, _, value = bad.partition("=")
    parent_path, _, leaf = key.rpartition(".")
    stage_choices = [o for o in overrides if o.startswith("method/")]  # a chain's stages, as chosen
    defaults = _compose([f"{k}={v}" for k, v in choices.items()] + stage_choices)
    parent = OmegaConf.select(defaults, parent_path) if parent_path else defaults
    if isinstance(parent, DictConfig) and leaf not in parent:
        valid = [k for k in parent.keys() if k != "defaults"]
        where = f"of {parent_path}" if parent_path else "at the top level"
        return f"unknown setting {key!r}; valid settings {where}: {', '.join(valid)}"
    if parent is None:
        return f"unknown setting {key!r}"
    expected = type(OmegaConf.select(defaults, key)).__name__
    return f"invalid value {value!r} for {key} (expected {expected})"

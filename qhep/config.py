"""Run configuration: Hydra composition of the `task`, `method` and `backend` groups plus top-level settings.

Methods and backends are typed dataclasses and tasks are their YAML cards, all in Hydra's ConfigStore, so an
override like `method.n_layers=4` is type-checked, and a wrong group choice, key or value becomes one line
that lists what is valid.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from hydra import compose, initialize
from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from qhep.errors import QhepError
from qhep.harness.reduction import ReductionConfig
from qhep.methods import METHODS
from qhep.quantum.backends import BACKENDS
from qhep.tasks import TASKS, load_card

DEFAULTS = {"task": "lhco", "method": "qae", "backend": "fast"}


@dataclass
class RunConfig:
    defaults: list[Any] = field(default_factory=lambda: ["_self_", *({k: v} for k, v in DEFAULTS.items())])
    task: Any = MISSING
    method: Any = MISSING
    backend: Any = MISSING
    seed: int = 0
    reduction: ReductionConfig = field(default_factory=ReductionConfig)
    results_dir: str = "results"
    min_background: int = 25  # background events that must pass for a SIC value to count
    plots: bool = True
    progress: bool = True
    dry_run: bool = False  # Qiskit backends: print what scoring would submit (circuits, shots, QPU time) and stop
    test_events: int | None = None  # score a seeded, stratified subsample of the test set (bounds QPU time)


def group_options() -> dict[str, list[str]]:
    return {"task": sorted(TASKS), "method": sorted(METHODS), "backend": sorted(BACKENDS)}


@functools.cache  # the registries are fixed for the life of the process; a sweep composes many points
def _register() -> None:
    store = ConfigStore.instance()
    store.store(name="qhep_run", node=RunConfig)
    for name in TASKS:
        store.store(group="task", name=name, node=load_card(name))
    for name, (_, settings) in METHODS.items():
        store.store(group="method", name=name, node=settings)
    for name, backend in BACKENDS.items():
        store.store(group="backend", name=name, node=backend)


def compose_run(overrides: list[str]) -> DictConfig:
    """The resolved run configuration for `key=value` overrides, or a QhepError that says what is wrong."""
    _register()
    choices = dict(DEFAULTS)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise QhepError(f"expected key=value, got {item!r}")
        if key in choices:
            if value not in group_options()[key]:
                raise QhepError(f"unknown {key} {value!r}; choose one of: {', '.join(group_options()[key])}")
            choices[key] = value
    try:
        return _compose(overrides)
    except QhepError:
        raise
    except Exception as exc:  # Hydra/OmegaConf errors: turn into one line naming the key and what is valid
        raise QhepError(_explain(exc, overrides, choices)) from None


def _compose(overrides: list[str]) -> DictConfig:
    with initialize(version_base=None, config_path=None):
        return compose("qhep_run", overrides=overrides)


def _explain(exc: Exception, overrides: list[str], choices: dict) -> str:
    text = " ".join(str(part) for part in (exc, exc.__cause__) if part)
    named = [o for o in overrides if f"'{o.partition('=')[0]}'" in text or o.partition("=")[0] in text]
    # the longest key the message names: `backend.shots`, not `backend` (a prefix of it, and already checked)
    bad = max(named, key=lambda o: len(o.partition("=")[0]), default=None)
    if bad is None:
        return text.strip().splitlines()[0]
    key, _, value = bad.partition("=")
    parent_path, _, leaf = key.rpartition(".")
    defaults = _compose([f"{k}={v}" for k, v in choices.items()])
    parent = OmegaConf.select(defaults, parent_path) if parent_path else defaults
    if isinstance(parent, DictConfig) and leaf not in parent:
        valid = [k for k in parent.keys() if k != "defaults"]
        where = f"of {parent_path}" if parent_path else "at the top level"
        return f"unknown setting {key!r}; valid settings {where}: {', '.join(valid)}"
    if parent is None:
        return f"unknown setting {key!r}"
    expected = type(OmegaConf.select(defaults, key)).__name__
    return f"invalid value {value!r} for {key} (expected {expected})"

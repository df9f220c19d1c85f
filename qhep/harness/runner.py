"""One benchmark run: load the task, fit the method, score the test set, write the record.

The stages are separate so that a run can be resumed and a sweep can share one fitted model: `load_inputs`
(task data reduced to the method's inputs), `start` (the run's folder and its run.json, written before any work
so an interrupted run can be recomposed), `fit`, and `finish` (score, metrics, record). `run_benchmark` does
all of them; a sweep fits once and finishes several runs, each on its own scoring backend.
"""
from __future__ import annotations

import json
import re
import resource
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from qhep import __version__
from qhep.errors import Interrupted, NoAccount, QhepError, describe_os_error
from qhep.harness.attempts import attempt, read_attempts
from qhep.harness.budget import check_budget
from qhep.harness.lock import folder_lock
from qhep.harness.metrics import Statistics, downsample_curve, evaluate, roc
from qhep.harness.records import RECORD_FILE, SCHEMA, environment
from qhep.harness.reduction import reduce_inputs
from qhep.harness.scores_file import SCORES_FILE, write_scores
from qhep.harness.subsample import stratified_subsample
from qhep.harness.uncertainty import roc_band
from qhep.methods import METHODS
from qhep.methods import named
from qhep.methods.persistence import MODEL_DIR, has_model, restore, save
from qhep.protocols import make_protocol
from qhep.quantum.backends import make_backend, planning_backend
from qhep.quantum.qiskit_runners import matching_fake_device
from qhep.settings import Kind, ListOf, Text, When
from qhep.storage import read_state, write_json_atomic
from qhep.tasks import TASKS

RUN_FILE = "run.json"  # the composed run, written before fitting: what `qhep resume` recomposes
RUN_SCHEMA = "qhep.run/1"
RUN_FIELDS = {"run_id": Text(), "created": When(), "overrides": ListOf(Text()), "config": Kind(dict),
              "sweep": Kind(dict, optional=True)}


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


@dataclass
class Inputs:
    """A task's data, split, and reduced to the inputs of a method."""

    task: object
    data: object  # TaskData
    train_x: object
    test_x: object
    reduction: dict
    validation_x: object = None  # the held-out validation events, reduced like the test events (or None)


@dataclass
class Started:
    """A run with its identity and folder."""

    run_id: str
    created: datetime
    run_dir: Path
    label: str
    resumed: bool = False
    named: str | None = None  # the named configuration the overrides chose (method=qae/ngairangbam2021)


@dataclass
class Training:
    seconds: float  # over every attempt (an interrupted and resumed run counts all of its work)
    events: int  # training events x epochs
    run_id: str  # the run that trained the model (a sweep's other points share it)
    attempts: int = 1
    restored: bool = False  # the model an earlier attempt saved, not fitted again


def is_quantum(cfg: DictConfig) -> bool:
    return METHODS[cfg.method.name][0].is_quantum(cfg.method)


def load_inputs(cfg: DictConfig) -> Inputs:
    task_settings = OmegaConf.to_container(cfg.task, resolve=True)
    task = TASKS[task_settings["name"]](task_settings)
    view = METHODS[cfg.method.name][0].view_of(cfg.method)
    data = task.load(cfg.seed, make_protocol(OmegaConf.to_container(cfg.protocol, resolve=True)), view)
    if len(data.train) == 0:
        raise QhepError(f"task {data.task}: no training events after the selection ({data.cutflow})")
    if view != "features":  # the reduction step compresses feature vectors; other views go to the method whole
        return Inputs(task, data, data.train.X, data.test.X, {"method": "none", "view": view,
                                                              "inputs": data.features, "outputs": data.features},
                      data.validation.X if data.validation is not None else None)
    held = data.validation.X if data.validation is not None else data.test.X[:0]
    train_x, evaluation_x, reduction = reduce_inputs(data.train.X, np.concatenate([data.test.X, held]),
                                                     data.features, OmegaConf.to_object(cfg.reduction),
                                                     is_quantum(cfg), cfg.seed)
    test_x, validation_x = evaluation_x[: len(data.test)], evaluation_x[len(data.test):]
    return Inputs(task, data, train_x, test_x, reduction, validation_x if data.validation is not None else None)


def sample_warnings(task: DictConfig, cutflow: dict) -> list[str]:
    """A line for each sample below the task's declared minimum (its card's `minimum_events`)."""
    minimum = task.get("minimum_events") or {}
    have = {"train": cutflow["train_events"], "test_background": cutflow["test_background"],
            "test_signal": cutflow["test_signal"]}
    return [f"{what.replace('_', ' ')}: {have[what]} events, below the task's minimum of {need}: "
            "its figures are statistically weak" for what, need in minimum.items() if have[what] < need]


def requirements(cfg: DictConfig) -> dict:
    """What the method declared it needs and gives, as this run's settings make it (for the record)."""
    method = METHODS[cfg.method.name][0]
    return {"view": method.view_of(cfg.method), "condition": method.condition_of(cfg.method),
            "protocols": list(method.protocols), "output": method.output, "quantum": method.is_quantum(cfg.method)}


def conditioned(cfg: DictConfig, values: dict) -> dict:
    """The keyword a method that declares a condition is given with its events (none for the others)."""
    condition = METHODS[cfg.method.name][0].condition_of(cfg.method)
    return {"condition": values[condition]} if condition else {}


def scoring_backend(cfg: DictConfig, run_dir: Path | None = None):
    """The run's backend object (None for a classical method); Qiskit backends journal jobs in the run folder."""
    if not is_quantum(cfg):
        return None
    return journal_in(make_backend(OmegaConf.to_container(cfg.backend, resolve=True)), run_dir)


def journal_in(backend, run_dir: Path | None):
    """A backend that journals its jobs does so in the run's folder, unless backend.journal names another."""
    if backend is not None and run_dir is not None and getattr(backend, "journal", "unset") is None:
        backend.journal = str(run_dir)
    return backend


def new_method(cfg: DictConfig, backend):
    estimator_class, _ = METHODS[cfg.method.name]
    return estimator_class(OmegaConf.to_object(cfg.method), seed=cfg.seed, backend=backend, progress=cfg.progress)


def run_label(cfg: DictConfig) -> str:
    parts = [cfg.task.name, cfg.method.name, cfg.backend.name if is_quantum(cfg) else None, f"seed{cfg.seed}"]
    return "-".join(safe_name(str(p)) for p in parts if p)


def safe_name(text: str) -> str:
    """A name as a single folder-name component: no separators, no leading dots, nothing a shell misreads."""
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text).lstrip(".") or "_"


def start(cfg: DictConfig, overrides: list[str], run_id: str | None = None, run_dir: Path | None = None,
          sweep: dict | None = None) -> Started:
    """Create the run's folder and write run.json (the overrides and the configuration they compose to)."""
    created = datetime.now(timezone.utc)
    label = run_label(cfg)
    run_id = run_id or f"{created:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    run_dir = Path(run_dir) if run_dir else Path(cfg.results_dir) / "runs" / f"{run_id}-{label}"
    state = {"schema": RUN_SCHEMA, "run_id": run_id, "created": created.isoformat(timespec="seconds"),
             "overrides": list(overrides), "config": OmegaConf.to_container(cfg, resolve=True)}
    if sweep:
        state["sweep"] = sweep
    write_json_atomic(state, run_dir / RUN_FILE)
    return Started(run_id, created, run_dir, label, named=named.choice_of(overrides))


def read_run_state(run_dir: Path) -> dict:
    return read_state(Path(run_dir) / RUN_FILE, "run", RUN_SCHEMA, RUN_FIELDS)


def check_same_config(cfg: DictConfig, stored: dict, where: Path) -> None:
    """A resumed run must compose to the configuration it started with (qhep's defaults may have changed)."""
    now = json.loads(json.dumps(OmegaConf.to_container(cfg, resolve=True), default=str))
    changed = sorted(_differences(now, stored))
    if changed:
        raise QhepError(f"{where}: its settings now compose differently ({', '.join(changed[:5])}); "
                        "qhep changed since the run started, so it cannot be resumed: start it again")


def _differences(a, b, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        # a section added (or dropped) since, all of it unset (null), changes nothing the run did
        keys = [k for k in a.keys() | b.keys() if (k in a and k in b) or not _unset(a.get(k, b.get(k)))]
        return [d for k in keys for d in _differences(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".")]


def _unset(value) -> bool:
    return value is None or (isinstance(value, dict) and all(_unset(v) for v in value.values()))


def fit(cfg: DictConfig, method, inputs: Inputs, run_id: str, run_dir: Path | None = None) -> Training:
    """Fit and save the model in run_dir/model, logging the attempt; or, when an earlier attempt of the run saved
    its model, restore it instead of fitting again. The training time recorded is that of every fit the run made
    (an interrupted one included)."""
    earlier = [e["seconds"] for e in read_attempts(run_dir) if e["stage"] == "fit"] if run_dir else []
    events = len(inputs.train_x) * cfg.method.get("epochs", 1)
    model_dir = run_dir / MODEL_DIR if run_dir else None
    if model_dir is not None and has_model(model_dir):
        restore(method, model_dir)
        return Training(sum(earlier), events, run_id, attempts=len(earlier), restored=True)
    with attempt(run_dir, "fit") as timing:
        method.fit(inputs.train_x, inputs.data.train_labels, **conditioned(cfg, inputs.data.train_values))
    if model_dir is not None:
        save(method, model_dir)
    return Training(sum(earlier) + timing["seconds"], events, run_id, attempts=len(earlier) + 1)


def scored_test(cfg: DictConfig, inputs: Inputs) -> tuple:
    """(data, test events, cutflow) of what the run scores: the test set, or its seeded stratified subsample."""
    data, test_x, cutflow = inputs.data, inputs.test_x, dict(inputs.data.cutflow)
    keep = stratified_subsample(data.test.y, cfg.test_events, cfg.seed)
    if keep is not None:
        data, test_x = data.with_test_subset(keep), test_x[keep]
        cutflow.update(test_events_before_subsample=len(inputs.data.test),
                       test_background=int((data.test.y == 0).sum()), test_signal=int((data.test.y == 1).sum()))
    return data, test_x, cutflow


def detach(cfg: DictConfig, started: Started, inputs: Inputs, method) -> list[str]:
    """Submit every job the run needs that needs no earlier results, without waiting; their ids. What fits here
    is fitted first and saved, so that `qhep resume` restores the model and collects the jobs by id."""
    if method.fits_locally(OmegaConf.to_object(cfg.method)):
        fit(cfg, method, inputs, started.run_id, started.run_dir)
    data, test_x, _ = scored_test(cfg, inputs)
    return method.detach(inputs.train_x, test_x, inputs.data.train_labels, **conditioned(cfg, data.test_values))


def finish(cfg: DictConfig, started: Started, inputs: Inputs, method, training: Training,
           sweep: dict | None = None) -> dict:
    """Score the (optionally subsampled) test set with the fitted method and write the record and its plot."""
    data, test_x, cutflow = scored_test(cfg, inputs)
    test_y = data.test.y

    with attempt(started.run_dir, "score") as scoring:
        scores = method.anomaly_score(test_x, **conditioned(cfg, data.test_values))
    inference_seconds = scoring["seconds"]

    statistics = Statistics(cfg.min_background, cfg.bootstrap, cfg.seed)
    metrics = evaluate(test_y, scores, expected_counts=data.expected_counts, statistics=statistics)
    metrics.update(inputs.task.metrics(data, scores, statistics))
    eps_b, eps_s = roc(test_y, scores)
    timing = {
        "train_seconds": training.seconds,
        "train_events_per_second": training.events / training.seconds if training.seconds > 0 else None,
        "inference_seconds": inference_seconds,
        "inference_events_per_second": len(test_y) / inference_seconds,
        "peak_memory_mb": peak_memory_mb(),
    }
    if training.attempts > 1:
        timing["train_attempts"] = training.attempts
    if training.restored:
        timing["model_restored"] = True
    if training.run_id != started.run_id:  # the model was trained once for several runs: its cost is not this run's
        timing["train_shared_from"] = training.run_id
    record = {
        "schema": SCHEMA,
        "run_id": started.run_id,
        "created": started.created.isoformat(timespec="seconds"),
        "task": data.task,
        "method": cfg.method.name,
        # which named configuration (published setup) it was made from, or whose settings it has; null: neither
        "named_configuration": named.record_section(cfg.method.name, OmegaConf.to_container(cfg.method, resolve=True),
                                                    started.named),
        "backend": cfg.backend.name if is_quantum(cfg) else None,
        "seed": int(cfg.seed),
        "features": data.features,
        "reduction": inputs.reduction,
        "dataset": data.dataset,
        "protocol": data.protocol,
        "requirements": requirements(cfg),
        "cutflow": cutflow,
        "warnings": sample_warnings(cfg.task, cutflow),
        "metrics": metrics,
        "timing": timing,
        "resources": method.resources(),
        "training_loss": getattr(method, "history", []),
        "roc": downsample_curve(eps_b, eps_s),
        **({"roc_band": roc_band(test_y, scores, cfg.bootstrap, cfg.seed)} if cfg.bootstrap else {}),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "environment": {**environment(), "qhep": __version__},
    }
    if inputs.validation_x is not None:
        record["validation"] = validation(cfg, inputs, method)
    if started.resumed:
        record["resumed"] = True
    if sweep:
        record["sweep"] = sweep
    write_scores(started.run_dir / SCORES_FILE, scores, test_y, data.test_values,
                 {"run_id": started.run_id, "task": data.task, "method": cfg.method.name, "seed": int(cfg.seed)})
    record["scores_file"] = SCORES_FILE
    write_json_atomic(record, started.run_dir / RECORD_FILE)  # last: a record means the run is complete
    if cfg.plots:
        from qhep.reporting.plots import plot_roc_sic
        from qhep.reporting.tables import figure

        plot_roc_sic(eps_b, eps_s, int(metrics["test_background"]), cfg.min_background,
                     f"{started.label}  AUC {figure(record, 'auc', '.3f')}", started.run_dir / "roc_sic.png",
                     record.get("roc_band"))
    return record


def validation(cfg: DictConfig, inputs: Inputs, method) -> dict:
    """The held-out validation events' figures (no bootstrap): what `qhep tune` chooses settings by."""
    held = inputs.data.validation
    scores = method.anomaly_score(inputs.validation_x, **conditioned(cfg, inputs.data.validation_values))
    figures = evaluate(held.y, scores, statistics=Statistics(cfg.min_background, 0, cfg.seed))
    return {"background": int((held.y == 0).sum()), "signal": int((held.y == 1).sum()),
            "metrics": {k: v for k, v in figures.items() if k != "working_points"}}


def dry_run(cfg: DictConfig, method, inputs: Inputs, n_test: int) -> dict:
    """What the run would submit, without submitting. Planning needs no account: on IBM without one, a named
    device is planned on the matching fake device's target, and the plan says so."""
    sizes = (inputs.train_x.shape[1], n_test, len(inputs.train_x))
    try:
        return method.dry_run(*sizes)
    except NoAccount as exc:
        fake = matching_fake_device(cfg.backend.get("device"))
        if fake is None:
            raise QhepError(f"{exc}; or name a device with a matching fake one (backend.device=ibm_brisbane) to "
                            "plan on its target without an account") from None
        planner = new_method(cfg, planning_backend(method.backend, fake))
        return {**planner.dry_run(*sizes),
                "planned_on": f"{fake}, the fake device of {cfg.backend.device} (its coupling map, basis gates and "
                              f"durations; calibrations may differ from today's): {exc}"}


def run_benchmark(cfg: DictConfig, overrides: list[str] = (), started: Started | None = None) -> tuple[dict, Path]:
    """Run the configured task/method/backend; returns the record and the run's directory. `started`: resume
    that run in its folder (its job journal replays what was already executed). A dry run returns its plan and no
    folder; a detached run (detach=true, not resumed) returns {"detached": job ids} and its folder."""
    backend = scoring_backend(cfg)  # settings errors stop here, before any folder exists
    inputs = load_inputs(cfg)
    method = new_method(cfg, backend)
    method.check_inputs(inputs.train_x.shape[1])
    n_test = min(len(inputs.test_x), cfg.test_events or len(inputs.test_x))  # what scoring would submit
    if cfg.dry_run:
        return {"dry_run": dry_run(cfg, method, inputs, n_test)}, None
    trains = not (started and has_model(started.run_dir / MODEL_DIR))  # a resume that restores its model
    check_budget(cfg, method, inputs.train_x.shape[1], len(inputs.train_x) if trains else 0, n_test)
    started = started or start(cfg, overrides)
    detaching = cfg.detach and not started.resumed  # a resume of a detached run collects its jobs
    with working_in(started.run_dir):
        journal_in(backend, started.run_dir)
        if detaching:
            return {"detached": detach(cfg, started, inputs, method)}, started.run_dir
        training = fit(cfg, method, inputs, started.run_id, started.run_dir)
        return finish(cfg, started, inputs, method, training), started.run_dir


@contextmanager
def working_in(folder: Path):
    """Hold the folder's lock while working in it; an interruption or an error of the operating system (a full
    or read-only disk) ends in one line that says what happened and how to go on."""
    try:
        with folder_lock(folder):
            if (folder / RECORD_FILE).exists():
                raise QhepError(f"{folder}: complete already (another process finished it): {folder / RECORD_FILE}")
            yield
    except KeyboardInterrupt:
        raise Interrupted(folder) from None
    except OSError as exc:
        raise QhepError(f"{describe_os_error(exc)}; work finished so far is kept in {folder}: "
                        f"qhep resume {folder}") from None

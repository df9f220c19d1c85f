"""`qhep sweep`: a grid of runs from one command, e.g. AUC against shots and a device's noise scale.

Settings are Hydra overrides read with Hydra's own override grammar: a setting with several values
(`backend.shots=100,1000,null`, `seed=range(0,3)`, `method=glob(*)`) is an axis, and the points are the cartesian
product of the axes, each composed like a `qhep run`. Points whose configurations differ only in what does not
change training share one fitted model: the scoring backend (`backend.*`) when the method pre-trains elsewhere
(`method.train_backend`, a chain's `method.scorer.train_backend`), and scoring-only settings such as `test_events`. The group's first point trains; every
point then scores on its own backend and writes an ordinary result record plus a `sweep` section.

The sweep lives in results/sweeps/<id>/: sweep.json (command, axes, points, their folders and headline metrics,
rewritten after each point), sweep.png, and one folder per point. `qhep resume` on it runs the unfinished points.
"""
from __future__ import annotations

import itertools
import json
import shlex
import sys
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from qhep.config import compose_run, group_options
from qhep.errors import QhepError
from qhep.harness.budget import check_budget
from qhep.harness.records import RECORD_FILE
from qhep.harness.runner import (
    RUN_FILE,
    Started,
    check_same_config,
    finish,
    fit,
    is_quantum,
    load_inputs,
    new_method,
    read_run_state,
    run_label,
    scoring_backend,
    start,
    working_in,
)
from qhep.methods import METHODS
from qhep.methods import named
from qhep.progress import progress_bar
from qhep.settings import Choice, Kind, ListOf, Mapping, Name, Number, Text, When
from qhep.text import format_duration
from qhep.storage import read_state, write_json_atomic

SWEEP_FILE = "sweep.json"
SWEEP_SCHEMA = "qhep.sweep/1"
PLOT_FILE = "sweep.png"
# Top-level settings that change how a fitted model is scored or reported, never the fit itself.
SCORING_ONLY = ("min_background", "bootstrap", "test_events", "plots", "progress", "results_dir", "dry_run",
                "detach")
HEADLINE = ("auc", "max_sic", "rejection_at_eps_s_0.3")
SWEEP_FIELDS = {
    "id": Name(), "created": When(), "overrides": ListOf(Text()), "axes": Kind(dict),
    "points": ListOf(Mapping((("index", Number(int, ge=0)), ("point", Kind(dict)), ("overrides", ListOf(Text())),
                              ("run_id", Text()), ("run_dir", Name()), ("status", Choice(("pending", "done"))),
                              ("metrics", Kind(dict, optional=True)), ("trained_in", Text(optional=True)))),
                     min_len=1),
    "plot": Name(),
}
AXIS_HELP = "give a setting several comma-separated values, e.g. backend.shots=100,1000,null"


@dataclass
class Point:
    index: int
    overrides: list[str]  # the fixed overrides plus this point's value of each axis
    values: dict  # axis -> value in the composed configuration
    cfg: DictConfig
    run_id: str
    folder: str  # inside the sweep's folder


def parse_axes(overrides: list[str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """(fixed overrides, [(axis key, [one override per value])]) from Hydra's override grammar."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.core.override_parser.types import ValueType
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise QhepError(" ".join(str(exc).split("\n")[:2])) from None
    fixed, axes = [], []
    for override in parsed:
        if not override.is_sweep_override():
            fixed.append(override.input_line)
            continue
        key = override.key_or_group
        if override.value_type == ValueType.GLOB_CHOICE_SWEEP:
            if key not in group_options():
                raise QhepError(f"{override.input_line}: glob() sweeps choose among a group's options "
                                f"({', '.join(group_options())})")
            values = override.value().filter(group_options()[key])
        elif override.value_type == ValueType.INTERVAL_SWEEP:
            raise QhepError(f"{override.input_line}: interval() needs a sampler; give the values, or range()")
        else:
            values = list(override.sweep_string_iterator())
        if any(key == other for other, _ in axes):
            raise QhepError(f"{key} is given as an axis twice")
        if not values:
            raise QhepError(f"{override.input_line}: the axis has no values")
        axes.append((key, [f"{override.get_key_element()}={value}" for value in values]))
    if not axes:
        raise QhepError(f"qhep sweep needs at least one axis: {AXIS_HELP}")
    return fixed, axes


def axis_value(cfg: DictConfig, key: str, overrides: list[str] = ()):
    """A point's value of an axis as composed: a group's choice by name (a method's named configuration as the
    point chose it, qae/ngairangbam2021), any other setting by its value."""
    if key == "method" and named.choice_of(overrides):
        return f"{cfg.method.name}{named.SEPARATOR}{named.choice_of(overrides)}"
    if key in group_options():
        return cfg[key].name
    value = OmegaConf.select(cfg, key)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def plan(overrides: list[str], sweep_id: str) -> tuple[dict, list[Point]]:
    """Compose and check every point before anything runs: a bad value anywhere stops the sweep at once."""
    fixed, axes = parse_axes(overrides)
    points = []
    for index, combination in enumerate(itertools.product(*(values for _, values in axes))):
        point_overrides = fixed + list(combination)
        cfg = compose_run(point_overrides)
        check_point(cfg)
        values = {key: axis_value(cfg, key, point_overrides) for key, _ in axes}
        points.append(Point(index, point_overrides, values, cfg, f"{sweep_id}-p{index:03d}",
                            f"p{index:03d}-{run_label(cfg)}"))
    axis_values = {}
    for key, _ in axes:  # in axis order, each value once (points vary the first axis slowest)
        axis_values[key] = []
        for point in points:
            if point.values[key] not in axis_values[key]:
                axis_values[key].append(point.values[key])
    return axis_values, points


def check_point(cfg: DictConfig) -> None:
    if cfg.dry_run:
        raise QhepError("dry_run=true is for qhep run: a sweep executes its points")
    if cfg.detach:
        raise QhepError("detach=true is for qhep run: a sweep executes its points (and shares models between them)")
    # The job journal is keyed by circuit and values, not by the noise model: points must not share one.
    if is_quantum(cfg) and cfg.backend.get("journal") is not None:
        raise QhepError("a sweep journals each point's jobs in the point's folder; leave backend.journal unset")
    scoring_backend(cfg)  # the backend's own checks (noise_scale, ...)


def training_key(cfg: DictConfig) -> str:
    """Points with the same key fit the same model (same data, method, seed, and training backend)."""
    config = OmegaConf.to_container(cfg, resolve=True)
    for key in SCORING_ONLY:
        config.pop(key, None)
    if not is_quantum(cfg) or METHODS[cfg.method.name][0].training_backend(cfg.method):
        config.pop("backend")  # training never touches the scoring backend
    return json.dumps(config, sort_keys=True, default=str)


def run_sweep(overrides: list[str]) -> tuple[Path, dict, list[dict]]:
    created = datetime.now(timezone.utc)
    sweep_id = f"{created:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    axes, points = plan(overrides, sweep_id)
    sweep_dir = Path(points[0].cfg.results_dir) / "sweeps" / sweep_id
    state = {
        "schema": SWEEP_SCHEMA,
        "id": sweep_id,
        "created": created.isoformat(timespec="seconds"),
        "command": shlex.join(["qhep", "sweep", *overrides]),
        "overrides": list(overrides),
        "axes": axes,
        "points": [{"index": p.index, "point": p.values, "overrides": p.overrides, "run_id": p.run_id,
                    "run_dir": p.folder, "status": "pending", "metrics": None} for p in points],
        "plot": PLOT_FILE,
    }
    for entry, trainer in zip(state["points"], _trainers(points)):
        entry["trained_in"] = trainer.run_id
    inputs_cache: dict[str, object] = {}
    price(_groups(points), lambda point: False, inputs_cache)  # before the sweep's folder exists
    write_json_atomic(state, sweep_dir / SWEEP_FILE)
    return sweep_dir, state, execute(sweep_dir, state, points, inputs_cache, priced=True)


def read_sweep(sweep_dir: Path) -> dict:
    state = read_state(Path(sweep_dir) / SWEEP_FILE, "sweep", SWEEP_SCHEMA, SWEEP_FIELDS)
    if [p["index"] for p in state["points"]] != list(range(len(state["points"]))):
        raise QhepError(f"{Path(sweep_dir) / SWEEP_FILE}: damaged sweep file: points are not numbered 0, 1, ...")
    return state


def resume_sweep(sweep_dir: Path) -> tuple[dict, list[dict]]:
    """Run the points of a sweep that have no result record yet; finished ones are kept as they are."""
    state = read_sweep(sweep_dir)
    points = []
    for entry in state["points"]:
        cfg = compose_run(entry["overrides"])
        run_file = Path(sweep_dir) / entry["run_dir"] / RUN_FILE
        if run_file.exists():
            check_same_config(cfg, read_run_state(run_file.parent)["config"], run_file.parent)
        points.append(Point(entry["index"], entry["overrides"], entry["point"], cfg, entry["run_id"],
                            entry["run_dir"]))
    return state, execute(Path(sweep_dir), state, points)


def _trainers(points: list[Point]) -> list[Point]:
    first: dict[str, Point] = {}
    return [first.setdefault(training_key(p.cfg), p) for p in points]


def _groups(points: list[Point]) -> dict[int, list[Point]]:
    """Points by the index of the point that trains their model (the first of its training group)."""
    groups: dict[int, list[Point]] = {}
    for point, trainer in zip(points, _trainers(points)):
        groups.setdefault(trainer.index, []).append(point)
    return groups


def execute(sweep_dir: Path, state: dict, points: list[Point], inputs_cache: dict | None = None,
            priced: bool = False) -> list[dict]:
    """Fit once per training group, score every unfinished point, keep sweep.json current; returns every point's
    record. `priced`: the unfinished points' work was estimated already."""

    def info(point: Point) -> dict:  # the `sweep` section of a point's record
        return {"id": state["id"], "axes": state["axes"], "point": point.values}

    def done(point: Point) -> bool:
        return (sweep_dir / point.folder / RECORD_FILE).exists()

    groups = _groups(points)
    inputs_cache = {} if inputs_cache is None else inputs_cache
    if not priced:
        price(groups, done, inputs_cache)
    with working_in(sweep_dir):
        with progress_bar(len(points), f"sweep {state['id']}", enabled=points[0].cfg.progress, unit="pt") as bar:
            bar.update(sum(map(done, points)))
            for members in groups.values():
                pending = [p for p in members if not done(p)]
                if not pending:
                    continue
                trainer = members[0]
                inputs = _inputs(trainer.cfg, inputs_cache)
                started = {trainer.index: _start(trainer, sweep_dir, info(trainer))} if trainer in pending else {}
                method = new_method(trainer.cfg, scoring_backend(trainer.cfg, sweep_dir / trainer.folder))
                # the trainer's folder holds its model once fitted: a resumed sweep restores it
                training = fit(trainer.cfg, method, inputs, trainer.run_id, sweep_dir / trainer.folder)
                for point in pending:
                    if point is not trainer:
                        started[point.index] = _start(point, sweep_dir, info(point))
                        backend = scoring_backend(point.cfg, started[point.index].run_dir)
                        if backend is not None:
                            method.use_backend(backend)  # the fitted model, scored on this point's backend
                    record = finish(point.cfg, started[point.index], inputs, method, training, sweep=info(point))
                    entry = state["points"][point.index]
                    entry.update(status="done", metrics=headline(record))
                    write_json_atomic(state, sweep_dir / SWEEP_FILE)
                    bar.update(1)
    records = [json.loads((sweep_dir / p.folder / RECORD_FILE).read_text()) for p in points]
    for entry, record in zip(state["points"], records):  # points finished by an earlier, interrupted process
        entry.update(status="done", metrics=headline(record))
    write_json_atomic(state, sweep_dir / SWEEP_FILE)
    if points[0].cfg.plots:
        from qhep.reporting.sweep_plot import plot_sweep

        plot_sweep(state, sweep_dir / PLOT_FILE)
    return records


def price(groups: dict[int, list[Point]], done, cache: dict) -> None:
    """Before anything runs: every unfinished point's simulator or QPU work estimated (its training where it
    trains, its scoring), each refused above its backend's budget, and the total said in one line."""
    total, priced = 0.0, 0
    for members in groups.values():
        pending = [p for p in members if not done(p)]
        if not pending:
            continue
        inputs = _inputs(members[0].cfg, cache)
        n_features = inputs.train_x.shape[1]
        for point in pending:
            method = new_method(point.cfg, scoring_backend(point.cfg))
            method.check_inputs(n_features)
            n_test = min(len(inputs.test_x), point.cfg.test_events or len(inputs.test_x))
            n_train = len(inputs.train_x) if point is members[0] else 0
            estimate = check_budget(point.cfg, method, n_features, n_train, n_test, say=False)
            if estimate is not None:
                total, priced = total + estimate["seconds"], priced + 1
    if priced:
        print(f"qhep: about {format_duration(total)} of simulator or QPU work in {priced} point(s) (timed samples)",
              file=sys.stderr)


def _inputs(cfg: DictConfig, cache: dict):
    """The task's data, loaded once per (task, view, seed, reduction): groups differing in method settings share
    it, methods reading other views of the task do not."""
    view = METHODS[cfg.method.name][0].view_of(cfg.method)
    key = json.dumps([OmegaConf.to_container(cfg.task, resolve=True), OmegaConf.to_container(cfg.protocol), cfg.seed,
                      OmegaConf.to_container(cfg.reduction, resolve=True), is_quantum(cfg), view], sort_keys=True)
    if key not in cache:
        cache[key] = load_inputs(cfg)
    return cache[key]


def _start(point: Point, sweep_dir: Path, sweep: dict) -> Started:
    folder = sweep_dir / point.folder
    if (folder / RUN_FILE).exists():  # started by an interrupted process: same identity, resumed
        state = read_run_state(folder)
        return Started(state["run_id"], datetime.fromisoformat(state["created"]), folder, run_label(point.cfg),
                       resumed=True, named=named.choice_of(state["overrides"]))
    return start(point.cfg, point.overrides, point.run_id, folder, sweep=sweep)


def headline(record: dict) -> dict:
    metrics = {key: record["metrics"].get(key) for key in HEADLINE}
    errors = ((record["metrics"].get("uncertainties") or {}).get("figures") or {})
    metrics.update({f"{key}_std": (errors.get(key) or {}).get("std") for key in HEADLINE})
    timing = record["timing"]
    return {**metrics, "inference_events_per_second": timing["inference_events_per_second"],
            "train_seconds": timing["train_seconds"]}

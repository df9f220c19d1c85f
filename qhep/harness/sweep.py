"""`qhep sweep`: a grid of runs from one command, e.g. AUC against shots and a device's noise scale.

Settings are Hydra overrides read with Hydra's own override grammar: a setting with several values
(`backend.shots=100,1000,null`, `seed=range(0,3)`, `method=glob(*)`) is an axis, and the points are the cartesian
product of the axes, each composed like a `qhep run`. Points whose configurations differ only in what does not
change training share one fitted model: the scoring backend (`backend.*`) when the method pre-trains elsewhere
(`method.train_backend`, a chain's `method.scorer.train_backend`), and scoring-only settings such as `test_events`. The group's first point trains; every
point then scores on its own backend and writes an ordinary result record plus a `sweep` section.

The sweep lives in results/sweeps/<id>/: sweep.json (command, axes, points, their folders, status and headline
metrics, rewritten by this process alone as points finish), sweep.png, and one folder per point. `launcher=` runs
the points elsewhere (qhep.harness.launchers): each training group's first point trains first, then the group's
other points restore its saved model from its folder, wherever they run. A failed point is recorded with its error
and the sweep goes on; `qhep resume` on the sweep (or running it again) runs the failed and unfinished points.
"""
from __future__ import annotations

import itertools
import json
import shlex
import sys
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from qhep.config import (
    compose_launcher,
    compose_run,
    group_options,
    is_launcher_setting,
)
from qhep.errors import QhepError
from qhep.harness.budget import check_budget
from qhep.harness.launchers import InlineSettings, Work, check_engine, make_launcher
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
from qhep.methods.persistence import MODEL_DIR, has_model
from qhep.progress import progress_bar
from qhep.settings import Choice, Kind, ListOf, Mapping, Name, Number, Text, When
from qhep.storage import read_state, write_json_atomic
from qhep.text import format_duration, one_line

SWEEP_FILE = "sweep.json"
SWEEP_SCHEMA = "qhep.sweep/1"
PLOT_FILE = "sweep.png"
ERROR_FILE = "error.log"  # a failed point's traceback, in its folder (sweep.json keeps one line)
# Top-level settings that change how a fitted model is scored or reported, never the fit itself.
SCORING_ONLY = ("min_background", "bootstrap", "test_events", "plots", "progress", "results_dir", "dry_run",
                "detach", "tuned")
STATUSES = ("pending", "done", "failed")
KINDS = ("grid", "points")
HEADLINE = ("auc", "max_sic", "rejection_at_eps_s_0.3")
SWEEP_FIELDS = {
    "id": Name(), "created": When(), "overrides": ListOf(Text()), "axes": Kind(dict),
    "points": ListOf(Mapping((("index", Number(int, ge=0)), ("point", Kind(dict)), ("overrides", ListOf(Text())),
                              ("run_id", Text()), ("run_dir", Name()), ("status", Choice(STATUSES)),
                              ("metrics", Kind(dict, optional=True)), ("trained_in", Text(optional=True)),
                              ("error", Text(optional=True)))),
                     min_len=1),
    "plot": Name(),
    "launcher": ListOf(Text(), optional=True),  # the launcher's overrides (absent from sweeps made before it)
    # how the points were given: the product of the axes (`grid`, also when absent) or a list (`points`, plan_points)
    "kind": Choice(KINDS, optional=True),
    "tune": Kind(dict, optional=True),  # a `qhep tune` sweep's identity and role (qhep.harness.tuning)
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


def plan_points(fixed: list[str], given: list[list[str]], keys: list[str], sweep_id: str) -> tuple[dict, list[Point]]:
    """A sweep over an explicit list of points rather than the product of axes (qhep tune's candidates): each point
    is the `fixed` overrides plus its own, composed and checked like plan's. `keys`: the settings the points vary,
    recorded as the sweep's axes (each value once, in the order the points first take it) and in each point's
    values, so sweep.json reads and resumes like any other sweep's."""
    axis = _axis_in(fixed)
    if axis:
        raise QhepError(f"{axis}: a sweep over a list of points takes one value per setting")
    if not given:
        raise QhepError("a sweep over a list of points needs at least one point")
    points = []
    for index, own in enumerate(given):
        point_overrides = list(fixed) + list(own)
        cfg = compose_run(point_overrides)
        check_point(cfg)
        values = {key: axis_value(cfg, key, point_overrides) for key in keys}
        points.append(Point(index, point_overrides, values, cfg, f"{sweep_id}-p{index:03d}",
                            f"p{index:03d}-{run_label(cfg)}"))
    axis_values = {}
    for key in keys:
        axis_values[key] = []
        for point in points:
            if point.values[key] not in axis_values[key]:
                axis_values[key].append(point.values[key])
    return axis_values, points


def _axis_in(overrides: list[str]) -> str | None:
    """The first override with several values (Hydra's sweep grammar), if any."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException as exc:
        raise QhepError(" ".join(str(exc).split("\n")[:2])) from None
    return next((o.input_line for o in parsed if o.is_sweep_override()), None)


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


def split_launcher(overrides: list[str]) -> tuple[list[str], list[str]]:
    """(the launcher's overrides, the points' overrides): the launcher runs the whole sweep, it is not an axis."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    ours = [o for o in overrides if is_launcher_setting(o)]
    try:
        parsed = OverridesParser.create().parse_overrides(ours)
    except HydraException as exc:
        raise QhepError(" ".join(str(exc).split("\n")[:2])) from None
    for override in parsed:
        if override.is_sweep_override():
            raise QhepError(f"{override.input_line}: the launcher runs the whole sweep; it cannot be an axis")
    return ours, [o for o in overrides if not is_launcher_setting(o)]


def run_sweep(overrides: list[str], command: str = "sweep", points: list[list[str]] | None = None,
              keys: list[str] = (), extra: dict | None = None, command_line: list[str] | None = None,
              ) -> tuple[Path, dict, list[dict]]:
    """Plan, price and run a sweep. `command`: how it was asked for (`sweep`, or `run -m`), for sweep.json.
    `points`: run these points (each a list of overrides on top of `overrides`, varying `keys`) instead of the
    product of axes in `overrides` (plan_points). `extra`: further sweep.json fields (`tune`). `command_line`: the
    arguments as given, when they are not `overrides` (qhep tune's)."""
    created = datetime.now(timezone.utc)
    sweep_id = f"{created:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    launcher_overrides, point_overrides = split_launcher(overrides)
    launcher = compose_launcher(launcher_overrides)
    check_engine(launcher)
    listed = points is not None
    if not listed:
        axes, points = plan(point_overrides, sweep_id)
        earlier = same_sweep(Path(points[0].cfg.results_dir), point_overrides)
        if earlier is not None:  # the same command again: its finished points stand (same seeds, same numbers)
            print(f"qhep: sweep {earlier.name} ran this command: going on with it", file=sys.stderr)
            state, records = resume_sweep(earlier, launcher_overrides)
            return earlier, state, records
    else:
        axes, points = plan_points(point_overrides, points, list(keys), sweep_id)
    sweep_dir = Path(points[0].cfg.results_dir) / "sweeps" / sweep_id
    state = {
        "schema": SWEEP_SCHEMA,
        "id": sweep_id,
        "created": created.isoformat(timespec="seconds"),
        "command": shlex.join(["qhep", *command.split(), *(overrides if command_line is None else command_line)]),
        "overrides": list(overrides),
        "axes": axes,
        "points": [{"index": p.index, "point": p.values, "overrides": p.overrides, "run_id": p.run_id,
                    "run_dir": p.folder, "status": "pending", "metrics": None} for p in points],
        "plot": PLOT_FILE,
        "launcher": launcher_overrides,
        "kind": "points" if listed else "grid",
        **(extra or {}),
    }
    for entry, trainer in zip(state["points"], _trainers(points)):
        entry["trained_in"] = trainer.run_id
    inputs_cache: dict[str, object] = {}
    price(_groups(points), lambda point: False, inputs_cache)  # before the sweep's folder exists
    write_json_atomic(state, sweep_dir / SWEEP_FILE)
    return sweep_dir, state, execute(sweep_dir, state, points, inputs_cache, priced=True, launcher=launcher)


def same_sweep(results_dir: Path, point_overrides: list[str]) -> Path | None:
    """The newest sweep under results_dir started with these overrides (launcher settings aside), or None."""
    for sweep_json in sorted((results_dir / "sweeps").glob(f"*/{SWEEP_FILE}"), reverse=True):
        state = read_sweep(sweep_json.parent)
        if state.get("kind") == "points":  # a sweep over listed points (qhep tune's) is found by its own key
            continue
        if split_launcher(state["overrides"])[1] == list(point_overrides):
            return sweep_json.parent
    return None


def read_sweep(sweep_dir: Path) -> dict:
    state = read_state(Path(sweep_dir) / SWEEP_FILE, "sweep", SWEEP_SCHEMA, SWEEP_FIELDS)
    if [p["index"] for p in state["points"]] != list(range(len(state["points"]))):
        raise QhepError(f"{Path(sweep_dir) / SWEEP_FILE}: damaged sweep file: points are not numbered 0, 1, ...")
    return state


def resume_sweep(sweep_dir: Path, launcher_overrides: list[str] = ()) -> tuple[dict, list[dict]]:
    """Run the points of a sweep that have no result record yet (unfinished or failed); finished ones are kept as
    they are. `launcher_overrides` change where they run: settings of the sweep's launcher, or another launcher."""
    state = read_sweep(sweep_dir)
    given, rest = split_launcher(list(launcher_overrides))
    if rest:
        raise QhepError(f"{rest[0]}: a sweep resumes with the settings it started with; only launcher settings "
                        "may be given")
    stored = state.get("launcher") or []
    if any(o.partition("=")[0] == "launcher" for o in given):  # another launcher: none of the old one's settings
        stored = []
    launcher = compose_launcher([*stored, *given])
    check_engine(launcher)
    points = [_recompose(Path(sweep_dir), entry) for entry in state["points"]]
    return state, execute(Path(sweep_dir), state, points, launcher=launcher)


def _recompose(sweep_dir: Path, entry: dict) -> Point:
    """A point of sweep.json composed again (and, when it started already, checked against what it started as)."""
    cfg = compose_run(entry["overrides"])
    run_file = sweep_dir / entry["run_dir"] / RUN_FILE
    if run_file.exists() and not (run_file.parent / RECORD_FILE).exists():  # a finished point is not run again
        check_same_config(cfg, read_run_state(run_file.parent)["config"], run_file.parent)
    return Point(entry["index"], entry["overrides"], entry["point"], cfg, entry["run_id"], entry["run_dir"])


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
            priced: bool = False, launcher=None) -> list[dict]:
    """Run every unfinished point on the launcher (in this process by default), fitting once per training group,
    and keep sweep.json current as outcomes arrive; returns the records of the points that have one. `priced`:
    the unfinished points' work was estimated already."""

    def done(point: Point) -> bool:
        return (sweep_dir / point.folder / RECORD_FILE).exists()

    groups = _groups(points)
    if not priced:
        price(groups, done, {} if inputs_cache is None else inputs_cache)
    settings = launcher or InlineSettings()
    # this process alone writes sweep.json: its lock on the sweep's folder keeps a second one out; each worker
    # locks the folder of the point it works on
    with working_in(sweep_dir), make_launcher(settings, sweep_dir) as engine, \
            SweepProgress(state, points[0].cfg.progress, sum(map(done, points))) as progress:
        def run(indices: list[list[int]]) -> None:
            indices = [item for item in indices if item]
            if not indices:
                return
            progress.running([i for item in indices for i in item], engine.describe())
            for outcome in engine.run([Work(str(sweep_dir), tuple(item)) for item in indices]):
                _record_outcome(state, outcome)
                write_json_atomic(state, sweep_dir / SWEEP_FILE)
                progress.finished(outcome)

        if not engine.parallel:  # one item: each group fits once, its points share the model in memory
            run([[p.index for members in groups.values() for p in members if not done(p)]])
        else:  # the trainers first, in parallel; then the other points, each restoring its trainer's model
            run([[members[0].index] for members in groups.values() if not done(members[0])])
            for members in groups.values():
                if not done(members[0]):
                    for point in members[1:]:
                        outcome = {"index": point.index, "status": "failed", "metrics": None,
                                   "error": f"not run: its training point {members[0].folder} failed"}
                        _record_outcome(state, outcome)
                        progress.finished(outcome)
            write_json_atomic(state, sweep_dir / SWEEP_FILE)
            run([[p.index] for members in groups.values() if done(members[0]) for p in members[1:] if not done(p)])
    records = []
    for point in points:  # points finished by an earlier, interrupted process too
        if done(point):
            records.append(json.loads((sweep_dir / point.folder / RECORD_FILE).read_text()))
            _record_outcome(state, {"index": point.index, "status": "done", "metrics": headline(records[-1])})
    write_json_atomic(state, sweep_dir / SWEEP_FILE)
    if points[0].cfg.plots and records and state.get("kind") != "points":  # a list of points has no axis to draw along
        from qhep.reporting.sweep_plot import plot_sweep

        plot_sweep(state, sweep_dir / PLOT_FILE)
    return records


def _record_outcome(state: dict, outcome: dict) -> None:
    entry = state["points"][outcome["index"]]
    entry.update(status=outcome["status"], metrics=outcome.get("metrics"))
    entry.pop("error", None)
    if outcome["status"] == "failed":
        entry["error"] = outcome["error"]


def failures(state: dict) -> list[dict]:
    return [p for p in state["points"] if p["status"] == "failed"]


class SweepProgress:
    """What the sweep is doing, on stderr: a bar over its points with how many run and failed, and a line for each
    point submitted, done or failed. Quiet with progress=false (the command lists the failures at the end)."""

    def __init__(self, state: dict, enabled: bool, done: int):
        self.state, self.enabled, self.done = state, enabled, done
        self.running_now: set[int] = set()
        self.failed = 0
        self.bar = None

    def __enter__(self):
        self._context = progress_bar(len(self.state["points"]), f"sweep {self.state['id']}", enabled=self.enabled,
                                     unit="pt")
        self.bar = self._context.__enter__()
        self.bar.update(self.done)
        return self

    def __exit__(self, *exc):
        return self._context.__exit__(*exc)

    def say(self, line: str) -> None:
        if self.enabled:
            self.bar.write(line, file=sys.stderr)

    def _postfix(self) -> None:
        self.bar.set_postfix_str(f"{len(self.running_now)} running, {self.failed} failed", refresh=False)

    def running(self, indices: list[int], where: str) -> None:
        self.running_now.update(indices)
        folders = [self.state["points"][i]["run_dir"] for i in indices]
        shown = ", ".join(folders[:6]) + (f" and {len(folders) - 6} more" if len(folders) > 6 else "")
        self.say(f"qhep: running {len(indices)} point(s) on {where}: {shown}")
        self._postfix()

    def finished(self, outcome: dict) -> None:
        self.running_now.discard(outcome["index"])
        folder = self.state["points"][outcome["index"]]["run_dir"]
        if outcome["status"] == "done":
            auc = (outcome.get("metrics") or {}).get("auc")
            self.say(f"qhep: done {folder}" + (f": AUC {auc:.3f}" if isinstance(auc, (int, float)) else ""))
        else:
            self.failed += 1
            self.say(f"qhep: failed {folder}: {outcome['error']}")
        self.bar.update(1)
        self._postfix()


def run_points(sweep_dir: str, indices: list[int]) -> list[dict]:
    """A worker's entry point (engines import it by name): run these points of the sweep in `sweep_dir` and return
    their outcomes, plain dicts {index, status, error, metrics}."""
    return list(iter_points(sweep_dir, indices))


def iter_points(sweep_dir: str | Path, indices: list[int]):
    """Run points of a sweep, yielding each one's outcome as it finishes. Each is composed from its overrides in
    sweep.json. A training group's trainer, when among them, fits (or restores its own saved model) and the
    group's other points here share the fitted model in memory; a group whose trainer is not among them restores
    the trainer's saved model from its folder. A point's error is its outcome (traceback in its error.log)."""
    sweep_dir = Path(sweep_dir)
    state = read_sweep(sweep_dir)
    composed: dict[int, Point] = {}

    def point(index: int) -> Point:
        if index not in composed:
            composed[index] = _recompose(sweep_dir, state["points"][index])
        return composed[index]

    trainer_of = _trainer_indices(state, point)
    order: dict[int, list[int]] = {}
    for index in indices:
        order.setdefault(trainer_of[index], []).append(index)
    cache: dict[str, object] = {}
    for trainer, members in order.items():
        yield from _run_group(sweep_dir, state, point(trainer), trainer in members,
                              [point(i) for i in members if i != trainer], cache)


def _trainer_indices(state: dict, point) -> list[int]:
    """Each point's trainer, as sweep.json says (`trained_in`); composed again for sweeps written without it."""
    by_run_id = {entry["run_id"]: entry["index"] for entry in state["points"]}
    if all(entry.get("trained_in") in by_run_id for entry in state["points"]):
        return [by_run_id[entry["trained_in"]] for entry in state["points"]]
    return [t.index for t in _trainers([point(entry["index"]) for entry in state["points"]])]


def _run_group(sweep_dir: Path, state: dict, trainer: Point, trains: bool, members: list[Point], cache: dict):
    def info(point: Point) -> dict:  # the `sweep` section of a point's record (a qhep tune sweep: its role)
        role = (state.get("tune") or {}).get("role")
        return {"id": state["id"], "axes": state["axes"], "point": point.values, **({"tune": role} if role else {})}

    trainer_dir = sweep_dir / trainer.folder
    try:
        inputs = _inputs(trainer.cfg, cache)
        if trains and (trainer_dir / RECORD_FILE).exists():  # finished by an earlier process
            yield _finished(trainer, json.loads((trainer_dir / RECORD_FILE).read_text()))
            trains = False
        if trains:
            method = new_method(trainer.cfg, scoring_backend(trainer.cfg, trainer_dir))
            with working_in(trainer_dir):
                started = _start(trainer, sweep_dir, info(trainer))
                # the trainer's folder holds its model once fitted: a resumed sweep restores it
                training = fit(trainer.cfg, method, inputs, trainer.run_id, trainer_dir)
        else:
            method = new_method(trainer.cfg, scoring_backend(trainer.cfg))
            if not has_model(trainer_dir / MODEL_DIR):  # never fit here: the trainer's folder is not ours
                raise QhepError(f"its training point {trainer.folder} has no saved model (it has not finished)")
            training = fit(trainer.cfg, method, inputs, trainer.run_id, trainer_dir)  # restores it
    except Exception as exc:  # a failed training fails its group's points; the sweep goes on
        if trains:
            yield _failure(sweep_dir, trainer, exc)
        for point in members:
            yield {"index": point.index, "status": "failed", "metrics": None,
                   "error": f"not run: training in {trainer.folder} failed: {_one_line(exc)}"}
        return
    runs = ([(trainer, started)] if trains else []) + [(point, None) for point in members]
    for point, started in runs:
        folder = sweep_dir / point.folder
        try:
            if (folder / RECORD_FILE).exists():
                yield _finished(point, json.loads((folder / RECORD_FILE).read_text()))
                continue
            with working_in(folder):
                if started is None:
                    started = _start(point, sweep_dir, info(point))
                    backend = scoring_backend(point.cfg, started.run_dir)
                    if backend is not None:
                        method.use_backend(backend)  # the fitted model, scored on this point's backend
                record = finish(point.cfg, started, inputs, method, training, sweep=info(point))
        except Exception as exc:
            yield _failure(sweep_dir, point, exc)
            continue
        yield _finished(point, record)


def _finished(point: Point, record: dict) -> dict:
    return {"index": point.index, "status": "done", "error": None, "metrics": headline(record)}


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {one_line(str(exc))}"[:500]


def _failure(sweep_dir: Path, point: Point, exc: Exception) -> dict:
    """The outcome of a point that raised: one line for sweep.json, the traceback in the point's folder."""
    log = sweep_dir / point.folder / ERROR_FILE
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("a") as handle:
            handle.write(f"--- {datetime.now(timezone.utc).isoformat(timespec='seconds')}\n")
            handle.writelines(traceback.format_exception(exc))
    except OSError:
        pass  # the line in sweep.json is what matters
    return {"index": point.index, "status": "failed", "metrics": None, "error": _one_line(exc)}


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

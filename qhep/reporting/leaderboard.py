"""The leaderboard of every result record: per task, one row per comparable configuration (its seeds aggregated),
ranks, a cross-task average rank, quantum methods against classical ones, and the task cards' published figures.

Rows are `seeds.aggregate` groups: the same task, dataset (sha256), protocol, inputs and method settings, only the
seeds differ. Records from a tree with uncommitted changes (git_commit ending "-dirty") are rows of their own,
marked, and kept out of ranks and comparisons unless asked for; what this module returns is plain data, rendered
by report_markdown and report_html.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from qhep.errors import DataError
from qhep.harness.darkmachines_metrics import summarize, total_improvement
from qhep.methods import named as named_configurations
from qhep.reporting.seeds import NOT_COMPARED, SEED_KEYS, aggregate, configuration, tuned_mark

# metric key, header, format: the columns every task shares
FIGURES = (("auc", "AUC", ".3f"), ("rejection_at_eps_s_0.3", "1/eB@eS=0.3", ".3g"),
           ("rejection_at_eps_s_0.5", "1/eB@eS=0.5", ".3g"), ("max_sic", "max SIC", ".2f"),
           ("eps_s_at_eps_b_1e-02", "eS@eB=1e-2", ".3f"), ("eps_s_at_eps_b_1e-03", "eS@eB=1e-3", ".3f"),
           ("eps_s_at_eps_b_1e-04", "eS@eB=1e-4", ".3f"))
# each task's own significance figures (Dark Machines: SI = eps_S / sqrt(eps_B); LHCO: Asimov Z after the best cut)
TASK_FIGURES = {"lhco": (("expected_significance_best_cut", "Z best cut", ".2f"),),
                "darkmachines": (("si_at_eps_b_1e-02", "SI@1e-2", ".2f"), ("si_at_eps_b_1e-03", "SI@1e-3", ".2f"),
                                 ("si_at_eps_b_1e-04", "SI@1e-4", ".2f"), ("max_si", "max SI", ".2f"))}
RANKED_BY = "auc"
HIDDEN_KEYS = ("backend.name", "detach", "tuned.sweep", "tuned.budget")  # shown elsewhere, or how a run was driven
SHOWN_TASK_KEYS = ("task.channel", "task.signal")  # task settings that tell rows apart (the rest is the card)
REFERENCE_PROTOCOL = "unsupervised"  # the protocol of the cross-task summary (supervised runs are an upper bound)
TASK_ORDER = ("lhco", "top", "svj", "darkmachines")
# card text, not settings: the same run described in other words is the same run
CARD_TEXT = ("title", "description", "sources", "embedded_sample", "feature_definitions", "object_definitions",
             "protocol", "reference", "minimum_events", "channels", "note")


@dataclass
class Row:
    task: str
    method: str
    backend: str | None
    protocol: str
    quantum: bool
    dirty: bool
    records: list[dict]
    seeds: list
    figures: dict  # name -> seeds.aggregate figure
    cost: dict
    weak: bool  # a sample below the task's declared minimum
    inputs: str  # identity of everything but the method and backend
    settings: str = ""  # what tells this row from the task's other rows of the same method
    rank: int | None = None
    named: str | None = None  # the named configuration (published setup) whose settings the row has
    tuned: str = ""  # ` (tuned, budget 12)`: settings chosen by qhep tune on validation events

    @property
    def n(self) -> int:
        return len(self.records)

    @property
    def run_seeds(self) -> tuple:
        return tuple(sorted({r["seed"] for r in self.records}))

    @property
    def label(self) -> str:
        text = self.method + (f" [{self.named}]" if self.named else "") + (f" [{self.backend}]" if self.backend else "")
        held = ((self.records[0].get("config") or {}).get("protocol") or {}).get("validation_fraction")
        return (text + self.tuned + (f" ({self.settings})" if self.settings else "")
                + (f" (validation hold-out {held:g})" if held else ""))


@dataclass
class TaskReport:
    task: str
    rows: list[Row]  # the reference rows, ranked (with include_dirty: dirty ones too, marked)
    dirty: list[Row]  # rows from trees with uncommitted changes, left out of the reference rows
    best: list[str] = field(default_factory=list)  # best quantum against best classical, per set of inputs
    twins: list[str] = field(default_factory=list)  # each quantum row against its classical twin
    total_improvement: dict | None = None  # Dark Machines
    published: dict | None = None
    min_background: list = field(default_factory=list)  # the background guards the rows' figures use


@dataclass
class Report:
    tasks: dict[str, TaskReport]
    summary: list[dict]  # cross-task: method, per-task rank, average rank
    records: int
    superseded: int
    dirty: int


def is_dirty(record: dict) -> bool:
    return str((record.get("environment") or {}).get("git_commit") or "").endswith("-dirty")


def is_quantum(record: dict) -> bool:
    """The method class's own answer for these settings (a chain is quantum when its scorer is)."""
    method = _method_class(record)
    if method is None:
        return bool((record.get("requirements") or {}).get("quantum", record.get("backend")))
    return bool(method.is_quantum(_settings(record)))


def twin_of(record: dict) -> tuple[str, dict] | None:
    method = _method_class(record)
    return None if method is None else method.twin(_settings(record))


def _method_class(record: dict):
    from qhep.methods import METHODS

    return METHODS.get(record["method"], (None,))[0]


def _settings(record: dict):
    from omegaconf import OmegaConf

    return OmegaConf.create((record.get("config") or {}).get("method") or {"name": record["method"]})


def with_task_figures(record: dict) -> dict:
    """The record with its nested figures flat in `metrics` (LHCO's Z after the best cut; the Dark Machines SI's
    bootstrap beside the others), so that seeds.aggregate reads them like any other figure."""
    metrics = dict(record["metrics"])
    significance = metrics.get("expected_significance")
    if isinstance(significance, dict):
        metrics["expected_significance_best_cut"] = significance.get("best_cut")
    extra = ((metrics.get("si_uncertainties") or {}).get("figures")) or {}
    if extra:
        uncertainties = dict(metrics.get("uncertainties") or {})
        uncertainties["figures"] = {**extra, **(uncertainties.get("figures") or {})}
        metrics["uncertainties"] = uncertainties
    return {**record, "metrics": metrics}


def inputs(record: dict) -> str:
    """Everything a run is compared on but its method and backend: task settings, dataset, protocol, test set."""
    config = {k: v for k, v in (record.get("config") or {}).items()
              if k not in ("method", "backend", "detach", "tuned", *SEED_KEYS, *NOT_COMPARED)}
    config["task"] = {k: v for k, v in (config.get("task") or {}).items() if k not in CARD_TEXT}
    return json.dumps({"task": record["task"], "dataset": (record.get("dataset") or {}).get("sha256"),
                       "config": config}, sort_keys=True, default=str)


def protocol_of(record: dict) -> str:
    return (record.get("protocol") or {}).get("name") or "unsupervised"


def cost(records: list[dict]) -> dict:
    """Mean over the seeds of what a run cost: time, throughput, model size, and the quantum work it submitted."""
    def mean(values):
        values = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return float(np.mean(values)) if values else None

    def executed(record, key):
        parts = [(record["resources"].get(s) or {}).get(key) for s in ("execution", "training_execution")]
        parts = [p for p in parts if isinstance(p, (int, float))]
        return sum(parts) if parts else None

    first = records[0]
    backend = (first.get("config") or {}).get("backend") or {} if first.get("backend") else {}
    shots = ((first["resources"].get("execution") or {}).get("shots", backend.get("shots", "-"))
             if first.get("backend") else "-")
    return {"train_seconds": mean(r["timing"].get("train_seconds") for r in records),
            "train_events_per_second": mean(r["timing"].get("train_events_per_second") for r in records),
            "inference_events_per_second": mean(r["timing"].get("inference_events_per_second") for r in records),
            "parameters": mean(r["resources"].get("trainable_parameters") for r in records),
            "qubits": first["resources"].get("qubits"),
            "shots": "exact" if shots is None else shots,
            "circuits": mean(executed(r, "circuits") for r in records),
            "jobs": mean(executed(r, "jobs") for r in records),
            "qpu_seconds": mean(executed(r, "estimated_qpu_seconds") for r in records)}


def rows_of(records: list[dict], dirty: bool) -> list[Row]:
    names = tuple(name for name, *_ in FIGURES) + tuple(n for f in TASK_FIGURES.values() for n, *_ in f)
    rows = []
    for group in aggregate(records, names):
        members = group["records"]
        first = members[0]
        rows.append(Row(task=first["task"], method=first["method"], backend=first.get("backend"),
                        protocol=protocol_of(first), quantum=is_quantum(first), dirty=dirty, records=members,
                        seeds=group["seeds"], figures=group["figures"], cost=cost(members),
                        weak=any(r.get("warnings") for r in members), inputs=inputs(first),
                        named=named_configurations.of_record(first), tuned=tuned_mark(first)))
    return rows


def _flat(value, prefix: str = "") -> dict:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: json.dumps(value, default=str)}


def label_settings(rows: list[Row]) -> None:
    """Each row's settings that differ among the task's rows of the same method, named configuration and backend
    (nothing for a method run once), and a named configuration's row the settings it changed from that
    configuration's. A setting some records lack (written by older code) tells nothing: rows alike but for such
    settings are told apart by their commit."""
    by_method: dict[tuple, list[Row]] = {}
    for row in rows:
        by_method.setdefault((row.method, row.named, row.backend), []).append(row)
    for same in by_method.values():
        flats = [_flat(json.loads(configuration(r.records[0]))["config"]) for r in same]
        keys = sorted(set.intersection(*(set(f) for f in flats)))
        shown = [k for k in keys if k not in HIDDEN_KEYS and not k.startswith(("task.", "protocol."))
                 or k in SHOWN_TASK_KEYS]  # the protocol: the row's protocol and its hold-out (label)
        differ = [k for k in shown if len({f[k] for f in flats}) > 1]
        for row, values in zip(same, flats):
            changed = [] if row.named is None else [f"method.{k}" for k in named_configurations.differences(
                row.method, row.named, (row.records[0].get("config") or {}).get("method") or {})]
            row.settings = ", ".join(f"{_short(k)}={_value(values[k])}" for k in dict.fromkeys(differ + changed)
                                     if k in values)
        labels = [r.label for r in same]
        for row in same:
            if labels.count(row.label) > 1:
                commit = str((row.records[0].get("environment") or {}).get("git_commit") or "?")
                row.settings = ", ".join(filter(None, [row.settings, f"commit {commit[:7]}"]))


def _short(key: str) -> str:
    return key.removeprefix("method.").removeprefix("backend.")


def _value(text: str | None) -> str:
    if text is None:
        return "unset"
    value = json.loads(text)
    return "null" if value is None else format(value, "g") if isinstance(value, float) else str(value)


EXACT = (None, "fast", "default.qubit", "lightning.qubit")  # backends without shots or noise (None: classical)


def on_whole_test_set(row: Row) -> bool:
    """Scored exactly on the protocol's whole test set: no shots or device noise, no test subsample, no validation
    hold-out. Only such rows are ranked against each other; the others (a noise sweep's points, tuned rows and
    their defaults) are listed after them, unranked."""
    config = row.records[0].get("config") or {}
    return (row.backend in EXACT and not config.get("test_events")
            and not (config.get("protocol") or {}).get("validation_fraction"))


def rank(rows: list[Row]) -> None:
    """Competition ranks (1, 2, 2, 4) by mean AUC within each protocol, over the rows scored on the whole test set
    (on_whole_test_set); a row without an AUC is not ranked."""
    for protocol in {r.protocol for r in rows}:
        same = [r for r in rows if r.protocol == protocol and r.figures[RANKED_BY]["mean"] is not None
                and on_whole_test_set(r)]
        for row in same:
            row.rank = 1 + sum(o.figures[RANKED_BY]["mean"] > row.figures[RANKED_BY]["mean"] for o in same)


def order(rows: list[Row]) -> list[Row]:
    protocols = sorted({r.protocol for r in rows}, key=lambda p: (p != REFERENCE_PROTOCOL, p))
    return sorted(rows, key=lambda r: (protocols.index(r.protocol), r.rank is None, r.rank or 0,
                                       -(r.figures[RANKED_BY]["mean"] or 0), r.label))


def summary(tasks: dict[str, TaskReport]) -> list[dict]:
    """Per method, its rank on each task (its best row there, ranked against the other methods' best rows) and
    the average of those ranks over the tasks it ran on: the Dark Machines challenge's average rank."""
    ranks: dict[str, dict[str, int]] = {}
    for task, report in tasks.items():
        best: dict[str, float] = {}
        for row in report.rows:
            value = row.figures[RANKED_BY]["mean"]
            if row.protocol == REFERENCE_PROTOCOL and value is not None and on_whole_test_set(row):
                best[row.method] = max(value, best.get(row.method, -np.inf))
        for method, value in best.items():
            ranks.setdefault(method, {})[task] = 1 + sum(v > value for v in best.values())
    out = [{"method": m, "ranks": r, "average": float(np.mean(list(r.values()))), "tasks": len(r)}
           for m, r in ranks.items()]
    return sorted(out, key=lambda s: (s["average"], -s["tasks"], s["method"]))


def _auc(row: Row) -> str:
    from qhep.reporting.seeds import describe

    return f"AUC {describe(row.figures['auc'], '.3f')} (n={row.n})"


def _paired(quantum: Row, classical: Row) -> str:
    """The AUC difference seed by seed, where both rows ran the same seeds: mean ± std over the seeds."""
    by_seed = {r["seed"]: r["metrics"].get("auc") for r in classical.records}
    diffs = [r["metrics"]["auc"] - by_seed[r["seed"]] for r in quantum.records
             if r["metrics"].get("auc") is not None and by_seed.get(r["seed"]) is not None]
    if not diffs:
        return ""
    text = f"{np.mean(diffs):+.3f}"
    return text + (f"±{np.std(diffs, ddof=1):.3f}" if len(diffs) > 1 else "") + f" over {len(diffs)} paired seed(s)"


def best_lines(rows: list[Row]) -> list[str]:
    """Per set of inputs with both kinds of run, the best quantum row against the best classical row (by AUC)."""
    lines = []
    for key in dict.fromkeys(r.inputs for r in rows):
        same = [r for r in rows if r.inputs == key and r.figures["auc"]["mean"] is not None]
        quantum = [r for r in same if r.quantum]
        classical = [r for r in same if not r.quantum]
        if not (quantum and classical):
            continue
        q = max(quantum, key=lambda r: r.figures["auc"]["mean"])
        c = max(classical, key=lambda r: r.figures["auc"]["mean"])
        difference = q.figures["auc"]["mean"] - c.figures["auc"]["mean"]
        protocol = "" if q.protocol == REFERENCE_PROTOCOL else f" ({q.protocol})"
        lines.append(f"best quantum{protocol}: {q.label}, {_auc(q)}; best classical: {c.label}, {_auc(c)}; "
                     f"difference of the means {difference:+.3f}")
    return lines


def _contains(settings: dict, wanted: dict) -> bool:
    for key, value in wanted.items():
        if isinstance(value, dict):
            if not isinstance(settings.get(key), dict) or not _contains(settings[key], value):
                return False
        elif key not in settings or settings[key] != value:
            return False
    return True


def twin_lines(rows: list[Row]) -> list[str]:
    """Each quantum row against the classical run on identical inputs (the method's declared twin, with its
    settings), the same task, dataset, protocol and seeds; rows with no such run are said so, per method."""
    lines, missing = [], {}
    for q in (r for r in rows if r.quantum):
        twin = twin_of(q.records[0])
        if twin is None:
            missing.setdefault((q.label.split(" (")[0], "no classical twin declared"), []).append(q)
            continue
        name, wanted = twin
        found = [c for c in rows if not c.quantum and c.method == name and c.inputs == q.inputs
                 and c.run_seeds == q.run_seeds
                 and _contains((c.records[0].get("config") or {}).get("method") or {}, wanted)]
        wanted_text = ", ".join(f"{k}={v}" for k, v in wanted.items() if not isinstance(v, dict))
        if not found:
            scorer = wanted.get("scorer")
            what = name + (f" with scorer {scorer['name']}" if isinstance(scorer, dict) else "") + \
                (f" ({wanted_text})" if wanted_text else "")
            missing.setdefault((q.method + (f" [{q.backend}]" if q.backend else ""),
                                f"no twin run ({what} on the same inputs and seeds)"), []).append(q)
            continue
        c = max(found, key=lambda r: r.figures["auc"]["mean"] or -np.inf)
        paired = _paired(q, c)
        lines.append(f"{q.label}, {_auc(q)}; twin {c.label}, {_auc(c)}"
                     + (f"; quantum - classical {paired}" if paired else ""))
    for (label, why), which in missing.items():
        lines.append(f"{label}" + (f" ({len(which)} configurations)" if len(which) > 1 else "") + f": {why}")
    return lines


def darkmachines_ti(records: list[dict]) -> dict:
    """Total Improvement per signal (best max SI over the channels), min / median / max over signals, per method
    configuration: only records whose configurations differ in task.channel / task.signal alone are combined."""
    groups: dict[str, dict] = {}
    for record in records:
        identity = json.loads(configuration(record))
        task = identity["config"].get("task") or {}
        channel, signal = str(task.pop("channel", None)), str(task.pop("signal", None))
        identity["dataset"] = None  # channels and signals are read from one file set; the settings say which
        key = json.dumps(identity, sort_keys=True)
        entry = groups.setdefault(key, {"method": record["method"], "pairs": {}, "record": record})
        entry["pairs"].setdefault((signal, channel), []).append(record["metrics"].get("max_si"))
    out = []
    for entry in groups.values():
        max_si = {pair: (float(np.mean([v for v in values if v is not None]))
                         if any(v is not None for v in values) else None) for pair, values in entry["pairs"].items()}
        out.append({"method": entry["method"], "record": entry["record"], "pairs": sorted(entry["pairs"]),
                    **summarize(total_improvement(max_si))})
    pairs = sorted({p for e in out for p in e["pairs"]})
    return {"rows": sorted(out, key=lambda e: -(e["median"] or -np.inf)), "pairs": pairs}


def _check_roc(record: dict) -> None:
    roc = record.get("roc")
    if roc is None:
        return
    if not (isinstance(roc, dict) and len(roc.get("eps_b") or []) == len(roc.get("eps_s") or []) > 1):
        raise ValueError("roc: eps_b and eps_s must be lists of the same length")
    np.asarray(roc["eps_b"], dtype=float), np.asarray(roc["eps_s"], dtype=float)


def build(records: list[dict], superseded: int = 0, include_dirty: bool = False) -> Report:
    """The report of these records (superseded ones already left out; `superseded`: how many)."""
    from qhep.tasks import TASKS, load_card

    prepared = []
    for record in records:
        try:
            prepared.append(with_task_figures(record))
            inputs(record), configuration(record), is_quantum(record), cost([record]), _check_roc(record)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise DataError(record.get("_path", "?"), f"damaged result record: {type(exc).__name__} {exc}") from None
    tasks = sorted({r["task"] for r in prepared}, key=lambda t: (TASK_ORDER + (t,)).index(t))
    reports = {}
    for task in tasks:
        mine = [r for r in prepared if r["task"] == task]
        clean = [r for r in mine if not is_dirty(r)]
        dirty = rows_of([r for r in mine if is_dirty(r)], dirty=True)
        rows = rows_of(clean, dirty=False) + (dirty if include_dirty else [])
        label_settings(rows)
        label_settings([] if include_dirty else dirty)
        rank([r for r in rows if include_dirty or not r.dirty])
        report = TaskReport(task, order(rows), [] if include_dirty else order(dirty))
        report.best, report.twins = best_lines(report.rows), twin_lines(report.rows)
        report.min_background = sorted({r["metrics"].get("max_sic_min_background") for r in mine}, key=str)
        if task == "darkmachines":
            report.total_improvement = darkmachines_ti([r for r in (mine if include_dirty else clean)])
        if task in TASKS:
            report.published = load_card(task).get("reference")
        reports[task] = report
    dirty_count = sum(is_dirty(r) for r in prepared)
    return Report(reports, summary(reports), len(prepared), superseded, dirty_count)

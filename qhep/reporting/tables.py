"""Terminal tables: the summary of one run and the leaderboard of all recorded runs."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from qhep.errors import QhepError
from qhep.methods import named
from qhep.reporting.seeds import tuned_mark
from qhep.text import plain

COLUMNS = [  # header, getter
    ("task", lambda r: r["task"]),
    ("method", lambda r: named.label(r) + tuned_mark(r)),  # qae [ngairangbam2021]; qsvm (tuned, budget 12)
    ("backend", lambda r: r["backend"] or "-"),
    ("shots", lambda r: _shots(r)),
    ("noise", lambda r: _noise(r)),
    ("training", lambda r: _training(r)),
    ("seed", lambda r: str(r["seed"]) + ("!" if r.get("warnings") else "")),
    ("AUC", lambda r: figure(r, "auc", ".3f")),
    ("1/eB@0.3", lambda r: figure(r, "rejection_at_eps_s_0.3", ".3g")),
    ("1/eB@0.5", lambda r: figure(r, "rejection_at_eps_s_0.5", ".3g")),
    ("max SIC", lambda r: figure(r, "max_sic", ".2f")),
    ("eS@eB=1e-2", lambda r: figure(r, "eps_s_at_eps_b_1e-02", ".3f")),
    ("Z cut", lambda r: _num(r["metrics"].get("expected_significance", {}).get("best_cut"), ".2f")),
    ("train s", lambda r: _num(r["timing"]["train_seconds"], ".1f")),
    ("train ev/s", lambda r: _num(r["timing"]["train_events_per_second"], ".3g")),
    ("infer ev/s", lambda r: _num(r["timing"]["inference_events_per_second"], ".3g")),
    ("params", lambda r: str(r["resources"].get("trainable_parameters", "-"))),
    ("qubits", lambda r: str(r["resources"].get("qubits", "-"))),
]


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def figure(record: dict, name: str, fmt: str) -> str:
    """A figure with its bootstrap standard deviation (`0.841±0.008`); a working point on too few background
    events as its bound (`>82`); `-` where the test set cannot resolve it."""
    metrics = record["metrics"]
    value = metrics.get(name)
    if value is None:
        bound = ((metrics.get("working_points") or {}).get(name) or {}).get("bound")
        return "-" if not bound else (">" if bound["side"] == "lower" else "<") + format(bound["value"], fmt)
    error = (((metrics.get("uncertainties") or {}).get("figures") or {}).get(name) or {}).get("std")
    return format(value, fmt) + ("" if error is None else "±" + format(error, fmt if "f" in fmt else ".2g"))


def _backend_settings(record: dict) -> dict:
    if not record["backend"]:  # a classical method: no backend ran anything
        return {}
    return (record.get("config") or {}).get("backend") or {}


def _shots(record: dict) -> str:
    """Shots per circuit; 'exact' where the backend takes shots and computes probabilities instead."""
    settings = _backend_settings(record)
    if "shots" not in settings:
        return "-"
    return "exact" if settings["shots"] is None else str(settings["shots"])


def _noise(record: dict) -> str:
    """The simulated device noise (and its scale), or the device that is itself the noise."""
    settings = _backend_settings(record)
    if settings.get("noise"):
        device = settings["noise"].partition(":")[2] or settings["noise"]
        scale = settings.get("noise_scale", 1.0)
        return device if scale == 1 else f"{device}×{scale:g}"
    if settings.get("name") in ("fake", "ibm"):
        return settings.get("device") or "device"
    return "-"


def _training(record: dict) -> str:
    """The optimizer, and where the model was trained when that is not the scoring backend (`adam@fast`)."""
    method = (record.get("config") or {}).get("method") or {}
    if "optimizer" not in method:
        return "-"
    return method["optimizer"] + (f"@{method['train_backend']}" if method.get("train_backend") else "")


MARKDOWN = ("task", "method", "protocol", "backend", "seed", "AUC", "1/eB@0.3", "max SIC", "train s", "test b/s")
EXTRA = {"protocol": lambda r: (r.get("protocol") or {}).get("name", "unsupervised"),
         "test b/s": lambda r: f"{r['cutflow']['test_background']}/{r['cutflow']['test_signal']}"}


def markdown_table(records: list[dict], axes: list[str] = ()) -> str:
    """The records as a Markdown table (for READMEs and notes: generated from the records, never typed); `axes`:
    a sweep's axes as leading columns, the value of each at the record's point."""
    getters = {**{key: (lambda r, k=key: _cell(r["sweep"]["point"].get(k))) for key in axes},
               **dict(COLUMNS), **EXTRA}
    headers = [*axes, *(h for h in MARKDOWN if h not in axes)]
    rows = [[plain(getters[h](r)).replace("|", "/") for h in headers] for r in records]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def markdown_grid(records: list[dict]) -> str:
    """Methods down, tasks across, each cell `AUC (max SIC)` of the one record there, each with its bootstrap standard
    deviation where the record has one, or over the seeds of one configuration their mean ± seed-to-seed standard
    deviation (mean bootstrap standard deviation); a cell with several configurations (backends, settings) is
    refused rather than averaged silently; a named configuration's runs are a row of their own (qae [ngairangbam2021])."""
    tasks = list(dict.fromkeys(r["task"] for r in records))
    label = {id(r): named.label(r) + tuned_mark(r) + (f" ({r['protocol']['name']})" if (r.get("protocol") or {}).get("name", "unsupervised")
                                   != "unsupervised" else "") for r in records}
    methods = list(dict.fromkeys(label[id(r)] for r in records))
    cells: dict[tuple, list] = {}
    for r in records:
        cells.setdefault((label[id(r)], r["task"]), []).append(r)
    lines = ["| method | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for method in methods:
        row = []
        for task in tasks:
            found = cells.get((method, task), [])
            row.append(_grid_cell(found, method, task) + (" !" if any(r.get("warnings") for r in found) else ""))
        lines.append(f"| {plain(method)} | " + " | ".join(row) + " |")
    notes = []
    if any(len(found) > 1 for found in cells.values()):
        notes.append("cells: AUC; max SIC, each the mean ± seed-to-seed standard deviation (mean bootstrap standard "
                     "deviation) over the seeds")
    if any(r.get("warnings") for r in records):
        notes.append("! a sample below the task's declared minimum (the record's warnings say which): weak statistics")
    return "\n".join(lines + (["", *notes] if notes else []))


def _grid_cell(found: list[dict], method: str, task: str) -> str:
    from qhep.reporting.seeds import aggregate, describe

    if not found:
        return ""
    if len(found) == 1:
        return f"{figure(found[0], 'auc', '.3f')} ({figure(found[0], 'max_sic', '.2f')})"
    groups = aggregate(found, ("auc", "max_sic"))
    if len(groups) > 1:
        raise QhepError(f"leaderboard --grid: {len(groups)} configurations of {method} on {task} (settings other "
                        "than the seeds differ): the grid holds one per cell; leave out --grid to list them")
    figures = groups[0]["figures"]
    return f"{describe(figures['auc'], '.3f')}; {describe(figures['max_sic'], '.2f')}"


TEXT_COLUMNS = ("task", "method", "backend", "noise", "training")
# Sweep axes that the standard columns already show
SHOWN = ("task", "method", "backend", "seed", "backend.shots", "backend.noise", "backend.noise_scale")


def records_table(records: list[dict], title: str, axes: list[str] = ()) -> Table:
    """One row per record; `axes`: a sweep's axes as leading columns (the value of each at the record's point)."""
    table = Table(title=Text(plain(title)))
    columns = [(key.rpartition(".")[2], lambda r, k=key: _cell(r["sweep"]["point"].get(k)))
               for key in axes if key not in SHOWN] + COLUMNS
    for header, _ in columns:
        table.add_column(header, justify="left" if header in TEXT_COLUMNS else "right")
    for record in records:
        # Text, not markup, with control characters removed: a record's strings cannot restyle or drive the terminal
        table.add_row(*(Text(plain(get(record))) for _, get in columns))
    return table


SEED_FIGURES = (("AUC", "auc", ".3f"), ("1/eB@0.3", "rejection_at_eps_s_0.3", ".3g"),
                ("1/eB@0.5", "rejection_at_eps_s_0.5", ".3g"), ("max SIC", "max_sic", ".2f"),
                ("train s", None, ".1f"))


def seeds_table(records: list[dict], title: str, axes: list[str] = ()) -> Table:
    """One row per configuration: each figure as mean ± seed-to-seed std (mean bootstrap std), with the seeds;
    `axes`: sweep axes as leading columns (blank for a record of a sweep without that axis)."""
    from qhep.reporting.seeds import SEED_KEYS, aggregate, describe

    table = Table(title=Text(plain(title)))
    fixed = [(key.rpartition(".")[2], lambda r, k=key: _cell(r["sweep"]["point"][k]) if k in r["sweep"]["point"]
              else "") for key in axes if key not in (*SHOWN, *SEED_KEYS)]
    fixed += [c for c in COLUMNS if c[0] in ("task", "method", "backend", "shots", "noise", "training")]
    for header, *_ in (*fixed, ("seeds",), *SEED_FIGURES):
        table.add_column(header, justify="left" if header in TEXT_COLUMNS else "right")
    for group in aggregate(records, tuple(name for _, name, _ in SEED_FIGURES if name)):
        first = group["records"][0]
        train = [r["timing"]["train_seconds"] for r in group["records"]]
        cells = [get(first) for _, get in fixed]
        cells.append(", ".join(str(s) if b is None else f"{s}/{b}" for s, b in group["seeds"])
                     + ("!" if any(r.get("warnings") for r in group["records"]) else ""))
        cells += [describe(group["figures"][name], fmt) if name else format(sum(train) / len(train), fmt)
                  for _, name, fmt in SEED_FIGURES]
        table.add_row(*(Text(plain(c)) for c in cells))
    return table


def markdown_of(table: Table) -> str:
    """A rich table's header and cells as Markdown."""
    headers = [str(c.header) for c in table.columns]
    rows = zip(*(list(c.cells) for c in table.columns))
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows])


def _cell(value) -> str:
    return "null" if value is None else format(value, "g") if isinstance(value, float) else str(value)


def print_leaderboard(records: list[dict], task: str | None = None, sweep: list[str] | None = None,
                      markdown: bool = False, grid: bool = False, seeds: bool = False) -> int:
    """Every run, best AUC first per task; with `sweep` (sweep ids), their points in the order of their axes; with
    `seeds`, one row per configuration over its seeds. Returns the number of rows."""
    chosen = [r for r in records if task in (None, r["task"])]
    if sweep is None:
        chosen.sort(key=lambda r: (r["task"], -r["metrics"]["auc"]))
        title = f"qhep leaderboard: {len(chosen)} run(s)"
    else:
        chosen = [r for one in sweep for r in sweep_records(chosen, one)]
        title = f"qhep sweep {', '.join(sweep)}: {len(chosen)} point(s)"
    if seeds and not grid:
        axes = list(dict.fromkeys(k for r in chosen for k in r["sweep"]["axes"])) if sweep else []
        table = seeds_table(chosen, f"{title}, by configuration", axes)
        console().print(table) if not markdown else print(markdown_of(table))
    elif grid:
        print(markdown_grid(chosen))
    elif markdown:
        print(markdown_table(chosen, [k for k in chosen[0]["sweep"]["axes"] if k not in ("seed", "method")]
                             if sweep and chosen else ()))
    elif chosen:
        console().print(records_table(chosen, title, list(chosen[0]["sweep"]["axes"]) if sweep else ()))
    if any(r.get("warnings") for r in chosen) and not grid:
        print("! a sample below the task's declared minimum (the record's warnings say which): weak statistics")
    return len(chosen)


def sweep_records(records: list[dict], sweep: str) -> list[dict]:
    """The records of one sweep, ordered by its axes (first axis slowest, each in the order it was given)."""
    chosen = [r for r in records if (r.get("sweep") or {}).get("id") == sweep]

    def position(record):
        axes, point = record["sweep"]["axes"], record["sweep"]["point"]
        return [values.index(point[key]) if point.get(key) in values else len(values) for key, values in axes.items()]

    return sorted(chosen, key=position)


def print_unfinished(runs: list[dict]) -> None:
    """Runs that have no record yet, and why: a leaderboard does not let a failed run vanish."""
    table = Table(title=Text(f"unfinished runs: {len(runs)}"))
    for header in ("task", "method", "backend", "seed", "state", "train s so far", "go on with"):
        table.add_column(header)
    for run in runs:
        table.add_row(*(Text(plain(v)) for v in (run["task"], run["method"], run["backend"] or "-", run["seed"],
                                                 run["state"], f"{run['train_seconds']:.1f}", run["resume"])))
    console().print(table)


def print_summary(record: dict, run_dir) -> None:
    out = console()
    data, flow = record["dataset"], record["cutflow"]
    source = "embedded sample" if data.get("embedded") else data["source"]
    out.print(plain(f"{record['task']} ({source}): {flow['train_events']} training events, "
                        f"{flow['test_background']} background + {flow['test_signal']} signal in the test set; "
                        f"features {', '.join(record['features'])}"))
    out.print(records_table([record], f"{record['task']} / {record['method']}"))
    for warning in record.get("warnings", []):
        out.print(plain(f"warning: {warning}"))
    out.print(plain(f"record: {run_dir}"))


def console() -> Console:
    # Piped output defaults to 80 columns, which folds every cell; keep rows whole in logs. No markup: printed
    # text comes from records and files.
    terminal = Console(markup=False, highlight=False)
    return terminal if terminal.is_terminal else Console(width=200, markup=False, highlight=False)

"""The report's tables as headers and cell strings, shared by the Markdown and the HTML rendering."""
from __future__ import annotations

from qhep.reporting.leaderboard import FIGURES, TASK_FIGURES, Report, Row, TaskReport
from qhep.reporting.seeds import describe

DIRTY_MARK = "†"  # a row from a tree with uncommitted changes
WEAK_MARK = "!"  # a sample below the task's declared minimum


def _number(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def figure_cell(row: Row, name: str, fmt: str) -> str:
    """mean ± seed std (mean bootstrap std); without a value, the one-sided bound the records give (`>82`)."""
    text = describe(row.figures[name], fmt)
    if text != "-":
        return text
    bounds = [((r["metrics"].get("working_points") or {}).get(name) or {}).get("bound") for r in row.records]
    bounds = [b for b in bounds if b]
    if bounds and len(bounds) == len(row.records):
        weakest = min(bounds, key=lambda b: b["value"]) if bounds[0]["side"] == "lower" else max(
            bounds, key=lambda b: b["value"])
        return (">" if weakest["side"] == "lower" else "<") + format(weakest["value"], fmt)
    return "-"


def method_cell(row: Row) -> str:
    return row.label + (f" ({row.protocol})" if row.protocol != "unsupervised" else "") \
        + (" " + DIRTY_MARK if row.dirty else "") + (" " + WEAK_MARK if row.weak else "")


def figure_headers(task: str) -> list[str]:
    return ["rank", "method", "seeds", *(h for _, h, _ in FIGURES), *(h for _, h, _ in TASK_FIGURES.get(task, ())),
            "test b/s"]


def figure_rows(task: str, rows: list[Row]) -> list[list[str]]:
    out = []
    for row in rows:
        flow = row.records[0]["cutflow"]
        out.append(["-" if row.rank is None else str(row.rank), method_cell(row), str(row.n),
                    *(figure_cell(row, n, f) for n, _, f in FIGURES),
                    *(figure_cell(row, n, f) for n, _, f in TASK_FIGURES.get(task, ())),
                    f"{flow.get('test_background', '?')}/{flow.get('test_signal', '?')}"])
    return out


COST_HEADERS = ["method", "train s", "train ev/s", "infer ev/s", "params", "qubits", "shots", "circuits", "jobs",
                "est. QPU s"]


def cost_rows(rows: list[Row]) -> list[list[str]]:
    out = []
    for row in rows:
        c = row.cost
        out.append([method_cell(row), _number(c["train_seconds"], ".3g"), _number(c["train_events_per_second"], ".3g"),
                    _number(c["inference_events_per_second"], ".3g"), _number(c["parameters"], ".0f"),
                    "-" if c["qubits"] is None else str(c["qubits"]), str(c["shots"]),
                    _number(c["circuits"], ".0f"), _number(c["jobs"], ".0f"), _number(c["qpu_seconds"], ".3g")])
    return out


def summary_table(report: Report) -> tuple[list[str], list[list[str]]]:
    tasks = list(report.tasks)
    headers = ["method", "average rank", "tasks", *tasks]
    rows = [[s["method"], f"{s['average']:.2f}", str(s["tasks"]), *(str(s["ranks"].get(t, "")) for t in tasks)]
            for s in report.summary]
    return headers, rows


TI_HEADERS = ["method", "(signal, channel) pairs", "signals", "TI min", "TI median", "TI max"]


def ti_rows(task: TaskReport) -> list[list[str]]:
    from qhep.reporting.leaderboard import protocol_of

    out = []
    for entry in task.total_improvement["rows"]:
        protocol = protocol_of(entry["record"])
        label = entry["method"] + (f" ({protocol})" if protocol != "unsupervised" else "")
        out.append([label, str(len(entry["pairs"])), str(entry["signals"]),
                    *(_number(entry[k], ".3g") for k in ("min", "median", "max"))])
    return out


def ti_note(task: TaskReport) -> str:
    pairs = task.total_improvement["pairs"]
    text = ("Total Improvement (TI) per signal: the best max SI over the channels it appears in; each method "
            "configuration summarised by the minimum, median and maximum TI over signals (the challenge's summary), "
            "each max SI the mean over seeds.")
    if len(pairs) == 1:
        signal, channel = pairs[0]
        text += (f" The repository holds a single (channel, signal): channel {channel}, {signal}; min = median = "
                 "max = that pair's max SI, not the challenge's spread over signals.")
    return text


# figure names in the cards' reference sections; any other key holding figures is a model's name
PUBLISHED_FIGURES = {"max_sic": "max SIC", "auc": "AUC", "r30": "1/eB@eS=0.3", "r50": "1/eB@eS=0.5",
                     "total_improvement_min_median_max": "TI min / median / max"}


def published_table(reference: dict | None) -> tuple[list[str], list[list[str]], list[str]]:
    """The card's `reference:` section as (headers, rows, text lines): rows are models, columns figures."""
    if not reference:
        return [], [], []
    models: dict[str, dict[str, str]] = {}
    lines = []
    for key, value in reference.items():
        if not isinstance(value, dict):
            lines.append(f"{key}: {value}")
        elif key in PUBLISHED_FIGURES:  # {model: value}
            for model, figure in value.items():
                models.setdefault(model, {})[PUBLISHED_FIGURES[key]] = _published(figure)
        else:  # a model: {figure: value}
            for figure, number in value.items():
                models.setdefault(key, {})[PUBLISHED_FIGURES.get(figure, figure)] = _published(number)
    columns = list(dict.fromkeys(c for figures in models.values() for c in figures))
    rows = [[model, *(figures.get(c, "") for c in columns)] for model, figures in models.items()]
    return (["published model", *columns] if rows else []), rows, lines


def _published(value) -> str:
    if isinstance(value, list):
        return " / ".join(format(v, "g") if isinstance(v, float) else str(v) for v in value)
    return format(value, "g") if isinstance(value, float) else str(value)


def guard_note(task: TaskReport) -> str:
    guards = ", ".join(str(g) for g in task.min_background)
    return (f"Figures are mean ± seed-to-seed standard deviation (mean bootstrap standard deviation over the test "
            f"events); 'seeds' is how many. Working points (1/eB, max SIC, eS at fixed eB, SI, Z) are quoted only where "
            f"at least {guards} test background events pass (relative error on eB at most 1/sqrt of that); below, a "
            f"rejection is given as its 95% lower limit (>x) and an unresolved point as '-'. Ranks by mean AUC within a "
            f"protocol, among the rows scored exactly on the whole test set; rows with shots or device noise, a test "
            f"subsample or a validation hold-out (tuned rows and their defaults) follow, unranked ('-'). {WEAK_MARK}: a sample below the task's declared minimum. test b/s: test background/signal "
            "events.")

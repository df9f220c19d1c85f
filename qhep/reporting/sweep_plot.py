"""A sweep at a glance: AUC and maximum SIC against its first axis, one line per value of the other axes, with
error bars: the bootstrap's standard deviation of each point; over a seed axis (`seed`, `backend.seed`), the points
of a line are averaged and the bars are the seed-to-seed standard deviation."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from qhep.errors import QhepError  # noqa: E402
from qhep.reporting.seeds import SEED_KEYS  # noqa: E402

PANELS = (("auc", "AUC", 0.5), ("max_sic", r"max SIC $\epsilon_S/\sqrt{\epsilon_B}$", 1.0))  # metric, label, random


def plot_sweep(state: dict, path) -> None:
    plot_sweeps([state], path)


def plot_sweeps(states: list[dict], path, x: str | None = None) -> None:
    """One sweep, or several drawn on shared axes (a quantum method's sweep beside its classical twin's, their
    first axes naming the same quantity: method.n_train and method.max_train_events). With several, each line is
    named by its sweep's method, quantum solid and classical dashed. `x`: the axis along x (default: the first)."""
    layout = [_layout(state, x) for state in states]
    x_keys = list(dict.fromkeys(x_key for x_key, _ in layout))
    x_values = list(dict.fromkeys(json.dumps(v) for state, (x_key, _) in zip(states, layout)
                                  for v in state["axes"][x_key]))
    x_values = [json.loads(v) for v in x_values]
    given = [v for v in x_values if v is not None]
    numeric = bool(given) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given)
    # Shots span decades; so may any positive axis. A null value (exact, for shots) has no place on such an axis:
    # it is drawn as a dashed level in its line's colour.
    shots = all(k.endswith("shots") for k in x_keys)
    log = numeric and (shots or (min(given) > 0 and max(given) / min(given) >= 100))
    null_label = "exact" if shots else f"{_short(x_keys[0])}=null"

    lines = []  # (name, linestyle, points)
    for state, (x_key, others) in zip(states, layout):
        prefix = _method(state) if len(states) > 1 and "method" not in state["axes"] else None
        series: dict[str, list[dict]] = {}
        for point in state["points"]:
            if point.get("metrics"):
                series.setdefault(json.dumps([point["point"][k] for k in others]), []).append(point)
        for points in series.values():
            name = ", ".join(f"{_short(k)}={_fmt(points[0]['point'][k])}" for k in others)
            name = ", ".join(n for n in (prefix, name) if n) or "points"
            method = points[0]["point"].get("method", _method(state))
            style = "-" if _is_quantum(method) or len(states) == 1 and "method" not in state["axes"] else "--"
            lines.append((name, style, [{"x": p["point"][x_key], "metrics": p["metrics"]} for p in points]))

    fig, panels = plt.subplots(1, 2, figsize=(13, 4.4), layout="constrained")
    for panel, (metric, label, random) in zip(panels, PANELS):
        for i, (name, style, points) in enumerate(lines):
            measured = _over_seeds(points, metric)
            if numeric:
                line = sorted((x, y, e) for x, y, e in measured if x is not None)
                if line:
                    xs, ys, es = zip(*line)
                    panel.errorbar(xs, ys, yerr=_bars(es), fmt="o", ls=style, color=f"C{i}", capsize=3, label=name)
                for _, y, e in (m for m in measured if m[0] is None):
                    panel.axhline(y, color=f"C{i}", ls="--", lw=1.2, label=f"{name}, {null_label}")
                    if e is not None:
                        panel.axhspan(y - e, y + e, color=f"C{i}", alpha=0.15)
            elif measured:
                at = sorted((x_values.index(x), y, e) for x, y, e in measured)
                xs, ys, es = zip(*at)
                panel.errorbar(xs, ys, yerr=_bars(es), fmt="o", ls=style, color=f"C{i}", capsize=3, label=name)
        panel.axhline(random, color="k", ls=":", lw=1, label="random")
        if log:
            panel.set_xscale("log")
        if not numeric:
            panel.set_xticks(range(len(x_values)), [_fmt(v) for v in x_values])
        panel.set(xlabel=" / ".join(x_keys), ylabel=label)
    fig.legend(*panels[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    seeds = sorted({k for state, (x_key, others) in zip(states, layout) for k in state["axes"]
                    if k in SEED_KEYS and k not in (x_key, *others)})
    bars = (f"error bars: standard deviation over {', '.join(seeds)}" if seeds
            else "error bars: bootstrap standard deviation over the test events")
    title = [line for state in states for line in textwrap.wrap(state["command"], 120)]
    fig.suptitle("\n".join([*title, bars]), fontsize=9)
    if isinstance(path, (str, Path)):  # else a binary file (the report embeds the PNG)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def _layout(state: dict, x: str | None = None) -> tuple[str, list[str]]:
    """The sweep's x axis (`x`, else its first axis that is not a seed) and the axes that make its lines."""
    keys = [k for k in state["axes"] if k not in SEED_KEYS] or list(state["axes"])
    if x is not None:
        if x not in keys:
            raise QhepError(f"--x {x}: not an axis of sweep {state['id']} (its axes: {', '.join(state['axes'])})")
        keys = [x] + [k for k in keys if k != x]
    return keys[0], keys[1:]


def _method(state: dict) -> str:
    """The sweep's method as its command gave it (`method=...`; qhep's default when not given)."""
    for override in reversed(state.get("overrides") or []):
        key, _, value = override.partition("=")
        if key == "method":
            return value
    return "qae"  # qhep's default method


def _is_quantum(method: str) -> bool:
    from qhep.methods import METHODS

    return bool(getattr(METHODS[method][0], "quantum", False)) if method in METHODS else False


def _over_seeds(points: list[dict], metric: str) -> list[tuple]:
    """(x, value, error) per x: one point's value and bootstrap std, or over repeated seeds their mean and
    seed-to-seed std."""
    by_x: dict[str, list[dict]] = {}
    for p in points:
        if p["metrics"][metric] is not None:
            by_x.setdefault(json.dumps(p["x"]), []).append(p)
    out = []
    for key, group in by_x.items():
        values = [p["metrics"][metric] for p in group]
        error = float(np.std(values, ddof=1)) if len(values) > 1 else group[0]["metrics"].get(f"{metric}_std")
        out.append((json.loads(key), float(np.mean(values)), error))
    return out


def _bars(errors) -> list[float] | None:
    return None if all(e is None for e in errors) else [0.0 if e is None else e for e in errors]


def _short(key: str) -> str:
    return key.rpartition(".")[2]


def _fmt(value) -> str:
    return "null" if value is None else format(value, "g") if isinstance(value, float) else str(value)

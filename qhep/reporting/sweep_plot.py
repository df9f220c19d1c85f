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

from qhep.reporting.seeds import SEED_KEYS  # noqa: E402

PANELS = (("auc", "AUC", 0.5), ("max_sic", r"max SIC $\epsilon_S/\sqrt{\epsilon_B}$", 1.0))  # metric, label, random


def plot_sweep(state: dict, path) -> None:
    keys = [k for k in state["axes"] if k not in SEED_KEYS] or list(state["axes"])
    x_key, others = keys[0], keys[1:]
    x_values = state["axes"][x_key]
    given = [v for v in x_values if v is not None]
    numeric = bool(given) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in given)
    # Shots span decades; so may any positive axis. A null value (exact, for shots) has no place on such an axis:
    # it is drawn as a dashed level in its line's colour.
    log = numeric and (x_key.endswith("shots") or (min(given) > 0 and max(given) / min(given) >= 100))
    null_label = "exact" if x_key.endswith("shots") else f"{_short(x_key)}=null"

    series: dict[str, list[dict]] = {}
    for point in state["points"]:
        if point.get("metrics"):
            series.setdefault(json.dumps([point["point"][k] for k in others]), []).append(point)

    fig, panels = plt.subplots(1, 2, figsize=(13, 4.4), layout="constrained")
    for panel, (metric, label, random) in zip(panels, PANELS):
        for i, points in enumerate(series.values()):
            name = ", ".join(f"{_short(k)}={_fmt(points[0]['point'][k])}" for k in others) or "points"
            measured = _over_seeds(points, x_key, metric)
            if numeric:
                line = sorted((x, y, e) for x, y, e in measured if x is not None)
                if line:
                    xs, ys, es = zip(*line)
                    panel.errorbar(xs, ys, yerr=_bars(es), fmt="o-", color=f"C{i}", capsize=3, label=name)
                for _, y, e in (m for m in measured if m[0] is None):
                    panel.axhline(y, color=f"C{i}", ls="--", lw=1.2, label=f"{name}, {null_label}")
                    if e is not None:
                        panel.axhspan(y - e, y + e, color=f"C{i}", alpha=0.15)
            else:
                at = sorted((x_values.index(x), y, e) for x, y, e in measured)
                xs, ys, es = zip(*at)
                panel.errorbar(xs, ys, yerr=_bars(es), fmt="o-", color=f"C{i}", capsize=3, label=name)
        panel.axhline(random, color="k", ls=":", lw=1, label="random")
        if log:
            panel.set_xscale("log")
        if not numeric:
            panel.set_xticks(range(len(x_values)), [_fmt(v) for v in x_values])
        panel.set(xlabel=x_key, ylabel=label)
    fig.legend(*panels[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    seeds = [k for k in state["axes"] if k in SEED_KEYS and k not in keys]
    bars = (f"error bars: standard deviation over {', '.join(seeds)}" if seeds
            else "error bars: bootstrap standard deviation over the test events")
    fig.suptitle("\n".join([*textwrap.wrap(state["command"], 120), bars]), fontsize=9)
    if isinstance(path, (str, Path)):  # else a binary file (the report embeds the PNG)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, format="png")
    plt.close(fig)


def _over_seeds(points: list[dict], x_key: str, metric: str) -> list[tuple]:
    """(x, value, error) per x: one point's value and bootstrap std, or over repeated seeds their mean and
    seed-to-seed std."""
    by_x: dict[str, list[dict]] = {}
    for p in points:
        if p["metrics"][metric] is not None:
            by_x.setdefault(json.dumps(p["point"][x_key]), []).append(p)
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

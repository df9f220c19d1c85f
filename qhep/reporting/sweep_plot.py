"""A sweep at a glance: AUC and maximum SIC against its first axis, one line per value of the other axes."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = (("auc", "AUC", 0.5), ("max_sic", r"max SIC $\epsilon_S/\sqrt{\epsilon_B}$", 1.0))  # metric, label, random


def plot_sweep(state: dict, path: Path) -> None:
    keys = list(state["axes"])
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
            measured = [(p["point"][x_key], p["metrics"][metric]) for p in points if p["metrics"][metric] is not None]
            if numeric:
                line = sorted((x, y) for x, y in measured if x is not None)
                if line:
                    panel.plot(*zip(*line), "o-", color=f"C{i}", label=name)
                for _, y in (m for m in measured if m[0] is None):
                    panel.axhline(y, color=f"C{i}", ls="--", lw=1.2, label=f"{name}, {null_label}")
            else:
                at = sorted((x_values.index(x), y) for x, y in measured)
                panel.plot(*zip(*at), "o-", color=f"C{i}", label=name)
        panel.axhline(random, color="k", ls=":", lw=1, label="random")
        if log:
            panel.set_xscale("log")
        if not numeric:
            panel.set_xticks(range(len(x_values)), [_fmt(v) for v in x_values])
        panel.set(xlabel=x_key, ylabel=label)
    fig.legend(*panels[0].get_legend_handles_labels(), loc="outside right upper", fontsize=8)
    fig.suptitle("\n".join(textwrap.wrap(state["command"], 120)), fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _short(key: str) -> str:
    return key.rpartition(".")[2]


def _fmt(value) -> str:
    return "null" if value is None else format(value, "g") if isinstance(value, float) else str(value)

"""Per-task ROC and SIC figures from the records' stored curves (`roc`, thinned to ~200 points), in the field's
conventions: background rejection 1/eps_B (log) against eps_S with the random line 1/eps_S, and SIC =
eps_S / sqrt(eps_B) cut where the background statistics run out. One line per method: the method's best row (by
mean AUC), its curve the mean over that row's seeds of eps_B at each eps_S. One fixed colour and line style per
method across every figure: classical dashed, quantum solid. No per-event scores are read."""
from __future__ import annotations

import io
import logging
import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402

from qhep.harness.metrics import enough  # noqa: E402

GRID = np.linspace(0.005, 1.0, 200)  # eps_S at which the seeds' curves are averaged
MAX_RELATIVE_ERROR = 0.2  # on eps_B: 1/sqrt(k) <= 0.2 needs k >= 25 background events passing
STYLE = mplhep.style.ATLAS  # fonts and ticks only: no experiment label is drawn
# the style's fonts lack a glyph mathtext asks for in \sqrt and say so on every draw; the root sign still shows
logging.getLogger("matplotlib.mathtext").setLevel(logging.ERROR)


def sic_guard(records: list[dict]) -> int:
    """Background events a SIC point must rest on: the records' own min_background, and at least the count at
    which the relative statistical error on eps_B (1/sqrt(k)) is 20 %."""
    guards = [r["metrics"].get("max_sic_min_background") or 0 for r in records]
    return max([int(np.ceil(MAX_RELATIVE_ERROR ** -2)), *guards])


def mean_curve(records: list[dict]) -> tuple[np.ndarray, np.ndarray, float]:
    """(eps_S grid, mean eps_B over the seeds, the smallest test background among them)."""
    curves = []
    for record in records:
        eps_b, eps_s = (np.asarray(record["roc"][k], dtype=float) for k in ("eps_b", "eps_s"))
        curves.append(np.interp(GRID, eps_s, eps_b))
    n_background = min(r["metrics"].get("test_background") or r["cutflow"]["test_background"] for r in records)
    return GRID, np.mean(curves, axis=0), float(n_background)


def method_styles(methods: list[str], quantum: set[str]) -> dict[str, dict]:
    """A fixed colour per method name (by its place in the registry, so every figure agrees), dashed for
    classical, solid for quantum."""
    from qhep.methods import METHODS

    names = list(METHODS)
    colours = plt.get_cmap("tab20").colors
    return {m: {"color": colours[(names.index(m) if m in names else len(names) + zlib.crc32(m.encode())) % len(colours)],
                "ls": "-" if m in quantum else "--", "lw": 1.8 if m in quantum else 1.4} for m in methods}


def best_per_method(rows: list) -> list:
    """Each method's row with the highest mean AUC (one line per method keeps the figure readable)."""
    best: dict[str, object] = {}
    for row in rows:
        auc = row.figures["auc"]["mean"]
        if auc is not None and (row.method not in best or auc > best[row.method].figures["auc"]["mean"]):
            best[row.method] = row
    return sorted(best.values(), key=lambda r: -r.figures["auc"]["mean"])


def curves_figure(task: str, rows: list) -> bytes:
    """PNG of the task's ROC (left) and SIC (right) panels."""
    chosen = [r for r in best_per_method(rows) if all(rec.get("roc") for rec in r.records)]
    styles = method_styles([r.method for r in chosen], {r.method for r in chosen if r.quantum})
    guard = sic_guard([rec for r in chosen for rec in r.records]) if chosen else 25
    with plt.style.context(STYLE):
        fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.6), layout="constrained")
        for row in chosen:
            eps_s, eps_b, n_background = mean_curve(row.records)
            label = f"{row.method}{' (' + row.protocol + ')' if row.protocol != 'unsupervised' else ''}" \
                    f" {row.figures['auc']['mean']:.3f}"
            passing = eps_b * n_background >= 1 - 1e-6  # beyond one background event, 1/eps_B is no number
            left.plot(eps_s[passing], 1.0 / eps_b[passing], label=label, **styles[row.method])
            usable = enough(eps_b, n_background, guard)
            right.plot(eps_s[usable], eps_s[usable] / np.sqrt(eps_b[usable]), **styles[row.method])
        grid = np.linspace(0.005, 1, 200)
        left.plot(grid, 1.0 / grid, color="k", ls=":", lw=1.2, label="random")
        right.axhline(1.0, color="k", ls=":", lw=1.2)
        left.set(yscale="log", xlabel=r"signal efficiency $\epsilon_S$", ylabel=r"background rejection $1/\epsilon_B$",
                 xlim=(0, 1))
        right.set(xlabel=r"signal efficiency $\epsilon_S$", ylabel=r"SIC $\epsilon_S/\sqrt{\epsilon_B}$", xlim=(0, 1))
        right.set_ylim(bottom=0)
        left.set_ylim(bottom=0.8)
        right.text(0.98, 0.97, f"cut where < {guard} background events pass\n(relative error on "
                   rf"$\epsilon_B$ > {MAX_RELATIVE_ERROR:.0%})", transform=right.transAxes, ha="right", va="top",
                   fontsize=10)
        fig.legend(*left.get_legend_handles_labels(), loc="outside right upper", fontsize=9,
                   title="method, AUC\n(quantum solid,\nclassical dashed)", title_fontsize=9)
        fig.suptitle(f"{task}: each method's best configuration, mean over its seeds", fontsize=12)
        return _png(fig)


def sweep_figures(records: list[dict]) -> list[tuple[str, bytes]]:
    """AUC and max SIC against a sweep's axes (shots, noise, n_train, ...) for each sweep in the records whose
    axes go beyond task, method and seeds, drawn by qhep.reporting.sweep_plot from the records' own figures."""
    from qhep.reporting.seeds import SEED_KEYS
    from qhep.reporting.sweep_plot import plot_sweep

    sweeps: dict[str, list[dict]] = {}
    for record in records:
        if (record.get("sweep") or {}).get("id"):
            sweeps.setdefault(record["sweep"]["id"], []).append(record)
    out = []
    for sweep_id, members in sweeps.items():
        axes = members[0]["sweep"]["axes"]
        if not [k for k in axes if k not in (*SEED_KEYS, "task", "method")]:
            continue
        points = [{"point": r["sweep"]["point"], "metrics": {
            **{m: r["metrics"].get(m) for m in ("auc", "max_sic")},
            **{f"{m}_std": (((r["metrics"].get("uncertainties") or {}).get("figures") or {}).get(m) or {}).get("std")
               for m in ("auc", "max_sic")}}} for r in members]
        first = members[0]
        state = {"axes": axes, "points": points,
                 "command": f"sweep {sweep_id}: {first['task']} / {first['method']}"
                            + (f" [{first['backend']}]" if first.get("backend") else "")
                            + f", {len(members)} records"}
        buffer = io.BytesIO()
        with plt.style.context(STYLE):
            plot_sweep(state, buffer)
        out.append((sweep_id, buffer.getvalue()))
    return out


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def write(png: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)

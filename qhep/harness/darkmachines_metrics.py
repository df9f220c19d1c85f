"""The Dark Machines challenge's figures of merit (Aarrestad et al., arXiv:2105.14027).

Significance improvement SI = eps_S / sqrt(eps_B) at the working points eps_B = 1e-2, 1e-3, 1e-4, and its
maximum over them; the Total Improvement (TI) of a signal is its largest SI over the channels it appears in; a
method is summarised by the minimum, median and maximum TI over signals.

Efficiencies may be weighted by the event weights (sums of weights instead of counts). A working point is
only quoted where it rests on enough test background: eps_B x N >= min_background, with N the background's
effective number of events (sum w)^2 / sum w^2 (the plain count when unweighted); otherwise it is None, not noise.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from sklearn.metrics import roc_curve

from qhep.harness.metrics import Statistics, signal_efficiency_at, uncertainties
from qhep.harness.uncertainty import bootstrap

WORKING_POINTS = (1e-2, 1e-3, 1e-4)


def significance_improvement(y: np.ndarray, scores: np.ndarray, weights: np.ndarray | None = None,
                             statistics: Statistics | None = None) -> dict:
    """eps_S and SI at each working point, and the maximum SI (None where no working point is resolved), with
    their bootstrap uncertainties when statistics asks for replicates."""
    statistics = statistics or Statistics(min_background=1)
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    weights = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    if not ((y == 0).any() and (y == 1).any()):
        raise ValueError("the test set needs signal and background events")
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} anomaly scores are not finite")
    if len(weights) != len(y) or not (np.isfinite(weights).all() and (weights > 0).all()):
        raise ValueError("event weights must be finite and positive, one per event")

    def figures(eps_b, eps_s, counts):
        return si_figures(eps_b, eps_s, effective_events(weights * counts, y), statistics.min_background)

    eps_b, eps_s, _ = roc_curve(y, scores, sample_weight=weights, drop_intermediate=False)
    n_effective = effective_events(weights, y)
    out = {**si_figures(eps_b, eps_s, n_effective, statistics.min_background),
           "background_effective_events": n_effective, "si_min_background": statistics.min_background}
    if statistics.replicates:
        out["si_uncertainties"] = uncertainties(
            bootstrap(y, scores, figures, statistics.replicates, statistics.seed, weights), statistics)
    return out


def effective_events(weights: np.ndarray, y: np.ndarray) -> float:
    """The background's effective number of events, (sum w)^2 / sum w^2 (the plain count when unweighted)."""
    background = weights[y == 0]
    return float(background.sum() ** 2 / (background**2).sum())


def si_figures(eps_b: np.ndarray, eps_s: np.ndarray, n_effective: float, min_background: int) -> dict:
    out: dict = {}
    for point in WORKING_POINTS:
        eps = signal_efficiency_at(eps_b, eps_s, point, n_effective, min_background)
        out[f"eps_s_at_eps_b_{point:.0e}"] = eps
        out[f"si_at_eps_b_{point:.0e}"] = None if eps is None else float(eps / np.sqrt(point))
    values = [v for k, v in out.items() if k.startswith("si_") and v is not None]
    out["max_si"] = max(values) if values else None
    return out


def total_improvement(max_si: Mapping[tuple[str, str], float | None]) -> dict[str, float | None]:
    """TI per signal from {(signal, channel): max SI}: the best channel; None if no channel has a value."""
    best: dict[str, float | None] = {}
    for (signal, _), value in max_si.items():
        current = best.get(signal)
        best[signal] = value if current is None else current if value is None else max(current, value)
    return best


def summarize(ti: Mapping[str, float | None]) -> dict:
    """Minimum, median and maximum TI over the signals that have one; the others are listed."""
    values = np.array([v for v in ti.values() if v is not None], dtype=np.float64)
    summary = {"min": None, "median": None, "max": None}
    if len(values):
        summary = {"min": float(values.min()), "median": float(np.median(values)), "max": float(values.max())}
    return {**summary, "signals": len(values), "without_value": sorted(s for s, v in ti.items() if v is None)}

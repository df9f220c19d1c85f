"""Statistical uncertainties of the figures of merit: a seeded, stratified bootstrap over the test events, and
Clopper-Pearson intervals on efficiencies.

The bootstrap keeps the numbers of background and signal events fixed (the protocol fixes them) and resamples
each class with replacement. A replicate is a vector of event multiplicities, so the ROC of every replicate comes
from one sort of the scores: cumulative sums of the multiplicities over the distinct thresholds (O(N) each, ties
kept together as scikit-learn's roc_curve does). The figures are then computed from each replicate's curve by
the same function that computes them from the test set itself.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import beta

CONFIDENCE = 0.6827  # central intervals of one standard deviation
BOUND_CONFIDENCE = 0.95  # one-sided limits, where a working point rests on too few events to be a number


def clopper_pearson(k: float, n: float, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The exact binomial (Clopper-Pearson) central interval on an efficiency of k passing out of n."""
    tail = (1 - confidence) / 2
    low = 0.0 if k <= 0 else float(beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k >= n else float(beta.ppf(1 - tail, k + 1, n - k))
    return low, high


def upper_limit(k: float, n: float, confidence: float = BOUND_CONFIDENCE) -> float:
    """The one-sided Clopper-Pearson upper limit on an efficiency of k passing out of n."""
    return 1.0 if k >= n else float(beta.ppf(confidence, k + 1, n - k))


class Curves:
    """ROC curves of one set of scores under any per-event weights (multiplicities, event weights)."""

    def __init__(self, y: np.ndarray, scores: np.ndarray):
        self.y = np.asarray(y).astype(int)
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        ordered = np.asarray(scores, dtype=np.float64)[order]
        self.order = order
        # first position of each distinct score, highest first: the thresholds of the curve
        self.starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])

    def curve(self, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(eps_B, eps_S) at every threshold, starting at (0, 0), as roc_curve(drop_intermediate=False)."""
        w = np.ones(len(self.y)) if weights is None else np.asarray(weights, dtype=np.float64)
        w, y = w[self.order], self.y[self.order]
        background = np.add.reduceat(np.where(y == 0, w, 0.0), self.starts).cumsum()
        signal = np.add.reduceat(np.where(y == 1, w, 0.0), self.starts).cumsum()
        return np.r_[0.0, background / background[-1]], np.r_[0.0, signal / signal[-1]]


def auc_of(eps_b: np.ndarray, eps_s: np.ndarray) -> float:
    """Area under the ROC by the trapezoidal rule (ties count one half, as the Mann-Whitney statistic)."""
    return float(np.sum(np.diff(eps_b) * (eps_s[1:] + eps_s[:-1]) / 2))


def stratified_replicates(y: np.ndarray, replicates: int, seed: int):
    """Per replicate, the multiplicity of each event: each class resampled with replacement to its own size."""
    rng = np.random.default_rng([seed, 2])  # a stream apart from the splits' and the samplers'
    classes = [np.flatnonzero(y == c) for c in (0, 1)]
    for _ in range(replicates):
        counts = np.zeros(len(y))
        for members in classes:
            counts[members] = rng.multinomial(len(members), np.full(len(members), 1.0 / len(members)))
        yield counts


def bootstrap(y: np.ndarray, scores: np.ndarray, figures: Callable[[np.ndarray, np.ndarray, np.ndarray], dict],
              replicates: int, seed: int, weights: np.ndarray | None = None) -> dict:
    """{figure: {"std", "low", "high", "replicates"}} from `replicates` stratified resamples of the test events.

    figures(eps_b, eps_s, counts) -> {name: value or None}: the same function that gives the figures of the test
    set (counts: each event's multiplicity). Intervals are the central CONFIDENCE percentiles over the replicates
    where the figure is defined; "replicates" says in how many it was.
    """
    curves = Curves(y, scores)
    base = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=np.float64)
    values: dict[str, list[float]] = {}
    for counts in stratified_replicates(np.asarray(y).astype(int), replicates, seed):
        eps_b, eps_s = curves.curve(base * counts)
        for name, value in figures(eps_b, eps_s, counts).items():
            values.setdefault(name, [])
            if value is not None:
                values[name].append(float(value))
    tail = 100 * (1 - CONFIDENCE) / 2
    out = {}
    for name, found in values.items():
        if len(found) < 2:
            out[name] = {"std": None, "low": None, "high": None, "replicates": len(found)}
            continue
        low, high = np.percentile(found, [tail, 100 - tail])
        out[name] = {"std": float(np.std(found, ddof=1)), "low": float(low), "high": float(high),
                     "replicates": len(found)}
    return out


def roc_band(y: np.ndarray, scores: np.ndarray, replicates: int, seed: int, points: int = 50) -> dict:
    """The ROC's central CONFIDENCE band over the same replicates as `bootstrap`: at each of `points` signal
    efficiencies, the percentiles of eps_B at the first threshold reaching it (for ROC and SIC plots)."""
    grid = np.linspace(0.02, 1.0, points)
    curves = Curves(y, scores)
    rows = []
    for counts in stratified_replicates(np.asarray(y).astype(int), replicates, seed):
        eps_b, eps_s = curves.curve(counts)
        rows.append(eps_b[np.searchsorted(eps_s, grid - 1e-12, side="left").clip(0, len(eps_s) - 1)])
    tail = 100 * (1 - CONFIDENCE) / 2
    low, high = np.percentile(np.array(rows), [tail, 100 - tail], axis=0)
    return {"eps_s": grid.tolist(), "eps_b_low": low.tolist(), "eps_b_high": high.tolist(), "confidence": CONFIDENCE}

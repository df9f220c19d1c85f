"""Anomaly-detection figures of merit from scores (higher = more anomalous) and true labels, with their
statistical uncertainties and the events each working point rests on.

Working points beyond the statistics of the test set are reported as None, not as numbers made of noise: a
rejection, a maximum SIC and an eps_S at fixed eps_B are only quoted where at least `min_background` background
events pass (relative statistical error <= 1/sqrt(min_background)); below that, `working_points` gives a
one-sided limit (a rejection) or the test background the point would need (eps_S at fixed eps_B).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_curve

from qhep.harness.uncertainty import (
    BOUND_CONFIDENCE,
    CONFIDENCE,
    auc_of,
    bootstrap,
    clopper_pearson,
    upper_limit,
)

SIGNAL_EFFICIENCIES = (0.3, 0.5)
BACKGROUND_EFFICIENCIES = (1e-2, 1e-3, 1e-4)


def roc(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(eps_B, eps_S) at every threshold."""
    # Every threshold: the guarded max SIC can sit on a plateau that drop_intermediate would remove.
    eps_b, eps_s, _ = roc_curve(y, scores, drop_intermediate=False)
    return eps_b, eps_s


def enough(eps_b, n_background: float, min_background: float):
    """Whether an efficiency eps_B of n_background events is at least min_background events (eps_B = k / n is
    not exact in floating point: k = 25 of 1000 gives 24.999999999999996)."""
    return np.asarray(eps_b) * n_background >= min_background - 1e-6


def rejection_at(eps_b: np.ndarray, eps_s: np.ndarray, signal_efficiency: float, n_background: float,
                 min_background: int) -> float | None:
    """1 / eps_B at the first threshold reaching the signal efficiency; None where fewer than min_background
    background events pass there (working_points gives the bound instead)."""
    background = eps_b[np.flatnonzero(eps_s >= signal_efficiency)[0]]
    return float(1.0 / background) if enough(background, n_background, min_background) else None


def signal_efficiency_at(eps_b: np.ndarray, eps_s: np.ndarray, background_efficiency: float,
                         n_background: float, min_background: int = 1) -> float | None:
    """Best eps_S with eps_B <= the target; None where the target is below min_background background events (the
    test set cannot resolve it)."""
    if not enough(background_efficiency, n_background, min_background):
        return None
    return float(eps_s[eps_b <= background_efficiency].max())


def max_sic_index(eps_b: np.ndarray, eps_s: np.ndarray, n_background: float, min_background: int) -> int | None:
    """The threshold of maximum eps_S / sqrt(eps_B) among those where >= min_background background events pass."""
    usable = enough(eps_b, n_background, min_background)
    if not usable.any():
        return None
    return int(np.argmax(np.where(usable, eps_s / np.sqrt(np.where(usable, eps_b, 1.0)), -np.inf)))


def max_sic(eps_b: np.ndarray, eps_s: np.ndarray, n_background: int, min_background: int = 25):
    """Maximum of eps_S / sqrt(eps_B) where >= min_background background events pass; (value, eps_S) or None."""
    best = max_sic_index(eps_b, eps_s, n_background, min_background)
    if best is None:
        return None, None
    return float(eps_s[best] / np.sqrt(eps_b[best])), float(eps_s[best])


def asimov_significance(s, b):
    """Median expected significance of s signal over b background events: sqrt(2((s+b) ln(1+s/b) - s))."""
    s, b = np.asarray(s, dtype=float), np.asarray(b, dtype=float)
    return np.sqrt(2 * ((s + b) * np.log1p(s / b) - s))


def expected_significance(eps_b, eps_s, counts: dict, n_background: int, min_background: int) -> dict:
    """Asimov Z before any cut and after the best cut (with the same background guard as the SIC)."""
    s, b = counts["signal"], counts["background"]
    usable = enough(eps_b, n_background, min_background) & (eps_b > 0)
    z = np.where(usable, asimov_significance(s * eps_s, b * np.where(usable, eps_b, 1.0)), -np.inf)
    best = int(np.argmax(z))
    return {"signal": float(s), "background": float(b), "before_cut": float(asimov_significance(s, b)),
            "best_cut": float(z[best]) if usable.any() else None,
            "best_cut_eps_s": float(eps_s[best]) if usable.any() else None}


@dataclass(frozen=True)
class Statistics:
    """How figures are guarded and given uncertainties: the background events a working point must rest on to
    be a number, and the bootstrap's replicates (0: none) and seed."""

    min_background: int = 25
    replicates: int = 0
    seed: int = 0


def figures(eps_b: np.ndarray, eps_s: np.ndarray, n_background: int, min_background: int,
            expected_counts: dict | None = None) -> dict:
    """The common figures of one ROC curve (of the test set, or of a bootstrap replicate)."""
    sic, sic_eps_s = max_sic(eps_b, eps_s, n_background, min_background)
    out = {"auc": auc_of(eps_b, eps_s),
           **{f"rejection_at_eps_s_{x}": rejection_at(eps_b, eps_s, x, n_background, min_background)
              for x in SIGNAL_EFFICIENCIES},
           "max_sic": sic, "max_sic_eps_s": sic_eps_s,
           **{f"eps_s_at_eps_b_{x:.0e}": signal_efficiency_at(eps_b, eps_s, x, n_background, min_background)
              for x in BACKGROUND_EFFICIENCIES}}
    if expected_counts:
        out["expected_significance_best_cut"] = expected_significance(eps_b, eps_s, expected_counts, n_background,
                                                                      min_background)["best_cut"]
    return out


def working_points(eps_b: np.ndarray, eps_s: np.ndarray, n_background: int, n_signal: int,
                   min_background: int) -> dict:
    """For each working point, the background and signal events it rests on and exact binomial intervals on its
    efficiencies; where fewer than min_background background events pass, the bound that replaces the number."""
    out = {}
    for x in SIGNAL_EFFICIENCIES:
        reach = np.flatnonzero(eps_s >= x)[0]
        k_b, k_s = round(eps_b[reach] * n_background), round(eps_s[reach] * n_signal)
        low, high = clopper_pearson(k_b, n_background)
        point = {"background_events": k_b, "signal_events": k_s, "eps_b": float(eps_b[reach]),
                 "eps_b_interval": [low, high], "eps_s_interval": list(clopper_pearson(k_s, n_signal))}
        if k_b < min_background:  # a lower limit on the rejection, not a number made of a few events
            point["bound"] = {"side": "lower", "value": 1.0 / upper_limit(k_b, n_background),
                              "confidence": BOUND_CONFIDENCE}
        else:
            point["value_interval"] = [1.0 / high, 1.0 / low]
        out[f"rejection_at_eps_s_{x}"] = point
    for x in BACKGROUND_EFFICIENCIES:
        name = f"eps_s_at_eps_b_{x:.0e}"
        if not enough(x, n_background, min_background):
            out[name] = {"resolved": False, "background_needed": int(np.ceil(min_background / x)),
                         "test_background": n_background}
            continue
        passing = eps_b <= x
        best = np.flatnonzero(passing)[np.argmax(eps_s[passing])]
        k_s = round(eps_s[best] * n_signal)
        out[name] = {"background_events": round(eps_b[best] * n_background), "signal_events": k_s,
                     "eps_s_interval": list(clopper_pearson(k_s, n_signal))}
    best = max_sic_index(eps_b, eps_s, n_background, min_background)
    if best is not None:
        k_b, k_s = round(eps_b[best] * n_background), round(eps_s[best] * n_signal)
        out["max_sic"] = {"background_events": k_b, "signal_events": k_s,
                          "eps_b_interval": list(clopper_pearson(k_b, n_background)),
                          "eps_s_interval": list(clopper_pearson(k_s, n_signal))}
    return out


def evaluate(y: np.ndarray, scores: np.ndarray, min_background: int = 25, expected_counts: dict | None = None,
             statistics: Statistics | None = None) -> dict:
    statistics = statistics or Statistics(min_background)
    min_background = statistics.min_background
    y = np.asarray(y).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    n_background, n_signal = int((y == 0).sum()), int((y == 1).sum())
    if n_background == 0 or n_signal == 0:
        raise ValueError(f"the test set needs signal and background (has {n_signal} and {n_background})")
    if not np.isfinite(scores).all():
        raise ValueError(f"{int((~np.isfinite(scores)).sum())} anomaly scores are not finite")
    eps_b, eps_s = roc(y, scores)
    out = {
        **figures(eps_b, eps_s, n_background, min_background),
        "max_sic_min_background": min_background,
        "test_background": n_background,
        "test_signal": n_signal,
        **({"expected_significance": expected_significance(eps_b, eps_s, expected_counts, n_background,
                                                           min_background)} if expected_counts else {}),
        "working_points": working_points(eps_b, eps_s, n_background, n_signal, min_background),
    }
    if statistics.replicates:
        out["uncertainties"] = uncertainties(bootstrap(
            y, scores, lambda b, s, _: figures(b, s, n_background, min_background, expected_counts),
            statistics.replicates, statistics.seed), statistics)
    return out


def uncertainties(found: dict, statistics: Statistics) -> dict:
    """A bootstrap's result as a record section: the method, its settings, and per figure std and interval."""
    return {"method": "stratified bootstrap over the test events", "replicates": statistics.replicates,
            "seed": statistics.seed, "confidence": CONFIDENCE, "figures": found}


def downsample_curve(eps_b: np.ndarray, eps_s: np.ndarray, points: int = 200) -> dict:
    """A ROC curve thinned to about `points` points spread evenly in eps_S, for records and plots."""
    index = np.unique(np.searchsorted(eps_s, np.linspace(0, 1, points), side="left").clip(0, len(eps_s) - 1))
    return {"eps_b": eps_b[index].tolist(), "eps_s": eps_s[index].tolist()}

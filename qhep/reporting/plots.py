"""ROC and SIC curves as a PNG next to each result record."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from qhep.harness.metrics import enough  # noqa: E402


def plot_roc_sic(eps_b: np.ndarray, eps_s: np.ndarray, n_background: int, min_background: int, title: str,
                 path: Path, band: dict | None = None) -> None:
    """ROC as 1/eps_B against eps_S, and SIC cut where fewer than min_background background events pass; with
    `band` (the record's roc_band), the bootstrap's central band around both."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True)
    passing = eps_b > 0
    left.plot(eps_s[passing], 1.0 / eps_b[passing], label="method")
    if band:
        grid, low, high = (np.asarray(band[k]) for k in ("eps_s", "eps_b_low", "eps_b_high"))
        shown = low > 0  # a replicate band reaching eps_B = 0 has no finite rejection
        label = f"bootstrap {100 * band['confidence']:.0f}%"
        left.fill_between(grid[shown], 1.0 / high[shown], 1.0 / low[shown], alpha=0.3, label=label)
        guarded = shown & enough(low, n_background, min_background)
        right.fill_between(grid[guarded], grid[guarded] / np.sqrt(high[guarded]), grid[guarded] / np.sqrt(low[guarded]),
                           alpha=0.3, label=label)
    grid = np.linspace(1e-3, 1, 200)
    left.plot(grid, 1.0 / grid, "k:", label="random")
    left.set(yscale="log", xlabel=r"signal efficiency $\epsilon_S$", ylabel=r"background rejection $1/\epsilon_B$",
             xlim=(0, 1))
    left.legend()
    usable = enough(eps_b, n_background, min_background)
    right.plot(eps_s[usable], eps_s[usable] / np.sqrt(eps_b[usable]), label="SIC")
    right.axhline(1.0, color="k", ls=":", label="random")
    right.set(xlabel=r"signal efficiency $\epsilon_S$", ylabel=r"SIC $\epsilon_S/\sqrt{\epsilon_B}$", xlim=(0, 1))
    right.legend(title=f">= {min_background} background events pass")
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)

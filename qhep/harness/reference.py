"""The reference leaderboard: every task x every applicable method x seeds 0-2 at default settings, the published
configurations, the quantum kernels' classical twins on their training subsample, the QAE's shots and noise
sweep, and equal-budget tunings of each quantum method and its twin (`qhep tune`), declared once here and run by `qhep reference` as ordinary sweeps, then written up by `qhep report`.

The suite's records go to their own results folder (`results/reference` by default), so studies and one-off runs
elsewhere under results/ never enter the reference tables. Running the command again goes on with the sweeps it
started (each sweep finds its earlier self by its command), so an interrupted regeneration loses nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

from qhep.config import is_launcher_setting
from qhep.errors import QhepError

TASKS = "task=lhco,top,svj,darkmachines"
SEEDS = "seed=0,1,2"
QUIET = ("progress=false", "plots=false")  # the report draws the figures; per-run plots would only cost time
SUITE: tuple[tuple[str, ...], ...] = (
    (TASKS, "method=ae,qae,iforest,ocsvm,knn,kde,gmm,deepsvdd,kmeans,pca,flow,vae,qsvm,qkmeans,qkmedians", SEEDS),
    ("task=top,svj", "method=imageae,particleae", SEEDS),
    (TASKS, "method=classifier", "protocol=supervised", SEEDS),
    (TASKS, "method=chain", "method.encoder.latent_dim=4", SEEDS),
    # the published setups beside qhep's defaults (qhep/methods/named.py)
    (TASKS, "method=qae/ngairangbam2021,qsvm/wozniak2023,qkmeans/wozniak2023,qkmedians/wozniak2023", SEEDS),
    # the kernel methods' twins on the same 600 seeded training events (their `n_train`)
    (TASKS, "method=ocsvm", "method.nu=0.1", "method.max_train_events=600", SEEDS),
    (TASKS, "method=kmeans", "method.score=sum", "method.max_train_events=600", SEEDS),
    # how much of the QAE's sensitivity survives shots and a device's noise (trained once on the exact engine)
    ("task=lhco", "method=qae", "backend=aer", "backend.noise=fake:FakeManilaV2", "method.train_backend=fast",
     "backend.shots=100,1000,10000,null", "backend.noise_scale=0,0.5,1,2", "test_events=2000", "plots=true"),
)
# Tuned rows beside the default ones: each quantum method and its classical twin, the same budget for both
TUNED: tuple[tuple[str, ...], ...] = tuple(
    ("task=lhco", f"method={method}", "tune.budget=8", *QUIET)
    for method in ("qae", "ae", "qsvm", "ocsvm", "qkmeans", "kmeans"))
FOLDER = "results/reference"


def run_reference(overrides: list[str]) -> list[tuple[Path, dict, list[dict]]]:
    """Every sweep of the suite, in order; `overrides`: launcher settings and results_dir only (the suite is the
    reference because its settings are fixed)."""
    from qhep.harness.sweep import run_sweep

    for override in overrides:
        if not (is_launcher_setting(override) or override.partition("=")[0] == "results_dir"):
            raise QhepError(f"{override}: the reference suite's settings are fixed; give launcher settings or "
                            "results_dir only")
    folder = next((o.partition("=")[2] for o in overrides if o.partition("=")[0] == "results_dir"), FOLDER)
    rest = [o for o in overrides if o.partition("=")[0] != "results_dir"]
    done = []
    for i, sweep in enumerate(SUITE, 1):
        print(f"qhep reference: sweep {i} of {len(SUITE)}: {' '.join(sweep)}", file=sys.stderr)
        quiet = [q for q in QUIET if q.partition("=")[0] not in {s.partition("=")[0] for s in sweep}]
        done.append(run_sweep([*sweep, *quiet, f"results_dir={folder}", *rest], "reference"))
    from qhep.harness.tuning import tune

    for i, tuning in enumerate(TUNED, 1):
        print(f"qhep reference: tuning {i} of {len(TUNED)}: {' '.join(tuning)}", file=sys.stderr)
        tuned = tune([*tuning, f"results_dir={folder}", *rest])
        done += [(tuned["search_dir"], *_state(tuned["search_dir"])), (tuned["final_dir"], *_state(tuned["final_dir"]))]
    return done


def _state(sweep_dir: Path) -> tuple[dict, list[dict]]:
    """A finished sweep's state and records, as run_sweep returns them."""
    import json

    from qhep.harness.records import RECORD_FILE
    from qhep.harness.sweep import read_sweep

    state = read_sweep(sweep_dir)
    records = [json.loads((sweep_dir / p["run_dir"] / RECORD_FILE).read_text()) for p in state["points"]
               if (sweep_dir / p["run_dir"] / RECORD_FILE).exists()]
    return state, records

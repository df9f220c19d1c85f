"""The physics figures of every task x method at a quick size, as a history over commits.

Each class is one task; its `setup_cache` runs every method once, at a quick size and seed 0, through qhep's most
stable interface (the CLI entry `qhep.cli.main(["run", ...])` with `results_dir=<tmp>`, then the run's
result.json), and hands the figures to the `track_` benchmarks. The figures are given in lower-is-better forms,
because asv flags every increase as a regression:

    track_one_minus_auc          1 - AUC
    track_eps_b_at_eps_s_0_3     eps_B at eps_S = 0.3 (1 / the recorded rejection)
    track_inverse_max_sic        1 / max SIC (max over eps_S of eps_S / sqrt(eps_B), >= 25 background events)

A method or task that does not exist at a commit, or a run that fails there, gives NaN: asv records it as
missing, not as a number. Quick-size overrides a commit does not know (older commits lack `protocol.*`,
`test_events`, `bootstrap`, ...) are dropped one by one and the run retried, so the same command line serves the
whole history; `python -m benchmarks.bench_physics [task ...]` prints the figures without asv.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

VERSION = "1"
TRAIN_EVENTS = 2000  # training-event cap; the older cap lived in the task card (task.max_train_events)
TEST_EVENTS = 4000  # stratified test subsample, where the commit has it
EPOCHS = 3
# Quick-size settings in order of preference; an override a commit rejects as unknown is dropped, the rest kept.
COMMON = ["seed=0", "plots=false", "progress=false", "bootstrap=0", f"test_events={TEST_EVENTS}",
          f"protocol.max_train_events={TRAIN_EVENTS}"]
OLD_CAP = f"task.max_train_events={TRAIN_EVENTS}"  # before protocols (bf36795) the cap was a task setting
NEURAL = [f"method.epochs={EPOCHS}"]
KERNEL = ["method.n_train=200"]
METHOD_OVERRIDES = {
    "ae": NEURAL, "vae": NEURAL, "deepsvdd": NEURAL, "flow": NEURAL, "imageae": NEURAL, "particleae": NEURAL,
    "qae": ["method.epochs=2"],
    "classifier": ["protocol=supervised", "method.max_iter=50", f"method.epochs={EPOCHS}"],
    "qsvm": KERNEL, "qkmeans": KERNEL, "qkmedians": KERNEL,
    "chain": ["method.encoder=ae", "method.scorer=qae", "method.encoder.latent_dim=4", f"method.encoder.epochs={EPOCHS}", "method.scorer.epochs=2"],
}
# Every registered method on the feature view; the jet autoencoders read images / constituents (top and svj only).
FEATURE_METHODS = ["ae", "chain", "classifier", "deepsvdd", "flow", "gmm", "iforest", "kde", "kmeans", "knn",
                   "ocsvm", "pca", "qae", "qkmeans", "qkmedians", "qsvm", "vae"]
JET_METHODS = sorted(FEATURE_METHODS + ["imageae", "particleae"])
TASK_METHODS = {"lhco": FEATURE_METHODS, "top": JET_METHODS, "svj": JET_METHODS, "darkmachines": FEATURE_METHODS}
NAN = float("nan")
FIGURES = ("one_minus_auc", "eps_b_at_eps_s_0_3", "inverse_max_sic", "seconds")
UNKNOWN = re.compile(r"unknown setting '([^']+)'")


def overrides(task: str, method: str, results_dir: str) -> list[str]:
    return [f"task={task}", f"method={method}", *COMMON, *METHOD_OVERRIDES.get(method, []),
            f"results_dir={results_dir}"]


def run_one(task: str, method: str, log=None) -> dict:
    """One quick run through the CLI: {'one_minus_auc', 'eps_b_at_eps_s_0_3', 'inverse_max_sic', 'seconds'}."""
    from qhep.cli import main

    figures = dict.fromkeys(FIGURES, NAN)
    with tempfile.TemporaryDirectory(prefix=f"qhep-asv-{task}-{method}-") as tmp:
        args = overrides(task, method, tmp)
        tic = time.perf_counter()
        for _ in range(len(args)):
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    code = main(["run", *args])
            except BaseException as exc:  # noqa: BLE001 - an old commit's traceback is a missing figure, not a crash
                if isinstance(exc, KeyboardInterrupt):
                    raise
                code, err = 1, io.StringIO(f"{type(exc).__name__}: {exc}")
            if code == 0:
                break
            unknown = UNKNOWN.search(err.getvalue())
            if not unknown:
                break
            key = unknown.group(1)
            args = [a for a in args if a.partition("=")[0] != key]
            if key == "protocol.max_train_events" and OLD_CAP not in args:
                args.insert(-1, OLD_CAP)
        line = f"{task} {method}: exit {code} in {time.perf_counter() - tic:.1f} s; {err.getvalue().strip()[-300:]}"
        if log is not None:
            log(line)
        if code != 0:
            figures["error"] = line
            with open(Path(tempfile.gettempdir()) / "qhep-asv-physics.log", "a") as failures:  # why a NaN is NaN
                failures.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {Path(__import__('qhep').__file__).parent} {line}\n")
            return figures
        figures["seconds"] = time.perf_counter() - tic
        records = sorted(Path(tmp).glob("runs/*/result.json"))
        if not records:
            return figures
        metrics = json.loads(records[-1].read_text())["metrics"]
    figures["one_minus_auc"] = 1.0 - _number(metrics.get("auc"))
    figures["eps_b_at_eps_s_0_3"] = 1.0 / _number(metrics.get("rejection_at_eps_s_0.3"))
    figures["inverse_max_sic"] = 1.0 / _number(metrics.get("max_sic"))
    return figures


def _number(value) -> float:
    """A recorded figure as a float: NaN for a missing one (None: too little background to resolve it)."""
    if isinstance(value, dict):  # a figure recorded with its uncertainty
        value = value.get("value")
    try:
        value = float(value)
    except (TypeError, ValueError):
        return NAN
    return value if math.isfinite(value) and value != 0 else NAN


def measure(task: str, methods=None, log=None) -> dict:
    return {method: run_one(task, method, log) for method in (methods or TASK_METHODS[task])}


def figures_of(task: str) -> dict:
    """setup_cache's work: every method of the task (or those in QHEP_ASV_METHODS=ae,qae, the rest NaN, for a
    quick look); each run's line goes to stderr (`asv run --show-stderr`)."""
    only = [m for m in os.environ.get("QHEP_ASV_METHODS", "").split(",") if m]
    figures = measure(task, [m for m in TASK_METHODS[task] if not only or m in only],
                      log=lambda line: print(line, file=sys.stderr, flush=True))
    return {m: figures.get(m, dict.fromkeys(FIGURES, NAN)) for m in TASK_METHODS[task]}


class _Physics:
    """One task's figures. Each subclass defines its own setup_cache: asv keys the cache by the function's source
    file and line, so one inherited setup_cache would be run once and shared by every task."""

    version = VERSION
    timeout = 1200  # setup_cache runs every method of the task once
    number = 1
    repeat = 1
    rounds = 1
    param_names = ["method"]

    def track_one_minus_auc(self, figures, method):
        return figures[method]["one_minus_auc"]

    track_one_minus_auc.unit = "1 - AUC (lower is better)"
    track_one_minus_auc.version = VERSION

    def track_eps_b_at_eps_s_0_3(self, figures, method):
        return figures[method]["eps_b_at_eps_s_0_3"]

    track_eps_b_at_eps_s_0_3.unit = "eps_B at eps_S = 0.3 (lower is better)"
    track_eps_b_at_eps_s_0_3.version = VERSION

    def track_inverse_max_sic(self, figures, method):
        return figures[method]["inverse_max_sic"]

    track_inverse_max_sic.unit = "1 / max SIC (lower is better)"
    track_inverse_max_sic.version = VERSION

    def track_run_seconds(self, figures, method):
        return figures[method]["seconds"]

    track_run_seconds.unit = "s per quick run (lower is better)"
    track_run_seconds.version = VERSION


class PhysicsLhco(_Physics):
    """LHC Olympics R&D: every feature-view method at a quick size (seed 0), figures lower-is-better."""

    params = [TASK_METHODS["lhco"]]

    def setup_cache(self):
        return figures_of("lhco")


class PhysicsTop(_Physics):
    """Top tagging as an anomaly search: every method incl. the jet autoencoders, quick size, seed 0."""

    params = [TASK_METHODS["top"]]

    def setup_cache(self):
        return figures_of("top")


class PhysicsSvj(_Physics):
    """Semi-visible jets: every method incl. the jet autoencoders, quick size, seed 0."""

    params = [TASK_METHODS["svj"]]

    def setup_cache(self):
        return figures_of("svj")


class PhysicsDarkmachines(_Physics):
    """Dark Machines: every feature-view method at a quick size (seed 0), figures lower-is-better."""

    params = [TASK_METHODS["darkmachines"]]

    def setup_cache(self):
        return figures_of("darkmachines")


if __name__ == "__main__":  # python -m benchmarks.bench_physics [task ...]: the figures without asv
    for name in sys.argv[1:] or list(TASK_METHODS):
        print(json.dumps({name: measure(name, log=lambda line: print(line, file=sys.stderr, flush=True))},
                         indent=1))

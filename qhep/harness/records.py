"""Result records: one JSON file per run, versioned, written atomically, read back for leaderboards."""
from __future__ import annotations

import functools
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from qhep.errors import DataError, QhepError
from qhep.settings import Kind, ListOf, Number, Text, problems
from qhep.storage import read_json

SCHEMA = "qhep.result/2"  # 2: protocol section, per-event scores file; the leaderboard reads 1 and 2
RECORD_FILE = "result.json"
TRACKED_PACKAGES = ("qhep", "numpy", "scipy", "torch", "pennylane", "pennylane-lightning", "qiskit", "qiskit-aer",
                    "scikit-learn", "pythia8mc", "fastjet", "h5py", "pandas")


def environment() -> dict:
    versions = {}
    for package in TRACKED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
        "git_commit": git_commit(),
    }


def git_commit() -> str | None:
    """The commit of the qhep source tree, when it is a git checkout (None for an installed wheel)."""
    source = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True)
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


RECORD_FIELDS = {"task": Text(), "method": Text(), "backend": Text(optional=True), "seed": Number(int, ge=0),
                 "metrics": Kind(dict), "metrics.auc": Number(float, ge=0, le=1, optional=True), "timing": Kind(dict),
                 "resources": Kind(dict), "cutflow": Kind(dict), "dataset": Kind(dict), "features": ListOf(Text())}


def load_records(results_dir: str | Path) -> list[dict]:
    """Every record under `results_dir`; a file that is not a qhep record stops with its name and the field."""
    records = []
    for path in sorted(Path(results_dir).rglob(RECORD_FILE)):
        record = read_json(path, "result record")
        if not isinstance(record, dict) or not str(record.get("schema", "")).startswith("qhep.result/"):
            raise DataError(path, "not a qhep result record (no 'schema' field)")
        for problem in problems(record, RECORD_FIELDS, ""):
            raise DataError(path, f"damaged result record: {problem}")
        record["_path"] = str(path)
        records.append(record)
    return records


def tuning_candidate(record: dict) -> bool:
    """A candidate of a `qhep tune` search: chosen among on its validation figures, it is no leaderboard row (its
    test figures, which the runner records for every run, must not become a second selection); `--sweep` shows it."""
    return (record.get("sweep") or {}).get("tune") == "search"


def superseded(record: dict) -> bool:
    """Made on an embedded sample that qhep no longer ships (regenerated since, so its sha256 differs): its figures
    cannot be reproduced from this checkout, and leaderboards leave it out."""
    dataset = record.get("dataset") or {}
    if not dataset.get("embedded") or not dataset.get("source"):
        return False
    shipped = _shipped_sha256(Path(dataset["source"]).name)
    return shipped is not None and shipped != dataset.get("sha256")


@functools.cache
def _shipped_sha256(filename: str) -> str | None:
    from qhep.tasks.base import embedded_sample, sha256_of

    path = embedded_sample(filename)
    return sha256_of(path) if path.is_file() else None


def unfinished_runs(results_dir: str | Path) -> list[dict]:
    """Run folders with no record: running (a live process holds the folder), interrupted, failed, or abandoned
    (killed), with the training time spent so far and how to go on."""
    from qhep.harness.attempts import read_attempts
    from qhep.harness.lock import is_locked

    runs = []
    for path in sorted(Path(results_dir).rglob("run.json")):
        folder = path.parent
        if (folder / RECORD_FILE).exists():
            continue
        try:
            config = read_json(path, "run")["config"]
            labels = {key: (config.get(key) or {}).get("name") for key in ("task", "method", "backend")}
            seed = config.get("seed")
        except (QhepError, KeyError, TypeError, AttributeError):
            labels, seed = {"task": "?", "method": "?", "backend": "?"}, None
        attempts = read_attempts(folder)
        if is_locked(folder) or is_locked(folder.parent):
            state = "running"
        elif attempts and attempts[-1]["outcome"] != "done":
            last = attempts[-1]
            state = f"{last['outcome']} while {'training' if last['stage'] == 'fit' else 'scoring'}"
            state += f": {last['reason']}" if last.get("reason") else ""
        else:
            state = "stopped (killed, or never got to work)"
        sweep = folder.parent if (folder.parent / "sweep.json").exists() else None
        runs.append({**labels, "seed": seed, "folder": str(folder), "state": state,
                     "train_seconds": sum(a["seconds"] for a in attempts if a["stage"] == "fit"),
                     "resume": f"qhep resume {sweep or folder}"})
    return runs

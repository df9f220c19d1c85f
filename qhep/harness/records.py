"""Result records: one JSON file per run, versioned, written atomically, read back for leaderboards."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from qhep.errors import DataError, QhepError

SCHEMA = "qhep.result/1"
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


def write_json_atomic(data: dict, path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: a reader never sees half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_state(path: Path, kind: str, schema: str) -> dict:
    """A JSON file that qhep wrote (a run's or a sweep's state), or one line saying what is wrong with it."""
    try:
        state = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise QhepError(f"{path}: not a readable {kind} file ({exc})") from None
    if not isinstance(state, dict) or state.get("schema") != schema:
        raise QhepError(f"{path}: not a qhep {kind} file (schema {schema!r} expected)")
    return state


def load_records(results_dir: str | Path) -> list[dict]:
    """Every record under `results_dir`; a file that is not a qhep record stops with its name."""
    records = []
    for path in sorted(Path(results_dir).rglob(RECORD_FILE)):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(path, f"not a readable result record ({exc})") from None
        if not isinstance(record, dict) or not str(record.get("schema", "")).startswith("qhep.result/"):
            raise DataError(path, "not a qhep result record (no 'schema' field)")
        record["_path"] = str(path)
        records.append(record)
    return records

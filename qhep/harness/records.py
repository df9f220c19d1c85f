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
from qhep.settings import Kind, ListOf, Number, Text, problems

SCHEMA = "qhep.result/1"
RECORD_FILE = "result.json"
TMP_PREFIX = ".tmp-"
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
    """Write to a temporary file in the same folder, fsync it, rename it into place and fsync the folder: a
    reader never sees half a record, and a power cut after the call does not lose it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TMP_PREFIX}{os.getpid()}-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600: records are for a group on shared storage too
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        if exc.filename is None:  # a failed write names no file: name the one being written
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def clean_stale_temporaries(folder: Path) -> None:
    """Remove the temporary files that a killed writer left (named by its pid; a live writer's are kept)."""
    for tmp in Path(folder).glob(f"{TMP_PREFIX}*"):
        pid = tmp.name[len(TMP_PREFIX):].partition("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def read_json(path: Path, kind: str) -> object:
    """A JSON file, or one line naming it and why it cannot be read."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as exc:
        raise QhepError(f"{path}: cannot read the {kind} file: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise QhepError(f"{path}: not a {kind} file (not UTF-8 text)") from None
    except json.JSONDecodeError as exc:
        raise QhepError(f"{path}: not a readable {kind} file (bad JSON at line {exc.lineno}: {exc.msg})") from None


def read_state(path: Path, kind: str, schema: str, fields: dict | None = None) -> dict:
    """A JSON file that qhep wrote (a run's or a sweep's state), checked against its schema: `fields` maps each
    required key to a check (qhep.settings); a damaged file is refused in one line naming the file and field."""
    state = read_json(path, kind)
    if not isinstance(state, dict) or state.get("schema") != schema:
        raise QhepError(f"{path}: not a qhep {kind} file (schema {schema!r} expected)")
    for problem in problems(state, fields or {}, ""):
        raise QhepError(f"{path}: damaged {kind} file: {problem}")
    return state


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

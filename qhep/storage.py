"""Files qhep writes and reads back: JSON written atomically and durably, read back checked against a schema."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from qhep.errors import QhepError
from qhep.settings import problems

TMP_PREFIX = ".tmp-"


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

"""Is this path a readable regular file? The one check every reader makes before it opens a path."""
from __future__ import annotations

import stat
from pathlib import Path

from qhep.errors import DataError

_NOT_REGULAR = ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                (stat.S_ISBLK, "a block device"))


def check_file(path: str | Path, empty_ok: bool = False) -> Path:
    """The path, if it names a readable (and, unless `empty_ok`, non-empty) regular file; else a DataError
    saying what is wrong: not found, a directory, not a regular file, permission denied, empty."""
    path = Path(path)
    try:
        info = path.stat()  # follows symbolic links: a link to a file is that file
    except FileNotFoundError:
        raise DataError(path, "file not found" + _download_hint(path)) from None
    except PermissionError:
        raise DataError(path, "permission denied") from None
    except OSError as exc:  # e.g. a parent that is a file, a symbolic-link loop
        raise DataError(path, f"cannot access ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISDIR(info.st_mode):
        raise DataError(path, "is a directory, expected a file")
    if not stat.S_ISREG(info.st_mode):
        # Checked before any open: opening a FIFO for reading blocks until a writer appears.
        kind = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "not a plain file")
        raise DataError(path, f"is not a regular file ({kind})")
    try:
        with open(path, "rb"):  # the real test of read permission (os.access is wrong under root or with ACLs)
            pass
    except PermissionError:
        raise DataError(path, "permission denied") from None
    except OSError as exc:
        raise DataError(path, f"cannot open ({exc.strerror or type(exc).__name__})") from None
    if info.st_size == 0 and not empty_ok:
        raise DataError(path, "file is empty")
    return path


def _download_hint(path: Path) -> str:
    """For the name of a file in a task's public records: the command that fetches it."""
    from qhep.data.records import task_for_file

    task = task_for_file(path.name)
    if task is None:
        return ""
    dest = "" if path.parent == Path("data") else f" --dest {path.parent}"
    return f"; the published file of this name comes with `qhep data download {task}{dest}`"

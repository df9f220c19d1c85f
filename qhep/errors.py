"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""
from __future__ import annotations

import errno
import os
from pathlib import Path


class QhepError(Exception):
    """A problem with the user's input or configuration, reported without a traceback."""


class DataError(QhepError):
    """A data file that cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class NoAccount(QhepError):
    """No IBM Quantum account to open (no token, no saved account, or one the service refused)."""


class JobsPending(QhepError):
    """A run's jobs are still queued or running on a remote device: nothing to do yet (exit code 3, not an error)."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run or sweep whose folder holds what it needs to go on: `qhep resume <folder>`."""

    def __init__(self, folder: str | Path):
        self.folder = str(folder)
        super().__init__(self.folder)


def describe_os_error(exc: OSError) -> str:
    """What the operating system refused, in words, with the path it refused."""
    what = {errno.ENOSPC: "no space left on the disk", errno.EROFS: "the file system is read-only",
            errno.EACCES: "permission denied", errno.EPERM: "permission denied", errno.EDQUOT: "disk quota exceeded",
            errno.ENOTDIR: "a part of the path is a file, not a folder", errno.EEXIST: "it exists already",
            errno.ENOENT: "no such file or folder", errno.EISDIR: "it is a folder"}.get(exc.errno)
    what = what or exc.strerror or (os.strerror(exc.errno) if exc.errno else type(exc).__name__)
    if exc.filename is None:
        return what
    return f"{exc.filename}: {what}" + (f" (and {exc.filename2})" if exc.filename2 else "")

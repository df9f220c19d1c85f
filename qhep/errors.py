"""Errors a user can act on: the CLI prints them as one line and exits non-zero."""
from __future__ import annotations

from pathlib import Path


class QhepError(Exception):
    """A problem with the user's input or configuration, reported without a traceback."""


class DataError(QhepError):
    """A data file that cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during a run or sweep whose folder holds what it needs to go on: `qhep resume <folder>`."""

    def __init__(self, folder: str | Path):
        self.folder = str(folder)
        super().__init__(self.folder)

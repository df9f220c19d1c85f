"""A lock on a run's or a sweep's folder, so two processes never work in one (on hardware: never pay twice).

`flock` on a file in the folder: the kernel releases it when the holder dies, however it dies, so a stale lock
never blocks a resume. The holder writes who it is into the file; a second process says who holds the folder.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from qhep.errors import QhepError

LOCK_FILE = ".lock"


@contextmanager
def folder_lock(folder: Path):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise QhepError(f"{folder}: in use by {holder(folder)}; wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
                                 "command": " ".join(["qhep", *sys.argv[1:]])[:200]}).encode())
        yield
    finally:
        os.close(fd)  # closing releases the lock


def holder(folder: Path) -> str:
    """Who holds a folder's lock, in words (from what the holder wrote)."""
    try:
        info = json.loads((Path(folder) / LOCK_FILE).read_text())
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["since"])))
        return f"process {int(info['pid'])} on {info['host']} since {since}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def is_locked(folder: Path) -> bool:
    """Whether a live process holds the folder (a leaderboard tells running runs from abandoned ones)."""
    path = Path(folder) / LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)

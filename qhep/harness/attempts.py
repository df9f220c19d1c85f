"""What each attempt at a run did: a JSON-lines log in the run's folder, one line per stage that ended.

A resumed run's record counts the training time of every attempt (not just the last one), and a run that
stopped (interrupted, failed) says so to the leaderboard. Lines are appended with one write and fsynced, like
the job journal; a damaged line is skipped (it only ever under-counts).
"""
from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from pathlib import Path

from qhep.errors import QhepError

ATTEMPTS_FILE = "attempts.jsonl"
OUTCOMES = ("done", "interrupted", "failed")


def read_attempts(folder: Path) -> list[dict]:
    path = Path(folder) / ATTEMPTS_FILE
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return []
    entries = []
    for line in lines:
        try:
            entry = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        if (isinstance(entry, dict) and entry.get("stage") in ("fit", "score") and entry.get("outcome") in OUTCOMES
                and isinstance(entry.get("seconds"), (int, float)) and entry["seconds"] >= 0):
            entries.append(entry)
    return entries


@contextmanager
def attempt(folder: Path | None, stage: str):
    """Time a stage and log how it ended; yields a dict whose `seconds` is set on leaving."""
    timing = {"seconds": 0.0}
    tic = time.perf_counter()
    outcome, reason = "failed", None
    try:
        yield timing
        outcome = "done"
    except KeyboardInterrupt:
        outcome = "interrupted"
        raise
    except QhepError as exc:
        reason = str(exc)
        raise
    except Exception as exc:
        reason = type(exc).__name__
        raise
    finally:
        timing["seconds"] = time.perf_counter() - tic
        if folder is not None:
            entry = {"stage": stage, "outcome": outcome, "seconds": timing["seconds"], "time": time.time(),
                     **({"reason": reason} if reason else {})}
            try:
                _append(Path(folder) / ATTEMPTS_FILE, entry)
            except OSError:
                if outcome == "done":
                    raise
                # else a full or read-only disk: the error already on its way out is the one to report


def _append(path: Path, entry: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)

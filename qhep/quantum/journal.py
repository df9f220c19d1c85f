"""Job journal and retries for remote quantum backends.

A journal is a JSON-lines file in the run directory: one line when a job is submitted (its id, before anything
waits on it) and one when its result is in, or when it failed for good (a rerun submits that work afresh).
A rerun with the same journal takes finished results from it and collects jobs that were submitted but never
read by their id, so an interrupted run resubmits nothing it had already sent. Each line is written with a
single O_APPEND write and fsynced: a crash leaves at most a truncated last line, which reading skips.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

JOURNAL_FILE = "jobs.jsonl"
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


class JobJournal:
    def __init__(self, path: str | Path):
        path = Path(path)
        self.path = path / JOURNAL_FILE if path.suffix != ".jsonl" else path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.submitted: dict[str, dict] = {}  # chunk key -> last submission line
        self.finished: dict[str, dict] = {}  # chunk key -> result line
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # the truncated tail of an interrupted write
                    continue
                if entry.get("event") == "failed":
                    self.submitted.pop(entry["key"], None)
                else:
                    (self.finished if entry.get("event") == "done" else self.submitted)[entry["key"]] = entry

    def _append(self, entry: dict) -> None:
        data = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def record_submitted(self, key: str, job_id: str, backend: str, bindings: int, shots: int | None) -> None:
        entry = {"event": "submitted", "key": key, "job_id": job_id, "backend": backend, "bindings": bindings,
                 "shots": shots, "time": time.time()}
        self._append(entry)
        self.submitted[key] = entry

    def record_done(self, key: str, job_id: str, results) -> None:
        """A job's reduced results, one array per PUB (floats round-trip exactly through JSON)."""
        entry = {"event": "done", "key": key, "job_id": job_id,
                 "results": [np.asarray(r, dtype=float).tolist() for r in results]}
        self._append(entry)
        self.finished[key] = entry

    def record_failed(self, key: str, job_id: str, reason: str) -> None:
        self._append({"event": "failed", "key": key, "job_id": job_id, "reason": reason, "time": time.time()})
        self.submitted.pop(key, None)


def is_transient(exc: BaseException) -> bool:
    """Network trouble, timeouts and HTTP 408/429/5xx are worth retrying; anything else is not."""
    status = getattr(exc, "status_code", None)
    if status is not None:
        return int(status) in TRANSIENT_STATUS
    try:  # the HTTP client under qiskit-ibm-runtime has its own exception tree
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import Timeout
    except ImportError:
        RequestsConnectionError = Timeout = ConnectionError
    return isinstance(exc, (ConnectionError, TimeoutError, RequestsConnectionError, Timeout))


def with_retries(fn, attempts: int = 4, base_delay: float = 2.0, sleep=time.sleep, transient=is_transient):
    """fn() retried on transient errors with exponential backoff (base_delay, 2 base_delay, ...)."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts - 1 or not transient(exc):
                raise
            sleep(base_delay * 2**attempt)

"""Job journal and retries for remote quantum backends.

A journal is a JSON-lines file in the run directory: one line when a job is submitted (its id, before anything
waits on it) and one when its result is in, or when it failed for good (a rerun submits that work afresh).
A rerun with the same journal takes finished results from it and collects jobs that were submitted but never
read by their id, so an interrupted run resubmits nothing it had already sent. Each line is written with a
single O_APPEND write and fsynced: a crash leaves at most a truncated last line, which reading skips.
Nothing read back is trusted: a line that is not a well-formed entry is discarded (and counted), and a result
that does not fit the job it claims to be (`result_fits`) is redone, never used.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

JOURNAL_FILE = "jobs.jsonl"
TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


def journal_file(path: str | Path) -> Path:
    """The journal file of a `journal` setting: a folder (the file in it) or a .jsonl file."""
    path = Path(path)
    return path / JOURNAL_FILE if path.suffix != ".jsonl" else path


class JobJournal:
    def __init__(self, path: str | Path):
        self.path = journal_file(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.submitted: dict[str, dict] = {}  # chunk key -> last submission line
        self.finished: dict[str, dict] = {}  # chunk key -> result line
        self.entries: list[dict] = []  # every well-formed line, in order (what `jobs` reads)
        self.discarded = 0  # damaged lines (a truncated tail, an edited or corrupted file)
        if self.path.exists():
            for line in self.path.read_bytes().splitlines():
                entry = _entry(line)
                if entry is None:
                    self.discarded += 1
                    continue
                self.entries.append(entry)
                if entry["event"] == "failed":
                    self.submitted.pop(entry["key"], None)
                else:
                    (self.finished if entry["event"] == "done" else self.submitted)[entry["key"]] = entry

    def jobs(self) -> list[dict]:
        """Every journaled job once, in order of submission: job_id, key, backend, bindings, shots, and `state`:
        done (result journaled), failed (with `reason`), replaced (its work was sent again as job `by`, or
        finished by it), or submitted (not collected yet)."""
        jobs: dict[str, dict] = {}
        for entry in self.entries:
            job = jobs.setdefault(entry["job_id"], {"job_id": entry["job_id"], "key": entry["key"],
                                                    "backend": None, "bindings": None, "shots": None,
                                                    "state": "submitted"})
            if entry["event"] == "submitted":
                job.update({k: entry.get(k) for k in ("backend", "bindings", "shots")})
            else:
                job["state"] = entry["event"]
                if entry["event"] == "failed":
                    job["reason"] = entry.get("reason")
        for job in jobs.values():
            if job["state"] == "submitted":
                latest = self.finished.get(job["key"]) or self.submitted.get(job["key"])
                if latest is not None and latest["job_id"] != job["job_id"]:
                    job.update(state="replaced", by=latest["job_id"])
        return list(jobs.values())

    def uncollected(self) -> list[dict]:
        """The submission lines of jobs whose results are not in yet (what a rerun collects by id)."""
        return [entry for key, entry in self.submitted.items() if key not in self.finished]

    def discard(self, key: str) -> None:
        """Forget a finished result that does not fit its job: the work is redone."""
        self.finished.pop(key, None)
        self.submitted.pop(key, None)
        self.discarded += 1

    def _append(self, entry: dict) -> None:
        data = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.entries.append(entry)

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


def _entry(line: bytes) -> dict | None:
    """A journal line as a well-formed entry, or None."""
    try:
        entry = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(entry, dict) or entry.get("event") not in ("submitted", "done", "failed"):
        return None
    if not isinstance(entry.get("key"), str) or not isinstance(entry.get("job_id"), str):
        return None
    if entry["event"] == "done":
        results = entry.get("results")
        if not isinstance(results, list) or not all(isinstance(r, list) for r in results):
            return None
    return entry


def result_fits(results, pieces: list[int], bounds: list[tuple[float, float]]) -> bool:
    """Whether journaled results are those of a job with these PUBs: one array per PUB, `pieces[i]` rows each,
    finite numbers within the PUB's reduction's bounds (a probability of 7.0 is a damaged journal)."""
    if len(results) != len(pieces):
        return False
    for result, rows, (low, high) in zip(results, pieces, bounds):
        try:
            values = np.asarray(result, dtype=float)
        except (TypeError, ValueError):
            return False
        if len(values) != rows or not np.isfinite(values).all() or (values < low - 1e-9).any() \
                or (values > high + 1e-9).any():
            return False
    return True


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

"""Where a run's quantum jobs stand: `qhep jobs <folder>`, and the check that keeps `qhep resume` from waiting
silently on jobs still queued on a remote device.

Everything comes from the run's job journal (qhep.quantum.journal): a job with its result journaled is done, one
that failed for good says why; for a job submitted and not collected yet, the backend's runner is asked for it by
id (IBM: the service; local simulators only know the jobs of their own process). The runner is only built when a
job needs it, so listing finished work opens no connection.
"""
from __future__ import annotations

import os
from pathlib import Path

from qhep.errors import JobsPending, QhepError
from qhep.harness.runner import journal_in, read_run_state
from qhep.quantum.backends import make_backend
from qhep.quantum.journal import JobJournal, journal_file
from qhep.quantum.qiskit_runners import PENDING_STATUSES, scrub

# Summary categories, in the order the summary line names them
KINDS = ("done", "queued/running", "ready to collect", "failed at the provider", "to resubmit", "unknown", "failed",
         "replaced")


def run_journal(folder: Path) -> tuple[object, JobJournal | None]:
    """The run's backend settings (journal where the run keeps it) and its journal; None if it journaled nothing."""
    settings = read_run_state(folder)["config"].get("backend") or {}
    try:
        backend = journal_in(make_backend(settings), folder)
    except (KeyError, TypeError):  # written by a qhep whose backend settings differ from this one's
        raise QhepError(f"{folder}: its backend settings ({settings.get('name')}) are not this qhep's; read its "
                        "jobs.jsonl directly") from None
    where = getattr(backend, "journal", None)
    if where is None or not journal_file(where).is_file():
        return backend, None
    return backend, JobJournal(where)


def runner_of(backend):
    from qhep.quantum.qiskit_engine import backend_runner

    return backend_runner(backend)[0]


def job_statuses(folder: Path) -> tuple[list[dict], str | None]:
    """Each journaled job (JobJournal.jobs) with `kind` (a summary category) and `status` (what to print), and
    why the provider could not be asked, if it could not (the journaled part is listed all the same)."""
    backend, journal = run_journal(folder)
    jobs = journal.jobs() if journal else []
    runner, problem = None, None
    for job in jobs:
        if job["state"] != "submitted":
            job["kind"] = job["state"]
            job["status"] = {"done": "done", "replaced": f"replaced by job {job.get('by')}"}.get(
                job["state"], f"failed: {job.get('reason')}")
            continue
        if runner is None and problem is None:
            try:
                runner = runner_of(backend)
            except QhepError as exc:  # no connection, an expired token: already one line without the token
                problem = str(exc)
        if runner is None:
            job["kind"], job["status"] = "unknown", "status unknown: the provider could not be asked"
        else:
            job["kind"], job["status"] = provider_status(runner, job["job_id"])
    return jobs, problem


def provider_status(runner, job_id: str) -> tuple[str, str]:
    """(summary category, text) of a submitted job that is not collected yet, as its provider has it."""
    status = runner.status(job_id)
    if status is None:
        if runner.local:
            return "to resubmit", "not kept by a local simulator: resume resubmits it"
        return "to resubmit", "unknown to the provider (expired or deleted?): resume resubmits it"
    if status in PENDING_STATUSES:
        return "queued/running", status
    if status == "DONE":
        return "ready to collect", "DONE (qhep resume collects it)"
    if status in ("ERROR", "CANCELLED"):
        return "failed at the provider", f"{status} (qhep resume records it; the next resume resubmits the work)"
    return "unknown", status


def job_line(job: dict) -> str:
    shots = "exact" if job["shots"] is None and job["bindings"] is not None else f"{job['shots']} shots"
    line = f"{job['job_id']}  {job['backend']}  {job['bindings']} bindings  {shots}  {job['status']}"
    return scrub(line, os.environ.get("QISKIT_IBM_TOKEN"))


def summary_line(jobs: list[dict]) -> str:
    counts = {kind: sum(job["kind"] == kind for job in jobs) for kind in KINDS}
    parts = [f"{n} {kind}" for kind, n in counts.items() if n]
    return f"{len(jobs)} job{'s' * (len(jobs) != 1)}" + (f": {', '.join(parts)}" if parts else "")


def check_nothing_pending(folder: Path) -> None:
    """Refuse (JobsPending, one line) to go on with a run whose jobs are still queued or running on a remote
    device: collecting them would wait, maybe for hours, without a word. Local simulators never queue."""
    backend, journal = run_journal(folder)
    waiting = journal.uncollected() if journal else []
    if not waiting:
        return
    runner = runner_of(backend)
    if runner.local:
        return
    pending = sum(runner.status(entry["job_id"]) in PENDING_STATUSES for entry in waiting)
    if pending:
        raise JobsPending(f"{folder}: {pending} job{'s' * (pending != 1)} still queued or running on "
                          f"{backend.name}; nothing waited on: run qhep resume {folder} again later, or qhep resume "
                          f"{folder} --wait to wait (qhep jobs {folder} shows each job)")

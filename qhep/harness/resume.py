"""`qhep resume <folder>`: go on with an interrupted run or sweep where it stopped.

A run folder holds run.json (the overrides and the configuration they composed to, written before fitting) and
the Qiskit job journal. Resuming recomposes the same run into the same folder: training is deterministic from
the seed and journal keys are content hashes, so a replayed step finds its finished job in the journal, a job
submitted but never collected is fetched by id where the backend keeps jobs (IBM), and nothing is sent twice.
A run whose jobs are still queued or running on a remote device (a detached run, detach=true) is not waited on
unless asked (--wait): resume says how many are pending and exits. A sweep folder resumes its unfinished points.
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from qhep.config import compose_run
from qhep.errors import QhepError
from qhep.harness.jobs import check_nothing_pending
from qhep.harness.records import RECORD_FILE
from qhep.harness.runner import (
    RUN_FILE,
    Started,
    check_same_config,
    read_run_state,
    run_benchmark,
    run_label,
)
from qhep.harness.sweep import SWEEP_FILE
from qhep.methods import named


def folder_kind(folder: Path) -> str:
    """'sweep', 'complete' (a run with its record), 'run', or a QhepError for anything else."""
    if not folder.is_dir():
        raise QhepError(f"{folder}: no such folder")
    if (folder / SWEEP_FILE).exists():
        return "sweep"
    if (folder / RECORD_FILE).exists():
        return "complete"
    if (folder / RUN_FILE).exists():
        return "run"
    raise QhepError(f"{folder}: not a qhep run or sweep folder (it has no {RUN_FILE} or {SWEEP_FILE})")


def resume_run(folder: Path, wait: bool = False) -> tuple[dict, Path]:
    """Finish the run in `folder`. Jobs still queued or running on a remote device stop it at once (JobsPending,
    one line) unless `wait`: then they are waited on and collected like any others."""
    state = read_run_state(folder)
    if "sweep" in state:  # the sweep shares its fitted models between points: resume it as a whole
        sweep_dir = folder.parent
        raise QhepError(f"{folder} is a point of sweep {state['sweep']['id']}; resume the sweep: "
                        f"qhep resume {sweep_dir}")
    cfg = compose_run(state["overrides"])
    check_same_config(cfg, state["config"], folder)
    if not wait:
        check_nothing_pending(folder)
    started = Started(state["run_id"], datetime.fromisoformat(state["created"]), folder, run_label(cfg),
                      resumed=True, named=named.choice_of(state["overrides"]))
    return run_benchmark(cfg, state["overrides"], started=started)

"""detach=true: a run submits its jobs and returns without waiting; `qhep jobs` says where each stands; `qhep resume`
collects them by id (sending nothing twice), refuses to wait silently on queued remote jobs, and waits with --wait.
End to end through Runtime's local testing mode (fake devices behind a stand-in IBM service)."""
import json

import numpy as np
import pytest

from qhep.harness.scores_file import read_scores
from qhep.quantum import qiskit_engine
from qhep.quantum.qiskit_runners import _LOCAL_JOBS
from tests.test_qiskit_backends import LocalService

# Trained here on the exact engine, scored on a fake device behind the ibm backend: 40 test events, 16 bindings per
# job, so 3 scoring jobs.
RUN = ["run", "task=lhco", "method=qae", "method.train_backend=fast", "method.n_layers=1", "method.epochs=1",
       "backend=ibm", "backend.device=fake_manila", "backend.shots=256", "backend.max_bindings_per_job=16",
       "protocol.max_train_events=60", "test_events=40", "task.region=all", "bootstrap=0", "progress=false",
       "plots=false"]


def journal(folder):
    return [json.loads(line) for line in (folder / "jobs.jsonl").read_text().splitlines()]


@pytest.fixture
def ibm(monkeypatch):
    """backend=ibm with only the service connection replaced by fake devices."""
    monkeypatch.setattr(qiskit_engine, "runtime_service", lambda channel, instance: LocalService())


def detached(cli, tmp_path, data, *extra, run=RUN):
    code, out, err = cli(*run, data, f"results_dir={tmp_path / 'cut'}", "detach=true", *extra)
    assert code == 0, err
    (folder,) = (tmp_path / "cut" / "runs").iterdir()
    return folder, out


def record(folder):
    return json.loads((folder / "result.json").read_text())


def test_detached_run_resumes_to_the_result_of_a_run_that_waited(tmp_path, lhco_file, ibm, cli):
    data = f"task.data.path={lhco_file}"
    code, _, err = cli(*RUN, data, f"results_dir={tmp_path / 'whole'}")
    assert code == 0, err
    (whole,) = (tmp_path / "whole").rglob("result.json")

    folder, out = detached(cli, tmp_path, data)
    lines = journal(folder)
    ids = [e["job_id"] for e in lines]
    assert [e["event"] for e in lines] == ["submitted"] * 3 and len(set(ids)) == 3
    assert (folder / "run.json").exists() and (folder / "model" / "model.json").exists()
    assert not (folder / "result.json").exists()
    assert all(job_id in out for job_id in ids)
    assert f"qhep jobs {folder}" in out and f"qhep resume {folder}" in out

    code, out, err = cli("jobs", folder)
    assert code == 0, err
    listed = out.strip().splitlines()
    assert len(listed) == 4 and all(job_id in line for job_id, line in zip(ids, listed))
    assert all("ibm  16 bindings  256 shots" in line or "ibm  8 bindings  256 shots" in line for line in listed[:3])
    assert all(line.split()[-1] in ("RUNNING", "QUEUED", "INITIALIZING") or "DONE" in line for line in listed[:3])
    assert listed[-1].startswith("3 jobs: ")

    code, out, err = cli("resume", folder)
    assert code == 0, err
    resumed = record(folder)
    execution = resumed["resources"]["execution"]
    assert execution["jobs_collected_by_id"] == 3 and execution["jobs"] == 0  # nothing sent twice
    assert resumed["timing"]["model_restored"] and resumed["config"]["detach"] is True
    assert [e["event"] for e in journal(folder)].count("submitted") == 3
    assert np.array_equal(read_scores(folder / "scores.h5")["score"], read_scores(whole.parent / "scores.h5")["score"])
    assert resumed["metrics"] == json.loads(whole.read_text())["metrics"]

    code, out, _ = cli("jobs", folder)
    assert code == 0 and out.strip().splitlines()[-1] == "3 jobs: 3 done"


class QueuedJob:
    """A remote job as the service returns it by id: QUEUED until released, its result that of the local job."""

    def __init__(self, job, queue):
        self.job, self.queue = job, queue

    def job_id(self):
        return self.job.job_id()

    def status(self):
        return "DONE" if self.queue["released"] else "QUEUED"

    def result(self):  # what waiting ends in
        self.queue["waited"].append(self.job_id())
        return self.job.result()


def test_resume_does_not_wait_silently_on_queued_remote_jobs(tmp_path, lhco_file, ibm, cli, monkeypatch):
    folder, _ = detached(cli, tmp_path, f"task.data.path={lhco_file}")
    ids = [e["job_id"] for e in journal(folder)]
    # From now on the service keeps the jobs (as IBM's does) and says they are queued
    queue = {"released": False, "waited": []}
    service = LocalService()
    service.job = lambda job_id: QueuedJob(_LOCAL_JOBS[job_id], queue)
    monkeypatch.setattr(qiskit_engine, "runtime_service", lambda channel, instance: service)
    local_runner = qiskit_engine.runtime_runner

    def remote_runner(name, backend, shots, retrieve=None):
        runner = local_runner(name, backend, shots)
        runner._retrieve, runner.local = retrieve, False
        return runner

    monkeypatch.setattr(qiskit_engine, "runtime_runner", remote_runner)

    code, out, err = cli("jobs", folder)
    assert code == 0, err
    assert [line.split()[-1] for line in out.strip().splitlines()[:3]] == ["QUEUED"] * 3
    assert out.strip().splitlines()[-1] == "3 jobs: 3 queued/running"

    code, out, err = cli("resume", folder)
    assert code == 3 and err.count("\n") == 1, err
    assert "3 jobs still queued or running on ibm" in err and "--wait" in err
    assert not (folder / "result.json").exists() and not queue["waited"]

    code, out, err = cli("resume", folder, "--wait")
    assert code == 0, err
    assert sorted(queue["waited"]) == sorted(ids)  # waited on each job, by id
    execution = record(folder)["resources"]["execution"]
    assert execution["jobs_collected_by_id"] == 3 and execution["jobs"] == 0


def test_aer_jobs_lost_with_their_process_are_resubmitted(tmp_path, lhco_file, cli):
    run = [item for item in RUN if not item.startswith("backend")] + ["backend=aer", "backend.shots=200",
                                                                         "backend.max_bindings_per_job=16"]
    folder, _ = detached(cli, tmp_path, f"task.data.path={lhco_file}", run=run)
    first, *rest = [e["job_id"] for e in journal(folder)]
    _LOCAL_JOBS.pop(first)  # as if `qhep resume` ran in a new process: an in-process simulator's job is gone
    code, out, err = cli("jobs", folder)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith(first) and lines[0].endswith("not kept by a local simulator: resume resubmits it")
    assert "1 to resubmit" in lines[-1]
    code, _, err = cli("resume", folder)  # local jobs are never waited on: no gate
    assert code == 0, err
    execution = record(folder)["resources"]["execution"]
    assert execution["jobs_collected_by_id"] == len(rest) and execution["jobs"] == 1
    code, out, _ = cli("jobs", folder)
    assert f"replaced by job {execution['job_ids'][0]}" in out.splitlines()[0]


def test_jobs_never_print_a_token(tmp_path, lhco_file, cli, monkeypatch):
    run = [item for item in RUN if not item.startswith("backend")] + ["backend=aer", "backend.shots=200"]
    folder, _ = detached(cli, tmp_path, f"task.data.path={lhco_file}", run=run)
    token = "QHEPDUMMYTOKEN-9f3a7c"
    monkeypatch.setenv("QISKIT_IBM_TOKEN", token)
    with open(folder / "jobs.jsonl", "a") as handle:  # a provider that echoed the token in its failure
        handle.write(json.dumps({"event": "submitted", "key": "k", "job_id": "j1", "backend": "aer", "bindings": 1,
                                 "shots": 200}) + "\n")
        handle.write(json.dumps({"event": "failed", "key": "k", "job_id": "j1",
                                 "reason": f"RuntimeError: bad token {token}"}) + "\n")
    code, out, err = cli("jobs", folder)
    assert code == 0 and token not in out + err and "failed: RuntimeError: bad token ***" in out
    assert "1 failed" in out.splitlines()[-1]


@pytest.mark.parametrize("overrides, says", [
    ("method=ae detach=true", "method ae is classical"),
    ("detach=true", "backend fast runs locally"),
    ("backend=fake method.train_backend=fast detach=true dry_run=true", "set only one of them"),
    ("backend=fake detach=true", "set method.train_backend=fast"),
    ("backend=ibm method.train_backend=ibm detach=true", "set method.train_backend=fast"),
    ("method=chain method.scorer=qae backend=fake detach=true", "method chain cannot submit"),
])
def test_detach_refusals_are_one_line_before_any_folder(tmp_path, cli, monkeypatch, overrides, says):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("run", *overrides.split(), "results_dir=results")
    assert code == 2 and err.count("\n") == 1 and err.startswith("qhep: error: ") and says in err, err
    assert not any(tmp_path.iterdir())


def test_a_sweep_does_not_detach(tmp_path, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("sweep", "backend=aer", "backend.shots=10,20", "method.train_backend=fast", "detach=true")
    assert code == 2 and "detach=true is for qhep run" in err and err.count("\n") == 1
    assert not any(tmp_path.iterdir())

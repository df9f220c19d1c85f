"""qhep resume: an interrupted run goes on in its folder from run.json and the job journal, sends no job twice,
and ends with the numbers of an uninterrupted run."""
import json
import shutil

import pytest

from qhep.quantum.qiskit_engine import QiskitEngine

# Trained and scored on Aer with 200 shots: every step is a job (parameter shift), sampled with a seed taken from
# the job's content, so a replay reproduces each one. 2 steps of training and the scoring: a job each.
RUN = ["run", "task=lhco", "method=qae", "backend=aer", "backend.shots=200", "protocol.max_train_events=60",
       "method.n_layers=1", "method.epochs=1", "method.batch_size=30", "task.region=all", "progress=false",
       "plots=false"]



def journal(folder):
    return [json.loads(line) for line in (folder / "jobs.jsonl").read_text().splitlines()]


@pytest.fixture
def interrupt_at_submission(monkeypatch):
    """arm(n): Ctrl-C right after the n-th job from now is submitted (and journaled), before its result is read."""
    submitted, at = [], {"n": None}
    original = QiskitEngine.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if self.journal is None:  # the budget's timed sample, not the run's own work
            return

        def hook(job_id):
            submitted.append(job_id)
            if len(submitted) == at["n"]:
                raise KeyboardInterrupt

        self.on_submit.append(hook)

    def arm(n):
        submitted.clear()
        at["n"] = n

    monkeypatch.setattr(QiskitEngine, "__init__", init)
    return arm


def test_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, lhco_file, interrupt_at_submission, cli):
    data = f"task.data.path={lhco_file}"
    code, _, err = cli(*RUN, data, f"results_dir={tmp_path / 'whole'}")
    assert code == 0, err
    (whole,) = (tmp_path / "whole").rglob("result.json")
    whole = json.loads(whole.read_text())

    interrupt_at_submission(2)  # the first training step has finished, the second is in flight
    code, _, err = cli(*RUN, data, f"results_dir={tmp_path / 'cut'}")
    (folder,) = (tmp_path / "cut" / "runs").iterdir()
    assert code == 130 and err.strip().splitlines()[-1] == f"qhep: interrupted; resume with: qhep resume {folder}"
    assert not (folder / "result.json").exists()
    assert [e["event"] for e in journal(folder)] == ["submitted", "done", "submitted"]
    overrides = json.loads((folder / "run.json").read_text())["overrides"]
    assert overrides == [*RUN[1:], data, f"results_dir={tmp_path / 'cut'}"]

    interrupt_at_submission(None)
    code, out, err = cli("resume", folder)
    assert code == 0, err
    resumed = json.loads((folder / "result.json").read_text())
    lines = journal(folder)
    submitted = [e["key"] for e in lines if e["event"] == "submitted"]
    done = [e["key"] for e in lines if e["event"] == "done"]
    assert len(submitted) == len(set(submitted)) == len(done) == len(set(done)) >= 3  # no job sent twice
    assert set(submitted) == set(done)
    execution = resumed["resources"]["execution"]
    assert execution["results_from_journal"] == 1 and execution["jobs_collected_by_id"] == 1
    assert resumed["resumed"] and resumed["run_id"] == folder.name.split("-lhco")[0]
    for key in ("training_loss", "metrics", "roc", "cutflow"):
        assert resumed[key] == whole[key], key

    code, out, _ = cli("resume", folder)  # finished: says so, changes nothing
    assert code == 0 and "complete" in out

    tampered = tmp_path / "tampered"  # qhep's defaults changed since: the run cannot be continued as it was
    shutil.copytree(folder, tampered)
    (tampered / "result.json").unlink()
    state = json.loads((tampered / "run.json").read_text())
    state["config"]["min_background"] = 7
    (tampered / "run.json").write_text(json.dumps(state))
    code, _, err = cli("resume", tampered)
    assert code == 2 and "min_background" in err and err.count("\n") == 1

    older = tmp_path / "older"  # a section qhep added since, all of it unset, does not stop a resume
    shutil.copytree(folder, older)
    (older / "result.json").unlink()
    state = json.loads((older / "run.json").read_text())
    del state["config"]["tuned"]
    (older / "run.json").write_text(json.dumps(state))
    code, _, err = cli("resume", older)
    assert code == 0 and (older / "result.json").exists(), err


def test_unset_sections_added_since_are_no_difference():
    from qhep.harness.runner import _differences

    assert _differences({"a": 1, "new": {"x": None, "y": {"z": None}}}, {"a": 1}) == []
    assert _differences({"a": 1, "new": {"x": 3}}, {"a": 1}) == ["new"]
    assert _differences({"a": 1}, {"a": 1, "gone": None}) == []
    assert _differences({"a": 2}, {"a": 1}) == ["a"]


def test_resume_refuses_what_is_not_a_run(tmp_path, cli):
    code, _, err = cli("resume", tmp_path / "missing")
    assert code == 2 and err.strip() == f"qhep: error: {tmp_path / 'missing'}: no such folder"
    code, _, err = cli("resume", tmp_path)
    assert code == 2 and "not a qhep run or sweep folder" in err and err.count("\n") == 1
    (tmp_path / "run.json").write_text("{}")
    code, _, err = cli("resume", tmp_path)
    assert code == 2 and "not a qhep run file" in err and err.count("\n") == 1


def test_sigterm_stops_a_run_with_the_resume_hint(tmp_path, lhco_file):
    """A batch system's SIGTERM is an interruption like Ctrl-C: exit 130 and the folder to resume."""
    import signal
    import subprocess
    import sys
    import time

    command = [sys.executable, "-m", "qhep", "run", "task=lhco", "method=qae", "method.epochs=5000",
               f"task.data.path={lhco_file}", "task.region=all", f"results_dir={tmp_path}", "progress=false"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.rglob("run.json")) and time.monotonic() < deadline:  # it is training now
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    (run_file,) = tmp_path.rglob("run.json")
    assert process.returncode == 130
    assert err.strip().splitlines()[-1] == f"qhep: interrupted; resume with: qhep resume {run_file.parent}"

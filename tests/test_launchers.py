"""Sweeps beyond one machine: each launcher runs a real small sweep (submitit's debug and local executors, a local
Ray cluster, a Dask LocalCluster, local processes); failed points are recorded and the sweep goes on; a resume
skips what is done; a training group's model is fitted once and restored by its other points wherever they run;
`qhep run -m` is `qhep sweep`."""
import json
import os
import sys

import pytest

from qhep.harness import sweep as sweep_module
from qhep.harness.attempts import read_attempts

# Classical methods fit in well under a second: what a test pays for is each worker process importing qhep.
QUICK = ["task=lhco", "task.region=all", "plots=false", "progress=false", "bootstrap=5"]
# k-means with 5000 centroids on the fixture's 200 training events fails at fit time (after planning and pricing)
FAILING = ["method=kmeans", "method.n_clusters=2,5000", "min_background=5,10"]


def args(tmp_path, lhco_file, *overrides):
    return [*QUICK, *overrides, f"task.data.path={lhco_file}", f"results_dir={tmp_path}"]


def the_sweep(results):
    (sweep_dir,) = (results / "sweeps").iterdir()
    return sweep_dir, json.loads((sweep_dir / "sweep.json").read_text())


def record(sweep_dir, entry):
    return json.loads((sweep_dir / entry["run_dir"] / "result.json").read_text())


def fits(sweep_dir, state, outcome="done"):
    """The fits each point made (only a training group's first point fits; the others restore its model)."""
    return [sum(a["stage"] == "fit" and a["outcome"] == outcome for a in read_attempts(sweep_dir / p["run_dir"]))
            for p in state["points"]]


def worker_pid(sweep_dir, entry):
    """The process that worked in a point's folder (its lock file names the holder)."""
    return json.loads((sweep_dir / entry["run_dir"] / ".lock").read_text())["pid"]


def check_shared(sweep_dir, state, trainer, other):
    """`other` scored the model `trainer` fitted, restored from the trainer's folder."""
    timing = record(sweep_dir, state["points"][other])["timing"]
    assert timing["train_shared_from"] == state["points"][trainer]["run_id"] and timing["model_restored"]


def test_launcher_settings_are_checked_before_anything_runs(tmp_path, cli, monkeypatch):
    sweep = ["method=pca,kmeans", f"results_dir={tmp_path}"]
    for overrides, message in ((["launcher=nope"], "unknown launcher 'nope'; choose one of: inline, local, slurm"),
                               (["launcher=local", "launcher.partition=x"],
                                "unknown setting 'launcher.partition'; valid settings of launcher local: max_workers"),
                               (["launcher=local", "launcher.max_workers=0"], "launcher.max_workers: must be >= 1"),
                               (["launcher=local", "launcher.max_workers=1,2"], "it cannot be an axis"),
                               (["launcher=slurm", "launcher.time=soon"], "invalid value 'soon' for launcher.time"),
                               (["launcher=dask", "launcher.cluster=k8s"], "launcher.cluster: choose one of: slurm")):
        code, _, err = cli("sweep", *sweep, *overrides)
        assert code == 2 and err.count("\n") == 1 and message in err, err
    monkeypatch.setitem(sys.modules, "ray", None)  # not installed: say which extra to install
    code, _, err = cli("sweep", *sweep, "launcher=ray")
    assert code == 2 and err.strip() == "qhep: error: launcher=ray needs ray: pip install 'qhep[cluster]'"
    code, _, err = cli("run", "method=pca", "launcher=local", f"results_dir={tmp_path}")
    assert code == 2 and "use qhep run -m or qhep sweep" in err
    code, _, err = cli("run", "method=pca", "seed=0,1", f"results_dir={tmp_path}")
    assert code == 2 and "seed=0,1: several values make a sweep" in err and "qhep run -m" in err
    assert not any(tmp_path.iterdir())


def test_run_multirun_is_the_sweep_of_those_axes(tmp_path, lhco_file, cli):
    axes = ["method=pca,kmeans", "min_background=5,10"]
    code, out, err = cli("run", "-m", *args(tmp_path / "m", lhco_file, *axes))
    assert code == 0, err
    code, _, err = cli("sweep", *args(tmp_path / "s", lhco_file, *axes))
    assert code == 0, err
    (m_dir, multirun), (s_dir, sweep) = the_sweep(tmp_path / "m"), the_sweep(tmp_path / "s")
    assert multirun["command"].startswith("qhep run -m ") and sweep["command"].startswith("qhep sweep ")
    assert multirun["axes"] == sweep["axes"] == {"method": ["pca", "kmeans"], "min_background": [5, 10]}

    def plan(state):  # what each point is, less the folder the results went to
        return [([o for o in p["overrides"] if not o.startswith("results_dir=")], p["point"], p["status"],
                 p["trained_in"] == state["points"][p["index"] // 2 * 2]["run_id"]) for p in state["points"]]

    assert plan(multirun) == plan(sweep) and len(plan(sweep)) == 4
    assert fits(m_dir, multirun) == fits(s_dir, sweep) == [1, 0, 1, 0]  # min_background only changes scoring
    assert "qhep sweep" in out and "4 point(s)" in out  # the sweep's table

    # a sweep.json written before launchers (no launcher, no trained_in) resumes; a point's settings are fixed
    for entry in multirun["points"]:
        del entry["trained_in"]
    del multirun["launcher"]
    (m_dir / "sweep.json").write_text(json.dumps(multirun))
    (m_dir / multirun["points"][1]["run_dir"] / "result.json").unlink()
    code, _, err = cli("resume", m_dir, "seed=3")
    assert code == 2 and "only launcher settings may be given" in err
    code, _, err = cli("resume", m_dir, "launcher=inline")
    assert code == 0, err
    _, multirun = the_sweep(tmp_path / "m")
    assert [p["status"] for p in multirun["points"]] == ["done"] * 4 and fits(m_dir, multirun) == [1, 0, 1, 0]
    check_shared(m_dir, multirun, 0, 1)


def test_local_processes_record_a_failed_point_and_a_rerun_skips_done_ones(tmp_path, lhco_file, cli):
    code, _, err = cli("sweep", *args(tmp_path, lhco_file, *FAILING, "launcher=local", "launcher.max_workers=2"))
    sweep_dir, state = the_sweep(tmp_path)
    assert code == 1 and "qhep: 2 done, 2 failed" in err.splitlines()[-1]
    assert [p["status"] for p in state["points"]] == ["done", "done", "failed", "failed"]
    failed, skipped = state["points"][2]["error"], state["points"][3]["error"]
    assert failed == ("QhepError: method.n_clusters=5000 exceeds the 200 training events: lower method.n_clusters")
    assert skipped == f"not run: its training point {state['points'][2]['run_dir']} failed"
    assert "Traceback" in (sweep_dir / state["points"][2]["run_dir"] / "error.log").read_text()
    assert state["points"][0]["metrics"]["auc"] > 0.9 and state["points"][2]["metrics"] is None
    assert fits(sweep_dir, state) == [1, 0, 0, 0] and fits(sweep_dir, state, "failed") == [0, 0, 1, 0]
    check_shared(sweep_dir, state, 0, 1)
    assert worker_pid(sweep_dir, state["points"][0]) != os.getpid()  # the points ran in other processes
    assert worker_pid(sweep_dir, {"run_dir": "."}) == os.getpid()  # the sweep's folder: this process alone

    done = {p["run_dir"]: (sweep_dir / p["run_dir"] / "result.json").stat().st_mtime_ns for p in state["points"][:2]}
    code, _, err = cli("resume", sweep_dir)  # the sweep's launcher again; the failed points are tried again
    assert code == 1 and "qhep: 2 done, 2 failed" in err
    _, again = the_sweep(tmp_path)
    assert [p["status"] for p in again["points"]] == ["done", "done", "failed", "failed"]
    assert {p: (sweep_dir / p / "result.json").stat().st_mtime_ns for p in done} == done  # left as they were
    assert fits(sweep_dir, again) == [1, 0, 0, 0] and fits(sweep_dir, again, "failed") == [0, 0, 2, 0]
    assert (sweep_dir / state["points"][2]["run_dir"] / "error.log").read_text().count("Traceback") == 2


def test_submitit_debug_executor_goes_on_after_a_failure_and_resume_finishes(tmp_path, lhco_file, cli,
                                                                             monkeypatch):
    finish, failures = sweep_module.finish, []

    def flaky(cfg, started, *rest, **kwargs):  # the second point's scoring fails once
        if started.run_dir.name.startswith("p001") and not failures:
            failures.append(started.run_id)
            raise RuntimeError("the disk\nwent away")
        return finish(cfg, started, *rest, **kwargs)

    monkeypatch.setattr(sweep_module, "finish", flaky)  # the debug executor runs jobs in this process
    overrides = args(tmp_path, lhco_file, "method=pca", "min_background=5,10,15", "launcher=slurm",
                     "launcher.cluster=debug")
    code, _, err = cli("sweep", *overrides)
    sweep_dir, state = the_sweep(tmp_path)
    assert code == 1 and failures and "1 failed" in err
    assert [p["status"] for p in state["points"]] == ["done", "failed", "done"]
    assert state["points"][1]["error"] == "RuntimeError: the disk went away"  # one line, no traceback
    assert state["launcher"] == ["launcher=slurm", "launcher.cluster=debug"]
    assert list((sweep_dir / "submitit").glob("*_log.out"))  # submitit's own logs, in the sweep's folder

    kept = (sweep_dir / state["points"][2]["run_dir"] / "result.json").read_text()
    code, _, err = cli("resume", sweep_dir)
    assert code == 0, err
    _, state = the_sweep(tmp_path)
    assert [p["status"] for p in state["points"]] == ["done"] * 3 and "error" not in state["points"][1]
    assert (sweep_dir / state["points"][2]["run_dir"] / "result.json").read_text() == kept
    assert fits(sweep_dir, state) == [1, 0, 0]
    check_shared(sweep_dir, state, 0, 1)
    check_shared(sweep_dir, state, 0, 2)


def test_submitit_local_executor_runs_each_point_in_its_own_job(tmp_path, lhco_file, cli):
    code, _, err = cli("sweep", *args(tmp_path, lhco_file, "method=pca", "min_background=5,10", "launcher=slurm",
                                      "launcher.cluster=local", "launcher.time=10"))
    assert code == 0, err
    sweep_dir, state = the_sweep(tmp_path)
    assert [p["status"] for p in state["points"]] == ["done", "done"]
    assert fits(sweep_dir, state) == [1, 0]
    check_shared(sweep_dir, state, 0, 1)
    pids = {worker_pid(sweep_dir, p) for p in state["points"]}
    assert len(pids) == 2 and os.getpid() not in pids  # a job (a process) per point
    assert len(list((sweep_dir / "submitit").glob("*_result.pkl"))) == 2


@pytest.fixture
def ray_cluster():
    """A real local Ray cluster (Ray 2.60 has no local mode), stopped after the test."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


def test_ray_cluster_runs_the_points_and_shares_each_training(tmp_path, lhco_file, cli, ray_cluster):
    code, _, err = cli("sweep", *args(tmp_path, lhco_file, "method=pca,kmeans", "min_background=5,10",
                                      "launcher=ray", f"launcher.address={ray_cluster}"))
    assert code == 0, err
    sweep_dir, state = the_sweep(tmp_path)
    assert [p["status"] for p in state["points"]] == ["done"] * 4
    assert fits(sweep_dir, state) == [1, 0, 1, 0]
    check_shared(sweep_dir, state, 0, 1)
    check_shared(sweep_dir, state, 2, 3)
    assert os.getpid() not in {worker_pid(sweep_dir, p) for p in state["points"]}


@pytest.fixture
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    yield cluster.scheduler_address
    cluster.close()


def test_dask_cluster_records_a_failed_point_while_the_others_finish(tmp_path, lhco_file, cli, dask_cluster):
    code, _, err = cli("sweep", *args(tmp_path, lhco_file, *FAILING, "launcher=dask",
                                      f"launcher.address={dask_cluster}"))
    sweep_dir, state = the_sweep(tmp_path)
    assert code == 1 and "qhep: 2 done, 2 failed" in err
    assert [p["status"] for p in state["points"]] == ["done", "done", "failed", "failed"]
    assert state["points"][2]["error"].startswith("QhepError: method.n_clusters=5000 exceeds")
    assert fits(sweep_dir, state) == [1, 0, 0, 0]
    check_shared(sweep_dir, state, 0, 1)
    assert os.getpid() not in {worker_pid(sweep_dir, p) for p in state["points"][:2]}

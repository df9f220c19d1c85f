"""qhep sweep: Hydra-style axes, one training shared by the points that only change the scoring backend, one
record per point, sweep.json and its plot, resuming, and the leaderboard of one sweep."""
import json

import pytest

from qhep.errors import QhepError
from qhep.harness import sweep as sweep_module
from qhep.harness.sweep import _trainers, parse_axes, plan
from qhep.methods.qae import QuantumAutoencoder

# 2 layers and 1 epoch: seconds, and a model that already separates the fixture's signal (AUC ~0.95 at seed 0)
TINY = ["task=lhco", "method=qae", "method.n_layers=2", "method.epochs=1", "task.region=all", "progress=false"]
NOISY = ["backend=aer", "backend.noise=fake:FakeManilaV2", "method.train_backend=fast"]



@pytest.fixture
def fits(monkeypatch):
    """How many times a QAE was trained."""
    calls = []
    original = QuantumAutoencoder.fit

    def counting(self, X, y=None):
        calls.append(1)
        return original(self, X, y)

    monkeypatch.setattr(QuantumAutoencoder, "fit", counting)
    return calls


def records_of(folder):
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(folder.rglob("result.json"))}


def test_parse_axes_uses_hydras_grammar():
    fixed, axes = parse_axes(["task=lhco", "backend.shots=100,null", "seed=range(0,3)", "method=glob(*ae)",
                              "backend.noise=fake:FakeManilaV2", "task.features=[mjj,mj_min]"])
    assert fixed == ["task=lhco", "backend.noise=fake:FakeManilaV2", "task.features=[mjj,mj_min]"]
    assert axes == [("backend.shots", ["backend.shots=100", "backend.shots=null"]),
                    ("seed", ["seed=0", "seed=1", "seed=2"]), ("method", ["method=ae", "method=imageae", "method=particleae", "method=qae",
                                                             "method=vae"])]
    for bad, message in ((["task=lhco"], "needs at least one axis"), (["seed=1,,2"], "seed=1,,2"),
                         (["method.lr=interval(0,1)"], "interval"), (["seed=1,2", "seed=3,4"], "twice")):
        with pytest.raises(QhepError, match=message):
            parse_axes(bad)


def test_points_share_a_training_only_when_it_cannot_differ():
    def trainers(*overrides):
        _, points = plan(list(overrides), "s")
        return [t.index for t in _trainers(points)]

    # pre-trained on the exact engine: the scoring backend's settings do not touch training
    assert trainers(*NOISY, "backend.shots=100,null", "backend.noise_scale=0,1") == [0, 0, 0, 0]
    # trained on the backend itself: every backend setting is another training
    assert trainers("backend=aer", "backend.shots=100,200") == [0, 1]
    # scoring-only settings never split a training; the seed always does
    assert trainers("backend=aer", "test_events=10,20", "min_background=5,10") == [0, 0, 0, 0]
    assert trainers(*NOISY, "seed=0,1", "backend.shots=100,null") == [0, 0, 2, 2]
    axes, points = plan([*NOISY, "backend.shots=100,null", "backend.noise_scale=0,0.5"], "s")
    assert axes == {"backend.shots": [100, None], "backend.noise_scale": [0.0, 0.5]}  # composed, typed values
    assert [p.values for p in points][1] == {"backend.shots": 100, "backend.noise_scale": 0.5}


def test_chain_sweep_over_the_quantum_stages_backend_fits_the_encoder_once(tmp_path, lhco_file, monkeypatch, cli):
    from qhep.methods.autoencoder import Autoencoder

    fitted = []
    original = Autoencoder.fit
    monkeypatch.setattr(Autoencoder, "fit", lambda self, *a, **k: fitted.append(1) or original(self, *a, **k))
    chain = ["task=lhco", "method=chain", "method.encoder.epochs=2", "method.encoder.latent_dim=4",
             "method.scorer=qsvm", "method.scorer.n_train=40", "method.scorer.train_backend=fast", "task.region=all",
             "progress=false", "plots=false", "test_events=60"]
    code, _, err = cli("sweep", *chain, "backend=aer", "backend.shots=100,null", f"task.data.path={lhco_file}",
                       f"results_dir={tmp_path}")
    assert code == 0, err
    assert len(fitted) == 1  # the encoder and the kernel's training were shared by both scoring backends
    records = list(records_of(tmp_path).values())
    assert sorted(r["resources"]["execution"]["shots"] or 0 for r in records) == [0, 100]
    assert sum("train_shared_from" in r["timing"] for r in records) == 1
    # exact Aer scores like the fast engine on the shared model; 100 shots do not
    (exact,) = [r for r in records if r["resources"]["execution"]["shots"] is None]
    code, _, err = cli("run", *chain, "backend=fast", f"task.data.path={lhco_file}", f"results_dir={tmp_path / 'fast'}")
    (fast,) = records_of(tmp_path / "fast").values()
    assert code == 0 and abs(fast["metrics"]["auc"] - exact["metrics"]["auc"]) < 1e-6


def test_sweep_trains_once_and_scores_every_point(tmp_path, lhco_file, fits, cli):
    code, out, err = cli("sweep", *TINY, *NOISY, "backend.shots=200,null", "backend.noise_scale=0,10",
                         f"task.data.path={lhco_file}", f"results_dir={tmp_path}")
    assert code == 0, err
    assert len(fits) == 1
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert state["axes"] == {"backend.shots": [200, None], "backend.noise_scale": [0.0, 10.0]}
    assert [p["status"] for p in state["points"]] == ["done"] * 4 and state["command"].startswith("qhep sweep ")
    assert (sweep_dir / "sweep.png").stat().st_size > 10_000
    records = records_of(sweep_dir)
    assert len(records) == 4
    trainer = state["points"][0]["run_id"]
    by_point = {}
    for folder, record in records.items():
        sweep = record["sweep"]
        assert sweep["id"] == state["id"] and sweep["axes"] == state["axes"]
        assert record["config"]["backend"]["noise_scale"] == sweep["point"]["backend.noise_scale"]
        assert record["timing"].get("train_shared_from", record["run_id"]) == trainer  # the one training
        assert record["resources"]["execution"]["shots"] == sweep["point"]["backend.shots"]
        by_point[sweep["point"]["backend.shots"], sweep["point"]["backend.noise_scale"]] = record
    assert sum("train_shared_from" in r["timing"] for r in records.values()) == 3
    assert len({json.dumps(r["training_loss"]) for r in records.values()}) == 1

    # Noiseless and exact: the fast engine's numbers for the same trained model
    code, _, err = cli("run", *TINY, "backend=fast", f"task.data.path={lhco_file}",
                       f"results_dir={tmp_path / 'fast'}")
    (fast,) = records_of(tmp_path / "fast").values()
    assert code == 0 and fast["training_loss"] == by_point[None, 0.0]["training_loss"]
    assert abs(fast["metrics"]["auc"] - by_point[None, 0.0]["metrics"]["auc"]) < 1e-9
    # Ten times the device's errors contract every fidelity towards 1/4 while 200-shot binomial noise stays: the
    # ranking, and with it the AUC, falls most of the way to random (seeds 0-4: |AUC - 1/2| 0.43 -> 0.04..0.25)
    clean, noisy = by_point[None, 0.0]["metrics"]["auc"], by_point[200, 10.0]["metrics"]["auc"]
    assert clean > 0.85 and abs(noisy - 0.5) < abs(clean - 0.5) - 0.1

    # The table at the end and the leaderboard of this sweep: its points in axis order, shots and noise shown
    lines = [line for line in out.splitlines() if " qae " in line]
    assert len(lines) == 4 and [("200" in x, "exact" in x) for x in lines] == [(True, False)] * 2 + [(False, True)] * 2
    assert "FakeManilaV2×0 " in lines[0] and "FakeManilaV2×10" in lines[1]
    code, board, _ = cli("leaderboard", "--results", tmp_path, "--sweep", state["id"])
    assert code == 0 and [line for line in board.splitlines() if " qae " in line] == lines
    code, board, _ = cli("leaderboard", "--results", tmp_path)
    assert code == 0 and "5 run(s)" in board  # the sweep's points are runs like any other
    code, _, err = cli("leaderboard", "--results", tmp_path, "--sweep", "nope")
    assert code == 2 and "no records of sweep 'nope'" in err


def test_interrupted_sweep_resumes_its_unfinished_points(tmp_path, lhco_file, fits, monkeypatch, cli):
    finish, finished = sweep_module.finish, []

    def interrupt_after_first(*args, **kwargs):
        if finished:
            raise KeyboardInterrupt
        finished.append(finish(*args, **kwargs))
        return finished[-1]

    monkeypatch.setattr(sweep_module, "finish", interrupt_after_first)
    args = ["sweep", *TINY, *NOISY, "backend.shots=200", "backend.noise_scale=0,1,2", f"task.data.path={lhco_file}",
            f"results_dir={tmp_path}", "plots=false"]
    code, _, err = cli(*args)
    (sweep_dir,) = (tmp_path / "sweeps").iterdir()
    assert code == 130 and err.strip().splitlines()[-1] == f"qhep: interrupted; resume with: qhep resume {sweep_dir}"
    (first,) = records_of(sweep_dir).values()
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert [p["status"] for p in state["points"]] == ["done", "pending", "pending"]
    point_folder = sweep_dir / state["points"][1]["run_dir"]
    code, _, err = cli("resume", point_folder)  # a point alone would retrain: the sweep resumes as a whole
    assert code == 2 and f"qhep resume {sweep_dir}" in err

    monkeypatch.setattr(sweep_module, "finish", finish)
    code, out, err = cli("resume", sweep_dir)
    assert code == 0, err
    records = records_of(sweep_dir)
    # not trained again: the trainer's saved model is restored for the unfinished points
    assert len(records) == 3 and len(fits) == 1 and records[point_folder.name]["timing"]["model_restored"]
    assert records[state["points"][0]["run_dir"]] == first  # finished points are left as they were
    resumed = records[point_folder.name]
    assert resumed["resumed"] and resumed["training_loss"] == first["training_loss"]
    state = json.loads((sweep_dir / "sweep.json").read_text())
    assert [p["status"] for p in state["points"]] == ["done"] * 3 and all(p["metrics"]["auc"] for p in state["points"])
    code, out, _ = cli("resume", sweep_dir)  # nothing left: the table again, nothing trained
    assert code == 0 and len(fits) == 1 and "3 point(s)" in out


def test_bad_sweep_points_stop_before_anything_runs(tmp_path, cli):
    for args, message in ((["task=lhco"], "needs at least one axis: give a setting several comma-separated values"),
                          (["backend=aer", "backend.noise_scale=1,-1", "backend.noise=fake:FakeManilaV2"],
                           "backend.noise_scale: must be >= 0"),
                          (["backend=aer", "backend.shots=100,many"], "invalid value 'many' for backend.shots"),
                          (["backend=aer", "backend.shots=1,2", "dry_run=true"], "dry_run=true is for qhep run"),
                          (["backend=aer", "backend.shots=1,2", "backend.journal=x"], "backend.journal")):
        code, _, err = cli("sweep", *args, f"results_dir={tmp_path}")
        assert code == 2 and err.count("\n") == 1 and message in err, err
    assert not any(tmp_path.iterdir())


def test_leaderboard_shots_and_noise_columns():
    from qhep.reporting.tables import COLUMNS

    column = dict(COLUMNS)

    def cells(backend, **settings):
        record = {"backend": backend, "config": {"backend": {"name": backend, **settings} if backend else {}}}
        return column["shots"](record), column["noise"](record)

    assert cells("aer", shots=1000, noise="fake:FakeManilaV2", noise_scale=0.5) == ("1000", "FakeManilaV2×0.5")
    assert cells("aer", shots=None, noise="fake:FakeManilaV2", noise_scale=1.0) == ("exact", "FakeManilaV2")
    assert cells("aer", shots=1024, noise=None, noise_scale=1.0) == ("1024", "-")
    assert cells("fake", shots=1024, device="FakeSherbrooke") == ("1024", "FakeSherbrooke")
    assert cells("fast", precision="double") == ("-", "-")
    assert cells(None) == ("-", "-")  # a classical method


def test_methods_reading_other_views_of_one_task_get_their_own_view(tmp_path, cli):
    code, _, err = cli("sweep", "task=top", "method=imageae,particleae,ae", "task.data.max_jets=300",
                       "task.image_pixels=16", "method.epochs=1", f"results_dir={tmp_path}", "progress=false",
                       "plots=false", "bootstrap=5")
    assert code == 0, err
    views = {r["method"]: r["requirements"]["view"] for r in records_of(tmp_path).values()}
    assert views == {"imageae": "image", "particleae": "constituents", "ae": "features"}


def test_a_quantum_sweep_and_its_twins_drawn_on_shared_axes(tmp_path, lhco_file, monkeypatch, cli):
    """`leaderboard --sweep A --sweep B --plot`: qsvm's n_train and ocsvm's max_train_events on one axis, each line
    named by its method, the quantum one solid and the classical one dashed."""
    import matplotlib.figure

    common = ["task=lhco", "task.region=all", "progress=false", "plots=false", "test_events=80",
              f"task.data.path={lhco_file}", f"results_dir={tmp_path}"]
    for overrides in (["method=qsvm", "method.n_train=20,40"], ["method=ocsvm", "method.max_train_events=20,40"]):
        code, _, err = cli("sweep", *overrides, *common)
        assert code == 0, err
    ids = sorted(p.name for p in (tmp_path / "sweeps").iterdir())
    drawn = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, path, **_: drawn.append(fig))
    code, out, err = cli("leaderboard", "--results", str(tmp_path), "--sweep", ids[0], "--sweep", ids[1],
                         "--plot", str(tmp_path / "study.png"))
    assert code == 0 and "plot:" in err and out.count("| lhco |") == 0
    (fig,) = drawn
    auc = fig.axes[0]
    assert auc.get_xlabel() == "method.n_train / method.max_train_events"
    lines = {bars.get_label(): bars.lines[0] for bars in auc.containers}  # errorbar: the data line first
    assert lines["qsvm"].get_linestyle() == "-" and lines["ocsvm"].get_linestyle() == "--"
    assert list(lines["qsvm"].get_xdata()) == list(lines["ocsvm"].get_xdata()) == [20, 40]
    # the same two sweeps as one table over configurations: each row names its point on either axis
    code, out, _ = cli("leaderboard", "--results", str(tmp_path), "--sweep", ids[0], "--sweep", ids[1], "--seeds",
                       "--markdown")
    header, _, *rows, note = out.strip().splitlines()
    assert note.startswith("! a sample below") and header.startswith("| n_train | max_train_events | task | method |")
    assert [row.split(" | ")[:4] for row in rows] == [["| 20", "", "lhco", "qsvm"], ["| 40", "", "lhco", "qsvm"],
                                                      ["| ", "20", "lhco", "ocsvm"], ["| ", "40", "lhco", "ocsvm"]]
    code, _, err = cli("leaderboard", "--results", str(tmp_path), "--sweep", ids[0], "--plot", str(tmp_path / "x.png"),
                       "--x", "backend.shots")
    assert code == 2 and "--x backend.shots: not an axis of sweep" in err and "method.n_train" in err
    code, _, err = cli("leaderboard", "--results", str(tmp_path), "--plot", str(tmp_path / "x.png"))
    assert code == 2 and "--sweep" in err


def test_the_same_sweep_command_again_goes_on_with_the_first(tmp_path, lhco_file, cli):
    common = ["method=pca,kmeans", "task.region=all", "progress=false", "plots=false", f"task.data.path={lhco_file}",
              f"results_dir={tmp_path}"]
    code, _, err = cli("sweep", *common)
    assert code == 0, err
    (first,) = (tmp_path / "sweeps").iterdir()
    record = first / json.loads((first / "sweep.json").read_text())["points"][1]["run_dir"] / "result.json"
    before = record.stat().st_mtime_ns
    record.unlink()  # as if the second point had not finished
    code, _, err = cli("sweep", *common)
    assert code == 0 and f"sweep {first.name} ran this command: going on with it" in err
    assert [p.name for p in (tmp_path / "sweeps").iterdir()] == [first.name] and record.exists()
    assert record.stat().st_mtime_ns != before
    code, _, err = cli("sweep", *common, "seed=1")  # another setting: another sweep
    assert code == 0 and len(list((tmp_path / "sweeps").iterdir())) == 2

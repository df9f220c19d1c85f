"""The qhep command end to end on small files: run, records, plots, leaderboard, errors, determinism."""
import json

import pytest

FAST = ["method.epochs=2", "task.region=all", "progress=false"]



def record_of(results):
    (path,) = results.rglob("result.json")
    return json.loads(path.read_text()), path.parent


@pytest.mark.parametrize("method", ["qae", "ae"])
def test_run_writes_a_complete_record(tmp_path, lhco_file, method, cli):
    code, out, _ = cli("run", "task=lhco", f"method={method}", f"task.data.path={lhco_file}",
                       f"results_dir={tmp_path}", *FAST)
    assert code == 0 and "AUC" in out
    record, folder = record_of(tmp_path)
    assert record["schema"] == "qhep.result/2" and record["method"] == method
    assert record["dataset"]["source"] == str(lhco_file) and len(record["dataset"]["sha256"]) == 64
    metrics = record["metrics"]
    for key in ("auc", "rejection_at_eps_s_0.3", "rejection_at_eps_s_0.5", "max_sic", "eps_s_at_eps_b_1e-02",
                "eps_s_at_eps_b_1e-03", "eps_s_at_eps_b_1e-04"):
        assert key in metrics
    assert record["reduction"]["method"] == "none" and record["reduction"]["outputs"] == record["features"]
    assert metrics["expected_significance"]["best_cut"] > metrics["expected_significance"]["before_cut"]
    # The fixture's signal is far from its background: both methods must find it.
    assert metrics["auc"] > 0.8
    assert record["timing"]["train_events_per_second"] > 0 and record["timing"]["peak_memory_mb"] > 0
    assert record["resources"]["trainable_parameters"] > 0
    assert record["config"]["method"]["name"] == method and record["environment"]["packages"]["torch"]
    if method == "qae":
        assert record["backend"] == "fast" and record["resources"]["qubits"] == 4
    assert (folder / "roc_sic.png").stat().st_size > 1000


def test_same_seed_same_numbers(tmp_path, lhco_file, cli):
    aucs = []
    for i, seed in enumerate([3, 3, 4]):
        cli("run", "method=qae", f"seed={seed}", f"task.data.path={lhco_file}",
            f"results_dir={tmp_path / str(i)}", *FAST)
        aucs.append(record_of(tmp_path / str(i))[0]["training_loss"])
    assert aucs[0] == aucs[1] and aucs[0] != aucs[2]


def test_bad_data_file_is_one_line_and_nonzero(tmp_path, cli):
    bad = tmp_path / "broken.h5"
    bad.write_text("not hdf5")
    code, out, err = cli("run", f"task.data.path={bad}", f"results_dir={tmp_path}")
    assert code == 2 and err.count("\n") == 1 and str(bad) in err and "Traceback" not in err
    assert not list(tmp_path.rglob("result.json"))


def test_bad_override_is_one_line(cli):
    code, _, err = cli("run", "method=nope")
    assert code == 2 and err.strip() == "qhep: error: unknown method 'nope'; choose one of: ae, chain, classifier, deepsvdd, flow, gmm, iforest, imageae, kde, kmeans, knn, ocsvm, particleae, pca, qae, qkmeans, qkmedians, qsvm, vae"


def test_leaderboard_lists_runs(tmp_path, lhco_file, cli):
    for method in ("ae", "qae"):
        cli("run", f"method={method}", f"task.data.path={lhco_file}", f"results_dir={tmp_path}", *FAST)
    code, out, _ = cli("leaderboard", "--results", str(tmp_path))
    assert code == 0 and "2 run(s)" in out and "qae" in out and " ae " in out


def test_leaderboard_as_markdown(tmp_path, lhco_file, cli):
    cli("run", "method=ae", f"task.data.path={lhco_file}", f"results_dir={tmp_path}", *FAST)
    record, _ = record_of(tmp_path)
    code, out, _ = cli("leaderboard", "--results", str(tmp_path), "--markdown")
    header, rule, row, note = out.strip().splitlines()
    assert code == 0 and header.startswith("| task | method | protocol |") and rule.startswith("|---|")
    auc, error = record["metrics"]["auc"], record["metrics"]["uncertainties"]["figures"]["auc"]["std"]
    assert f"| {auc:.3f}±{error:.3f} |" in row and 0 < error < 0.1
    # 200 training events: below the task's minimum, marked on the row and said under the table
    assert row.startswith("| lhco | ae | unsupervised | - | 0! |") and note.startswith("! a sample below")
    assert any("train: 200 events, below the task's minimum of 2000" in w for w in record["warnings"])
    code, _, err = cli("leaderboard", "--results", str(tmp_path), "--grid")
    assert code == 2 and "--sweep" in err


def test_leaderboard_grid_of_a_sweep(tmp_path, lhco_file, cli):
    code, _, err = cli("sweep", "method=ae,pca", f"task.data.path={lhco_file}", f"results_dir={tmp_path}",
                       "task.region=all", "progress=false", "plots=false")
    assert code == 0, err
    (sweep,) = (tmp_path / "sweeps").iterdir()
    code, out, _ = cli("leaderboard", "--results", str(tmp_path), "--sweep", sweep.name, "--grid")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0] == "| method | lhco |" and [line.split(" |")[0] for line in lines[2:4]] == ["| ae", "| pca"]
    assert lines[2].endswith(" ! |") and lines[-1].startswith("! a sample below")  # the 200 events of the fixture


def test_leaderboard_leaves_out_records_of_a_superseded_embedded_sample(tmp_path, lhco_file, cli):
    from qhep.harness.records import superseded
    from qhep.tasks.base import embedded_sample, sha256_of

    cli("run", "method=ae", f"task.data.path={lhco_file}", f"results_dir={tmp_path}", *FAST)
    record, folder = record_of(tmp_path)
    assert not superseded(record)  # a user's file is never superseded
    shipped = embedded_sample("lhco.h5")
    old = dict(record, dataset={**record["dataset"], "embedded": True, "source": "/elsewhere/qhep/samples/lhco.h5",
                                "sha256": "0" * 64})
    assert superseded(old) and not superseded(dict(old, dataset={**old["dataset"], "sha256": sha256_of(shipped)}))
    (tmp_path / "runs" / "old").mkdir()
    (tmp_path / "runs" / "old" / "result.json").write_text(json.dumps(old))
    code, out, err = cli("leaderboard", "--results", str(tmp_path))
    assert code == 0 and "1 run(s)" in out
    assert "1 record(s) made on a superseded embedded sample (lhco) left out" in err


def test_leaderboard_names_a_corrupt_record(tmp_path, cli):
    bad = tmp_path / "runs" / "x" / "result.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{")
    code, _, err = cli("leaderboard", "--results", str(tmp_path))
    assert code == 2 and str(bad) in err


def test_list_shows_the_registries(cli):
    code, out, _ = cli("list")
    assert code == 0 and all(name in out for name in ("lhco", "qae", "ae", "fast", "default.qubit"))


def test_any_pennylane_device_by_name(tmp_path, lhco_file, cli):
    code, _, err = cli("run", "method=qae", "backend=pennylane", "backend.device=default.mixed",
                       "method.epochs=1", "method.n_layers=1", f"task.data.path={lhco_file}",
                       f"results_dir={tmp_path}", *FAST[1:])
    assert code == 0, err
    record, _ = record_of(tmp_path)
    assert record["backend"] == "pennylane" and record["config"]["backend"]["device"] == "default.mixed"


def test_unknown_pennylane_device_is_one_line(tmp_path, lhco_file, cli):
    code, _, err = cli("run", "backend=pennylane", "backend.device=no.such.device",
                       f"task.data.path={lhco_file}", f"results_dir={tmp_path}", *FAST)
    assert code == 2 and "no.such.device" in err and err.count("\n") == 1

"""Repetitions of one configuration over seeds: grouped by everything but their seeds, and summarised as mean,
seed-to-seed spread and mean bootstrap spread."""
import copy

import numpy as np
import pytest

from qhep.errors import QhepError
from qhep.reporting.seeds import aggregate, configuration, describe


def record(seed, auc, error, backend_seed=0, **method):
    return {"task": "lhco", "method": "qae", "backend": "aer", "seed": seed, "dataset": {"sha256": "ab"},
            "metrics": {"auc": auc, "uncertainties": {"figures": {"auc": {"std": error}}}},
            "config": {"seed": seed, "results_dir": f"/tmp/{seed}", "method": {"name": "qae", "n_layers": 2, **method},
                       "backend": {"name": "aer", "shots": 1000, "seed": backend_seed}}}


def test_seeds_are_averaged_and_their_spread_kept_apart_from_the_test_statistics():
    runs = [record(0, 0.7, 0.01), record(1, 0.8, 0.02), record(2, 0.9, 0.03, backend_seed=5)]
    (group,) = aggregate(runs, ("auc",))
    auc = group["figures"]["auc"]
    assert auc["mean"] == pytest.approx(0.8) and auc["std"] == pytest.approx(0.1)  # sample std of 0.7, 0.8, 0.9
    assert auc["bootstrap_std"] == pytest.approx(0.02) and auc["runs"] == 3
    assert group["seeds"] == [(0, 0), (1, 0), (2, 5)]
    assert describe(auc, ".3f") == "0.800±0.100 (0.020)"


def test_other_settings_or_data_make_another_configuration():
    base = record(0, 0.7, 0.01)
    other_setting, other_data = record(1, 0.8, 0.02, n_layers=3), copy.deepcopy(base)
    other_data["dataset"]["sha256"] = "cd"
    assert len(aggregate([base, other_setting, other_data], ("auc",))) == 3
    classical = {**copy.deepcopy(base), "backend": None}
    moved = copy.deepcopy(classical)
    moved["config"]["backend"]["shots"] = 5  # a classical run ran nothing on its backend: not part of its identity
    assert configuration(classical) == configuration(moved)


def test_one_run_and_equal_values():
    (single,) = aggregate([record(0, 0.7, 0.01)], ("auc",))
    assert single["figures"]["auc"]["std"] is None and describe(single["figures"]["auc"], ".3f") == "0.700 (0.010)"
    (same,) = aggregate([record(s, 0.1 + 0.2, None) for s in range(3)], ("auc",))
    assert same["figures"]["auc"]["std"] == 0.0 and same["figures"]["auc"]["bootstrap_std"] is None
    assert np.isclose(same["figures"]["auc"]["mean"], 0.3)


def test_leaderboard_by_configuration(tmp_path, lhco_file, cli):
    code, _, err = cli("sweep", "method=kde", "seed=0,1", f"task.data.path={lhco_file}", f"results_dir={tmp_path}",
                       "progress=false", "plots=false", "bootstrap=20")
    assert code == 0, err
    code, out, _ = cli("leaderboard", "--results", str(tmp_path), "--seeds", "--markdown")
    header, _, row, note = out.strip().splitlines()
    assert code == 0 and "| seeds | AUC |" in header and row.startswith("| lhco | kde | - | - | - | - | 0, 1! | ")
    assert row.count("±") == 2 and note.startswith("! a sample below")  # AUC and max SIC; the rejections: none


def test_a_grid_cell_over_seeds_shows_their_mean_and_both_spreads():
    from qhep.reporting.tables import markdown_grid

    runs = [record(0, 0.7, 0.01), record(1, 0.8, 0.03)]
    for r in runs:
        r["metrics"]["max_sic"] = None
    lines = markdown_grid(runs).splitlines()
    assert lines[2] == "| qae | 0.750±0.071 (0.020); - |"
    with pytest.raises(QhepError, match="--grid: 2 configurations of qae on lhco"):
        markdown_grid([runs[0], record(1, 0.8, 0.03, n_layers=3)])


def test_a_sweeps_markdown_table_leads_with_its_axes():
    from qhep.reporting.tables import markdown_table

    run = record(0, 0.7, 0.01)
    run.update(protocol={"name": "unsupervised"}, cutflow={"test_background": 9, "test_signal": 3},
               timing={"train_seconds": 1.0}, resources={})
    run["metrics"]["max_sic"] = None
    run["sweep"] = {"point": {"backend.shots": None, "backend.noise_scale": 0.5}}
    header, _, row = markdown_table([run], ["backend.shots", "backend.noise_scale"]).splitlines()
    assert header.startswith("| backend.shots | backend.noise_scale | task | method |")
    assert row.startswith("| null | 0.5 | lhco | qae |") and "| 0.700±0.010 |" in row

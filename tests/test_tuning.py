"""qhep tune: declared search spaces, the equal budget, seeded sampling, selection on validation events only,
tuning.json, the final default and tuned runs on identical test events, labelled rows, resuming."""
from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from qhep.harness import runner
from qhep.harness import tuning as tuning_module
from qhep.methods import METHODS
from qhep.settings import declared
from tests.conftest import lhco_frame

TINY = ("task.region=all", "progress=false", "plots=false", "bootstrap=10")


def test_every_method_declares_a_search_space_whose_values_pass_its_checks():
    for name, (method, settings) in METHODS.items():
        if method.stages:  # a chain searches its scorer's space, under scorer.
            continue
        assert method.search_space, f"{name} declares no search space"
        checks, known = declared(settings), {f.name for f in fields(settings)}
        for key, values in method.search_space.items():
            assert key in known and key in checks, f"{name}: {key} is not a declared setting"
            assert len(values) >= 2 and len(set(map(repr, values))) == len(values), f"{name}.{key}"
            for value in values:
                assert checks[key].why(value) is None, f"{name}.{key}={value!r}: {checks[key].why(value)}"


def test_a_chain_searches_its_scorers_space():
    from qhep.config import compose_run

    cfg = compose_run(["method=chain", "method.scorer=ocsvm"])
    space = METHODS["chain"][0].search_space_of(cfg.method)
    assert space == {f"scorer.{k}": v for k, v in METHODS["ocsvm"][0].search_space.items()}


def test_the_budget_caps_every_method_alike_and_sampling_is_seeded():
    from qhep.config import compose_run
    from omegaconf import OmegaConf

    sizes = {}
    for name in ("qsvm", "ocsvm", "qae", "iforest"):  # quantum and classical: one budget
        cfg = compose_run([f"method={name}"])
        space, default = METHODS[name][0].search_space, OmegaConf.to_container(cfg.method)
        tried, grid = tuning_module.candidates(space, default, 8, "random", 0)
        assert tried[0] == {} and len(tried) == min(8, grid)  # the default first, counted in the budget
        assert all(any(default[k] != v for k, v in c.items()) for c in tried[1:])  # the default is not repeated
        sizes[name] = len(tried)
        again, _ = tuning_module.candidates(space, default, 8, "random", 0)
        other, _ = tuning_module.candidates(space, default, 8, "random", 1)
        assert again == tried
        if grid > 8:
            assert other != tried
    assert sizes == {"qsvm": 8, "ocsvm": 8, "qae": 8, "iforest": 4}  # iforest's grid (4, the default among) fits
    with pytest.raises(Exception, match="does not fit tune.budget=8"):
        tuning_module.candidates(METHODS["qsvm"][0].search_space, {"bandwidth": 0.1}, 8, "grid", 0)


@pytest.fixture
def noisy_file(tmp_path):
    """The lhco fixture with a third of the labels flipped: AUCs below 1 that differ between settings."""
    frame = lhco_frame(300, 300, seed=3)
    rng = np.random.default_rng(0)
    flip = rng.random(len(frame)) < 0.3
    frame.loc[flip, "label"] = 1 - frame.loc[flip, "label"]
    path = tmp_path / "events_anomalydetection_v2.features.h5"
    frame.to_hdf(path, key="df", mode="w", format="fixed")
    return path


@pytest.fixture
def inverted_validation(monkeypatch):
    """Each run's validation AUC made 1 - its test AUC: a choice that read the test figures would pick the other
    end of the ranking."""
    def validation(cfg, inputs, method):
        test_auc = roc_auc_score(inputs.data.test.y, method.anomaly_score(inputs.test_x))
        held = inputs.data.validation
        return {"background": int((held.y == 0).sum()), "signal": int((held.y == 1).sum()),
                "metrics": {"auc": 1 - test_auc, "max_sic": None}}

    monkeypatch.setattr(runner, "validation", validation)


def _tune(cli, tmp_path, path, *extra):
    return cli("tune", "method=kde", *TINY, f"task.data.path={path}", f"results_dir={tmp_path / 'r'}",
               "tune.budget=3", "tune.seeds=0,1", *extra)


def test_tune_chooses_on_validation_and_runs_the_default_and_the_chosen_on_the_same_test_events(
        tmp_path, noisy_file, inverted_validation, cli):
    code, out, err = _tune(cli, tmp_path, noisy_file, "tune.seed=2")
    assert code == 0, err
    assert "tuning kde: 3 configuration(s)" in err
    (path,) = (tmp_path / "r" / "sweeps").glob("*/tuning.json")
    tuning = json.loads(path.read_text())
    assert tuning["budget"] == 3 and tuning["search"] == "random" and tuning["grid_size"] == 4
    assert tuning["space"] == {"bandwidth": [0.1, 0.3, 1.0, 3.0]}
    candidates = tuning["candidates"]
    assert len(candidates) == 3 and candidates[0]["settings"] == {"bandwidth": 1.0}  # the default first
    records = [json.loads((path.parent / c["run_dir"] / "result.json").read_text()) for c in candidates]
    assert all(r["seed"] == 2 and r["config"]["protocol"]["validation_fraction"] == 0.25 for r in records)
    test_aucs = [r["metrics"]["auc"] for r in records]
    assert len(set(test_aucs)) == 3  # the settings matter on this sample
    validation = [c["validation"]["auc"] for c in candidates]
    assert tuning["chosen"]["index"] == int(np.argmax(validation)) == int(np.argmin(test_aucs))
    assert tuning["chosen"]["index"] != int(np.argmax(test_aucs))  # the test set was not what chose
    assert tuning["events"]["test"]["read"] is False
    assert tuning["events"]["validation"] == {"background": records[0]["validation"]["background"],
                                              "signal": records[0]["validation"]["signal"]}
    # the final sweep: default and tuned at each seed, on identical test events
    final = json.loads((tmp_path / "r" / "sweeps" / tuning["final"] / "sweep.json").read_text())
    finals = [json.loads((tmp_path / "r" / "sweeps" / tuning["final"] / p["run_dir"] / "result.json").read_text())
              for p in final["points"]]
    assert [(r["seed"], bool(r["config"]["tuned"]["sweep"])) for r in finals] == [(0, False), (0, True), (1, False),
                                                                                   (1, True)]
    chosen = tuning["chosen"]["settings"]["bandwidth"]
    for default, tuned in (finals[:2], finals[2:]):
        assert default["cutflow"] == tuned["cutflow"]  # the same test (and validation) events
        assert tuned["config"]["tuned"] == {"sweep": tuning["id"], "budget": 3}
        assert tuned["config"]["method"]["bandwidth"] == chosen and default["config"]["method"]["bandwidth"] == 1.0
    # rows: the tuned one labelled beside the default; the candidates are no rows
    code, out, err = cli("leaderboard", "--results", tmp_path / "r", "--seeds")
    assert code == 0, err
    assert "kde (tuned, budget 3)" in out and out.count("lhco") == 2
    code, out, err = cli("report", "--results", tmp_path / "r", "--out", tmp_path / "out")
    assert code == 0, err
    text = (tmp_path / "out" / "LEADERBOARD.md").read_text()
    assert "kde (tuned, budget 3" in text and "4 record(s)" in out


def test_a_tuned_row_stays_apart_from_the_default_even_with_the_default_settings(tmp_path, lhco_file, cli):
    code, out, err = cli("tune", "method=pca", *TINY, f"task.data.path={lhco_file}", f"results_dir={tmp_path}",
                         "tune.budget=1", "tune.seeds=0")  # budget 1: the default alone, chosen
    assert code == 0, err
    from qhep.harness.records import load_records
    from qhep.reporting.leaderboard import build

    records = [r for r in load_records(tmp_path) if (r.get("sweep") or {}).get("tune") == "final"]
    assert len(records) == 2 and records[0]["config"]["method"] == records[1]["config"]["method"]
    task = build(records, include_dirty=True).tasks["lhco"]
    assert sorted(row.label for row in task.rows + task.dirty) == ["pca (tuned, budget 1) (validation hold-out 0.25)",
                                                                   "pca (validation hold-out 0.25)"]


def test_running_the_same_tune_again_resumes_instead_of_starting_over(tmp_path, noisy_file, monkeypatch, cli):
    from qhep.harness import sweep as sweep_module

    calls = []
    original = sweep_module.finish

    def interrupt_at_the_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(sweep_module, "finish", interrupt_at_the_third)
    code, _, err = _tune(cli, tmp_path, noisy_file)
    assert code == 130 and "run the same qhep tune command again" in err
    monkeypatch.setattr(sweep_module, "finish", lambda *a, **k: calls.append(1) or original(*a, **k))
    calls.clear()
    code, out, err = _tune(cli, tmp_path, noisy_file)
    assert code == 0, err
    assert "going on with the search sweep" in err
    assert len(calls) == 1 + 4  # the unfinished candidate, then the final runs
    calls.clear()
    code, out, err = _tune(cli, tmp_path, noisy_file)
    assert code == 0 and calls == [] and "going on with the final sweep" in err  # all done: nothing runs
    assert len(list((tmp_path / "r" / "sweeps").iterdir())) == 2
    for folder in (tmp_path / "r" / "sweeps").iterdir():  # a sweep over a list of points resumes like any other
        assert json.loads((folder / "sweep.json").read_text())["kind"] == "points"
        code, _, err = cli("resume", folder)
        assert code == 0 and calls == [], err


@pytest.mark.parametrize("setting, message", [
    ("tune.budget=0", "tune.budget: must be >= 1"),
    ("tune.budget=many", "tune.budget: must be a whole number"),
    ("tune.search=bayes", "tune.search: choose one of: grid, random"),
    ("tune.bogus=1", "unknown tune setting"),
    ("tune.validation_fraction=0", "tune.validation_fraction: must be > 0"),
    ("tune.seeds=0,0", "tune.seeds: must not repeat"),
    ("seed=3", "qhep tune sets the seeds"),
    ("protocol.validation_fraction=0.2", "set tune.validation_fraction"),
    ("method.bandwidth=0.3", "method.bandwidth is searched by qhep tune"),
    ("tune.search=grid", "does not fit tune.budget=3"),
    ("method.max_train_events=10,20", "one value per run setting"),
])
def test_bad_tune_settings_are_one_line(tmp_path, lhco_file, cli, setting, message):
    code, out, err = _tune(cli, tmp_path, lhco_file, setting)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "r").exists()  # nothing ran

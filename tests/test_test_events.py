"""test_events: a seeded, stratified subsample of the test set (what bounds simulator and QPU time)."""
import json

import numpy as np
import pytest

from qhep.cli import main
from qhep.errors import QhepError
from qhep.harness.subsample import stratified_subsample


def test_subsample_keeps_the_signal_fraction_and_the_seed():
    y = np.array([0] * 300 + [1] * 100)
    keep = stratified_subsample(y, 40, seed=3)
    assert len(keep) == len(set(keep)) == 40 and (np.diff(keep) > 0).all()
    assert (y[keep] == 1).sum() == 10  # 25 % signal, as in the whole set
    assert (stratified_subsample(y, 40, seed=3) == keep).all() and (stratified_subsample(y, 40, seed=4) != keep).any()
    assert stratified_subsample(y, None, 0) is None and stratified_subsample(y, 400, 0) is None
    with pytest.raises(QhepError, match="at least 2"):
        stratified_subsample(y, 1, 0)


def test_run_scores_the_subsample_and_records_it(tmp_path, capsys, lhco_file):
    args = ["run", "method=ae", "method.epochs=2", "task.region=all", "progress=false", "plots=false",
            f"task.data.path={lhco_file}", "test_events=100"]
    for folder in ("a", "b"):
        assert main([*args, f"results_dir={tmp_path / folder}"]) == 0
    records = [json.loads(next((tmp_path / f).rglob("result.json")).read_text()) for f in ("a", "b")]
    flow, metrics = records[0]["cutflow"], records[0]["metrics"]
    assert flow["test_events_before_subsample"] == 400  # 200 background left after training + 200 signal
    assert flow["test_background"] == metrics["test_background"] == 50 and flow["test_signal"] == 50
    assert records[0]["metrics"] == records[1]["metrics"]  # the same events for the same seed
    capsys.readouterr()
    code = main([*args[:-1], "test_events=0", f"results_dir={tmp_path / 'bad'}"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip() == "qhep: error: invalid value 0 for test_events: must be >= 2" and not (tmp_path / "bad").exists()

"""Before long simulator or QPU work: the estimate is said first, and a run over the backend's budget is refused."""
import json

import pytest

from qhep.cli import main
from qhep.text import format_duration

RUN = ["run", "method=qae", "method.n_layers=1", "method.epochs=1", "task.region=all", "progress=false", "plots=false"]


@pytest.mark.parametrize("seconds, words", [(0.5, "0.50 s"), (12.4, "12 s"), (250, "4 min 10 s"),
                                            (6000, "1 h 40 min"), (5_351_189, "62 days"), (1e9, "32 years")])
def test_durations_in_the_unit_a_person_reads(seconds, words):
    assert format_duration(seconds) == words


def test_a_run_over_budget_is_refused_with_the_estimate_and_the_ways_forward(tmp_path, capsys, lhco_file):
    code = main([*RUN, "backend=aer", "backend.max_minutes=0.001", f"task.data.path={lhco_file}",
                 f"results_dir={tmp_path / 'r'}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "would take about" in err and "training" in err
    assert "backend.max_minutes=0.001" in err and "method.train_backend=fast" in err and "test_events=" in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("backend", ["aer", "default.qubit"])
def test_the_estimate_is_said_before_the_work(tmp_path, capsys, lhco_file, backend):
    code = main([*RUN, f"backend={backend}", "test_events=100", f"task.data.path={lhco_file}",
                 f"results_dir={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.startswith("qhep: about ") and f"on backend {backend} (training" in err and "timed sample" in err


def test_no_estimate_where_all_runs_on_the_exact_engine(tmp_path, capsys, lhco_file):
    assert main([*RUN, f"task.data.path={lhco_file}", f"results_dir={tmp_path}"]) == 0
    assert "about" not in capsys.readouterr().err


def test_a_dry_run_says_qpu_time_in_human_units(capsys, lhco_file):
    assert main(["run", "method=qae", "backend=fake", "method.optimizer=qng", "dry_run=true", "task.region=all",
                 f"task.data.path={lhco_file}"]) == 0
    plan = json.loads(capsys.readouterr().out)["dry_run"]
    seconds, words = plan["training"]["estimated_qpu_seconds"], plan["training"]["estimated_qpu_time"]
    assert seconds > 0 and words == format_duration(seconds)


def test_a_sweep_is_priced_before_its_folder_exists(tmp_path, cli, lhco_file):
    code, _, err = cli("sweep", *RUN[1:], "backend=aer", "backend.shots=100,200", "backend.max_minutes=0.0001",
                       f"task.data.path={lhco_file}", f"results_dir={tmp_path}")
    assert code == 2 and "would take about" in err and "backend.max_minutes" in err
    assert not (tmp_path / "sweeps").exists()
    code, _, err = cli("sweep", *RUN[1:], "backend=aer", "backend.shots=100,200", "test_events=50",
                       f"task.data.path={lhco_file}", f"results_dir={tmp_path}")
    assert code == 0 and "of simulator or QPU work in 2 point(s)" in err

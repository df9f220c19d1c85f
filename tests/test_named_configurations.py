"""Named configurations (published setups declared on the method classes): composing one, overrides on top, the
record naming it, `qhep list`, bad names, rows labelled `qae [ngairangbam2021]`, and every declaration's contract."""
from __future__ import annotations

import json

import pytest

from qhep.methods import named

TINY = ["method.epochs=1", "task.region=all", "progress=false", "plots=false", "bootstrap=20"]
PUBLISHED_QAE = "qae/ngairangbam2021"


def _compose(*overrides):
    from qhep.config import compose_run

    return compose_run(list(overrides))


def test_composing_a_named_configuration_gives_its_settings_and_overrides_win():
    declared = named.named_of("qae")["ngairangbam2021"].settings
    by_name = _compose(f"method={PUBLISHED_QAE}").method
    spelled_out = _compose("method=qae", *(f"method.{k}={v}" for k, v in declared.items())).method
    assert by_name == spelled_out and by_name.name == "qae"
    assert {k: by_name[k] for k in declared} == declared
    assert _compose("method=qae").method.n_layers == 5  # the default is untouched
    changed = _compose(f"method={PUBLISHED_QAE}", "method.epochs=5", "method.n_layers=3").method
    assert changed.epochs == 5 and changed.n_layers == 3 and changed.rotation == "ry" and changed.optimizer == "qng"


@pytest.mark.parametrize("choice", sorted(named.options()))
def test_every_named_configuration_composes_and_passes_its_checks(choice):
    """The contract of a declaration: it names settings of its method, composes on a task its method reads, every
    value passes the declared checks (compose_run refuses otherwise) and the settings check of the method class."""
    from omegaconf import OmegaConf

    from qhep.config import config_problems
    from qhep.methods import METHODS
    from qhep.tasks import TASKS

    method, name = named.options()[choice]
    estimator = METHODS[method][0]
    declared = estimator.named_configurations[name]
    assert declared.settings and "name" not in declared.settings
    assert "arXiv:" in declared.source and declared.description and "\n" not in declared.description
    task = next(t for t, card in TASKS.items() if estimator.view in card.views)
    cfg = _compose(f"task={task}", f"method={choice}")
    assert cfg.method.name == method and config_problems(cfg) == []
    assert {k: cfg.method[k] for k in declared.settings} == declared.settings
    assert named.matching(method, OmegaConf.to_container(cfg.method)) == name
    assert named.matching(method, OmegaConf.to_container(_compose(f"task={task}", f"method={method}").method)) is None


def test_a_bad_name_is_one_line_listing_the_valid_ones(cli):
    code, out, err = cli("run", "method=qae/ngairangbam", "progress=false")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "unknown named configuration 'ngairangbam' of method qae" in err and PUBLISHED_QAE in err
    code, _, err = cli("run", "method=ae/anything")
    assert code == 2 and "method ae declares none" in err


def test_list_shows_the_named_configurations_with_their_sources(cli):
    code, out, _ = cli("list")
    assert code == 0 and PUBLISHED_QAE in out and "arXiv:2112.04958" in out
    assert "qsvm/wozniak2023" in out and "arXiv:2301.10780" in out


def test_the_published_qae_run_has_8_parameters_and_its_record_names_it(tmp_path, lhco_file, cli):
    code, _, err = cli("run", f"method={PUBLISHED_QAE}", f"task.data.path={lhco_file}", f"results_dir={tmp_path}",
                       *TINY)
    assert code == 0, err
    (path,) = tmp_path.rglob("result.json")
    record = json.loads(path.read_text())
    assert record["method"] == "qae" and record["config"]["method"]["epochs"] == 1  # the override won
    assert record["resources"]["qubits"] == 4 and record["resources"]["trainable_parameters"] == 8
    assert record["named_configuration"] == {"name": "ngairangbam2021", "source": named.named_of("qae")[
        "ngairangbam2021"].source, "chosen": True, "changed": ["epochs"]}


def test_rows_of_a_named_configuration_are_labelled_and_apart(tmp_path, lhco_file, cli):
    code, _, err = cli("sweep", f"method=qae,{PUBLISHED_QAE}", f"task.data.path={lhco_file}",
                       f"results_dir={tmp_path}", *TINY)
    assert code == 0, err
    (sweep,) = (tmp_path / "sweeps").iterdir()
    assert json.loads((sweep / "sweep.json").read_text())["axes"]["method"] == ["qae", PUBLISHED_QAE]
    code, out, err = cli("leaderboard", "--results", tmp_path, "--sweep", sweep.name, "--grid")
    assert code == 0, err
    assert [line.split(" |")[0] for line in out.splitlines()[2:4]] == ["| qae", "| qae [ngairangbam2021]"]
    code, out, err = cli("report", "--results", tmp_path, "--out", tmp_path / "out", "--include-dirty")
    assert code == 0, err  # (--include-dirty: the records of a test run from a tree being edited rank too)
    cells = [line.split(" | ")[1] for line in (tmp_path / "out" / "LEADERBOARD.md").read_text().splitlines()
             if line.startswith("| ") and " | qae" in line][:2]
    # the named row says what it changed from the published setup (the tiny run's one epoch)
    assert sorted(c.rstrip(" †!") for c in cells) == ["qae [fast]", "qae [ngairangbam2021] [fast] (epochs=1)"]


def test_a_record_with_the_settings_gets_the_label_however_it_was_asked():
    from qhep.reporting.leaderboard import Row, label_settings

    declared = named.named_of("qae")["ngairangbam2021"].settings
    settings = {**named.composed("qae", "ngairangbam2021")}
    record = {"method": "qae", "config": {"method": settings}}
    assert named.label(record) == "qae [ngairangbam2021]"
    assert named.record_section("qae", settings, None) == {"name": "ngairangbam2021", "chosen": False, "changed": [],
                                                           "source": named.named_of("qae")["ngairangbam2021"].source}
    assert named.label({"method": "qae", "config": {"method": {**settings, "n_layers": 3}}}) == "qae"
    row = Row(task="lhco", method="qae", backend="fast", protocol="unsupervised", quantum=True, dirty=False,
              records=[{**record, "task": "lhco", "config": {"method": {**settings, "epochs": 3}}}], seeds=[],
              figures={}, cost={}, weak=False, inputs="", named="ngairangbam2021")
    label_settings([row])
    assert row.label == "qae [ngairangbam2021] [fast] (epochs=3)" and set(declared) <= set(settings)

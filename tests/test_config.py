"""Hydra-style overrides: composition, and one clear line for every kind of mistake."""
import pytest

from qhep.config import compose_run
from qhep.errors import QhepError


def test_defaults_and_overrides_compose():
    cfg = compose_run(["task=lhco", "method=qae", "method.n_layers=4", "method.optimizer=qng", "seed=7",
                       "backend=default.qubit", "task.region=all"])
    assert (cfg.task.name, cfg.method.name, cfg.backend.name) == ("lhco", "qae", "default.qubit")
    assert cfg.method.n_layers == 4 and cfg.method.optimizer == "qng" and cfg.seed == 7
    assert cfg.task.region == "all" and cfg.task.signal_region == [3.3, 3.7]


def test_list_override():
    cfg = compose_run(["task.features=[mjj,mj_min]"])
    assert list(cfg.task.features) == ["mjj", "mj_min"]


@pytest.mark.parametrize(
    "override, message",
    [
        ("method=foo", "unknown method 'foo'; choose one of: ae, chain, classifier, deepsvdd, flow, gmm, iforest"),
        ("backend=ibm_quantum", "unknown backend 'ibm_quantum'; choose one of: aer, default.qubit, fake, fast, ibm, lightning.qubit, pennylane"),
        ("method.n_layer=3", "unknown setting 'method.n_layer'; valid settings of method: name, n_trash, n_layers"),
        ("method.n_layers=three", "invalid value 'three' for method.n_layers (expected int)"),
        ("task.data.pth=x", "unknown setting 'task.data.pth'; valid settings of task.data: path"),
        ("sed=1", "unknown setting 'sed'; valid settings at the top level: task, protocol, method, backend, seed"),
        ("seed", "expected key=value, got 'seed'"),
    ],
)
def test_mistakes_give_one_line_with_valid_choices(override, message):
    with pytest.raises(QhepError) as error:
        compose_run([override])
    assert message in str(error.value) and "\n" not in str(error.value)

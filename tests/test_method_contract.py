"""One contract test over every registered method, in the spirit of scikit-learn's parametrize_with_checks.

Each method: beats random clearly on a separable toy (and the check fails if its score sign were inverted), gives
the same scores for the same seed, scores identically after a save/restore round trip, is refused in one line
under a protocol it does not declare, and runs end to end through `qhep run` with a version-2 record, its per-event
scores file and its saved model.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from qhep.cli import main
from qhep.config import compose_run
from qhep.errors import QhepError
from qhep.harness.scores_file import read_scores
from qhep.methods import METHODS
from qhep.methods.persistence import restore, save
from qhep.protocols import PROTOCOLS

NAMES = sorted(METHODS)


def toy(seed: int = 0, n: int = 600, view: str = "features"):
    """Background near a 2-D plane in 4-D (correlated features plus noise); signal the same, shifted off the plane
    and along it: every method family, density, distance or reconstruction, separates it (an optimal AUC near 1).
    Jet views: one-prong background jets against three-prong signal jets, as images or constituent lists."""
    rng = np.random.default_rng(seed)
    if view != "features":
        from tests.test_conv_autoencoders import blob_images, prong_jets

        make = blob_images if view == "image" else prong_jets
        return make(rng, n, 1), make(rng, n // 4, 3)
    plane = np.array([[1.0, 0.8, 0.2, -0.5], [0.1, -0.6, 1.0, 0.7]])

    def sample(k):
        return rng.normal(size=(k, 2)) @ plane + 0.3 * rng.normal(size=(k, 4))

    return sample(n), sample(n // 4) + np.array([2.0, -2.0, 2.0, -2.0])


# Settings a method needs on the toys and fixtures: the chain's QAE (2 trash qubits) on a 4-D latent space; the jet
# autoencoders small enough for 16 x 16 toy images and a few seconds of training
OVERRIDES = {"chain": ["method.encoder.latent_dim=4"],
             "imageae": ["method.channels=[4,8]", "method.epochs=8", "method.lr=2e-3"],
             "particleae": ["method.epochs=15", "method.lr=2e-3"]}


def view(name: str) -> str:
    return METHODS[name][0].view


def task_for(name: str) -> list[str]:
    """The default task where it offers the method's view, else top."""
    return [] if view(name) == "features" else ["task=top"]


def build(name: str, seed: int = 0):
    from omegaconf import OmegaConf

    protocol = METHODS[name][0].protocols[0]
    settings = OmegaConf.to_object(compose_run([*task_for(name), f"method={name}", f"protocol={protocol}",
                                                *OVERRIDES.get(name, [])]).method)
    return METHODS[name][0](settings, seed=seed, progress=False)


def fitted(name: str, seed: int = 0):
    background, signal = toy(view=view(name))
    method = build(name, seed)
    if "unsupervised" in method.protocols:
        return method.fit(background[:400])
    X = np.concatenate([background[:400], signal[:100]])
    return method.fit(X, np.r_[np.zeros(400), np.ones(100)])


def evaluation_set(name: str):
    background, signal = toy(seed=1, view=view(name))
    join = np.ma.concatenate if isinstance(background, np.ma.MaskedArray) else np.concatenate
    return join([background, signal]), np.r_[np.zeros(len(background)), np.ones(len(signal))]


@pytest.mark.parametrize("name", NAMES)
def test_beats_random_with_the_right_sign(name):
    X, y = evaluation_set(name)
    auc = roc_auc_score(y, fitted(name).anomaly_score(X))
    assert auc > 0.75, auc  # clearly better than random; an inverted sign would give 1 - auc < 0.25


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_scores(name):
    X, _ = evaluation_set(name)
    a, b = fitted(name, seed=3).anomaly_score(X), fitted(name, seed=3).anomaly_score(X)
    assert a.dtype == np.float64 and a.shape == (len(X),) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", NAMES)
def test_save_restore_gives_identical_scores(name, tmp_path):
    X, _ = evaluation_set(name)
    method = fitted(name)
    save(method, tmp_path / "model")
    again = restore(build(name), tmp_path / "model")
    np.testing.assert_array_equal(method.anomaly_score(X), again.anomaly_score(X))
    assert set(vars(again)) >= set(vars(method)) - set(method.runtime)


def test_a_damaged_or_foreign_model_is_refused(tmp_path):
    save(fitted("ae"), tmp_path / "model")
    with pytest.raises(QhepError, match="a model of method ae, not qae"):
        restore(build("qae"), tmp_path / "model")
    (tmp_path / "model" / "state.joblib").write_bytes(b"tampered")
    with pytest.raises(QhepError, match="damaged"):
        restore(build("ae"), tmp_path / "model")


@pytest.mark.parametrize("name", NAMES)
def test_an_undeclared_protocol_is_refused_in_one_line(name):
    for protocol in set(PROTOCOLS) - set(METHODS[name][0].protocols):
        with pytest.raises(QhepError) as error:
            compose_run([*task_for(name), f"method={name}", f"protocol={protocol}"])
        assert f"set protocol={METHODS[name][0].protocols[0]}" in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("name", NAMES)
def test_runs_through_qhep_run(name, tmp_path, capsys, lhco_file):
    protocol = METHODS[name][0].protocols[0]
    # the LHCO fixture for feature methods; the embedded top sample, cut to 800 jets, for the jet views
    task = (["task.region=all", f"task.data.path={lhco_file}"] if view(name) == "features"
            else ["task=top", "task.data.max_jets=800", "task.image_pixels=16"])
    code = main(["run", f"method={name}", *OVERRIDES.get(name, []), f"protocol={protocol}", *task,
                 f"results_dir={tmp_path}", "progress=false", "plots=false", "bootstrap=10"])
    assert code == 0, capsys.readouterr().err
    (path,) = tmp_path.rglob("result.json")
    record = json.loads(path.read_text())
    assert record["schema"] == "qhep.result/2" and record["protocol"]["name"] == protocol
    assert record["requirements"]["view"] == view(name) and record["metrics"]["uncertainties"]["replicates"] == 10
    if view(name) == "features":  # the fixture's signal is far from its background (jet views: their toys above)
        assert record["metrics"]["auc"] > 0.75
    scores = read_scores(path.parent / record["scores_file"])
    assert len(scores["score"]) == record["cutflow"]["test_background"] + record["cutflow"]["test_signal"]
    assert set(scores) >= ({"score", "label", "mjj"} if view(name) == "features" else {"score", "label"})
    assert (path.parent / "model" / "model.json").is_file()

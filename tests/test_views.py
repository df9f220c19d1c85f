"""Named views: a task hands over its events as the view a method declares. The constituents of jets come as a
(N, C, 3) masked array (pT fraction, d-eta, d-phi; the mask marks padding), split by the protocol like any view,
and a method that reads them is checked against what a task offers before any work."""
from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from sklearn.metrics import roc_auc_score

from qhep.config import compose_run, pairing_problems
from qhep.errors import QhepError
from qhep.methods.base import AnomalyDetector
from qhep.tasks import TASKS


def task(name: str):
    """The task on its embedded sample; for the jet tasks its first 3000 jets (both classes: the order is seeded)."""
    cap = ["task.data.max_jets=3000"] if name in ("top", "svj") else []
    return TASKS[name](OmegaConf.to_container(compose_run([f"task={name}", *cap]).task))


class Multiplicity(AnomalyDetector):
    """Minimal constituent method: the number of constituents in the jet (tops have more than QCD jets)."""

    name = "multiplicity"
    view = "constituents"

    def __init__(self, config=None, seed=0, **_):
        pass

    def fit(self, X, y=None):
        self.mean_ = float((~np.ma.getmaskarray(X)[..., 0]).sum(axis=1).mean())
        return self

    def anomaly_score(self, X):
        return (~np.ma.getmaskarray(X)[..., 0]).sum(axis=1) - self.mean_


def test_constituents_view_is_masked_and_split_like_features():
    top = task("top")
    features, constituents = top.load(seed=0), top.load(seed=0, view="constituents")
    X = constituents.train.X
    assert isinstance(X, np.ma.MaskedArray) and X.shape == (len(features.train), 50, 3)
    assert constituents.features == ["pt_fraction", "deta", "dphi"]
    # the same events in the same split, whatever the view
    np.testing.assert_array_equal(features.test.y, constituents.test.y)
    kept = ~np.ma.getmaskarray(X)[..., 0]
    assert kept[:, 0].all() and np.allclose(X.filled(0)[..., 0].sum(axis=1)[kept.sum(1) < 50], 1.0)  # pT fractions
    pt = X.filled(0)[..., 0]
    assert (np.diff(pt, axis=1) <= 1e-12).all()  # pT-sorted, padding last
    scores = Multiplicity().fit(X).anomaly_score(constituents.test.X)
    assert roc_auc_score(constituents.test.y, scores) > 0.6  # tops have more constituents (50 kept: many saturate)


def test_a_view_a_task_does_not_offer_is_refused():
    with pytest.raises(QhepError, match="task lhco has no constituents view; its views: features"):
        task("lhco").load(seed=0, view="constituents")


def test_the_pairing_is_checked_from_the_declarations(monkeypatch):
    from qhep import config

    lhco, top = compose_run(["task=lhco"]), compose_run(["task=top"])
    monkeypatch.setitem(config.METHODS, "qae", (Multiplicity, config.METHODS["qae"][1]))
    (problem,) = pairing_problems(lhco, [])
    assert problem == "method qae reads the constituents view; task lhco offers: features (set task=top or task=svj)"
    assert pairing_problems(top, []) == []


def test_image_view_by_hand():
    from qhep.tasks.constituent_task import jet_images

    # Two constituents at eta 0: 300 GeV at phi 0, 100 GeV at phi 0.4. The pT-weighted centroid is at phi 0.1;
    # the principal axis lies along phi, pointing at the off-centre leading constituent: after the rotation the
    # leading one sits at d-phi +0.1... its sign fixed so that it is positive, the other at -0.3.
    pt, phi = np.array([300.0, 100.0]), np.array([0.0, 0.4])
    jet = np.stack([pt * np.cos(phi), pt * np.sin(phi), np.zeros(2), pt], axis=-1)[None]
    image = jet_images(jet, np.ones((1, 2), dtype=bool), pixels=4, extent=0.4)[0]  # pixels of 0.2
    expected = np.zeros((4, 4))
    expected[2, 2], expected[2, 0] = 0.75, 0.25  # d-eta 0 -> row 2; d-phi +0.1 -> column 2, -0.3 -> column 0
    np.testing.assert_allclose(image, expected, atol=1e-12)
    # a window too small for the softer constituent leaves its pT fraction out
    assert jet_images(jet, np.ones((1, 2), dtype=bool), pixels=2, extent=0.2)[0].sum() == pytest.approx(0.75)


def test_image_view_of_the_embedded_sample():
    top = task("top")
    images = top.load(seed=0, view="image")
    assert images.train.X.shape[1:] == (40, 40) and images.features == ["pt_fraction"]
    total = images.train.X.sum(axis=(1, 2))
    assert (total <= 1 + 1e-9).all() and np.median(total) > 0.99  # nearly all of the jet's pT in the window
    np.testing.assert_array_equal(images.test.y, top.load(seed=0).test.y)


def test_objects_view_is_masked_by_padding():
    events = task("darkmachines").load(seed=0, view="objects")
    X = events.train.X
    assert isinstance(X, np.ma.MaskedArray) and X.shape[1:] == (20, 5)
    assert events.features == ["type", "e", "pt", "eta", "phi"]
    real = ~np.ma.getmaskarray(X)[..., 0]
    assert (X.data[..., 0][real] >= 1).all() and (X.data[..., 0][~real] == 0).all()  # type 0 is padding only
    pt = X.filled(0)[..., 2]
    assert (np.diff(pt, axis=1) <= 1e-9).all()  # pT-ordered, padding last
    assert real[:, 0].all()  # every selected event has an object (the channel asks for jets)


# --- conditions ---------------------------------------------------------------------------------------------
def conditional_toy(seed: int, n: int):
    """x = m + noise for background, x = -m + noise for signal, m uniform in [-1, 1]: the marginal of x is the
    same for both (an unconditional density cannot tell them apart); p(x | m) separates them, except near m = 0."""
    rng = np.random.default_rng(seed)
    m = rng.uniform(-1, 1, 2 * n)
    y = np.r_[np.zeros(n), np.ones(n)]
    x = np.where(y == 1, -m, m) + 0.1 * rng.normal(size=2 * n)
    return np.column_stack([x, rng.normal(size=2 * n)]), y, m


def test_a_conditional_flow_uses_its_condition():
    from qhep.methods.flow import FlowConfig, FlowDetector

    X, y, m = conditional_toy(0, 1500)
    train = y == 0
    X_test, y_test, m_test = conditional_toy(1, 1000)
    conditional = FlowDetector(FlowConfig(condition="mjj", epochs=30), progress=False).fit(X[train], condition=m[train])
    plain = FlowDetector(FlowConfig(epochs=30), progress=False).fit(X[train])
    # the score the flow learns, from the true background density: -log p(x | m) up to a constant
    best = roc_auc_score(y_test, (X_test[:, 0] - m_test) ** 2 + 0.01 * X_test[:, 1] ** 2)
    assert best > 0.9 and roc_auc_score(y_test, conditional.anomaly_score(X_test, condition=m_test)) > best - 0.02
    assert abs(roc_auc_score(y_test, plain.anomaly_score(X_test)) - 0.5) < 0.1
    with pytest.raises(QhepError, match="conditioned on mjj but was given none"):
        conditional.anomaly_score(X_test)


def test_conditions_are_checked_from_the_declarations(cli, tmp_path):
    code, _, err = cli("run", "task=top", "method=flow", "method.condition=mjj", f"results_dir={tmp_path}")
    assert code == 2 and "method flow is conditioned on mjj; task top offers no condition" in err
    code, _, err = cli("run", "task=lhco", "method=flow", "method.condition=mjj", "task.features=[mjj,tau21_min]",
                       f"results_dir={tmp_path}")
    assert code == 2 and "also one of task.features: drop it from task.features" in err
    assert not (tmp_path / "runs").exists()


def test_a_conditioned_run_is_given_mjj(cli, tmp_path):
    import json

    code, _, err = cli("run", "task=lhco", "method=flow", "method.condition=mjj", "method.epochs=2",
                       "progress=false", "plots=false", f"results_dir={tmp_path}")
    assert code == 0, err
    (record,) = [json.loads(p.read_text()) for p in tmp_path.rglob("result.json")]
    assert record["requirements"]["condition"] == "mjj" and record["requirements"]["view"] == "features"
    assert 0.5 < record["metrics"]["auc"] < 1

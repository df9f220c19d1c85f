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
    return TASKS[name](OmegaConf.to_container(compose_run([f"task={name}"]).task))


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
    assert problem == "method qae reads the constituents view; task lhco offers: features"
    assert pairing_problems(top, []) == []

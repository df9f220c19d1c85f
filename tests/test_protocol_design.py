"""The protocol seam holds the searches that come next without another contract change: a weakly supervised
resonant search (CWoLa: signal region against sidebands, with an injected signal) and a two-sample test (data
against a reference, one statistic per sample, its null from toys), each with a minimal method, on a toy whose
answer is known. Neither is registered here: their full versions come with their issues.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from qhep.methods.base import AnomalyDetector
from qhep.protocols.base import Protocol, ProtocolConfig
from qhep.tasks.base import TaskEvents


def resonant_toy(seed: int = 0, n_background: int = 20000, n_signal: int = 600) -> TaskEvents:
    """Falling mjj background with featureless x; signal a narrow mjj peak at 3.5 with x shifted by 2."""
    rng = np.random.default_rng(seed)
    mjj = np.r_[3.0 + rng.exponential(0.5, n_background), rng.normal(3.5, 0.05, n_signal)]
    x = np.r_[rng.normal(size=(n_background, 2)), rng.normal(size=(n_signal, 2)) + 2.0]
    y = np.r_[np.zeros(n_background, int), np.ones(n_signal, int)]
    return TaskEvents("toy", ["x1", "x2"], x, y, {"name": "toy"}, values={"mjj": mjj})


class WeaklySupervised(Protocol):
    """CWoLa: the data (background plus an injected share of the signal) in the signal region against the
    sidebands; the method is told region membership, never the truth, and is evaluated on held-out truth."""

    name = "weakly_supervised"
    labelled_training = True

    @dataclass
    class Config(ProtocolConfig):
        name: str = "weakly_supervised"
        signal_region: tuple = (3.4, 3.6)
        injected_signal: int = 200

    def split(self, events, seed):
        rng = np.random.default_rng(seed)
        background = rng.permutation(np.flatnonzero(events.y == 0))
        signal = rng.permutation(np.flatnonzero(events.y == 1))
        half = len(background) // 2
        data = np.r_[background[:half], signal[: self.config.injected_signal]]
        return np.sort(data), np.r_[background[half:], signal[self.config.injected_signal:]]

    def training_labels(self, events, train):
        low, high = self.config.signal_region
        mjj = events.values["mjj"][train]
        return ((mjj > low) & (mjj < high)).astype(int)


class TwoSample(Protocol):
    """A data sample against a reference sample of background: the method is told which sample an event is in."""

    name = "two_sample"
    labelled_training = True

    @dataclass
    class Config(ProtocolConfig):
        name: str = "two_sample"
        injected_signal: int = 0

    def split(self, events, seed):
        rng = np.random.default_rng(seed)
        background = rng.permutation(np.flatnonzero(events.y == 0))
        reference, data = background[: len(background) // 2], background[len(background) // 2:]
        data = np.r_[data, np.flatnonzero(events.y == 1)[: self.config.injected_signal]]
        self._in_data = set(data.tolist())
        train = np.sort(np.r_[reference, data])
        return train, train

    def training_labels(self, events, train):
        return np.array([i in self._in_data for i in train], dtype=int)


class RegionClassifier(AnomalyDetector):
    """Minimal CWoLa method: a classifier of the given labels; its output is the anomaly score."""

    name = "region_classifier"
    protocols = ("weakly_supervised",)

    def __init__(self, config=None, seed=0, **_):
        self.seed = seed

    def fit(self, X, y=None):
        self.model_ = LogisticRegression().fit(X, y)
        return self

    def anomaly_score(self, X):
        return self.model_.predict_proba(X)[:, 1]


class MeanShiftTest(AnomalyDetector):
    """Minimal set-level method: t = |mean(data) - mean(reference)|^2 x N, its null from label permutations."""

    name = "mean_shift"
    protocols = ("two_sample",)
    output = "statistic"

    def __init__(self, config=None, seed=0, **_):
        self.seed = seed

    @staticmethod
    def _t(X, y):
        return float(np.sum((X[y == 1].mean(0) - X[y == 0].mean(0)) ** 2) * len(X))

    def fit(self, X, y=None):
        rng = np.random.default_rng(self.seed)
        self.statistic_ = self._t(X, y)
        self.null_ = np.array([self._t(X, rng.permutation(y)) for _ in range(200)])
        self.p_value_ = float((1 + (self.null_ >= self.statistic_).sum()) / (1 + len(self.null_)))
        return self

    def anomaly_score(self, X):  # a statistic method scores samples, not events: one value for the sample
        return np.full(len(X), self.statistic_)


def test_weakly_supervised_search_fits_the_contract():
    events = resonant_toy()
    protocol = WeaklySupervised(WeaklySupervised.Config())
    data = protocol.apply(events, seed=0)
    # the method is told region membership (from mjj), which is not the truth
    assert set(np.unique(data.train_labels)) == {0, 1} and (data.train_labels != data.train.y).any()
    assert data.protocol["name"] == "weakly_supervised" and "mjj" in data.train_values
    scores = RegionClassifier().fit(data.train.X, data.train_labels).anomaly_score(data.test.X)
    assert roc_auc_score(data.test.y, scores) > 0.9  # the injected signal is found without truth labels
    # With no signal injected the regions differ in nothing: the classifier's output is flat (it learnt noise)
    empty = WeaklySupervised(WeaklySupervised.Config(injected_signal=0)).apply(events, seed=0)
    flat = RegionClassifier().fit(empty.train.X, empty.train_labels).anomaly_score(empty.test.X)
    assert flat.std() < 0.1 * scores.std()


def test_two_sample_test_fits_the_contract():
    events = resonant_toy()
    results = {}
    for injected in (0, 600):
        data = TwoSample(TwoSample.Config(injected_signal=injected)).apply(events, seed=1)
        method = MeanShiftTest(seed=1).fit(data.train.X, data.train_labels)
        results[injected] = method.p_value_
        assert method.output == "statistic" and len(method.null_) == 200
    assert results[600] < 0.01 and results[0] > 0.01  # signal: rejected; reference against itself: not


def test_validation_hold_out_is_a_seeded_stratified_part_of_the_evaluation_events():
    from qhep.protocols import make_protocol

    rng = np.random.default_rng(0)
    y = (rng.random(2000) < 0.3).astype(int)
    events = TaskEvents("toy", ["a", "b"], rng.normal(size=(2000, 2)), y, {"sha256": "x"}, {},
                        values={"id": np.arange(2000)})
    plain = make_protocol({"name": "unsupervised"}).apply(events, seed=4)
    held = make_protocol({"name": "unsupervised", "validation_fraction": 0.25}).apply(events, seed=4)
    assert plain.validation is None and np.array_equal(plain.train.X, held.train.X)  # training untouched
    test, validation = set(held.test_values["id"]), set(held.validation_values["id"])
    assert not test & validation and test | validation == set(plain.test_values["id"])
    for label in (0, 1):  # a quarter of each class
        assert (held.validation.y == label).sum() == round(0.25 * (plain.test.y == label).sum())
    again = make_protocol({"name": "unsupervised", "validation_fraction": 0.25}).apply(events, seed=4)
    other = make_protocol({"name": "unsupervised", "validation_fraction": 0.25}).apply(events, seed=5)
    assert np.array_equal(again.validation_values["id"], held.validation_values["id"])
    assert not np.array_equal(other.validation_values["id"], held.validation_values["id"])
    assert held.cutflow["validation_signal"] == (held.validation.y == 1).sum()


def test_a_run_with_a_validation_hold_out_records_its_figures_apart(tmp_path, lhco_file, cli):
    import json

    code, _, err = cli("run", "method=pca", "protocol.validation_fraction=0.4", "task.region=all", "progress=false",
                       f"task.data.path={lhco_file}", f"results_dir={tmp_path}")
    assert code == 0, err
    (path,) = tmp_path.rglob("result.json")
    record = json.loads(path.read_text())
    held, cutflow = record["validation"], record["cutflow"]
    assert held["background"] == cutflow["validation_background"] and held["signal"] == cutflow["validation_signal"]
    assert record["metrics"]["test_background"] == cutflow["test_background"]
    assert 0.4 * (held["background"] + cutflow["test_background"]) == pytest.approx(held["background"], abs=1)
    assert 0.5 < held["metrics"]["auc"] <= 1 and "uncertainties" not in held["metrics"]

"""Classical baselines (qhep.methods.pyod_methods, qhep.methods.sklearn_methods): sign, seeding, and agreement with
the libraries called directly (or the quantity computed by hand) on the same standardised inputs."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from qhep.errors import QhepError
from qhep.methods.pyod_methods import BASELINES as PYOD_BASELINES
from qhep.methods.sklearn_methods import BASELINES as SKLEARN_BASELINES
from qhep.methods.sklearn_methods import subsample
from qhep.settings import declared, undeclared

BASELINES = {**PYOD_BASELINES, **SKLEARN_BASELINES}
STOCHASTIC = {"iforest": {}, "gmm": {"n_components": 3}, "deepsvdd": {}, "kmeans": {"n_clusters": 4},
              "ocsvm": {"max_train_events": 500}, "kde": {"max_train_events": 500}, "knn": {"max_train_events": 500}}
DETERMINISTIC = {"ocsvm": {}, "knn": {}, "kde": {}, "pca": {}}  # all training events used: the seed plays no part


def _correlated(rng, n):
    """Background: two latent Gaussians, each seen twice (the second time with noise): a rank-2 structure."""
    z = rng.normal(size=(n, 2))
    return np.column_stack([z[:, 0], z[:, 1], z[:, 0] + 0.3 * rng.normal(size=n), z[:, 1] + 0.3 * rng.normal(size=n)])


@pytest.fixture(scope="module")
def toy():
    """Unscaled training background, and a test set of background plus signal shifted off its correlation."""
    rng = np.random.default_rng(1)
    scale, offset = np.array([1.0, 50.0, 0.1, 3.0]), np.array([0.0, 100.0, -2.0, 7.0])  # the methods standardise
    train = _correlated(rng, 2000) * scale + offset
    signal = _correlated(rng, 500) + np.array([2.0, 2.0, -2.0, -2.0])
    test = np.vstack([_correlated(rng, 500), signal]) * scale + offset
    return train, test, np.r_[np.zeros(500), np.ones(500)]


def _fitted(name, train, seed=0, **settings):
    estimator, config = BASELINES[name]
    return estimator(config(**settings), seed=seed, progress=False).fit(train)


def _standardised(train, test):
    scaler = StandardScaler().fit(train)
    return scaler.transform(train), scaler.transform(test)


def test_registry_names_settings_and_docs():
    for name, (estimator, config) in BASELINES.items():
        assert estimator.name == name == config().name and not estimator.quantum
        assert not [f for f in undeclared(config) if f != "name"]  # every setting declares its check
        defaults = config()
        assert all(check.why(getattr(defaults, key)) is None for key, check in declared(config).items())
        assert estimator.__doc__
    import qhep.methods.pyod_methods as pyod_module
    import qhep.methods.sklearn_methods as sklearn_module

    for module in (pyod_module, sklearn_module):  # `qhep list` shows the first sentence
        assert module.__doc__.startswith("Classical baselines from ")


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_separable_toy_and_sign(name, toy):
    train, test, y = toy
    model = _fitted(name, train)
    scores = model.anomaly_score(test)
    assert scores.dtype == np.float64 and scores.shape == (len(test),) and np.all(np.isfinite(scores))
    # Higher must mean more anomalous: with the sign inverted this AUC would be 1 - AUC < 0.1, so it fails.
    assert roc_auc_score(y, scores) > 0.9
    resources = model.resources()
    assert resources["train_events"] == len(train) and json.loads(json.dumps(resources)) == resources


def test_kmeans_sum_score_separates(toy):
    train, test, y = toy
    assert roc_auc_score(y, _fitted("kmeans", train, score="sum").anomaly_score(test)) > 0.9  # inverted: < 0.1


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_same_seed_same_scores(name, toy):
    train, test, _ = toy
    settings = STOCHASTIC.get(name, {})
    first = _fitted(name, train, seed=3, **settings).anomaly_score(test)
    assert np.array_equal(first, _fitted(name, train, seed=3, **settings).anomaly_score(test))


@pytest.mark.parametrize("name", sorted(STOCHASTIC))
def test_other_seed_other_scores(name, toy):
    train, test, _ = toy
    settings = STOCHASTIC[name]
    assert not np.array_equal(_fitted(name, train, seed=3, **settings).anomaly_score(test),
                              _fitted(name, train, seed=4, **settings).anomaly_score(test))


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_deterministic_methods_ignore_the_seed(name, toy):
    train, test, _ = toy
    assert np.array_equal(_fitted(name, train, seed=3).anomaly_score(test),
                          _fitted(name, train, seed=4).anomaly_score(test))


@pytest.mark.parametrize("name", ["ocsvm", "knn", "kde", "gmm", "kmeans", "pca"])
def test_inputs_are_standardised_in_fit(name, toy):
    """An affine change of units in every feature leaves the scores unchanged."""
    train, test, _ = toy
    units = np.array([1e3, 0.01, 7.0, 2.0]), np.array([5.0, -3.0, 0.0, 1e4])
    scores = _fitted(name, train).anomaly_score(test)
    rescaled = _fitted(name, train * units[0] + units[1]).anomaly_score(test * units[0] + units[1])
    np.testing.assert_allclose(rescaled, scores, rtol=1e-6, atol=1e-9)


# --- agreement with the libraries on the same standardised inputs -------------------------------------------------

def test_iforest_is_pyod_iforest(toy):
    from pyod.models.iforest import IForest

    train, test, _ = toy
    xs, ts = _standardised(train, test)
    direct = IForest(n_estimators=50, random_state=7).fit(xs).decision_function(ts)
    assert np.array_equal(_fitted("iforest", train, seed=7, n_estimators=50).anomaly_score(test), direct)


def test_ocsvm_is_pyod_ocsvm_and_negated_sklearn(toy):
    from pyod.models.ocsvm import OCSVM
    from sklearn.svm import OneClassSVM

    train, test, _ = toy
    xs, ts = _standardised(train, test)
    ours = _fitted("ocsvm", train, nu=0.2).anomaly_score(test)
    assert np.array_equal(ours, OCSVM(nu=0.2, gamma="auto").fit(xs).decision_function(ts))
    # scikit-learn's decision_function is higher inside the support: the anomaly score is its negative
    direct = -OneClassSVM(nu=0.2, gamma=1 / xs.shape[1]).fit(xs).decision_function(ts)
    np.testing.assert_allclose(ours, direct, rtol=0, atol=1e-10)


def test_ocsvm_fits_on_a_seeded_subsample(toy):
    from pyod.models.ocsvm import OCSVM

    train, test, _ = toy
    xs, ts = _standardised(train, test)  # the scaler sees every training event, the SVM only the subsample
    keep = np.sort(np.random.default_rng(5).choice(len(xs), 300, replace=False))
    assert np.array_equal(subsample(len(xs), 300, 5), keep) and subsample(len(xs), len(xs), 5) is None
    model = _fitted("ocsvm", train, seed=5, max_train_events=300)
    assert np.array_equal(model.anomaly_score(test), OCSVM(gamma="auto").fit(xs[keep]).decision_function(ts))
    assert model.resources()["train_events"] == 300


def test_knn_is_the_kth_neighbour_distance(toy):
    from pyod.models.knn import KNN

    train, test, _ = toy
    xs, ts = _standardised(train, test)
    ours = _fitted("knn", train, n_neighbors=4).anomaly_score(test)
    assert np.array_equal(ours, KNN(n_neighbors=4, method="largest").fit(xs).decision_function(ts))
    by_hand = np.sort(np.linalg.norm(ts[:, None] - xs[None], axis=2), axis=1)[:, 3]
    np.testing.assert_allclose(ours, by_hand, rtol=0, atol=1e-10)


def test_kde_is_minus_log_density(toy):
    from pyod.models.kde import KDE

    train, test, _ = toy
    xs, ts = _standardised(train, test)
    ours = _fitted("kde", train, bandwidth=0.7).anomaly_score(test)
    assert np.array_equal(ours, KDE(bandwidth=0.7).fit(xs).decision_function(ts))
    h, d = 0.7, xs.shape[1]
    squared = np.sum((ts[:, None] - xs[None]) ** 2, axis=2)
    log_density = logsumexp(-squared / (2 * h**2), axis=1) - np.log(len(xs)) - d / 2 * np.log(2 * np.pi * h**2)
    np.testing.assert_allclose(ours, -log_density, rtol=1e-6)  # its tree sums far-away kernels to ~1e-8


def test_gmm_is_pyod_gmm_and_one_component_is_a_gaussian(toy):
    from pyod.models.gmm import GMM

    train, test, _ = toy
    xs, ts = _standardised(train, test)
    ours = _fitted("gmm", train, seed=2, n_components=3).anomaly_score(test)
    assert np.array_equal(ours, GMM(n_components=3, random_state=2).fit(xs).decision_function(ts))
    single = _fitted("gmm", train).anomaly_score(test)
    mean, cov = xs.mean(axis=0), np.cov(xs, rowvar=False, bias=True) + 1e-6 * np.eye(xs.shape[1])
    centred = ts - mean
    nll = 0.5 * (np.einsum("ij,jk,ik->i", centred, np.linalg.inv(cov), centred) + np.linalg.slogdet(cov)[1]
                 + xs.shape[1] * np.log(2 * np.pi))
    np.testing.assert_allclose(single, nll, rtol=1e-8)


def test_deepsvdd_is_pyod_deepsvdd(toy):
    import torch
    from pyod.models.deep_svdd import DeepSVDD

    train, test, _ = toy
    xs, ts = _standardised(train, test)
    model = _fitted("deepsvdd", train, seed=6, epochs=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the adapter trains: identical arithmetic
    try:
        torch.manual_seed(6)
        np.random.seed(6)  # PyOD's fit shuffles with numpy's global generator (the adapter seeds it, then restores it)
        direct = DeepSVDD(n_features=4, epochs=3, batch_size=128, preprocessing=False, verbose=0,
                          random_state=6).fit(xs)
    finally:
        torch.set_num_threads(threads)
    assert np.array_equal(model.anomaly_score(test), direct.decision_function(ts).astype(np.float64))
    assert model.resources()["trainable_parameters"] == 4 * 64 + 64 * 32  # bias-free layers


@pytest.mark.parametrize("score", ["nearest", "sum"])
def test_kmeans_distances_by_hand(score, toy):
    from sklearn.cluster import KMeans

    train, test, _ = toy
    xs, ts = _standardised(train, test)
    model = _fitted("kmeans", train, seed=8, n_clusters=3, score=score)
    centres = KMeans(3, n_init=1, random_state=8).fit(xs).cluster_centers_
    np.testing.assert_array_equal(model.model_.cluster_centers_, centres)
    distances = np.linalg.norm(ts[:, None] - centres[None], axis=2)  # (events, centroids)
    by_hand = distances.min(axis=1) if score == "nearest" else np.sqrt(np.sum(distances**2, axis=1))
    np.testing.assert_allclose(model.anomaly_score(test), by_hand, rtol=0, atol=1e-10)


def test_pca_reconstruction_error_by_svd(toy):
    train, test, _ = toy
    xs, ts = _standardised(train, test)
    mean = xs.mean(axis=0)
    _, _, vt = np.linalg.svd(xs - mean, full_matrices=False)
    centred = ts - mean
    residual = centred - centred @ vt[:2].T @ vt[:2]
    np.testing.assert_allclose(_fitted("pca", train).anomaly_score(test), np.mean(residual**2, axis=1),
                               rtol=0, atol=1e-10)


# --- refusals and persistence ---------------------------------------------------------------------------------

def test_refusals_say_what_to_set():
    estimator, config = BASELINES["pca"]
    with pytest.raises(QhepError, match="method.n_components=3 or less"):
        estimator(config(n_components=4)).check_inputs(4)
    estimator(config(n_components=3)).check_inputs(4)
    rng = np.random.default_rng(0)
    with pytest.raises(QhepError, match="method.n_clusters"):
        _fitted("kmeans", rng.normal(size=(3, 2)), n_clusters=4)
    with pytest.raises(QhepError, match="method.n_neighbors"):
        _fitted("knn", rng.normal(size=(5, 2)))


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_fitted_state_round_trips(name, toy):
    """The fitted state (what qhep.methods.persistence saves: the attributes) pickles and scores the same."""
    train, test, _ = toy
    model = _fitted(name, train, **({"epochs": 2} if name == "deepsvdd" else {}))
    assert {"scaler_", "model_", "train_events_"} <= set(vars(model))
    copy = pickle.loads(pickle.dumps(model))
    assert np.array_equal(copy.anomaly_score(test), model.anomaly_score(test))

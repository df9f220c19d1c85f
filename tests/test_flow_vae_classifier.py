"""The normalizing flow, the variational autoencoder and the supervised classifier (qhep.methods.flow, .vae,
.classifier): each against a toy whose answer is known."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from qhep.errors import QhepError
from qhep.methods.classifier import METHOD as CLASSIFIER
from qhep.methods.classifier import ClassifierConfig, SupervisedClassifier
from qhep.methods.flow import METHOD as FLOW
from qhep.methods.flow import FlowConfig, FlowDetector
from qhep.methods.vae import METHOD as VAE
from qhep.methods.vae import VAEConfig, VariationalAutoencoder
from qhep.settings import declared, problems, undeclared

ALL = {**FLOW, **VAE, **CLASSIFIER}


def auc(background_scores, signal_scores) -> float:
    y = np.r_[np.zeros(len(background_scores)), np.ones(len(signal_scores))]
    return roc_auc_score(y, np.r_[background_scores, signal_scores])


def original_units_nll(flow: FlowDetector, X: np.ndarray) -> np.ndarray:
    """The flow's score is the NLL of the standardised event: add the scaler's log-Jacobian."""
    return flow.anomaly_score(X) + np.log(flow.scaler_.scale_).sum()


def banana(rng, n: int) -> np.ndarray:
    """x1 ~ N(0, 1), x2 | x1 ~ N(x1^2, 0.5^2): differential entropy log(2 pi e) / 2 + log(2 pi e 0.25) / 2."""
    x1 = rng.standard_normal(n)
    return np.column_stack([x1, x1**2 + 0.5 * rng.standard_normal(n)])


BANANA_ENTROPY = 0.5 * np.log(2 * np.pi * np.e) + 0.5 * np.log(2 * np.pi * np.e * 0.25)


# --- registration and settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(ALL))
def test_every_setting_is_declared_and_its_default_valid(name):
    estimator, config = ALL[name]
    assert estimator.name == name and config().name == name
    assert undeclared(config) == ["name"]
    assert problems(vars(config()), declared(config), "method") == []
    doc = __import__(estimator.__module__, fromlist=["_"]).__doc__
    assert doc and doc.strip()[0].isupper()


def test_bad_settings_are_refused_with_their_name():
    assert problems({**vars(FlowConfig()), "flow": "naf"}, declared(FlowConfig), "method") == \
        ["invalid value 'naf' for method.flow: choose one of: maf, nsf"]
    assert problems({"validation_fraction": 1.0}, {"validation_fraction": declared(FlowConfig)["validation_fraction"]},
                    "method")
    assert problems({"score": "energy"}, {"score": declared(VAEConfig)["score"]}, "method")
    assert problems({"model": "svm"}, {"model": declared(ClassifierConfig)["model"]}, "method")


def test_capabilities():
    assert SupervisedClassifier.protocols == ("supervised",)
    assert "unsupervised" in FlowDetector.protocols and "unsupervised" in VariationalAutoencoder.protocols


# --- flow ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("flow, tolerance", [("maf", 0.08), ("nsf", 0.08)])
def test_flow_learns_a_standard_gaussian(flow, tolerance):
    """Held-out mean NLL of N(0, I_2) close to its entropy log(2 pi e) (measured |gap| <= 0.031 over 6 seeds, both
    flows; the sampling error of the mean is 0.016)."""
    rng = np.random.default_rng(11)
    X, T = rng.standard_normal((2000, 2)), rng.standard_normal((4000, 2))
    model = FlowDetector(FlowConfig(flow=flow, epochs=20), seed=0, progress=False).fit(X)
    assert abs(original_units_nll(model, T).mean() - np.log(2 * np.pi * np.e)) < tolerance
    # and anomalies far from the bulk score higher (an inverted sign would give ~0)
    assert auc(model.anomaly_score(T), model.anomaly_score(rng.standard_normal((500, 2)) + 4.0)) > 0.95


@pytest.mark.parametrize("flow, tolerance", [("maf", 0.1), ("nsf", 0.2)])
def test_flow_learns_a_curved_density(flow, tolerance):
    """A banana x2 = x1^2 + noise (no affine map makes it Gaussian): held-out mean NLL close to the true entropy
    (measured gaps over 5 seeds: maf 0.00-0.034, nsf 0.08-0.11), and per event close to the true NLL."""
    rng = np.random.default_rng(5)
    X, T = banana(rng, 3000), banana(rng, 4000)
    model = FlowDetector(FlowConfig(flow=flow, epochs=20), seed=0, progress=False).fit(X)
    nll = original_units_nll(model, T)
    assert abs(nll.mean() - BANANA_ENTROPY) < tolerance
    true = 0.5 * T[:, 0] ** 2 + 0.5 * ((T[:, 1] - T[:, 0] ** 2) / 0.5) ** 2 + np.log(2 * np.pi * 0.5)
    assert np.median(np.abs(nll - true)) < 0.2  # measured <= 0.11
    # the parabola's inside (x2 << x1^2) is far from the data though close to the mean: it must score high
    assert auc(model.anomaly_score(T), model.anomaly_score(np.column_stack([rng.normal(0, 0.3, 300),
                                                                             np.full(300, 2.5)]))) > 0.95


def test_flow_keeps_its_best_validation_epoch():
    rng = np.random.default_rng(0)
    model = FlowDetector(FlowConfig(epochs=6, validation_fraction=0.25), seed=1, progress=False).fit(
        rng.standard_normal((800, 3)))
    assert len(model.history) == len(model.validation_history) == 6
    assert model.best_epoch_ == int(np.argmin(model.validation_history)) + 1
    no_validation = FlowDetector(FlowConfig(epochs=3, validation_fraction=0.0), progress=False).fit(
        rng.standard_normal((200, 3)))
    assert no_validation.validation_history == [] and no_validation.best_epoch_ == 3


def test_flow_refuses_a_diverging_fit_in_one_line():
    X = np.random.default_rng(0).standard_normal((64, 2))
    with pytest.raises(QhepError) as error:
        FlowDetector(FlowConfig(epochs=2, lr=1e30), progress=False).fit(X)
    assert "lower method.lr" in str(error.value) and "\n" not in str(error.value)


# --- vae -----------------------------------------------------------------------------------------------------------

PLANE = np.array([[1.0, 0.8, 0.2, -0.5], [0.1, -0.6, 1.0, 0.7]])


def plane_toy(rng, k: int, anomalous: bool = False) -> np.ndarray:
    """Background near a 2-D plane in 4-D; anomalies far along the plane and off it (every score can see them)."""
    z = rng.normal(size=(k, 2)) * 0.5 + np.array([3.0, -3.0]) if anomalous else rng.normal(size=(k, 2))
    return z @ PLANE + 0.3 * rng.normal(size=(k, 4)) + (np.array([1.0, -1.0, 1.0, -1.0]) if anomalous else 0.0)


@pytest.fixture(scope="module")
def vae_toy():
    rng = np.random.default_rng(3)
    train, background, signal = plane_toy(rng, 1500), plane_toy(rng, 1000), plane_toy(rng, 250, anomalous=True)
    return VariationalAutoencoder(VAEConfig(), seed=0, progress=False).fit(train), background, signal


@pytest.mark.parametrize("score", ["reconstruction", "kl", "radius"])
def test_vae_scores_separate_a_separable_toy(vae_toy, score):
    model, background, signal = vae_toy
    model.config.score = score
    try:
        assert auc(model.anomaly_score(background), model.anomaly_score(signal)) > 0.8  # measured >= 0.987
    finally:
        model.config.score = VAEConfig().score


def test_vae_kl_and_radius_are_those_of_the_encoder(vae_toy):
    model, background, _ = vae_toy
    with torch.no_grad():
        mean, log_var = (t.numpy() for t in model.model_.encode(
            torch.as_tensor(model.scaler_.transform(background), dtype=torch.float64)))
        decoded = model.model_.decoder(torch.as_tensor(mean)).numpy()
    by_hand = {"kl": 0.5 * np.sum(mean**2 + np.exp(log_var) - 1.0 - log_var, axis=1),
               "radius": np.sqrt(np.sum(mean**2, axis=1)),
               "reconstruction": np.mean((decoded - model.scaler_.transform(background)) ** 2, axis=1)}
    try:
        for score, expected in by_hand.items():
            model.config.score = score
            np.testing.assert_allclose(model.anomaly_score(background), expected, rtol=1e-10, atol=1e-12)
    finally:
        model.config.score = VAEConfig().score
    assert np.all(by_hand["kl"] >= 0)
    assert VariationalAutoencoder.transforms and model.output_dim(4) == VAEConfig().latent_dim
    np.testing.assert_array_equal(model.transform(background), mean)  # the embedding a chain's scorer gets
    assert len(model.history) == VAEConfig().epochs and model.history[-1] < model.history[0]


# --- classifier ----------------------------------------------------------------------------------------------------

def labelled_toy(seed: int, n: int = 1000):
    """Background N(0, I_4), signal N(1.5, I_4): the best AUC is Phi(3 / sqrt 2) = 0.983."""
    rng = np.random.default_rng(seed)
    y = np.r_[np.zeros(n), np.ones(n)].astype(int)
    return rng.standard_normal((2 * n, 4)) + 1.5 * y[:, None], y


@pytest.mark.parametrize("model", ["hgb", "mlp"])
def test_classifier_separates_a_labelled_toy(model):
    X, y = labelled_toy(0)
    T, t = labelled_toy(1)
    fitted = SupervisedClassifier(ClassifierConfig(model=model, epochs=10), seed=0, progress=False).fit(X, y)
    scores = fitted.anomaly_score(T)
    assert roc_auc_score(t, scores) > 0.95  # an inverted sign would give < 0.05
    assert scores.dtype == np.float64 and np.all((scores >= 0) & (scores <= 1))
    assert fitted.resources()["trainable_parameters"] > 0


def test_hgb_is_scikit_learns_estimator_on_standardised_inputs():
    X, y = labelled_toy(0)
    T, _ = labelled_toy(1)
    c = ClassifierConfig()
    ours = SupervisedClassifier(c, seed=7, progress=False).fit(X, y).anomaly_score(T)
    scaler = StandardScaler().fit(X)
    with threadpool_limits(limits=1, user_api="openmp"):  # as the method boosts (same trees, far faster here)
        reference = HistGradientBoostingClassifier(
            max_iter=c.max_iter, learning_rate=c.learning_rate, max_leaf_nodes=c.max_leaf_nodes, max_bins=c.max_bins,
            l2_regularization=c.l2_regularization, early_stopping=c.early_stopping,
            validation_fraction=c.validation_fraction, random_state=7,
        ).fit(scaler.transform(X), y).predict_proba(scaler.transform(T))[:, 1]
    np.testing.assert_array_equal(ours, reference)


@pytest.mark.parametrize("labels, words", [
    (None, "set protocol=supervised"),
    (np.zeros(40), "got only background"),
    (np.ones(40), "got only signal"),
    (np.arange(40) % 3, "labels must be 0 (background) or 1 (signal)"),
    (np.zeros(7), "7 labels for 40 training events"),
])
@pytest.mark.parametrize("model", ["hgb", "mlp"])
def test_classifier_without_two_classes_is_refused_in_one_line(labels, words, model):
    X = np.random.default_rng(0).standard_normal((40, 3))
    with pytest.raises(QhepError) as error:
        SupervisedClassifier(ClassifierConfig(model=model), progress=False).fit(X, labels)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_too_few_events_for_early_stopping_are_refused_in_one_line():
    X = np.random.default_rng(0).standard_normal((40, 3))
    y = np.r_[np.zeros(39), 1]
    with pytest.raises(QhepError) as error:
        SupervisedClassifier(ClassifierConfig(), progress=False).fit(X, y)
    assert "method.early_stopping=false" in str(error.value) and "\n" not in str(error.value)
    for settings in (dict(early_stopping=False), dict(validation_fraction=0.0), dict(model="mlp", epochs=2)):
        scores = SupervisedClassifier(ClassifierConfig(**settings), progress=False).fit(X, y).anomaly_score(X)
        assert np.isfinite(scores).all()


def test_balanced_class_weight_trains_on_a_rare_signal():
    X, y = labelled_toy(0)
    keep = np.r_[np.arange(1000), 1000 + np.arange(50)]  # 5 % signal
    T, t = labelled_toy(1)
    for model in ("hgb", "mlp"):
        fitted = SupervisedClassifier(ClassifierConfig(model=model, class_weight="balanced", epochs=10),
                                      progress=False).fit(X[keep], y[keep])
        assert roc_auc_score(t, fitted.anomaly_score(T)) > 0.95


# --- all three -----------------------------------------------------------------------------------------------------

CASES = {
    "flow maf": lambda seed: FlowDetector(FlowConfig(epochs=3), seed=seed, progress=False),
    "flow nsf": lambda seed: FlowDetector(FlowConfig(flow="nsf", epochs=2), seed=seed, progress=False),
    "vae": lambda seed: VariationalAutoencoder(VAEConfig(epochs=5), seed=seed, progress=False),
    "classifier hgb": lambda seed: SupervisedClassifier(ClassifierConfig(max_iter=20), seed=seed, progress=False),
    "classifier mlp": lambda seed: SupervisedClassifier(ClassifierConfig(model="mlp", epochs=3), seed=seed,
                                                        progress=False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_seed_same_scores_and_threads_left_alone(case):
    X, y = labelled_toy(0, n=300)
    T, _ = labelled_toy(1, n=100)
    threads = torch.get_num_threads()

    def scores(seed):
        model = CASES[case](seed)
        return model.fit(X, y).anomaly_score(T), model

    a, model = scores(4)
    b, _ = scores(4)
    assert a.dtype == np.float64 and a.shape == (len(T),) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, scores(5)[0])  # the seed is used
    assert torch.get_num_threads() == threads
    assert set(model.resources()) >= {"trainable_parameters"} and model.resources()["trainable_parameters"] > 0
    assert hasattr(model, "scaler_") and hasattr(model, "model_") and isinstance(model.history, list)

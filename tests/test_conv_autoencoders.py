"""The convolutional autoencoders on jet images and constituents (qhep.methods.conv_autoencoder): each against a
toy whose answer is known (one-prong background, three-prong signal), and the method contract."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from qhep.errors import QhepError
from qhep.methods import conv_autoencoder
from qhep.methods.conv_autoencoder import (
    METHODS,
    ImageAutoencoder,
    ImageAutoencoderConfig,
    ParticleAutoencoder,
    ParticleAutoencoderConfig,
)
from qhep.methods.persistence import restore, save
from qhep.settings import declared, problems, undeclared

PIXELS = 16  # small images keep the file fast; the default 40 is timed in the change's report
CONSTITUENTS = 30
# Small and quick settings for the toys (the defaults are sized for 40 x 40 images)
IMAGE = {"channels": [4, 8], "epochs": 8, "batch_size": 32, "lr": 2e-3}
PARTICLE = {"epochs": 15, "batch_size": 32, "lr": 2e-3}


def auc(background_scores, signal_scores) -> float:
    y = np.r_[np.zeros(len(background_scores)), np.ones(len(signal_scores))]
    return roc_auc_score(y, np.r_[background_scores, signal_scores])


def prong_axes(rng, prongs: int, radius: tuple[float, float]) -> np.ndarray:
    """(prongs, 2) prong centres: one near the origin, or `prongs` spread round it at a random radius."""
    if prongs == 1:
        return rng.normal(0, 0.1 * radius[0], (1, 2))
    angles = rng.uniform(0, 2 * np.pi) + np.arange(prongs) * 2 * np.pi / prongs + rng.normal(0, 0.3, prongs)
    r = rng.uniform(*radius, prongs)
    return np.column_stack([r * np.cos(angles), r * np.sin(angles)])


def blob_images(rng, n: int, prongs: int, pixels: int = PIXELS) -> np.ndarray:
    """Jet images: a Gaussian blob of pT per prong (random small widths, random pT shares), summing to 0.85-1;
    pixels below 1e-3 are empty, as most pixels of a real jet image."""
    grid = np.arange(pixels) - (pixels - 1) / 2
    images = np.zeros((n, pixels, pixels))
    for i in range(n):
        shares = rng.dirichlet(np.full(prongs, 3.0)) * rng.uniform(0.85, 1.0)
        for share, (row, col) in zip(shares, prong_axes(rng, prongs, (3.0, 5.0))):
            width = rng.uniform(0.5, 1.2)
            blob = np.exp(-((grid[:, None] - row) ** 2 + (grid[None, :] - col) ** 2) / (2 * width**2))
            images[i] += share * blob / blob.sum()
    images[images < 1e-3] = 0.0
    return images


def prong_jets(rng, n: int, prongs: int, n_const: int = CONSTITUENTS) -> np.ma.MaskedArray:
    """Constituent lists (pT fraction, d-eta, d-phi), pT-ordered, padding masked: one-prong jets of 10-25
    constituents, or three-prong jets of 14-30 (the leading n_const kept) spread over three prongs. The
    multiplicities overlap: counting constituents alone does not reach the AUC the tests ask for."""
    X = np.zeros((n, n_const, 3))
    padding = np.ones((n, n_const), dtype=bool)
    for i in range(n):
        m = rng.integers(10, 26) if prongs == 1 else rng.integers(14, 31)
        axes = prong_axes(rng, prongs, (0.2, 0.4))[rng.integers(prongs, size=m)]
        pt = rng.exponential(1.0, m)
        points = np.column_stack([pt / pt.sum(), axes + rng.normal(0, 0.04, (m, 2))])[np.argsort(-pt)][:n_const]
        X[i, : len(points)], padding[i, : len(points)] = points, False
    return np.ma.MaskedArray(X, mask=np.repeat(padding[..., None], 3, axis=-1))


def toy(kind: str, seed: int, n_train: int, n_test: int):
    """Background-only training events, and held-out background and signal."""
    rng = np.random.default_rng(seed)
    make = blob_images if kind == "imageae" else prong_jets
    return make(rng, n_train, 1), make(rng, n_test, 1), make(rng, n_test, 3)


def build(kind: str, seed: int = 0, **settings):
    estimator, config = METHODS[kind]
    return estimator(config(**{**(IMAGE if kind == "imageae" else PARTICLE), **settings}), seed=seed, progress=False)


@pytest.fixture(scope="module", params=sorted(METHODS))
def fitted(request):
    """(kind, fitted method, train, test background, test signal), fitted once per method for this file."""
    kind = request.param
    train, background, signal = toy(kind, 0, 600, 300)
    return kind, build(kind).fit(train), train, background, signal


# --- registration and settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(METHODS))
def test_every_setting_is_declared_and_its_default_valid(kind):
    estimator, config = METHODS[kind]
    assert estimator.name == kind and config().name == kind
    assert estimator.transforms and estimator.protocols == ("unsupervised",)
    assert undeclared(config) == ["name"]
    assert problems(vars(config()), declared(config), "method") == []
    assert config().latent_dim == 8
    assert conv_autoencoder.__doc__.strip()[0].isupper()


def test_views():
    assert ImageAutoencoder.view == "image" and ParticleAutoencoder.view == "constituents"


def test_bad_settings_are_refused_with_their_name():
    image = declared(ImageAutoencoderConfig)
    assert problems({**vars(ImageAutoencoderConfig()), "epochs": 0}, image, "method") == \
        ["invalid value 0 for method.epochs: must be >= 1"]
    assert problems({**vars(ImageAutoencoderConfig()), "channels": [8]}, image, "method") == \
        ["invalid value [8] for method.channels: must be a list of 2 values"]
    particle = declared(ParticleAutoencoderConfig)
    assert problems({**vars(ParticleAutoencoderConfig()), "channels": []}, particle, "method") == \
        ["invalid value [] for method.channels: must not be an empty list"]
    for name, value in (("lr", 0.0), ("latent_dim", 0), ("validation_fraction", 1.0), ("weight_decay", -1.0),
                        ("batch_size", 0)):
        found = problems({**vars(ParticleAutoencoderConfig()), name: value}, particle, "method")
        assert len(found) == 1 and f"method.{name}:" in found[0]


# --- the toys: trained on one-prong jets, three-prong jets are the anomaly ---------------------------------------

def test_three_prong_jets_score_higher(fitted):
    kind, method, _, background, signal = fitted
    assert auc(method.anomaly_score(background), method.anomaly_score(signal)) > 0.85
    assert len(method.history) == method.config.epochs and 1 <= method.best_epoch_ <= method.config.epochs
    assert len(method.validation_history) == method.config.epochs
    assert method.history[-1] < method.history[0]
    if kind == "particleae":  # the prongs are found, not only the multiplicity
        assert auc((~background.mask[..., 0]).sum(1), (~signal.mask[..., 0]).sum(1)) < 0.8


def test_scores_and_latent_coordinates_are_float64_per_event(fitted):
    _, method, _, background, _ = fitted
    scores = method.anomaly_score(background)
    assert scores.shape == (len(background),) and scores.dtype == np.float64 and np.all(scores >= 0)
    latent = method.transform(background)
    assert latent.shape == (len(background), 8) and latent.dtype == np.float64
    assert method.output_dim(background.shape[1]) == 8
    assert method.anomaly_score(background[:0]).shape == (0,) and method.transform(background[:0]).shape == (0, 8)
    n = method.resources()["trainable_parameters"]
    assert isinstance(n, int) and n == sum(p.numel() for p in method.model_.parameters())


def test_scoring_in_batches_does_not_change_scores(fitted, monkeypatch):
    _, method, _, background, _ = fitted
    whole = method.anomaly_score(background)
    monkeypatch.setattr(conv_autoencoder, "SCORE_BATCH", 7)
    np.testing.assert_allclose(method.anomaly_score(background), whole, rtol=1e-5)


def test_the_same_seed_gives_the_same_scores_and_another_seed_others(fitted):
    kind, method, train, background, _ = fitted
    again, other = build(kind).fit(train), build(kind, seed=1).fit(train)
    assert np.array_equal(again.anomaly_score(background), method.anomaly_score(background))
    assert np.array_equal(again.transform(background), method.transform(background))
    assert not np.allclose(other.anomaly_score(background), method.anomaly_score(background))


def test_a_saved_model_scores_the_same_when_restored(fitted, tmp_path):
    kind, method, _, background, _ = fitted
    save(method, tmp_path)
    fresh = build(kind)
    assert fresh.model_ is None
    restore(fresh, tmp_path)
    assert np.array_equal(fresh.anomaly_score(background), method.anomaly_score(background))
    assert np.array_equal(fresh.transform(background), method.transform(background))
    assert fresh.history == method.history and fresh.progress is False


@pytest.mark.parametrize("fitted", ["particleae"], indirect=True)  # images have no mask
def test_a_value_under_the_mask_does_not_change_the_score(fitted):
    _, method, _, background, _ = fitted
    changed = background.copy()
    changed.data[background.mask] = np.where(np.arange(background.mask.sum()) % 2, 1e6, np.nan)
    assert np.array_equal(method.anomaly_score(changed), method.anomaly_score(background))
    assert np.array_equal(method.transform(changed), method.transform(background))
    unmasked = changed.copy()
    unmasked.mask = np.ma.nomask  # the same data read without the mask is another jet
    assert not np.array_equal(np.nan_to_num(method.anomaly_score(unmasked), nan=-1.0),
                              method.anomaly_score(background))


def test_scaling_is_fitted_on_real_constituents_only():
    rng = np.random.default_rng(3)
    train = prong_jets(rng, 40, 1)
    method = build("particleae", epochs=1).fit(train)
    real = train.data[~train.mask].reshape(-1, 3)
    np.testing.assert_allclose(method.mean_, real.mean(axis=0))
    np.testing.assert_allclose(method.std_, real.std(axis=0))
    x = method._tensor(train)  # padding is 0 after scaling
    assert x.shape == (40, 3, CONSTITUENTS) and float(x.transpose(1, 2)[train.mask].abs().max()) == 0.0
    # a plain (unmasked) array is read as every entry real
    build("particleae", epochs=1).fit(train.filled(0.0))


# --- refusals -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pixels", [0, 4, 6, 10, 30, 42])
def test_image_sizes_the_network_cannot_take_are_refused(pixels):
    with pytest.raises(QhepError, match=r"task\.image_pixels") as caught:
        build("imageae").check_inputs(pixels)
    assert "\n" not in str(caught.value) and str(pixels) in str(caught.value)


@pytest.mark.parametrize("pixels", [8, 12])
def test_any_image_size_a_multiple_of_4_trains(pixels):
    build("imageae").check_inputs(pixels)
    images = blob_images(np.random.default_rng(0), 20, 1, pixels)
    method = build("imageae", epochs=1).fit(images)
    assert method.anomaly_score(images).shape == (20,)


def test_too_few_constituents_are_refused():
    with pytest.raises(QhepError, match=r"task\.view_constituents") as caught:
        build("particleae").check_inputs(3)
    assert "\n" not in str(caught.value)
    build("particleae").check_inputs(4)
    jets = prong_jets(np.random.default_rng(0), 20, 1, n_const=4)
    assert build("particleae", epochs=1).fit(jets).anomaly_score(jets).shape == (20,)


@pytest.mark.parametrize("kind", sorted(METHODS))
def test_a_diverging_loss_is_refused_naming_the_learning_rate(kind):
    train, _, _ = toy(kind, 0, 64, 1)
    with pytest.raises(QhepError, match=r"method\.lr") as caught:
        build(kind, lr=1e30, epochs=3, validation_fraction=0.0).fit(train)
    assert "\n" not in str(caught.value)


def test_inputs_of_the_wrong_shape_are_refused():
    with pytest.raises(QhepError, match="square jet images"):
        build("imageae", epochs=1).fit(np.zeros((10, 8, 12)))
    with pytest.raises(QhepError, match=r"\(N, C, 3\)"):
        build("particleae", epochs=1).fit(np.zeros((10, 8, 4)))


def test_without_validation_the_last_epoch_is_kept():
    train, _, _ = toy("particleae", 0, 50, 1)
    method = build("particleae", epochs=2, validation_fraction=0.0).fit(train)
    assert method.best_epoch_ == 2 and method.validation_history == [] and len(method.history) == 2

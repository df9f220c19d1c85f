"""The declared input reduction: applied when a quantum method gets more features than qubits, and recorded."""
import numpy as np
import pytest

from qhep.errors import QhepError
from qhep.harness.reduction import ReductionConfig, reduce_inputs

RNG = np.random.default_rng(0)
TRAIN, TEST = RNG.normal(size=(200, 5)), RNG.normal(size=(50, 5))
NAMES = ["a", "b", "c", "d", "e"]


def test_auto_compresses_only_for_quantum_methods_with_too_many_inputs():
    settings = ReductionConfig(n_components=3)
    _, _, info = reduce_inputs(TRAIN, TEST, NAMES, settings, quantum=False, seed=0)
    assert info["method"] == "none"
    train, test, info = reduce_inputs(TRAIN, TEST, NAMES, settings, quantum=True, seed=0)
    assert train.shape == (200, 3) and test.shape == (50, 3)
    assert info["method"] == "pca" and info["outputs"] == ["pc1", "pc2", "pc3"]
    assert 0 < sum(info["explained_variance_ratio"]) < 1
    _, _, info = reduce_inputs(TRAIN, TEST, NAMES, ReductionConfig(n_components=5), quantum=True, seed=0)
    assert info["method"] == "none"


def test_pca_is_fitted_on_training_events_only():
    train, _, _ = reduce_inputs(TRAIN, TEST, NAMES, ReductionConfig("pca", 2), quantum=False, seed=0)
    np.testing.assert_allclose(train.mean(axis=0), 0, atol=1e-12)  # centred on the training set
    shifted = TEST + 100.0
    _, test, _ = reduce_inputs(TRAIN, shifted, NAMES, ReductionConfig("pca", 2), quantum=False, seed=0)
    assert np.abs(test.mean(axis=0)).max() > 10  # test events are transformed, not refitted


def test_select_by_name_and_errors():
    train, _, info = reduce_inputs(TRAIN, TEST, NAMES, ReductionConfig("select", features=["e", "a"]), False, 0)
    np.testing.assert_array_equal(train, TRAIN[:, [4, 0]])
    assert info["outputs"] == ["e", "a"]
    with pytest.raises(QhepError, match="unknown \\['z'\\]"):
        reduce_inputs(TRAIN, TEST, NAMES, ReductionConfig("select", features=["z"]), False, 0)
    with pytest.raises(QhepError, match="n_components"):
        reduce_inputs(TRAIN, TEST, NAMES, ReductionConfig("pca", 9), False, 0)
    from qhep.config import compose_run

    with pytest.raises(QhepError, match="reduction.method: choose one of: auto, none, pca, select"):
        compose_run(["reduction.method=umap"])

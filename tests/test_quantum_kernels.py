"""Fidelity kernels: one feature-map definition, every engine against qiskit-machine-learning and PennyLane,
hand-computed kernels, shot noise within its statistics, and the kernel methods against scikit-learn."""
from __future__ import annotations

import json

import numpy as np
import pennylane as qml
import pytest
from sklearn.svm import OneClassSVM

from qhep.cli import main
from qhep.errors import QhepError
from qhep.methods.quantum_kernels import (
    QSVM,
    QKMeansConfig,
    QKMediansConfig,
    QSVMConfig,
    QuantumKMeans,
    QuantumKMedians,
)
from qhep.quantum import kernel_fast
from qhep.quantum.backends import AerBackend, FakeDeviceBackend, PennyLaneBackend
from qhep.quantum.feature_maps import FeatureMap
from qhep.quantum.kernel_fast import FastKernel
from qhep.quantum.kernel_qiskit import feature_map_circuit

MAPS = [FeatureMap(6, "dense"), FeatureMap(5, "dense", reps=2, entangler="all"), FeatureMap(4, "dense", 1, "none"),
        FeatureMap(3, "zz", reps=2), FeatureMap(4, "zz", reps=1, entangler="linear"), FeatureMap(3, "angle")]
IDS = ["dense", "dense-all-odd", "dense-none", "zz", "zz-linear", "angle"]


def angles(rng, n, fmap):
    return rng.uniform(0, np.pi, (n, fmap.n_features))


@pytest.mark.parametrize("fmap", MAPS, ids=IDS)
def test_fast_kernel_equals_qiskit_machine_learning(fmap):
    from qiskit_machine_learning.kernels import FidelityStatevectorKernel

    rng = np.random.default_rng(0)
    x, y = angles(rng, 9, fmap), angles(rng, 4, fmap)
    reference = FidelityStatevectorKernel(feature_map=feature_map_circuit(fmap)[0])
    fast = FastKernel(fmap)
    assert np.abs(fast.gram(x) - reference.evaluate(x)).max() < 1e-10
    assert np.abs(fast.cross(y, x) - reference.evaluate(y, x)).max() < 1e-10


@pytest.mark.parametrize("fmap", MAPS[:4], ids=IDS[:4])
def test_fast_and_pennylane_devices_equal_pennylane_kernel_matrix(fmap):
    rng = np.random.default_rng(1)
    x, y = angles(rng, 5, fmap), angles(rng, 3, fmap)
    wires = range(fmap.n_qubits)

    @qml.qnode(qml.device("default.qubit", wires=fmap.n_qubits))
    def overlap(a, b):
        fmap.qfunc(a)
        qml.adjoint(fmap.qfunc)(b)
        return qml.probs(wires=wires)

    reference = qml.kernels.kernel_matrix(y, x, lambda a, b: overlap(a, b)[0])
    assert np.abs(FastKernel(fmap).cross(y, x) - reference).max() < 1e-10
    for device in ("default.qubit", "lightning.qubit"):
        engine = PennyLaneBackend(device, device).kernel(fmap)
        assert np.abs(engine.cross(y, x) - reference).max() < 1e-10
        assert np.abs(engine.gram(x) - FastKernel(fmap).gram(x)).max() < 1e-10


def test_angle_map_kernel_is_the_product_of_cosines():
    rng = np.random.default_rng(2)
    fmap = FeatureMap(3, "angle")
    x, y = angles(rng, 4, fmap), angles(rng, 5, fmap)
    by_hand = np.prod(np.cos((x[:, None, :] - y[None, :, :]) / 2) ** 2, axis=2)
    assert np.abs(FastKernel(fmap).cross(x, y) - by_hand).max() < 1e-12


def test_one_qubit_dense_map_by_hand():
    # two features, one qubit: U3(x0, x1, 0) U3(pi/2, x0, x1) |0>, with U3 written out
    def u3(t, p, d):
        return np.array([[np.cos(t / 2), -np.exp(1j * d) * np.sin(t / 2)],
                         [np.exp(1j * p) * np.sin(t / 2), np.exp(1j * (p + d)) * np.cos(t / 2)]])

    def state(x):
        return u3(x[0], x[1], 0) @ u3(np.pi / 2, x[0], x[1]) @ np.array([1, 0])

    a, b = np.array([0.3, 1.1]), np.array([2.0, 0.4])
    expected = abs(np.vdot(state(b), state(a))) ** 2
    assert FastKernel(FeatureMap(2, "dense", reps=1)).cross(a[None], b[None])[0, 0] == pytest.approx(expected, abs=1e-12)


def test_blocks_and_batches_change_nothing(monkeypatch):
    rng = np.random.default_rng(3)
    fmap = FeatureMap(6, "dense")
    x, y = angles(rng, 23, fmap), angles(rng, 7, fmap)
    whole = FastKernel(fmap)
    expected_gram, expected_cross = whole.gram(x), whole.cross(x, y)
    monkeypatch.setattr(kernel_fast, "BLOCK", 4)
    monkeypatch.setattr(kernel_fast, "STATE_BATCH", 5)
    blocked = FastKernel(fmap)
    assert np.abs(blocked.gram(x) - expected_gram).max() < 1e-14
    assert np.abs(blocked.cross(x, y) - expected_cross).max() < 1e-14
    assert (np.diag(expected_gram) == 1).all() and (expected_gram == expected_gram.T).all()


def test_single_precision_is_close():
    rng = np.random.default_rng(4)
    fmap = FeatureMap(8, "dense")
    x = angles(rng, 20, fmap)
    single = FastKernel(fmap, dtype=__import__("torch").float32).gram(x)
    assert np.abs(single - FastKernel(fmap).gram(x)).max() < 1e-5


def test_aer_exact_equals_fast_and_gram_runs_pairs_above_the_diagonal():
    rng = np.random.default_rng(5)
    fmap = FeatureMap(4, "zz", reps=2)
    x, y = angles(rng, 8, fmap), angles(rng, 3, fmap)
    engine = AerBackend(shots=None).kernel(fmap)
    assert np.abs(engine.gram(x) - FastKernel(fmap).gram(x)).max() < 1e-10
    assert engine.executed()["bindings"] == 8 * 7 // 2
    assert np.abs(engine.cross(y, x) - FastKernel(fmap).cross(y, x)).max() < 1e-10


def test_aer_shots_lie_within_their_statistical_error():
    rng = np.random.default_rng(6)
    fmap = FeatureMap(6, "dense", reps=2)
    x, y = angles(rng, 6, fmap), angles(rng, 5, fmap)
    shots = 4000
    exact = FastKernel(fmap).cross(x, y)
    sampled = AerBackend(shots=shots, seed=3).kernel(fmap).cross(x, y)
    sigma = np.sqrt(exact * (1 - exact) / shots) + 1.0 / shots
    assert (np.abs(sampled - exact) < 5 * sigma).all()
    assert np.abs(sampled - exact).max() > 0  # sampled, not exact


def test_fake_device_kernel_is_noisy_but_close():
    rng = np.random.default_rng(7)
    fmap = FeatureMap(4, "dense", reps=1)  # 2 qubits
    x = angles(rng, 5, fmap)
    engine = FakeDeviceBackend(device="FakeManilaV2", shots=2000).kernel(fmap)
    gram = engine.gram(x)
    exact = FastKernel(fmap).gram(x)
    assert (np.diag(gram) == 1).all() and np.abs(gram - exact).max() < 0.15
    figures = engine.circuit_figures()
    assert figures["device"] == "fake_manila" and figures["transpiled_depth"] > 0


def test_feature_map_refusals():
    with pytest.raises(QhepError, match="unknown feature map"):
        FeatureMap(4, "iqp")
    with pytest.raises(QhepError, match="product state"):
        FeatureMap(4, "angle", entangler="linear")
    assert FeatureMap(5, "dense").n_qubits == 3 and FeatureMap(5, "zz").n_qubits == 5


# --- the methods ------------------------------------------------------------------------------------------------
def blobs(rng, n, centre):
    return rng.normal(size=(n, 4)) * 0.3 + np.asarray(centre)


def test_qsvm_is_scikit_learns_one_class_svm_on_the_kernel():
    rng = np.random.default_rng(8)
    X, test = blobs(rng, 300, [0, 0, 0, 0]), blobs(rng, 50, [0.5, 0, 0, 0])
    method = QSVM(QSVMConfig(nu=0.2, n_train=120, feature_map="zz", reps=1, bandwidth=0.3), seed=1,
                  progress=False).fit(X)
    x = method._training_events(X)  # the same seeded subsample, as angles
    engine = FastKernel(method.fmap_)
    reference = OneClassSVM(kernel="precomputed", nu=0.2).fit(engine.gram(x))
    expected = -reference.decision_function(engine.cross(method._angles(test), x))
    assert np.abs(method.anomaly_score(test) - expected).max() < 1e-9
    figures = method.resources()
    assert figures["train_events"] == 120 and figures["support_vectors"] == len(reference.support_)
    assert 0 < figures["kernel"]["mean"] < 1 and figures["kernel"]["entries"] == 120 * 119


def test_a_narrower_bandwidth_counters_concentration():
    rng = np.random.default_rng(9)
    X = rng.normal(size=(200, 8))
    means = [QSVM(QSVMConfig(bandwidth=b, n_train=100), progress=False).fit(X).resources()["kernel"]["mean"]
             for b in (1.0, 0.3, 0.1)]
    assert means[0] < means[1] < means[2] < 1


def test_qkmeans_finds_two_well_separated_clusters():
    rng = np.random.default_rng(10)
    X = np.concatenate([blobs(rng, 100, [-2, -2, -2, -2]), blobs(rng, 100, [2, 2, 2, 2])])
    method = QuantumKMeans(QKMeansConfig(feature_map="zz", reps=1, bandwidth=0.5, n_train=200), progress=False).fit(X)
    centres = method.scaler_.inverse_transform(method.centroids_ / 0.5)
    assert sorted(np.round(centres[:, 0])) == [-2, 2]
    far = np.full((1, 4), 2.0) + np.array([[0, 0, 4, -4]])
    assert method.anomaly_score(far)[0] > np.percentile(method.anomaly_score(X), 99)


def test_qkmedians_resists_outliers_that_pull_the_mean():
    rng = np.random.default_rng(11)
    X = np.concatenate([blobs(rng, 95, [0, 0, 0, 0]), np.full((5, 4), 30.0)])  # 5 far outliers, one cluster
    mean = QuantumKMeans(QKMeansConfig(n_clusters=1, n_train=100), progress=False).fit(X)
    median = QuantumKMedians(QKMediansConfig(n_clusters=1, n_train=100), progress=False).fit(X)
    bulk = np.median(mean._angles(X[:95]), axis=0)
    assert np.abs(median.centroids_[0] - bulk).max() < np.abs(mean.centroids_[0] - bulk).max()


def test_kernel_methods_refuse_more_clusters_than_events():
    with pytest.raises(QhepError, match="n_clusters"):
        QuantumKMeans(QKMeansConfig(n_clusters=5), progress=False).fit(np.zeros((3, 4)))


@pytest.mark.parametrize("method", ["qsvm", "qkmeans"])
def test_dry_run_prices_the_kernel_without_an_account(method, capsys, monkeypatch):
    monkeypatch.delenv("QISKIT_IBM_TOKEN", raising=False)
    monkeypatch.setenv("HOME", "/nonexistent")  # no saved account either
    code = main(["run", "task=lhco", f"method={method}", "method.n_train=100", "backend=ibm",
                 "backend.device=ibm_brisbane", "dry_run=true", "test_events=500", "progress=false"])
    out, err = capsys.readouterr()
    assert code == 0, err
    plan = json.loads(out[out.index("{"):])["dry_run"]
    assert "FakeBrisbane" in plan["planned_on"] and plan["device"] == "fake_brisbane"
    if method == "qsvm":
        assert plan["training"]["bindings"] == 100 * 99 // 2 and plan["scoring"]["bindings"] == 500 * 100
    else:
        assert plan["scoring"]["bindings"] == 500 * 2
    assert plan["scoring"]["estimated_qpu_seconds"] > 0


def test_qsvm_scored_on_aer_after_training_on_fast(tmp_path, capsys):
    code = main(["run", "task=lhco", "method=qsvm", "method.n_train=60", "method.train_backend=fast", "backend=aer",
                 "backend.shots=null", "test_events=40", f"results_dir={tmp_path}", "progress=false", "plots=false",
                 "bootstrap=0"])
    assert code == 0, capsys.readouterr().err
    (path,) = tmp_path.rglob("result.json")
    record = json.loads(path.read_text())
    resources = record["resources"]
    assert resources["execution"]["backend"] == "aer" and resources["train_events"] == 60
    assert resources["execution"]["bindings"] == 40 * resources["support_vectors"]


def test_classical_twins_fit_on_the_quantum_methods_subsample(monkeypatch):
    """qsvm's and qkmeans' n_train and their twins' max_train_events draw the same seeded events: identical inputs."""
    from qhep.methods import quantum_kernels, sklearn_methods
    from qhep.methods.pyod_methods import OCSVMConfig, OneClassSVMDetector
    from qhep.methods.sklearn_methods import KMeansConfig, KMeansDetector

    drawn = []
    original = sklearn_methods.subsample

    def recording(n, cap, seed):
        drawn.append(original(n, cap, seed))
        return drawn[-1]

    monkeypatch.setattr(sklearn_methods, "subsample", recording)
    monkeypatch.setattr(quantum_kernels, "subsample", recording)
    X = np.random.default_rng(5).normal(size=(200, 4))
    fitted = [QuantumKMeans(QKMeansConfig(n_train=50), seed=3, progress=False).fit(X),
              KMeansDetector(KMeansConfig(score="sum", max_train_events=50), seed=3).fit(X),
              QSVM(QSVMConfig(n_train=50), seed=3, progress=False).fit(X),
              OneClassSVMDetector(OCSVMConfig(nu=0.1, max_train_events=50), seed=3).fit(X)]
    assert len(drawn) == 4 and all(np.array_equal(d, drawn[0]) for d in drawn) and len(drawn[0]) == 50
    assert [m.train_events_ for m in fitted] == [50] * 4

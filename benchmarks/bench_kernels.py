"""Fidelity-kernel throughput at 8 qubits: the fast engine against qiskit-machine-learning's statevector kernel and
PennyLane's kernel_matrix, all on the same feature map (the dense map of arXiv:2301.10780, 16 features on 8 qubits,
3 repetitions) and the same events, measured side by side in one setup so that the speed-ups are ratios taken on
one machine at one moment; and fitting qsvm on 10^4 training events.
Targets: the fast engine >= 100x the statevector kernel; a 10^4 x 10^4 Gram in under 10 s on 2 cores.
"""
import time

import numpy as np
import pennylane as qml

from qhep.methods.quantum_kernels import QSVM, QSVMConfig
from qhep.quantum.feature_maps import FeatureMap
from qhep.quantum.kernel_fast import FastKernel
from qhep.quantum.kernel_qiskit import feature_map_circuit

FMAP = FeatureMap(16, "dense", reps=3)
ENGINES = ["fast", "qiskit-machine-learning-statevector", "pennylane-kernel-matrix"]
EVENTS = {"fast": 10_000, "qiskit-machine-learning-statevector": 300, "pennylane-kernel-matrix": 12}  # ~1 s or more


def _events(n, seed=0):
    return np.random.default_rng(seed).uniform(0, np.pi, (n, FMAP.n_features))


def _fast(n):
    x = _events(n)
    tic = time.perf_counter()
    FastKernel(FMAP).gram(x)
    return time.perf_counter() - tic


def _statevector(n):
    from qiskit_machine_learning.kernels import FidelityStatevectorKernel

    x = _events(n)
    kernel = FidelityStatevectorKernel(feature_map=feature_map_circuit(FMAP)[0])
    tic = time.perf_counter()
    kernel.evaluate(x)
    return time.perf_counter() - tic


def _pennylane(n):
    x = _events(n)
    wires = range(FMAP.n_qubits)

    @qml.qnode(qml.device("default.qubit", wires=FMAP.n_qubits))
    def overlap(a, b):
        FMAP.qfunc(a)
        qml.adjoint(FMAP.qfunc)(b)
        return qml.probs(wires=wires)

    tic = time.perf_counter()
    qml.kernels.square_kernel_matrix(x, lambda a, b: overlap(a, b)[0], assume_normalized_kernel=True)
    return time.perf_counter() - tic


def measure():
    """Gram entries per second of each engine (N(N-1)/2 entries for an N-event Gram)."""
    run = {"fast": _fast, "qiskit-machine-learning-statevector": _statevector, "pennylane-kernel-matrix": _pennylane}
    rates = {}
    for engine, fn in run.items():
        n = EVENTS[engine]
        rates[engine] = n * (n - 1) / 2 / fn(n)
    rates["gram_seconds_10k"] = _fast(10_000)
    return rates


class KernelThroughput:
    version = "1"
    timeout = 900

    def setup_cache(self):
        return measure()

    def track_gram_entries_per_second(self, rates, engine):
        return rates[engine]

    track_gram_entries_per_second.params = ENGINES
    track_gram_entries_per_second.param_names = ["engine"]
    track_gram_entries_per_second.unit = "entries/s"

    def track_speedup_of_fast_engine(self, rates, baseline):
        return rates["fast"] / rates[baseline]

    track_speedup_of_fast_engine.params = ENGINES[1:]
    track_speedup_of_fast_engine.param_names = ["baseline"]
    track_speedup_of_fast_engine.unit = "x"

    def track_gram_seconds_10k_events(self, rates):
        return rates["gram_seconds_10k"]

    track_gram_seconds_10k_events.unit = "s (lower is better)"


class QSVMFit:
    version = "1"
    timeout = 900

    def setup(self):
        self.x = np.random.default_rng(1).normal(size=(10_000, 8))

    def time_fit_qsvm_10k_events_8_qubits(self):
        QSVM(QSVMConfig(n_train=10_000), progress=False).fit(self.x)

    def peakmem_fit_qsvm_10k_events_8_qubits(self):
        QSVM(QSVMConfig(n_train=10_000), progress=False).fit(self.x)


# Fitting and scoring qsvm (the default zz map on 4 inputs) on each kernel engine, through the method's own fit /
# anomaly_score: the training Gram on n_train events, then the cross kernel of the test events with the support
# vectors. Sizes take about a second each on 2 cores.
KERNEL_BACKENDS = ["fast", "default.qubit", "lightning.qubit", "aer"]
KERNEL_TRAIN = {"fast": 1000, "default.qubit": 32, "lightning.qubit": 32, "aer": 32}
KERNEL_SCORE = {"fast": 2000, "default.qubit": 32, "lightning.qubit": 32, "aer": 64}


def _qsvm(backend_name, n_train):
    try:
        from qhep.quantum.backends import BACKENDS

        return QSVM(QSVMConfig(n_train=n_train), seed=0, backend=BACKENDS[backend_name], progress=False)
    except (KeyError, TypeError) as exc:
        raise NotImplementedError(f"qsvm on {backend_name} at this commit: {exc}") from None


class QSVMFitScore:
    """Wall time and peak memory of qsvm's fit and anomaly_score on each kernel engine."""

    version = "1"
    params = KERNEL_BACKENDS
    param_names = ["backend"]
    timeout = 300
    number, repeat, rounds, warmup_time = 1, (1, 3, 10.0), 1, 0

    def setup(self, backend):
        rng = np.random.default_rng(2)
        self.train = rng.normal(size=(KERNEL_TRAIN[backend], 4))
        self.test = rng.normal(size=(KERNEL_SCORE[backend], 4))
        self.model = _qsvm(backend, KERNEL_TRAIN[backend])
        self.fitted = _qsvm(backend, KERNEL_TRAIN[backend]).fit(self.train)

    def time_fit(self, backend):
        self.model.fit(self.train)

    def peakmem_fit(self, backend):
        self.model.fit(self.train)

    def time_score(self, backend):
        self.fitted.anomaly_score(self.test)

    def peakmem_score(self, backend):
        self.fitted.anomaly_score(self.test)


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key}: {value:.4g}")

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
    timeout = 900

    def setup(self):
        self.x = np.random.default_rng(1).normal(size=(10_000, 8))

    def time_fit_qsvm_10k_events_8_qubits(self):
        QSVM(QSVMConfig(n_train=10_000), progress=False).fit(self.x)

    def peakmem_fit_qsvm_10k_events_8_qubits(self):
        QSVM(QSVMConfig(n_train=10_000), progress=False).fit(self.x)


if __name__ == "__main__":
    for key, value in measure().items():
        print(f"{key}: {value:.4g}")

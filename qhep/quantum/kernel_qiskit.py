"""Fidelity kernels on Qiskit backends (Aer with shots and noise, fake IBM devices, IBM Quantum).

k(x, y) = P(all zeros) of the compute-uncompute circuit U(y)^dagger U(x) |0>: ONE parametrised circuit, transpiled
once, translated from the feature map's PennyLane operations with one parameter per gate angle (angles that are
products of features, as the ZZ map's, would make the transpiler's symbolic algebra take minutes); a binding's
values are the angles of the very operations traced with numpy for its two events. Every pair of events is a
binding, packed into SamplerV2 PUBs and as few jobs as the limits allow by the same executor as the
QAE's (journal, resume by job id, retries, Batches). A training Gram submits its N(N-1)/2 pairs above the
diagonal only; its diagonal is 1 by definition (the convention of qiskit-machine-learning's
`evaluate_duplicates="off_diagonal"`: on a noisy device a measured k(x, x) < 1 is noise, not similarity).
"""
from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit, transpile
from qiskit.circuit import ParameterVector

from qhep.quantum.feature_maps import FeatureMap
from qhep.quantum.qiskit_circuit import append_operation
from qhep.quantum.qiskit_engine import backend_runner, engine_options, p_zero
from qhep.quantum.qiskit_executor import Compiled, QiskitExecutor


def feature_map_circuit(fmap: FeatureMap, name: str = "x") -> tuple[QuantumCircuit, ParameterVector]:
    """U(x) as a Qiskit circuit with parameters `name`[0..F-1], translated from the PennyLane operations."""
    x = ParameterVector(name, fmap.n_features)
    qc = QuantumCircuit(fmap.n_qubits, name=f"{fmap.kind}_map")
    for op in fmap.operations(x):
        append_operation(qc, op, list(op.data))
    return qc, x


def angle_circuit(fmap: FeatureMap, name: str) -> tuple[QuantumCircuit, ParameterVector]:
    """U as a Qiskit circuit with one parameter per gate angle, in the order of the traced operations' data."""
    ops = fmap.operations(np.zeros(fmap.n_features))
    slots = ParameterVector(name, sum(len(op.data) for op in ops))
    qc, start = QuantumCircuit(fmap.n_qubits, name=f"{fmap.kind}_map"), 0
    for op in ops:
        append_operation(qc, op, list(slots[start : start + len(op.data)]))
        start += len(op.data)
    return qc, slots


def angle_values(fmap: FeatureMap, x: np.ndarray) -> np.ndarray:
    """(N, angles) for events x: the data of the feature map's operations traced with the batch."""
    x = np.asarray(x, dtype=float)
    columns = [np.broadcast_to(np.asarray(v, dtype=float), (len(x),)) for op in fmap.operations(x) for v in op.data]
    return np.stack(columns, axis=1)


def overlap_circuit(fmap: FeatureMap) -> tuple[QuantumCircuit, list[str]]:
    """U(y)^dagger U(x), and the parameter names of a full row of values: x's angles a[..], then y's b[..]."""
    ux, a = angle_circuit(fmap, "a")
    uy, b = angle_circuit(fmap, "b")
    return ux.compose(uy.inverse()), [p.name for p in a] + [p.name for p in b]


class QiskitKernel(QiskitExecutor):
    def __init__(self, fmap: FeatureMap, runner, **options):
        self.fmap = fmap
        self.circuit, names = overlap_circuit(fmap)
        super().__init__(runner, ("fidelity-kernel", fmap), names, **options)

    @property
    def main(self) -> Compiled:
        if "overlap" not in self._compiled:
            # First to a CNOT basis: Qiskit's preset pass managers take minutes translating the 4-qubit ZZ overlap
            # circuit straight to an ECR device (measured with qiskit 2.6 on FakeBrisbane), well under a second so
            self.circuit = transpile(self.circuit, basis_gates=["rz", "sx", "x", "cx"], optimization_level=0)
        return self.compile("overlap", self.circuit, tuple(range(self.fmap.n_qubits)))

    # --- the pairs a kernel needs: what runs, and what detach submits -------------------------------------------
    @staticmethod
    def gram_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.triu_indices(n, k=1)

    def gram_items(self, x) -> list:
        angles = angle_values(self.fmap, x)
        a, b = self.gram_pairs(len(x))
        return [(self.main, np.concatenate([angles[a], angles[b]], axis=1), p_zero)]

    def cross_items(self, x, y) -> list:
        ax, ay = angle_values(self.fmap, x), angle_values(self.fmap, y)
        rows = np.concatenate([np.repeat(ax, len(ay), axis=0), np.tile(ay, (len(ax), 1))], axis=1)
        return [(self.main, rows, p_zero)]

    def gram(self, x) -> np.ndarray:
        n = len(x)
        out = np.eye(n)
        if n > 1:
            (values,) = self.run(self.gram_items(x))
            a, b = self.gram_pairs(n)
            out[a, b] = out[b, a] = values
        return out

    def cross(self, x, y) -> np.ndarray:
        if not len(x) or not len(y):
            return np.zeros((len(x), len(y)))
        (values,) = self.run(self.cross_items(x, y))
        return values.reshape(len(x), len(y))


def qiskit_kernel(fmap: FeatureMap, settings, service=None) -> QiskitKernel:
    """The kernel program on the Qiskit backend these settings describe (aer, fake or ibm)."""
    runner, noise = backend_runner(settings, service)
    options = {k: v for k, v in engine_options(settings).items() if k != "readout"}  # the readout is all qubits
    return QiskitKernel(fmap, runner, noise=noise, **options)

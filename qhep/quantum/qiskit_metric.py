"""The block-diagonal Fubini-Study metric of the QAE, measured on a Qiskit backend (QNG beyond simulators).

This is the metric PennyLane's `metric_tensor(approx="block-diag")` computes (Stokes et al., arXiv:1909.02108):
the trainable rotations fall into layers of mutually independent gates, each exp(-i t P / 2) with a Pauli P on
its own qubit, and a layer's block is the covariance of the generators P/2 in the state just before the layer,
g_ab = (<P_a P_b> - <P_a><P_b>) / 4. One circuit per layer measures it: the layer's past light cone, a basis
change taking each P to Z, and a measurement of the layer's qubits. Entries between layers are 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from qiskit import QuantumCircuit

from qhep.errors import QhepError
from qhep.quantum.qiskit_circuit import QiskitQAE

BASIS_CHANGE = {"rz": (), "rx": ("h",), "ry": ("sdg", "h")}  # gates taking X, Y, Z to Z


@dataclass(frozen=True)
class MetricLayer:
    circuit: QuantumCircuit  # unmeasured: prefix + basis change
    params: tuple[int, ...]  # weight index of each gate of the layer; bit a of the readout belongs to params[a]
    qubits: tuple[int, ...]  # the qubit each gate acts on, in the same order


def metric_layers(program: QiskitQAE) -> list[MetricLayer]:
    """The measurement circuit of every parametrised layer of an unmeasured QAE circuit.

    Layers are grouped as PennyLane's CircuitGraph does: walking the trainable gates in order, a gate opens a new
    layer when it depends on a gate of the current one.
    """
    qc = program.circuit
    weight = {parameter: j for j, parameter in enumerate(program.theta)}
    ancestors: list[set[int]] = []
    last_on_qubit: dict[int, int] = {}
    trainable: list[tuple[int, int]] = []  # (instruction index, weight index)
    for i, inst in enumerate(qc.data):
        cone: set[int] = set()
        for qubit in (qc.find_bit(q).index for q in inst.qubits):
            if qubit in last_on_qubit:
                j = last_on_qubit[qubit]
                cone |= ancestors[j] | {j}
            last_on_qubit[qubit] = i
        ancestors.append(cone)
        weights = [weight[p] for value in inst.operation.params for p in getattr(value, "parameters", ())
                   if p in weight]
        if weights:
            if len(weights) != 1 or inst.operation.name not in BASIS_CHANGE:
                raise QhepError(f"gate {inst.operation.name} is not a single-weight Pauli rotation; "
                                "the measured metric tensor needs that")
            trainable.append((i, weights[0]))
    layers: list[list[tuple[int, int]]] = []
    for i, j in trainable:
        if not layers or any(k in ancestors[i] for k, _ in layers[-1]):
            layers.append([])
        layers[-1].append((i, j))
    return [_layer_circuit(qc, ancestors, layer) for layer in layers]


def _layer_circuit(qc: QuantumCircuit, ancestors: list[set[int]], layer: list[tuple[int, int]]) -> MetricLayer:
    prefix = sorted(set().union(*(ancestors[i] for i, _ in layer)))
    circuit = qc.copy_empty_like(name="qae_metric_layer")
    for k in prefix:
        circuit.append(qc.data[k])
    qubits = []
    for i, _ in layer:
        inst = qc.data[i]
        qubit = qc.find_bit(inst.qubits[0]).index
        for gate in BASIS_CHANGE[inst.operation.name]:
            getattr(circuit, gate)(qubit)
        qubits.append(qubit)
    return MetricLayer(circuit, tuple(j for _, j in layer), tuple(qubits))


def covariance_blocks(frequencies: np.ndarray) -> np.ndarray:
    """Per binding, the block (<P_a P_b> - <P_a><P_b>) / 4 from outcome frequencies (B, 2**m); shape (B, m*m)."""
    m = int(np.log2(frequencies.shape[1]))
    z = 1.0 - 2.0 * ((np.arange(2**m)[:, None] >> np.arange(m)) & 1)  # eigenvalue of each Z_a on each outcome
    mean = frequencies @ z
    second = np.einsum("bo,oa,oc->bac", frequencies, z, z)
    return ((second - mean[:, :, None] * mean[:, None, :]) / 4.0).reshape(len(frequencies), -1)


covariance_blocks.bounds = (-0.25, 0.25)  # covariances of +-1 outcomes, / 4 (result_fits)

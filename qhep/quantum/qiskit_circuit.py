"""The QAECircuit as ONE parametrised Qiskit circuit, translated from its PennyLane operations.

Features are the ParameterVector `x`, weights the ParameterVector `theta` (flattened in `param_shape` order, as
`params.reshape(-1)`), so N events and any shifted weight sets are just rows of one parameter array. PennyLane
wire w is Qiskit qubit w; Qiskit counts bit strings little-endian (qubit 0 rightmost), which the readouts here
never depend on: both ask only whether every measured bit is 0.

Readouts: "trash" measures the trash wires (fidelity = P(all 0)); "swap_test" is the published SWAP test
(references + ancilla, swap_test_qfunc), measuring the ancilla (fidelity = 2 P(ancilla = 0) - 1).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pennylane as qml
from qiskit import ClassicalRegister, QuantumCircuit
from qiskit.circuit import ParameterVector

from qhep.errors import QhepError
from qhep.quantum.ansatz import QAECircuit

READOUTS = ("trash", "swap_test")
READOUT_REGISTER = "readout"
# PennyLane gate -> QuantumCircuit method, same angle order and convention (PennyLane's U3(theta, phi, delta) is
# Qiskit's U(theta, phi, lambda); PhaseShift is P)
QISKIT_GATES = {"RX": "rx", "RY": "ry", "RZ": "rz", "U3": "u", "PhaseShift": "p", "CNOT": "cx", "Hadamard": "h",
                "CSWAP": "cswap"}


@dataclass
class QiskitQAE:
    circuit: QuantumCircuit
    x: ParameterVector
    theta: ParameterVector
    readout: str
    readout_qubits: tuple[int, ...]  # virtual qubits whose all-zero probability the readout needs

    def fidelity(self, p_zero: np.ndarray) -> np.ndarray:
        """Fidelity from the probability (or frequency) that every readout bit is 0."""
        p_zero = np.asarray(p_zero, dtype=float)
        return p_zero if self.readout == "trash" else 2.0 * p_zero - 1.0

    def parameter_names(self) -> list[str]:
        """Column order of a full row of values: x[0..n-1], then theta[0..P-1]."""
        return [p.name for p in self.x] + [p.name for p in self.theta]


def build_qiskit_circuit(qae: QAECircuit, readout: str = "trash", measure: bool = True) -> QiskitQAE:
    if readout not in READOUTS:
        raise QhepError(f"unknown readout {readout!r}; choose one of: {', '.join(READOUTS)}")
    n, k = qae.n_qubits, qae.n_trash
    x = ParameterVector("x", n)
    theta = ParameterVector("theta", qae.n_params)
    # Trace the PennyLane circuit with angles that name their parameter: features -(i+1), weights j.
    feature_tags = -(np.arange(n, dtype=float) + 1.0)
    weight_tags = np.arange(qae.n_params, dtype=float).reshape(qae.param_shape)
    qfunc = qae.qfunc if readout == "trash" else qae.swap_test_qfunc
    ops = qml.tape.make_qscript(qfunc)(feature_tags, weight_tags).operations

    def parameter(value):
        value = float(value)
        if not value.is_integer():
            raise QhepError(f"gate angle {value} is not a circuit parameter; the Qiskit translation needs that")
        return x[int(-value) - 1] if value < 0 else theta[int(value)]

    width = n if readout == "trash" else n + k + 1
    qc = QuantumCircuit(width, name="qae")
    for op in ops:
        append_operation(qc, op, [parameter(v) for v in op.data])
    readout_qubits = tuple(qae.trash_wires) if readout == "trash" else (n + k,)
    if measure:
        add_readout(qc, readout_qubits)
    return QiskitQAE(qc, x, theta, readout, readout_qubits)


def append_operation(qc: QuantumCircuit, op, angles: list) -> None:
    """Append a PennyLane operation to a Qiskit circuit, with its angles given (numbers or Parameters)."""
    wires = [int(w) for w in op.wires]
    if op.name == "Rot":  # Rot(phi, theta, omega) = RZ(omega) RY(theta) RZ(phi): RZ(phi) acts first
        qc.rz(angles[0], wires[0])
        qc.ry(angles[1], wires[0])
        qc.rz(angles[2], wires[0])
    elif op.name in QISKIT_GATES:
        getattr(qc, QISKIT_GATES[op.name])(*angles, *wires)
    else:
        raise QhepError(f"no Qiskit translation for the PennyLane gate {op.name}")


def add_readout(qc: QuantumCircuit, qubits) -> None:
    """Measure `qubits` into the register every sampler result is read from (bit i <- qubits[i])."""
    register = ClassicalRegister(len(qubits), READOUT_REGISTER)
    qc.add_register(register)
    qc.measure(list(qubits), register)


def bind_row(program: QiskitQAE, x_row, params) -> QuantumCircuit:
    """The circuit with one event's features and one weight set bound (for statevector checks)."""
    values = dict(zip(program.x, np.asarray(x_row, dtype=float)))
    values.update(zip(program.theta, np.asarray(params, dtype=float).reshape(-1)))
    return program.circuit.assign_parameters(values)

"""Quantum feature maps for fidelity kernels, defined once with PennyLane operations.

`FeatureMap.qfunc(x)` applies the map's gates to |0...0>, with angles computed from x by plain arithmetic, so
the same function traces with a batch of events (numpy or torch, for the exact engine and PennyLane devices) and
with Qiskit ParameterVector elements (one parametrised circuit for every Qiskit backend). The kernel of two events
is the fidelity of their states, k(x, x') = |<0|U(x')^dagger U(x)|0>|^2.

Maps:
- `dense`: the latent-space paper's (Wozniak, Belis et al., arXiv:2301.10780), two features per qubit; per
  repetition U3(pi/2, x_2i, x_2i+1) on every qubit, the entangler, then U3(x_2i, x_2i+1, 0). Entangler `linear`
  (a CNOT ladder, the paper's), `none` or `all` (a CNOT on every pair).
- `zz`: Havlicek et al.'s ZZ map (Qiskit's ZZFeatureMap), one feature per qubit; per repetition H and
  P(2 x_i) on every qubit, then for each entangled pair CNOT, P(2 (pi - x_i)(pi - x_j)), CNOT. Default `all`.
- `angle`: RX(x_i) per qubit, a product state whose kernel prod_i cos^2((x_i - x'_i) / 2) is classical: the
  sanity line of a comparison.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pennylane as qml

from qhep.errors import QhepError

KINDS = ("dense", "zz", "angle")
ENTANGLERS = ("linear", "none", "all")
DEFAULT_ENTANGLER = {"dense": "linear", "zz": "all", "angle": "none"}


@dataclass(frozen=True)
class FeatureMap:
    n_features: int
    kind: str = "dense"
    reps: int = 3
    entangler: str | None = None  # None: the map's own default (DEFAULT_ENTANGLER)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise QhepError(f"unknown feature map {self.kind!r}; choose one of: {', '.join(KINDS)}")
        if self.entangler is not None and self.entangler not in ENTANGLERS:
            raise QhepError(f"unknown entangler {self.entangler!r}; choose one of: {', '.join(ENTANGLERS)}")
        if self.kind == "angle" and self.entangling != "none":
            raise QhepError("the angle map is a product state: it takes no entangler (leave it unset or none)")
        if self.n_features < 1 or self.reps < 1:
            raise QhepError(f"a feature map needs at least one feature and one repetition, got "
                            f"{self.n_features} features, {self.reps} repetitions")

    @property
    def entangling(self) -> str:
        return self.entangler or DEFAULT_ENTANGLER[self.kind]

    @property
    def n_qubits(self) -> int:
        return math.ceil(self.n_features / 2) if self.kind == "dense" else self.n_features

    def pairs(self) -> list[tuple[int, int]]:
        n = self.n_qubits
        if self.entangling == "all":
            return list(combinations(range(n), 2))
        return [(i, i + 1) for i in range(n - 1)] if self.entangling == "linear" else []

    # --- the circuit ------------------------------------------------------------------------------------------
    def qfunc(self, x) -> None:
        """The map's gates for events x: (..., n_features) numpy or torch, or a Qiskit ParameterVector."""
        n = self.n_qubits
        reps = 1 if self.kind == "angle" else self.reps
        for _ in range(reps):
            if self.kind == "dense":
                for q in range(n):
                    qml.U3(np.pi / 2, feature(x, 2 * q), feature(x, 2 * q + 1), wires=q)
                for a, b in self.pairs():
                    qml.CNOT(wires=[a, b])
                for q in range(n):
                    qml.U3(feature(x, 2 * q), feature(x, 2 * q + 1), 0.0, wires=q)
            elif self.kind == "zz":
                for q in range(n):
                    qml.Hadamard(wires=q)
                    qml.PhaseShift(2.0 * feature(x, q), wires=q)
                for a, b in self.pairs():
                    qml.CNOT(wires=[a, b])
                    qml.PhaseShift(2.0 * (np.pi - feature(x, a)) * (np.pi - feature(x, b)), wires=b)
                    qml.CNOT(wires=[a, b])
            else:
                for q in range(n):
                    qml.RX(feature(x, q), wires=q)

    def operations(self, x) -> list:
        return qml.tape.make_qscript(self.qfunc)(x).operations

    def resources(self) -> dict:
        ops = self.operations(np.zeros(self.n_features))
        depth = [0] * self.n_qubits
        for op in ops:
            level = max(depth[w] for w in op.wires) + 1
            for w in op.wires:
                depth[w] = level
        return {"qubits": self.n_qubits, "feature_map": self.kind, "reps": self.reps, "entangler": self.entangling,
                "gates": len(ops), "two_qubit_gates": sum(len(op.wires) == 2 for op in ops), "depth": max(depth)}


def feature(x, i: int):
    """Feature i of x (0 past the last feature: a dense map's odd feature count leaves one angle empty)."""
    if hasattr(x, "shape") and not hasattr(x, "params"):  # numpy or torch arrays, batched or not
        return x[..., i] if i < x.shape[-1] else 0.0 * x[..., 0]
    return x[i] if i < len(x) else 0.0  # a Qiskit ParameterVector

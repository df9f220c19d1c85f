"""Fidelity kernels on any PennyLane device: compute-uncompute circuits U(x')^dagger U(x), P(all zeros).

One execution per row of the kernel, broadcast over the other events of the row (PennyLane's parameter
broadcasting), so an N x M kernel costs N device executions rather than N x M QNode calls; shots = null is exact.
"""
from __future__ import annotations

import numpy as np
import pennylane as qml

from qhep.errors import QhepError
from qhep.quantum.feature_maps import FeatureMap


class PennyLaneKernel:
    def __init__(self, fmap: FeatureMap, device: str, shots: int | None = None):
        self.fmap, self.name = fmap, device
        wires = range(fmap.n_qubits)
        try:
            self.device = qml.device(device, wires=fmap.n_qubits)
        except Exception as exc:  # unknown or uninstalled plugin
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise QhepError(f"PennyLane device {device!r} is not available: {reason}") from None

        def overlap(x, y):
            fmap.qfunc(x)
            qml.adjoint(fmap.qfunc)(y)
            return qml.probs(wires=wires)

        self.qnode = qml.QNode(overlap, self.device)
        if shots:
            self.qnode = qml.set_shots(self.qnode, shots=shots)
        self.executions = self.entries = 0

    def _row(self, x_row, y) -> np.ndarray:
        self.executions += 1
        self.entries += len(y)
        probs = np.asarray(self.qnode(np.asarray(x_row, dtype=float), np.asarray(y, dtype=float)))
        return probs.reshape(len(y), -1)[:, 0]

    def gram(self, x) -> np.ndarray:
        """Symmetric: row a computes the entries right of its diagonal only."""
        x = np.asarray(x, dtype=float)
        out = np.eye(len(x))
        for a in range(len(x) - 1):
            out[a, a + 1 :] = out[a + 1 :, a] = self._row(x[a], x[a + 1 :])
        return out

    def cross(self, x, y) -> np.ndarray:
        return np.stack([self._row(row, y) for row in np.asarray(x, dtype=float)]) if len(x) else \
            np.zeros((0, len(y)))

    def resources(self) -> dict:
        return {"backend": self.name, "kernel_entries": self.entries, "device_executions": self.executions}

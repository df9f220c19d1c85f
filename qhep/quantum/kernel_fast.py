"""Exact fidelity kernels in torch: the `fast` backend's kernel engine.

Every event's state |Psi(x)> = U(x)|0> is computed at once for a batch: the feature map's PennyLane operations,
traced with the batch of angles, give per-event gate matrices that are applied to the (B, 2**n) states (constant
gates such as CNOTs as index gathers). The kernel is then K = |Psi_a Psi_b^dagger|^2, complex matrix products
over blocks of rows, so memory stays bounded by the states of one block pair plus the output; a training Gram
computes only the blocks on and above its diagonal.
"""
from __future__ import annotations

import numpy as np
import pennylane as qml
import torch

from qhep.quantum.feature_maps import FeatureMap

STATE_BATCH = 256  # events whose states are built together (cache-sized)
BLOCK = 2048  # rows of a kernel block


class FastKernel:
    name = "fast"

    def __init__(self, fmap: FeatureMap, dtype: torch.dtype = torch.float64):
        self.fmap = fmap
        self.dtype = dtype
        self.cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
        self._gathers: dict = {}
        self.entries = 0  # kernel entries computed so far (resources)

    # --- states -------------------------------------------------------------------------------------------
    def states(self, x) -> torch.Tensor:
        """|Psi(x)> for every event, (N, 2**n) complex."""
        x = torch.as_tensor(np.asarray(x), dtype=self.dtype)
        return torch.cat([self._states(x[i : i + STATE_BATCH]) for i in range(0, len(x), STATE_BATCH)]) \
            if len(x) else torch.zeros((0, 2**self.fmap.n_qubits), dtype=self.cdtype)

    def _states(self, x: torch.Tensor) -> torch.Tensor:
        # Gate matrices from numpy-traced operations: PennyLane's torch path costs several times more here
        n, x = self.fmap.n_qubits, x.numpy()
        state = torch.zeros((len(x), 2**n), dtype=self.cdtype)
        state[:, 0] = 1.0
        for op in self.fmap.operations(x):
            gather = self._gather(op) if op.num_params == 0 else None
            if gather is not None:
                state = state[:, gather]
            else:
                state = self._apply(state, [int(w) for w in op.wires], torch.from_numpy(np.asarray(op.matrix())).to(self.cdtype))
        return state

    def _apply(self, state: torch.Tensor, wires: list[int], matrix: torch.Tensor) -> torch.Tensor:
        """A gate on `wires` (wire 0 most significant), its matrix (2^m, 2^m) or one per event (B, 2^m, 2^m)."""
        n, m, batch = self.fmap.n_qubits, len(wires), len(state)
        if m == 1:  # the common case, without moving axes: the (B, left, 2, right) view
            view = state.reshape(batch, 2 ** wires[0], 2, -1)
            out = torch.einsum("bij,bkjl->bkil" if matrix.dim() == 3 else "ij,bkjl->bkil", matrix, view)
            return out.reshape(batch, -1)
        axes = [1 + w for w in wires]
        psi = state.reshape((batch,) + (2,) * n).movedim(axes, list(range(n + 1 - m, n + 1)))
        shape = psi.shape
        psi = psi.reshape(batch, -1, 2**m)
        psi = torch.einsum("bij,brj->bri" if matrix.dim() == 3 else "ij,brj->bri", matrix, psi)
        return psi.reshape(shape).movedim(list(range(n + 1 - m, n + 1)), axes).reshape(batch, -1)

    def _gather(self, op):
        """Index map of a constant permutation gate (CNOT, SWAP), cached; None for anything else."""
        key = (op.name, tuple(op.wires))
        if key not in self._gathers:
            full = qml.matrix(op, wire_order=range(self.fmap.n_qubits))
            is_perm = np.isin(np.round(full, 12), (0, 1)).all() and np.allclose(np.abs(full).sum(axis=1), 1)
            self._gathers[key] = torch.tensor(np.argmax(np.abs(full), axis=1)) if is_perm else None
        return self._gathers[key]

    # --- kernels ------------------------------------------------------------------------------------------
    def gram(self, x) -> np.ndarray:
        """The symmetric training kernel (N, N); blocks above the diagonal computed once and mirrored."""
        psi = self.states(x)
        n = len(psi)
        out = np.empty((n, n))
        for i in range(0, n, BLOCK):
            rows = psi[i : i + BLOCK]
            block = (rows.conj() @ psi[i:].T).abs().square().numpy()
            out[i : i + len(rows), i:] = block
            out[i:, i : i + len(rows)] = block.T
        np.fill_diagonal(out, 1.0)  # exactly: the states are normalised to rounding
        self.entries += n * (n - 1) // 2
        return out

    def cross(self, x, y) -> np.ndarray:
        """k(x_a, y_b) for every pair, (len(x), len(y)); y's states held, x's built block by block."""
        psi_y = self.states(y)
        out = np.empty((len(x), len(y)))
        x = np.asarray(x)
        for i in range(0, len(x), BLOCK):
            out[i : i + BLOCK] = (self.states(x[i : i + BLOCK]).conj() @ psi_y.T).abs().square().numpy()
        self.entries += len(x) * len(y)
        return out

    def resources(self) -> dict:
        return {"backend": self.name, "kernel_entries": self.entries}

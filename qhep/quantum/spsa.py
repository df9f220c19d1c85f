"""SPSA (Spall's simultaneous perturbation stochastic approximation): two loss evaluations per step, whatever the
number of parameters, which is what makes training on shot-limited hardware affordable.

The update is PennyLane's `qml.SPSAOptimizer` (same gain sequences and defaults): with k = 1, 2, ...,
c_k = c / k^gamma, a_k = a / (A + k)^alpha, Delta ~ {-1, +1}^P,
g = [L(theta + c_k Delta) - L(theta - c_k Delta)] / (2 c_k) * Delta, theta <- theta - a_k g.
Here the two perturbed weight sets are evaluated together (one PUB on a Qiskit backend), the perturbations come
from a seeded generator, and `lr` is the first step's gain a_1 (a = lr (A + 1)^alpha), so it means what it
means for the other optimizers.
"""
from __future__ import annotations

import numpy as np
import torch


class SPSA:
    def __init__(self, params: torch.Tensor, maxiter: int, lr: float = 0.05, c: float = 0.2, alpha: float = 0.602,
                 gamma: float = 0.101, A: float | None = None, rng=None):
        self.params = params
        self.A = 0.1 * maxiter if A is None else A
        self.a = lr * (self.A + 1) ** alpha
        self.c, self.alpha, self.gamma = c, alpha, gamma
        self.rng = rng if rng is not None else np.random.default_rng()
        self.k = 1

    @torch.no_grad()
    def step(self, losses) -> float:
        """One update; `losses(weight_sets)` returns the loss at each of the (2, *shape) weight sets.
        Returns the mean of the two losses, the loss estimate SPSA gets for free."""
        ck = self.c / self.k**self.gamma
        delta = torch.as_tensor(self.rng.choice([-1, 1], size=tuple(self.params.shape)), dtype=self.params.dtype)
        plus, minus = np.asarray(losses(torch.stack([self.params + ck * delta, self.params - ck * delta])), dtype=float)
        ak = self.a / (self.A + self.k) ** self.alpha
        self.params -= ak * (plus - minus) / (2 * ck) * delta  # delta_i = 1 / delta_i for +-1 entries
        self.k += 1
        return float(plus + minus) / 2


def fidelity_sets(engine, x: torch.Tensor, weight_sets: torch.Tensor) -> torch.Tensor:
    """Fidelities (S, N) of the events under each weight set: in one execution where the engine can (Qiskit
    backends bind all sets into one PUB), else one set after another."""
    if hasattr(engine, "fidelity_sets"):
        return torch.as_tensor(engine.fidelity_sets(np.asarray(x), np.asarray(weight_sets)))
    with torch.no_grad():
        return torch.stack([engine.fidelity(x, weights) for weights in weight_sets])

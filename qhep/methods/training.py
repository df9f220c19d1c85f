"""Training a torch model on shuffled minibatches with a seeded held-out validation share, keeping the weights of
the epoch with the lowest validation loss (the early-stopping rule of the flow, MLP and autoencoder methods)."""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from qhep.errors import QhepError
from qhep.methods.base import train_epochs


def validation_split(n: int, fraction: float, rng: np.random.Generator, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(training indices, validation indices): a seeded share `fraction` of n events held out."""
    order = rng.permutation(n)
    n_val = round(fraction * n)
    if n_val and n - n_val < 1:
        raise QhepError(f"method {method}: validation_fraction={fraction} leaves no training events of {n}: lower "
                        "method.validation_fraction")
    return order[n_val:], order[:n_val]


@dataclass
class Trained:
    history: list[float]  # mean training loss per epoch
    validation_history: list[float] = field(default_factory=list)  # validation loss per epoch (empty: none)
    best_epoch: int = 0  # 1-based epoch whose weights were kept


def train_keeping_best(model: torch.nn.Module, optimiser: torch.optim.Optimizer, n_train: int, epochs: int,
                       batch_size: int, rng: np.random.Generator, loss: Callable[[np.ndarray], torch.Tensor],
                       validation_loss: Callable[[], float] | None, progress: bool, description: str,
                       diverged: Callable[[float], str]) -> Trained:
    """Minimise loss(batch indices) over shuffled epochs; after each epoch, if validation_loss is given, keep the
    weights of the lowest validation loss so far, and load them at the end. A non-finite training loss stops the
    fit with the line diverged(loss) (it says what to change)."""
    batches_per_epoch = math.ceil(n_train / batch_size)
    state = {"batches": 0, "best": math.inf, "weights": None}
    trained = Trained([])

    def step(batch):
        model.train()
        optimiser.zero_grad()
        value = loss(batch)
        if not torch.isfinite(value):
            raise QhepError(diverged(value.item()))
        value.backward()
        optimiser.step()
        state["batches"] += 1
        if validation_loss is not None and state["batches"] % batches_per_epoch == 0:  # end of an epoch
            val = validation_loss()
            trained.validation_history.append(val)
            if val < state["best"]:  # a non-finite validation loss never counts as best
                state["best"], state["weights"] = val, copy.deepcopy(model.state_dict())
                trained.best_epoch = len(trained.validation_history)
        return value.item()

    trained.history = train_epochs(n_train, epochs, batch_size, rng, step, progress, description)
    if state["weights"] is not None:
        model.load_state_dict(state["weights"])
    else:
        trained.best_epoch = epochs
    model.eval()
    return trained

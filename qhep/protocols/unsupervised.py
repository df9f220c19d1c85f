"""Unsupervised: train on a seeded share of the background; evaluate on the rest of it plus every signal event."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qhep.protocols.base import Protocol, ProtocolConfig, capped
from qhep.tasks.base import TaskEvents


class UnsupervisedProtocol(Protocol):
    name = "unsupervised"

    @dataclass
    class Config(ProtocolConfig):
        name: str = "unsupervised"

    def split(self, events: TaskEvents, seed: int) -> tuple[np.ndarray, np.ndarray]:
        y = events.y
        rng = np.random.default_rng(seed)
        background = rng.permutation(np.flatnonzero(y == 0))
        n_train = int(round(self.config.train_fraction * len(background)))
        # Background beyond the cap is left out of both samples, so the test set does not depend on the cap.
        train = capped(background[:n_train], self.config.max_train_events)
        return train, np.concatenate([background[n_train:], np.flatnonzero(y == 1)])

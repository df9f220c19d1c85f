"""Supervised: train on labelled signal and background, evaluate on held-out events of both: the upper reference.

Each class is split with the same fraction (stratified), so the evaluation sample keeps the task's signal
fraction; the cap on training events keeps that fraction too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qhep.protocols.base import Protocol, ProtocolConfig
from qhep.tasks.base import TaskEvents


class SupervisedProtocol(Protocol):
    name = "supervised"
    labelled_training = True

    @dataclass
    class Config(ProtocolConfig):
        name: str = "supervised"

    def split(self, events: TaskEvents, seed: int) -> tuple[np.ndarray, np.ndarray]:
        y = events.y
        rng = np.random.default_rng(seed)
        train, test = [], []
        cap = self.config.max_train_events
        for label in (0, 1):
            members = rng.permutation(np.flatnonzero(y == label))
            n_train = int(round(self.config.train_fraction * len(members)))
            if cap:  # the cap shared between the classes in proportion
                n_train = min(n_train, int(round(cap * len(members) / len(y))))
            train.append(members[:n_train])
            test.append(members[int(round(self.config.train_fraction * len(members))):])
        return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))

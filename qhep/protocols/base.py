"""What a protocol does: split a task's events (fixed by the seed) into training and evaluation samples, and say
what it did (counts, what the training labels are) for the record.

A protocol decides from the events' truth labels and per-event values (mjj...), never from their features, and
also says what the method is told in training: nothing (unsupervised), the truth (supervised), or labels of its
own (a weakly supervised search's signal-region membership, a two-sample test's data-versus-reference). The same
events and seed give the same samples to every method, classical or quantum.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from qhep.settings import Number, setting
from qhep.tasks.base import Split, TaskData, TaskEvents


@dataclass
class ProtocolConfig:
    name: str = ""
    train_fraction: float = setting(0.5, Number(float, gt=0, lt=1))
    max_train_events: int | None = setting(None, Number(int, ge=1, optional=True))  # cap (null: all)
    # A seeded share of the evaluation events (of each class) held out for choosing settings (`qhep tune`): scored
    # into the record's `validation` section, never into its metrics, which stay the rest's.
    validation_fraction: float = setting(0.0, Number(float, ge=0, lt=1))


class Protocol(ABC):
    name: ClassVar[str]
    # Whether the training sample's labels are given to the method (fit(X, y)) or withheld (fit(X)).
    labelled_training: ClassVar[bool] = False

    def __init__(self, config: ProtocolConfig):
        self.config = config

    @abstractmethod
    def split(self, events: TaskEvents, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """(training indices, evaluation indices) into the events, fixed by the seed."""

    def training_labels(self, events: TaskEvents, train: np.ndarray) -> np.ndarray | None:
        """What fit(X, y) is given as y for the training events (None: nothing)."""
        return events.y[train] if self.labelled_training else None

    def apply(self, events: TaskEvents, seed: int) -> TaskData:
        """The task's events as training and evaluation samples, with the protocol's counts in the cut flow."""
        train, test = self.split(events, seed)
        test, validation = held_out(events.y[test], test, self.config.validation_fraction, seed)
        y = events.y
        cutflow = {**events.cutflow, "train_events": int(len(train)),
                   "train_background": int((y[train] == 0).sum()), "train_signal": int((y[train] == 1).sum()),
                   "test_background": int((y[test] == 0).sum()), "test_signal": int((y[test] == 1).sum())}
        if len(validation):
            cutflow.update(validation_background=int((y[validation] == 0).sum()),
                           validation_signal=int((y[validation] == 1).sum()))
        return TaskData(events.task, events.features, Split(events.X[train], y[train]),
                        Split(events.X[test], y[test]), events.dataset, cutflow, events.expected_counts,
                        test_values={k: v[test] for k, v in events.values.items()},
                        protocol={**asdict(self.config), "labelled_training": self.labelled_training},
                        train_labels=self.training_labels(events, train),
                        train_values={k: v[train] for k, v in events.values.items()},
                        validation=Split(events.X[validation], y[validation]) if len(validation) else None,
                        validation_values={k: v[validation] for k, v in events.values.items()})


def held_out(y: np.ndarray, evaluation: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(test, validation) indices: `fraction` of the evaluation events of each class, seeded, held out. The
    generator is the seed's own stream for this purpose, so the training split is untouched by it."""
    if not fraction:
        return evaluation, evaluation[:0]
    rng = np.random.default_rng([seed, 0x7a11d])
    picked = np.zeros(len(evaluation), dtype=bool)
    for label in (0, 1):
        members = np.flatnonzero(y == label)
        picked[rng.choice(members, int(round(fraction * len(members))), replace=False)] = True
    return evaluation[~picked], evaluation[picked]


def capped(indices: np.ndarray, cap: int | None) -> np.ndarray:
    return indices[:cap] if cap else indices

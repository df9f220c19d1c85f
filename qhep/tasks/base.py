"""What every task provides: named features, a seeded train/test split, and the identity of its data."""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import ClassVar

import numpy as np


@dataclass
class Split:
    X: np.ndarray
    y: np.ndarray  # 1 = signal, 0 = background

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class TaskData:
    task: str
    features: list[str]
    train: Split
    test: Split
    dataset: dict  # identity: source file, sha256, event counts
    cutflow: dict = field(default_factory=dict)
    # Expected signal and background counts in the evaluated region for the task's published injection, when the
    # task defines one: turns efficiencies into an expected significance.
    expected_counts: dict | None = None

    def with_test_subset(self, keep: np.ndarray) -> TaskData:
        """The same data with only the test events `keep`; per-test-event extras (fields test_*) follow."""
        extras = {f.name: getattr(self, f.name)[keep] for f in fields(self)
                  if f.name.startswith("test_") and getattr(self, f.name) is not None}
        return replace(self, test=Split(self.test.X[keep], self.test.y[keep]), **extras)


class Task(ABC):
    name: ClassVar[str]

    def __init__(self, settings: dict):
        from qhep.errors import QhepError
        from qhep.tasks.settings import task_problems  # declares its checks with the tasks' own names

        found = task_problems(settings)
        if found:
            raise QhepError(found[0])
        self.settings = settings

    @abstractmethod
    def load(self, seed: int) -> TaskData:
        """Read the data, apply the task's selection and return the split fixed by `seed`."""

    def metrics(self, data: TaskData, scores: np.ndarray) -> dict:
        """Figures of merit this task adds to the common ones (none by default)."""
        return {}


def embedded_sample(filename: str) -> Path:
    return Path(str(resources.files("qhep.samples").joinpath(filename)))


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unsupervised_split_indices(y: np.ndarray, seed: int, train_fraction: float,
                               max_train: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Training indices: a seeded share of the background; test indices: the rest of it plus all signal."""
    rng = np.random.default_rng(seed)
    background = rng.permutation(np.flatnonzero(y == 0))
    n_train = int(round(train_fraction * len(background)))
    train = background[: min(n_train, max_train) if max_train else n_train]
    return train, np.concatenate([background[n_train:], np.flatnonzero(y == 1)])


def unsupervised_split(X: np.ndarray, y: np.ndarray, seed: int, train_fraction: float,
                       max_train: int | None) -> tuple[Split, Split]:
    """Train on a seeded share of the background; test on the rest of it plus all signal."""
    train, test = unsupervised_split_indices(y, seed, train_fraction, max_train)
    return Split(X[train], y[train]), Split(X[test], y[test])

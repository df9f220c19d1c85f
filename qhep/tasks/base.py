"""What every task provides: its selected events with named features, per-event values and truth labels, and the
identity of its data. Tasks read, select and describe; a protocol (qhep.protocols) splits the events."""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass, field, replace
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
class TaskEvents:
    """Every selected event, rows aligned: features X (N, F), truth labels y, and per-event values that are not
    features (mjj, weight, process...)."""

    task: str
    features: list[str]
    X: np.ndarray
    y: np.ndarray  # 1 = signal, 0 = background
    dataset: dict  # identity: source file, sha256, event counts
    cutflow: dict = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    # Expected signal and background counts in the evaluated region for the task's published injection, when the
    # task defines one: turns efficiencies into an expected significance.
    expected_counts: dict | None = None


@dataclass
class TaskData:
    """A task's events as a protocol split them: the training sample and the evaluation (test) sample."""

    task: str
    features: list[str]
    train: Split
    test: Split
    dataset: dict
    cutflow: dict = field(default_factory=dict)
    expected_counts: dict | None = None
    test_values: dict[str, np.ndarray] = field(default_factory=dict)  # per test event, aligned with test
    protocol: dict = field(default_factory=dict)  # what the protocol did, for the record
    train_labels: np.ndarray | None = None  # what fit(X, y) is told (None: nothing; see qhep.protocols)
    train_values: dict[str, np.ndarray] = field(default_factory=dict)  # per training event (conditions: mjj)
    validation: Split | None = None  # evaluation events held out for choosing settings (protocol.validation_fraction)
    validation_values: dict[str, np.ndarray] = field(default_factory=dict)

    def with_test_subset(self, keep: np.ndarray) -> TaskData:
        """The same data with only the test events `keep`; the per-event values follow."""
        return replace(self, test=Split(self.test.X[keep], self.test.y[keep]),
                       test_values={k: v[keep] for k, v in self.test_values.items()})


# The last few tasks' events, for cached_events: a constituent or image view of 40,000 jets is half a GB
_EVENTS: OrderedDict[str, TaskEvents] = OrderedDict()
EVENTS_KEPT = 2


class Task(ABC):
    name: ClassVar[str]
    # The named views of its events a task hands over (declared as data: a method's `view` is checked against
    # them before any work). "features": (N, F); "constituents" (jets) and "objects" (event objects): (N, C, k) as
    # a numpy masked array, the mask marking padding; "image" (jets): (N, P, P).
    views: ClassVar[tuple[str, ...]] = ("features",)
    # Per-event values a method may be conditioned on (not features: mjj in a resonant search).
    conditions: ClassVar[tuple[str, ...]] = ()

    def __init__(self, settings: dict):
        from qhep.errors import QhepError
        from qhep.tasks.settings import (
            task_problems,  # declares its checks with the tasks' own names
        )

        found = task_problems(settings)
        if found:
            raise QhepError(found[0])
        self.settings = settings

    @abstractmethod
    def events(self, seed: int, view: str = "features") -> TaskEvents:
        """Read the data and apply the task's selection, in the named view (only that one is built: a published
        top-tagging file would hold gigabytes of constituents). `seed`: for a task that subsamples its input."""

    def load(self, seed: int, protocol=None, view: str = "features") -> TaskData:
        """The events in `view`, split by `protocol` (default: unsupervised with its defaults), fixed by `seed`."""
        from qhep.protocols import make_protocol

        if view not in self.views:
            from qhep.errors import QhepError

            raise QhepError(f"task {self.name} has no {view} view; its views: {', '.join(self.views)}")
        return (protocol or make_protocol({"name": "unsupervised"})).apply(self.cached_events(seed, view), seed)

    @abstractmethod
    def files(self) -> list[Path]:
        """The data files events() reads."""

    def seeded(self) -> bool:
        """Whether events() draws from the seed (a task that subsamples its input); the others' events are the
        same for every seed, and computed once (cached_events)."""
        return False

    def cached_events(self, seed: int, view: str) -> TaskEvents:
        """events(seed, view), kept for the next runs of this process: a sweep's seeds and methods split the same
        events (the jet tasks' N-subjettiness takes tens of seconds on 40,000 jets). Callers do not modify them."""
        import json

        try:  # the files as they are now: one rewritten since is read again
            files = [(str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in self.files()]
        except OSError:
            return self.events(seed, view)  # a missing or unreadable file: events() says so in one line
        key = json.dumps([self.name, self.settings, view, seed if self.seeded() else None, files], sort_keys=True,
                         default=str)
        if key not in _EVENTS:
            _EVENTS[key] = self.events(seed, view)
            while len(_EVENTS) > EVENTS_KEPT:
                _EVENTS.popitem(last=False)
        _EVENTS.move_to_end(key)
        return _EVENTS[key]

    def metrics(self, data: TaskData, scores: np.ndarray, statistics=None) -> dict:
        """Figures of merit this task adds to the common ones (none by default), guarded and given uncertainties
        as `statistics` (qhep.harness.metrics.Statistics) says."""
        return {}


def embedded_sample(filename: str) -> Path:
    return Path(str(resources.files("qhep.samples").joinpath(filename)))


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

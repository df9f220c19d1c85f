"""The method contract, modelled on scikit-learn estimators: `fit(X, y=None)`, then `anomaly_score(X)`.

Scores are larger for more anomalous events. X is the task's events in the view the method reads (features
(N, F), constituents or objects (N, C, k) masked, images (N, P, P)). A method that declares a condition (a
per-event value such as mjj, not one of its inputs) is also given it: `fit(X, y, condition=c)` and
`anomaly_score(X, condition=c)`. Methods are built from their config dataclass (the same class
Hydra validates overrides against) plus the run's seed and backend, and report their size in `resources()`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from qhep.errors import QhepError
from qhep.progress import progress_bar


@dataclass(frozen=True)
class NamedConfiguration:
    """A published setup of a method, as data: the settings that differ from qhep's defaults, where it comes from,
    and one line on what it is and where qhep's run of it departs from the paper. Chosen with
    `method=<method>/<name>`; every other setting keeps qhep's default, and explicit overrides still win."""

    settings: dict[str, Any] = field(default_factory=dict)
    source: str = ""  # arXiv id and paper
    description: str = ""


class AnomalyDetector(ABC):
    name: ClassVar[str]
    # Declared capabilities, as data, checked against the configuration before any work:
    view: ClassVar[str] = "features"  # which of a task's views the method reads (see view_of)
    condition: ClassVar[str | None] = None  # a per-event value fit and score are given (see condition_of)
    quantum: ClassVar[bool] = False
    # A quantum method's classical counterpart on identical inputs, by method name (`twin`); None: none declared
    classical_twin: ClassVar[str | None] = None
    protocols: ClassVar[tuple[str, ...]] = ("unsupervised",)  # the protocols it runs under
    output: ClassVar[str] = "scores"  # per-event anomaly scores (higher = more anomalous)
    transforms: ClassVar[bool] = False  # also an encoder: transform(X) -> an embedding of output_dim(n) columns
    stages: ClassVar[tuple[str, ...]] = ()  # settings sections that are themselves methods (a chain's)
    # Attributes that belong to this process, not to the fitted model: not saved (qhep.methods.persistence)
    runtime: ClassVar[tuple[str, ...]] = ("progress",)
    detachable: ClassVar[bool] = False  # detach(): submit its jobs and return without waiting (detach=true)
    # Published setups by name (`method=qae/ngairangbam2021`); a row whose settings equal one's is labelled with it
    named_configurations: ClassVar[dict[str, NamedConfiguration]] = {}
    # What `qhep tune` searches: setting name -> candidate values (the grid is their product; every value passes
    # the setting's declared check, tests/test_tuning.py). Empty: the method is not tuned.
    search_space: ClassVar[dict[str, tuple]] = {}

    @abstractmethod
    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> AnomalyDetector:
        """Learn from training events X of shape (N, n_features); y: their labels where the protocol gives them
        (supervised), else None."""

    @abstractmethod
    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        """One score per event; higher means more anomalous."""

    @classmethod
    def view_of(cls, config) -> str:
        """The view a run of this method with these settings reads."""
        return cls.view

    @classmethod
    def condition_of(cls, config) -> str | None:
        """The per-event value (a task's `conditions`: mjj) a run with these settings is conditioned on."""
        return cls.condition

    @classmethod
    def is_quantum(cls, config) -> bool:
        """Whether a run of this method with these settings runs quantum circuits (on the run's backend)."""
        return cls.quantum

    @classmethod
    def twin(cls, config) -> tuple[str, dict] | None:
        """(method name, settings) of the classical run whose inputs are this run's: the same training events
        (a subsample drawn by the same seeded rule), the same scoring rule where the two share one. Reports pair
        a quantum run with the classical run of the same task, data, protocol and seeds whose method settings
        include these; None where no twin is declared."""
        return None if cls.classical_twin is None else (cls.classical_twin, cls.twin_settings(config))

    @classmethod
    def search_space_of(cls, config) -> dict[str, tuple]:
        """The search space for a run with these settings, by setting path under `method.` (a chain's scorer's
        settings under `scorer.`)."""
        return dict(cls.search_space)

    @classmethod
    def twin_settings(cls, config) -> dict:
        """The twin's settings that make its inputs identical to a run with these settings."""
        return {}

    @classmethod
    def settings_problems(cls, config, backend_class) -> list[str]:
        """Settings that are each valid but do not go together (or not with this backend); checked at
        composition, before any work."""
        return []

    @classmethod
    def detach_problems(cls, config, backend_class) -> list[str]:
        """Why a run of this method with these settings cannot detach (checked at composition, before any work,
        when detach=true); [] when it can."""
        if not cls.detachable:
            return [(f"detach=true: method {cls.name} cannot submit its jobs and return without waiting; "
                     "leave detach unset")]
        return []

    @classmethod
    def training_backend(cls, config) -> str | None:
        """The backend fitting runs on when it is not the run's own (a quantum method's `train_backend`); None: the
        run's backend, or no backend at all. A model fitted apart can be scored on any backend without refitting."""
        return getattr(config, "train_backend", None) if cls.is_quantum(config) else None

    @classmethod
    def fits_locally(cls, config) -> bool:
        """Whether fitting with these settings runs here and submits no job that a detached run could leave
        queued: a detached run then fits (and saves the model) before `detach`, and its resume restores it.
        A quantum method fits here when its training backend runs in this process."""
        if not cls.is_quantum(config):
            return True
        from qhep.quantum.backends import BACKENDS, runs_here

        trainer = cls.training_backend(config)
        return trainer is not None and runs_here(type(BACKENDS[trainer]))

    def detach(self, train_x: np.ndarray, test_x: np.ndarray, train_y: np.ndarray | None = None) -> list[str]:
        """Submit every job this run needs that needs no earlier results; return their ids; fit locally what runs
        locally first. Nothing is waited on: a later `fit` or `anomaly_score` with the same job journal collects
        the jobs by id. A method that declares a condition is also given the test events' (condition=...)."""
        raise QhepError(f"method {self.name} cannot submit its jobs without waiting: leave detach unset")

    def check_inputs(self, n_features: int) -> None:
        """Refuse, in one line that says what to set, inputs this method cannot take (checked before fitting).
        n_features: the size of an event's first axis in the view (features F, constituents C, pixels P)."""

    def check_encoder_inputs(self, n_features: int) -> None:
        """The same, for a method used as an encoder (a chain's first stage)."""
        self.check_inputs(n_features)

    def __getstate__(self) -> dict:
        """The fitted state, without what belongs to this process (pickling, saving, a chain's stages)."""
        return {k: v for k, v in vars(self).items() if k not in self.runtime}

    def estimate_seconds(self, n_features: int, n_train: int, n_test: int) -> dict | None:
        """{"seconds", "stages": {stage: seconds}, "basis"} for work on a simulator or QPU that may take long; None
        for work that runs here and is quick (qhep.harness.budget)."""
        return None

    def restored(self) -> None:
        """After the fitted state was restored from a saved model: rebuild what `runtime` left out."""

    def resources(self) -> dict:
        """Model size: trainable parameters, and for quantum methods qubits, gates and depth."""
        return {}


def minibatches(n: int, batch_size: int, rng: np.random.Generator):
    """Indices of one shuffled epoch, in batches."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def train_epochs(n_events: int, epochs: int, batch_size: int, rng: np.random.Generator, step, progress: bool,
                 description: str):
    """Run `step(batch_indices) -> loss` over shuffled epochs with a progress bar; returns the loss history."""
    history = []
    with progress_bar(n_events * epochs, description, enabled=progress) as bar:
        for _ in range(epochs):
            losses, sizes = [], []
            for batch in minibatches(n_events, batch_size, rng):
                losses.append(step(batch))
                sizes.append(len(batch))
                bar.update(len(batch))
            history.append(float(np.average(losses, weights=sizes)))
            bar.set_postfix(loss=f"{history[-1]:.4g}")
    return history

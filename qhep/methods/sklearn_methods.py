"""Classical baselines from scikit-learn: k-means centroid distances and PCA reconstruction error.

Like every classical baseline (here and in qhep.methods.pyod_methods), each standardises its training events with a
StandardScaler fitted in `fit`, fits on them (on a seeded subsample where a `max_train_events` setting caps a method
that scales badly), seeds every random component from the run's seed, and scores higher = more anomalous.
`BASELINES` maps each method's name to (estimator class, config dataclass).
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
from sklearn.preprocessing import StandardScaler

from qhep.errors import QhepError
from qhep.methods.base import AnomalyDetector
from qhep.settings import Choice, Number, setting

CAP = Number(int, ge=1, optional=True)  # max_train_events: null fits on every training event


def subsample(n: int, max_events: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded subsample of `max_events` out of `n` events; None where all are kept."""
    if max_events is None or n <= max_events:
        return None
    return np.sort(np.random.default_rng(seed).choice(n, max_events, replace=False))


class StandardisedDetector(AnomalyDetector):
    """Shared contract: settings only at construction; fit standardises, (sub)samples and fits `model_`."""

    def __init__(self, config, seed: int = 0, progress: bool = True, **_):
        self.config, self.seed, self.progress = config, seed, progress

    def fit(self, X: np.ndarray, y=None):
        self.scaler_ = StandardScaler().fit(X)
        Xs = self.scaler_.transform(X)
        keep = subsample(len(Xs), getattr(self.config, "max_train_events", None), self.seed)
        Xs = Xs if keep is None else Xs[keep]
        self.train_events_ = len(Xs)
        self.model_ = self._fit(Xs)
        return self

    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._score(self.scaler_.transform(X)), dtype=np.float64)

    @abstractmethod
    def _fit(self, Xs: np.ndarray):
        """The library model fitted on standardised training events."""

    @abstractmethod
    def _score(self, Xs: np.ndarray) -> np.ndarray:
        """Scores of standardised events, higher = more anomalous."""

    def resources(self) -> dict:
        return {"train_events": int(self.train_events_), **self._resources()}

    def _resources(self) -> dict:
        return {}



@dataclass
class KMeansConfig:
    name: str = "kmeans"
    n_clusters: int = setting(2, Number(int, ge=1))  # k = 2 as in the quantum k-means study (arXiv:2301.10780)
    score: str = setting("nearest", Choice(("nearest", "sum")))  # sum: sqrt(sum_k d_k^2), quantum k-means' score
    n_init: int = setting(1, Number(int, ge=1))
    max_iter: int = setting(300, Number(int, ge=1))
    max_train_events: int | None = setting(None, CAP)  # qkmeans' twin: the same seeded subsample as its n_train


class KMeansDetector(StandardisedDetector):
    """k-means (scikit-learn): distance to the nearest centroid, or the root-sum-square of all centroid distances."""

    name = "kmeans"
    search_space = {"n_clusters": (1, 2, 4, 8), "score": ("nearest", "sum")}  # qkmeans' twin: the same k

    def fit(self, X: np.ndarray, y=None):
        if len(X) < self.config.n_clusters:
            raise QhepError(f"method.n_clusters={self.config.n_clusters} exceeds the {len(X)} training events: "
                            "lower method.n_clusters")
        return super().fit(X, y)

    def _fit(self, Xs):
        from sklearn.cluster import KMeans

        c = self.config
        return KMeans(c.n_clusters, n_init=c.n_init, max_iter=c.max_iter, random_state=self.seed).fit(Xs)

    def _score(self, Xs):
        distances = self.model_.transform(Xs)  # Euclidean distance to every centroid
        return distances.min(axis=1) if self.config.score == "nearest" else np.sqrt((distances**2).sum(axis=1))

    def _resources(self):
        return {"clusters": self.config.n_clusters, "trainable_parameters": int(self.model_.cluster_centers_.size)}


@dataclass
class PCAConfig:
    name: str = "pca"
    n_components: int = setting(2, Number(int, ge=1))  # must be fewer than the inputs


class PCADetector(StandardisedDetector):
    """PCA reconstruction (scikit-learn): mean squared error of an event's projection onto the leading components."""

    name = "pca"
    # ADBench's grid is {0.25, 0.5, 0.75} of the inputs: on LHCO's four features, 1, 2 and 3 components
    search_space = {"n_components": (1, 2, 3)}
    transforms = True  # an encoder too: the leading components (method=chain method.encoder=pca)

    def output_dim(self, n_features: int) -> int:
        return self.config.n_components

    def transform(self, X: np.ndarray) -> np.ndarray:
        return self.model_.transform(self.scaler_.transform(X))

    def check_encoder_inputs(self, n_features: int) -> None:
        k = self.config.n_components  # as an encoder all components may be kept (a rotation), not more
        if k > n_features:
            raise QhepError(f"method.n_components={k} is more than the {n_features} inputs: set "
                            f"method.n_components={n_features} or less")

    def check_inputs(self, n_features: int) -> None:
        k = self.config.n_components
        if k >= n_features:
            raise QhepError(f"method.n_components={k} reconstructs {n_features} inputs exactly (every score 0): set "
                            f"method.n_components={n_features - 1} or less")

    def _fit(self, Xs):
        from sklearn.decomposition import PCA

        return PCA(self.config.n_components, svd_solver="full").fit(Xs)

    def _score(self, Xs):
        residual = Xs - self.model_.inverse_transform(self.model_.transform(Xs))
        return np.mean(residual**2, axis=1)  # not PyOD's PCA score (an eigenvalue-weighted distance)

    def _resources(self):
        return {"components": self.config.n_components, "trainable_parameters": int(self.model_.components_.size)}


# name -> (estimator class, config dataclass), for qhep.methods.METHODS
BASELINES = {
    "kmeans": (KMeansDetector, KMeansConfig),
    "pca": (PCADetector, PCAConfig),
}

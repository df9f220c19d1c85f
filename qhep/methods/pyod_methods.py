"""Classical baselines from PyOD: isolation forest, one-class SVM, kNN, KDE, Gaussian mixture and Deep SVDD.

Inputs are standardised as in qhep.methods.sklearn_methods (a StandardScaler fitted in `fit`; a seeded subsample
where `max_train_events` caps a method that scales badly). PyOD's `decision_function` is already higher for more
anomalous events (its KDE and GMM negate scikit-learn's log density), so scores are passed through unchanged.
`BASELINES` maps each method's name to (estimator class, config dataclass).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qhep.errors import QhepError
from qhep.methods.sklearn_methods import CAP, StandardisedDetector
from qhep.methods.threads import one_torch_thread
from qhep.settings import Choice, ListOf, Number, setting


class PyODDetector(StandardisedDetector):
    """A PyOD detector fitted on standardised events; its decision_function is the anomaly score."""

    def _score(self, Xs):
        return self.model_.decision_function(Xs)


@dataclass
class IForestConfig:
    name: str = "iforest"
    n_estimators: int = setting(100, Number(int, ge=1))
    max_samples: int | None = setting(None, Number(int, ge=1, optional=True))  # events per tree; null: min(256, N)
    max_features: float = setting(1.0, Number(float, gt=0, le=1))  # fraction of the features each tree draws


class IsolationForestDetector(PyODDetector):
    """Isolation forest (PyOD IForest): events isolated by few random splits score high."""

    name = "iforest"
    search_space = {"n_estimators": (10, 50, 100, 500)}  # ADBench's grid

    def _fit(self, Xs):
        from pyod.models.iforest import IForest

        c = self.config
        return IForest(n_estimators=c.n_estimators, max_samples=c.max_samples or "auto",
                       max_features=c.max_features, random_state=self.seed).fit(Xs)

    def _resources(self):
        return {"trees": len(self.model_.estimators_), "events_per_tree": int(self.model_.max_samples_)}


@dataclass
class OCSVMConfig:
    name: str = "ocsvm"
    kernel: str = setting("rbf", Choice(("rbf", "linear", "poly", "sigmoid")))
    nu: float = setting(0.5, Number(float, gt=0, le=1))
    gamma: float | None = setting(None, Number(float, gt=0, optional=True))  # null: 1 / n_features (PyOD "auto")
    degree: int = setting(3, Number(int, ge=1))  # poly kernel only
    max_train_events: int | None = setting(5000, CAP)  # the fit scales ~quadratically in events


class OneClassSVMDetector(PyODDetector):
    """One-class SVM (PyOD OCSVM): signed distance outside the learned support of the training events."""

    name = "ocsvm"
    # qsvm's twin: its nu, and the RBF kernel's width (null: 1 / n_features) for qsvm's bandwidth
    search_space = {"nu": (0.01, 0.1, 0.5), "gamma": (None, 0.01, 0.1, 1.0)}

    def _fit(self, Xs):
        from pyod.models.ocsvm import OCSVM

        c = self.config
        return OCSVM(kernel=c.kernel, nu=c.nu, gamma=c.gamma or "auto", degree=c.degree).fit(Xs)

    def _resources(self):
        return {"support_vectors": len(self.model_.support_)}


@dataclass
class KNNConfig:
    name: str = "knn"
    n_neighbors: int = setting(5, Number(int, ge=1))
    method: str = setting("largest", Choice(("largest", "mean", "median")))  # largest: the k-th neighbour's distance
    max_train_events: int | None = setting(None, CAP)


class KNNDetector(PyODDetector):
    """k nearest neighbours (PyOD KNN): distance to the k-th nearest training event."""

    name = "knn"
    search_space = {"n_neighbors": (3, 5, 10, 20)}  # ADBench's grid

    def fit(self, X: np.ndarray, y=None):
        n = len(X) if self.config.max_train_events is None else min(len(X), self.config.max_train_events)
        if n <= self.config.n_neighbors:
            raise QhepError(f"method.n_neighbors={self.config.n_neighbors} needs more than that many training "
                            f"events, got {n}: lower method.n_neighbors")
        return super().fit(X, y)

    def _fit(self, Xs):
        from pyod.models.knn import KNN

        return KNN(n_neighbors=self.config.n_neighbors, method=self.config.method).fit(Xs)


@dataclass
class KDEConfig:
    name: str = "kde"
    bandwidth: float = setting(1.0, Number(float, gt=0))  # Gaussian kernel width on standardised inputs
    max_train_events: int | None = setting(10000, CAP)  # scoring costs ~ events x training events


class KDEDetector(PyODDetector):
    """Kernel density estimate (PyOD KDE): negative log density under a Gaussian KDE of the training events."""

    name = "kde"
    search_space = {"bandwidth": (0.1, 0.3, 1.0, 3.0)}  # on standardised inputs

    def _fit(self, Xs):
        from pyod.models.kde import KDE

        return KDE(bandwidth=self.config.bandwidth).fit(Xs)


@dataclass
class GMMConfig:
    name: str = "gmm"
    n_components: int = setting(1, Number(int, ge=1))
    covariance_type: str = setting("full", Choice(("full", "tied", "diag", "spherical")))
    n_init: int = setting(1, Number(int, ge=1))
    max_iter: int = setting(100, Number(int, ge=1))
    reg_covar: float = setting(1e-6, Number(float, ge=0))


class GMMDetector(PyODDetector):
    """Gaussian mixture (PyOD GMM): negative log likelihood under a mixture fitted to the training events."""

    name = "gmm"
    search_space = {"n_components": (1, 2, 4, 8), "covariance_type": ("full", "diag")}

    def _fit(self, Xs):
        from pyod.models.gmm import GMM

        c = self.config
        return GMM(n_components=c.n_components, covariance_type=c.covariance_type, n_init=c.n_init,
                   max_iter=c.max_iter, reg_covar=c.reg_covar, random_state=self.seed).fit(Xs)

    def _resources(self):
        k, d = self.config.n_components, self.model_.means_.shape[1]
        covariance = {"full": k * d * (d + 1) // 2, "tied": d * (d + 1) // 2, "diag": k * d, "spherical": k}
        return {"components": k, "trainable_parameters": covariance[self.config.covariance_type] + k * d + k - 1}


@dataclass
class DeepSVDDConfig:
    name: str = "deepsvdd"
    hidden: list[int] = setting([64, 32], ListOf(Number(int, ge=1), min_len=2))  # last: the hypersphere's dimension
    epochs: int = setting(20, Number(int, ge=1))  # PyOD: 100; 20 keeps a 15k-event fit to seconds
    batch_size: int = setting(128, Number(int, ge=1))
    lr: float = setting(1e-4, Number(float, gt=0))
    dropout: float = setting(0.2, Number(float, ge=0, lt=1))  # between hidden layers (none with two of them)
    weight_decay: float = setting(0.5e-6, Number(float, ge=0))


class DeepSVDDDetector(PyODDetector):
    """Deep SVDD (PyOD DeepSVDD): squared distance of an MLP embedding from the training events' centre."""

    name = "deepsvdd"
    search_space = {"epochs": (20, 50, 100, 200)}  # ADBench's grid

    def _fit(self, Xs):
        import torch
        from pyod.models.deep_svdd import DeepSVDD

        c = self.config
        torch.manual_seed(self.seed)  # weights, dropout and batch order (PyOD seeds torch again from random_state)
        model = DeepSVDD(n_features=Xs.shape[1], hidden_neurons=list(c.hidden), epochs=c.epochs,
                         batch_size=c.batch_size, learning_rate=c.lr, dropout_rate=c.dropout,
                         l2_regularizer=c.weight_decay, preprocessing=False, verbose=0, random_state=self.seed)
        # PyOD's fit shuffles a copy with numpy's global generator and averages the centre over it (float32: the
        # order moves the last bits): seed that generator, and put it back as it was after.
        numpy_state = np.random.get_state()
        np.random.seed(self.seed)
        try:
            with one_torch_thread():
                return model.fit(Xs)
        finally:
            np.random.set_state(numpy_state)

    def _resources(self):
        return {"trainable_parameters": sum(p.numel() for p in self.model_.model_.parameters())}


# name -> (estimator class, config dataclass), for qhep.methods.METHODS
BASELINES = {
    "iforest": (IsolationForestDetector, IForestConfig),
    "ocsvm": (OneClassSVMDetector, OCSVMConfig),
    "knn": (KNNDetector, KNNConfig),
    "kde": (KDEDetector, KDEConfig),
    "gmm": (GMMDetector, GMMConfig),
    "deepsvdd": (DeepSVDDDetector, DeepSVDDConfig),
}

"""Supervised classifier (scikit-learn histogram gradient boosting or a torch MLP) trained on labelled signal and
background; anomaly score = P(signal).

A reference for the supervised protocol, not an anomaly detector: it needs the labels of its training events and
is refused without them. Features are standardised on the training set. `model=hgb` (the default):
HistGradientBoostingClassifier with early stopping on a seeded validation share (sk_cathode's choice: max_bins 127;
robust to uninformative features). `model=mlp`: a ReLU MLP trained with binary cross-entropy and Adam, keeping the
epoch with the lowest validation loss (CATHODE's classifier is [64, 64, 64], lr 1e-3, batch 128).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.preprocessing import StandardScaler

from qhep.errors import QhepError
from qhep.methods.base import AnomalyDetector
from qhep.methods.threads import one_openmp_thread, one_torch_thread
from qhep.methods.training import train_keeping_best, validation_split
from qhep.settings import Choice, Flag, ListOf, Number, setting

MODELS = ("hgb", "mlp")
CLASS_WEIGHTS = ("none", "balanced")
SCORE_BATCH = 65536






@dataclass
class ClassifierConfig:
    name: str = "classifier"
    model: str = setting("hgb", Choice(MODELS))
    # seeded share of the training events for early stopping (hgb) or picking the best epoch (mlp); 0 = none
    validation_fraction: float = setting(0.1, Number(float, ge=0, lt=1))
    class_weight: str = setting("none", Choice(CLASS_WEIGHTS))  # balanced: each class weighs half of the loss
    # hgb
    max_iter: int = setting(200, Number(int, ge=1))  # boosting rounds (trees), at most
    learning_rate: float = setting(0.1, Number(float, gt=0))
    max_leaf_nodes: int = setting(31, Number(int, ge=2))
    max_bins: int = setting(127, Number(int, ge=2, le=255))
    l2_regularization: float = setting(0.0, Number(float, ge=0))
    early_stopping: bool = setting(True, Flag())
    # mlp
    hidden: list[int] = setting([64, 64, 64], ListOf(Number(int, ge=1)))
    epochs: int = setting(30, Number(int, ge=1))
    batch_size: int = setting(128, Number(int, ge=1))
    lr: float = setting(1e-3, Number(float, gt=0))
    weight_decay: float = setting(0.0, Number(float, ge=0))


def hgb_estimator(config: ClassifierConfig, seed: int) -> HistGradientBoostingClassifier:
    """The scikit-learn estimator the hgb model is, with this config's settings."""
    return HistGradientBoostingClassifier(
        max_iter=config.max_iter, learning_rate=config.learning_rate, max_leaf_nodes=config.max_leaf_nodes,
        max_bins=config.max_bins, l2_regularization=config.l2_regularization, early_stopping=config.early_stopping,
        validation_fraction=config.validation_fraction or None,
        class_weight="balanced" if config.class_weight == "balanced" else None, random_state=seed)


def checked_labels(y, n_events: int) -> np.ndarray:
    """Training labels as 0/1 integers, or a one-line refusal."""
    if y is None:
        raise QhepError("method classifier is supervised: it needs the labels of its training events; set "
                        "protocol=supervised (or choose an unsupervised method)")
    y = np.asarray(y).ravel()
    if len(y) != n_events:
        raise QhepError(f"method classifier: {len(y)} labels for {n_events} training events")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise QhepError(f"method classifier: labels must be 0 (background) or 1 (signal), got {sorted(values)}")
    if len(values) < 2:
        only = "signal (1)" if values == {1} else "background (0)"
        raise QhepError(f"method classifier needs both signal and background training events, got only {only}")
    return y.astype(np.int64)


class SupervisedClassifier(AnomalyDetector):
    name = "classifier"
    # the boosted trees' settings (model=hgb, the default); an mlp takes none of them
    search_space = {"learning_rate": (0.05, 0.1, 0.2), "max_leaf_nodes": (15, 31, 63)}
    protocols = ("supervised",)

    def __init__(self, config: ClassifierConfig, seed: int = 0, progress: bool = True, **_):
        self.config, self.seed, self.progress = config, seed, progress
        self.scaler_: StandardScaler | None = None
        self.model_: HistGradientBoostingClassifier | torch.nn.Module | None = None
        self.history: list[float] = []  # mlp: mean training loss per epoch; hgb: training loss per boosting round
        self.validation_history: list[float] = []

    def fit(self, X: np.ndarray, y=None) -> SupervisedClassifier:
        X = np.asarray(X, dtype=np.float64)
        y = checked_labels(y, len(X))
        self.scaler_ = StandardScaler()
        x = self.scaler_.fit_transform(X)
        if self.config.model == "mlp":
            self._fit_mlp(x, y)
        else:
            self._check_validation_share(y)
            with one_openmp_thread():
                self.model_ = hgb_estimator(self.config, self.seed).fit(x, y)
            # sklearn's loss is kept as -loss (a score); per round, after the baseline prediction
            self.history = [float(-s) for s in self.model_.train_score_[1:]]
            self.validation_history = [float(-s) for s in self.model_.validation_score_[1:]]
        return self

    @one_torch_thread()
    def _check_validation_share(self, y: np.ndarray) -> None:
        """scikit-learn's stratified validation split needs 2 events of each class on each side."""
        c = self.config
        if not (c.early_stopping and c.validation_fraction):
            return
        n_val = math.ceil(c.validation_fraction * len(y))
        fewest = int(np.bincount(y, minlength=2).min())
        if fewest < 2 or n_val < 2 or len(y) - n_val < 2:
            raise QhepError(f"method classifier: {len(y)} training events ({fewest} of the rarer class) are too few "
                            "to hold out a validation share for early stopping: set method.early_stopping=false or "
                            "method.validation_fraction=0, or train on more events")

    def _fit_mlp(self, x: np.ndarray, y: np.ndarray) -> None:
        c = self.config
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        train, val = validation_split(len(x), c.validation_fraction, rng, "classifier")
        weights = np.ones(len(y))
        if c.class_weight == "balanced":  # as scikit-learn's: n / (2 n_class), on the whole training set
            weights = len(y) / (2.0 * np.bincount(y, minlength=2))[y]
        xt, yt, wt = (torch.as_tensor(a[train], dtype=torch.float64) for a in (x, y, weights))
        xv, yv, wv = (torch.as_tensor(a[val], dtype=torch.float64) for a in (x, y, weights))
        sizes = [x.shape[1], *c.hidden, 1]
        layers: list[torch.nn.Module] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(sizes) - 2:
                layers.append(torch.nn.ReLU())
        self.model_ = torch.nn.Sequential(*layers).double()
        loss_of = torch.nn.functional.binary_cross_entropy_with_logits

        @torch.no_grad()
        def validation_loss() -> float:
            return float(loss_of(self.model_(xv)[:, 0], yv, weight=wv))

        trained = train_keeping_best(
            self.model_, torch.optim.Adam(self.model_.parameters(), lr=c.lr, weight_decay=c.weight_decay), len(xt),
            c.epochs, c.batch_size, rng, lambda batch: loss_of(self.model_(xt[batch])[:, 0], yt[batch], weight=wt[batch]),
            validation_loss if len(val) else None, self.progress, "training classifier (mlp)",
            lambda loss: f"method classifier: the training loss became {loss} (diverged): lower method.lr (now "
                         f"{c.lr:g})")
        self.history, self.validation_history = trained.history, trained.validation_history

    @one_torch_thread()
    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        """P(signal) of each event."""
        x = self.scaler_.transform(np.asarray(X, dtype=np.float64))
        if self.config.model == "mlp":
            with torch.no_grad():
                t = torch.as_tensor(x, dtype=torch.float64)
                logits = torch.cat([self.model_(t[i:i + SCORE_BATCH])[:, 0] for i in range(0, len(t), SCORE_BATCH)])
                return torch.sigmoid(logits).numpy().astype(np.float64)
        with one_openmp_thread():
            return self.model_.predict_proba(x)[:, 1].astype(np.float64)

    def resources(self) -> dict:
        if self.config.model == "mlp":
            return {"trainable_parameters": sum(p.numel() for p in self.model_.parameters())}
        # a boosted tree's fitted values are its leaves (split thresholds are chosen from the bins, not fitted)
        predictors = getattr(self.model_, "_predictors", [])
        leaves = sum(int(tree.nodes["is_leaf"].sum()) for round_ in predictors for tree in round_)
        return {"trainable_parameters": leaves, "trees": int(self.model_.n_iter_)}


METHOD = {"classifier": (SupervisedClassifier, ClassifierConfig)}

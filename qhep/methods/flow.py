"""Normalizing flow (zuko MAF or NSF) trained by maximum likelihood; anomaly score = negative log-likelihood.

Features are standardised on the training set; the flow is fitted to the background by minimising the mean
negative log-likelihood with Adam. A seeded share of the training events (`validation_fraction`) is held out and
the epoch with the lowest validation loss is kept. Zuko's NAF is not offered (open likelihood bug reports).

With `condition=mjj` the flow is conditional, p(x | mjj) (CATHODE's and ANODE's density model): the score
-log p(x | mjj) then asks how unusual an event's substructure is for its mass, not how unusual its mass is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import zuko
from sklearn.preprocessing import StandardScaler

from qhep.errors import QhepError
from qhep.methods.base import AnomalyDetector
from qhep.methods.threads import one_torch_thread
from qhep.methods.training import train_keeping_best, validation_split
from qhep.settings import Choice, ListOf, Number, Text, setting

FLOWS = ("maf", "nsf")
SCORE_BATCH = 65536  # events per forward pass when scoring (bounds memory, not results)


@dataclass
class FlowConfig:
    name: str = "flow"
    flow: str = setting("maf", Choice(FLOWS))  # masked autoregressive (affine) or neural spline flow
    transforms: int = setting(4, Number(int, ge=1, le=100))
    hidden_features: list[int] = setting([64, 64], ListOf(Number(int, ge=1), min_len=1))  # per MADE / coupling net
    bins: int = setting(8, Number(int, ge=2))  # spline bins (nsf only)
    epochs: int = setting(40, Number(int, ge=1))
    batch_size: int = setting(256, Number(int, ge=1))
    lr: float = setting(1e-3, Number(float, gt=0))
    weight_decay: float = setting(1e-6, Number(float, ge=0))
    # seeded share of the training events held out to pick the best epoch; 0 = train on all, keep the last epoch
    validation_fraction: float = setting(0.2, Number(float, ge=0, lt=1))
    # a per-event value of the task (its `conditions`: mjj) the density is conditioned on; null: none
    condition: str | None = setting(None, Text(optional=True))


class FlowDetector(AnomalyDetector):
    name = "flow"
    search_space = {"flow": ("maf", "nsf"), "transforms": (2, 4, 8), "lr": (1e-3, 1e-4)}

    def __init__(self, config: FlowConfig, seed: int = 0, progress: bool = True, **_):
        self.config, self.seed, self.progress = config, seed, progress
        self.scaler_: StandardScaler | None = None
        self.condition_scaler_: StandardScaler | None = None
        self.model_: torch.nn.Module | None = None
        self.history: list[float] = []  # mean training NLL per epoch (standardised units)
        self.validation_history: list[float] = []  # mean validation NLL per epoch (empty without validation)
        self.best_epoch_: int | None = None  # 1-based epoch whose weights are kept

    @classmethod
    def condition_of(cls, config) -> str | None:
        return config.condition

    def check_inputs(self, n_features: int) -> None:
        if n_features < 1:
            raise QhepError("method flow needs at least 1 input feature: give the task features")

    def _build(self, n_features: int) -> torch.nn.Module:
        c = self.config
        kwargs = dict(transforms=c.transforms, hidden_features=list(c.hidden_features), context=1 if c.condition else 0)
        if c.flow == "nsf":
            return zuko.flows.NSF(n_features, bins=c.bins, **kwargs)
        return zuko.flows.MAF(n_features, **kwargs)

    @one_torch_thread()
    def fit(self, X: np.ndarray, y=None, condition: np.ndarray | None = None) -> FlowDetector:
        c = self.config
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.scaler_ = StandardScaler()
        data = torch.as_tensor(self.scaler_.fit_transform(np.asarray(X, dtype=np.float64)), dtype=torch.float32)
        if c.condition:
            self.condition_scaler_ = StandardScaler()
        context = self._context(condition, fitting=True)
        train_index, val_index = validation_split(len(data), c.validation_fraction, rng, "flow")
        x, x_val = data[train_index], data[val_index]
        m, m_val = (context[train_index], context[val_index]) if context is not None else (None, None)
        self.model_ = self._build(x.shape[1])
        trained = train_keeping_best(
            self.model_, torch.optim.Adam(self.model_.parameters(), lr=c.lr, weight_decay=c.weight_decay), len(x),
            c.epochs, c.batch_size, rng,
            lambda batch: -self.model_(None if m is None else m[batch]).log_prob(x[batch]).mean(),
            (lambda: float(-self._log_prob(x_val, m_val).double().mean())) if len(x_val) else None,
            self.progress, f"training flow ({c.flow})",
            lambda loss: f"method flow: the training loss became {loss} (diverged): lower method.lr (now {c.lr:g}) "
                         "or use method.flow=maf")
        self.history, self.validation_history, self.best_epoch_ = (trained.history, trained.validation_history,
                                                                   trained.best_epoch)
        return self

    @one_torch_thread()
    @torch.no_grad()
    def _log_prob(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        self.model_.eval()
        parts = []
        for i in range(0, len(x), SCORE_BATCH):
            dist = self.model_(None if context is None else context[i:i + SCORE_BATCH])
            parts.append(dist.log_prob(x[i:i + SCORE_BATCH]))
        return torch.cat(parts)

    def _context(self, condition: np.ndarray | None, fitting: bool = False) -> torch.Tensor | None:
        """The standardised condition as the flow's context (None for an unconditional flow)."""
        if not self.config.condition:
            return None
        if condition is None:
            raise QhepError(f"method flow is conditioned on {self.config.condition} but was given none: "
                            "run it through qhep run on a task that offers it")
        values = np.asarray(condition, dtype=np.float64).reshape(-1, 1)
        scaled = self.condition_scaler_.fit_transform(values) if fitting else self.condition_scaler_.transform(values)
        return torch.as_tensor(scaled, dtype=torch.float32)

    def anomaly_score(self, X: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        """Negative log-likelihood of each event under the flow (given its condition), in the standardised
        coordinates (a constant offset, the log-Jacobian of the scaler, separates it from the NLL in the original
        units)."""
        x = torch.as_tensor(self.scaler_.transform(np.asarray(X, dtype=np.float64)), dtype=torch.float32)
        return (-self._log_prob(x, self._context(condition))).numpy().astype(np.float64)

    def resources(self) -> dict:
        return {"trainable_parameters": sum(p.numel() for p in self.model_.parameters() if p.requires_grad)}


METHOD = {"flow": (FlowDetector, FlowConfig)}

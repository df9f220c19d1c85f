"""Classical autoencoder baseline: a torch MLP; anomaly score = reconstruction error."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.preprocessing import StandardScaler

from qhep.methods.base import AnomalyDetector, train_epochs
from qhep.settings import ListOf, Number, setting


@dataclass
class AutoencoderConfig:
    name: str = "ae"
    hidden: list[int] = setting([32, 16], ListOf(Number(int, ge=1)))  # hidden layer widths, encoder side
    latent_dim: int = setting(2, Number(int, ge=1))
    epochs: int = setting(30, Number(int, ge=1))
    batch_size: int = setting(256, Number(int, ge=1))
    lr: float = setting(1e-3, Number(float, gt=0))
    weight_decay: float = setting(0.0, Number(float, ge=0))


class Autoencoder(AnomalyDetector):
    name = "ae"
    # the latent bottleneck, the network's width and the step size (the grid's 12 points fit the default budget)
    search_space = {"hidden": ([32, 16], [64, 32], [16, 8]), "latent_dim": (2, 4), "lr": (1e-3, 1e-2)}
    transforms = True  # an encoder too: its latent space (method=chain method.encoder=ae)

    def __init__(self, config: AutoencoderConfig, seed: int = 0, progress: bool = True, **_):
        self.config, self.seed, self.progress = config, seed, progress
        self.scaler = StandardScaler()
        self.model: torch.nn.Module | None = None
        self.history: list[float] = []

    def _build(self, n_features: int) -> torch.nn.Module:
        sizes = [n_features, *self.config.hidden, self.config.latent_dim]
        layers: list[torch.nn.Module] = []
        for path in (sizes, sizes[::-1]):
            for i, (a, b) in enumerate(zip(path[:-1], path[1:])):
                layers.append(torch.nn.Linear(a, b))
                if i < len(path) - 2:
                    layers.append(torch.nn.ReLU())
        return torch.nn.Sequential(*layers).double()

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> Autoencoder:
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        x = torch.as_tensor(self.scaler.fit_transform(X), dtype=torch.float64)
        self.model = self._build(x.shape[1])
        optimiser = torch.optim.Adam(self.model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)

        def step(batch):
            optimiser.zero_grad()
            loss = torch.mean((self.model(x[batch]) - x[batch]) ** 2)
            loss.backward()
            optimiser.step()
            return loss.item()

        self.history = train_epochs(len(x), self.config.epochs, self.config.batch_size, rng, step, self.progress,
                                    "training ae")
        return self

    @torch.no_grad()
    def anomaly_score(self, X: np.ndarray) -> np.ndarray:
        x = torch.as_tensor(self.scaler.transform(X), dtype=torch.float64)
        return torch.mean((self.model(x) - x) ** 2, dim=1).numpy()

    def output_dim(self, n_features: int) -> int:
        return self.config.latent_dim

    @torch.no_grad()
    def transform(self, X: np.ndarray) -> np.ndarray:
        """The latent coordinates: the encoder half of the network."""
        x = torch.as_tensor(self.scaler.transform(X), dtype=torch.float64)
        return self.model[: len(self.model) // 2](x).numpy()

    def resources(self) -> dict:
        return {"trainable_parameters": sum(p.numel() for p in self.model.parameters())}

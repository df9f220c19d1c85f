"""Convolutional autoencoders on jets (torch): `imageae` on jet images, `particleae` on the constituent list;
anomaly score = mean squared reconstruction error.

`imageae` is the jet-image autoencoder of Heimel et al. (arXiv:1808.08979) and Farina et al. (arXiv:1808.08992),
smaller here so that it trains on a CPU: two 3x3 convolution + 2x2 max-pooling stages and a dense layer to the
latent space, mirrored by a dense layer and two nearest-upsampling + 3x3 convolution stages. Images are divided by
one number, the root mean square pixel of the training images, so that predicting an empty image costs a loss of
1 (a per-pixel standardisation would blow up the near-empty border pixels).

`particleae` reads each jet as its pT-ordered constituents (pT fraction, d-eta, d-phi), the three fields as
channels. Neighbours in pT order are not neighbours in the jet, so a wider kernel along the list has no locality to
use: its convolutions are pointwise (kernel 1, one small network shared by every constituent, its weights
independent of the list length), and the bottleneck is a dense layer over the whole ordered list, which keeps
each constituent's pT rank. Each field is standardised with the mean and standard deviation of the real (unmasked)
training constituents; padding is then set to 0. The loss is the mean squared error over every entry, padding
included, so a reconstructed jet must also get its multiplicity right; a value under the mask never matters.

Both train on the background by minimising that error with Adam in float32. A seeded share of the training events
(`validation_fraction`) is held out and the epoch with the lowest validation loss is kept, as in
qhep.methods.flow. Both are also encoders: `transform` gives the latent coordinates (method=chain).
"""
# ruff: noqa: RUF009  (setting() in dataclass defaults is how qhep declares a setting's check: qhep.settings)
from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import torch

from qhep.errors import QhepError
from qhep.methods.base import AnomalyDetector
from qhep.methods.threads import one_torch_thread
from qhep.methods.training import train_keeping_best, validation_split
from qhep.settings import ListOf, Number, setting

SCORE_BATCH = 1024  # events per forward pass when scoring (bounds memory, not results)
FIELDS = 3  # per constituent: pT fraction, d-eta, d-phi


# Defaults, measured on the embedded top sample (40 x 40 images, 50 constituents) on one thread of 2 busy cores:
# fitting the 1,500 QCD jets takes about 17 s (imageae) and 2 s (particleae). At the task's defaults (750
# training jets, seeds 0-2) imageae's AUC was 0.77 (channels [8, 16]: 0.68; more epochs than 20 gained little per
# second) and particleae's 0.61 (flat in channels, latent size and epochs). latent_dim 8 is the latent size of
# the quantum-kernel study arXiv:2301.10780.
@dataclass
class _TrainingSettings:
    """What both autoencoders' training takes."""

    latent_dim: int = setting(8, Number(int, ge=1))
    epochs: int = setting(20, Number(int, ge=1))
    batch_size: int = setting(32, Number(int, ge=1))
    lr: float = setting(1e-3, Number(float, gt=0))
    weight_decay: float = setting(0.0, Number(float, ge=0))
    # seeded share of the training events held out to pick the best epoch; 0 = train on all, keep the last epoch
    validation_fraction: float = setting(0.2, Number(float, ge=0, lt=1))


@dataclass
class ImageAutoencoderConfig(_TrainingSettings):
    name: str = "imageae"
    channels: list[int] = setting([16, 32], ListOf(Number(int, ge=1), length=2))  # filters of the two conv stages


@dataclass
class ParticleAutoencoderConfig(_TrainingSettings):
    name: str = "particleae"
    # widths of the pointwise (per-constituent) layers, encoder side; the decoder mirrors them
    channels: list[int] = setting([16, 8], ListOf(Number(int, ge=1), min_len=1))
    epochs: int = setting(40, Number(int, ge=1))


class _Network(torch.nn.Module):
    """An encoder to the latent space and a decoder back; calling it reconstructs."""

    def __init__(self, encoder: torch.nn.Module, decoder: torch.nn.Module):
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class _ReconstructionAutoencoder(AnomalyDetector):
    """The training loop and scoring both autoencoders share; a subclass says how events become tensors
    (`_fit_scale`, `_tensor`) and builds the network (`_build`)."""

    transforms = True  # an encoder too: its latent space (method=chain method.encoder=...)

    def __init__(self, config, seed: int = 0, progress: bool = True, **_):
        self.config, self.seed, self.progress = config, seed, progress
        self.model_: _Network | None = None
        self.history: list[float] = []  # mean training loss per epoch (scaled units)
        self.validation_history: list[float] = []  # mean validation loss per epoch (empty without validation)
        self.best_epoch_: int | None = None  # 1-based epoch whose weights are kept

    @abstractmethod
    def _fit_scale(self, X) -> None:
        """Fit the input scaling on the training events (attributes ending in `_`)."""

    @abstractmethod
    def _tensor(self, X) -> torch.Tensor:
        """Events as the network's float32 input, scaled with the fitted scaling."""

    @abstractmethod
    def _build(self, shape: tuple[int, ...]) -> _Network:
        """The network for inputs of this per-event shape."""

    @one_torch_thread()
    def fit(self, X, y=None) -> _ReconstructionAutoencoder:
        c = self.config
        self.check_inputs(np.shape(X)[1])
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self._fit_scale(X)
        data = self._tensor(X)
        if not torch.isfinite(data).all():
            raise QhepError(f"method {self.name}: the training events hold non-finite values (NaN or inf)")
        train_index, val_index = validation_split(len(data), c.validation_fraction, rng, self.name)
        x, x_val = data[train_index], data[val_index]
        self.model_ = self._build(tuple(x.shape[1:]))
        trained = train_keeping_best(
            self.model_, torch.optim.Adam(self.model_.parameters(), lr=c.lr, weight_decay=c.weight_decay), len(x),
            c.epochs, c.batch_size, rng, lambda batch: torch.mean((self.model_(x[batch]) - x[batch]) ** 2),
            (lambda: float(torch.cat([self._errors(b) for b in x_val.split(SCORE_BATCH)]).mean())) if len(x_val)
            else None, self.progress, f"training {self.name}",
            lambda loss: f"method {self.name}: the training loss became {loss} (diverged): lower method.lr (now "
                         f"{c.lr:g})")
        self.history, self.validation_history, self.best_epoch_ = (trained.history, trained.validation_history,
                                                                   trained.best_epoch)
        return self

    @torch.no_grad()
    def _errors(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared reconstruction error per event (summed in float64)."""
        self.model_.eval()
        return ((self.model_(x) - x) ** 2).flatten(1).double().mean(1)

    @torch.no_grad()
    def _latent(self, x: torch.Tensor) -> torch.Tensor:
        self.model_.eval()
        return self.model_.encoder(x).double()

    @one_torch_thread()  # the same arithmetic whatever the caller's thread count
    def _batched(self, X, fn, width: tuple[int, ...]) -> np.ndarray:
        """fn over SCORE_BATCH events at a time, each batch scaled only when it is used."""
        parts = [fn(self._tensor(X[i:i + SCORE_BATCH])).numpy() for i in range(0, len(X), SCORE_BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, *width))

    def anomaly_score(self, X) -> np.ndarray:
        """Mean squared reconstruction error of each event, in the scaled units (higher = more anomalous)."""
        return self._batched(X, self._errors, ())

    def transform(self, X) -> np.ndarray:
        """The latent coordinates: the encoder half of the network, (N, latent_dim) float64."""
        return self._batched(X, self._latent, (self.config.latent_dim,))

    def output_dim(self, n_features: int) -> int:
        return self.config.latent_dim

    def resources(self) -> dict:
        return {"trainable_parameters": sum(p.numel() for p in self.model_.parameters() if p.requires_grad)}


class ImageAutoencoder(_ReconstructionAutoencoder):
    """Convolutional autoencoder on jet images (Heimel et al., Farina et al.): score = reconstruction error."""

    name = "imageae"
    search_space = {"latent_dim": (4, 8, 16), "lr": (1e-3, 3e-3)}
    view = "image"

    def __init__(self, config: ImageAutoencoderConfig, seed: int = 0, progress: bool = True, **_):
        super().__init__(config, seed, progress)
        self.scale_: float | None = None  # root mean square pixel of the training images

    def check_inputs(self, n_features: int) -> None:
        if n_features < 8 or n_features % 4:  # two 2x2 poolings, each halving the side exactly
            raise QhepError(f"method imageae needs jet images of at least 8 pixels a side, a multiple of 4 (two 2x2 "
                            f"poolings); got {n_features}: set task.image_pixels (e.g. 40)")

    def _fit_scale(self, X) -> None:
        rms = math.sqrt(float(np.mean(np.square(np.asarray(X, dtype=np.float64))))) if np.size(X) else 0.0
        self.scale_ = rms if 0 < rms < math.inf else 1.0

    def _tensor(self, X) -> torch.Tensor:
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[1] != X.shape[2]:
            raise QhepError(f"method imageae reads square jet images (N, P, P), got an array of shape {X.shape}: "
                            "use a task with an image view")
        return torch.as_tensor(X / self.scale_, dtype=torch.float32).unsqueeze(1)  # (N, 1, P, P)

    def _build(self, shape: tuple[int, ...]) -> _Network:
        (c1, c2), side = self.config.channels, shape[-1] // 4
        nn = torch.nn
        encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * side * side, self.config.latent_dim))
        # nearest upsampling + convolution rather than a strided transposed convolution: no checkerboard artefacts
        decoder = nn.Sequential(
            nn.Linear(self.config.latent_dim, c2 * side * side), nn.ReLU(), nn.Unflatten(1, (c2, side, side)),
            nn.Upsample(scale_factor=2), nn.Conv2d(c2, c1, 3, padding=1), nn.ReLU(),
            nn.Upsample(scale_factor=2), nn.Conv2d(c1, 1, 3, padding=1))
        return _Network(encoder, decoder)


class ParticleAutoencoder(_ReconstructionAutoencoder):
    """Autoencoder on the pT-ordered constituent list, padding masked: score = reconstruction error."""

    name = "particleae"
    search_space = {"latent_dim": (4, 8, 16), "lr": (1e-3, 3e-3)}
    view = "constituents"

    def __init__(self, config: ParticleAutoencoderConfig, seed: int = 0, progress: bool = True, **_):
        super().__init__(config, seed, progress)
        self.mean_: np.ndarray | None = None  # per field, over the real training constituents
        self.std_: np.ndarray | None = None

    def check_inputs(self, n_features: int) -> None:
        if n_features < 4:
            raise QhepError(f"method particleae needs at least 4 constituents per jet, got {n_features}: raise "
                            "task.view_constituents")

    @staticmethod
    def _masked(X) -> np.ma.MaskedArray:
        X = np.ma.asarray(X, dtype=np.float64)
        if X.ndim != 3 or X.shape[2] != FIELDS:
            raise QhepError(f"method particleae reads constituents (N, C, 3), got an array of shape {X.shape}: use a "
                            "task with a constituents view")
        return X

    def _fit_scale(self, X) -> None:
        real = self._masked(X).reshape(-1, FIELDS)  # masked entries (padding) take no part
        self.mean_ = np.ma.filled(real.mean(axis=0), 0.0).astype(np.float64)
        std = np.ma.filled(real.std(axis=0), 0.0).astype(np.float64)
        self.std_ = np.where(std > 0, std, 1.0)  # a constant field is only centred

    def _tensor(self, X) -> torch.Tensor:
        X = self._masked(X)
        scaled = np.ma.filled((X - self.mean_) / self.std_, 0.0)  # padding: 0 after scaling
        return torch.as_tensor(np.ascontiguousarray(scaled.transpose(0, 2, 1)), dtype=torch.float32)  # (N, 3, C)

    def _build(self, shape: tuple[int, ...]) -> _Network:
        fields, n = shape
        widths, nn = [fields, *self.config.channels], torch.nn
        flat = widths[-1] * n
        encoder: list[torch.nn.Module] = []
        for a, b in pairwise(widths):
            encoder += [nn.Conv1d(a, b, 1), nn.ReLU()]
        encoder += [nn.Flatten(), nn.Linear(flat, self.config.latent_dim)]
        decoder: list[torch.nn.Module] = [nn.Linear(self.config.latent_dim, flat), nn.ReLU(),
                                          nn.Unflatten(1, (widths[-1], n))]
        back = widths[::-1]
        for i, (a, b) in enumerate(pairwise(back)):
            decoder.append(nn.Conv1d(a, b, 1))
            if i < len(back) - 2:
                decoder.append(nn.ReLU())
        return _Network(nn.Sequential(*encoder), nn.Sequential(*decoder))


METHODS = {
    "imageae": (ImageAutoencoder, ImageAutoencoderConfig),
    "particleae": (ParticleAutoencoder, ParticleAutoencoderConfig),
}

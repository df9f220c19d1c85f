"""A chain: an encoder (an autoencoder's latent space, PCA) feeding a scorer (e.g. the QAE), as one run and one record.

`qhep run method=chain method.encoder=ae method.encoder.latent_dim=4 method.scorer=qae`: each stage is a whole
method with its own settings, checked like any method's (`method.encoder.<setting>`, `method.scorer.<setting>`).
The encoder is fitted on the training events, the scorer on their embedding; the scorer runs on the run's backend.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import MISSING

from qhep.errors import QhepError
from qhep.methods.base import AnomalyDetector

DEFAULT_STAGES = {"encoder": "ae", "scorer": "qae"}


@dataclass
class ChainConfig:
    # Hydra's defaults list: each stage is chosen from the group method/<stage> (method.encoder=pca picks it)
    defaults: list[Any] = field(default_factory=lambda: [{k: v} for k, v in DEFAULT_STAGES.items()] + ["_self_"])
    name: str = "chain"
    encoder: Any = MISSING
    scorer: Any = MISSING


def stage_class(settings) -> type[AnomalyDetector]:
    from qhep.methods import METHODS

    return METHODS[settings.name][0]


class Chain(AnomalyDetector):
    name = "chain"
    stages = ("encoder", "scorer")
    runtime = ("progress", "backend")

    def __init__(self, config: ChainConfig, seed: int = 0, backend=None, progress: bool = True):
        self.config, self.seed, self.backend, self.progress = config, seed, backend, progress
        self.encoder_ = stage_class(config.encoder)(config.encoder, seed=seed, backend=None, progress=progress)
        self.scorer_ = stage_class(config.scorer)(config.scorer, seed=seed, backend=backend, progress=progress)
        self.backend = getattr(self.scorer_, "backend", backend)  # the scorer's own default when none was given
        self.history: list[float] = []

    @classmethod
    def is_quantum(cls, config) -> bool:
        return stage_class(config.scorer).is_quantum(config.scorer)

    @classmethod
    def training_backend(cls, config) -> str | None:
        return stage_class(config.scorer).training_backend(config.scorer)  # the encoder is classical

    @classmethod
    def twin(cls, config) -> tuple[str, dict] | None:
        """A chain with a quantum scorer: the same chain (same encoder settings) with the scorer's classical twin."""
        scorer = stage_class(config.scorer)
        found = scorer.twin(config.scorer) if scorer.is_quantum(config.scorer) else None
        if found is None:
            return None
        from omegaconf import OmegaConf

        encoder = OmegaConf.to_container(config.encoder) if OmegaConf.is_config(config.encoder) else dict(config.encoder)
        return "chain", {"encoder": encoder, "scorer": {"name": found[0], **found[1]}}

    @classmethod
    def search_space_of(cls, config) -> dict[str, tuple]:
        """The scorer's space, under `scorer.` (method.scorer.nu=...); the encoder is not searched."""
        scorer = stage_class(config.scorer)
        return {f"scorer.{key}": values for key, values in scorer.search_space_of(config.scorer).items()}

    @classmethod
    def view_of(cls, config) -> str:
        return stage_class(config.encoder).view_of(config.encoder)  # the scorer reads the embedding

    @classmethod
    def condition_of(cls, config) -> str | None:
        return cls._conditions(config)[0] if cls._conditions(config) else None

    @classmethod
    def _conditions(cls, config) -> list[str]:
        """The conditions the stages declare, without repeats."""
        found = [stage_class(getattr(config, s)).condition_of(getattr(config, s)) for s in cls.stages]
        return list(dict.fromkeys(c for c in found if c))

    @classmethod
    def settings_problems(cls, config, backend_class) -> list[str]:
        encoder = stage_class(config.encoder)
        if not encoder.transforms:
            from qhep.methods import METHODS

            able = sorted(name for name, (m, _) in METHODS.items() if m.transforms)
            return [f"method.encoder={config.encoder.name} gives scores, not an embedding; encoders: {', '.join(able)}"]
        if len(cls._conditions(config)) > 1:
            return [f"the chain's stages are conditioned on different values ({', '.join(cls._conditions(config))}): "
                    "condition both on one"]
        return (encoder.settings_problems(config.encoder, backend_class)
                + stage_class(config.scorer).settings_problems(config.scorer, backend_class))

    def check_inputs(self, n_features: int) -> None:
        for stage, check, n in (("encoder", self.encoder_.check_encoder_inputs, n_features),
                                ("scorer", self.scorer_.check_inputs, self.encoder_.output_dim(n_features))):
            try:
                check(n)
            except QhepError as exc:  # the stage names its settings as method.<x>: here they are method.<stage>.<x>
                raise QhepError(str(exc).replace("method.", f"method.{stage}.")) from None

    def fit(self, X: np.ndarray, y: np.ndarray | None = None, condition: np.ndarray | None = None) -> Chain:
        self.encoder_.fit(X, y, **self._given("encoder", condition))
        self.scorer_.fit(self._embed(X, condition), y, **self._given("scorer", condition))
        self.history = list(getattr(self.scorer_, "history", []))
        return self

    def anomaly_score(self, X: np.ndarray, condition: np.ndarray | None = None) -> np.ndarray:
        return self.scorer_.anomaly_score(self._embed(X, condition), **self._given("scorer", condition))

    def _embed(self, X: np.ndarray, condition: np.ndarray | None) -> np.ndarray:
        return self.encoder_.transform(X, **self._given("encoder", condition))

    def _given(self, stage: str, condition: np.ndarray | None) -> dict:
        """The condition for a stage that declares one."""
        settings = getattr(self.config, stage)
        return {"condition": condition} if stage_class(settings).condition_of(settings) else {}

    def use_backend(self, backend) -> None:
        self.backend = backend
        self.scorer_.use_backend(backend)

    def restored(self) -> None:
        for stage in (self.encoder_, self.scorer_):
            stage.progress = self.progress
        self.scorer_.backend = self.backend
        self.encoder_.restored()
        self.scorer_.restored()

    def dry_run(self, n_features: int, n_test: int, n_train: int = 0) -> dict:
        if not hasattr(self.scorer_, "dry_run"):
            raise QhepError(f"method.scorer={self.config.scorer.name} runs no quantum jobs: nothing to price")
        return self.scorer_.dry_run(self.encoder_.output_dim(n_features), n_test, n_train)

    def estimate_seconds(self, n_features: int, n_train: int, n_test: int) -> dict | None:
        return self.scorer_.estimate_seconds(self.encoder_.output_dim(n_features), n_train, n_test)

    def resources(self) -> dict:
        encoder, scorer = self.encoder_.resources(), self.scorer_.resources()
        parameters = encoder.get("trainable_parameters", 0) + scorer.get("trainable_parameters", 0)
        return {**scorer, "trainable_parameters": parameters, "encoder": encoder, "scorer": scorer}

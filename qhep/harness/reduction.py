"""The declared step that fits a task's inputs to a method that takes few (a quantum one: one qubit each).

`auto` compresses only when a quantum method would get more features than `n_components` qubits; `pca`
standardises and projects on the leading principal components; `select` keeps named features. The step is fitted
on the training set alone and recorded in the result.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from qhep.errors import QhepError
from qhep.settings import Choice, ListOf, Number, Text, setting

REDUCTIONS = ("auto", "none", "pca", "select")


@dataclass
class ReductionConfig:
    method: str = setting("auto", Choice(REDUCTIONS))
    n_components: int = setting(8, Number(int, ge=1))
    features: list[str] = setting([], ListOf(Text(), unique=True))  # for method=select


def reduce_inputs(train: np.ndarray, test: np.ndarray, names: list[str], settings: ReductionConfig, quantum: bool,
                  seed: int) -> tuple[np.ndarray, np.ndarray, dict]:
    method = settings.method
    if method == "auto":
        method = "pca" if quantum and train.shape[1] > settings.n_components else "none"
    info = {"method": method, "requested": settings.method, "inputs": list(names)}
    if method == "none":
        return train, test, {**info, "outputs": list(names)}
    if method == "select":
        unknown = [f for f in settings.features if f not in names]
        if unknown or not settings.features:
            raise QhepError(f"reduction.features: unknown {unknown or 'empty list'}; choose from: {', '.join(names)}")
        index = [names.index(f) for f in settings.features]
        return train[:, index], test[:, index], {**info, "outputs": list(settings.features)}
    if not 1 <= settings.n_components <= train.shape[1]:
        raise QhepError(f"reduction.n_components must be between 1 and {train.shape[1]}, got {settings.n_components}")
    pipeline = make_pipeline(StandardScaler(), PCA(settings.n_components, random_state=seed)).fit(train)
    explained = pipeline[-1].explained_variance_ratio_
    outputs = [f"pc{i + 1}" for i in range(settings.n_components)]
    return pipeline.transform(train), pipeline.transform(test), {
        **info, "outputs": outputs, "explained_variance_ratio": [float(v) for v in explained]}

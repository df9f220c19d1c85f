"""`test_events`: score a seeded, stratified subsample of the test set, which bounds simulator and QPU time.

Stratified, so the signal fraction of the test set (and with it every efficiency and the AUC's expectation) is
kept; seeded, so the same seed scores the same events.
"""
from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from qhep.errors import QhepError


def check_test_events(n: int | None) -> None:
    if n is not None and n < 2:
        raise QhepError(f"test_events must be null (the whole test set) or at least 2 events, got {n}")


def stratified_subsample(y: np.ndarray, n: int | None, seed: int) -> np.ndarray | None:
    """Sorted indices of n events of y with its class fractions; None when n is null or covers the set."""
    check_test_events(n)
    if n is None or n >= len(y):
        return None
    try:
        keep, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    except ValueError as exc:  # e.g. fewer events than classes
        raise QhepError(f"test_events={n}: {str(exc).splitlines()[0]}") from None
    return np.sort(keep)

"""LHC Olympics 2020 R&D high-level features file (`events_anomalydetection_v2.features.h5`).

15 columns, per jet the three-momentum, mass and tau1..3, then the label. The embedded sample is written in
this same layout, so one reader serves the published file and qhep's own.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from qhep.errors import DataError
from qhep.formats.hdf import non_negative, read_table, untimed_hdf5_nodes

JET_FIELDS = ("px", "py", "pz", "m", "tau1", "tau2", "tau3")
COLUMNS = [f"{f}j{j}" for j in (1, 2) for f in JET_FIELDS] + ["label"]
# Physics forbids negative jet masses and N-subjettiness values (sums of pT x distance).
NON_NEGATIVE = {"mass": ["mj1", "mj2"], "N-subjettiness": [f"tau{n}j{j}" for j in (1, 2) for n in (1, 2, 3)]}


def read_features(path: str | Path) -> pd.DataFrame:
    """Every event of a features file, validated: all 15 columns, finite, masses and tau_N >= 0, labels 0/1."""
    frame = read_table(path, COLUMNS).astype(np.float64)
    for quantity, columns in NON_NEGATIVE.items():
        non_negative(frame[columns].to_numpy(), columns, path, quantity)
    labels = frame["label"].to_numpy()
    if not np.isin(labels, (0.0, 1.0)).all():
        raise DataError(path, "column label holds values other than 0 and 1")
    if len(frame) == 0:
        raise DataError(path, "no events")
    return frame


def write_features(rows: np.ndarray, path: str | Path) -> None:
    """Write (N, 15) rows as the published file does: pandas fixed format, key `df`.

    Values are stored as float32 (well below detector resolution) to keep the shipped sample small.
    """
    frame = pd.DataFrame(np.asarray(rows, dtype=np.float32), columns=COLUMNS)
    with untimed_hdf5_nodes():
        frame.to_hdf(path, key="df", mode="w", format="fixed", complevel=9, complib="zlib")

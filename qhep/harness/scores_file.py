"""Per-event test scores of a run, kept in its folder (`scores.h5`), so that a user can re-analyse, combine
methods or bump-hunt without running again.

One HDF5 group `test` with aligned datasets: `score` (higher = more anomalous), `label` (1 = signal), and every
per-event value the task hands over (`mjj` for LHCO, `weight` and `process` for Dark Machines). Written to a
temporary file and renamed into place, like the records.
"""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

SCORES_FILE = "scores.h5"


def write_scores(path: Path, scores: np.ndarray, labels: np.ndarray, values: dict[str, np.ndarray],
                 attrs: dict) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        with h5py.File(tmp, "w", track_order=True) as handle:
            group = handle.create_group("test")
            group.create_dataset("score", data=np.asarray(scores, dtype=np.float64), compression="gzip")
            group.create_dataset("label", data=np.asarray(labels, dtype=np.int8), compression="gzip")
            for name, value in values.items():
                value = np.asarray(value)
                if value.dtype.kind in "OUS":  # text (process IDs): variable-length UTF-8
                    value = value.astype(object).astype(h5py.string_dtype())
                group.create_dataset(name, data=value, compression="gzip")
            handle.attrs.update(attrs)
            handle.flush()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_scores(path: Path) -> dict[str, np.ndarray]:
    """The datasets of a scores file, by name (text as str)."""
    with h5py.File(path, "r") as handle:
        return {name: (data.asstr()[()] if h5py.check_string_dtype(data.dtype) else data[()])
                for name, data in handle["test"].items()}

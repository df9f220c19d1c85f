"""What a describer returns (`qhep data info`), and the bounded, chunked statistics and checks it is made of.

Shared by the layout registry (qhep.formats.detect) and the readers that describe their own layouts, so that
neither imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from qhep.errors import DataError

SAMPLE_VALUES = 20_000_000  # ~160 MB of float64: the whole LHCO features file, ~9,500 raw events
SAMPLE_BLOCKS = 8  # a sample is this many blocks spread over the file: files are often sorted by label
# The raw LHCO layout's title: its reader and the registry both name it
LHCO_RAW_TITLE = "LHC Olympics R&D hadrons (events_anomalydetection_v2.h5 layout)"


@dataclass
class FeatureStats:
    name: str
    minimum: float
    mean: float
    maximum: float


@dataclass
class FeatureGroup:
    note: str  # what was summarised, over which events
    stats: list[FeatureStats]


@dataclass
class Tally:
    note: str  # what was counted, over which events
    category: str  # what the keys of `counts` are, e.g. "process ID"
    counts: dict[str, int]  # category -> events, in the order to show


@dataclass
class Summary:
    path: str
    format: str
    events: int
    events_note: str  # how `events` was obtained, e.g. "exact, from HDF5 metadata"
    labels: dict[str, int] | None  # {"background": n, "signal": n}; None for unlabelled files
    labels_note: str
    groups: list[FeatureGroup] = field(default_factory=list)
    details: list[tuple[str, str]] = field(default_factory=list)  # further (what, value) facts about the layout
    tallies: list[Tally] = field(default_factory=list)  # events per category, e.g. per process ID
    further_tables: list[Summary] = field(default_factory=list)  # the file's other tables, one summary each


class Accumulator:
    """Per-feature min / mean / max over chunks, so big samples never sit in memory at once."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.count = np.zeros(len(names), dtype=np.int64)
        self.total = np.zeros(len(names))
        self.low = np.full(len(names), np.inf)
        self.high = np.full(len(names), -np.inf)

    def add(self, column: int, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        if values.size:
            self.count[column] += values.size
            self.total[column] += values.sum()
            self.low[column] = min(self.low[column], values.min())
            self.high[column] = max(self.high[column], values.max())

    def add_rows(self, rows: np.ndarray) -> None:
        for column in range(len(self.names)):
            self.add(column, rows[:, column])

    def stats(self) -> list[FeatureStats]:
        return [FeatureStats(name, *(float(v) for v in (lo, tot / n, hi)) if n else (np.nan,) * 3)
                for name, n, tot, lo, hi in zip(self.names, self.count, self.total, self.low, self.high)]


def sample_ranges(n_events: int, n_sample: int, n_blocks: int = SAMPLE_BLOCKS) -> list[tuple[int, int]]:
    """Row ranges covering the whole file if it is small, else `n_blocks` blocks spread evenly over it."""
    if n_events <= n_sample:
        return [(0, n_events)] if n_events else []
    size = max(n_sample // n_blocks, 1)
    starts = np.linspace(0, n_events - size, n_blocks).astype(int)
    return [(int(s), int(s) + size) for s in starts]


def sample_note(ranges: list[tuple[int, int]], n_events: int) -> str:
    n = sum(stop - start for start, stop in ranges)
    if n == n_events:
        return f"all {n_events:,} events"
    return f"sample of {n:,} of {n_events:,} events ({len(ranges)} blocks spread over the file)"


def finite_values(frame: pd.DataFrame, columns: list[str], path: str | Path, first_row: int) -> np.ndarray:
    """The named columns as float64; non-finite values fail naming the column and the file row."""
    values = frame[columns].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(path, f"non-finite value in column {columns[col]} at row {first_row + row}")
    return values


def label_counts(labels: np.ndarray, path: str | Path, first_row: int, column: str) -> dict[str, int]:
    bad = ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"column {column} holds {float(labels[row]):g} at row {first_row + row}; "
                              "labels must be 0 (background) or 1 (signal)")
    return {"background": int((labels == 0).sum()), "signal": int((labels == 1).sum())}


def dijet_mass(values: np.ndarray) -> np.ndarray:
    """mjj [GeV] from rows of the 14 LHCO jet columns (px, py, pz, m, tau1..3 per jet)."""
    p1, m1, p2, m2 = values[:, 0:3], values[:, 3], values[:, 7:10], values[:, 10]
    energy = np.sqrt((p1**2).sum(1) + m1**2) + np.sqrt((p2**2).sum(1) + m2**2)
    return np.sqrt(np.maximum(energy**2 - ((p1 + p2) ** 2).sum(1), 0.0))

"""LHC Olympics 2020 R&D hadron-level file (`events_anomalydetection_v2.h5`).

pandas fixed format, Blosc-compressed (PyTables ships the Blosc filter), one row per event: columns named 0..2099
hold up to 700 hadrons as (pT [GeV], eta, phi), zero-padded, and column 2100 the label (1 = signal). The published
file has 1.1M events (~18 GB as float64), so it is read in bounded row ranges, never whole.

Clustering the hadrons (massless, anti-kT R = 1.0) gives the same 15-column view as the features file.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qhep.errors import DataError
from qhep.formats.hdf import non_negative, pandas_table, read_rows
from qhep.formats.summary import (
    LHCO_RAW_TITLE,
    SAMPLE_VALUES,
    Accumulator,
    FeatureGroup,
    Summary,
    dijet_mass,
    finite_values,
    label_counts,
    sample_note,
    sample_ranges,
)

N_HADRONS = 700
HADRON_FIELDS = ("pt", "eta", "phi")
HADRON_COLUMNS = [str(i) for i in range(3 * N_HADRONS)]  # hadron k: columns 3k (pT), 3k+1 (eta), 3k+2 (phi)
LABEL_COLUMN = str(3 * N_HADRONS)
COLUMNS = [*HADRON_COLUMNS, LABEL_COLUMN]
CHUNK_EVENTS = 2_000  # ~34 MB of float64 per read
JET_RADIUS = 1.0
DESCRIBE_JET_EVENTS = 100  # events clustered by `describe`: FastJet from Python takes a few ms per event


@dataclass
class RawEvents:
    hadrons: np.ndarray  # (N, 700, 3): pT [GeV], eta, phi; padding slots are all zero
    labels: np.ndarray  # (N,) int8, 1 = signal
    start: int  # file row of the first event

    @property
    def mask(self) -> np.ndarray:
        """(N, 700) True where a slot holds a hadron (pT > 0)."""
        return self.hadrons[..., 0] > 0

    def __len__(self) -> int:
        return len(self.labels)


def count_events(path: str | Path, key: str | None = None) -> int:
    """Number of events, from the HDF5 metadata (no data is decompressed)."""
    with pandas_table(path, COLUMNS, key) as (_, _, n_events):
        return n_events


def iter_raw(path: str | Path, start: int = 0, stop: int | None = None, max_events: int | None = None,
             chunk_events: int = CHUNK_EVENTS, dtype=np.float64, key: str | None = None) -> Iterator[RawEvents]:
    """Events [start, stop) in chunks of at most `chunk_events`; `stop` and `max_events` are capped at the file."""
    if chunk_events < 1:
        raise ValueError("chunk_events must be positive")
    with pandas_table(path, COLUMNS, key) as (store, key, n_events):
        first, last = _row_range(path, n_events, start, stop, max_events)
        for begin in range(first, last, chunk_events):
            end = min(begin + chunk_events, last)
            yield _checked(read_rows(store, key, begin, end, path), path, begin, dtype)


def read_raw(path: str | Path, start: int = 0, stop: int | None = None, max_events: int | None = None,
             chunk_events: int = CHUNK_EVENTS, dtype=np.float64) -> RawEvents:
    """Events [start, stop) (or `max_events` from `start`) as one (N, 700, 3) array and labels."""
    chunks = list(iter_raw(path, start, stop, max_events, chunk_events, dtype))
    if not chunks:
        return RawEvents(np.zeros((0, N_HADRONS, 3), dtype=dtype), np.zeros(0, dtype=np.int8), start)
    return RawEvents(np.concatenate([c.hadrons for c in chunks]), np.concatenate([c.labels for c in chunks]),
                     chunks[0].start)


def _row_range(path, n_events: int, start: int, stop: int | None, max_events: int | None) -> tuple[int, int]:
    if start < 0 or (stop is not None and stop < start) or (max_events is not None and max_events < 0):
        raise DataError(path, f"invalid row range start={start} stop={stop} max_events={max_events}")
    if start >= n_events and not (start == 0 and n_events == 0):
        raise DataError(path, f"row {start} requested but the file has {n_events} events")
    last = n_events if stop is None else min(stop, n_events)
    if max_events is not None:
        last = min(last, start + max_events)
    return start, last


def _checked(frame: pd.DataFrame, path, first_row: int, dtype) -> RawEvents:
    values = finite_values(frame, COLUMNS, path, first_row)
    labels = values[:, -1]
    label_counts(labels, path, first_row, LABEL_COLUMN)
    hadrons = values[:, :-1].reshape(len(values), N_HADRONS, 3)
    non_negative(hadrons[..., 0], HADRON_COLUMNS[::3], path, "pT", first_row)
    return RawEvents(hadrons.astype(dtype, copy=False), labels.astype(np.int8), first_row)


def four_momenta(hadrons: np.ndarray) -> np.ndarray:
    """(..., 3) massless (pT, eta, phi) -> (..., 4) (px, py, pz, E); padding maps to zero."""
    pt, eta, phi = (hadrons[..., i].astype(np.float64) for i in range(3))
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], axis=-1)


def event_jets(hadrons: np.ndarray, radius: float = JET_RADIUS, ptmin: float = 20.0) -> list:
    """anti-kT jets of one event's (700, 3) hadrons, leading first: [(jet (px, py, pz, E), constituents (M, 4))]."""
    from qhep.physics.jets import cluster_jets, quiet_fastjet

    real = hadrons[hadrons[:, 0] > 0]  # zero-momentum padding has no direction and must not enter clustering
    if len(real) == 0:
        return []
    quiet_fastjet()
    return cluster_jets(four_momenta(real), radius, ptmin)


def jet_features(events: RawEvents, radius: float = JET_RADIUS) -> pd.DataFrame:
    """The features-file view: per event the two leading jets' px, py, pz, m, tau1..3 and the label.

    A missing second jet gives zeros, as in qhep's generated LHCO sample.
    """
    from qhep.formats.lhco import COLUMNS as FEATURE_COLUMNS
    from qhep.physics.jets import invariant_mass, nsubjettiness

    rows = np.zeros((len(events), len(FEATURE_COLUMNS)))
    for i, hadrons in enumerate(events.hadrons):
        for j, (p4, constituents) in enumerate(event_jets(hadrons, radius)[:2]):
            rows[i, 7 * j : 7 * j + 3] = p4[:3]
            rows[i, 7 * j + 3] = invariant_mass(p4)
            rows[i, 7 * j + 4 : 7 * j + 7] = nsubjettiness(constituents, 3, radius)
    rows[:, -1] = events.labels
    return pd.DataFrame(rows, columns=FEATURE_COLUMNS)


def describe(path: str | Path, sample_values: int = SAMPLE_VALUES, jet_events: int = DESCRIBE_JET_EVENTS,
             key: str | None = None) -> Summary:
    """Exact event count from metadata; labels, hadron statistics and a clustered-jet view from a bounded sample."""
    n_events = count_events(path, key)
    ranges = sample_ranges(n_events, max(sample_values // len(COLUMNS), 1))
    hadron_stats = Accumulator(["hadrons per event", "hadron pT [GeV]", "hadron eta", "hadron phi"])
    jet_stats = Accumulator(["pT j1 [GeV]", "m j1 [GeV]", "pT j2 [GeV]", "m j2 [GeV]", "mjj [GeV]", "tau21 j1"])
    labels = {"background": 0, "signal": 0}
    clustered, empty = 0, 0
    per_block = max(jet_events // max(len(ranges), 1), 1)
    for start, stop in ranges:
        for chunk in iter_raw(path, start, stop, key=key):
            mask = chunk.mask
            hadron_stats.add(0, mask.sum(axis=1))
            for k in range(3):
                hadron_stats.add(k + 1, chunk.hadrons[..., k][mask])
            empty += int((~mask.any(axis=1)).sum())
            for name, n in label_counts(chunk.labels, path, chunk.start, LABEL_COLUMN).items():
                labels[name] += n
            if chunk.start == start and clustered < jet_events:
                take = min(per_block, jet_events - clustered, len(chunk))
                jets = jet_features(RawEvents(chunk.hadrons[:take], chunk.labels[:take], chunk.start))
                values = jets.to_numpy()
                pt1, pt2 = np.hypot(values[:, 0], values[:, 1]), np.hypot(values[:, 7], values[:, 8])
                tau21 = values[:, 5] / (values[:, 4] + 1e-5)
                jet_stats.add_rows(np.column_stack([pt1, values[:, 3], pt2, values[:, 10],
                                                    dijet_mass(values[:, :14]), tau21]))
                clustered += take
    note = sample_note(ranges, n_events)
    hadron_note = f"hadrons (pT > 0 slots), {note}" + (f"; {empty} event(s) without hadrons" if empty else "")
    jet_note = f"leading anti-kT R = {JET_RADIUS} jets from the hadrons, {clustered:,} events of the sample"
    return Summary(str(path), LHCO_RAW_TITLE, n_events, "exact, from HDF5 metadata", labels,
                   f"from column {LABEL_COLUMN}, {note}",
                   [FeatureGroup(hadron_note, hadron_stats.stats()), FeatureGroup(jet_note, jet_stats.stats())])

"""`qhep data info` for jet-constituent tables (top tagging train/val/test.h5, semi-visible jets *_constit.h5).

The jet count, the number of constituent slots N and the presence of the truth columns come from the table's
metadata; labels and the jet features come from a bounded sample of rows spread over the file (the published
files are sorted by label). The features are sums over the constituent four-momenta, in numpy: N-subjettiness
would need FastJet and a clustering per jet, too slow for a quick look at a 1.2M-jet file.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qhep.formats.constituents import FIELDS, LABEL, TRUTH, inspect_table, read_jets
from qhep.formats.detect import JET_CONSTITUENTS
from qhep.formats.summary import (
    SAMPLE_VALUES,
    Accumulator,
    FeatureGroup,
    Summary,
    sample_note,
    sample_ranges,
)

CHUNK_JETS = 5_000  # rows read at once: 200 slots x 4 values x 8 bytes x 5k jets = 32 MB per copy
FEATURES = ["jet mass [GeV]", "jet pT [GeV]", "jet eta", "constituents per jet"]


def jet_kinematics(constituents: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(n, 4) mass, pT, eta, multiplicity of jets given as (n, N, 4) px, py, pz, E and the real-slot mask.

    A jet without constituents (or along the beam) has no direction: its eta is NaN.
    """
    total = (constituents * mask[..., None]).sum(axis=1)
    px, py, pz, energy = total.T
    pt = np.hypot(px, py)
    mass = np.sqrt(np.maximum(energy**2 - px**2 - py**2 - pz**2, 0.0))  # rounding can give m^2 slightly < 0
    eta = np.arcsinh(np.divide(pz, pt, out=np.full_like(pt, np.nan), where=pt > 0))
    return np.column_stack([mass, pt, eta, mask.sum(axis=1)])


def describe(path: str | Path, sample_values: int = SAMPLE_VALUES, key: str | None = None) -> Summary:
    info = inspect_table(path, key)
    last = info.n_constituents - 1
    truth = f"present ({' '.join(TRUTH)})" if info.has_truth else f"absent (no {' '.join(TRUTH)})"
    return _summary(path, JET_CONSTITUENTS.title, info.n_rows, info.n_constituents, sample_values,
                    lambda begin, end: read_jets(info.path, begin, end, info.key), f"from column {LABEL}",
                    [("table", f"key '{info.key}'"),
                     ("constituent slots", f"N = {info.n_constituents} (E_i PX_i PY_i PZ_i, i = 0..{last})"),
                     ("truth columns", truth)])


def describe_jet_sample(path: str | Path, sample_values: int = SAMPLE_VALUES) -> Summary:
    """The same summary for qhep's compact jet-sample layout."""
    import h5py

    from qhep.formats.constituents import JetBatch
    from qhep.formats.detect import QHEP_JETS
    from qhep.formats.jet_sample import count_jets, read_block, read_extra

    n = count_jets(path)
    with h5py.File(path, "r") as handle:
        slots, truth = handle["pt_fraction"].shape[1], "truth" in handle
    extras = ", ".join(read_extra(path)) or "none"
    return _summary(path, QHEP_JETS.title, n, slots, sample_values,
                    lambda begin, end: JetBatch(*read_block(path, begin, end)), "from dataset label",
                    [("constituent slots", f"C = {slots} (pT fraction, d-eta, d-phi, mass; float16)"),
                     ("truth", "present (px, py, pz, E)" if truth else "absent"), ("per-jet extras", extras)])


def _summary(path, title: str, n_rows: int, slots: int, sample_values: int, read, label_source: str,
             details: list) -> Summary:
    values_per_jet = len(FIELDS) * slots + 1
    ranges = sample_ranges(n_rows, max(sample_values // values_per_jet, 1))
    stats = Accumulator(FEATURES)
    labels = {"background": 0, "signal": 0}
    directionless = 0
    for start, stop in ranges:
        for begin in range(start, stop, CHUNK_JETS):
            batch = read(begin, min(begin + CHUNK_JETS, stop))
            features = jet_kinematics(batch.constituents, batch.mask)
            has_direction = np.isfinite(features[:, 2])
            directionless += int((~has_direction).sum())
            for column in range(len(FEATURES)):
                stats.add(column, features[has_direction if column == 2 else slice(None), column])
            labels["signal"] += int(batch.labels.sum())
            labels["background"] += int(len(batch) - batch.labels.sum())
    note = sample_note(ranges, n_rows)
    feature_note = f"jets from their constituent four-momenta, {note}"
    if directionless:
        feature_note += f"; {directionless:,} jet(s) with pT = 0 left out of eta"
    return Summary(str(path), title, n_rows, "exact, from HDF5 metadata", labels, f"{label_source}, {note}",
                   [FeatureGroup(feature_note, stats.stats())], details=details)

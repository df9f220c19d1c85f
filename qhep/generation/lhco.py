"""The LHC Olympics 2020 R&D sample: QCD dijets and W' -> X(500 GeV) Y(100 GeV), X, Y -> qq, at 13 TeV.

Particle level (Pythia 8 with ISR/FSR, MPI and hadronisation; no detector simulation): visible final-state
particles clustered with anti-kT R = 1.0; events need a jet with |eta| < 2.5 and pT > 1.2 TeV. Per jet the
four-momentum, mass and N-subjettiness tau1..3 (beta = 1, exclusive-kT axes), in the published 15 columns.
X is a charged scalar (H+) so that W'+ -> X+ Y conserves charge, as the LHCO signal does.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from qhep.formats.hdf import read_table
from qhep.formats.lhco import COLUMNS, write_features
from qhep.generation.chunks import (
    Stream,
    generate_streams,
    install_output,
    parts_dir_of,
)
from qhep.physics.jets import cluster_jets, invariant_mass, nsubjettiness

JET_RADIUS = 1.0
LEAD_PT_MIN = 1200.0
ETA_MAX = 2.5

QCD_DIJET = ("Beams:eCM = 13000", "HardQCD:all = on", "PhaseSpace:pTHatMin = 1100")


def wprime_settings(m_wprime: float = 3500.0, m_x: float = 500.0, m_y: float = 100.0) -> tuple[str, ...]:
    # meMode 100: Pythia takes the branching ratios as given instead of computing partial widths.
    return (
        "Beams:eCM = 13000",
        "NewGaugeBoson:ffbar2Wprime = on",
        "Wprime:coup2WZ = 0",
        f"34:m0 = {m_wprime}",
        "34:onMode = off",
        "34:oneChannel = 1 1.0 100 37 25",
        f"37:m0 = {m_x}",
        "37:oneChannel = 1 0.5 100 2 -1",
        "37:addChannel = 1 0.5 100 4 -3",
        f"25:m0 = {m_y}",
        "25:oneChannel = 1 0.34 100 1 -1",
        "25:addChannel = 1 0.33 100 2 -2",
        "25:addChannel = 1 0.33 100 3 -3",
    )


def lhco_event_row(particles: np.ndarray) -> np.ndarray | None:
    """14 feature values (two leading jets) for a selected event, None if the event fails the selection."""
    jets = [(p4, c) for p4, c in cluster_jets(particles, JET_RADIUS) if abs(_eta(p4)) < ETA_MAX]
    if not jets or np.hypot(*jets[0][0][:2]) < LEAD_PT_MIN:
        return None
    row = np.zeros(14)
    for i, (p4, constituents) in enumerate(jets[:2]):
        row[7 * i : 7 * i + 3] = p4[:3]
        row[7 * i + 3] = invariant_mass(p4)
        row[7 * i + 4 : 7 * i + 7] = nsubjettiness(constituents, 3, JET_RADIUS)
    return row


def _eta(p4: np.ndarray) -> float:
    pt = np.hypot(p4[0], p4[1])
    return float(np.arcsinh(p4[2] / pt)) if pt > 0 else np.inf


def generate_lhco(
    path: str | Path, n_background: int, n_signal: int, seed: int, workers: int | None = None,
    show_progress: bool = True,
) -> dict:
    """Write the sample (background first, then signal, as published); returns its cut flow."""
    path = Path(path)
    streams = [
        Stream("background", QCD_DIJET, n_background, 0.0),
        Stream("signal", wprime_settings(), n_signal, 1.0),
    ]
    rows, flows = generate_streams(
        streams, lhco_event_row, seed, parts_dir=parts_dir_of(path),
        workers=workers or os.cpu_count() or 1, show_progress=show_progress,
    )
    table = np.concatenate([
        np.column_stack([rows[s.name], np.full(len(rows[s.name]), s.label)]) for s in streams
    ])
    tmp = path.with_name(path.name + ".tmp")
    write_features(table, tmp)
    install_output(tmp, path, len(table), lambda p: len(read_table(p, COLUMNS)))
    return {name: vars(flow) for name, flow in flows.items()}

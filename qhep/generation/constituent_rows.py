"""Shared pieces of the jet-constituent generators (top tagging, semi-visible jets).

An event function returns one row per selected event: the chosen jet's leading constituents (pT-sorted,
zero-padded, px py pz E each), the truth four-momentum it was matched to (zeros for QCD), then any extras.
"""
from __future__ import annotations

import numpy as np

from qhep.physics.jets import cluster_jets


def final_state(event) -> tuple[np.ndarray, np.ndarray]:
    """Visible and invisible final-state particles, each (N, 4) px, py, pz, E, from one pass over the event."""
    visible, invisible = [], []
    for p in event:
        if p.isFinal():
            (visible if p.isVisible() else invisible).append((p.px(), p.py(), p.pz(), p.e()))
    return np.asarray(visible, dtype=np.float64).reshape(-1, 4), np.asarray(invisible, dtype=np.float64).reshape(-1, 4)


def four_momentum(particle) -> np.ndarray:
    return np.array([particle.px(), particle.py(), particle.pz(), particle.e()])


def eta_phi(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pseudorapidity and azimuth of (..., 4) px, py, pz, E; eta = 0 for a zero vector."""
    pt = np.hypot(p4[..., 0], p4[..., 1])
    eta = np.arcsinh(np.divide(p4[..., 2], pt, out=np.zeros_like(pt), where=pt > 0))
    return eta, np.arctan2(p4[..., 1], p4[..., 0])


def delta_r(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in (eta, phi) between four-momenta a and b (broadcasting)."""
    eta_a, phi_a = eta_phi(a)
    eta_b, phi_b = eta_phi(b)
    dphi = np.mod(phi_a - phi_b + np.pi, 2 * np.pi) - np.pi
    return np.hypot(eta_a - eta_b, dphi)


def candidate_jets(visible: np.ndarray, radius: float, pt_range: tuple[float, float], eta_max: float,
                   n_leading: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """Among the n_leading anti-kT jets, those inside the pT window and |eta| < eta_max, leading first."""
    jets = cluster_jets(visible, radius, ptmin=0.5 * pt_range[0])[:n_leading]
    out = []
    for p4, constituents in jets:
        pt = np.hypot(p4[0], p4[1])
        if pt_range[0] < pt < pt_range[1] and abs(eta_phi(p4)[0]) < eta_max:
            out.append((p4, constituents))
    return out


def constituent_block(constituents: np.ndarray, n_constituents: int) -> np.ndarray:
    """The leading n_constituents by pT, zero-padded, flattened to (4 * n_constituents,) px py pz E each."""
    order = np.argsort(-np.hypot(constituents[:, 0], constituents[:, 1]), kind="stable")[:n_constituents]
    block = np.zeros((n_constituents, 4))
    block[: len(order)] = constituents[order]
    return block.ravel()


def split_rows(rows: np.ndarray, n_constituents: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows from an event function -> constituents (n, N, 4), truth (n, 4), extras (n, k)."""
    width = 4 * n_constituents
    return rows[:, :width].reshape(-1, n_constituents, 4), rows[:, width : width + 4], rows[:, width + 4 :]


LAYOUTS = ("published", "qhep")


def write_constituent_sample(path, streams, event_fn, n_constituents: int, seed: int, workers: int | None,
                             show_progress: bool, chunk_size: int, multiplicity_column: int,
                             extra_columns: dict | None = None, layout: str = "published") -> dict:
    """Generate jet streams and write them, in a seeded random order (as the published files are, so the first
    rows hold both classes), in the top-tagging layout or qhep's compact one (qhep.formats.jet_sample); returns
    the cut flow per stream.

    `multiplicity_column`: the extras column holding the constituent count (to report truncated jets);
    `extra_columns`: names of extras columns stored per jet (under the key `event`, or the group `extra`).
    """
    import os
    from pathlib import Path

    import pandas as pd

    from qhep.formats.constituents import inspect_table, write_jets
    from qhep.formats.jet_sample import count_jets, write_jet_sample
    from qhep.generation.chunks import generate_streams, install_output, parts_dir_of

    path = Path(path)
    rows, flows = generate_streams(
        streams, event_fn, seed, parts_dir=parts_dir_of(path), chunk_size=chunk_size,
        workers=workers or os.cpu_count() or 1, show_progress=show_progress, raw_event=True,
    )
    parts = [split_rows(rows[s.name], n_constituents) for s in streams]
    labels = np.concatenate([np.full(len(rows[s.name]), int(s.label)) for s in streams])
    order = np.random.default_rng(seed).permutation(len(labels))
    constituents, truth, extras = (np.concatenate([p[i] for p in parts])[order] for i in (0, 1, 2))
    columns = {name: extras[:, i].astype(dtype) for i, (name, dtype) in enumerate((extra_columns or {}).items())}
    tmp = path.with_name(path.name + ".tmp")
    if layout == "qhep":
        write_jet_sample(tmp, constituents, labels[order], n_constituents, truth=truth, extra=columns)
        install_output(tmp, path, len(labels), count_jets)
    else:
        write_jets(tmp, constituents, labels[order], truth=truth,
                   **({"extra": {"event": pd.DataFrame(columns)}} if columns else {}))
        install_output(tmp, path, len(labels), lambda p: inspect_table(p).n_rows)
    report = {name: vars(flow) for name, flow in flows.items()}
    for stream, (_, _, columns) in zip(streams, parts):
        report[stream.name]["truncated_jets"] = int((columns[:, multiplicity_column] > n_constituents).sum())
    return report

"""Jet clustering and N-subjettiness on numpy four-momenta, through FastJet: one place for the sample generators,
the raw-file readers and the tasks."""
from __future__ import annotations

import ctypes
import os
import sys
from functools import cache

import fastjet
import numpy as np


@cache
def quiet_fastjet() -> None:
    """FastJet prints its banner to C stdout at the first clustering: run that one with stdout muted, once, so that
    commands print only their own output (generation workers mute stdout altogether)."""
    sys.stdout.flush()
    saved, devnull = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        fastjet.ClusterSequence([fastjet.PseudoJet(1.0, 0.0, 0.0, 1.0)],
                                fastjet.JetDefinition(fastjet.antikt_algorithm, 1.0))
        ctypes.CDLL(None).fflush(None)  # the banner may sit in C stdio's buffer when stdout is not a terminal
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def antikt_momenta(p4: np.ndarray, radius: float, ptmin: float) -> np.ndarray:
    """(J, 4) px, py, pz, E of the anti-kT jets above ptmin, by decreasing pT (no constituents: faster)."""
    particles = [fastjet.PseudoJet(*row) for row in p4.tolist()]
    sequence = fastjet.ClusterSequence(particles, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    jets = [(j.px(), j.py(), j.pz(), j.e()) for j in fastjet.sorted_by_pt(sequence.inclusive_jets(ptmin))]
    return np.array(jets, dtype=np.float64).reshape(-1, 4)


def _pseudojets(p4: np.ndarray) -> list:
    out = []
    for i, (px, py, pz, e) in enumerate(p4):
        pj = fastjet.PseudoJet(float(px), float(py), float(pz), float(e))
        pj.set_user_index(i)
        out.append(pj)
    return out


def cluster_jets(p4: np.ndarray, radius: float, ptmin: float = 20.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """anti-kT jets sorted by pT: a list of (jet four-momentum (4,), constituent four-momenta (M, 4))."""
    sequence = fastjet.ClusterSequence(_pseudojets(p4), fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
    jets = []
    for jet in fastjet.sorted_by_pt(sequence.inclusive_jets(ptmin)):
        index = [c.user_index() for c in jet.constituents()]
        jets.append((np.array([jet.px(), jet.py(), jet.pz(), jet.e()]), p4[index]))
    return jets


def rapidity_phi(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    px, py, pz, e = p4.T
    # Massless-limit guard: E == |pz| would give an infinite rapidity.
    y = 0.5 * np.log(np.maximum(e + pz, 1e-12) / np.maximum(e - pz, 1e-12))
    return y, np.arctan2(py, px)


def nsubjettiness(constituents: np.ndarray, n_max: int = 3, radius: float = 1.0, beta: float = 1.0) -> np.ndarray:
    """tau_1..tau_n_max with exclusive-kT axes, normalised by sum(pT) * R0 (beta = 1 by default).

    Axes come from one exclusive kT reclustering of the constituents, as fjcontrib's ExclusiveAxes.
    A jet with fewer constituents than N gets tau_N = 0 (every constituent is its own axis).
    """
    pt = np.hypot(constituents[:, 0], constituents[:, 1])
    y, phi = rapidity_phi(constituents)
    norm = pt.sum() * radius**beta
    taus = np.zeros(n_max)
    if norm <= 0:
        return taus
    sequence = fastjet.ClusterSequence(
        _pseudojets(constituents), fastjet.JetDefinition(fastjet.kt_algorithm, fastjet.JetDefinition.max_allowable_R)
    )
    for n in range(1, min(n_max, len(constituents)) + 1):
        axes = np.array([[a.rap(), a.phi()] for a in sequence.exclusive_jets(n)])
        dphi = np.mod(phi[:, None] - axes[None, :, 1] + np.pi, 2 * np.pi) - np.pi
        dr = np.sqrt((y[:, None] - axes[None, :, 0]) ** 2 + dphi**2)
        taus[n - 1] = np.sum(pt * dr.min(axis=1) ** beta) / norm
    return taus


def invariant_mass(p4: np.ndarray) -> np.ndarray:
    """Mass of four-momenta along the last axis; tiny negative m^2 from rounding gives 0."""
    m2 = p4[..., 3] ** 2 - p4[..., 0] ** 2 - p4[..., 1] ** 2 - p4[..., 2] ** 2
    return np.sqrt(np.maximum(m2, 0.0))

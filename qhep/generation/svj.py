"""Semi-visible jets: a dark shower from Z' -> dark quarks (Pythia 8 Hidden Valley) against QCD jets.

Default parameters are the "Aachen" benchmark of DarkCLR (arXiv:2312.03067): m_Z' = 2 TeV, r_inv = 0.75,
dark quark mass 5 GeV, Lambda_d = m_pi_d = m_rho_d = 5 GeV; SU(3) with two dark flavours, vector fraction 0.75.
Every dark meson (diagonal and off-diagonal, pseudoscalar and vector) decays invisibly to a stable dark-matter
stand-in (51 for pseudoscalars, 53 for vectors) with probability r_inv, else to a SM quark pair: pseudoscalars by
mass insertion (rate ~ m_q^2), vectors democratically over the open flavours. Invisible particles never enter
jets: only visible final-state particles are clustered (anti-kT R = 0.8; 150 < pT < 350 GeV, |eta| < 2). Of the
two leading jets the first that passes is kept; in signal events it must lie within dR < 0.8 of a dark quark
from the Z' decay. Particle level at 13 TeV, no detector simulation. Written in the top-tagging constituent
layout (the leading 200 constituents); per-jet missing pT and invisible pT near the jet go under key `event`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qhep.generation.chunks import Stream
from qhep.generation.constituent_rows import (
    candidate_jets,
    constituent_block,
    delta_r,
    final_state,
    four_momentum,
    write_constituent_sample,
)

N_CONSTITUENTS = 200
JET_RADIUS = 0.8
PT_RANGE = (150.0, 350.0)
ETA_MAX = 2.0
MATCH_RADIUS = 0.8
EXTRAS = ["met", "jet_invisible_pt", "n_constituents"]

ZPRIME, DARK_QUARK = 4900023, 4900101
QCD_DIJET = ("Beams:eCM = 13000", "HardQCD:all = on", "PhaseSpace:pTHatMin = 130", "PhaseSpace:pTHatMax = 400")
# SM quark masses [GeV] deciding which visible decays a dark meson has and their mass-insertion weights.
_QUARK_MASS = {1: 0.0047, 2: 0.0022, 3: 0.093, 4: 1.27, 5: 4.18}


def svj_settings(r_inv: float = 0.75, m_zprime: float = 2000.0, m_dark_quark: float = 5.0,
                 lambda_dark: float = 5.0, m_dark_pion: float = 5.0, m_dark_rho: float = 5.0,
                 n_flavours: int = 2, n_colours: int = 3, prob_vector: float = 0.75) -> tuple[str, ...]:
    """Pythia settings for q qbar -> Z' -> dark quarks with a dark shower and hadronisation."""
    if not 0.0 <= r_inv <= 1.0:
        raise ValueError(f"r_inv must lie in [0, 1], got {r_inv}")
    lines = [
        "Beams:eCM = 13000",
        "HiddenValley:ffbar2Zv = on",
        f"{ZPRIME}:m0 = {m_zprime}", f"{ZPRIME}:mWidth = 10", f"{ZPRIME}:mMin = {m_zprime - 200}",
        f"{ZPRIME}:mMax = {m_zprime + 200}",
        # The light-quark channels give the Z' its coupling to the colliding partons; it decays only to dark quarks.
        f"{ZPRIME}:oneChannel = 1 0.97 102 {DARK_QUARK} -{DARK_QUARK}",
        *(f"{ZPRIME}:addChannel = 1 0.01 102 {q} -{q}" for q in (1, 2, 3)),
        f"{ZPRIME}:onMode = off", f"{ZPRIME}:onIfAny = {DARK_QUARK}",
        f"HiddenValley:Ngauge = {n_colours}", f"HiddenValley:nFlav = {n_flavours}", "HiddenValley:spinFv = 0",
        "HiddenValley:FSR = on", "HiddenValley:fragment = on", "HiddenValley:alphaOrder = 1",
        "HiddenValley:setLambda = on", f"HiddenValley:Lambda = {lambda_dark}",
        f"HiddenValley:pTminFSR = {1.1 * lambda_dark:.6g}",  # Pythia requires >= 1.1 Lambda
        f"HiddenValley:probVector = {prob_vector}",
        f"{DARK_QUARK}:m0 = {m_dark_quark}",
        "51:m0 = 0", "51:isResonance = off", "53:m0 = 0", "53:isResonance = off",
    ]
    for meson, mass, stand_in, weighting in ((4900111, m_dark_pion, 51, "mass"), (4900211, m_dark_pion, 51, "mass"),
                                             (4900113, m_dark_rho, 53, "flat"), (4900213, m_dark_rho, 53, "flat")):
        lines += [f"{meson}:m0 = {mass}", f"{meson}:mayDecay = on",
                  f"{meson}:oneChannel = 1 {r_inv:.6g} 0 {stand_in} -{stand_in}"]
        lines += [f"{meson}:addChannel = 1 {br:.6g} 91 {q} -{q}"
                  for q, br in _visible_branchings(mass, 1.0 - r_inv, weighting).items()]
    return tuple(lines)


def _visible_branchings(mass: float, total: float, weighting: str) -> dict[int, float]:
    open_quarks = {q: m for q, m in _QUARK_MASS.items() if 2 * m < mass}
    weights = {q: (m**2 if weighting == "mass" else 1.0) for q, m in open_quarks.items()}
    norm = sum(weights.values())
    return {q: total * w / norm for q, w in weights.items() if total * w / norm > 0}


def dark_quarks(event) -> list[np.ndarray] | None:
    """Four-momenta of the dark quarks from the Z' decay; None when the event has no Z' (QCD)."""
    quarks, has_zprime = [], False
    for p in event:
        has_zprime |= p.idAbs() == ZPRIME
        if p.idAbs() == DARK_QUARK and event[p.mother1()].idAbs() == ZPRIME:
            quarks.append(four_momentum(p))
    return quarks if has_zprime else None


def svj_event_row(event) -> np.ndarray | None:
    """Row for the selected jet (constituents, matched dark quark, missing pT, invisible pT within the jet
    radius, constituents before truncation), or None. An event with a Z' is signal: its jet must be matched."""
    visible, invisible = final_state(event)
    quarks = dark_quarks(event)
    for p4, constituents in candidate_jets(visible, JET_RADIUS, PT_RANGE, ETA_MAX):
        truth = np.zeros(4)
        if quarks is not None:
            matched = [q for q in quarks if delta_r(p4, q) < MATCH_RADIUS]
            if not matched:
                continue
            truth = matched[0]
        met = np.hypot(*invisible[:, :2].sum(axis=0)) if len(invisible) else 0.0
        near = invisible[delta_r(invisible, p4) < JET_RADIUS] if len(invisible) else invisible
        jet_invisible_pt = np.hypot(*near[:, :2].sum(axis=0)) if len(near) else 0.0
        return np.concatenate([constituent_block(constituents, N_CONSTITUENTS), truth,
                               [met, jet_invisible_pt, len(constituents)]])
    return None


def generate_svj(path: str | Path, n_background: int, n_signal: int, seed: int, workers: int | None = None,
                 show_progress: bool = True, chunk_size: int = 250, layout: str = "published", **model) -> dict:
    """Write the sample (QCD and semi-visible jets, seeded random order); `model`: svj_settings' arguments."""
    streams = [Stream("qcd", QCD_DIJET, n_background, 0.0), Stream("svj", svj_settings(**model), n_signal, 1.0)]
    return write_constituent_sample(path, streams, svj_event_row, N_CONSTITUENTS, seed, workers, show_progress,
                                    chunk_size, multiplicity_column=2,
                                    extra_columns={"met": np.float32, "jet_invisible_pt": np.float32,
                                                   "n_constituents": np.int64}, layout=layout)

"""Top tagging sample: boosted hadronic tops against QCD jets at 14 TeV, as in Kasieczka et al. (Zenodo 2603256).

Particle level (Pythia 8 with ISR/FSR, MPI and hadronisation; no detector simulation): visible final-state
particles clustered with anti-kT R = 0.8; a jet needs 550 < pT < 650 GeV and |eta| < 2. Of the two leading jets
the first that passes is kept (one jet per event). In ttbar events (both W -> qq') it must also lie within
dR < 0.8 of a top whose b and two W-decay quarks are all within dR < 0.8 of the jet axis. Written in the published
layout: the leading 200 constituents, truth columns = the matched top (zeros for QCD), ttv = 0, is_signal_new.
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
PT_RANGE = (550.0, 650.0)
ETA_MAX = 2.0
MATCH_RADIUS = 0.8

# The hard-process pT window brackets the jet window; a harder or softer parton rarely makes a 550-650 GeV jet.
_COMMON = ("Beams:eCM = 14000", "PhaseSpace:pTHatMin = 500", "PhaseSpace:pTHatMax = 750")
QCD_DIJET = (*_COMMON, "HardQCD:all = on")
TTBAR_HADRONIC = (*_COMMON, "Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off",
                  "24:onIfAny = 1 2 3 4 5")


def hadronic_tops(event) -> list[tuple[np.ndarray, np.ndarray]]:
    """(top four-momentum, (3, 4) b and W-decay quarks) for each top decaying t -> b W, W -> q q'."""
    tops = []
    for particle in event:
        if particle.idAbs() != 6 or particle.iBotCopyId() != particle.index():
            continue  # only the last copy of a top, the one that decays
        daughters = [event[i] for i in particle.daughterList()]
        b = [d for d in daughters if d.idAbs() == 5]
        w = [d for d in daughters if d.idAbs() == 24]
        if len(b) != 1 or len(w) != 1:
            continue
        w_last = event[w[0].iBotCopyId()]
        quarks = [event[i] for i in w_last.daughterList() if 1 <= event[i].idAbs() <= 5]
        if len(quarks) == 2:
            tops.append((four_momentum(particle), np.array([four_momentum(q) for q in (b[0], *quarks)])))
    return tops


def top_event_row(event) -> np.ndarray | None:
    """Row for the selected jet (constituents, truth top, number of constituents before truncation), or None.

    An event holding a top is a signal event, whose jet must be top-matched; otherwise (QCD) any jet passes.
    """
    visible, _ = final_state(event)
    tops = hadronic_tops(event)
    for p4, constituents in candidate_jets(visible, JET_RADIUS, PT_RANGE, ETA_MAX):
        truth = np.zeros(4)
        if tops:
            matched = [top for top, partons in tops
                       if delta_r(p4, top) < MATCH_RADIUS and (delta_r(p4, partons) < MATCH_RADIUS).all()]
            if not matched:
                continue
            truth = matched[0]
        return np.concatenate([constituent_block(constituents, N_CONSTITUENTS), truth, [len(constituents)]])
    return None


def generate_top(path: str | Path, n_background: int, n_signal: int, seed: int, workers: int | None = None,
                 show_progress: bool = True, chunk_size: int = 250, layout: str = "published") -> dict:
    """Write the sample (QCD and top jets in a seeded random order); returns the cut flow per stream."""
    streams = [Stream("qcd", QCD_DIJET, n_background, 0.0), Stream("top", TTBAR_HADRONIC, n_signal, 1.0)]
    return write_constituent_sample(path, streams, top_event_row, N_CONSTITUENTS, seed, workers, show_progress,
                                    chunk_size, multiplicity_column=0, layout=layout)

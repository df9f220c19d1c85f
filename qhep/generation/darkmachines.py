"""A Dark Machines-style sample: SM backgrounds and four BSM signals at 13 TeV, written as the challenge's CSV.

Particle level (Pythia 8 with ISR/FSR, MPI and hadronisation), with the challenge's object definitions and a
simple parametric detector in place of Delphes:
- MET: vector sum of the invisible final-state particles (neutrinos, neutralinos, dark matter), corrected for
  the jet smearing below (a jet measured high by dpT leaves -dpT in MET), so mismeasured QCD jets fake MET.
- electrons, muons: pT > 15 GeV, |eta| < 2.7, isolated as in Delphes' ATLAS card (sum pT of other visible
  particles with pT > 0.5 GeV within dR < 0.5 below 12 % (e) or 25 % (mu) of the lepton pT); no efficiency loss.
- photons: pT > 20 GeV, |eta| < 2.37, isolated as electrons.
- jets: anti-kT R = 0.4 (FastJet) on the other visible particles with |eta| < 4.9; four-momentum scaled by
  1 + N(0, sigma) with sigma/pT = 0.6/sqrt(pT/GeV) (+) 0.03; kept with pT > 20 GeV and |eta| < 2.8.
- b-tagging (|eta| < 2.5): a jet is b (c) if a b (c) hadron with pT > 5 GeV lies within dR < 0.4 of its axis,
  and is tagged with probability 0.70 for b, 0.15 for c and 0.01 for light jets.
Smearing and tagging draw from a generator seeded by the event's own final state, so they are fixed by the
Pythia seed like everything else. Events are kept when they pass at least one of the four channel selections.

Each process is generated in streams cut to the phase space near the channels (pTHat ranges, leptonic
decays); a stream's event weight is sigma_gen x L / N_generated (sigma_gen: Pythia's cross section of the stream,
averaged over chunks; N_generated: events generated before the channel preselection), so the weights of a
process's stored events sum to its expected count in L = LUMINOSITY_FB fb^-1. Leading-order cross sections, no
K-factors.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np

from qhep.formats.darkmachines import (
    ANTIMUON,
    BJET,
    ELECTRON,
    JET,
    MUON,
    PHOTON,
    POSITRON,
    Events,
    format_line,
    iter_events,
    write_events,
)
from qhep.generation.chunks import (
    Stream,
    generate_streams,
    install_output,
    parts_dir_of,
)
from qhep.physics.jets import antikt_momenta
from qhep.tasks.darkmachines import CHANNELS, in_channel

LUMINOSITY_FB = 10.0  # the challenge's dataset corresponds to 10 fb^-1
MB_TO_FB = 1e12
MAX_OBJECTS = 40  # objects a generated row holds; events with more are counted, the softest ones dropped
ROW_HEADER = 3  # MET, METphi, number of objects before truncation
CHUNK_SIZE = 50  # stored events per chunk

JET_R, JET_PT, JET_ETA, CALO_ETA = 0.4, 20.0, 2.8, 4.9
LEPTON_PT, LEPTON_ETA, PHOTON_PT, PHOTON_ETA = 15.0, 2.7, 20.0, 2.37
ISOLATION_DR, ISOLATION_PT_MIN = 0.5, 0.5
ISOLATION_RATIO = {11: 0.12, 13: 0.25, 22: 0.12}
SMEAR_STOCHASTIC, SMEAR_CONSTANT = 0.6, 0.03
BTAG_ETA, BTAG_DR, HADRON_PT = 2.5, 0.4, 5.0
BTAG_EFFICIENCY = {5: 0.70, 4: 0.15, 0: 0.01}  # by jet flavour: b, c, light


class Background(NamedTuple):
    """One generation stream of an SM process: the challenge's process ID its events carry, Pythia settings, and
    its share of the stored background events."""

    process: str
    settings: tuple[str, ...]
    share: float


BEAM = ("Beams:eCM = 13000",)
W_LEPTONIC = ("24:onMode = off", "24:onIfAny = 11 13 15")  # W -> e, mu, tau + nu
Z_LEPTONIC = ("23:onMode = off", "23:onIfAny = 11 13 15")  # Z -> ee, mumu, tautau
Z_ONLY = ("WeakZ0:gmZmode = 2",)  # the Z alone: no photon pole at low mass
# Each stream is cut to the phase space that reaches a channel: the hard streams (pTHat > 200-400 GeV) feed
# channels 1 and 3 (MET >= 100-200, HT >= 600), the leptonic ones 2a and 2b (>= 3 or >= 2 leptons). ttbar is split
# at pTHat = 200 GeV so no event is counted twice: above, every decay; below, both W leptonic (the two-lepton
# channels' main background; the other low-pTHat decays rarely reach any channel and are not generated).
# Pythia's cross sections include the branching fractions of the decays left open.
# Shares: relative numbers of stored events per stream, chosen so every channel holds thousands of background
# events (measured: 2a is fed by WZ, 1 by hard ttbar and W + jet); the weights (sigma x L / N generated) restore
# the physical mixture.
BACKGROUNDS = {
    "ttbar": Background("ttbar", (*BEAM, "Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "PhaseSpace:pTHatMin = 200"),
                        100),
    "ttbar_dilepton": Background("ttbar", (*BEAM, "Top:gg2ttbar = on", "Top:qqbar2ttbar = on",
                                           "PhaseSpace:pTHatMax = 200", *W_LEPTONIC), 40),
    # W -> l nu and Z -> ll, nunu (tau included): the hadronic decays belong to the multijet background.
    "w_jets": Background("w_jets", (*BEAM, "WeakBosonAndParton:qqbar2Wg = on", "WeakBosonAndParton:qg2Wq = on",
                                    "PhaseSpace:pTHatMin = 300", *W_LEPTONIC), 80),
    "z_jets": Background("z_jets", (*BEAM, "WeakBosonAndParton:qqbar2gmZg = on", "WeakBosonAndParton:qg2gmZq = on",
                                    *Z_ONLY, "PhaseSpace:pTHatMin = 300", "23:onMode = off",
                                    "23:onIfAny = 11 13 15 12 14 16"), 50),
    "njets": Background("njets", (*BEAM, "HardQCD:all = on", "PhaseSpace:pTHatMin = 400"), 6),
    "ww": Background("ww", (*BEAM, "WeakDoubleBoson:ffbar2WW = on", *W_LEPTONIC), 15),
    "zw_jets": Background("zw_jets", (*BEAM, "WeakDoubleBoson:ffbar2ZW = on", *Z_ONLY, *W_LEPTONIC, *Z_LEPTONIC),
                          90),
    "zz_jets": Background("zz_jets", (*BEAM, "WeakDoubleBoson:ffbar2gmZgmZ = on", *Z_ONLY, "23:onMode = off",
                                      "23:onIfAny = 11 13 15 12 14 16"), 10),
}

SIGNAL_GLUINO = "glgl1400_neutralino1100"
SIGNAL_STOP = "stop2b1000_neutralino300"
SIGNAL_CHANEUT = "chaneut_cha250_neut150"
SIGNAL_MONOJET = "monojet_Zp2000.0_DM_50.0"
Z_PRIME, DARK_MATTER = 2000.0, 50.0
GLUINO, STOP, CHI1, CHI2, CHI0 = 1000021, 1000006, 1000024, 1000023, 1000022  # PDG codes


class Spectrum(NamedTuple):
    """A simplified SUSY model: the light sparticles' masses and decays, everything else decoupled; with the
    Pythia processes that produce the pair."""

    masses: dict[int, float]
    decays: dict[int, tuple[tuple[float, tuple[int, ...]], ...]]  # pdg: ((branching fraction, daughters), ...)
    processes: tuple[str, ...]


SPECTRA = {
    # gluino pairs, gluino -> q qbar chi_1^0 (q = d, u, s, c, equal shares) through heavy off-shell squarks
    SIGNAL_GLUINO: Spectrum({GLUINO: 1400.0, CHI0: 1100.0},
                            {GLUINO: tuple((0.25, (CHI0, q, -q)) for q in (1, 2, 3, 4))},
                            ("SUSY:gg2gluinogluino = on", "SUSY:qqbar2gluinogluino = on")),
    # stop pairs, stop -> t chi_1^0 (the published events of this point hold top quarks)
    SIGNAL_STOP: Spectrum({STOP: 1000.0, CHI0: 300.0}, {STOP: ((1.0, (CHI0, 6)),)},
                          ("SUSY:gg2squarkantisquark = on", "SUSY:qqbar2squarkantisquark = on",
                           f"SUSY:idA = {STOP}", f"SUSY:idB = {STOP}")),
    # wino-like chi_1^+- chi_2^0 -> W chi_1^0 Z chi_1^0, W and Z decaying freely: Pythia's cross section does
    # not fold in branching fractions of bosons from SLHA decays, so forcing leptonic ones would mis-weight it
    SIGNAL_CHANEUT: Spectrum({CHI1: 250.0, CHI2: 250.0, CHI0: 150.0},
                             {CHI1: ((1.0, (CHI0, 24)),), CHI2: ((1.0, (CHI0, 23)),)},
                             ("SUSY:qqbar2chi+-chi0 = on", f"SUSY:idA = {CHI1}", f"SUSY:idB = {CHI2}")),
}
# q qbar -> Z' g, Z' (55) -> DM DMbar (52), Pythia's default couplings (gZp = 0.1, vector). Pythia has no
# q g -> Z' q for this model; the hard jet recoiling against the invisible Z' makes the monojet.
MONOJET = (*BEAM, "DM:ffbar2Zp2XXj = on", "PhaseSpace:pTHatMin = 500", f"55:m0 = {Z_PRIME}", f"52:m0 = {DARK_MATTER}",
           "55:onMode = off", "55:onIfAny = 52")

SPARTICLES = (1000001, 1000002, 1000003, 1000004, 1000005, 1000006, 2000001, 2000002, 2000003, 2000004, 2000005,
              2000006, 1000011, 1000012, 1000013, 1000014, 1000015, 1000016, 2000011, 2000013, 2000015,
              1000021, 1000022, 1000023, 1000025, 1000035, 1000024, 1000037, 35, 36, 37)


def spectrum_slha(spectrum: Spectrum, heavy: float = 5000.0) -> str:
    """The SLHA file of a simplified model: every sparticle at `heavy` but the spectrum's; no mixing (bino
    chi_1^0, wino chi_2^0 and chi_1^+-, left-handed stop_1); the light sparticles decay as given, the LSP is stable."""
    masses = {**{pid: heavy for pid in SPARTICLES}, 25: 125.0, **spectrum.masses}
    lines = ["BLOCK MODSEL", "    1    0", "BLOCK SMINPUTS", "    1  1.27934E+02", "    2  1.16637E-05",
             "    3  1.18000E-01", "    4  9.11876E+01", "    5  4.18000E+00", "    6  1.73000E+02",
             "    7  1.77682E+00", "BLOCK MINPAR", "    3  1.00000E+01", "BLOCK MASS",
             *(f"  {pid:>8d}  {m:.6E}" for pid, m in masses.items())]
    for block, n in (("NMIX", 4), ("UMIX", 2), ("VMIX", 2), ("STOPMIX", 2), ("SBOTMIX", 2), ("STAUMIX", 2)):
        lines += [f"BLOCK {block}",
                  *(f"  {i} {j}  {float(i == j):.6E}" for i in range(1, n + 1) for j in range(1, n + 1))]
    lines += ["BLOCK ALPHA", "   -1.00000E-01", "BLOCK HMIX Q= 1.0E+03", "    1  5.00000E+03", "    2  1.00000E+01",
              "BLOCK GAUGE Q= 1.0E+03", "    1  3.60000E-01", "    2  6.40000E-01", "    3  1.06000E+00",
              "BLOCK MSOFT Q= 1.0E+03", f"    1  {masses[CHI0]:.6E}", f"    2  {masses[CHI2]:.6E}",
              f"    3  {masses[GLUINO]:.6E}"]
    for pid, channels in spectrum.decays.items():
        lines += [f"DECAY {pid} 1.00000E-02",
                  *(f"   {br:.6E}  {len(daughters)}  " + "  ".join(map(str, daughters)) for br, daughters in channels)]
    lines.append(f"DECAY {CHI0} 0.00000E+00")
    return "\n".join(lines) + "\n"


def spectrum_settings(spectrum: Spectrum, slha_path: Path) -> tuple[str, ...]:
    return (*BEAM, *spectrum.processes, f"SLHA:file = {slha_path}")


def _heavy_flavour(id_abs: int) -> int:
    """5 for hadrons with a b quark, 4 with a c (and no b), else 0; from the PDG code's quark digits."""
    if id_abs < 100 or id_abs >= 10000 or (id_abs // 10) % 10 == 0:  # not a hadron (partons, leptons, diquarks)
        return 0
    quarks = ((id_abs // 1000) % 10, (id_abs // 100) % 10, (id_abs // 10) % 10)
    return 5 if 5 in quarks else 4 if 4 in quarks else 0


def _delta_r(eta1, phi1, eta2, phi2) -> np.ndarray:
    dphi = np.mod(np.subtract.outer(phi1, phi2) + np.pi, 2 * np.pi) - np.pi
    return np.sqrt(np.subtract.outer(eta1, eta2) ** 2 + dphi**2)


def _pt_eta_phi(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pt = np.hypot(p4[:, 0], p4[:, 1])
    eta = np.arcsinh(np.divide(p4[:, 2], pt, out=np.full(len(pt), 1e9) * np.sign(p4[:, 2]), where=pt > 0))
    return pt, eta, np.arctan2(p4[:, 1], p4[:, 0])


def event_row(event) -> np.ndarray | None:
    """MET, METphi, object count and up to MAX_OBJECTS (type, E, pT, eta, phi) for an event in any channel."""
    final, hadrons = [], []
    for p in event:
        if p.isFinal():
            final.append((p.id(), p.px(), p.py(), p.pz(), p.e(), p.isVisible()))
        else:
            flavour = _heavy_flavour(p.idAbs())
            if flavour:
                hadrons.append((flavour, p.px(), p.py(), p.pz(), p.e()))
    final = np.array(final, dtype=np.float64).reshape(-1, 6)
    rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(final.tobytes(), digest_size=8).digest(), "little"))
    pid, p4, visible = final[:, 0].astype(np.int64), final[:, 1:5], final[:, 5] > 0
    met = p4[~visible, :2].sum(axis=0)  # the invisibles' transverse momentum
    p4, pid = p4[visible], pid[visible]
    pt, eta, phi = _pt_eta_phi(p4)

    objects = []  # (type, E, pT, eta, phi)
    used = np.zeros(len(pid), dtype=bool)
    selections = ((11, LEPTON_PT, LEPTON_ETA), (13, LEPTON_PT, LEPTON_ETA), (22, PHOTON_PT, PHOTON_ETA))
    for kind, pt_min, eta_max in selections:
        candidates = np.flatnonzero((np.abs(pid) == kind) & (pt > pt_min) & (np.abs(eta) < eta_max))
        if len(candidates) == 0:
            continue
        near = _delta_r(eta[candidates], phi[candidates], eta, phi) < ISOLATION_DR
        near[np.arange(len(candidates)), candidates] = False
        isolation = (near * np.where(pt > ISOLATION_PT_MIN, pt, 0.0)).sum(axis=1)
        for i in candidates[isolation < ISOLATION_RATIO[kind] * pt[candidates]]:
            used[i] = True
            code = PHOTON if kind == 22 else {11: ELECTRON, -11: POSITRON, 13: MUON, -13: ANTIMUON}[int(pid[i])]
            objects.append((code, p4[i, 3], pt[i], eta[i], phi[i]))

    inputs = ~used & (np.abs(eta) < CALO_ETA)
    jets = []
    hadrons = np.array(hadrons, dtype=np.float64).reshape(-1, 5)
    h_pt, h_eta, h_phi = _pt_eta_phi(hadrons[:, 1:5])
    hadrons, h_eta, h_phi = hadrons[h_pt > HADRON_PT], h_eta[h_pt > HADRON_PT], h_phi[h_pt > HADRON_PT]
    jets_p4 = antikt_momenta(p4[inputs], JET_R, ptmin=JET_PT * 0.75)  # below 20 GeV: smearing may lift a jet over it
    for jet_p4, j_pt, j_eta, j_phi in zip(jets_p4, *_pt_eta_phi(jets_p4)):
        sigma = np.hypot(SMEAR_STOCHASTIC / np.sqrt(j_pt), SMEAR_CONSTANT)
        scale = max(0.0, 1.0 + sigma * rng.standard_normal())
        tag_draw = rng.random()
        met -= (scale - 1.0) * jet_p4[:2]
        if scale * j_pt <= JET_PT or abs(j_eta) >= JET_ETA:
            continue
        matched = hadrons[(_delta_r(np.array([j_eta]), np.array([j_phi]), h_eta, h_phi)[0] < BTAG_DR), 0]
        flavour = int(matched.max()) if len(matched) else 0
        code = BJET if abs(j_eta) < BTAG_ETA and tag_draw < BTAG_EFFICIENCY[flavour] else JET
        jets.append((code, scale * jet_p4[3], scale * j_pt, j_eta, j_phi))

    # As the challenge's converter: jets, then electrons, muons and photons, each by decreasing pT.
    order = {JET: 0, BJET: 0, ELECTRON: 1, POSITRON: 1, MUON: 2, ANTIMUON: 2, PHOTON: 3}
    objects = sorted(jets + objects, key=lambda o: (order[o[0]], -o[2]))
    met_pt, met_phi = float(np.hypot(*met)), float(np.arctan2(met[1], met[0]))
    if met_pt < 50.0 or not passes_any_channel(met_pt, met_phi, objects):  # every channel needs MET >= 50 GeV
        return None
    row = np.zeros(ROW_HEADER + 5 * MAX_OBJECTS)
    row[:ROW_HEADER] = met_pt, met_phi, len(objects)
    kept = np.array(objects[:MAX_OBJECTS], dtype=np.float64).reshape(-1, 5)
    row[ROW_HEADER : ROW_HEADER + kept.size] = kept.ravel()
    return row


def passes_any_channel(met: float, met_phi: float, objects: list[tuple]) -> bool:
    """Whether the event passes one of the channel selections (the task's own code, on a one-event block)."""
    events = _as_events(np.array([[met, met_phi, len(objects), *np.ravel(objects)]]))
    return any(in_channel(events, channel)[0] for channel in CHANNELS)


def _as_events(rows: np.ndarray) -> Events:
    """Generated rows as an Events block [GeV], without process IDs and weights."""
    n = np.minimum(rows[:, 2].astype(np.int64), (rows.shape[1] - ROW_HEADER) // 5)
    objects = np.concatenate([np.zeros((0, 5))] + [rows[i, ROW_HEADER : ROW_HEADER + 5 * n[i]].reshape(-1, 5)
                                                   for i in range(len(rows))])
    return Events(
        np.arange(1, len(rows) + 1), np.full(len(rows), ""), np.ones(len(rows)), rows[:, 0], rows[:, 1],
        np.concatenate([[0], np.cumsum(n)]).astype(np.int64),
        objects[:, 0].astype(np.int8), objects[:, 1], objects[:, 2], objects[:, 3], objects[:, 4],
    )


def generate_darkmachines(
    path: str | Path, n_background: int, n_signal: int, seed: int, workers: int | None = None,
    show_progress: bool = True,
) -> dict:
    """Write the sample (backgrounds, then signals) to a gzip CSV file; returns the cut flow per stream.

    n_background is shared among the SM streams in the proportions of their `share`; each signal gets
    n_signal events. Counts are of stored events (passing at least one channel).
    """
    path = Path(path)
    parts = parts_dir_of(path)
    parts.mkdir(parents=True, exist_ok=True)
    sizes = _shares(n_background)
    streams = [Stream(name, bg.settings, sizes[name], 0.0) for name, bg in BACKGROUNDS.items()]
    process_of = {name: bg.process for name, bg in BACKGROUNDS.items()}
    for name, spectrum in SPECTRA.items():
        slha = parts / f"{name}.slha"
        if not slha.exists() or slha.read_text() != spectrum_slha(spectrum):
            slha.write_text(spectrum_slha(spectrum))
        streams.append(Stream(name, spectrum_settings(spectrum, slha.resolve()), n_signal, 1.0))
    streams.append(Stream(SIGNAL_MONOJET, MONOJET, n_signal, 1.0))
    streams = [s for s in streams if s.n_events > 0]
    rows, flows = generate_streams(streams, event_row, seed, parts_dir=parts, chunk_size=CHUNK_SIZE,
                                   workers=workers or os.cpu_count() or 1, show_progress=show_progress,
                                   raw_event=True)
    lines, next_id, report = [], 1, {}
    for stream in streams:
        block, flow = rows[stream.name], flows[stream.name]
        weight = flow.sigma_mb * MB_TO_FB * LUMINOSITY_FB / flow.generated
        events = _as_events(block)
        process = process_of.get(stream.name, stream.name)
        for i in range(len(events)):
            a, b = events.offsets[i], events.offsets[i + 1]
            objects = zip(events.obj_type[a:b], events.obj_e[a:b], events.obj_pt[a:b], events.obj_eta[a:b],
                          events.obj_phi[a:b])
            lines.append(format_line(next_id, process, weight, events.met[i], events.met_phi[i], objects))
            next_id += 1
        report[stream.name] = {"process": process, **vars(flow), "sigma_fb": flow.sigma_mb * MB_TO_FB,
                               "weight": weight,
                               "events_with_objects_dropped": int((block[:, 2] > MAX_OBJECTS).sum()),
                               "in_channel": _channel_counts(events)}
    tmp = path.with_name(path.name + ".tmp")
    write_events(lines, tmp)
    install_output(tmp, path, len(lines), lambda p: sum(len(block) for block in iter_events(p)))
    return report


def _channel_counts(events: Events) -> dict[str, int]:
    return {channel: int(in_channel(events, channel).sum()) for channel in CHANNELS}


def _shares(n: int) -> dict[str, int]:
    """Stored events per background stream: the largest-remainder split of n by the streams' shares."""
    total = sum(bg.share for bg in BACKGROUNDS.values())
    exact = {name: n * bg.share / total for name, bg in BACKGROUNDS.items()}
    sizes = {name: int(v) for name, v in exact.items()}
    for name in sorted(exact, key=lambda k: sizes[k] - exact[k])[: n - sum(sizes.values())]:
        sizes[name] += 1
    return sizes

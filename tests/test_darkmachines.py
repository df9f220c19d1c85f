"""Dark Machines: the CSV reader on hand-written files in the published syntax, channels, features, the
challenge's metrics by hand, the generator (bit-identical, physics) and `qhep run task=darkmachines`."""
import gzip
import hashlib
import json

import numpy as np
import pytest

from qhep.cli import main
from qhep.errors import DataError
from qhep.formats.darkmachines import (
    ANTIMUON,
    BJET,
    ELECTRON,
    JET,
    MUON,
    PHOTON,
    POSITRON,
    format_line,
    iter_events,
    read_events,
)
from qhep.generation.darkmachines import (
    BACKGROUNDS,
    CALO_ETA,
    LUMINOSITY_FB,
    MB_TO_FB,
    SIGNAL_CHANEUT,
    SIGNAL_GLUINO,
    SIGNAL_MONOJET,
    SIGNAL_STOP,
    generate_darkmachines,
)
from qhep.harness.darkmachines_metrics import (
    significance_improvement,
    summarize,
    total_improvement,
)
from qhep.tasks import TASKS, load_card
from qhep.tasks.base import embedded_sample
from qhep.tasks.darkmachines import CHANNELS, high_level_features, in_channel

# The published example line, completed, and events in the exact syntax: MeV, `;` closing every line.
LINES = [
    "94;ttbar;1;112288;1.74766;b,331927,147558,-1.44969,-1.76399;j,146045,143621,0.183057,1.24017;"
    "e-,52395.3,47040.3,0.467329,-2.52441;",
    "95;njets;0.5;1.5e+06;-3.1;j,2.13e+06,1.61044e+06,-0.8,0.1;g,30000,25000,2.2,3.0;m+,40000,16000,1.5,-1;",
    "96;glgl1400_neutralino1100;1.234567e-05;300000;0;",
]


def write(path, lines, compress=False, trailer="\n\n"):
    text = "\n".join(lines) + trailer
    path.write_bytes(gzip.compress(text.encode(), mtime=0) if compress else text.encode())
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_reads_the_published_syntax_plain_and_gzip(tmp_path, compress):
    # Named .csv either way: gzip is recognised from the magic bytes, not the name.
    events = read_events(write(tmp_path / "background_chan1_7.79.csv", LINES, compress))
    assert events.event_id.tolist() == [94, 95, 96]
    assert events.process.tolist() == ["ttbar", "njets", "glgl1400_neutralino1100"]
    assert events.weight.tolist() == [1.0, 0.5, 1.234567e-05]  # exactly as given
    assert events.met.tolist() == [112.288, 1500.0, 300.0]  # MeV -> GeV
    assert events.met_phi.tolist() == [1.74766, -3.1, 0.0]
    assert events.n_objects.tolist() == [3, 3, 0]
    assert events.obj_type.tolist() == [BJET, JET, ELECTRON, JET, PHOTON, ANTIMUON]
    assert events.obj_e[0] == pytest.approx(331.927) and events.obj_pt[0] == pytest.approx(147.558)
    assert events.obj_eta[0] == -1.44969 and events.obj_phi[0] == -1.76399
    assert events.obj_e[3] == pytest.approx(2130.0) and events.obj_pt[3] == pytest.approx(1610.44)


def test_mu_spelling_of_muons_is_accepted(tmp_path):
    events = read_events(write(tmp_path / "f.csv", ["1;zz;1;60000;0;mu-,30000,20000,0,0;mu+,30000,20000,0,0;"]))
    assert events.obj_type.tolist() == [MUON, ANTIMUON]


def test_blocks_bound_memory_and_add_up(tmp_path):
    path = write(tmp_path / "f.csv", LINES * 3)
    blocks = list(iter_events(path, block_size=4))
    assert [len(b) for b in blocks] == [4, 4, 1]
    whole = read_events(path)
    assert np.concatenate([b.obj_pt for b in blocks]).tolist() == whole.obj_pt.tolist()
    assert len(read_events(path, max_events=5)) == 5


def test_writer_reproduces_the_published_line(tmp_path):
    objects = [(BJET, 331.927, 147.558, -1.44969, -1.76399), (JET, 146.045, 143.621, 0.183057, 1.24017),
               (ELECTRON, 52.3953, 47.0403, 0.467329, -2.52441)]
    assert format_line(94, "ttbar", 1.0, 112.288, 1.74766, objects) == LINES[0]
    assert format_line(96, "x", 0.5, 1500.0, 0.0, []) == "96;x;0.5;1.5e+06;0;"


@pytest.mark.parametrize("bad, message", [
    ("7;ttbar;1;1000;", "4 `;`-separated field(s), expected at least 5"),
    ("7;ttbar;1;1000;0.1;x,1,1,0,0;", "object 1 has unknown type 'x'"),
    ("7;ttbar;1;1000;0.1;j,1,1,0,0;j,1,1,0;", "object 2 'j,1,1,0' has 4 comma-separated value(s)"),
    ("7;ttbar;1;1000;0.1;j,abc,1,0,0;", "object 1 E 'abc' is not a number"),
    ("7;ttbar;1;nan;0.1;", "MET is nan (not finite)"),
    ("7;ttbar;inf;1000;0.1;", "event weight is inf (not finite)"),
    ("7;ttbar;1;1000;0.1;j,1,1,NaN,0;", "object 1 eta is NaN (not finite)"),
    ("7.5;ttbar;1;1000;0.1;", "event ID '7.5' is not an integer"),
    ("7;;1;1000;0.1;", "empty process ID"),
    ("7;ttbar;1;-5;0.1;", "negative MET"),
    ("7;ttbar;1;1000;0.1;j,1,-1,0,0;", "object 1 has negative pt"),
])
@pytest.mark.parametrize("compress", [False, True])
def test_malformed_line_names_file_and_line(tmp_path, bad, message, compress):
    path = write(tmp_path / "broken.csv.gz", LINES[:2] + [bad] + LINES[2:], compress)
    with pytest.raises(DataError) as error:
        read_events(path)
    assert str(error.value).startswith(f"{path}: line 3: {message}")


def test_empty_line_inside_the_file_is_an_error_but_trailing_ones_are_not(tmp_path):
    path = write(tmp_path / "gap.csv", [LINES[0], "", LINES[1]])
    with pytest.raises(DataError, match=r"gap.csv: line 2: empty line before more events"):
        read_events(path)
    assert len(read_events(write(tmp_path / "ok.csv", LINES, trailer="\n\n\n"))) == 3
    assert len(read_events(write(tmp_path / "no_newline.csv", LINES, trailer=""))) == 3


def test_unreadable_files_are_data_errors(tmp_path):
    truncated = tmp_path / "truncated.csv.gz"
    truncated.write_bytes(gzip.compress(("\n".join(LINES * 50)).encode())[:200])
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n\xff\xfe\x00")
    for path in (truncated, binary, tmp_path / "missing.csv"):
        with pytest.raises(DataError, match=str(path.name)):
            read_events(path)


# --- channels and features by hand ---------------------------------------------------------------------------
def event(met, objects, process="ttbar", number=1):
    """A line from GeV values: objects as (code, pt, eta) with E = pt cosh(eta), phi = 0."""
    obj = [f"{code},{pt * np.cosh(eta) * 1000:.6f},{pt * 1000:.6f},{eta},0" for code, pt, eta in objects]
    return ";".join([str(number), process, "1", f"{met * 1000:.6f}", "0.5", *obj]) + ";"


CHANNEL_CASES = [
    # channel 1: MET >= 200, MET/HT >= 0.2, >= 4 jets pT > 50, >= 1 jet pT > 200, HT >= 600
    ("1", 200, [("j", 250, 0), ("b", 250, 0), ("j", 250, 0), ("j", 250, 0)], True),  # MET/HT = 0.2 exactly
    ("1", 199.999, [("j", 250, 0), ("b", 250, 0), ("j", 250, 0), ("j", 250, 0)], False),
    ("1", 200, [("j", 250, 0), ("b", 250, 0), ("j", 250, 0), ("j", 250.01, 0)], False),  # MET/HT < 0.2
    ("1", 300, [("j", 400, 0), ("j", 100, 0), ("j", 100, 0), ("j", 50, 0)], False),  # 4th jet not > 50
    ("1", 300, [("j", 200, 0), ("j", 150, 0), ("j", 150, 0), ("j", 150, 0)], False),  # no jet > 200
    ("1", 300, [("j", 201, 0), ("j", 140, 0), ("j", 140, 0), ("j", 118, 0)], False),  # HT 599
    ("1", 300, [("j", 201, 0), ("j", 140, 0), ("j", 140, 0), ("j", 119, 0), ("e-", 500, 0)], True),
    # channel 2a: MET >= 50, >= 3 leptons pT > 15
    ("2a", 50, [("e-", 16, 0), ("m+", 16, 0), ("e+", 16, 0)], True),
    ("2a", 49.999, [("e-", 16, 0), ("m+", 16, 0), ("e+", 16, 0)], False),
    ("2a", 50, [("e-", 16, 0), ("m+", 16, 0), ("e+", 15, 0), ("g", 100, 0)], False),  # pT 15 is not > 15
    # channel 2b: MET >= 50, >= 2 leptons pT > 15, HT >= 50
    ("2b", 50, [("m-", 20, 0), ("m+", 20, 0), ("b", 50, 0)], True),
    ("2b", 50, [("m-", 20, 0), ("m+", 20, 0), ("j", 49.999, 0)], False),
    ("2b", 50, [("m-", 20, 0), ("g", 20, 0), ("j", 100, 0)], False),
    # channel 3: MET >= 100, HT >= 600
    ("3", 100, [("j", 300, 1.0), ("b", 300, -2.0)], True),
    ("3", 99.999, [("j", 300, 1.0), ("b", 300, -2.0)], False),
    ("3", 100, [("j", 300, 1.0), ("e-", 300, 0)], False),  # leptons are not in HT
]


@pytest.mark.parametrize("channel, met, objects, passes", CHANNEL_CASES)
def test_channel_selection_by_hand(tmp_path, channel, met, objects, passes):
    events = read_events(write(tmp_path / "e.csv", [event(met, objects)]))
    assert bool(in_channel(events, channel)[0]) is passes


def test_features_by_hand(tmp_path):
    line = event(150, [("j", 40, 0.5), ("b", 300, -1.0), ("e+", 30, 1.2), ("m-", 80, -0.3), ("j", 90, 2.0),
                       ("g", 25, 0.1), ("e-", 20, 2.5)])
    f = high_level_features(read_events(write(tmp_path / "e.csv", [line])))
    expected = {"met": 150, "met_phi": 0.5, "ht": 430, "meff": 580, "n_jets": 3, "n_bjets": 1, "n_electrons": 2,
                "n_muons": 1, "n_leptons": 3, "n_photons": 1, "jet1_pt": 300, "jet1_eta": -1.0, "jet2_pt": 90,
                "jet2_eta": 2.0, "jet3_pt": 40, "jet4_pt": 0, "jet4_eta": 0, "bjet1_pt": 300, "lepton1_pt": 80,
                "lepton1_eta": -0.3, "lepton2_pt": 30, "photon1_pt": 25, "photon1_eta": 0.1}
    for name, value in expected.items():
        assert f[name][0] == pytest.approx(value, abs=1e-9), name


def test_object_view_is_pt_ordered_padded_and_counts_what_does_not_fit(tmp_path):
    lines = [event(100, [("j", 40, 0.5), ("b", 300, -1.0), ("m-", 80, -0.3)]), event(100, [])]
    events = read_events(write(tmp_path / "e.csv", lines))
    objects, beyond = events.padded(2)
    assert objects[0, :, 0].tolist() == [BJET, MUON] and objects[0, :, 2] == pytest.approx([300, 80])
    assert objects[0, 1, 3] == -0.3 and objects[0, 0, 1] == pytest.approx(300 * np.cosh(1.0))
    assert not objects[1].any() and beyond.tolist() == [1, 0]


# --- the task on a folder laid out as the published channel folders ------------------------------------------
def task(**settings):
    card = load_card("darkmachines")
    for key, value in settings.items():
        target = card
        *path, leaf = key.split(".")
        for part in path:
            target = target[part]
        target[leaf] = value
    return TASKS["darkmachines"](card)


@pytest.fixture
def chan3_folder(tmp_path):
    """Background file (plain), the chosen signal (gzip) and another signal, in channel 3's naming."""
    folder = tmp_path / "chan3"
    folder.mkdir()
    rng = np.random.default_rng(0)
    jets = lambda ht: [("j", ht / 2, 0.3), ("b", ht / 2, -0.3)]  # noqa: E731
    background = [event(rng.uniform(100, 200), jets(rng.uniform(600, 900)), "ttbar", i) for i in range(40)]
    background += [event(80, jets(700), "w_jets", 100), event(150, jets(500), "z_jets", 101)]  # fail MET, HT
    write(folder / "background_chan3_8.02.csv", background)
    signal = [event(rng.uniform(400, 600), jets(rng.uniform(900, 1200)), SIGNAL_GLUINO, i) for i in range(10)]
    write(folder / f"{SIGNAL_GLUINO}_chan3.csv.gz", signal + [event(50, jets(900), SIGNAL_GLUINO, 99)], True)
    write(folder / "monotop_200_A_chan3.csv", [event(300, jets(700), "monotop_200_A", i) for i in range(3)])
    return folder


def test_task_labels_by_process_and_counts_every_removed_event(chan3_folder):
    data = task(**{"data.path": str(chan3_folder)}).load(seed=1)
    flow = data.cutflow
    assert flow["events_read"] == 42 + 11 + 3 and flow["other_bsm_removed"] == 3
    assert flow["removed_by_cut"] == {"MET >= 100": {"background": 1, "signal": 1},
                                      "HT >= 600": {"background": 1, "signal": 0}}
    assert flow["background_in_channel"] == 40 and flow["signal_in_channel"] == 10
    assert len(data.train) == 20 and (data.train.y == 0).all()
    assert (data.test.y == 1).sum() == 10 and (data.test.y == 0).sum() == 20
    assert set(data.test_values["process"][data.test.y == 1]) == {SIGNAL_GLUINO}
    assert data.features == ["met", "ht", "n_jets", "n_bjets", "n_leptons", "jet1_pt"]
    assert (data.test.X[:, 0][data.test.y == 1] >= 400).all() and (data.train.X[:, 2] == 2).all()
    assert len(data.dataset["files"]) == 3 and len(data.dataset["sha256"]) == 64
    # The split is fixed by the seed; another seed gives another split.
    again, other = (task(**{"data.path": str(chan3_folder)}).load(seed=s) for s in (1, 2))
    assert np.array_equal(again.train.X, data.train.X) and not np.array_equal(other.train.X, data.train.X)


def test_task_objects_view_and_background_cap(chan3_folder):
    data = task(**{"data.path": str(chan3_folder), "representation": "objects", "max_objects": 3,
                   "max_background_events": 30}).load(seed=0)
    assert data.features[:5] == ["obj1_type", "obj1_e", "obj1_pt", "obj1_eta", "obj1_phi"]
    assert data.train.X.shape[1] == 15
    assert data.cutflow["background_in_channel"] == 40 and data.cutflow["background_kept"] == 30
    assert len(data.train) + (data.test.y == 0).sum() == 30


def test_task_errors_are_one_line(chan3_folder):
    with pytest.raises(Exception, match="no events of signal 'stlp_st1000' in channel 3"):
        task(**{"data.path": str(chan3_folder), "signal": "stlp_st1000"}).load(seed=0)
    with pytest.raises(Exception, match="invalid value 4 for task.channel: choose one of: 1, 2a, 2b, 3"):
        task(**{"data.path": str(chan3_folder), "channel": 4}).load(seed=0)
    with pytest.raises(Exception, match="task.features: item 'mjj': choose one of"):
        task(**{"data.path": str(chan3_folder), "features": ["mjj"]}).load(seed=0)


# --- the challenge's metrics by hand -------------------------------------------------------------------------
def scores_by_hand():
    """1000 background events scored 0..999; 10 signal events: 5 above all background, one at 995, 4 low."""
    y = np.r_[np.zeros(1000), np.ones(10)]
    return y, np.r_[np.arange(1000.0), [2000.0] * 5, 995.0, 500.0, 400.0, 300.0, 200.0]


def test_significance_improvement_by_hand():
    y, scores = scores_by_hand()
    m = significance_improvement(y, scores)
    # eps_B = 1e-2: 10 background events pass (scores >= 990) with 6 signal: SI = 0.6 / 0.1.
    assert m["eps_s_at_eps_b_1e-02"] == 0.6 and m["si_at_eps_b_1e-02"] == pytest.approx(6.0)
    # eps_B = 1e-3: 1 background event (999) with 5 signal: SI = 0.5 / sqrt(1e-3).
    assert m["eps_s_at_eps_b_1e-03"] == 0.5 and m["si_at_eps_b_1e-03"] == pytest.approx(0.5 / np.sqrt(1e-3))
    # eps_B = 1e-4 would need a tenth of an event out of 1000: not resolved.
    assert m["eps_s_at_eps_b_1e-04"] is None and m["si_at_eps_b_1e-04"] is None
    assert m["max_si"] == pytest.approx(15.811388, rel=1e-6)


def test_weighted_background_efficiency():
    y, scores = scores_by_hand()
    same = significance_improvement(y, scores, np.full(len(y), 3.0))  # a common weight changes nothing
    assert same["max_si"] == pytest.approx(significance_improvement(y, scores)["max_si"])
    weights = np.ones(len(y))
    weights[999] = 11.0  # the most signal-like background event now carries 11 / 1010 > 1e-2 of the background
    m = significance_improvement(y, scores, weights)
    assert m["background_effective_events"] == pytest.approx(1010**2 / (999 + 121))
    assert m["si_at_eps_b_1e-02"] == pytest.approx(0.5 / 0.1)  # only the 5 signal events above 999 remain
    assert m["si_at_eps_b_1e-03"] is None  # 1e-3 x 910.8 effective events < 1


def test_total_improvement_and_summary_by_hand():
    si = {("glgl1400", "1"): 2.0, ("glgl1400", "3"): 5.0, ("monojet", "1"): None, ("monojet", "3"): 1.5,
          ("stlp", "1"): 30.0, ("chaneut", "2a"): None}
    ti = total_improvement(si)
    assert ti == {"glgl1400": 5.0, "monojet": 1.5, "stlp": 30.0, "chaneut": None}
    assert summarize(ti) == {"min": 1.5, "median": 5.0, "max": 30.0, "signals": 3, "without_value": ["chaneut"]}


BACKGROUND_PROCESSES = {bg.process for bg in BACKGROUNDS.values()}


# --- the generator -------------------------------------------------------------------------------------------
def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_sample(tmp_path_factory):
    path = tmp_path_factory.mktemp("dm") / "one_worker.csv.gz"
    flow = generate_darkmachines(path, 4, 2, seed=3, workers=1, show_progress=False)
    return path, flow


def test_generation_is_bit_identical_whatever_the_worker_count(tiny_sample, tmp_path):
    path, _ = tiny_sample
    other = tmp_path / "two_workers.csv.gz"
    generate_darkmachines(other, 4, 2, seed=3, workers=2, show_progress=False)
    assert sha(other) == sha(path)


def test_generated_events_follow_the_object_definitions(tiny_sample):
    path, flow = tiny_sample
    events = read_events(path)
    assert events.event_id.tolist() == list(range(1, len(events) + 1))
    # 4 background events: one each for the four largest shares (ttbar, w_jets, z_jets, zw_jets), in stream order
    assert [f["process"] for f in flow.values()] == ["ttbar", "w_jets", "z_jets", "zw_jets", SIGNAL_GLUINO,
                                                     SIGNAL_STOP, SIGNAL_CHANEUT, SIGNAL_MONOJET]
    assert all(any(in_channel(events, c)[i] for c in CHANNELS) for i in range(len(events)))
    start = 0
    for stream, f in flow.items():  # streams are written in order: each one's events are the next block
        block = slice(start, start + f["selected"])
        start += f["selected"]
        assert set(events.process[block]) == {f["process"]} and f["selected"] <= f["generated"]
        expected = f["sigma_mb"] * MB_TO_FB * LUMINOSITY_FB / f["generated"]
        assert events.weight[block] == pytest.approx(expected, rel=1e-5)  # six significant digits in the file
        assert f["selected"] == (1 if f["process"] in BACKGROUND_PROCESSES else 2)
    assert start == len(events)
    t, pt, eta = events.obj_type, events.obj_pt, np.abs(events.obj_eta)
    jets, leptons, photons = np.isin(t, (JET, BJET)), np.isin(t, (ELECTRON, POSITRON, MUON, ANTIMUON)), t == PHOTON
    assert (pt[jets] > 20).all() and (eta[jets] < 2.8).all()
    assert (pt[leptons] > 15).all() and (eta[leptons] < 2.7).all() and (eta < CALO_ETA).all()
    assert (pt[photons] > 20).all() and (eta[photons] < 2.37).all()
    assert (events.obj_e >= events.obj_pt * (1 - 1e-5)).all()


# --- the shipped sample: physics ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped():
    events = read_events(embedded_sample("darkmachines.csv.gz"))
    return events, high_level_features(events)


def median(shipped, process, feature):
    events, f = shipped
    return np.median(f[feature][events.process == process])


def test_shipped_sample_content(shipped):
    events, _ = shipped
    processes = set(events.process.tolist())
    assert processes == BACKGROUND_PROCESSES | {SIGNAL_GLUINO, SIGNAL_STOP, SIGNAL_CHANEUT, SIGNAL_MONOJET}
    for process in processes - {"ttbar"}:  # one weight per process; ttbar: one per stream (pTHat above, below 200)
        assert np.unique(events.weight[events.process == process]).size == 1
    assert np.unique(events.weight[events.process == "ttbar"]).size == 2
    assert (in_channel(events, "3")[events.process == SIGNAL_MONOJET]).mean() > 0.9
    background = ~np.isin(events.process, [SIGNAL_GLUINO, SIGNAL_STOP, SIGNAL_CHANEUT, SIGNAL_MONOJET])
    for channel in CHANNELS:  # every channel filled: thousands of background events
        assert (in_channel(events, channel) & background).sum() > 3000, channel
    # the three-lepton channel is WZ's, and where the chargino-neutralino signal lives
    in_2a = in_channel(events, "2a")
    assert (events.process[in_2a & background] == "zw_jets").mean() > 0.9
    assert (in_2a & (events.process == SIGNAL_CHANEUT)).sum() > 100


def test_invisible_particles_make_met(shipped):
    # Z -> nu nu + jet and the signals carry real MET; QCD only fakes it (mismeasured jets, heavy-flavour nu).
    for process in ("z_jets", SIGNAL_MONOJET, SIGNAL_GLUINO):
        assert median(shipped, process, "met") > median(shipped, "njets", "met") + 50
    assert median(shipped, SIGNAL_MONOJET, "met") > 400  # the Z' recoils against a jet of pT > 500 GeV


def test_stop_pairs_make_top_quarks(shipped):
    # stop -> t chi_1^0: b jets as in ttbar, and far harder MET than ttbar
    events, f = shipped
    assert f["n_bjets"][events.process == SIGNAL_STOP].mean() > 0.8
    assert median(shipped, SIGNAL_STOP, "met") > median(shipped, "ttbar", "met") + 200


def test_top_pairs_have_b_jets(shipped):
    events, f = shipped
    ttbar = f["n_bjets"][events.process == "ttbar"]
    assert ttbar.mean() > 0.8 and ttbar.mean() > 3 * f["n_bjets"][events.process == "w_jets"].mean()
    assert median(shipped, "ttbar", "n_jets") >= 4 and median(shipped, SIGNAL_MONOJET, "n_jets") <= 3


def test_w_and_top_give_isolated_leptons(shipped):
    events, f = shipped
    for process in ("w_jets", "ttbar"):
        assert (f["n_leptons"][events.process == process] > 0).mean() > 0.2
    assert (f["n_leptons"][events.process == "njets"] > 0).mean() < 0.2


def test_task_metrics_on_the_shipped_sample():
    # MET alone as the anomaly score beats no selection (SI > 1) for the monojet; Z -> nu nu + jet, with the
    # same signature, keeps it modest.
    t = task(signal=SIGNAL_MONOJET)
    data = t.load(seed=0)
    met = data.test.X[:, data.features.index("met")]
    m = t.metrics(data, met)
    assert m["si_at_eps_b_1e-02"] > 1 and m["max_si"] >= m["si_at_eps_b_1e-02"]
    assert m["background_effective_events"] == (data.test.y == 0).sum()  # counted, not weighted, by default
    weighted = task(signal=SIGNAL_MONOJET, weighted_metrics=True).metrics(data, met)
    assert weighted["background_effective_events"] < m["background_effective_events"] / 5  # QCD weighs most


# --- end to end ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["ae", "qae"])
def test_qhep_run_darkmachines(tmp_path, capsys, method):
    code = main(["run", "task=darkmachines", f"method={method}", f"results_dir={tmp_path}", "method.epochs=1",
                 "progress=false", "plots=false"])
    out, err = capsys.readouterr()
    assert code == 0, err
    (path,) = tmp_path.rglob("result.json")
    record = json.loads(path.read_text())
    assert record["task"] == "darkmachines" and record["dataset"]["embedded"]
    assert record["cutflow"]["channel"] == "3" and record["cutflow"]["signal"] == SIGNAL_GLUINO
    assert record["cutflow"]["test_signal"] > 100 and 0.0 <= record["metrics"]["auc"] <= 1.0
    if method == "qae":
        assert record["resources"]["qubits"] == 6

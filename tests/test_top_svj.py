"""Top tagging and semi-visible jets: the constituent-table reader, features, generators, samples and CLI runs."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from qhep.cli import main
from qhep.errors import DataError
from qhep.formats.constituents import inspect_table, iter_jets, read_jets
from qhep.generation import svj, top
from qhep.generation.constituent_rows import delta_r, final_state
from qhep.generation.pythia import make_pythia
from qhep.physics.jets import invariant_mass
from qhep.tasks.base import embedded_sample
from qhep.tasks.constituent_task import constituent_view, jet_features

# ----------------------------------------------------------------------------------------------------------------
# Files in the published layout


def massless(pt, eta, phi):
    """px, py, pz, E of massless particles."""
    pt, eta, phi = (np.asarray(v, dtype=np.float64) for v in (pt, eta, phi))
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], axis=-1)


def make_jets(n_jets=12, n_const=7, seed=0):
    """(n, n_const, 4) px py pz E, pT-sorted and zero-padded, with labels and truth four-momenta."""
    rng = np.random.default_rng(seed)
    constituents = np.zeros((n_jets, n_const, 4))
    for j in range(n_jets):
        m = rng.integers(1, n_const + 1)
        pt = np.sort(rng.uniform(1, 100, m))[::-1]
        constituents[j, :m] = massless(pt, rng.normal(0.3, 0.2, m), rng.normal(1.0, 0.2, m))
    labels = np.arange(n_jets) % 2
    truth = np.where(labels[:, None] == 1, constituents.sum(axis=1), 0.0)
    return constituents.astype(np.float32).astype(np.float64), labels, truth.astype(np.float32).astype(np.float64)


def published_frame(constituents, labels, truth=None, seed=0):
    """The published columns (E_i PX_i PY_i PZ_i, truth, ttv, is_signal_new), in shuffled order."""
    n, n_const, _ = constituents.shape
    data = {}
    for i in range(n_const):
        for name, k in (("E", 3), ("PX", 0), ("PY", 1), ("PZ", 2)):
            data[f"{name}_{i}"] = constituents[:, i, k].astype(np.float32)
    if truth is not None:
        for name, k in (("truthE", 3), ("truthPX", 0), ("truthPY", 1), ("truthPZ", 2)):
            data[name] = truth[:, k].astype(np.float32)
        data["ttv"] = np.zeros(n, dtype=np.int64)
    data["is_signal_new"] = np.asarray(labels, dtype=np.int64)
    frame = pd.DataFrame(data)
    return frame[list(np.random.default_rng(seed).permutation(frame.columns))]


def write_table(frame, path, key="table"):
    frame.to_hdf(path, key=key, mode="w", format="table")
    return path


@pytest.fixture
def jets():
    return make_jets()


@pytest.fixture
def top_file(tmp_path, jets):
    return write_table(published_frame(*jets), tmp_path / "test.h5")


def test_reader_selects_columns_by_name(top_file, jets):
    constituents, labels, truth = jets
    frame = pd.read_hdf(top_file, "table")
    assert list(frame.columns[:3]) != ["E_0", "PX_0", "PY_0"]  # the stored order is shuffled
    info = inspect_table(top_file)
    assert (info.n_rows, info.n_constituents, info.has_truth) == (12, 7, True)
    batch = read_jets(top_file)
    np.testing.assert_array_equal(batch.constituents, constituents)
    np.testing.assert_array_equal(batch.mask, constituents[:, :, 3] > 0)
    np.testing.assert_array_equal(batch.labels, labels)
    np.testing.assert_array_equal(batch.truth, truth)


def test_reader_row_ranges_and_blocks(top_file, jets):
    constituents = jets[0]
    part = read_jets(top_file, start=3, stop=7)
    assert part.start == 3
    np.testing.assert_array_equal(part.constituents, constituents[3:7])
    blocks = list(iter_jets(top_file, chunk_size=4, max_jets=10))
    assert [len(b) for b in blocks] == [4, 4, 2] and [b.start for b in blocks] == [0, 4, 8]
    np.testing.assert_array_equal(np.concatenate([b.constituents for b in blocks]), constituents[:10])


def test_reader_without_truth_columns_and_other_n(tmp_path):
    constituents, labels, _ = make_jets(n_jets=5, n_const=3, seed=1)
    path = write_table(published_frame(constituents, labels), tmp_path / "aachen_constit.h5")
    batch = read_jets(path)
    assert batch.truth is None and batch.constituents.shape == (5, 3, 4)
    np.testing.assert_array_equal(batch.constituents, constituents)


def test_reader_accepts_fixed_format(tmp_path, jets):
    path = tmp_path / "fixed.h5"
    published_frame(*jets).to_hdf(path, key="table", mode="w", format="fixed")
    np.testing.assert_array_equal(read_jets(path).constituents, jets[0])


def _bad(tmp_path, jets, change):
    frame = published_frame(*jets)
    frame = change(frame) if change else frame
    return write_table(frame, tmp_path / "bad.h5")


def _with(column, row, value):
    def change(frame):
        frame.loc[row, column] = value
        return frame
    return change


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns=["PX_3"]), "missing column(s) PX_3"),
    (lambda f: f.drop(columns=["is_signal_new"]), "missing column is_signal_new"),
    (lambda f: f[["truthE", "is_signal_new"]], "missing constituent columns"),
    (_with("PY_2", 4, np.nan), "non-finite value(s), first in column PY_2 at row 4"),
    (_with("is_signal_new", 5, 2), "column is_signal_new holds 2 at row 5"),
    (_with("E_1", 6, -3.0), "negative energy in column E_1 at row 6"),
])
def test_reader_rejects_bad_content(tmp_path, jets, change, message):
    path = _bad(tmp_path, jets, change)
    with pytest.raises(DataError) as err:
        read_jets(path)
    assert str(path) in str(err.value) and message in str(err.value)


def test_reader_rejects_bad_files(tmp_path, top_file):
    cases = {"missing.h5": None, "empty.h5": b"", "text.h5": b"E_0,PX_0\n1,2\n"}
    expected = {"missing.h5": "file not found", "empty.h5": "file is empty", "text.h5": "not a readable HDF5 file"}
    for name, content in cases.items():
        path = tmp_path / name
        if content is not None:
            path.write_bytes(content)
        with pytest.raises(DataError, match=expected[name]) as err:
            read_jets(path)
        assert str(path) in str(err.value)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(top_file.read_bytes()[: top_file.stat().st_size // 2])
    with pytest.raises(DataError) as err:
        read_jets(truncated)
    assert str(truncated) in str(err.value)


def test_reader_rejects_files_without_jets(tmp_path, jets):
    empty_fixed = tmp_path / "empty_fixed.h5"
    published_frame(*jets).iloc[:0].to_hdf(empty_fixed, key="table", mode="w", format="fixed")
    no_tables = tmp_path / "no_tables.h5"
    pd.DataFrame({"a": [1.0]}).to_hdf(no_tables, key="x", mode="w", format="table")
    with pd.HDFStore(no_tables, mode="a") as store:
        store.remove("x")
    for path, message in ((empty_fixed, "no jets (the table has no rows)"),
                          (no_tables, "no pandas table in this HDF5 file")):
        with pytest.raises(DataError) as err:
            read_jets(path)
        assert str(err.value) == f"{path}: {message}"


def test_reader_needs_the_table_key_when_several(tmp_path, jets):
    path = tmp_path / "two.h5"
    published_frame(*jets).to_hdf(path, key="jets", mode="w", format="table")
    pd.DataFrame({"a": [1.0]}).to_hdf(path, key="other", mode="a", format="table")
    with pytest.raises(DataError, match="no table under key 'table' \\(found: jets, other\\)"):
        read_jets(path)


# ----------------------------------------------------------------------------------------------------------------
# Features and the constituent view, by hand


def test_features_of_a_three_constituent_jet():
    # A, B (pT 100 at phi 0 and 0.1) and C (pT 50 at phi 1), all at eta = y = 0, plus two padding slots.
    c = np.zeros((1, 5, 4))
    c[0, :3] = massless([100, 100, 50], [0, 0, 0], [0.0, 0.1, 1.0])
    mask = c[..., 3] > 0
    f = jet_features(c, mask)
    px = 100 + 100 * np.cos(0.1) + 50 * np.cos(1.0)
    py = 100 * np.sin(0.1) + 50 * np.sin(1.0)
    axis = np.arctan2(py, px)
    tau1 = (100 * abs(0 - axis) + 100 * abs(0.1 - axis) + 50 * abs(1.0 - axis)) / (250 * 0.8)
    # Two exclusive-kT axes: A+B merged (axis at phi = 0.05) and C alone.
    tau2 = (100 * 0.05 + 100 * 0.05) / (250 * 0.8)
    assert f["mass"][0] == pytest.approx(np.sqrt(250**2 - px**2 - py**2))
    assert f["pt"][0] == pytest.approx(np.hypot(px, py))
    assert f["tau21"][0] == pytest.approx(tau2 / tau1)
    assert f["tau32"][0] == 0.0  # tau3 = 0: every constituent is its own axis
    assert f["n_constituents"][0] == 3


def test_view_of_a_two_constituent_jet():
    # pT 3 at (eta, phi) = (0, 0) and pT 1 at (1, 0): centroid at eta 0.25, principal axis along eta.
    c = np.zeros((1, 4, 4))
    c[0, :2] = massless([1, 3], [1, 0], [0, 0])  # stored soft first: the view sorts by pT
    points, mask = constituent_view(c, c[..., 3] > 0, 3)
    assert points.shape == (1, 3, 3) and mask.tolist() == [[True, True, False]]
    # Rotated onto the phi axis, leading constituent upwards.
    np.testing.assert_allclose(points[0], [[0.75, 0, 0.25], [0.25, 0, -0.75], [0, 0, 0]], atol=1e-12)


def test_view_of_a_three_constituent_jet_across_phi_pi():
    # pT 2, 1, 1 on a diagonal line in (eta, phi), around phi = pi so that phi wraps.
    base = np.pi - 0.05
    c = massless([2, 1, 1], [0.0, 0.6, -0.2], [base, base + 0.6, base - 0.2])[None]
    points, mask = constituent_view(c, np.ones((1, 3), dtype=bool), 3)
    # Centroid at (0.1, base + 0.1); offsets (-0.1, -0.1), (0.5, 0.5), (-0.3, -0.3) lie on the diagonal, which
    # becomes the phi axis; the leading constituent ends up at d-phi = +0.1 * sqrt(2).
    r2 = np.sqrt(2)
    np.testing.assert_allclose(points[0], [[0.5, 0, 0.1 * r2], [0.25, 0, -0.5 * r2], [0.25, 0, 0.3 * r2]],
                               atol=1e-12)
    assert mask.all()


# ----------------------------------------------------------------------------------------------------------------
# Shipped samples: layout and physics


@pytest.fixture(scope="module")
def top_sample():
    batch = read_jets(embedded_sample("top.h5"))
    return batch, invariant_mass(batch.constituents.sum(axis=1)), batch.labels == 1


@pytest.fixture(scope="module")
def svj_sample():
    from qhep.formats.jet_sample import read_extra

    path = embedded_sample("svj.h5")
    return read_jets(path), pd.DataFrame(read_extra(path))


def _pt_eta(p4):
    pt = np.hypot(p4[:, 0], p4[:, 1])
    return pt, np.arcsinh(p4[:, 2] / pt)


def test_top_sample_layout_and_selection(top_sample):
    batch, _, signal = top_sample
    from qhep.formats.jet_sample import is_jet_sample

    assert is_jet_sample(embedded_sample("top.h5"))  # qhep's compact layout (qhep.formats.jet_sample)
    assert batch.constituents.shape[1:] == (200, 4) and signal.sum() == (~signal).sum() == 20_000
    assert signal[:100].any() and (~signal[:100]).any()  # seeded shuffle: every block holds both classes
    pt, eta = _pt_eta(batch.constituents.sum(axis=1))
    # the selection's window, to the layout's float16 precision (2.4e-4 of a constituent's pT fraction)
    assert ((pt > 550 * (1 - 3e-4)) & (pt < 650 * (1 + 3e-4)) & (np.abs(eta) < 2 + 1e-3)).all()
    # Constituents are pT-sorted with the padding at the end.
    cpt = np.hypot(batch.constituents[..., 0], batch.constituents[..., 1])
    assert (np.diff(cpt, axis=1) <= 1e-3).all() and (batch.mask[:, :-1] >= batch.mask[:, 1:]).all()


def test_top_jets_have_the_top_mass_and_three_prongs(top_sample):
    batch, mass, signal = top_sample
    assert 150 < np.median(mass[signal]) < 195
    counts, edges = np.histogram(mass[signal], bins=np.arange(100, 260, 10))
    assert 160 <= edges[np.argmax(counts)] < 190  # the peak
    assert np.mean(mass[~signal]) < 0.65 * np.mean(mass[signal])
    # Truth: the matched top, on shell and within the jet; zeros for QCD.
    truth_mass = invariant_mass(batch.truth[signal])
    assert abs(np.median(truth_mass) - 172.5) < 1.5 and np.mean(np.abs(truth_mass - 172.5) < 10) > 0.95
    assert (delta_r(batch.constituents[signal].sum(axis=1), batch.truth[signal]) < 0.8).all()
    assert not batch.truth[~signal].any()
    few = slice(0, 400)
    f = jet_features(batch.constituents[few], batch.mask[few])
    s = signal[few]
    assert np.median(f["tau32"][s]) < np.median(f["tau32"][~s]) - 0.15


def test_svj_sample_has_missing_momentum_along_the_jets(svj_sample):
    batch, event = svj_sample
    signal = batch.labels == 1
    assert batch.constituents.shape[1:] == (200, 4) and signal.sum() == (~signal).sum() == 20_000
    pt, eta = _pt_eta(batch.constituents.sum(axis=1))
    # the selection's window, to the layout's float16 precision
    assert ((pt > 150 * (1 - 3e-4)) & (pt < 350 * (1 + 3e-4)) & (np.abs(eta) < 2 + 1e-3)).all()
    met, near = event["met"].to_numpy(), event["jet_invisible_pt"].to_numpy()
    assert len(event) == len(batch)
    assert np.mean(met[signal]) > 3 * np.mean(met[~signal])
    assert np.median(near[signal]) > 50 > np.median(near[~signal])
    # Dark-quark truth for signal, zeros for QCD.
    assert (delta_r(batch.constituents[signal].sum(axis=1), batch.truth[signal]) < 0.8).all()
    assert not batch.truth[~signal].any()


def test_dark_hadrons_stay_out_of_jets():
    pythia = make_pythia(list(svj.svj_settings()), 11)
    seen_dark = 0
    for _ in range(5):
        assert pythia.next()
        visible, invisible = final_state(pythia.event)
        dark = [p for p in pythia.event if p.isFinal() and p.idAbs() in (51, 53)]
        seen_dark += len(dark)
        final = [p for p in pythia.event if p.isFinal()]
        assert len(visible) + len(invisible) == len(final)
        # Every stable dark particle is among the invisible ones, none among those clustered.
        for p in dark:
            p4 = np.array([p.px(), p.py(), p.pz(), p.e()])
            assert np.isclose(invisible, p4).all(axis=1).any() and not np.isclose(visible, p4).all(axis=1).any()
    assert seen_dark > 20


def _invisible_fraction(r_inv, n_events=40):
    pythia = make_pythia(list(svj.svj_settings(r_inv=r_inv)), 5)
    fractions = []
    for _ in range(n_events):
        pythia.next()
        row = svj.svj_event_row(pythia.event)
        if row is not None:
            jet_pt = np.hypot(*row[: 4 * svj.N_CONSTITUENTS].reshape(-1, 4)[:, :2].sum(axis=0))
            invisible = row[4 * svj.N_CONSTITUENTS + 5]
            fractions.append(invisible / (invisible + jet_pt))
    assert len(fractions) >= 10
    return np.mean(fractions)


def test_r_inv_sets_the_invisible_fraction():
    low, high = _invisible_fraction(0.2), _invisible_fraction(0.9)
    assert high > low + 0.3


# ----------------------------------------------------------------------------------------------------------------
# Generation: bit-identical for a seed, whatever the number of workers


@pytest.fixture(scope="module")
def tiny_generations(tmp_path_factory):
    out = {}
    for name, generate in (("top", top.generate_top), ("svj", svj.generate_svj)):
        for workers in (1, 2):
            path = tmp_path_factory.mktemp(f"{name}{workers}") / f"{name}.h5"
            flow = generate(path, 5, 5, seed=3, workers=workers, show_progress=False, chunk_size=3)
            out[name, workers] = path, flow
        path = tmp_path_factory.mktemp(f"{name}qhep") / f"{name}.h5"  # qhep's compact layout
        out[name, "qhep"] = path, generate(path, 5, 5, seed=3, workers=2, show_progress=False, chunk_size=3,
                                           layout="qhep")
    return out


@pytest.mark.parametrize("name", ["top", "svj"])
def test_generation_is_bit_identical(tiny_generations, name):
    (one, flow), (two, _) = tiny_generations[name, 1], tiny_generations[name, 2]
    digest = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (one, two)]
    assert digest[0] == digest[1]
    batch = read_jets(one)
    assert len(batch) == 10 and batch.labels.sum() == 5 and batch.constituents.shape[1] == 200
    assert all(f["selected"] == 5 and f["generated"] >= 5 for f in flow.values())


@pytest.mark.parametrize("name", ["top", "svj"])
def test_the_compact_layout_holds_the_same_jets(tiny_generations, name, tmp_path):
    from qhep.formats.jet_sample import from_published

    published, compact = tiny_generations[name, 1][0], tiny_generations[name, "qhep"][0]
    # generating in the compact layout and converting the published file give the same bytes
    from_published(published, tmp_path / "converted.h5")
    assert hashlib.sha256((tmp_path / "converted.h5").read_bytes()).digest() == hashlib.sha256(
        compact.read_bytes()).digest()
    (a,), (b,) = list(iter_jets(published)), list(iter_jets(compact))
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.labels, b.labels)
    # float16 relative coordinates: every four-momentum component within 1e-3 of the constituent's energy
    assert np.abs(a.constituents - b.constituents).max(axis=-1).max() <= 1e-3 * a.constituents[..., 3].max()
    fa, fb = jet_features(a.constituents, a.mask), jet_features(b.constituents, b.mask)
    for feature in ("mass", "pt", "n_constituents"):  # masses kept: the jet mass moves by a few 1e-4 only
        np.testing.assert_allclose(fb[feature], fa[feature], rtol=1e-3)


def test_a_damaged_compact_sample_is_refused_in_one_line(tiny_generations, tmp_path):
    import h5py

    path = tmp_path / "short.h5"
    path.write_bytes(tiny_generations["top", "qhep"][0].read_bytes())
    with h5py.File(path, "a") as handle:
        del handle["label"]
        handle.create_dataset("label", data=np.zeros(3, dtype=np.int8))
    with pytest.raises(DataError, match=r"short.h5: qhep.jets/1 datasets of different lengths"):
        list(iter_jets(path))


# ----------------------------------------------------------------------------------------------------------------
# End to end through the CLI


def _record(results):
    (path,) = results.rglob("result.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("task, method", [("top", "ae"), ("top", "qae"), ("svj", "ae")])
def test_cli_runs_on_the_embedded_samples(tmp_path, capsys, task, method):
    code = main(["run", f"task={task}", f"method={method}", f"results_dir={tmp_path}", "method.epochs=1",
                 "progress=false", "task.data.max_jets=600"])
    out, err = capsys.readouterr()
    assert code == 0 and "AUC" in out, err
    record = _record(tmp_path)
    assert record["task"] == task and record["features"] == ["mass", "tau21", "tau32", "n_constituents"]
    assert record["dataset"]["embedded"] and record["dataset"]["events"] == 600
    # Top jets stand far from QCD in these features; semi-visible jets barely do (DarkCLR needs constituents).
    assert record["metrics"]["auc"] > (0.75 if task == "top" else 0.4)


def test_cli_reads_background_and_signal_files(tmp_path, capsys):
    constituents, labels, _ = make_jets(n_jets=80, n_const=6, seed=4)
    qcd = write_table(published_frame(constituents[labels == 0], labels[labels == 0]), tmp_path / "qcd_constit.h5")
    sig = write_table(published_frame(constituents[labels == 1], labels[labels == 1]), tmp_path / "aachen_constit.h5")
    code = main(["run", "task=svj", "method=ae", f"task.data.path=[{qcd},{sig}]", f"results_dir={tmp_path}",
                 "method.epochs=1", "progress=false", "plots=false", "task.representation=constituents",
                 "task.view_constituents=4"])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = _record(tmp_path)
    assert record["dataset"]["signal"] == 40 and record["dataset"]["background"] == 40
    assert len(record["features"]) == 12 and record["features"][:3] == ["pt_fraction_0", "deta_0", "dphi_0"]


@pytest.mark.parametrize("override, message", [
    ("task.features=[mass,width]", "invalid value ['mass', 'width'] for task.features: item 'width': choose one "
                                   "of: mass, pt, tau21, tau32, n_constituents"),
    ("task.representation=image", "invalid value 'image' for task.representation: choose one of: high_level, "
                                  "constituents"),
    ("task.data.max_jets=0", "invalid value 0 for task.data.max_jets: must be >= 1"),
])
def test_cli_bad_task_settings(tmp_path, capsys, override, message):
    code = main(["run", "task=top", override, f"results_dir={tmp_path}"])
    _, err = capsys.readouterr()
    assert code == 2 and err.strip() == f"qhep: error: {message}"


def test_cli_bad_file_is_one_line(tmp_path, capsys):
    bad = tmp_path / "train.h5"
    bad.write_text("not hdf5")
    code = main(["run", "task=top", f"task.data.path={bad}", f"results_dir={tmp_path}"])
    _, err = capsys.readouterr()
    assert code == 2 and err.count("\n") == 1 and str(bad) in err


def test_qhep_generate_writes_the_compact_layout_and_refuses_it_elsewhere(tmp_path, cli):
    from qhep.formats.jet_sample import is_jet_sample

    out = tmp_path / "top.h5"
    code, stdout, err = cli("generate", "task=top", "n_background=3", "n_signal=3", "seed=3", "workers=1",
                            "layout=qhep", f"output={out}")
    assert code == 0, err
    assert is_jet_sample(out) and len(read_jets(out)) == 6 and "wrote" in stdout
    code, _, err = cli("generate", "task=lhco", "layout=qhep", f"output={tmp_path / 'x.h5'}")
    assert code == 2 and "layout 'qhep' for task lhco; choose one of: published" in err

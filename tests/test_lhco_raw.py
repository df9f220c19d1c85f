"""The LHCO hadron-level reader on files in the published layout, its errors, and jets clustered from it."""
import numpy as np
import pandas as pd
import pytest
import tables

from qhep.errors import DataError
from qhep.formats import lhco
from qhep.formats.lhco_raw import (
    COLUMNS,
    count_events,
    describe,
    four_momenta,
    iter_raw,
    jet_features,
    read_raw,
)

N_EVENTS = 40


def raw_events(n: int = N_EVENTS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 700, 3) zero-padded hadrons (pT, eta, phi) with 5..120 hadrons per event, and labels (last 10 signal)."""
    rng = np.random.default_rng(seed)
    hadrons = np.zeros((n, 700, 3))
    for i in range(n):
        k = rng.integers(5, 121)
        hadrons[i, :k] = np.column_stack([rng.exponential(30, k) + 0.5, rng.normal(0, 1.5, k),
                                          rng.uniform(-np.pi, np.pi, k)])
    return hadrons, (np.arange(n) >= n - 10).astype(float)


def raw_frame(hadrons: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    # Integer column names 0..2100, as in the published file (a DataFrame built from a bare array).
    return pd.DataFrame(np.column_stack([hadrons.reshape(len(hadrons), -1), labels]))


def write_raw(frame: pd.DataFrame, path) -> None:
    frame.to_hdf(path, key="df", mode="w", format="fixed", complib="blosc", complevel=5)


@pytest.fixture
def raw_file(tmp_path):
    path = tmp_path / "events_anomalydetection_v2.h5"
    write_raw(raw_frame(*raw_events()), path)
    return path


def test_written_layout_is_the_published_one(raw_file):
    with tables.open_file(raw_file) as handle:
        node = handle.root.df
        assert node._v_attrs.pandas_type == "frame"
        assert node.block0_values.filters.complib == "blosc"
        np.testing.assert_array_equal(node.axis0[:], np.arange(2101))  # integer column names


def test_round_trip_mask_and_labels(raw_file):
    hadrons, labels = raw_events()
    events = read_raw(raw_file)
    np.testing.assert_array_equal(events.hadrons, hadrons)
    np.testing.assert_array_equal(events.labels, labels.astype(np.int8))
    assert events.hadrons.shape == (N_EVENTS, 700, 3) and events.start == 0
    np.testing.assert_array_equal(events.mask.sum(axis=1), (hadrons[..., 0] > 0).sum(axis=1))
    assert count_events(raw_file) == N_EVENTS


def test_row_ranges_and_chunks(raw_file):
    hadrons, labels = raw_events()
    part = read_raw(raw_file, start=12, stop=19)
    np.testing.assert_array_equal(part.hadrons, hadrons[12:19])
    assert part.start == 12
    np.testing.assert_array_equal(read_raw(raw_file, start=35, max_events=100).labels, labels[35:])  # capped
    chunks = list(iter_raw(raw_file, start=3, stop=30, chunk_events=7))
    assert [len(c) for c in chunks] == [7, 7, 7, 6] and [c.start for c in chunks] == [3, 10, 17, 24]
    np.testing.assert_array_equal(np.concatenate([c.hadrons for c in chunks]), hadrons[3:30])
    assert read_raw(raw_file, dtype=np.float32).hadrons.dtype == np.float32


def test_columns_selected_by_name(tmp_path):
    hadrons, labels = raw_events()
    frame = raw_frame(hadrons, labels)
    path = tmp_path / "shuffled.h5"
    write_raw(frame[frame.columns[::-1]], path)
    np.testing.assert_array_equal(read_raw(path).hadrons, hadrons)
    np.testing.assert_array_equal(read_raw(path).labels, labels)


def _with_value(row, column, value):
    def damage(frame, path):
        frame.iloc[row, column] = value
        write_raw(frame, path)
    return damage


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f, p: write_raw(f.drop(columns=2100), p), "missing column(s) 2100"),
        (_with_value(17, 1504, np.nan), "non-finite value in column 1504 at row 17"),
        (_with_value(5, 2100, 2.0), "column 2100 holds 2 at row 5"),
        (_with_value(9, 3, -4.0), "negative pT in column 3 at row 9"),
        (lambda f, p: p.write_bytes(b""), "file is empty"),
        (lambda f, p: p.write_text("0,1,2\n1,2,3\n"), "not a pandas HDF5 file"),
    ],
    ids=["missing-label", "nan", "bad-label", "negative-pt", "empty", "not-hdf5"],
)
def test_bad_files_fail_with_file_and_reason(tmp_path, damage, message):
    path = tmp_path / "bad.h5"
    damage(raw_frame(*raw_events()), path)
    with pytest.raises(DataError) as error:
        read_raw(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_truncated_file_fails_clearly(raw_file):
    data = raw_file.read_bytes()
    raw_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable pandas HDF5 file|cannot read rows"):
        read_raw(raw_file)


def test_bad_row_range(raw_file):
    with pytest.raises(DataError, match="row 40 requested but the file has 40 events"):
        read_raw(raw_file, start=40)
    with pytest.raises(DataError, match="invalid row range"):
        read_raw(raw_file, start=5, stop=2)


def test_four_momenta_of_massless_hadrons():
    p4 = four_momenta(np.array([[100.0, 0.5, np.pi / 2], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(p4[0], [0.0, 100.0, 100 * np.sinh(0.5), 100 * np.cosh(0.5)], atol=1e-9)
    np.testing.assert_array_equal(p4[1], 0.0)  # padding


def _event(*hadrons) -> np.ndarray:
    event = np.zeros((700, 3))
    event[: len(hadrons)] = hadrons
    return event


def test_jets_from_a_hand_made_event():
    # Jet 1: three hadrons within R = 1 of each other, with a padding slot between them that must be ignored.
    # Jet 2: one hadron opposite in phi (massless, tau = 0).
    a, b, c, d = (500.0, 0.0, 0.2), (500.0, 0.0, -0.2), (300.0, 0.5, 0.0), (700.0, 0.1, np.pi)
    event = _event(a, (0.0, 0.0, 0.0), b, c, d)
    row = jet_features(_events([event], [1])).iloc[0]
    px = 500 * np.cos(0.2) * 2 + 300
    pz = 300 * np.sinh(0.5)
    energy = 1000 + 300 * np.cosh(0.5)
    assert row["pxj1"] == pytest.approx(px) and row["pyj1"] == pytest.approx(0, abs=1e-9)
    assert row["pzj1"] == pytest.approx(pz)
    assert row["mj1"] == pytest.approx(np.sqrt(energy**2 - px**2 - pz**2))
    assert row["pxj2"] == pytest.approx(-700) and row["pzj2"] == pytest.approx(700 * np.sinh(0.1))
    assert row["mj2"] == pytest.approx(0, abs=1e-6) and row["tau1j2"] == pytest.approx(0, abs=1e-12)
    assert row["label"] == 1
    assert list(row.index) == lhco.COLUMNS  # the features-file view


def test_dijet_mass_of_two_massless_hadrons():
    # m^2 = 2 pT1 pT2 (cosh(d eta) - cos(d phi)) for massless particles.
    row = jet_features(_events([_event((500.0, 0.0, 0.2), (400.0, 0.3, -0.2))], [0])).iloc[0]
    assert row["mj1"] == pytest.approx(np.sqrt(2 * 500 * 400 * (np.cosh(0.3) - np.cos(0.4))))
    assert row["pxj2"] == 0 and row["mj2"] == 0  # no second jet: zeros
    # tau1 = sum pT_i dR(i, jet axis) / (sum pT * R), with the jet (E-scheme sum) as axis; tau2 = 0 for two
    # hadrons, each its own axis.
    jet = four_momenta(np.array([[500.0, 0.0, 0.2], [400.0, 0.3, -0.2]])).sum(axis=0)
    y = 0.5 * np.log((jet[3] + jet[2]) / (jet[3] - jet[2]))
    phi = np.arctan2(jet[1], jet[0])
    tau1 = (500 * np.hypot(0 - y, 0.2 - phi) + 400 * np.hypot(0.3 - y, -0.2 - phi)) / 900
    assert row["tau1j1"] == pytest.approx(tau1) and row["tau2j1"] == pytest.approx(0, abs=1e-12)


def _events(events, labels):
    from qhep.formats.lhco_raw import RawEvents

    return RawEvents(np.array(events), np.array(labels, dtype=np.int8), 0)


def test_describe_counts_exactly_and_summarises_hadrons(raw_file):
    hadrons, labels = raw_events()
    summary = describe(raw_file, jet_events=4)
    assert summary.events == N_EVENTS and summary.labels == {"background": 30, "signal": 10}
    stats = {s.name: s for s in summary.groups[0].stats}
    counts = (hadrons[..., 0] > 0).sum(axis=1)
    assert stats["hadrons per event"].minimum == counts.min() and stats["hadrons per event"].maximum == counts.max()
    assert stats["hadrons per event"].mean == pytest.approx(counts.mean())
    real = hadrons[hadrons[..., 0] > 0]
    assert stats["hadron pT [GeV]"].maximum == real[:, 0].max() and stats["hadron eta"].minimum == real[:, 1].min()
    assert "4 events" in summary.groups[1].note


def test_describe_samples_big_files_but_counts_events_from_metadata(raw_file):
    summary = describe(raw_file, sample_values=8 * len(COLUMNS), jet_events=0)
    assert summary.events == N_EVENTS and summary.events_note == "exact, from HDF5 metadata"
    assert sum(summary.labels.values()) == 8 and "sample of 8 of 40 events" in summary.labels_note
    # Eight one-event blocks spread over the file reach its signal tail (events 30..39).
    assert summary.labels["signal"] >= 1

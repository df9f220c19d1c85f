"""The LHCO features reader on files in the published layout, its errors, and the CATHODE features."""
import numpy as np
import pandas as pd
import pytest

from qhep.errors import DataError
from qhep.formats.lhco import COLUMNS, read_features
from qhep.tasks.lhco import LHCOTask, cathode_features
from tests.conftest import lhco_frame


def test_reads_published_layout(lhco_file):
    frame = read_features(lhco_file)
    assert list(frame.columns) == COLUMNS and len(frame) == 600
    assert frame["label"].sum() == 200


def test_selects_columns_by_name_not_position(tmp_path):
    frame = lhco_frame()
    path = tmp_path / "shuffled.h5"
    frame[COLUMNS[::-1]].to_hdf(path, key="df", format="fixed")
    pd.testing.assert_frame_equal(read_features(path), frame)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f, p: f.drop(columns="tau2j1").to_hdf(p, key="df"), "missing column(s) tau2j1"),
        (lambda f, p: f.assign(mj2=np.where(np.arange(len(f)) == 7, np.nan, f.mj2)).to_hdf(p, key="df"),
         "non-finite value(s), first in column mj2 at row 7"),
        (lambda f, p: f.assign(label=2.0).to_hdf(p, key="df"), "label holds values other than 0 and 1"),
        (lambda f, p: p.write_bytes(b""), "file is empty"),
        (lambda f, p: p.write_text("pxj1,pyj1\n1,2\n"), "not a readable pandas HDF5 file"),
    ],
    ids=["missing-column", "nan", "bad-label", "empty", "not-hdf5"],
)
def test_bad_files_fail_with_file_and_reason(tmp_path, damage, message):
    path = tmp_path / "bad.h5"
    damage(lhco_frame(), path)
    with pytest.raises(DataError) as error:
        read_features(path)
    assert str(path) in str(error.value) and message in str(error.value)


def test_truncated_file_fails_clearly(lhco_file):
    data = lhco_file.read_bytes()
    lhco_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a readable pandas HDF5 file"):
        read_features(lhco_file)


def test_missing_file():
    with pytest.raises(DataError, match="file not found"):
        read_features("/nonexistent/events.h5")


def test_cathode_features_by_hand():
    # Back-to-back jets at pT = 1500 GeV, eta = 0: a 500 GeV jet first and a 100 GeV jet second.
    row = dict(zip(COLUMNS, [1500, 0, 0, 500, 0.5, 0.1, 0.05, -1500, 0, 0, 100, 0.4, 0.3, 0.2, 1]))
    f = cathode_features(pd.DataFrame([row]))
    mjj = np.sqrt(1500**2 + 500**2) + np.sqrt(1500**2 + 100**2)  # no net momentum: mjj = E1 + E2
    assert f["mjj"][0] == pytest.approx(mjj / 1000)
    assert f["mj_min"][0] == pytest.approx(0.1) and f["delta_mj"][0] == pytest.approx(0.4)
    assert f["tau21_min"][0] == pytest.approx(0.3 / (0.4 + 1e-5))  # the lighter (second) jet
    assert f["tau21_max"][0] == pytest.approx(0.1 / (0.5 + 1e-5))


def settings(path, **changes):
    base = {"name": "lhco", "data": {"path": str(path)}, "features": ["mj_min", "delta_mj", "tau21_min", "tau21_max"],
            "region": "all", "signal_region": [3.3, 3.7]}
    return {**base, **changes}


def test_unsupervised_split_is_seeded_and_background_only(lhco_file):
    a, b = LHCOTask(settings(lhco_file)).load(seed=1), LHCOTask(settings(lhco_file)).load(seed=1)
    c = LHCOTask(settings(lhco_file)).load(seed=2)
    np.testing.assert_array_equal(a.train.X, b.train.X)
    assert not np.array_equal(a.train.X, c.train.X)
    assert (a.train.y == 0).all() and len(a.train) == 200
    assert (a.test.y == 1).sum() == 200 and (a.test.y == 0).sum() == 200
    assert a.dataset["sha256"] and a.dataset["events"] == 600


def test_region_cut_is_counted(lhco_file):
    data = LHCOTask(settings(lhco_file, region="signal_region")).load(seed=0)
    removed = data.cutflow["removed_by_region_cut"]
    assert len(data.train) + len(data.test) + sum(removed.values()) == 600

"""Bad input files through the real `qhep` command: one line on stderr naming the file and what is wrong, exit 2,
no traceback, no data dropped unseen; and the valid variants of the published layouts (upper-case or bzip2 file
names, byte-order marks, CR or CRLF line ends, empty or several tables) read as they should."""
from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import os
import signal

import numpy as np
import pandas as pd
import pytest

from qhep.generation.darkmachines import SIGNAL_GLUINO
from tests.conftest import lhco_frame
from tests.test_darkmachines import event
from tests.test_data_commands import payload
from tests.test_lhco_raw import raw_events, raw_frame, write_raw
from tests.test_top_svj import make_jets, published_frame

FAST = ["method=ae", "method.epochs=1", "progress=false", "plots=false"]



def run_task(cli, tmp_path, task, path, *extra):
    return cli("run", f"task={task}", f"task.data.path={path}", f"results_dir={tmp_path / 'results'}",
               *FAST, *extra)


def record(tmp_path):
    (path,) = (tmp_path / "results").rglob("result.json")
    return json.loads(path.read_text())


def assert_refused(code, err, path, *phrases):
    assert code == 2, err
    assert err.startswith("qhep: error: ") and err.count("\n") == 1, err
    assert str(path) in err and "Traceback" not in err, err
    for phrase in phrases:
        assert phrase in err, err


@pytest.fixture
def no_hang():
    """Fail, rather than hang, if reading blocks (e.g. a FIFO opened for reading waits for a writer)."""
    def stop(signum, frame):
        raise TimeoutError("the command blocked")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# --- files in the published layouts ------------------------------------------------------------------------------
def dm_lines(n_background=40, n_signal=10, seed=0):
    """Channel 3 events in the published syntax: background (ttbar) and the default signal, all passing."""
    rng = np.random.default_rng(seed)
    jets = lambda ht: [("j", ht / 2, 0.3), ("b", ht / 2, -0.3)]  # noqa: E731
    return ([event(rng.uniform(100, 200), jets(rng.uniform(600, 900)), "ttbar", i) for i in range(n_background)]
            + [event(rng.uniform(400, 600), jets(rng.uniform(900, 1200)), SIGNAL_GLUINO, 1000 + i)
               for i in range(n_signal)])


COMPRESS = {"plain": lambda b: b, "gzip": lambda b: gzip.compress(b, mtime=0), "bz2": bz2.compress}


def write_dm(path, lines, compression="plain", newline="\n", bom=False):
    text = (b"\xef\xbb\xbf" if bom else b"") + (newline.join(lines) + newline).encode()
    path.write_bytes(COMPRESS[compression](text))
    return path


def write_lhco(path, frame=None, key="df", fmt="fixed", mode="w"):
    (lhco_frame() if frame is None else frame).to_hdf(path, key=key, mode=mode, format=fmt)
    return path


def top_frame():
    return published_frame(*make_jets(n_jets=40))


def write_top(path, frame=None, key="table", fmt="table", mode="w"):
    (top_frame() if frame is None else frame).to_hdf(path, key=key, mode=mode, format=fmt)
    return path


def _set(frame, column, row, value):
    frame = frame.copy()
    frame.loc[row, column] = value
    return frame


# --- 1. Dark Machines folders: every file counted, named and read ------------------------------------------------
def test_folder_reads_every_data_file_whatever_its_case_and_compression(tmp_path, cli):
    folder = tmp_path / "chan3"
    folder.mkdir()
    lines = dm_lines()
    write_dm(folder / "background_chan3.CSV", lines[:20])
    write_dm(folder / "background_chan3_more.csv.bz2", lines[20:40], "bz2")
    write_dm(folder / f"{SIGNAL_GLUINO}_chan3.csv.gz", lines[40:], "gzip")
    (folder / ".DS_Store").write_bytes(b"\x00\x01 not data")  # hidden: passed over
    code, _, err = run_task(cli, tmp_path, "darkmachines", folder)
    assert code == 0, err
    dataset = record(tmp_path)["dataset"]
    assert dataset["events"] == 50 and dataset["signal"] == 10
    assert [(os.path.basename(f["file"]), f["events"], f["compression"]) for f in dataset["files"]] == [
        ("background_chan3.CSV", 20, "none (plain text)"), ("background_chan3_more.csv.bz2", 20, "bzip2"),
        (f"{SIGNAL_GLUINO}_chan3.csv.gz", 10, "gzip")]


def _subfolder(folder):
    (folder / "chan1").mkdir()
    return folder / "chan1"


def _fifo(folder):
    os.mkfifo(folder / "more_chan3.csv")
    return folder / "more_chan3.csv"


def _text(folder):
    (folder / "notes.txt").write_text("where these files came from\n")
    return folder / "notes.txt"


def _tar_name(folder):
    (folder / "training_files.tar").write_bytes(b"x" * 10)
    return folder / "training_files.tar"


def _empty(folder):
    (folder / "empty_chan3.csv").write_bytes(b"")
    return folder / "empty_chan3.csv"


@pytest.mark.parametrize("add, message", [
    (_text, "not a Dark Machines data file: a data folder may hold only .csv, .csv.gz and .csv.bz2 files"),
    (_tar_name, "not a Dark Machines data file"),
    (_subfolder, "a folder inside the data folder"),
    (_fifo, "is not a regular file (a FIFO)"),
    (_empty, "file is empty"),
], ids=["text-file", "tar", "subfolder", "fifo", "empty-file"])
def test_folder_refuses_anything_it_would_not_read(tmp_path, cli, no_hang, add, message):
    folder = tmp_path / "chan3"
    folder.mkdir()
    write_dm(folder / "background_chan3.csv", dm_lines())
    offender = add(folder)
    code, _, err = run_task(cli, tmp_path, "darkmachines", folder)
    assert_refused(code, err, offender, message)


def test_folder_without_data_files_is_refused(tmp_path, cli):
    folder = tmp_path / "chan3"
    folder.mkdir()
    (folder / ".hidden.csv").write_text("not looked at\n")
    code, _, err = run_task(cli, tmp_path, "darkmachines", folder)
    assert_refused(code, err, folder, "no .csv, .csv.gz or .csv.bz2 files in this folder")


# --- 2. Dark Machines text: byte-order mark, CR and CRLF line ends ---------------------------------------------
@pytest.mark.parametrize("newline, bom, compression", [
    ("\n", True, "plain"), ("\r", False, "plain"), ("\r\n", False, "plain"), ("\r\n", True, "gzip"),
    ("\r", True, "bz2"),
], ids=["bom", "cr", "crlf", "bom-crlf-gzip", "bom-cr-bz2"])
def test_darkmachines_text_variants_are_read(tmp_path, newline, bom, compression, cli):
    path = write_dm(tmp_path / "events.csv", dm_lines(), compression, newline, bom)
    code, out, err = cli("data", "info", path)
    assert code == 0 and not err, err
    assert "50 (exact, every line counted" in out and "ttbar" in out
    code, _, err = run_task(cli, tmp_path, "darkmachines", path)
    assert code == 0, err
    assert record(tmp_path)["dataset"]["events"] == 50


# --- 3. download: a present file with another checksum is left alone ---------------------------------------------
def test_download_never_replaces_a_present_file_with_another_checksum(tmp_path, zenodo, monkeypatch, cli):
    name = "events_anomalydetection_v2.h5"
    data = payload(4000)
    zenodo.files["4536377"] = {name: data}
    monkeypatch.setenv("QHEP_ZENODO_URL", zenodo.url)
    dest = tmp_path / "data"
    code, out, _ = cli("data", "download", "lhco_raw", "--dest", dest)
    assert code == 0 and "downloaded" in out
    zenodo.checksums[("4536377", name)] = "f" * 32  # the record now lists another version
    code, _, err = cli("data", "download", "lhco_raw", "--dest", dest)
    assert_refused(code, err, dest / name, hashlib.md5(data).hexdigest(), "f" * 32, "left untouched")
    assert (dest / name).read_bytes() == data and sorted(p.name for p in dest.iterdir()) == [name]
    assert len(zenodo.file_requests()) == 1  # nothing fetched the second time


# --- 4. info: empty tables count 0 events; every table of a file is described -------------------------------------
@pytest.mark.parametrize("write", [
    lambda p: write_lhco(p, lhco_frame().iloc[:0]),
    lambda p: write_top(p, top_frame().iloc[:0], fmt="fixed"),
    lambda p: write_raw(raw_frame(*raw_events(3)).iloc[:0], p),
], ids=["lhco-features", "constituents", "lhco-raw"])
def test_info_counts_zero_events_in_an_empty_table(tmp_path, write, cli):
    path = tmp_path / "empty_table.h5"
    write(path)
    code, out, err = cli("data", "info", path)
    assert code == 0 and not err, err
    assert "0 (exact, from HDF5 metadata)" in out and "1 (exact" not in out


def test_info_describes_every_table_of_a_file(tmp_path, cli):
    path = write_lhco(tmp_path / "two.h5", lhco_frame(300, 300))
    write_lhco(path, lhco_frame(5, 0), key="more", mode="a")
    pd.DataFrame({"run": [1, 2, 3]}).to_hdf(path, key="notes", mode="a", format="table")
    code, out, err = cli("data", "info", path)
    assert code == 0 and not err, err
    titles = " ".join(out.split())  # rich wraps long titles
    assert all(f"two.h5: table {n} of 3" in titles for n in (1, 2, 3))
    for text in ("key 'df'", "key 'more'", "key 'notes'", "600 (exact", "5 (exact", "3 (rows, exact",
                 "pandas table of no layout qhep reads"):
        assert text in out, text


# --- 5. values physics forbids, and non-finite ones ----------------------------------------------------------------
LHCO_BAD = [
    (lambda f: _set(f, "mj1", 3, -5.0), "negative mass in column mj1 at row 3"),
    (lambda f: _set(f, "mj2", 7, -0.1), "negative mass in column mj2 at row 7"),
    (lambda f: _set(f, "tau2j1", 2, -0.3), "negative N-subjettiness in column tau2j1 at row 2"),
    (lambda f: _set(f, "pxj1", 4, np.inf), "column pxj1 at row 4"),
    (lambda f: _set(f, "mj2", 9, np.nan), "column mj2 at row 9"),
]


@pytest.mark.parametrize("command", ["run", "info"])
@pytest.mark.parametrize("damage, message", LHCO_BAD, ids=["neg-mj1", "neg-mj2", "neg-tau", "inf", "nan"])
def test_lhco_features_with_impossible_values_are_refused(tmp_path, command, damage, message, cli):
    path = write_lhco(tmp_path / "events_anomalydetection_v2.features.h5", damage(lhco_frame()))
    if command == "run":
        code, _, err = run_task(cli, tmp_path, "lhco", path, "task.region=all")
    else:
        code, _, err = cli("data", "info", path)
    assert_refused(code, err, path, message)


@pytest.mark.parametrize("task, write, message", [
    ("top", lambda p: write_top(p, _set(top_frame(), "E_0", 5, -1.0)), "negative energy in column E_0 at row 5"),
    ("top", lambda p: write_top(p, _set(top_frame(), "truthE", 1, -2.0)), "negative energy in column truthE at row 1"),
    ("svj", lambda p: write_top(p, _set(top_frame(), "PZ_1", 6, np.nan)), "column PZ_1 at row 6"),
    ("darkmachines", lambda p: write_dm(p, [*dm_lines()[:3], "7;ttbar;1;200000;0;j,-5,300000,0,0;"]),
     "line 4: object 1 has negative E"),
    ("darkmachines", lambda p: write_dm(p, [*dm_lines()[:3], "7;ttbar;1;200000;0;j,5000,-3000,0,0;"], "bz2"),
     "line 4: object 1 has negative pt"),
    ("darkmachines", lambda p: write_dm(p, ["7;ttbar;1;-200000;0;", *dm_lines()[:3]]), "line 1: negative MET"),
], ids=["top-negative-E", "top-negative-truthE", "svj-nan", "dm-negative-E", "dm-negative-pt-bz2",
        "dm-negative-met"])
def test_constituent_and_darkmachines_files_with_impossible_values_are_refused(tmp_path, cli, task, write,
                                                                                  message):
    path = tmp_path / "events.dat"
    write(path)
    code, _, err = run_task(cli, tmp_path, task, path)
    assert_refused(code, err, path, message)


# --- 6. tables without the expected columns, and duplicated columns -------------------------------------------------
def _two_foreign_tables(path):
    pd.DataFrame({"x": [1.0], "y": [2.0]}).to_hdf(path, key="a", mode="w", format="table")
    pd.DataFrame({"z": [3.0]}).to_hdf(path, key="b", mode="a", format="table")


def _duplicated(frame, column):
    """The frame with a second column of the same name (pandas' table format stores that as it is)."""
    return pd.concat([frame, frame[[column]] * 2], axis=1)


@pytest.mark.parametrize("task, write, message", [
    ("lhco", _two_foreign_tables, "no table holds the expected columns pxj1, pyj1"),
    ("lhco", _two_foreign_tables, "(found table(s): 'a' with x, y; 'b' with z)"),
    ("lhco", lambda p: write_lhco(p, lhco_frame().drop(columns=["mj1", "label"])),
     "missing column(s) mj1, label (table 'df' has pxj1, pyj1"),
    ("lhco", lambda p: write_lhco(p, _duplicated(lhco_frame(), "tau1j2"), fmt="table"),
     "column tau1j2 appears 2 times in table 'df'"),
    ("top", _two_foreign_tables, "no table under key 'table' (found: a, b)"),
    ("top", lambda p: write_top(p, pd.DataFrame({"pt": [1.0], "is_signal_new": [0]})),
     "missing constituent columns E_i PX_i PY_i PZ_i (none found; the table has pt, is_signal_new)"),
    ("top", lambda p: write_top(p, _duplicated(top_frame()[["E_0", "PX_0", "PY_0", "PZ_0", "is_signal_new"]],
                                               "PX_0")), "column PX_0 appears 2 times in table 'table'"),
], ids=["lhco-foreign-tables", "lhco-says-what-it-has", "lhco-missing", "lhco-duplicate", "top-foreign-tables",
        "top-no-constituents", "top-duplicate"])
def test_tables_without_the_expected_columns_say_what_they_have(tmp_path, cli, task, write, message):
    path = tmp_path / "data.h5"
    write(path)
    code, _, err = run_task(cli, tmp_path, task, path, *(["task.region=all"] if task == "lhco" else []))
    assert_refused(code, err, path, message)


def test_info_refuses_a_duplicated_column(tmp_path, cli):
    path = write_lhco(tmp_path / "dup.h5", _duplicated(lhco_frame(), "mj2"), fmt="table")
    code, _, err = cli("data", "info", path)
    assert_refused(code, err, path, "column mj2 appears 2 times in table 'df'")


# --- 7. directories, FIFOs, unreadable files where a file is expected ---------------------------------------------
def _directory(path):
    path.mkdir()


def _fifo_at(path):
    os.mkfifo(path)


def _unreadable(path, monkeypatch, valid):
    """Tests run as root, where chmod 000 does not stop reading: opening this path is made to fail instead."""
    valid(path)
    real_open = open

    def guarded_open(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded_open)


VALID = {"lhco": write_lhco, "top": write_top, "darkmachines": lambda p: write_dm(p, dm_lines())}


NOT_A_FILE = {"directory": "is a directory, expected a file", "fifo": "is not a regular file (a FIFO)",
              "unreadable": "permission denied"}


# A directory is a data folder for the Dark Machines task (see the folder tests above).
@pytest.mark.parametrize("command, kind", [(c, k) for c in ("lhco", "top", "darkmachines", "info") for k in NOT_A_FILE
                                           if (c, k) != ("darkmachines", "directory")])
def test_what_is_not_a_readable_file_is_named(tmp_path, monkeypatch, no_hang, command, kind, cli):
    path = tmp_path / "events.h5"
    if kind == "directory":
        _directory(path)
    elif kind == "fifo":
        _fifo_at(path)
    else:
        _unreadable(path, monkeypatch, VALID["lhco" if command == "info" else command])
    if command == "info":
        code, _, err = cli("data", "info", path)
    else:
        code, _, err = run_task(cli, tmp_path, command, path, *(["task.region=all"] if command == "lhco" else []))
    assert_refused(code, err, path, f"{path}: {NOT_A_FILE[kind]}")


# --- 8. a missing published file says how to get it -----------------------------------------------------------------
@pytest.mark.parametrize("task, name, hint", [
    ("lhco", "events_anomalydetection_v2.features.h5", "qhep data download lhco"),
    ("top", "train.h5", "qhep data download top"),
    ("svj", "aachen_constit.h5", "qhep data download svj"),
    ("lhco", "my_own_file.h5", None),
])
def test_missing_file_names_the_download_command(tmp_path, task, name, hint, cli):
    path = tmp_path / name
    code, _, err = run_task(cli, tmp_path, task, path)
    assert_refused(code, err, path, f"{path}: file not found")
    if hint is None:
        assert "qhep data download" not in err
    else:
        assert f"`{hint} --dest {tmp_path}`" in err
    code, _, err = cli("data", "info", path)
    assert_refused(code, err, path, "file not found")


def test_missing_file_in_the_default_download_folder(tmp_path, monkeypatch, cli):
    monkeypatch.chdir(tmp_path)
    code, _, err = cli("data", "info", "data/events_anomalydetection_v2.h5")
    assert_refused(code, err, "data/events_anomalydetection_v2.h5", "`qhep data download lhco_raw`")


# --- 9. generation: the chunk folder goes once the output is complete, and stays while interrupted --------------
GENERATE = ["generate", "task=lhco", "n_background=12", "n_signal=12", "seed=5", "workers=1"]


def test_generation_removes_its_chunks_when_done_and_keeps_them_when_interrupted(tmp_path, monkeypatch, cli):
    import qhep.generation.chunks as chunks
    import qhep.generation.lhco as lhco_generation

    reference = tmp_path / "reference.h5"
    code, out, err = cli(*GENERATE, f"output={reference}")
    assert code == 0 and f"wrote {reference}" in out, err
    assert reference.exists() and not (tmp_path / "reference.h5.parts").exists()

    # Interrupted once every chunk is done, while writing the output: the chunks stay.
    output = tmp_path / "lhco.h5"
    parts = tmp_path / "lhco.h5.parts"
    real_write = lhco_generation.write_features

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lhco_generation, "write_features", interrupted)
    code, _, err = cli(*GENERATE, f"output={output}")
    assert code == 130 and not output.exists() and len(list(parts.glob("*.npz"))) == 2
    (parts / "my_notes.txt").write_text("not generation's")  # a file of the user's is never removed

    # The rerun takes every chunk from disk (no event is generated), writes the same bytes and cleans up.
    monkeypatch.setattr(lhco_generation, "write_features", real_write)

    class NoWorkers(chunks.ProcessPoolExecutor):
        def submit(self, *args, **kwargs):
            raise AssertionError("a finished chunk was generated again")

    monkeypatch.setattr(chunks, "ProcessPoolExecutor", NoWorkers)
    code, _, err = cli(*GENERATE, f"output={output}")
    assert code == 0, err
    assert output.read_bytes() == reference.read_bytes()
    assert sorted(p.name for p in parts.iterdir()) == ["my_notes.txt"]

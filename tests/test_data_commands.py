"""`qhep data info` and `qhep data download`: format detection from content, summaries, and resumable, verified
downloads from a fake Zenodo (records API + files, with HTTP Range) on 127.0.0.1."""
import gzip
import hashlib
import io
import json
import tarfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import h5py
import numpy as np
import pandas as pd
import pytest

from qhep.data.darkmachines_info import VALUES_PER_EVENT
from qhep.data.download import download_task
from qhep.data.info import summarise
from qhep.errors import DataError, QhepError
from qhep.formats.constituents import constituent_columns, write_jets
from qhep.formats.detect import detect
from qhep.formats.lhco import COLUMNS
from qhep.tasks.base import embedded_sample
from qhep.tasks.lhco import cathode_features
from tests.conftest import lhco_frame
from tests.test_lhco_raw import raw_events, raw_frame, write_raw


# --- detection from content ---------------------------------------------------------------------------------------
def test_detects_lhco_layouts_from_content_not_names(tmp_path, lhco_file):
    assert detect(lhco_file).name == "lhco-features"
    raw = tmp_path / "events_anomalydetection_v2.features.h5"  # raw content under the features file's name
    write_raw(raw_frame(*raw_events(5)), raw)
    assert detect(raw).name == "lhco-raw"
    extra = tmp_path / "data.h5"
    lhco_frame(50, 0).drop(columns="label").to_hdf(extra, key="df", format="fixed")
    assert detect(extra).name == "lhco-qcd-extra"


def _tar_bytes() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("chan1/background_chan1.csv")
        payload = b"1;ttbar;1;112288;1.74766;b,331927,147558,-1.44969,-1.76399;\n"
        info.size = len(payload)
        archive.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_text("pxj1,pyj1\n1,2\n"), "text starting 'pxj1,pyj1'"),
        (lambda p: p.write_bytes(gzip.compress(b"94;ttbar;1;112288\n")), "gzip-compressed text starting '94;ttbar"),
        (lambda p: p.write_bytes(_tar_bytes()), "a tar archive: extract it"),
        (lambda p: h5py.File(p, "w").create_dataset("x", data=[1, 2]).file.close(), "HDF5 without pandas tables"),
        (lambda p: lhco_frame(5, 5).drop(columns=["mj1"]).to_hdf(p, key="df"),
         "pandas HDF5 with table(s) 'df' with 14 columns (pxj1, pyj1, pzj1, tau1j1"),
        (lambda p: p.write_bytes(b"\x00\x01\x02binary"), "binary data"),
    ],
    ids=["csv", "gzip", "tar", "plain-hdf5", "missing-column", "binary"],
)
def test_unrecognised_files_say_what_they_look_like(tmp_path, write, message):
    path = tmp_path / "events_anomalydetection_v2.features.h5"
    write(path)
    with pytest.raises(DataError) as error:
        detect(path)
    assert str(path) in str(error.value) and "not a recognised dataset layout" in str(error.value)
    assert message in str(error.value)


# --- info ---------------------------------------------------------------------------------------------------------
def test_info_summarises_the_features_file(lhco_file, cli):
    frame = lhco_frame()
    summary = summarise(lhco_file)
    assert summary.events == 600 and summary.labels == {"background": 400, "signal": 200}
    assert summary.labels_note == "from column label, all 600 events"
    stats = {s.name: s for s in summary.groups[0].stats}
    assert stats["mj2"].minimum == frame["mj2"].min() and stats["mj2"].maximum == frame["mj2"].max()
    assert stats["tau1j1"].mean == pytest.approx(frame["tau1j1"].mean())
    mjj = cathode_features(frame)["mjj"] * 1000
    assert stats["mjj"].minimum == pytest.approx(mjj.min()) and stats["mjj"].mean == pytest.approx(mjj.mean())
    code, out, err = cli("data", "info", lhco_file)
    assert code == 0 and not err
    for text in ("jet features", "600 (exact, from HDF5 metadata)", "400 (66.67%)", "200 (33.33%)", "mjj"):
        assert text in out


def test_info_samples_big_files_and_says_so(lhco_file):
    summary = summarise(lhco_file, sample_values=len(COLUMNS) * 80)
    assert summary.events == 600 and summary.events_note == "exact, from HDF5 metadata"
    assert sum(summary.labels.values()) == 80
    assert "sample of 80 of 600 events (8 blocks spread over the file)" in summary.labels_note
    assert summary.labels["signal"] > 0  # the blocks reach the signal at the end of the file


def test_info_on_raw_and_extra_qcd_files(tmp_path, cli):
    raw = tmp_path / "raw.h5"
    write_raw(raw_frame(*raw_events(12)), raw)
    code, out, _ = cli("data", "info", raw)
    assert code == 0 and "LHC Olympics R&D hadrons" in out and "hadrons per event" in out and "pT j1" in out
    extra = tmp_path / "extra.h5"
    lhco_frame(70, 0).drop(columns="label").to_hdf(extra, key="df", format="fixed")
    summary = summarise(extra)
    assert summary.labels == {"background": 70, "signal": 0} and "no label column" in summary.labels_note


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_bytes(b""), "file is empty"),
        (lambda p: p.write_text("not a data file\n"), "not a recognised dataset layout"),
        (lambda p: p.write_text("94,ttbar,1,112288,1.74766,b,331927,147558,-1.44969,-1.76399\n"),
         "not a recognised dataset layout: text starting '94,ttbar,1"),
        (lambda p: constituent_frame(truth=False).drop(columns="is_signal_new").to_hdf(p, key="table", format="table"),
         "not a recognised dataset layout: pandas HDF5 with table(s) 'table' with 12 columns (E_0, PX_0"),
        (lambda p: lhco_frame().assign(mj1=np.where(np.arange(600) == 33, np.inf, lhco_frame().mj1))
         .to_hdf(p, key="df"), "non-finite value in column mj1 at row 33"),
        (lambda p: lhco_frame().assign(label=0.5).to_hdf(p, key="df"), "column label holds 0.5 at row 0"),
    ],
    ids=["empty", "text", "comma-csv", "constituents-without-label", "inf", "bad-label"],
)
def test_info_bad_file_is_one_line_and_exit_2(tmp_path, write, message, cli):
    path = tmp_path / "bad.h5"
    write(path)
    code, out, err = cli("data", "info", path)
    assert code == 2 and err.count("\n") == 1 and str(path) in err and message in err and "Traceback" not in err


def test_info_truncated_and_missing_files(tmp_path, lhco_file, cli):
    data = lhco_file.read_bytes()
    lhco_file.write_bytes(data[: len(data) // 2])
    code, _, err = cli("data", "info", lhco_file)
    assert code == 2 and err.count("\n") == 1 and "not a readable pandas HDF5 file" in err
    code, _, err = cli("data", "info", tmp_path / "nope.h5")
    assert code == 2 and "nope.h5: file not found" in err


# --- jet-constituent tables (top tagging, semi-visible jets) -------------------------------------------------------
# Three jets with N = 3 slots, px py pz E [GeV]: (600, 0, 0, 680) from two constituents: m = 320, pT = 600, eta = 0;
# one constituent (0, 400, 300, 500): m = 0, pT = 400, eta = asinh(0.75) = ln 2; three (100, 0, 0, 100): the signal.
JETS = np.array([
    [[300, 0, 0, 340], [300, 0, 0, 340], [0, 0, 0, 0]],
    [[0, 400, 300, 500], [0, 0, 0, 0], [0, 0, 0, 0]],
    [[100, 0, 0, 100], [100, 0, 0, 100], [100, 0, 0, 100]],
], dtype=np.float64)
JET_LABELS = np.array([0, 0, 1])


def constituent_frame(truth: bool) -> pd.DataFrame:
    """The published table: E_i PX_i PY_i PZ_i per slot (E first), truth columns if asked, is_signal_new last."""
    frame = pd.DataFrame(JETS[:, :, [3, 0, 1, 2]].reshape(3, 12).astype(np.float32), columns=constituent_columns(3))
    if truth:
        frame[["truthE", "truthPX", "truthPY", "truthPZ"]] = np.float32(1.0)
        frame["ttv"] = 0
    frame["is_signal_new"] = JET_LABELS
    return frame


def test_info_on_jet_constituent_tables(tmp_path, cli):
    top = tmp_path / "events.csv"  # the name says CSV, the content is a constituent table
    write_jets(top, JETS, JET_LABELS, truth=np.ones((3, 4)))
    svj = tmp_path / "qcd_constit.h5"
    constituent_frame(truth=False).to_hdf(svj, key="table", format="table")
    assert detect(top).name == detect(svj).name == "jet-constituents"
    for path, truth in ((top, "present (truthE truthPX truthPY truthPZ)"), (svj, "absent")):
        summary = summarise(path)
        assert summary.events == 3 and summary.labels == {"background": 2, "signal": 1}
        assert dict(summary.details)["constituent slots"].startswith("N = 3 ")
        assert dict(summary.details)["truth columns"].startswith(truth)
        stats = {s.name: s for s in summary.groups[0].stats}
        mass, pt, eta, n = (stats[k] for k in ("jet mass [GeV]", "jet pT [GeV]", "jet eta", "constituents per jet"))
        assert (mass.minimum, mass.mean, mass.maximum) == pytest.approx((0, 320 / 3, 320), abs=1e-3)
        assert (pt.minimum, pt.mean, pt.maximum) == pytest.approx((300, 1300 / 3, 600))
        assert (eta.minimum, eta.mean, eta.maximum) == pytest.approx((0, np.log(2) / 3, np.log(2)), abs=1e-6)
        assert (n.minimum, n.mean, n.maximum) == (1, 2, 3)
    code, out, err = cli("data", "info", top)
    assert code == 0 and not err
    for text in ("jet constituents (top tagging", "3 (exact, from HDF5 metadata)", "2 (66.67%)", "1 (33.33%)",
                 "N = 3 (E_i PX_i PY_i PZ_i, i = 0..2)", "jet mass [GeV]", "433.3"):
        assert text in out


def test_constituent_info_samples_blocks_over_a_sorted_file(tmp_path):
    path = tmp_path / "train.h5"
    jets = np.repeat(JETS[:1], 80, axis=0)
    write_jets(path, jets, np.repeat([0, 1], 40))  # sorted by label, as the published files
    summary = summarise(path, sample_values=16 * (4 * 3 + 1))
    assert summary.events == 80 and summary.labels["background"] + summary.labels["signal"] == 16
    assert summary.labels["signal"] > 0 and "sample of 16 of 80 events (8 blocks" in summary.labels_note


# --- Dark Machines text files ---------------------------------------------------------------------------------------
# MET [MeV] 112288, 200000, 87712: mean 133.333 GeV; HT 147.558, 500, 0 GeV; jets 1, 2, 0; leptons 0, 1, 1;
# leading-jet pT 147.558 and 400 GeV (the third event has no jet).
DM_LINES = [
    "94;ttbar;1;112288;1.74766;b,331927,147558,-1.44969,-1.76399;",
    "95;ttbar;1;200000;0.5;j,500000,400000,0.5,1;j,300000,100000,1.2,-2;e-,50000,40000,0.1,0.2;",
    "96;z_jets;2.5;87712;-1;m+,60000,30000,0.3,0.4;",
]


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_info_on_darkmachines_files(tmp_path, compress, cli):
    path = tmp_path / "events.h5"  # the name says HDF5, the content is Dark Machines text
    text = ("\n".join(DM_LINES) + "\n\n").encode()  # a trailing empty line, as some published files have
    path.write_bytes(gzip.compress(text) if compress else text)
    assert detect(path).name == "darkmachines-csv"
    summary = summarise(path)
    assert summary.events == 3 and summary.labels is None
    assert summary.tallies[0].counts == {"ttbar": 2, "z_jets": 1}
    assert dict(summary.details)["compression"] == ("gzip" if compress else "none (plain text)")
    stats = {s.name: s for s in summary.groups[0].stats}
    assert (stats["MET [GeV]"].minimum, stats["MET [GeV]"].mean) == pytest.approx((87.712, 400 / 3))
    assert stats["HT [GeV] (jets j, b)"].mean == pytest.approx((147.558 + 500) / 3)
    assert stats["jets per event (j, b)"].mean == 1 and stats["leptons per event (e, mu)"].mean == pytest.approx(2 / 3)
    lead = stats["leading-jet pT [GeV] (events with a jet)"]
    assert (lead.minimum, lead.mean, lead.maximum) == pytest.approx((147.558, (147.558 + 400) / 2, 400))
    code, out, err = cli("data", "info", path)
    assert code == 0 and not err
    for text in ("Dark Machines events", "3 (exact, every line counted", "ttbar", "66.67%", "z_jets", "133.3"):
        assert text in out


def test_darkmachines_info_counts_all_and_samples_blocks_over_the_file(tmp_path):
    # 400 events sorted by process, MET = line index in GeV: the sample's MET says which lines it took.
    lines = [f"{i};{'ttbar' if i < 200 else 'glgl1400_neutralino1100'};1;{i * 1000};0;j,90000,90000,0,0;"
             for i in range(400)]
    path = tmp_path / "background_chan3.csv"
    path.write_text("\n".join(lines) + "\n")
    summary = summarise(path, sample_values=40 * VALUES_PER_EVENT)
    assert summary.events == 400
    assert summary.tallies[0].counts == {"ttbar": 200, "glgl1400_neutralino1100": 200}
    assert "sample of 40 of 400 events (8 blocks spread over the file)" in summary.groups[0].note
    met = summary.groups[0].stats[0]
    assert met.minimum == 0 and met.maximum >= 350  # the first block starts the file, the last one is near its end


@pytest.mark.parametrize(
    "lines, message",
    [
        (DM_LINES[:1] + ["", *DM_LINES[1:]], "line 2: empty line before more events"),
        (DM_LINES[:2] + ["96;z_jets"], "line 3: 2 `;`-separated field(s), expected at least 5"),
        (DM_LINES[:2] + ["96; ;1;1000;0.1;"], "line 3: empty process ID"),
        (DM_LINES * 8 + ["97;ttbar;1;1000;0.1;x,1,2,3,4;"], "line 25: object 1 has unknown type 'x'"),
        (DM_LINES * 8 + ["97;ttbar;1;-1000;0.1;"], "line 25: negative MET -1000"),
    ],
    ids=["blank-inside", "short-line", "empty-process", "bad-object-after-the-probe", "negative-met"],
)
def test_darkmachines_info_bad_lines_are_one_line_errors(tmp_path, lines, message, cli):
    path = tmp_path / "bad.csv.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    code, _, err = cli("data", "info", path)
    assert code == 2 and err.count("\n") == 1 and str(path) in err and message in err


@pytest.mark.parametrize("name, layout", [("top.h5", "qhep-jets"), ("svj.h5", "qhep-jets"),
                                          ("darkmachines.csv.gz", "darkmachines-csv"), ("lhco.h5", "lhco-features")])
def test_shipped_samples_are_recognised(name, layout):
    assert detect(embedded_sample(name)).name == layout


# --- download -----------------------------------------------------------------------------------------------------
class FakeZenodo:
    """Zenodo's records API and file links on 127.0.0.1; honours Range; can cut a transfer short once."""

    def __init__(self):
        self.files = {}  # record -> {name: bytes}
        self.checksums = {}  # (record, name) -> advertised md5, when it should differ from the truth
        self.cut_after = {}  # name -> bytes to send before dropping the connection (once)
        self.honour_range = True
        self.requests = []  # (path, Range header or None)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake.requests.append((self.path, self.headers.get("Range")))
                parts = self.path.strip("/").split("/")
                if parts[:2] == ["api", "records"] and len(parts) == 3 and parts[2] in fake.files:
                    return self._send(200, json.dumps(fake.metadata(parts[2])).encode(), "application/json")
                if len(parts) == 6 and parts[3] == "files" and parts[5] == "content":
                    data = fake.files.get(parts[2], {}).get(parts[4])
                    if data is not None:
                        return self._file(parts[4], data)
                self._send(404, b"not found", "text/plain")

            def _file(self, name, data):
                ranged = self.headers.get("Range")
                start = int(ranged.removeprefix("bytes=").rstrip("-")) if ranged and fake.honour_range else 0
                if start >= len(data) > 0:
                    return self._send(416, b"", "text/plain")
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                cut = fake.cut_after.pop(name, None)
                self.wfile.write(body if cut is None else body[:cut])  # short body: the client sees a broken read

            def _send(self, code, body, kind):
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def metadata(self, record):
        return {"id": int(record), "files": [
            {"key": name, "size": len(data),
             "checksum": "md5:" + self.checksums.get((record, name), hashlib.md5(data).hexdigest()),
             # As zenodo/zenodo#2486: links.self names a file id that does not resolve; the key does.
             "links": {"self": f"{self.url}/api/records/{record}/files/0b6e1c2a-4a39-4f6e-9d1e-1f1a2b3c4d5e"}}
            for name, data in self.files[record].items()]}

    def file_requests(self):
        return [(path, ranged) for path, ranged in self.requests if path.endswith("/content")]


RAW_NAME = "events_anomalydetection_v2.h5"


def payload(n_bytes: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n_bytes, dtype=np.uint8).tobytes()


def test_interrupted_download_resumes_with_a_range_request(tmp_path, zenodo):
    data = payload(1_000_000)
    zenodo.files["4536377"] = {RAW_NAME: data, "other.h5": b"not requested"}
    zenodo.cut_after[RAW_NAME] = len(data) // 2
    with pytest.raises(QhepError, match="run the command again to resume") as error:
        download_task("lhco_raw", tmp_path, base_url=zenodo.url, show_progress=False)
    assert RAW_NAME in str(error.value)
    part = tmp_path / f"{RAW_NAME}.part"
    kept = part.stat().st_size
    assert 0 < kept <= len(data) // 2 and part.read_bytes() == data[:kept]
    assert not (tmp_path / RAW_NAME).exists()

    (fetched,) = download_task("lhco_raw", tmp_path, base_url=zenodo.url, show_progress=False)
    assert fetched.status == "downloaded" and fetched.size == len(data)
    assert [r for _, r in zenodo.file_requests()] == [None, f"bytes={kept}-"]
    assert hashlib.md5((tmp_path / RAW_NAME).read_bytes()).hexdigest() == hashlib.md5(data).hexdigest()
    assert not part.exists() and sorted(p.name for p in tmp_path.iterdir()) == [RAW_NAME]


def test_present_file_with_matching_checksum_is_not_fetched_again(tmp_path, zenodo):
    zenodo.files["4536377"] = {RAW_NAME: payload(5000)}
    assert download_task("lhco_raw", tmp_path, base_url=zenodo.url, show_progress=False)[0].status == "downloaded"
    again = download_task("lhco_raw", tmp_path, base_url=zenodo.url, show_progress=False)
    assert again[0].status == "already present" and len(zenodo.file_requests()) == 1


def test_checksum_mismatch_deletes_the_file_and_fails(tmp_path, zenodo):
    zenodo.files["4536377"] = {RAW_NAME: payload(5000)}
    zenodo.checksums[("4536377", RAW_NAME)] = "0" * 32
    with pytest.raises(QhepError, match="checksum mismatch") as error:
        download_task("lhco_raw", tmp_path, base_url=zenodo.url, show_progress=False)
    assert str(tmp_path / RAW_NAME) in str(error.value) and "0" * 32 in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_server_ignoring_range_restarts_the_file(tmp_path, zenodo):
    data = payload(200_000, seed=1)
    zenodo.files["4536377"] = {RAW_NAME: data}
    zenodo.honour_range = False
    (tmp_path / f"{RAW_NAME}.part").write_bytes(data[:1000])
    download_task("lhco_raw", tmp_path, base_url=zenodo.url, show_progress=False)
    assert zenodo.file_requests()[0][1] == "bytes=1000-" and (tmp_path / RAW_NAME).read_bytes() == data


def test_record_without_the_file_fails_clearly(tmp_path, zenodo):
    zenodo.files["4536377"] = {"something_else.h5": b"x"}
    with pytest.raises(QhepError, match=f"record 4536377 has no file '{RAW_NAME}'"):
        download_task("lhco_raw", tmp_path, base_url=zenodo.url, show_progress=False)


def test_cli_download_uses_the_configured_zenodo(tmp_path, zenodo, monkeypatch, cli):
    features, extra = payload(3000, 2), payload(2000, 3)
    zenodo.files["4536377"] = {"events_anomalydetection_v2.features.h5": features, RAW_NAME: payload(10)}
    zenodo.files["5759087"] = {"events_anomalydetection_qcd_extra_inneronly_features.h5": extra}
    monkeypatch.setenv("QHEP_ZENODO_URL", zenodo.url)
    code, out, _ = cli("data", "download", "lhco", "--dest", tmp_path / "data")
    assert code == 0 and out.count("downloaded") == 2 and "md5 verified" in out
    assert (tmp_path / "data" / "events_anomalydetection_v2.features.h5").read_bytes() == features
    assert {p for p, _ in zenodo.file_requests()} == {
        "/api/records/4536377/files/events_anomalydetection_v2.features.h5/content",
        "/api/records/5759087/files/events_anomalydetection_qcd_extra_inneronly_features.h5/content"}
    code, out, _ = cli("data", "download", "lhco", "--dest", tmp_path / "data")
    assert code == 0 and out.count("already present") == 2


def test_cli_download_errors_are_one_line(tmp_path, zenodo, monkeypatch, cli):
    code, _, err = cli("data", "download", "nosuchtask")
    assert code == 2 and err.count("\n") == 1 and "unknown task 'nosuchtask'" in err
    monkeypatch.setenv("QHEP_ZENODO_URL", zenodo.url)  # serves no records: 404
    code, _, err = cli("data", "download", "top", "--dest", tmp_path)
    assert code == 2 and err.count("\n") == 1 and "cannot read Zenodo record 2603256 metadata" in err

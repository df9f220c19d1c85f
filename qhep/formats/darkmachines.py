"""Dark Machines unsupervised challenge event files (Zenodo records 3961917 and 4443151).

One event per line, `;`-separated, every field (also the last object) closed by `;`:

    event ID;process ID;event weight;MET;METphi;obj1,E1,pt1,eta1,phi1;obj2,...;

E, pt and MET in MeV (converted to GeV here), object codes j b e- e+ m- m+ g. Files may be gzip- or
bzip2-compressed (recognised from the magic bytes, not the name); lines may end in LF, CRLF or CR (old Mac), and
a UTF-8 byte-order mark may open the file. Large files are read in blocks of events, so memory stays bounded
whatever the file size; a folder of such files is read whole (`data_files`). The embedded sample is written in
this same syntax (`write_events`), so one reader serves the published files and qhep's own.
"""
from __future__ import annotations

import gzip
import io
import itertools
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qhep.errors import DataError
from qhep.formats.compression import open_decompressed
from qhep.formats.files import check_file

OBJECT_CODES = ("j", "b", "e-", "e+", "m-", "m+", "g")
TYPE_OF = {code: i + 1 for i, code in enumerate(OBJECT_CODES)}  # 0 marks padding in the object view
# The challenge's own npz converter (bostdiek/DarkMachinesAutoEncoder) maps `mu` to `m`: accept that spelling.
TYPE_OF.update({"mu-": TYPE_OF["m-"], "mu+": TYPE_OF["m+"]})
JET, BJET, ELECTRON, POSITRON, MUON, ANTIMUON, PHOTON = range(1, 8)
OBJECT_FIELDS = ("type", "e", "pt", "eta", "phi")
MEV_PER_GEV = 1000.0  # division by it is exact for whole MeV values at cut boundaries (200000 -> 200.0)
DATA_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2")  # of the files in a data folder, compared in lower case


@dataclass
class Events:
    """A block of events; objects are stored flat, event i owning objects offsets[i]:offsets[i + 1]."""

    event_id: np.ndarray  # int64
    process: np.ndarray  # str
    weight: np.ndarray  # float64, exactly as in the file
    met: np.ndarray  # GeV
    met_phi: np.ndarray
    offsets: np.ndarray  # int64, length n_events + 1
    obj_type: np.ndarray  # int8, index into OBJECT_CODES + 1
    obj_e: np.ndarray  # GeV
    obj_pt: np.ndarray  # GeV
    obj_eta: np.ndarray
    obj_phi: np.ndarray

    def __len__(self) -> int:
        return len(self.event_id)

    @property
    def n_objects(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def owner(self) -> np.ndarray:
        """Index of the event each object belongs to."""
        return np.repeat(np.arange(len(self)), self.n_objects)

    def select(self, keep: np.ndarray) -> Events:
        keep = np.asarray(keep, dtype=bool)
        objects = np.repeat(keep, self.n_objects)
        offsets = np.concatenate([[0], np.cumsum(self.n_objects[keep])]).astype(np.int64)
        return Events(self.event_id[keep], self.process[keep], self.weight[keep], self.met[keep],
                      self.met_phi[keep], offsets, *(a[objects] for a in self._object_arrays()))

    def padded(self, max_objects: int) -> tuple[np.ndarray, np.ndarray]:
        """(N, max_objects, 5) type, E, pt, eta, phi, objects ordered by decreasing pT and zero-padded;
        and per event the number of objects beyond max_objects that did not fit (their count is reported)."""
        owner = self.owner
        order = np.lexsort((-self.obj_pt, owner))  # by event, then by decreasing pT
        rank = np.arange(len(order)) - np.repeat(self.offsets[:-1], self.n_objects)
        fits = rank < max_objects
        out = np.zeros((len(self), max_objects, len(OBJECT_FIELDS)))
        for k, values in enumerate(self._object_arrays()):
            out[owner[fits], rank[fits], k] = values[order][fits]
        return out, np.maximum(self.n_objects - max_objects, 0)

    def _object_arrays(self) -> tuple[np.ndarray, ...]:
        return self.obj_type, self.obj_e, self.obj_pt, self.obj_eta, self.obj_phi

    @staticmethod
    def concatenate(blocks: list[Events]) -> Events:
        if not blocks:
            return empty_events()
        starts = np.cumsum([0] + [len(b.obj_type) for b in blocks[:-1]])
        offsets = np.concatenate([[0]] + [b.offsets[1:] + s for b, s in zip(blocks, starts)]).astype(np.int64)
        return Events(*(np.concatenate([getattr(b, name) for b in blocks]) for name in
                        ("event_id", "process", "weight", "met", "met_phi")), offsets,
                      *(np.concatenate([getattr(b, name) for b in blocks]) for name in
                        ("obj_type", "obj_e", "obj_pt", "obj_eta", "obj_phi")))


def empty_events() -> Events:
    f = np.zeros(0)
    return Events(np.zeros(0, np.int64), np.zeros(0, dtype=str), f, f, f, np.zeros(1, np.int64),
                  np.zeros(0, np.int8), f, f, f, f)


def data_files(folder: str | Path) -> list[Path]:
    """Every data file of a folder, sorted by name: each must be a readable regular file named *.csv, *.csv.gz
    or *.csv.bz2 (any case); anything else is refused rather than left out unseen. Hidden entries (.DS_Store,
    editors' swap files) are no data and are passed over."""
    folder = Path(folder)
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except OSError as exc:
        raise DataError(folder, f"cannot list this folder ({exc.strerror or type(exc).__name__})") from None
    for entry in entries:
        if entry.is_dir():
            raise DataError(entry, "a folder inside the data folder: give the folder that holds the files "
                                   "(subfolders are not read)")
        if not entry.name.lower().endswith(DATA_SUFFIXES):
            raise DataError(entry, "not a Dark Machines data file: a data folder may hold only .csv, .csv.gz and "
                                   ".csv.bz2 files (all of them are read)")
        check_file(entry)
    if not entries:
        raise DataError(folder, "no .csv, .csv.gz or .csv.bz2 files in this folder")
    return entries


def open_text(path: str | Path):
    """The file as text, decompressed if it starts with the gzip or bzip2 magic bytes; LF, CRLF and CR all end
    a line (universal newlines), and a leading UTF-8 byte-order mark is dropped."""
    stream, _ = open_decompressed(check_file(path))
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline=None)


def iter_events(path: str | Path, block_size: int = 100_000) -> Iterator[Events]:
    """Events of one file in blocks of at most block_size; a malformed line stops with a DataError naming it."""
    block = _Block()
    blank_line = None
    try:
        with open_text(path) as text:
            for number, line in enumerate(text, start=1):
                line = line.strip()
                if not line:
                    blank_line = blank_line or number
                    continue
                if blank_line is not None:
                    raise DataError(path, f"line {blank_line}: empty line before more events")
                try:
                    block.add(line, number)
                except ValueError as exc:
                    raise DataError(path, f"line {number}: {exc}") from None
                if len(block) == block_size:
                    yield _checked(block, path)
                    block = _Block()
    except (OSError, EOFError, UnicodeDecodeError) as exc:  # truncated gzip or bzip2, binary file, unreadable
        raise DataError(path, f"not a readable Dark Machines text file ({type(exc).__name__}: {exc})") from None
    if len(block):
        yield _checked(block, path)


def read_events(path: str | Path, max_events: int | None = None) -> Events:
    """All events of a file (or the first max_events); for big files prefer iterating with iter_events."""
    blocks, n = [], 0
    for events in iter_events(path):
        if max_events is not None and n + len(events) >= max_events:
            blocks.append(events.select(np.arange(len(events)) < max_events - n))
            break
        blocks.append(events)
        n += len(events)
    return Events.concatenate(blocks)


def parse_lines(lines: Iterable[tuple[int, str]], path: str | Path) -> Events:
    """Events from (line number, line) pairs taken from `path`, e.g. a sample of its lines; a malformed line
    fails with a DataError naming it."""
    block = _Block()
    for number, line in lines:
        try:
            block.add(line.strip(), number)
        except ValueError as exc:
            raise DataError(path, f"line {number}: {exc}") from None
    return _checked(block, path) if len(block) else empty_events()


def _checked(block: _Block, path: str | Path) -> Events:
    """The block's events, or a DataError for the first line with a non-finite or negative value."""
    events = block.events()
    values = (events.weight, events.met, events.met_phi, events.obj_e, events.obj_pt, events.obj_eta, events.obj_phi)
    bad_objects = ~np.isfinite(np.column_stack(values[3:])).all(axis=1) | (events.obj_e < 0) | (events.obj_pt < 0)
    bad = ~np.isfinite(np.column_stack(values[:3])).all(axis=1) | (events.met < 0)
    bad[events.owner[bad_objects]] = True
    if bad.any():
        number = block.numbers[int(np.argmax(bad))]
        with open_text(path) as text:
            line = next(itertools.islice(text, number - 1, None)).strip()
        try:
            check_line(line)
        except ValueError as exc:
            raise DataError(path, f"line {number}: {exc}") from None
    return events


class _Block:
    """Lines of one block, parsed into Python lists until the block is turned into arrays.

    The common case takes a fast path (plain conversions); any line it cannot parse goes through check_line,
    which says precisely what is wrong. Non-finite and negative values are found per block, vectorised.
    """

    def __init__(self):
        self.header: list[tuple] = []
        self.counts: list[int] = []
        self.objects: list[tuple] = []
        self.numbers: list[int] = []  # line number of each event

    def __len__(self) -> int:
        return len(self.header)

    def add(self, line: str, number: int) -> None:
        fields = line.split(";")
        if not fields[-1].strip():
            fields.pop()  # the closing `;` every line ends with
        try:
            process = fields[1].strip()
            if len(fields) < 5 or not process or not fields[0].strip().lstrip("-").isdigit():
                raise ValueError
            header = (int(fields[0]), process, float(fields[2]), float(fields[3]), float(fields[4]))
            objects = [(TYPE_OF[code.strip()], float(e), float(pt), float(eta), float(phi))
                       for code, e, pt, eta, phi in (text.split(",") for text in fields[5:])]
        except (ValueError, KeyError, IndexError):
            check_line(line)  # raises ValueError saying what is wrong
            raise ValueError("malformed line") from None
        self.header.append(header)
        self.objects += objects
        self.counts.append(len(objects))
        self.numbers.append(number)

    def events(self) -> Events:
        event_id, process, weight, met, met_phi = zip(*self.header)
        objects = np.array(self.objects, dtype=np.float64).reshape(-1, 5)
        return Events(
            np.array(event_id, dtype=np.int64), np.array(process, dtype=str), np.array(weight, dtype=np.float64),
            np.array(met) / MEV_PER_GEV, np.array(met_phi, dtype=np.float64),
            np.concatenate([[0], np.cumsum(self.counts)]).astype(np.int64),
            objects[:, 0].astype(np.int8), objects[:, 1] / MEV_PER_GEV, objects[:, 2] / MEV_PER_GEV,
            objects[:, 3].copy(), objects[:, 4].copy(),
        )


def check_line(line: str) -> None:
    """Raise ValueError saying what is wrong with a line; silent for a valid one."""
    fields = line.split(";")
    if not fields[-1].strip():
        fields.pop()
    if len(fields) < 5:
        raise ValueError(f"{len(fields)} `;`-separated field(s), expected at least 5 "
                         "(event ID;process ID;event weight;MET;METphi)")
    event_id = fields[0].strip()
    if not event_id.lstrip("-").isdigit():
        raise ValueError(f"event ID {event_id!r} is not an integer")
    if not fields[1].strip():
        raise ValueError("empty process ID")
    _number(fields[2], "event weight")
    if _number(fields[3], "MET") < 0:
        raise ValueError(f"negative MET {fields[3].strip()}")
    _number(fields[4], "METphi")
    for k, text in enumerate(fields[5:], start=1):
        parts = text.split(",")
        if len(parts) != 5:
            raise ValueError(f"object {k} {text.strip()!r} has {len(parts)} comma-separated value(s), "
                             "expected 5 (type,E,pt,eta,phi)")
        code = parts[0].strip()
        if code not in TYPE_OF:
            raise ValueError(f"object {k} has unknown type {code!r}; known: {' '.join(OBJECT_CODES)}")
        e, pt, _, _ = (_number(v, f"object {k} {name}") for v, name in zip(parts[1:], ("E", "pt", "eta", "phi")))
        if e < 0 or pt < 0:
            raise ValueError(f"object {k} has negative {'E' if e < 0 else 'pt'}")


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what} is {text.strip()} (not finite)")
    return value


def format_line(event_id: int, process: str, weight: float, met_gev: float, met_phi: float,
                objects: Iterable[tuple[int, float, float, float, float]]) -> str:
    """One event in the published syntax: MeV, six significant digits as the challenge's C++ writer, closing `;`."""
    fields = [str(int(event_id)), process, f"{weight:g}", f"{met_gev * MEV_PER_GEV:g}", f"{met_phi:g}"]
    fields += [f"{OBJECT_CODES[int(t) - 1]},{e * MEV_PER_GEV:g},{pt * MEV_PER_GEV:g},{eta:g},{phi:g}"
               for t, e, pt, eta, phi in objects]
    return ";".join(fields) + ";"


def write_events(lines: Iterable[str], path: str | Path) -> None:
    """Lines to a gzip file whose bytes depend on the content only (no name or time in the gzip header)."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
        for line in lines:
            gz.write(line.encode() + b"\n")

"""Which published layout a file holds, judged from its content, and a bounded summary of it.

`FORMATS` is the registry: one `Format` per layout, with a recogniser (a cheap test on a `Probe`: magic bytes,
pandas keys and column names, first text lines) and a describer ("module:function", imported only when used, so
probing a CSV never imports FastJet). A describer takes (path, sample_values) and returns a `Summary`; it counts
events exactly (from HDF5 metadata; text files in one fast pass) and parses at most about `sample_values` stored
values for the statistics.
The first recogniser that accepts a file wins, so more specific layouts come first.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from qhep.errors import DataError
from qhep.formats.compression import NAMES as COMPRESSION_NAMES
from qhep.formats.compression import UTF8_BOM, compression_of, open_decompressed
from qhep.formats.files import check_file
from qhep.formats.hdf import (
    has_hdf5_signature,
    non_negative,
    pandas_store,
    pandas_table,
    read_rows,
    table_columns,
)
from qhep.formats.summary import (
    LHCO_RAW_TITLE,
    SAMPLE_VALUES,
    Accumulator,
    FeatureGroup,
    Summary,
    dijet_mass,
    finite_values,
    label_counts,
    sample_note,
    sample_ranges,
)

HEAD_BYTES = 1 << 16
TEXT_LINES = 20


# --- content probe --------------------------------------------------------------------------------------------
class Probe:
    """Cheap facts about a file's content, each read once and only when a recogniser asks; with `key`, the
    pandas tables are that one table of the file."""

    def __init__(self, path: str | Path, key: str | None = None):
        self.path = check_file(path)
        self.key = key

    @cached_property
    def head(self) -> bytes:
        with open(self.path, "rb") as handle:
            return handle.read(HEAD_BYTES)

    @cached_property
    def kind(self) -> str:
        """hdf5, gzip, bz2, tar, text or binary."""
        if has_hdf5_signature(self.head):
            return "hdf5"
        compression = compression_of(self.head)
        if compression is not None:
            return compression
        if self.head[257:262] == b"ustar":
            return "tar"
        return "text" if _as_text(self.head) is not None else "binary"

    @cached_property
    def text_lines(self) -> list[str]:
        """The first lines of a text file (decompressed if gzip or bzip2); [] for binary content."""
        data = self.head
        if self.kind in ("gzip", "bz2"):
            try:
                stream, _ = open_decompressed(self.path)
                with stream:
                    data = stream.read(HEAD_BYTES)
            except (OSError, EOFError):
                return []
        elif self.kind != "text":
            return []
        text = _as_text(data.removeprefix(UTF8_BOM))  # a byte-order mark is no part of the first line
        if text is None:
            return []
        lines = text.splitlines()  # LF, CRLF and old Mac CR alike
        if len(data) == HEAD_BYTES and lines:
            lines = lines[:-1]  # the last line may be cut at the read boundary
        return lines[:TEXT_LINES]

    @cached_property
    def pandas_tables(self) -> dict[str, list[str]]:
        """pandas key -> column names (as strings) of every DataFrame in a pandas HDF5 file; {} otherwise."""
        if self.kind != "hdf5":
            return {}
        with pandas_store(self.path) as store:
            tables = table_columns(store)
        return tables if self.key is None else {k: v for k, v in tables.items() if k == self.key}

    def table_with(self, columns: Collection[str]) -> str | None:
        """The first pandas key whose columns include all of `columns`."""
        need = set(columns)
        return next((key for key, names in self.pandas_tables.items() if need <= set(names)), None)

    def description(self) -> str:
        """What the file looks like, for the 'not recognised' message."""
        if self.kind == "hdf5":
            if not self.pandas_tables:
                return "HDF5 without pandas tables"
            parts = []
            for key, names in self.pandas_tables.items():
                shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
                parts.append(f"{key!r} with {len(names)} columns ({shown})")
            return "pandas HDF5 with table(s) " + "; ".join(parts)
        if self.kind == "tar":
            return "a tar archive: extract it and pass the files inside"
        compressed = f"{COMPRESSION_NAMES[self.kind]}-compressed " if self.kind in ("gzip", "bz2") else ""
        if self.text_lines:
            return f"{compressed}text starting {self.text_lines[0][:60]!r}"
        return f"{compressed}binary data"


def _as_text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the read boundary is still text.
        return data[: exc.start].decode("utf-8") if exc.start >= len(data) - 3 else None


# --- LHC Olympics features files -------------------------------------------------------------------------------
def _lhco_columns() -> tuple[list[str], list[str]]:
    from qhep.formats.lhco import COLUMNS

    return COLUMNS[:-1], COLUMNS


def _check_lhco_physics(values: np.ndarray, columns: list[str], path: str | Path, first_row: int) -> None:
    from qhep.formats.lhco import NON_NEGATIVE

    for quantity, names in NON_NEGATIVE.items():
        index = [columns.index(n) for n in names]
        non_negative(values[:, index], names, path, quantity, first_row)


def is_lhco_features(probe: Probe) -> bool:
    return probe.table_with(_lhco_columns()[1]) is not None


def is_lhco_qcd_extra(probe: Probe) -> bool:
    # The extra QCD file carries the 14 jet columns; its readers (CATHODE, R-Anode) never take a label from it,
    # so a table with the jet columns and no label column is read as background only.
    key = probe.table_with(_lhco_columns()[0])
    return key is not None and "label" not in probe.pandas_tables[key]


def describe_lhco_features(path: str | Path, sample_values: int = SAMPLE_VALUES, labelled: bool = True,
                           key: str | None = None) -> Summary:
    jet_columns, all_columns = _lhco_columns()
    columns = all_columns if labelled else jet_columns
    with pandas_table(path, columns, key) as (store, key, n_events):
        ranges = sample_ranges(n_events, max(sample_values // len(columns), 1))
        stats = Accumulator([*jet_columns, "mjj"])
        labels = {"background": 0, "signal": 0}
        for start, stop in ranges:
            frame = read_rows(store, key, start, stop, path)
            values = finite_values(frame, columns, path, start)
            _check_lhco_physics(values, columns, path, start)
            stats.add_rows(np.column_stack([values[:, :14], dijet_mass(values[:, :14])]))
            if labelled:
                for name, n in label_counts(values[:, 14], path, start, "label").items():
                    labels[name] += n
            else:
                labels["background"] += len(values)
    note = sample_note(ranges, n_events)
    if labelled:
        labels_note = f"from column label, {note}"
    else:
        labels_note = f"no label column: all background (extra QCD sample), {note}"
    return Summary(str(path), LHCO_QCD_EXTRA.title if not labelled else LHCO_FEATURES.title, n_events,
                   "exact, from HDF5 metadata", labels, labels_note,
                   [FeatureGroup(f"stored jet features [GeV] and mjj, {note}", stats.stats())])


def describe_lhco_qcd_extra(path: str | Path, sample_values: int = SAMPLE_VALUES, key: str | None = None) -> Summary:
    return describe_lhco_features(path, sample_values, labelled=False, key=key)


# --- the registry -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Format:
    name: str
    title: str
    recognise: Callable[[Probe], bool]
    describer: str  # "module:function" with signature (path, sample_values[, key=]) -> Summary

    def describe(self, path: str | Path, sample_values: int = SAMPLE_VALUES, key: str | None = None) -> Summary:
        """Summary of the file, or of its pandas table `key` (HDF5 layouts' describers take a key)."""
        module, _, function = self.describer.partition(":")
        describer = getattr(importlib.import_module(module), function)
        return describer(path, sample_values) if key is None else describer(path, sample_values, key=key)


def _is_lhco_raw(probe: Probe) -> bool:
    from qhep.formats.lhco_raw import COLUMNS

    return probe.table_with(COLUMNS) is not None


LHCO_RAW = Format("lhco-raw", LHCO_RAW_TITLE, _is_lhco_raw,
                  "qhep.formats.lhco_raw:describe")
LHCO_FEATURES = Format("lhco-features", "LHC Olympics R&D jet features (events_anomalydetection_v2.features.h5 "
                       "layout)", is_lhco_features, "qhep.formats.detect:describe_lhco_features")
LHCO_QCD_EXTRA = Format("lhco-qcd-extra", "LHC Olympics extra QCD jet features "
                        "(events_anomalydetection_qcd_extra_inneronly_features.h5 layout)", is_lhco_qcd_extra,
                        "qhep.formats.detect:describe_lhco_qcd_extra")



def _is_jet_constituents(probe: Probe) -> bool:
    from qhep.formats.constituents import FIELDS, LABEL

    # The first constituent's four columns and the label: N, truth columns and key vary between the files.
    return probe.table_with([*(f"{f}_0" for f in FIELDS), LABEL]) is not None


def _is_darkmachines(probe: Probe) -> bool:
    from qhep.formats.darkmachines import check_line

    # The first event line decides: a valid one is specific enough (`;` fields, integer ID, numeric MET, object
    # codes), and a later malformed line is then reported by the reader with its line number.
    first = next((line.strip() for line in probe.text_lines if line.strip()), None)
    if first is None:
        return False
    try:
        check_line(first)
    except ValueError:
        return False
    return True


def _is_qhep_jets(probe: Probe) -> bool:
    from qhep.formats.jet_sample import is_jet_sample

    return probe.kind == "hdf5" and is_jet_sample(probe.path)


QHEP_JETS = Format("qhep-jets", "qhep jet sample (qhep.jets/1 layout: leading constituents as float16 pT fraction, "
                   "d-eta, d-phi and mass about a float32 jet axis; qhep's embedded top and svj samples)",
                   _is_qhep_jets, "qhep.data.constituents_info:describe_jet_sample")
JET_CONSTITUENTS = Format("jet-constituents", "jet constituents (top tagging train/val/test.h5, semi-visible jets "
                          "qcd_constit.h5 / aachen_constit.h5 layout)", _is_jet_constituents,
                          "qhep.data.constituents_info:describe")
DARKMACHINES_CSV = Format("darkmachines-csv", "Dark Machines events (`;`-separated text, plain, gzip or bzip2)",
                          _is_darkmachines, "qhep.data.darkmachines_info:describe")

FORMATS: list[Format] = [LHCO_RAW, LHCO_FEATURES, LHCO_QCD_EXTRA, QHEP_JETS, JET_CONSTITUENTS, DARKMACHINES_CSV]


def detect(path: str | Path) -> Format:
    """The registered format of a file, from its content; DataError saying what the file looks like otherwise."""
    probe = Probe(path)
    found = _recognise(probe)
    if found is None:
        raise DataError(path, f"not a recognised dataset layout: {probe.description()}; qhep reads these layouts: "
                              f"{', '.join(f.name for f in FORMATS)}")
    return found


def detect_tables(path: str | Path) -> list[tuple[str, Format | None]]:
    """(key, format or None when unrecognised) of every pandas table of an HDF5 file, in the file's order;
    [] for a file that is not pandas HDF5."""
    probe = Probe(path)
    return [(key, _recognise(Probe(probe.path, key))) for key in probe.pandas_tables]


def _recognise(probe: Probe) -> Format | None:
    return next((candidate for candidate in FORMATS if candidate.recognise(probe)), None)

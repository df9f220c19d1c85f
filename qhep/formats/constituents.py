"""Jet-constituent tables: the top tagging landscape layout (Zenodo 2603256), also used by the SVJ files.

pandas table format, key `table`, one row per jet: `E_i PX_i PY_i PZ_i` for the leading N constituents
(pT-sorted, zero-padded; E = 0 marks padding), optional truth columns `truthE truthPX truthPY truthPZ ttv`, and the
label `is_signal_new` (1 = signal). N is read from the column names, and every column is selected by name, since
loaders disagree on the column order inside the stored blocks. Rows are read in ranges (`start`/`stop`), so a
subset of a 1.2M-jet file never needs the whole file in memory.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from qhep.errors import DataError
from qhep.formats.files import check_file
from qhep.formats.hdf import (
    check_unique_columns,
    count_rows,
    error_reason,
    finite_array,
    non_negative,
    untimed_hdf5_nodes,
)

KEY = "table"
LABEL = "is_signal_new"
FIELDS = ("E", "PX", "PY", "PZ")
TRUTH = ["truthE", "truthPX", "truthPY", "truthPZ"]
SPLIT = "ttv"  # 0 = train, 1 = test, 2 = validation in the published files
_CONSTITUENT = re.compile(r"^(E|PX|PY|PZ)_(\d+)$")


@dataclass
class JetBatch:
    """Jets read from rows [start, start + len) of a constituent table."""

    constituents: np.ndarray  # (n_jets, n_const, 4): px, py, pz, E [GeV], as qhep.physics.jets expects
    mask: np.ndarray  # (n_jets, n_const) bool: True for real constituents (E > 0)
    labels: np.ndarray  # (n_jets,) int: 1 = signal
    truth: np.ndarray | None  # (n_jets, 4) px, py, pz, E of the truth object (top tagging), None if absent
    start: int

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class TableInfo:
    path: Path
    key: str
    n_rows: int
    n_constituents: int
    has_truth: bool


def constituent_columns(n_constituents: int) -> list[str]:
    """Column names in the published order: E_0 PX_0 PY_0 PZ_0 E_1 ..."""
    return [f"{f}_{i}" for i in range(n_constituents) for f in FIELDS]


def inspect_table(path: str | Path, key: str | None = None) -> TableInfo:
    """Check the file holds a constituent table (under `key`, else see _table_key) without reading its rows, and
    describe it. A table without rows is described (n_rows 0); the readers refuse it."""
    path = Path(path)
    with _open(path) as store:
        key = _table_key(store, path) if key is None else key
        try:
            n_rows = count_rows(store, key)
        except Exception as exc:  # a damaged table header
            raise DataError(path, f"not a readable pandas table under key '{key}' ({error_reason(exc)})") from None
        columns = [str(c) for c in _read(store, key, path, 0, 0).columns]
    check_unique_columns(columns, path, key)
    n_constituents = _count_constituents(columns, path)
    if LABEL not in columns:
        raise DataError(path, f"missing column {LABEL}")
    return TableInfo(path, key, n_rows, n_constituents, all(c in columns for c in TRUTH))


def _with_jets(info: TableInfo) -> TableInfo:
    if info.n_rows == 0:
        raise DataError(info.path, "no jets (the table has no rows)")
    return info


def read_jets(path: str | Path, start: int = 0, stop: int | None = None, key: str | None = None) -> JetBatch:
    """Jets in rows [start, stop) (stop None: to the end), validated; from either layout (see iter_jets)."""
    from qhep.formats.jet_sample import is_jet_sample, read_block

    if is_jet_sample(path):
        return JetBatch(*read_block(path, start, stop))
    info = _with_jets(inspect_table(path, key))
    stop = info.n_rows if stop is None else min(stop, info.n_rows)
    with _open(info.path) as store:
        frame = _read(store, info.key, info.path, start, stop)
    return _to_batch(frame, info, start)


def iter_jets(path: str | Path, chunk_size: int = 20_000, max_jets: int | None = None) -> Iterator[JetBatch]:
    """The first `max_jets` jets (None: all) in batches of `chunk_size` rows, one batch in memory at a time; from
    the published layout or from qhep's compact jet-sample layout (qhep.formats.jet_sample), alike."""
    from qhep.formats.jet_sample import is_jet_sample, iter_jet_sample

    if is_jet_sample(path):
        for constituents, mask, labels, truth, start in iter_jet_sample(path, chunk_size, max_jets):
            yield JetBatch(constituents, mask, labels, truth, start)
        return
    info = _with_jets(inspect_table(path))
    end = info.n_rows if max_jets is None else min(max_jets, info.n_rows)
    with _open(info.path) as store:
        for start in range(0, end, chunk_size):
            stop = min(start + chunk_size, end)
            yield _to_batch(_read(store, info.key, info.path, start, stop), info, start)


def write_jets(path: str | Path, constituents: np.ndarray, labels: np.ndarray, truth: np.ndarray | None = None,
               extra: dict[str, pd.DataFrame] | None = None) -> None:
    """Write jets in the published layout: pandas table format, key `table`, float32 four-momenta, int64 labels.

    `constituents` is (n_jets, N, 4) px, py, pz, E, already pT-sorted and zero-padded. With `truth` (n_jets, 4)
    px, py, pz, E the truth columns and ttv = 0 (training split) are written too. `extra` frames go under their
    own keys (per-jet information the published layout has no column for). zlib keeps the padding almost free.
    """
    constituents = np.asarray(constituents, dtype=np.float64)
    n_jets, n_const, _ = constituents.shape
    # Published column order: E before the three-momentum.
    values = constituents[:, :, [3, 0, 1, 2]].reshape(n_jets, 4 * n_const)
    frame = pd.DataFrame(values.astype(np.float32), columns=constituent_columns(n_const))
    if truth is not None:
        truth = np.asarray(truth, dtype=np.float64)[:, [3, 0, 1, 2]]
        frame[TRUTH] = truth.astype(np.float32)
        frame[SPLIT] = np.zeros(n_jets, dtype=np.int64)
    frame[LABEL] = np.asarray(labels, dtype=np.int64)
    # index=False: no PyTables query index, whose nodes carry creation times and would make the bytes vary.
    options = {"format": "table", "complevel": 9, "complib": "zlib", "index": False}
    with untimed_hdf5_nodes():
        frame.to_hdf(path, key=KEY, mode="w", **options)
        for key, table in (extra or {}).items():
            table.to_hdf(path, key=key, mode="a", **options)


def _open(path: Path) -> pd.HDFStore:
    check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.HDFStore(path, mode="r")
    except Exception as exc:  # PyTables raises many types for truncated or foreign files
        raise DataError(path, f"not a readable HDF5 file ({error_reason(exc)})") from None


def _table_key(store: pd.HDFStore, path: Path) -> str:
    try:
        keys = [k.lstrip("/") for k in store.keys()]
    except Exception as exc:
        raise DataError(path, f"not a readable pandas HDF5 file ({error_reason(exc)})") from None
    if KEY in keys:
        return KEY
    if len(keys) == 1:  # a single table under another key is still unambiguous
        return keys[0]
    if not keys:
        raise DataError(path, "no pandas table in this HDF5 file")
    raise DataError(path, f"no table under key '{KEY}' (found: {', '.join(keys)})")


def _read(store: pd.HDFStore, key: str, path: Path, start: int, stop: int) -> pd.DataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return store.select(key, start=start, stop=stop)
    except Exception as exc:  # truncated data blocks fail only when read
        raise DataError(path, f"cannot read rows {start}-{stop} ({error_reason(exc)})") from None


def _count_constituents(columns: list[str], path: Path) -> int:
    """N from the E_i/PX_i/PY_i/PZ_i names; every i in 0..N-1 must have all four."""
    indices = {int(m.group(2)) for c in columns if (m := _CONSTITUENT.match(c))}
    if not indices:
        shown = ", ".join(columns[:8]) + (f" and {len(columns) - 8} more" if len(columns) > 8 else "")
        raise DataError(path, f"missing constituent columns E_i PX_i PY_i PZ_i (none found; the table has "
                              f"{shown or 'no columns'})")
    n = max(indices) + 1
    present = set(columns)
    missing = [c for c in constituent_columns(n) if c not in present]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise DataError(path, f"missing column(s) {shown}")
    return n


def _to_batch(frame: pd.DataFrame, info: TableInfo, start: int) -> JetBatch:
    frame = frame.rename(columns=str)
    names = constituent_columns(info.n_constituents)
    values = finite_array(frame, names, info.path, start).reshape(len(frame), info.n_constituents, 4)
    energy = values[:, :, 0]
    non_negative(energy, names[::4], info.path, "energy", start)
    labels = finite_array(frame, [LABEL], info.path, start)[:, 0]
    bad = ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(info.path, f"column {LABEL} holds {labels[row]:g} at row {start + row}; expected 0 or 1 "
                                   f"({int(bad.sum())} such row(s))")
    truth = None
    if info.has_truth:
        truth = finite_array(frame, TRUTH, info.path, start)
        non_negative(truth[:, :1], TRUTH[:1], info.path, "energy", start)  # zeros for QCD jets, E > 0 for tops
        truth = truth[:, [1, 2, 3, 0]]
    return JetBatch(values[:, :, [1, 2, 3, 0]], energy > 0, labels.astype(np.int64), truth, start)

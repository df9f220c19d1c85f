"""pandas-written HDF5 (fixed and table formats), opened with errors that name the file."""
from __future__ import annotations

import inspect
import warnings
from collections import Counter
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import tables

from qhep.errors import DataError
from qhep.formats.files import check_file

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
HDF5_SIGNATURE_OFFSETS = (0, 512, 1024, 2048)  # the HDF5 superblock may follow a user block of 512 * 2^k bytes
SHOWN_COLUMNS = 8  # column names quoted in an error message, per table


def read_table(path: str | Path, columns: list[str], preferred: tuple[str, ...] = ("df", "table")) -> pd.DataFrame:
    """The named columns of the table holding them all (the first of `preferred` keys if several do), every
    row, NaN/inf refused; DataError naming the file and what is wrong otherwise."""
    path = check_file(path)
    with pandas_store(path) as store:
        key = find_table(store, columns, path, preferred=preferred)
        frame = read_rows(store, key, 0, count_rows(store, key), path)[columns]
    finite_array(frame, columns, path)
    return frame


def finite_array(frame: pd.DataFrame, columns: list[str], path: str | Path, first_row: int = 0) -> np.ndarray:
    """The named columns as float64; NaN/inf fail naming the count, the first column and its row in the file."""
    values = frame[columns].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(path, f"{int(bad.sum())} non-finite value(s), first in column {columns[col]} "
                              f"at row {first_row + row}")
    return values


def non_negative(values: np.ndarray, columns: list[str], path: str | Path, quantity: str,
                 first_row: int = 0) -> np.ndarray:
    """`values` (rows x columns), unless one is negative where physics forbids it (an energy, a mass, a pT):
    then a DataError naming the quantity, the first column and its row in the file."""
    bad = values < 0
    if bad.any():
        row, col = np.argwhere(bad)[0]
        count = int(bad.sum())
        more = f" ({count} negative value(s) in all)" if count > 1 else ""
        raise DataError(path, f"negative {quantity} in column {columns[col]} at row {first_row + row}{more}")
    return values


def has_hdf5_signature(head: bytes) -> bool:
    """Whether the first bytes of a file (at least 2056 of them, or the whole file) hold the HDF5 signature."""
    return any(head[o : o + 8] == HDF5_SIGNATURE for o in HDF5_SIGNATURE_OFFSETS)


@contextmanager
def pandas_store(path: str | Path) -> Iterator[pd.HDFStore]:
    """An open pandas HDFStore; unreadable files become DataError naming the file."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            store = pd.HDFStore(path, mode="r")
    except Exception as exc:  # PyTables/HDF5 raise many types for truncated or foreign files
        raise DataError(path, f"not a readable pandas HDF5 file ({error_reason(exc)})") from None
    try:
        yield store
    finally:
        store.close()


def table_columns(store: pd.HDFStore) -> dict[str, list[str]]:
    """pandas key -> column names (as strings) of every DataFrame in an open store, reading no rows."""
    tables = {}
    for key in store.keys():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                empty = store.select(key, start=0, stop=0)  # reads the axes only
        except Exception:  # a node pandas cannot read as a frame: not ours to judge here
            continue
        if isinstance(empty, pd.DataFrame):
            tables[key.lstrip("/")] = [str(c) for c in empty.columns]
    return tables


def find_table(store: pd.HDFStore, columns: Collection[str], path: str | Path, key: str | None = None,
               preferred: tuple[str, ...] = ()) -> str:
    """The key of the table holding all `columns`: `key` itself when given, else the first of `preferred`
    that does, else the first that does. A DataError names what was expected and what the file has."""
    found = table_columns(store)
    if not found:
        raise DataError(path, "no pandas table in this file")
    if key is not None:
        if key not in found:
            raise DataError(path, f"no pandas table under key '{key}' (found: {', '.join(found)})")
        candidates = {key: found[key]}
    else:
        candidates = found
    need = set(columns)
    holding = [k for k, names in candidates.items() if need <= set(names)]
    if not holding:
        if len(candidates) == 1:  # one table: what it lacks says it all
            (only, names), = candidates.items()
            missing = [c for c in columns if c not in set(names)]
            raise DataError(path, f"missing column(s) {_shown(missing)} (table '{only}' has {_shown(names)})")
        tables_found = "; ".join(f"'{k}' with {_shown(names)}" for k, names in candidates.items())
        raise DataError(path, f"no table holds the expected columns {_shown(list(columns))} "
                              f"(found table(s): {tables_found})")
    chosen = next((k for k in preferred if k in holding), holding[0])
    check_unique_columns(found[chosen], path, chosen)
    return chosen


def check_unique_columns(names: list[str], path: str | Path, key: str) -> None:
    """Refuse a table with a repeated column name: selecting it by name would give several columns."""
    name, n = Counter(names).most_common(1)[0] if names else (None, 0)
    if n > 1:
        raise DataError(path, f"column {name} appears {n} times in table '{key}'")


def _shown(names: list[str]) -> str:
    if not names:
        return "no columns"
    extra = len(names) - SHOWN_COLUMNS
    return ", ".join(names[:SHOWN_COLUMNS]) + (f" and {extra} more" if extra > 0 else "")


@contextmanager
def pandas_table(path: str | Path, columns: Collection[str],
                 key: str | None = None) -> Iterator[tuple[pd.HDFStore, str, int]]:
    """(store, key, number of rows from metadata) of the table holding `columns` (see find_table)."""
    path = check_file(path)
    with open(path, "rb") as handle:
        if not has_hdf5_signature(handle.read(HDF5_SIGNATURE_OFFSETS[-1] + len(HDF5_SIGNATURE))):
            raise DataError(path, "not a pandas HDF5 file")
    with pandas_store(path) as store:
        key = find_table(store, columns, path, key)
        yield store, key, count_rows(store, key)


def count_rows(store: pd.HDFStore, key: str) -> int:
    """Rows of a pandas table from HDF5 metadata, without reading (or decompressing) any values."""
    storer = store.get_storer(key)
    if storer.is_table:
        return int(storer.nrows)
    # Fixed format: axis1 is the stored row index; its length is in the dataset header. pandas stores an empty
    # array as one dummy element and keeps the true shape in the node's `shape` attribute.
    node = storer.group.axis1
    shape = getattr(node._v_attrs, "shape", None)
    return int(shape[0] if shape is not None else node.shape[0])


def read_rows(store: pd.HDFStore, key: str, start: int, stop: int, path: str | Path) -> pd.DataFrame:
    """Rows [start, stop) of a pandas table, columns named as strings; read errors become DataError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            frame = store.select(key, start=start, stop=stop)
    except Exception as exc:  # e.g. a truncated file whose header is intact but data chunks are missing
        raise DataError(path, f"cannot read rows {start}..{stop - 1} ({error_reason(exc)})") from None
    frame.columns = [str(c) for c in frame.columns]
    return frame


def error_reason(exc: Exception) -> str:
    """The first line of an exception's message (its type when it has none): enough for a one-line error."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def untimed_hdf5_nodes() -> Iterator[None]:
    """Make PyTables (and so pandas.to_hdf) create nodes without HDF5 timestamps.

    HDF5 stamps each dataset with its creation time; without this, the same data never gives the same bytes,
    and a regenerated sample could not be checked bit for bit against the shipped one.
    """
    originals = {}
    for name in ("create_array", "create_carray", "create_earray", "create_table"):
        method = getattr(tables.File, name)
        if "track_times" in inspect.signature(method).parameters:
            originals[name] = method
            setattr(tables.File, name, _without_times(method))
    try:
        yield
    finally:
        for name, method in originals.items():
            setattr(tables.File, name, method)


def _without_times(method):
    def create(self, *args, **kwargs):
        return method(self, *args, **{**kwargs, "track_times": False})

    return create

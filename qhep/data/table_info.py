"""`qhep data info` for a pandas table of no layout qhep reads, found next to one it does (e.g. per-jet extras
under key `event` in the semi-visible jets files): its row count, its columns and their ranges."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qhep.formats.hdf import pandas_table, read_rows
from qhep.formats.summary import (
    SAMPLE_VALUES,
    Accumulator,
    FeatureGroup,
    Summary,
    sample_note,
    sample_ranges,
)

SHOWN_COLUMNS = 12


def describe(path: str | Path, key: str, sample_values: int = SAMPLE_VALUES) -> Summary:
    with pandas_table(path, [], key) as (store, key, n_rows):
        columns = list(read_rows(store, key, 0, 0, path).columns)
        ranges = sample_ranges(n_rows, max(sample_values // max(len(columns), 1), 1))
        numeric: list[str] | None = None
        stats = None
        for start, stop in ranges:
            frame = read_rows(store, key, start, stop, path)
            if numeric is None:
                numeric = [c for c in columns if np.issubdtype(frame[c].dtype, np.number)]
                stats = Accumulator(numeric)
            for k, name in enumerate(numeric):
                values = frame[name].to_numpy(dtype=np.float64)
                stats.add(k, values[np.isfinite(values)])
    shown = ", ".join(columns[:SHOWN_COLUMNS]) + (f" and {len(columns) - SHOWN_COLUMNS} more"
                                                  if len(columns) > SHOWN_COLUMNS else "")
    groups = [FeatureGroup(f"numeric columns (finite values), {sample_note(ranges, n_rows)}", stats.stats())] \
        if stats is not None and numeric else []
    return Summary(str(path), "pandas table of no layout qhep reads", n_rows, "rows, exact, from HDF5 metadata",
                   None, "none: not a layout qhep knows", groups,
                   details=[("table", f"key '{key}'"), ("columns", f"{len(columns)}: {shown or 'none'}")])

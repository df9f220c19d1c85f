"""`qhep data info PATH`: the recognised layout, event and label counts, and per-feature min / mean / max."""
from __future__ import annotations

import math
from pathlib import Path

from rich.console import Console
from rich.table import Table

from qhep.formats.detect import Format, detect, detect_tables
from qhep.formats.summary import SAMPLE_VALUES, Summary


def summarise(path: str | Path, sample_values: int = SAMPLE_VALUES) -> Summary:
    """Detect the file's layout from its content and let that layout's describer summarise it.

    An HDF5 file with several pandas tables gets a summary per table, each by its own layout (a table of no
    layout is still counted and its columns listed): the first table's summary holds the others'.
    """
    layout = detect(path)  # a file holding no table of a known layout fails here, saying what it holds
    tables = sorted(detect_tables(path), key=lambda table: table[1] is None)  # tables of a layout first
    if len(tables) <= 1:
        return layout.describe(path, sample_values)
    first, *others = (_describe_table(path, key, found, sample_values) for key, found in tables)
    first.further_tables = others
    return first


def _describe_table(path: str | Path, key: str, layout: Format | None, sample_values: int) -> Summary:
    if layout is None:
        from qhep.data.table_info import describe

        return describe(path, key, sample_values)
    summary = layout.describe(path, sample_values, key=key)
    if not any(what == "table" for what, _ in summary.details):
        summary.details.insert(0, ("table", f"key '{key}'"))
    return summary


def print_summary(summary: Summary, console: Console | None = None) -> None:
    console = console or Console()
    tables = [summary, *summary.further_tables]
    for number, one in enumerate(tables, start=1):
        _print_one(one, console, one.path if len(tables) == 1 else f"{one.path}: table {number} of {len(tables)}")


def _print_one(summary: Summary, console: Console, title: str) -> None:
    head = Table(title=title, show_header=False)
    head.add_column("what", style="bold")
    head.add_column("value")
    head.add_row("format", summary.format)
    head.add_row("events", f"{summary.events:,} ({summary.events_note})")
    if summary.labels is None:
        head.add_row("labels", summary.labels_note)
    else:
        counted = sum(summary.labels.values())
        for name in ("background", "signal"):
            n = summary.labels.get(name, 0)
            head.add_row(name, f"{n:,} ({n / counted:.2%})" if counted else "0")
        head.add_row("labels counted", summary.labels_note)
    for what, value in summary.details:
        head.add_row(what, value)
    console.print(head)
    for tally in summary.tallies:
        table = Table(title=tally.note)
        table.add_column(tally.category)
        table.add_column("events", justify="right")
        table.add_column("fraction", justify="right")
        total = sum(tally.counts.values())
        for name, n in tally.counts.items():
            table.add_row(name, f"{n:,}", f"{n / total:.2%}" if total else "-")
        console.print(table)
    for group in summary.groups:
        table = Table(title=group.note)
        table.add_column("feature")
        for column in ("min", "mean", "max"):
            table.add_column(column, justify="right")
        for s in group.stats:
            table.add_row(s.name, *(_number(v) for v in (s.minimum, s.mean, s.maximum)))
        console.print(table)


def _number(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"

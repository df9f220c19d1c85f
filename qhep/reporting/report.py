"""`qhep report`: every result record into results/LEADERBOARD.md (with its plots as PNG files beside it) and the
self-contained results/leaderboard.html."""
from __future__ import annotations

import datetime
from pathlib import Path

from qhep.errors import QhepError

MARKDOWN, HTML, PLOTS = "LEADERBOARD.md", "leaderboard.html", "leaderboard-plots"


def write_report(results: str | Path, out: str | Path, include_dirty: bool = False,
                 readme: str | Path | None = None) -> dict:
    """Writes the report (and the headline into `readme`'s marked block, where given); returns {"markdown",
    "html", "records", "rows", "superseded", "dirty", "readme"}."""
    from qhep.harness.records import load_records, superseded, tuning_candidate
    from qhep.reporting import curves, report_html, report_markdown
    from qhep.reporting.leaderboard import build, is_dirty

    if not Path(results).is_dir():
        raise QhepError(f"{results}: no such results folder")
    records = [r for r in load_records(results) if not tuning_candidate(r)]  # qhep tune's search: tuning.json
    kept = [r for r in records if not superseded(r)]
    if not kept:
        raise QhepError(f"no result records under {results}/ yet: run `qhep run task=lhco method=qae` first")
    report = build(kept, superseded=len(records) - len(kept), include_dirty=include_dirty)
    out = Path(out)
    (out / PLOTS).mkdir(parents=True, exist_ok=True)
    pngs: dict[str, list[tuple[str, bytes]]] = {}
    for name, task in report.tasks.items():
        if task.rows:
            pngs[name] = [(f"{name}: ROC (1/eps_B against eps_S) and SIC", curves.curves_figure(name, task.rows))]
    chosen = kept if include_dirty else [r for r in kept if not is_dirty(r)]
    sweeps = curves.sweep_figures(chosen)
    if sweeps:
        pngs["sweeps"] = [(f"sweep {sweep_id}", png) for sweep_id, png in sweeps]
    links: dict[str, list[tuple[str, str]]] = {}
    for key, items in pngs.items():
        for i, (caption, png) in enumerate(items):
            name = f"{key}-{i}.png" if key == "sweeps" else f"{key}-curves.png"
            (out / PLOTS / name).write_bytes(png)
            links.setdefault(key, []).append((caption, f"{PLOTS}/{name}"))
    generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    (out / MARKDOWN).write_text(report_markdown.render(report, links, generated), encoding="utf-8")
    (out / HTML).write_text(report_html.render(report, pngs, generated), encoding="utf-8")
    if readme is not None and not report_markdown.update_readme(readme, report):
        raise QhepError(f"{readme}: no block between {report_markdown.BEGIN} and {report_markdown.END} to write "
                        "the headline into")
    return {"markdown": out / MARKDOWN, "html": out / HTML, "records": report.records,
            "rows": sum(len(t.rows) for t in report.tasks.values()),
            "dirty_rows": sum(len(t.dirty) for t in report.tasks.values()),
            "superseded": report.superseded, "dirty": report.dirty, "readme": readme}

"""Runs that differ only in their seeds, aggregated: the mean of each figure, its seed-to-seed standard deviation,
and the mean of the runs' bootstrap standard deviations, so that a reader can tell how much of a spread is the
method's (initialisation, data split, shot noise: `backend.seed`) and how much the test set's statistics."""
from __future__ import annotations

import json

import numpy as np

SEED_KEYS = ("seed", "backend.seed")  # what varies between repetitions of one configuration
# Settings that change where and how a run is shown or checked, not its figures
NOT_COMPARED = ("results_dir", "progress", "plots", "bootstrap", "dry_run")


def configuration(record: dict) -> str:
    """The record's identity without its seeds: records with equal identities are repetitions of one run."""
    config = json.loads(json.dumps(record.get("config") or {}))
    for key in (*SEED_KEYS, *NOT_COMPARED):
        section, _, leaf = key.rpartition(".")
        (config.get(section) or {} if section else config).pop(leaf, None)
    if not (config.get("tuned") or {}).get("sweep"):  # not a tuned run: as records written before qhep tune
        config.pop("tuned", None)
    if not record.get("backend"):  # a classical run: the backend section is not part of what it ran
        config.pop("backend", None)
    identity = {"task": record["task"], "method": record["method"], "backend": record.get("backend"),
                "dataset": (record.get("dataset") or {}).get("sha256"), "config": config}
    return json.dumps(identity, sort_keys=True, default=str)


def tuning_of(record: dict) -> dict | None:
    """{"sweep", "budget"} of a run `qhep tune` chose the settings of (its config's `tuned`), else None."""
    tuned = (record.get("config") or {}).get("tuned") or {}
    return tuned if tuned.get("sweep") else None


def tuned_mark(record: dict) -> str:
    """` (tuned, budget 12)` for a tuned run's label, else empty."""
    tuned = tuning_of(record)
    if tuned is None:
        return ""
    return " (tuned" + (f", budget {tuned['budget']}" if tuned.get("budget") else "") + ")"


def seeds_of(record: dict) -> tuple:
    return record["seed"], ((record.get("config") or {}).get("backend") or {}).get("seed") if record.get("backend") \
        else None


def aggregate(records: list[dict], names: tuple[str, ...]) -> list[dict]:
    """Groups of repetitions, in the order they first appear: {"records", "seeds", "figures": {name: {"mean",
    "std" (over seeds; None for one), "bootstrap_std" (the runs' mean), "runs" (with a value)}}}."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(configuration(record), []).append(record)
    out = []
    for members in groups.values():
        figures = {}
        for name in names:
            values = [r["metrics"].get(name) for r in members]
            values = [v for v in values if v is not None]
            errors = [_bootstrap_std(r, name) for r in members]
            errors = [e for e in errors if e is not None]
            # rounding noise of equal values (a figure the seed does not change) is no spread
            spread = float(np.std(values, ddof=1)) if len(values) > 1 else None
            if spread is not None and spread <= 1e-9 * max(1.0, abs(float(np.mean(values)))):
                spread = 0.0
            figures[name] = {"mean": float(np.mean(values)) if values else None, "std": spread,
                             "bootstrap_std": float(np.mean(errors)) if errors else None, "runs": len(values)}
        out.append({"records": members, "seeds": sorted({seeds_of(r) for r in members}, key=str),
                    "figures": figures})
    return out


def _bootstrap_std(record: dict, name: str) -> float | None:
    return (((record["metrics"].get("uncertainties") or {}).get("figures") or {}).get(name) or {}).get("std")


def describe(figure: dict, fmt: str) -> str:
    """`mean ± seed std (bootstrap std)`; a single run as `value (bootstrap std)`; `-` without a value."""
    if figure["mean"] is None:
        return "-"
    text, spread = format(figure["mean"], fmt), fmt if "f" in fmt else ".2g"
    if figure["std"] is not None:
        text += "±" + format(figure["std"], spread)
    if figure["bootstrap_std"] is not None:
        text += " (" + format(figure["bootstrap_std"], spread) + ")"
    return text

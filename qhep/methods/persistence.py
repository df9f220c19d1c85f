"""Fitted methods saved to and restored from a folder (`model/` in a run's folder), so that a resume, a sweep or
a worker on another machine reuses a fitted stage instead of fitting it again.

The fitted state is the estimator's attributes less its runtime ones (the backend it scores on, engines, the
progress flag), written with joblib, plus `model.json`: the method, its settings and the state file's sha256.
Restoring checks all three: a damaged or foreign model is refused in one line, never half-used. The state is a
pickle: restore only models you made.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, is_dataclass
from pathlib import Path

import joblib

from qhep.errors import QhepError
from qhep.settings import Kind, Text
from qhep.storage import read_state, write_json_atomic

MODEL_DIR = "model"
MODEL_FILE = "model.json"
STATE_FILE = "state.joblib"
MODEL_SCHEMA = "qhep.model/1"
MODEL_FIELDS = {"method": Text(), "settings": Kind(dict), "sha256": Text()}


def settings_of(method) -> dict:
    return asdict(method.config) if is_dataclass(method.config) else dict(method.config)


def save(method, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    state = method.__getstate__()
    tmp = folder / f".tmp-{os.getpid()}-{STATE_FILE}"
    joblib.dump(state, tmp)
    os.replace(tmp, folder / STATE_FILE)
    write_json_atomic({"schema": MODEL_SCHEMA, "method": method.name, "settings": settings_of(method),
                       "sha256": _sha256(folder / STATE_FILE)}, folder / MODEL_FILE)


def restore(method, folder: Path):
    """Fill a freshly built `method` (same settings, its own backend) with the fitted state saved in `folder`."""
    meta = read_state(folder / MODEL_FILE, "model", MODEL_SCHEMA, MODEL_FIELDS)
    where = folder / MODEL_FILE
    if meta["method"] != method.name:
        raise QhepError(f"{where}: a model of method {meta['method']}, not {method.name}")
    if meta["settings"] != _json_like(settings_of(method)):
        raise QhepError(f"{where}: saved with other method settings than this run's; fit again in a new run")
    state_path = folder / STATE_FILE
    if not state_path.is_file() or _sha256(state_path) != meta["sha256"]:
        raise QhepError(f"{state_path}: missing or damaged (its sha256 is not the one in {MODEL_FILE})")
    vars(method).update(joblib.load(state_path))
    method.restored()
    return method


def has_model(folder: Path) -> bool:
    return (folder / MODEL_FILE).is_file()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _json_like(value):
    import json

    return json.loads(json.dumps(value, default=str))

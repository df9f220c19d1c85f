"""The run settings of each task card, declared with their checks (the cards are YAML: types are declared here).

A card's other keys (title, sources, reference numbers...) describe the task; they are not settings and cannot
be overridden.
"""
from __future__ import annotations

from qhep.settings import Choice, Flag, ListOf, Mapping, Number, Paths, Text, problems
from qhep.tasks import constituent_task, darkmachines, lhco

EVENTS = Number(int, ge=1, optional=True)  # a cap on events; null: all


def features(names: tuple) -> ListOf:
    return ListOf(Choice(names), min_len=1, unique=True)


CONSTITUENTS = {
    "data.path": Paths(several=True),
    "data.max_jets": EVENTS,
    "features": features(constituent_task.FEATURES),
    "representation": Choice(constituent_task.REPRESENTATIONS),
    "view_constituents": Number(int, ge=1),
    "image_pixels": Number(int, ge=1, le=1000),
    "image_extent": Number(float, gt=0, le=10),
}
TASK_SETTINGS = {
    "lhco": {
        "data.path": Paths(),
        "features": features(lhco.FEATURES),
        "region": Choice(lhco.REGIONS),
        "signal_region": ListOf(Number(float, ge=0), length=2, increasing=True),  # [low, high] in mjj, TeV
        "injection": Mapping((("background", Number(int, ge=1)), ("signal", Number(int, ge=0))), optional=True),
        },
    "top": CONSTITUENTS,
    "svj": CONSTITUENTS,
    "darkmachines": {
        "data.path": Paths(several=True),
        "channel": Choice(darkmachines.CHANNELS),
        "signal": Text(),
        "bsm_processes": ListOf(Text(), min_len=1, unique=True),
        "representation": Choice(darkmachines.REPRESENTATIONS),
        "features": features(darkmachines.FEATURES),
        "max_objects": Number(int, ge=1),
        "max_background_events": EVENTS,
        "weighted_metrics": Flag(),
        },
}


def task_problems(settings: dict) -> list[str]:
    """What is wrong with a composed `task` section, one message per setting (and the signal's process)."""
    name = settings["name"]
    out = problems(settings, TASK_SETTINGS[name], "task")
    if name == "darkmachines" and not out and str(settings["signal"]) not in map(str, settings["bsm_processes"]):
        out.append(f"invalid value {settings['signal']!r} for task.signal: choose one of task.bsm_processes: "
                   f"{', '.join(map(str, settings['bsm_processes']))}")
    return out


def is_task_setting(task: str, key: str) -> bool:
    """Whether `key` (below task.) is one of the task's run settings, or a section holding some."""
    return any(key == name or key.startswith(name + ".") or name.startswith(key + ".")
               for name in TASK_SETTINGS[task])

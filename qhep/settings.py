"""Declared checks on settings: each setting's type and valid values are declared once, where the setting is.

Method and backend settings are dataclass fields made with `setting(default, check)`; the run's top-level
settings likewise; a task card's run settings are declared by its task (`qhep.tasks.settings`). `problems` walks a
composed configuration against these declarations, so every bad value is refused, in one line that names the
setting, before any folder is made or any work starts.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any


class Check(ABC):
    """What a value must be; `why(value)` is None when it is valid, else what is wrong, in a few words."""

    optional: bool = False

    def why(self, value: Any) -> str | None:
        if value is None:
            return None if self.optional else "must be set (null is not allowed)"
        return self._why(value)

    @abstractmethod
    def _why(self, value: Any) -> str | None:
        """The problem with a value that is not null."""


@dataclass(frozen=True)
class Number(Check):
    kind: type = int  # int or float (an int is a valid float)
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    optional: bool = False

    def _why(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float) if self.kind is float else int):
            return f"must be {'a number' if self.kind is float else 'a whole number'}"
        if not math.isfinite(value):
            return "must be finite"
        for bound, holds, word in ((self.ge, float.__ge__, ">="), (self.gt, float.__gt__, ">"),
                                   (self.le, float.__le__, "<="), (self.lt, float.__lt__, "<")):
            if bound is not None and not holds(float(value), float(bound)):
                return f"must be {word} {int(bound) if float(bound).is_integer() else f'{bound:g}'}"
        return None


@dataclass(frozen=True)
class Choice(Check):
    options: tuple = ()
    optional: bool = False

    def _why(self, value):
        if str(value) not in map(str, self.options):
            return f"choose one of: {', '.join(map(str, self.options))}"
        return None


@dataclass(frozen=True)
class Text(Check):
    optional: bool = False

    def _why(self, value):
        if not isinstance(value, str):
            return "must be a text value"
        if not value.strip():
            return "must not be empty"
        return None


@dataclass(frozen=True)
class Flag(Check):
    def _why(self, value):
        return None if isinstance(value, bool) else "must be true or false"


@dataclass(frozen=True)
class ListOf(Check):
    item: Check = field(default_factory=Text)
    min_len: int = 0
    length: int | None = None
    unique: bool = False
    increasing: bool = False
    optional: bool = False

    def _why(self, value):
        if not isinstance(value, (list, tuple)):
            return "must be a list, e.g. [a,b]"
        if self.length is not None and len(value) != self.length:
            return f"must be a list of {self.length} values"
        if len(value) < self.min_len:
            return "must not be an empty list" if self.min_len == 1 else f"needs at least {self.min_len} values"
        for item in value:
            if (problem := self.item.why(item)) is not None:
                return f"item {item!r}: {problem}"
        if self.unique and len(set(map(str, value))) != len(value):
            return "must not repeat a value"
        if self.increasing and any(b <= a for a, b in zip(value[:-1], value[1:])):
            return "must be increasing"
        return None


@dataclass(frozen=True)
class Paths(Check):
    """A file path, or (`several`) a non-empty list of them; null means the task's embedded sample."""

    several: bool = False
    optional: bool = True

    def _why(self, value):
        if isinstance(value, (list, tuple)):
            if not self.several:
                return "must be one path (this task reads one file)"
            if not value:
                return "must not be an empty list (null selects the embedded sample)"
            return next((f"item {item!r} must be a non-empty path" for item in value
                         if not isinstance(item, str) or not item.strip()), None)
        if not isinstance(value, str):
            return "must be a path" + (" or a list of paths" if self.several else "")
        if not value.strip():
            return "must not be empty (null selects the embedded sample)"
        return None


@dataclass(frozen=True)
class Mapping(Check):
    """A fixed set of keys, each with its own check."""

    keys: tuple = ()  # ((name, check), ...)
    optional: bool = False

    def _why(self, value):
        if not isinstance(value, dict):
            return f"must be a mapping {{{', '.join(name + ': ...' for name, _ in self.keys)}}}"
        unknown = sorted(set(value) - {name for name, _ in self.keys})
        if unknown:
            return f"has unknown keys {unknown}; valid: {', '.join(name for name, _ in self.keys)}"
        for name, check in self.keys:
            if (problem := check.why(value.get(name))) is not None:
                return f"{name} {problem}"
        return None


@dataclass(frozen=True)
class Kind(Check):
    """A value of a JSON type (a mapping, a list) whose content is checked elsewhere."""

    kind: type = dict
    optional: bool = False

    def _why(self, value):
        return None if isinstance(value, self.kind) else f"must be a {'mapping' if self.kind is dict else 'list'}"


@dataclass(frozen=True)
class When(Check):
    """An ISO 8601 time stamp."""

    def _why(self, value):
        from datetime import datetime

        try:
            datetime.fromisoformat(value)
        except (TypeError, ValueError):
            return "must be an ISO 8601 time"
        return None


@dataclass(frozen=True)
class Name(Check):
    """A single folder name (what qhep joins to a folder of its own: never a path that leaves it)."""

    def _why(self, value):
        if not isinstance(value, str) or not value or value in (".", "..") or "/" in value or "\\" in value \
                or "\0" in value:
            return "must be a plain folder name"
        return None


SEED = Number(int, ge=0, lt=2**32)  # numpy's and torch's seeds


def setting(default: Any, check: Check):
    """A dataclass field with its declared check (a list default is copied per instance)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"check": check})
    return field(default=default, metadata={"check": check})


def declared(kind) -> dict[str, Check]:
    """The checks a dataclass (a method's, a backend's, the run's) declares for its fields."""
    return {f.name: f.metadata["check"] for f in fields(kind) if "check" in f.metadata}


def undeclared(kind) -> list[str]:
    """Fields that declare no check (a test holds every new setting to the bar)."""
    return [f.name for f in fields(kind) if "check" not in f.metadata]


def problems(values: dict, checks: dict[str, Check], prefix: str) -> list[str]:
    """One message per setting in `values` whose value its check refuses (dotted names reach into sections)."""
    out = []
    for name, check in checks.items():
        value, parts = values, name.split(".")
        for depth, part in enumerate(parts):
            if not isinstance(value, dict):
                section = ".".join(filter(None, [prefix, *parts[:depth]]))
                out.append(f"invalid value {value!r} for {section}: must be a section with {'.'.join(parts[depth:])}")
                break
            value = value.get(part)
        else:
            if (problem := check.why(value)) is not None:
                out.append(f"invalid value {value!r} for {'.'.join(filter(None, [prefix, name]))}: {problem}")
    return out

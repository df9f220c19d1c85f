"""Named configurations: a method's published setups, declared as data on its class (`named_configurations`).

One is chosen with `method=<method>/<name>` (`method=qae/ngairangbam2021`): Hydra's config-group option
`method/qae/ngairangbam2021`, the method's settings dataclass with the declared settings in place of qhep's
defaults. Overrides on top still win (`method=qae/ngairangbam2021 method.epochs=5`), every value passes the same
declared checks, and the record's `method` stays the method's own name.

A record *is* a named configuration's when its method settings equal the configuration's on every setting the
configuration declares, however it was asked for; reports label its row `qae [ngairangbam2021]`, and a setting that
differs from the configuration's composed value (an override such as epochs=5) is shown after it.
"""
from __future__ import annotations

from dataclasses import fields

from qhep.errors import QhepError

SEPARATOR = "/"  # method=<method>/<name>


def named_of(method: str) -> dict:
    """{name: NamedConfiguration} of a method (empty for an unknown one)."""
    from qhep.methods import METHODS

    return dict(METHODS[method][0].named_configurations) if method in METHODS else {}


def options() -> dict[str, tuple[str, str]]:
    """Every `method=` choice that names a configuration: {"qae/ngairangbam2021": ("qae", "ngairangbam2021")}."""
    from qhep.methods import METHODS

    return {f"{method}{SEPARATOR}{name}": (method, name) for method in METHODS for name in named_of(method)}


def split(choice: str) -> tuple[str, str | None]:
    """(method, name or None) of a `method=` value; a bad name is one line listing the valid ones."""
    method, sep, name = choice.partition(SEPARATOR)
    if not sep:
        return choice, None
    from qhep.methods import METHODS

    if method not in METHODS:
        raise QhepError(f"unknown method {method!r} in method={choice}; choose one of: {', '.join(sorted(METHODS))}")
    valid = named_of(method)
    if name not in valid:
        which = (f"choose one of: {', '.join(f'{method}{SEPARATOR}{n}' for n in valid)}" if valid
                 else f"method {method} declares none")
        raise QhepError(f"unknown named configuration {name!r} of method {method}; {which}")
    return method, name


def choice_of(overrides) -> str | None:
    """The name a run's overrides chose (`method=qae/ngairangbam2021` -> ngairangbam2021), or None."""
    value = next((o.partition("=")[2] for o in reversed(list(overrides)) if o.partition("=")[0] == "method"), "")
    method, sep, name = value.partition(SEPARATOR)
    return name if sep and name in named_of(method) else None


def node(method: str, name: str):
    """The method's settings dataclass with the configuration's settings in place of the defaults (what Hydra
    stores as the option); a declared key that is no setting of the method is refused here."""
    from qhep.methods import METHODS

    settings_class = METHODS[method][1]
    declared = named_of(method)[name].settings
    unknown = sorted(set(declared) - {f.name for f in fields(settings_class)} | ({"name"} & set(declared)))
    if unknown:
        raise QhepError(f"named configuration {method}/{name} declares {', '.join(unknown)}, not settings of "
                        f"method {method}")
    return settings_class(**declared)


def composed(method: str, name: str) -> dict:
    """Every setting of the method as the named configuration composes it (defaults, then its settings)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(OmegaConf.structured(node(method, name)), resolve=True)


def matching(method: str, settings: dict | None) -> str | None:
    """The named configuration these method settings keep every declared setting of (the one declaring most,
    should several), or None."""
    settings = settings or {}
    found = [(len(c.settings), name) for name, c in named_of(method).items()
             if all(key in settings and _same(settings[key], value) for key, value in c.settings.items())]
    return max(found)[1] if found else None


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    return a == b


def of_record(record: dict) -> str | None:
    """The named configuration a result record's method settings are (see `matching`)."""
    return matching(record["method"], (record.get("config") or {}).get("method"))


def label(record: dict) -> str:
    """`qae [ngairangbam2021]` for a record that is a named configuration's, else the method's name."""
    name = of_record(record)
    return record["method"] + (f" [{name}]" if name else "")


def differences(method: str, name: str, settings: dict) -> list[str]:
    """The method settings that differ from the named configuration's composed values."""
    reference = composed(method, name)
    return sorted(key for key, value in settings.items() if key in reference and key != "name"
                  and not _same(value, reference[key]))


def record_section(method: str, settings: dict, chosen: str | None) -> dict | None:
    """The record's `named_configuration`: the one the run was asked for by name, or else the one its settings
    are; its source, whether it was chosen by name, and the settings the run changed from it. None: neither."""
    name = chosen or matching(method, settings)
    if name is None:
        return None
    declared = named_of(method)[name]
    return {"name": name, "source": declared.source, "chosen": chosen is not None,
            "changed": differences(method, name, settings)}

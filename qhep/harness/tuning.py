"""`qhep tune`: an equal-budget hyper-parameter search, selected on validation events, never on the test set.

The candidates are the method's declared grid (`search_space` on its class, the product of its values): the
default configuration (the run as composed from the given overrides) is always candidate 0, and `tune.budget` (the
same default for every method, classical or quantum) caps how many are tried: the whole grid when it fits, else a
seeded random sample of budget - 1 grid points (`tune.search=random`, the default; `tune.search=grid` refuses a grid
larger than the budget). Every candidate runs through the sweep machinery, as one sweep over the list of
candidates, at the tuning seed `tune.seed` with `protocol.validation_fraction=tune.validation_fraction`: a seeded,
stratified share of the evaluation events is held out and scored into each record's `validation` section. The
candidate with the best validation AUC is chosen (a tie: the earlier candidate, so the default wins one); only the
records' validation sections are read. tuning.json in the search sweep's folder says what was tried and chosen.

The final runs, a second sweep: the default and the chosen configuration at every seed of `tune.seeds`, on the same
protocol (the same hold-out), so that at each seed the two are scored on identical test events; the chosen one's
runs carry `tuned.sweep` and `tuned.budget` in their configuration, which labels their row `qsvm (tuned, budget 12)`
and keeps it apart from the default's even where the chosen settings are the defaults.

Resuming: each of the two sweeps records in sweep.json a key of what it is (the run overrides and tune settings;
for the final sweep also the seeds and the chosen settings). Running the same `qhep tune` command again finds the
sweeps with its keys under results_dir/sweeps and resumes them (the finished points are kept, the unfinished and
failed ones run) instead of starting over.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from qhep.config import compose_run, is_launcher_setting
from qhep.errors import QhepError
from qhep.harness.records import RECORD_FILE
from qhep.harness.sweep import SWEEP_FILE, failures, resume_sweep, run_sweep
from qhep.methods import METHODS, named
from qhep.settings import SEED, Choice, ListOf, Number, problems
from qhep.storage import write_json_atomic

TUNING_FILE = "tuning.json"
TUNING_SCHEMA = "qhep.tuning/1"
# One budget for every method, classical or quantum: the number of configurations tried, the default included.
DEFAULTS = {"budget": 12, "search": "random", "seed": 0, "validation_fraction": 0.25, "seeds": [0, 1, 2]}
CHECKS = {"budget": Number(int, ge=1, le=10_000), "search": Choice(("grid", "random")), "seed": SEED,
          "validation_fraction": Number(float, gt=0, lt=1),
          "seeds": ListOf(SEED, min_len=1, unique=True)}
SELECTED_BY = "auc"  # the validation figure the choice maximises
VALIDATION_FIGURES = ("auc", "max_sic", "rejection_at_eps_s_0.3")


def split_settings(arguments: list[str]) -> tuple[dict, list[str], list[str]]:
    """(tune settings, launcher overrides, run overrides) of the command's arguments; a bad tune setting, or a run
    setting that tuning sets itself, is one line."""
    settings, launcher, run = dict(DEFAULTS), [], []
    for item in arguments:
        key, sep, value = item.partition("=")
        if key.startswith("tune."):
            name = key[len("tune."):]
            if name not in DEFAULTS or not sep:
                raise QhepError(f"unknown tune setting {item!r}; valid: {', '.join(f'tune.{k}=' for k in DEFAULTS)}")
            settings[name] = _value(name, value)
        elif is_launcher_setting(item):
            launcher.append(item)
        else:
            run.append(item)
    for problem in problems(settings, CHECKS, "tune"):
        raise QhepError(problem)
    for item in run:
        key = item.partition("=")[0]
        if key == "seed":
            raise QhepError(f"{item}: qhep tune sets the seeds: tune.seed (the search) and tune.seeds (the final runs)")
        if key == "protocol.validation_fraction":
            raise QhepError(f"{item}: qhep tune holds out the validation events: set tune.validation_fraction")
        if key.partition(".")[0] == "tuned":
            raise QhepError(f"{item}: tuned.* marks the runs qhep tune chose the settings of; it sets them itself")
    from qhep.harness.sweep import _axis_in

    axis = _axis_in(run)
    if axis:
        raise QhepError(f"{axis}: qhep tune takes one value per run setting (the search space is the method's); "
                        "sweep other settings with qhep sweep")
    return settings, launcher, run


def _value(name: str, text: str):
    """A tune setting's value from the command line: numbers, a word, a list of seeds (0,1,2 or [0,1,2])."""
    if name == "search":
        return text
    if name == "seeds":
        items = [t.strip() for t in text.strip().removeprefix("[").removesuffix("]").split(",")]
        return [_number(name, t, int) for t in items if t]
    return _number(name, text, float if name == "validation_fraction" else int)


def _number(name: str, text: str, kind: type):
    try:
        return kind(text)
    except ValueError:
        raise QhepError(f"invalid value {text!r} for tune.{name}: must be {'a number' if kind is float else 'a whole number'}") from None


def override(key: str, value) -> str:
    """`method.<key>=<value>` in Hydra's override grammar."""
    return f"method.{key}={_literal(value)}"


def _literal(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    return repr(value) if isinstance(value, float) else str(value)


def search_space(cfg) -> dict[str, tuple]:
    """The method's declared space for these settings (paths under `method.`); none declared is one line."""
    space = METHODS[cfg.method.name][0].search_space_of(cfg.method)
    if not space:
        raise QhepError(f"method {cfg.method.name} declares no search space (search_space): nothing to tune")
    return space


def candidates(space: dict[str, tuple], default: dict, budget: int, search: str, seed: int) -> tuple[list[dict], int]:
    """([{setting: value}] with the default, {}, first; the grid's size). The grid's points other than the default
    in the grid's order (its first setting varies slowest); when more than budget - 1, a sample of that many drawn
    with `seed` (search=random), or refused (search=grid)."""
    keys = list(space)
    grid = [dict(zip(keys, values)) for values in itertools.product(*space.values())]
    others = [point for point in grid
              if not all(named._same(_at(default, key), value) for key, value in point.items())]
    if len(others) + 1 > budget:
        if search == "grid":
            raise QhepError(f"tune.search=grid: the grid of {len(grid)} configurations (and the default) does not fit "
                            f"tune.budget={budget}; raise the budget to {len(others) + 1} or set tune.search=random")
        rng = np.random.default_rng([seed, 0x7e5e])
        others = [others[i] for i in sorted(rng.choice(len(others), budget - 1, replace=False))]
    return [{}, *others], len(grid)


def _at(settings: dict, path: str):
    for part in path.split("."):
        settings = (settings or {}).get(part)
    return settings


def tune_key(run: list[str], settings: dict, *more) -> str:
    text = json.dumps([run, {k: settings[k] for k in ("budget", "search", "seed", "validation_fraction")}, *more],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_sweep(results_dir: Path, key: str) -> Path | None:
    """The latest sweep under results_dir/sweeps made for this key (an earlier run of the same qhep tune)."""
    found = []
    for path in sorted((Path(results_dir) / "sweeps").glob(f"*/{SWEEP_FILE}")):
        try:
            state = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(state, dict) and (state.get("tune") or {}).get("key") == key:
            found.append(path.parent)
    return found[-1] if found else None


def say(line: str) -> None:
    print(f"qhep: {line}", file=sys.stderr)


def _sweep(results_dir: Path, key: str, role: str, launcher: list[str], fixed: list[str], points: list[list[str]],
           keys: list[str], arguments: list[str]) -> tuple[Path, dict, list[dict]]:
    """Run (or, when an earlier run of the same command made it, resume) one of the tuning's two sweeps."""
    existing = find_sweep(results_dir, key)
    if existing is not None:
        say(f"going on with the {role} sweep {existing.name} (the same qhep tune ran before)")
        state, records = resume_sweep(existing, launcher)
        return existing, state, records
    return run_sweep([*launcher, *fixed], "tune", points=points, keys=keys, extra={"tune": {"key": key, "role": role}},
                     command_line=arguments)


def tune(arguments: list[str]) -> dict:
    """Search, select on validation events, and run the default and the chosen configuration at every seed;
    returns {"tuning": tuning.json's content, "search_dir", "final_dir", "final_state", "final_records",
    "failed": failed points of either sweep}."""
    settings, launcher, run = split_settings(arguments)
    fraction = settings["validation_fraction"]
    search_fixed = [*run, f"seed={settings['seed']}", f"protocol.validation_fraction={fraction}"]
    cfg = compose_run(search_fixed)
    method = cfg.method.name
    space = search_space(cfg)
    default = OmegaConf.to_container(cfg.method, resolve=True)
    given = [o for o in run if o.partition("=")[0] in {f"method.{k}" for k in space}]
    if given:
        key = given[0].partition("=")[0]
        raise QhepError(f"{given[0]}: {key} is searched by qhep tune (its values: "
                        f"{', '.join(_literal(v) for v in space[key.removeprefix('method.')])}); leave it out")
    tried, grid_size = candidates(space, default, settings["budget"], settings["search"], settings["seed"])
    keys = [f"method.{k}" for k in space]
    results_dir = Path(cfg.results_dir)
    seeds = settings["seeds"]
    say(f"tuning {method}: {len(tried)} configuration(s), the default and {len(tried) - 1} of the grid's "
        f"{grid_size} (tune.budget={settings['budget']}, tune.search={settings['search']}), at seed "
        f"{settings['seed']}, chosen on validation events ({fraction:g} of the evaluation events); then the default "
        f"and the chosen one at seed(s) {', '.join(map(str, seeds))}: {len(tried) + 2 * len(seeds)} runs in all")
    search_key = tune_key(run, settings)
    search_dir, search_state, _ = _sweep(results_dir, search_key, "search", launcher, search_fixed,
                                         [[override(k, v) for k, v in c.items()] for c in tried], keys, arguments)
    found = _candidates(search_dir, search_state)
    done = [c for c in found if c["validation"] is not None]
    if not done:
        raise QhepError(f"no candidate of the tuning sweep {search_dir} finished with a validation AUC: "
                        f"see its points' error.log, then run the same qhep tune again")
    chosen = done[0]
    for candidate in done[1:]:  # strictly better only: a tie keeps the earlier candidate (the default first)
        if candidate["validation"][SELECTED_BY] > chosen["validation"][SELECTED_BY]:
            chosen = candidate
    first = json.loads((search_dir / chosen["run_dir"] / RECORD_FILE).read_text())
    tuning = {
        "schema": TUNING_SCHEMA,
        "id": search_state["id"],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": search_state["command"],
        "method": method,
        "overrides": run,
        "budget": settings["budget"],
        "search": settings["search"],
        "seed": settings["seed"],
        "validation_fraction": fraction,
        "seeds": seeds,
        "space": {k: list(v) for k, v in space.items()},
        "grid_size": grid_size,
        "selected_by": f"validation {SELECTED_BY} (highest; a tie: the earlier candidate)",
        "candidates": found,
        "chosen": {"index": chosen["index"], "settings": chosen["settings"], "validation": chosen["validation"]},
        # what the selection was made on, and the test events it never read (the candidates' test figures, which
        # the runner records in every run, are not read by qhep tune)
        "events": {"validation": {"background": first["validation"]["background"],
                                  "signal": first["validation"]["signal"]},
                   "test": {"background": first["cutflow"]["test_background"],
                            "signal": first["cutflow"]["test_signal"], "read": False}},
        "final": None,
    }
    write_json_atomic(tuning, search_dir / TUNING_FILE)
    chosen_overrides = [override(k, v) for k, v in chosen["settings"].items()]
    mark = [f"tuned.sweep={search_state['id']}", f"tuned.budget={settings['budget']}"]
    final_points = [point for seed in seeds for point in ([f"seed={seed}"], [f"seed={seed}", *chosen_overrides, *mark])]
    final_key = tune_key(run, settings, "final", seeds, chosen["settings"])
    final_dir, final_state, final_records = _sweep(
        results_dir, final_key, "final", launcher, [*run, f"protocol.validation_fraction={fraction}"], final_points,
        ["seed", *keys], arguments)
    tuning["final"] = final_state["id"]
    write_json_atomic(tuning, search_dir / TUNING_FILE)
    return {"tuning": tuning, "search_dir": search_dir, "final_dir": final_dir, "final_state": final_state,
            "final_records": final_records,
            "failed": [*failures(search_state), *failures(final_state)]}


def _candidates(sweep_dir: Path, state: dict) -> list[dict]:
    """Each candidate's searched settings (as composed: the default's values for candidate 0) and validation
    figures, read from its record's `validation` section only."""
    out = []
    for entry in state["points"]:
        settings = {k.removeprefix("method."): v for k, v in entry["point"].items()}  # every searched setting
        item = {"index": entry["index"], "settings": settings, "run_dir": entry["run_dir"], "status": entry["status"],
                "validation": None}
        path = sweep_dir / entry["run_dir"] / RECORD_FILE
        if entry["status"] == "done" and path.exists():
            held = json.loads(path.read_text()).get("validation")
            if held and held["metrics"].get(SELECTED_BY) is not None:
                item["validation"] = {**{k: held["metrics"].get(k) for k in VALIDATION_FIGURES},
                                      "background": held["background"], "signal": held["signal"]}
        if entry.get("error"):
            item["error"] = entry["error"]
        out.append(item)
    return out

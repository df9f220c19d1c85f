"""The reference suite: every registered method in it, every sweep composing, its settings fixed."""
import pytest

from qhep.errors import QhepError
from qhep.harness.reference import QUIET, SUITE, run_reference
from qhep.harness.sweep import plan
from qhep.methods import METHODS


def test_every_sweep_of_the_suite_composes_and_every_method_is_in_it():
    seen = set()
    for sweep in SUITE:
        _, points = plan([*sweep, *QUIET], "check")
        assert all(p.cfg.seed in (0, 1, 2) for p in points)
        seen |= {p.cfg.method.name for p in points}
    assert seen == set(METHODS)


def test_the_suite_takes_launcher_settings_and_a_folder_only():
    with pytest.raises(QhepError, match="method=ae: the reference suite's settings are fixed"):
        run_reference(["launcher=local", "method=ae"])


def test_the_suites_tunings_give_a_quantum_method_and_its_twin_one_budget():
    from qhep.config import compose_run
    from qhep.harness.reference import TUNED
    from qhep.harness.tuning import search_space, split_settings

    budgets, methods = set(), []
    for tuning in TUNED:
        settings, launcher, run = split_settings(list(tuning))
        assert search_space(compose_run(run)) and not launcher
        budgets.add(settings["budget"])
        methods.append(compose_run(run).method.name)
    assert len(budgets) == 1
    twins = {m: METHODS[m][0].classical_twin for m in methods if METHODS[m][0].quantum}
    assert twins and all(twin in methods for twin in twins.values())

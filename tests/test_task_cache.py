"""A task's selected events are computed once per process for all seeds and methods (a sweep's runs split the
same events), and computed again when a file changes or the task draws them from the seed."""
import os

import numpy as np
from omegaconf import OmegaConf

from qhep.config import compose_run
from qhep.tasks import TASKS
from tests.conftest import lhco_frame


def task(name, *overrides):
    return TASKS[name](OmegaConf.to_container(compose_run([f"task={name}", *overrides]).task))


def test_seeds_split_the_same_events_computed_once(lhco_file, monkeypatch):
    lhco = task("lhco", f"task.data.path={lhco_file}", "task.region=all")
    calls = []
    original = type(lhco).events
    monkeypatch.setattr(type(lhco), "events", lambda self, seed, view="features": calls.append(seed)
                        or original(self, seed, view))
    a, b = lhco.load(seed=0), lhco.load(seed=1)
    assert calls == [0] and not np.array_equal(a.train.X, b.train.X)  # one reading, two splits
    lhco_frame(seed=5).to_hdf(lhco_file, key="df", mode="w", format="fixed")  # the file changes
    os.utime(lhco_file, ns=(1, 1))
    again = lhco.load(seed=0)
    assert calls == [0, 0] and not np.array_equal(again.train.X, a.train.X)


def test_a_task_that_draws_its_events_from_the_seed_reads_them_per_seed(monkeypatch):
    capped = task("darkmachines", "task.max_background_events=100")
    assert capped.seeded() and not task("darkmachines").seeded()
    first, second = capped.load(seed=0), capped.load(seed=1)
    assert first.cutflow["background_kept"] == second.cutflow["background_kept"] == 100
    assert not np.array_equal(np.sort(first.test.X, axis=0), np.sort(second.test.X, axis=0))

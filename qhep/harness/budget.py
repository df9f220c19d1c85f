"""Before long simulator or QPU work: say how long it will take, and refuse above the backend's budget.

The estimate comes from the method (`estimate_seconds`): on a local simulator a timed sample of the very work
(the transpiled circuit at the run's shots, with gradients where training needs them), on hardware the device's
own instruction durations. Above `backend.max_minutes` the run is refused in one line with the estimate and the
ways forward; on IBM hardware this is the user's money.
"""
from __future__ import annotations

import sys

from qhep.errors import QhepError
from qhep.text import format_duration

WAYS = ("pre-train on the exact engine (method.train_backend=fast), score a subsample (test_events=2000), "
        "or raise backend.max_minutes")


def check_budget(cfg, method, n_features: int, n_train: int, n_test: int, say: bool = True) -> dict | None:
    """The estimate (None where all runs on the exact engine), printed unless `say` is false; a QhepError above
    the budget."""
    estimate = method.estimate_seconds(n_features, n_train, n_test)
    if estimate is None:
        return None
    budget = cfg.backend.get("max_minutes")
    parts = ", ".join(f"{stage} {format_duration(s)}" for stage, s in estimate["stages"].items())
    line = f"about {format_duration(estimate['seconds'])} on backend {cfg.backend.name} ({parts}; {estimate['basis']})"
    if budget is not None and estimate["seconds"] > 60 * budget:
        raise QhepError(f"this run would take {line}, over backend.max_minutes={budget:g}: {WAYS}")
    if say:
        print(f"qhep: {line}", file=sys.stderr)
    return {**estimate, "budget_minutes": budget}

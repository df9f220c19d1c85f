"""Uncertainties of the figures: the replicate curves against scikit-learn, the bootstrap against the known
sampling spread of an AUC, and Clopper-Pearson intervals against their closed forms."""
import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import roc_auc_score, roc_curve

from qhep.harness.metrics import Statistics, evaluate
from qhep.harness.uncertainty import (
    CONFIDENCE,
    Curves,
    auc_of,
    bootstrap,
    clopper_pearson,
    upper_limit,
)


def test_weighted_curves_equal_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    scores = rng.integers(0, 40, 500).astype(float)  # many ties
    weights = rng.poisson(1.0, 500).astype(float) + rng.uniform(0, 1, 500)
    eps_b, eps_s = Curves(y, scores).curve(weights)
    want_b, want_s, _ = roc_curve(y, scores, sample_weight=weights, drop_intermediate=False)
    np.testing.assert_allclose(eps_b, want_b, atol=1e-12)
    np.testing.assert_allclose(eps_s, want_s, atol=1e-12)
    assert auc_of(eps_b, eps_s) == pytest.approx(roc_auc_score(y, scores, sample_weight=weights), abs=1e-12)


def test_clopper_pearson_closed_forms():
    # k = 0 and k = n have closed forms: the upper (lower) end is 1 - (tail)^(1/n) (tail^(1/n))
    tail = (1 - CONFIDENCE) / 2
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(1 - tail ** (1 / 10)))
    assert clopper_pearson(10, 10) == (pytest.approx(tail ** (1 / 10)), 1.0)
    assert upper_limit(0, 1000) == pytest.approx(1 - 0.05 ** (1 / 1000))  # the "rule of three": about 3 / n
    low, high = clopper_pearson(500, 1000)
    assert low < 0.5 < high and high - low == pytest.approx(2 * np.sqrt(0.25 / 1000), rel=0.05)


def test_bootstrap_spread_of_an_auc_matches_its_sampling_spread():
    """Binormal toy: background N(0, 1), signal N(1, 1); the AUC's spread over independent test sets is the
    reference the bootstrap of one test set must reproduce."""
    rng = np.random.default_rng(1)

    def sample():
        y = np.r_[np.zeros(800), np.ones(400)]
        return y, np.r_[rng.normal(0, 1, 800), rng.normal(1, 1, 400)]

    spread = np.std([roc_auc_score(*sample()) for _ in range(300)])
    y, scores = sample()
    found = bootstrap(y, scores, lambda b, s, _: {"auc": auc_of(b, s)}, replicates=400, seed=0)["auc"]
    assert found["std"] == pytest.approx(spread, rel=0.15)
    assert found["low"] < roc_auc_score(y, scores) < found["high"] and found["replicates"] == 400
    assert norm.cdf(1) - norm.cdf(-1) == pytest.approx(CONFIDENCE, abs=1e-4)


def test_the_same_seed_gives_the_same_uncertainties():
    rng = np.random.default_rng(2)
    y, scores = np.r_[np.zeros(300), np.ones(100)], np.r_[rng.normal(0, 1, 300), rng.normal(2, 1, 100)]
    a, b, c = (evaluate(y, scores, statistics=Statistics(5, 50, seed))["uncertainties"] for seed in (3, 3, 4))
    assert a == b and a != c
    assert a["figures"]["auc"]["std"] > 0 and a["replicates"] == 50


def test_figures_undefined_in_some_replicates_say_in_how_many():
    # 90 background events: the rejection at eps_S = 0.3 rests on 25 of them, the guard's edge, and is defined
    # only in the replicates where at least 25 pass
    rng = np.random.default_rng(4)
    y = np.r_[np.zeros(90), np.ones(30)]
    scores = np.r_[rng.normal(0, 1, 90), rng.normal(0.1, 1, 30)]
    m = evaluate(y, scores, statistics=Statistics(25, 100, 0))
    assert m["working_points"]["rejection_at_eps_s_0.3"]["background_events"] == 25
    found = m["uncertainties"]["figures"]
    assert 0 < found["rejection_at_eps_s_0.3"]["replicates"] < 100
    assert found["eps_s_at_eps_b_1e-02"] == {"std": None, "low": None, "high": None, "replicates": 0}

"""Figures of merit against values worked out by hand."""
import numpy as np
import pytest
from scipy.stats import beta

from qhep.harness.metrics import evaluate

# 1000 background events scored 0..999; ten signal events with hand-picked scores.
BACKGROUND = np.arange(1000.0)
SIGNAL = np.array([995, 990, 980, 900, 500, 400, 300, 200, 100, 50.0])
Y = np.r_[np.zeros(1000), np.ones(10)]
SCORES = np.r_[BACKGROUND, SIGNAL]


def test_auc_counts_pairs_with_half_ties():
    # each signal score s beats s background events and ties one: sum(s + 0.5) / (10 * 1000)
    assert evaluate(Y, SCORES)["auc"] == pytest.approx((SIGNAL.sum() + 5) / 10_000)


def test_rejection_at_signal_efficiency():
    m = evaluate(Y, SCORES, min_background=1)
    assert m["rejection_at_eps_s_0.3"] == pytest.approx(1000 / 20)  # cut at 980: 20 background pass
    assert m["rejection_at_eps_s_0.5"] == pytest.approx(1000 / 500)  # cut at 500


def test_a_working_point_on_too_few_background_events_is_a_bound():
    m = evaluate(Y, SCORES, min_background=25)
    assert m["rejection_at_eps_s_0.3"] is None  # 20 background events pass: fewer than 25
    point = m["working_points"]["rejection_at_eps_s_0.3"]
    assert point["background_events"] == 20 and point["signal_events"] == 3
    # the 95% upper limit on eps_B from 20 of 1000 is the beta quantile; the rejection is above its inverse
    assert point["bound"]["side"] == "lower" and point["bound"]["value"] == pytest.approx(1 / beta.ppf(0.95, 21, 980))
    wide = m["working_points"]["rejection_at_eps_s_0.5"]  # 500 background pass: a number with its interval
    assert m["rejection_at_eps_s_0.5"] == pytest.approx(2.0) and "bound" not in wide
    low, high = wide["value_interval"]
    assert low < 2.0 < high and wide["eps_b_interval"][0] < 0.5 < wide["eps_b_interval"][1]


def test_signal_efficiency_at_background_efficiency():
    m = evaluate(Y, SCORES, min_background=1)
    assert m["eps_s_at_eps_b_1e-02"] == pytest.approx(0.2)  # 10 background >= 990: signals 995, 990
    assert m["eps_s_at_eps_b_1e-03"] == pytest.approx(0.0)
    assert m["eps_s_at_eps_b_1e-04"] is None  # 0.1 background events: not measurable with this test set
    guarded = evaluate(Y, SCORES, min_background=25)
    assert guarded["eps_s_at_eps_b_1e-02"] is None  # 10 background events at eps_B = 1e-2: fewer than 25
    assert guarded["working_points"]["eps_s_at_eps_b_1e-02"] == {"resolved": False, "background_needed": 2500,
                                                                "test_background": 1000}


def test_max_sic_respects_the_background_guard():
    # Best point with >= 25 background events: 25 pass (scores 975..999) with 3 signals: 0.3 / sqrt(0.025)
    m = evaluate(Y, SCORES, min_background=25)
    assert m["max_sic"] == pytest.approx(0.3 / np.sqrt(0.025))
    assert m["max_sic_eps_s"] == pytest.approx(0.3)
    point = m["working_points"]["max_sic"]
    assert (point["background_events"], point["signal_events"]) == (25, 3)
    # Without the guard the empty tail wins: one background event and two signals
    assert evaluate(Y, SCORES, min_background=1)["max_sic"] == pytest.approx(0.3 / np.sqrt(20 / 1000))


def test_perfect_and_inverted_scores():
    y = np.r_[np.zeros(100), np.ones(100)]
    s = np.r_[np.zeros(100), np.ones(100)]
    assert evaluate(y, s)["auc"] == 1.0
    assert evaluate(y, -s)["auc"] == 0.0
    assert evaluate(y, s)["rejection_at_eps_s_0.5"] is None  # no background passes: unbounded, not a number


def test_refuses_test_sets_without_both_classes_and_nonfinite_scores():
    with pytest.raises(ValueError, match="signal and background"):
        evaluate(np.zeros(5), np.arange(5.0))
    with pytest.raises(ValueError, match="not finite"):
        evaluate(np.r_[0, 1], np.array([0.0, np.nan]))


def test_asimov_significance_by_hand():
    from qhep.harness.metrics import asimov_significance

    # s = 10, b = 100: sqrt(2 (110 ln 1.1 - 10)) = 0.9834...; for s << b it tends to s / sqrt(b)
    assert asimov_significance(10, 100) == pytest.approx(np.sqrt(2 * (110 * np.log(1.1) - 10)))
    assert asimov_significance(1, 1e6) == pytest.approx(1e-3, rel=1e-3)


def test_expected_significance_after_the_best_guarded_cut():
    counts = {"signal": 100.0, "background": 10_000.0}
    m = evaluate(Y, SCORES, min_background=25, expected_counts=counts)["expected_significance"]
    from qhep.harness.metrics import asimov_significance

    assert m["before_cut"] == pytest.approx(asimov_significance(100, 10_000))
    # Same plateau as the SIC: 3 of 10 signals with 25 of 1000 background events
    assert m["best_cut"] == pytest.approx(asimov_significance(30, 250)) and m["best_cut_eps_s"] == pytest.approx(0.3)

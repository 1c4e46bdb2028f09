"""Choosing the winner: the validation main metric, a margin, and a floor for diverged baselines."""

from __future__ import annotations

import math

import pytest

from plateau_doctor.schema import Finding
from plateau_doctor.engine.verdict import (
    LOG_LOSS_CAP,
    LOG_LOSS_WEIGHT,
    BranchOutcome,
    choose_winner,
    gap_to_level,
    level_to_beat,
    repair_status,
    round_stop_reason,
    run_status,
    score,
)


def _branch(name, value, status="ok", metric="val_balanced_accuracy", epochs=10):
    return BranchOutcome(remedy=name, params={}, reason="", status=status, metrics={metric: value}, epochs=epochs)


def _outcome(name, metrics, status="ok", epochs=10):
    return BranchOutcome(remedy=name, params={}, reason="", status=status, metrics=metrics, epochs=epochs)


def test_the_best_branch_wins_only_by_the_margin():
    baseline = {"val_balanced_accuracy": 0.80}
    winner, reason = choose_winner("binary", baseline, [_branch("a", 0.81), _branch("b", 0.90)], 0.02)
    assert winner.remedy == "b" and "next best a 0.8100" in reason
    none, reason = choose_winner("binary", baseline, [_branch("a", 0.81)], 0.02)
    assert none is None and "the best attempt, a, reached 0.8100" in reason


def test_failed_branches_never_win():
    winner, reason = choose_winner("binary", {"val_balanced_accuracy": 0.5}, [_branch("a", 0.99, status="failed")], 0.02)
    assert winner is None and "failed" in reason


def test_a_diverged_baseline_must_still_be_beaten_by_the_trivial_level_plus_margin():
    diverged = {"val_r2": math.nan}
    to_beat = level_to_beat("regression", diverged, {"val_r2": -0.01})
    assert to_beat["val_r2"] == -0.01
    worse_than_the_mean = _branch("a", -10.5, metric="val_r2")
    assert choose_winner("regression", to_beat, [worse_than_the_mean], 0.02)[0] is None
    useful = _branch("b", 0.6, metric="val_r2")
    assert choose_winner("regression", to_beat, [worse_than_the_mean, useful], 0.02)[0] is useful
    assert level_to_beat("regression", {"val_r2": 0.3}, {"val_r2": 0.0}) == {"val_r2": 0.3}


def test_status_follows_symptoms_and_winner():
    sick = [Finding("symptom", "plateau", 0.8, "")]
    healthy = [Finding("symptom", "converged", 0.9, "")]
    assert run_status(healthy, None) == "healthy"
    assert run_status(sick, None) == "not_repaired"
    assert run_status(sick, _branch("a", 0.9)) == "improved"  # no level given: never a promise
    assert run_status(sick, _branch("a", 0.9), "repaired") == "repaired"
    assert run_status(healthy, _branch("a", 0.9), "repaired") == "healthy"


# --------------------------------------------------------------------------- the judging rule
def _cls(balanced, log_loss):
    return {"val_balanced_accuracy": balanced, "val_log_loss": log_loss}


def test_the_overfitting_fix_wins_as_accurate_and_far_better_calibrated():
    # The held-out case: early stopping cut the log loss 2.6 -> 0.56 at 0.05 lower balanced accuracy.
    overfitted, early_stopped = _cls(0.85, 2.6), _cls(0.80, 0.56)
    assert score("binary", early_stopped) > score("binary", overfitted)
    winner, reason = choose_winner("binary", overfitted, [_outcome("early_stopping", early_stopped)], 0.02)
    assert winner is not None and winner.remedy == "early_stopping"
    assert "log loss 0.5600" in reason and "log loss 2.6000" in reason


def test_a_small_calibration_gain_never_buys_much_accuracy():
    accurate, calibrated = _cls(0.90, 0.40), _cls(0.86, 0.10)
    assert score("binary", accurate) > score("binary", calibrated)
    # Equal accuracy: the better calibrated one wins.
    assert score("multiclass", _cls(0.9, 0.3)) > score("multiclass", _cls(0.9, 0.5))


@pytest.mark.parametrize("bad", [math.nan, math.inf, 40.0])
def test_a_non_finite_or_huge_log_loss_counts_as_the_cap(bad):
    assert score("binary", _cls(0.8, bad)) == pytest.approx(0.8 - LOG_LOSS_WEIGHT * LOG_LOSS_CAP)


def test_regression_is_judged_on_r2_and_mae_breaks_ties():
    assert score("regression", {"val_r2": 0.7, "val_mae": 3.0, "val_log_loss": 9.0}) == 0.7
    assert score("regression", {"val_r2": math.nan}) == -math.inf
    tie = [_outcome("a", {"val_r2": 0.7, "val_mae": 3.0}), _outcome("b", {"val_r2": 0.7, "val_mae": 2.0})]
    assert choose_winner("regression", {"val_r2": 0.1}, tie, 0.02)[0].remedy == "b"


def test_a_diverged_classification_baseline_is_replaced_by_the_class_prior():
    to_beat = level_to_beat("binary", {"val_balanced_accuracy": math.nan}, {"val_balanced_accuracy": 0.5}, 0.69)
    assert to_beat["val_balanced_accuracy"] == 0.5 and to_beat["val_log_loss"] == 0.69


def test_a_pruned_branch_competes_with_its_best_epoch_and_a_finished_one_of_equal_standing_goes_first():
    # Pruning stops training; the branch's metrics are its best epoch's, and they count in full.
    ok, pruned = _outcome("ok", _cls(0.80, 0.4)), _outcome("pruned", _cls(0.82, 0.4), status="pruned")
    assert choose_winner("binary", _cls(0.6, 0.7), [ok, pruned], 0.02)[0] is pruned
    assert choose_winner("binary", _cls(0.6, 0.7), [pruned], 0.02)[0] is pruned
    tied = _outcome("pruned", _cls(0.80, 0.4), status="pruned", epochs=5)
    assert choose_winner("binary", _cls(0.6, 0.7), [tied, ok], 0.02)[0] is ok


# --------------------------------------------------------------------------- the level and the status
REFERENCE = {"val_r2": 0.80}


@pytest.mark.parametrize(
    "final, expected",
    [
        (0.78, "repaired"),  # within the tolerance 0.03 of the level
        (0.85, "repaired"),  # above it
        (0.76, "improved"),  # short of it, and nothing says the final model is healthy
        (math.nan, "improved"),
    ],
)
def test_repaired_is_a_promise_about_the_level(final, expected):
    assert repair_status("regression", {"val_r2": final}, REFERENCE, 0.03) == expected


LINEAR = {"val_r2": 0.72}


@pytest.mark.parametrize(
    "final, healthy, expected",
    [
        (0.74, True, "repaired"),  # healthy when diagnosed again, above the linear reference
        (0.72, True, "repaired"),  # at it
        (0.71, True, "improved"),  # under the linear reference: healthy curves do not repair
        (0.74, False, "improved"),  # above it, but the final model is not healthy
    ],
)
def test_a_healthy_final_model_at_the_linear_reference_is_repaired_below_boosting(final, healthy, expected):
    status = repair_status(
        "regression", {"val_r2": final}, REFERENCE, 0.03, linear_reference_metrics=LINEAR, final_healthy=healthy
    )
    assert status == expected


def test_gap_to_level_is_positive_below_and_negative_above():
    assert gap_to_level("regression", {"val_r2": 0.5}, REFERENCE) == pytest.approx(0.3)
    assert gap_to_level("regression", {"val_r2": 0.9}, REFERENCE) == pytest.approx(-0.1)
    assert math.isnan(gap_to_level("regression", {"val_r2": 0.9}, {}))


# --------------------------------------------------------------------------- rounds
def _stop(**kw):
    settings = dict(round_index=1, max_rounds=3, reached=False, gain=0.1, margin=0.02, budget_left=200,
                    min_branch_epochs=10, planned=2)
    settings.update(kw)
    return round_stop_reason(**settings)


def test_another_round_runs_while_short_with_gain_budget_rounds_and_a_plan():
    assert _stop() is None


@pytest.mark.parametrize(
    "change, words",
    [
        ({"reached": True}, "reached the attainable level"),
        ({"gain": 0.01}, "less than the margin"),
        ({"gain": math.nan}, "less than the margin"),
        ({"round_index": 3}, "max_rounds (3)"),
        ({"budget_left": 9}, "budget is spent"),
        ({"planned": 0}, "no cause a rule treats"),
    ],
)
def test_the_rounds_stop_for_each_reason(change, words):
    assert words in _stop(**change)

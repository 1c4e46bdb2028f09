"""Choosing the winner: the validation main metric, a margin, and a floor for diverged baselines."""

from __future__ import annotations

import math

from plateau_doctor.schema import Finding
from plateau_doctor.verdict import (
    BranchOutcome,
    choose_winner,
    level_to_beat,
    run_status,
)


def _branch(name, value, status="ok", metric="val_balanced_accuracy", epochs=10):
    return BranchOutcome(remedy=name, params={}, reason="", status=status, metrics={metric: value}, epochs=epochs)


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
    assert run_status(sick, _branch("a", 0.9)) == "repaired"

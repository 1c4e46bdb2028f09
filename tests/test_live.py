"""engine.live on hand-written rows, plans and range-test curves: no backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plateau_doctor.engine.live import (
    ActionRecord,
    LiveAction,
    kept_epochs,
    kept_model,
    live_action,
    pick_rate,
    restore_and_lower,
    thrown_out,
)
from plateau_doctor.engine.range_test import range_test_schedule
from plateau_doctor.engine.remedies.base import RemedyPlan


@pytest.mark.parametrize("row, thrown", [
    ({"loss": math.nan}, True),
    ({"loss": math.inf}, True),
    ({"loss": 859.0, "update_ratio": 73.3, "dead_fraction": 1.0}, True),
    ({"loss": 2.4, "update_ratio": 3.0, "saturated_fraction": 0.95}, True),
    ({"loss": 859.0, "update_ratio": 73.3, "dead_fraction": 0.39}, False),  # units alive: it may recover
    ({"loss": 2.3, "update_ratio": 0.5, "dead_fraction": 1.0}, False),  # dead, but not by a blow-up
    ({"loss": 14.49, "update_ratio": 73.0, "dead_fraction": 0.35, "grad_norm": 0.0}, True),  # output pinned
    ({"loss": 2.3, "update_ratio": 0.01, "dead_fraction": 0.35, "grad_norm": 0.0}, False),  # no blow-up
    ({"loss": 2.3}, False),  # signals not observed: nothing to read
])
def test_weights_are_thrown_out_only_by_a_non_finite_loss_or_a_blow_up_that_killed_every_unit(row, thrown):
    reason = thrown_out(row)
    assert (reason is not None) is thrown
    if thrown and "update_ratio" in row:
        assert "update_ratio" in reason and ("dead or saturated" in reason or "no gradient" in reason)


def test_weights_thrown_out_are_restored_and_the_rate_lowered_by_a_range_test():
    action = restore_and_lower("the training loss is nan", 1.0)
    assert (action.restore, action.direction, action.range_test, action.rate) == ("before_blow_up", "lower", True, 0.1)


def _plan(remedy, overrides, confidence, range_test=False):
    return RemedyPlan(remedy, dict(overrides), f"treat for {remedy}", ["some_cause"], range_test, confidence)


def test_the_first_plan_a_running_fit_can_take_becomes_the_action():
    plans = [
        _plan("capacity", {"model.hidden_units": [64, 64], "training.epochs": 50}, 0.9),
        _plan("learning_rate+optimizer", {"training.learning_rate": 0.01, "training.optimizer": "adam"}, 0.85),
        _plan("learning_rate", {"training.learning_rate": 0.003, "training.reduce_lr_on_plateau": True,
                                "training.epochs": 50}, 0.8, range_test=True),
    ]
    action = live_action(plans, 1e-4, "plateau: flat")
    assert action.remedy == "learning_rate" and action.direction == "higher" and action.restore == ""
    assert action.rate == 0.003 and action.range_test
    assert action.left_out == ("training.reduce_lr_on_plateau",)  # said, not silently dropped
    assert action.reason == "treat for learning_rate; plateau: flat"
    lowered = live_action(plans[2:], 0.1, "")
    assert lowered.direction == "lower" and lowered.restore == "before_blow_up"


def test_overfitting_treated_by_early_stopping_restores_the_best_weights_and_stops():
    plans = [_plan("early_stopping", {"training.early_stopping_patience": 5, "training.epochs": 40}, 0.8)]
    action = live_action(plans, 1e-3, "overfitting: GL 40")
    assert action.stop and action.restore == "best" and action.rate is None


def _record(epoch, action, restored=None):
    return ActionRecord(epoch, "x", action, "why", 1.0, 0.01, restored)


def test_the_kept_model_is_read_on_the_epochs_that_led_to_it():
    """15 epochs: a blow-up at epoch 1 restored (rate lowered), then overfitting stopped at
    epoch 9 with epoch 4's weights restored. The kept model is epoch 4's, trained since epoch 1's
    action: epochs 2-4 (records 1..3), not epoch 1's blown-up loss nor epochs 5-9 past the best
    (before: records 0..3, whose blown-up first epoch read as a run still far from the reference)."""
    blown, stopped = _record(1, "restore the weights, learning rate 1 -> 0.0154", 0), _record(9, "restore the best weights, stop", 4)
    assert kept_epochs([blown, stopped], 9, 9, 8) == slice(1, 4)
    assert kept_epochs([stopped], 9, 9, 8) == slice(0, 4)  # stopped with no action before: from the start
    assert kept_epochs([], 15, 0, 8) == slice(0, 15)
    assert kept_epochs([blown], 15, 1, 8) == slice(1, 15)  # enough epochs since the action to judge
    assert kept_epochs([blown], 6, 1, 8) == slice(0, 6)  # too few: the whole fit


def test_a_users_restore_at_the_end_of_the_fit_marks_the_kept_model():
    """The user's EarlyStopping puts epoch 14 back after a 24-epoch fit: the whole fit is read and
    epoch 14 is the kept model. After a doctor's action at epoch 3, the epochs read start there and
    the kept model is the 11th of them. A restored epoch from before that action (or none) leaves
    the doctor's own span."""
    assert kept_model(slice(0, 24), 24, 14) == (slice(0, 24), 14, 14)
    assert kept_model(slice(3, 24), 24, 14) == (slice(3, 24), 14, 11)
    assert kept_model(slice(3, 24), 24, 2) == (slice(3, 24), 24, 0)
    assert kept_model(slice(1, 4), 9, 0) == (slice(1, 4), 4, 0)  # the doctor's own stop at epoch 4's weights
    assert kept_model(slice(0, 24), 24, 24) == (slice(0, 24), 24, 0)  # the best was the last: nothing to mark


def test_no_action_when_no_plan_is_live_or_the_rate_is_unchanged():
    assert live_action([_plan("architecture", {"model.activation": "elu"}, 0.9)], 1e-3, "") is None
    assert live_action([_plan("learning_rate", {"training.learning_rate": 1e-3}, 0.9)], 1e-3, "") is None
    assert live_action([], 1e-3, "") is None


def _sweep(blow_up_at: float):
    """A range-test curve: flat at small rates, falling, then exploding past ``blow_up_at``."""
    lrs = range_test_schedule(1e-6, 3.0, 100)
    losses = 2.3 - 2.0 * np.clip(np.log10(lrs / 1e-5) / 3, 0, 1)
    losses = np.where(lrs > blow_up_at, 2.3 * (lrs / blow_up_at) ** 2, losses)
    return lrs, losses


def test_the_range_test_picks_the_rate_on_the_side_the_treatment_asks_for():
    lrs, losses = _sweep(blow_up_at=0.05)
    lower = LiveAction("learning_rate", "why", restore="before_blow_up", rate=0.1, direction="lower", range_test=True)
    rate, why = pick_rate(lower, 1.0, lrs, losses)
    assert 1e-4 < rate < 0.05 and rate != 0.1 and "range test of 100 steps" in why
    # A suggestion above the current rate cannot be a lowering: the treatment's rate is kept.
    rate, why = pick_rate(lower, 1e-5, lrs, losses)
    assert rate == 0.1 and "not below" in why
    raise_it = LiveAction("learning_rate", "why", rate=1e-3, direction="higher", range_test=True)
    rate, _ = pick_rate(raise_it, 1e-5, lrs, losses)
    assert 1e-5 < rate < 0.05


def test_without_a_sweep_the_treatments_rate_is_used():
    action = LiveAction("learning_rate", "why", rate=0.003, direction="higher", range_test=True)
    assert pick_rate(action, 1e-4, [], []) == (0.003, "no range test ran: the treatment's rate 0.003")

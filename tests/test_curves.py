"""Curves-only diagnosis on hand-written logs: no training, no TensorFlow."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plateau_doctor.engine.log_doctor import (
    FLAT_FROM_START,
    UNCONFIRMED_DISCOUNT,
    diagnose_curves,
    infer_task,
    normalize_history,
)


def _falling(n=30, start=1.0, end=0.1):
    return list(start * (end / start) ** (np.arange(n) / (n - 1)))


def test_a_loss_that_fell_and_levelled_off_is_healthy_without_a_reference():
    loss = _falling(30, 1.2, 0.2)
    found = diagnose_curves({"loss": loss, "val_loss": [v * 1.1 for v in loss], "learning_rate": [1e-3] * 30})
    assert found.status == "healthy" and found.causes == []
    assert [s.name for s in found.symptoms] == ["converged"]


def test_a_loss_flat_from_the_first_epoch_is_a_plateau_and_a_tiny_rate_is_named():
    flat = [1.27 - 0.0005 * i for i in range(12)]
    found = diagnose_curves({"loss": flat, "val_loss": flat, "learning_rate": [1e-6] * 12})
    assert found.sick and found.symptoms[0].name == "plateau"
    assert f"> {100 * FLAT_FROM_START:.0f}%" in found.symptoms[0].evidence
    assert found.causes[0].name == "learning_rate_too_low"
    # The log has no update_ratio: the cause is kept, less sure, and says what would confirm it.
    assert "not confirmed: the log lacks update_ratio" in found.causes[0].evidence
    assert "judged as for adam" in found.causes[0].evidence


def test_an_unconfirmed_cause_loses_confidence_and_a_recorded_signal_keeps_it():
    """The rule's own confidence (0.3, + 0.3 for a small rate, + 0.1 still creeping) times the discount."""
    flat = [1.27] * 6 + [1.2699] * 6
    bare = diagnose_curves({"loss": flat, "val_loss": flat, "learning_rate": [1e-6] * 12})
    recorded = diagnose_curves({"loss": flat, "val_loss": flat, "learning_rate": [1e-6] * 12, "update_ratio": [1e-6] * 12})
    top_bare = bare.causes[0]
    top_recorded = next(c for c in recorded.causes if c.name == top_bare.name)
    assert math.isclose(top_bare.confidence, round(0.7 * UNCONFIRMED_DISCOUNT, 3))
    assert top_bare.confidence < top_recorded.confidence
    assert "not confirmed" not in top_recorded.evidence


def test_a_frozen_loss_after_a_blow_up_is_diverged_and_a_large_rate_is_blamed():
    """The jump 0.6 -> 6.8 at epoch 5 is 11x the lowest loss reached: a blow-up, and the loss
    never moved again. (Before issue 19 this read as a frozen plateau; same cause.)"""
    loss = [133, 4.9, 2.8, 0.6, 6.8, 1.2, 0.8, 1.4, 0.9, 1.1] + [0.783] * 10
    found = diagnose_curves({"loss": loss, "val_loss": [x * 1.02 for x in loss], "learning_rate": [0.3] * 20})
    assert found.symptoms[0].name == "diverged" and "blew up at epoch 5" in found.symptoms[0].evidence
    assert found.causes[0].name == "learning_rate_too_high"


def test_a_loss_that_learned_then_froze_away_from_zero_is_at_its_capacity():
    """A linear model on two moons (seen in a scenario): it learns for five epochs, then its
    training loss stops at its optimum, to five digits."""
    loss = [0.5, 0.33, 0.28, 0.266, 0.2632] + [0.26310 + 0.000002 * i for i in range(10)]
    val = [0.52, 0.39, 0.36, 0.35, 0.3478] + [0.34776 - 0.000001 * i for i in range(10)]
    found = diagnose_curves({"loss": loss, "val_loss": val, "learning_rate": [1e-3] * 15})
    assert found.symptoms[0].name == "plateau" and "frozen" in found.symptoms[0].evidence
    assert found.causes[0].name == "insufficient_capacity"
    assert "fell 47% from epoch 1" in found.causes[0].evidence and "not confirmed" in found.causes[0].evidence


def test_a_loss_frozen_from_the_start_is_not_read_as_capacity():
    loss = [0.6931] * 15
    found = diagnose_curves({"loss": loss, "val_loss": loss, "learning_rate": [1e-3] * 15})
    assert found.sick and "insufficient_capacity" not in [c.name for c in found.causes]


def test_a_loss_at_zero_may_freeze_without_being_sick():
    loss = _falling(15, 0.5, 1e-4) + [1e-4] * 10
    assert not diagnose_curves({"loss": loss, "val_loss": loss}).sick


def test_overfitting_is_seen_in_curves_alone_with_full_confidence_kept():
    loss = _falling(30, 1.0, 0.05)
    val = [0.9 - 0.05 * i for i in range(8)] + [0.5 + 0.04 * i for i in range(22)]
    found = diagnose_curves({"loss": loss, "val_loss": val})
    assert "overfitting" in [s.name for s in found.symptoms]
    assert found.causes[0].name == "overfitting" and "not confirmed" not in found.causes[0].evidence


def test_a_nan_loss_is_a_divergence():
    found = diagnose_curves({"loss": [1.0, 3.0, 80.0, float("nan")], "val_loss": [1.0, 4.0, 90.0, float("nan")],
                             "learning_rate": [0.5] * 4})
    assert found.symptoms[0].name == "diverged"
    assert found.causes and found.causes[0].name == "learning_rate_too_high"


def test_the_log_says_what_could_not_be_checked():
    found = diagnose_curves({"loss": _falling(), "val_loss": _falling()})
    text = " ".join(found.not_checked)
    for words in ("reference model", "learning_rate: not recorded", "grad_norm: not recorded"):
        assert words in text


def test_csvlogger_epochs_count_from_zero_and_tensorboard_names_are_mapped():
    frame = normalize_history({"epoch": [0, 1, 2], "epoch_loss": [1.0, 0.9, 0.8], "lr": [0.1] * 3, "val_acc": [0.5] * 3})
    assert frame["epoch"].tolist() == [1.0, 2.0, 3.0]
    assert {"loss", "learning_rate", "val_accuracy"} <= set(frame.columns)


def test_a_log_without_a_loss_is_refused_with_the_columns_it_has():
    with pytest.raises(ValueError, match="no 'loss' or 'val_loss' column \\(found accuracy\\)"):
        normalize_history({"accuracy": [0.5, 0.6]})


@pytest.mark.parametrize("columns, task", [(["loss", "val_accuracy"], "binary"), (["loss", "val_loss", "val_mae"], "regression")])
def test_the_task_is_read_from_the_column_names(columns, task):
    assert infer_task(normalize_history({name: [1.0, 0.5] for name in columns})) == task

"""Curves-only diagnosis on hand-written logs: no training, no TensorFlow."""

from __future__ import annotations

import math

import numpy as np
import pytest

from plateau_doctor.engine import noise
from plateau_doctor.engine.causes.readings import FLAT_FROM_START
from plateau_doctor.engine.log_doctor import (
    UNCONFIRMED_DISCOUNT,
    diagnose_curves,
    infer_task,
    normalize_history,
)


def _falling(n=30, start=1.0, end=0.1):
    return list(start * (end / start) ** (np.arange(n) / (n - 1)))


def test_a_loss_that_fell_and_levelled_off_is_healthy_without_a_reference():
    loss = list(0.2 + 1.0 * np.exp(-np.arange(30) / 5.0))  # 6 time constants: 0.25% of the gain left
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


def test_a_noisy_head_that_learned_within_its_first_epoch_is_not_flat_from_the_start():
    # A head on a frozen base: most of its learning is inside epoch 1's mean; the training loss then
    # ends 12% lower and the validation loss sits near its first value, both with minibatch scatter.
    rng = np.random.default_rng(3)
    train = [0.67 * (0.88 + 0.12 * np.exp(-i / 3)) * np.exp(rng.normal(0, 0.013)) for i in range(60)]
    val = [0.556 * np.exp(rng.normal(0, 0.035)) for _ in range(60)]
    accuracy = [0.68 + 0.01 * rng.normal() for _ in range(60)]
    found = diagnose_curves({"loss": train, "val_loss": val, "accuracy": accuracy, "val_accuracy": accuracy})
    assert found.status == "healthy", [(s.name, s.evidence) for s in found.symptoms]
    # A training loss that fell only 5% over the same run has not learned: the plateau stands.
    stuck = [0.67 * (0.95 + 0.05 * np.exp(-i / 3)) for i in range(60)]
    assert "plateau" in _names(diagnose_curves({"loss": stuck, "val_loss": val}))


def test_a_loss_that_fell_and_came_back_up_has_moved_and_is_not_flat_from_the_start():
    # A forecasting LSTM: the training loss falls 18% over 9 epochs, jumps back up 16% and stays;
    # it ends within 5% of epoch 1, but it did move.
    train = [3.25e-4, 2.89e-4, 2.80e-4, 2.78e-4, 2.75e-4, 2.75e-4, 2.73e-4, 2.69e-4, 2.67e-4, 2.68e-4] + [3.10e-4] * 10
    val = [3.15e-4, 3.04e-4, 2.90e-4, 2.89e-4, 2.96e-4, 2.96e-4, 3.12e-4, 2.87e-4, 2.91e-4, 2.83e-4] + [3.35e-4] * 10
    found = diagnose_curves({"loss": train, "val_loss": [v * (1 + 0.001 * (i % 3)) for i, v in enumerate(val)]})
    assert not any("barely moved since epoch 1" in s.evidence for s in found.symptoms)


def test_a_five_epoch_log_at_ln_4_is_stuck_and_says_why_no_cause_is_named():
    """Four classes, 5 epochs, both losses from ln 4 to 0.4% under it, the accuracy at the majority
    share 0.30 (heldout4's h4_tokens_count_lstm_few_epochs). Read as 3 classes before (the accuracy
    fits 1/3), it was healthy; at 4 it is stuck, and the capacity cause's settling test, which
    reads patience + 1 epochs, raised an IndexError on 5 (a traceback where the CLI owes a verdict)."""
    found = diagnose_curves({"loss": [1.3863, 1.3851, 1.3838, 1.3823, 1.3806],
                             "val_loss": [1.3857, 1.3846, 1.3836, 1.3826, 1.3818],
                             "accuracy": [0.28, 0.29, 0.3, 0.3, 0.3], "val_accuracy": [0.29, 0.31, 0.32, 0.30, 0.31]})
    assert found.sick and [s.name for s in found.symptoms] == ["stuck_at_trivial"]
    assert "ln 4" in found.symptoms[0].evidence and "no cause can be named" in found.symptoms[0].evidence


def test_a_finished_six_epoch_log_at_chance_on_every_epoch_is_stuck_however_short():
    # A paste from a thread: 6 epochs of a binary video classifier, loss and val_loss at ln 2 +-1%,
    # val_accuracy 0.5 but for one epoch. Too short for the progress tests (9 epochs); it never left chance.
    found = diagnose_curves({"loss": [0.6959, 0.6947, 0.6857, 0.6896, 0.6957, 0.6945],
                             "val_loss": [0.6947, 0.7013, 0.6876, 0.6928, 0.693, 0.6921],
                             "accuracy": [0.494, 0.519, 0.561, 0.549, 0.501, 0.516],
                             "val_accuracy": [0.5, 0.5, 0.5, 0.5, 0.56, 0.5]})
    assert _names(found) == ["stuck_at_trivial"] and "the first included" in found.symptoms[0].evidence
    # Four epochs are too few to say anything; and a short log that left chance is not stuck.
    assert diagnose_curves({"loss": [0.6959, 0.6947, 0.6857, 0.6896], "val_loss": [0.6947, 0.7013, 0.6876, 0.6928],
                            "val_accuracy": [0.5] * 4}).status == "healthy"
    left = diagnose_curves({"loss": [0.69, 0.61, 0.52, 0.45, 0.41, 0.38], "val_loss": [0.68, 0.60, 0.52, 0.47, 0.44, 0.42],
                            "val_accuracy": [0.5, 0.62, 0.7, 0.76, 0.79, 0.81]})
    assert "stuck_at_trivial" not in _names(left)


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


def test_keras_accuracy_metrics_logged_by_class_name_are_the_accuracy():
    frame = normalize_history({"loss": [1.0, 0.9], "sparse_categorical_accuracy": [0.5, 0.6],
                               "val_loss": [1.0, 0.95], "val_sparse_categorical_accuracy": [0.4, 0.5]})
    assert frame["accuracy"].tolist() == [0.5, 0.6] and frame["val_accuracy"].tolist() == [0.4, 0.5]
    assert "val_accuracy" in normalize_history({"loss": [1.0], "val_binary_accuracy": [0.5]})
    # another measure keeps its name; a column already under the doctor's name wins over an alias
    kept = normalize_history({"loss": [1.0], "top_k_categorical_accuracy": [1.0], "lr": [0.5], "learning_rate": [0.1]})
    assert "accuracy" not in kept and kept["learning_rate"].tolist() == [0.1]


def test_a_log_without_a_loss_is_refused_with_the_columns_it_has():
    with pytest.raises(ValueError, match="no 'loss' or 'val_loss' column \\(found accuracy\\)"):
        normalize_history({"accuracy": [0.5, 0.6]})


@pytest.mark.parametrize("columns, task", [(["loss", "val_accuracy"], "binary"), (["loss", "val_loss", "val_mae"], "regression")])
def test_the_task_is_read_from_the_column_names(columns, task):
    assert infer_task(normalize_history({name: [1.0, 0.5] for name in columns})) == task


# --- issue 19: noisy real logs, read against their own noise --------------------------

RNG = np.random.default_rng(7)


def _names(found) -> list[str]:
    return [s.name for s in found.symptoms]


def test_a_small_validation_sets_wobble_over_a_smooth_training_loss_is_healthy():
    """A digit CNN: the training loss falls smoothly, val_loss sits at 0.02 +- 0.01 (45 rows)."""
    loss = _falling(30, 1.6, 0.05)
    val = list(np.clip(0.02 + RNG.uniform(-0.01, 0.01, 30), 0.005, None))
    val[:6] = [2.1, 1.5, 0.8, 0.3, 0.1, 0.05]
    found = diagnose_curves({"loss": loss, "val_loss": val, "val_accuracy": [0.99] * 30})
    assert found.status == "healthy" and found.causes == []


def test_augmentation_keeps_the_training_loss_flat_above_a_falling_validation_loss():
    loss = [0.40 + 0.01 * ((-1) ** i) for i in range(25)]
    val = list(0.43 * (0.085 / 0.43) ** (np.arange(25) / 24))
    val = [v * (1 + 0.04 * ((-1) ** i)) for i, v in enumerate(val)]
    found = diagnose_curves({"loss": loss, "val_loss": val})
    assert "oscillation" not in _names(found)
    assert "learning_rate_too_high" not in [c.name for c in found.causes]


def test_a_short_regression_with_a_noisy_validation_loss_at_its_minimum_is_healthy():
    loss = [0.9, 0.3, 0.12, 0.08, 0.07, 0.066, 0.064, 0.063, 0.062, 0.061, 0.060, 0.060]
    val = [0.5, 0.15, 0.07, 0.061, 0.058, 0.055, 0.060, 0.057, 0.061, 0.056, 0.059, 0.057]
    assert diagnose_curves({"loss": loss, "val_loss": val, "val_mae": [0.2] * 12}).status == "healthy"


def test_stuck_at_chance_for_ten_classes_is_sick_and_says_why_no_cause_can_be_named():
    loss = [2.31 + 0.002 * ((-1) ** i) for i in range(50)]
    val = [2.3026 + 0.001 * ((-1) ** i) for i in range(50)]
    found = diagnose_curves({"loss": loss, "val_loss": val, "val_accuracy": [0.1] * 50})
    assert found.sick and _names(found)[0] == "stuck_at_trivial"
    assert found.causes or "no cause can be named" in found.symptoms[0].evidence
    assert any("ln 10" in note for note in found.not_checked)


def test_a_blow_up_then_a_flat_loss_is_diverged_and_blames_the_step():
    """3-class wine from a CSVLogger: a huge start, a spike to 385 at epoch 9, then 0.654 flat."""
    loss = [20751.0, 900.0, 120.0, 30.0, 8.0, 3.0, 1.5, 1.2, 385.0] + [0.654] * 10
    found = diagnose_curves({"loss": loss, "val_loss": [v * 1.01 for v in loss], "val_accuracy": [0.64] * 19})
    assert found.sick and _names(found)[0] == "diverged" and "blew up at epoch 9" in found.symptoms[0].evidence
    assert found.causes[0].name == "learning_rate_too_high"
    assert "learning_rate not logged" in found.causes[0].evidence and "nan" not in found.causes[0].evidence


def test_a_blow_up_in_the_first_epoch_then_chance_blames_the_step():
    loss = [17.78] + [2.323] * 24
    val = [17.68] + [2.335] * 24
    found = diagnose_curves({"loss": loss, "val_loss": val, "val_accuracy": [0.1022] + [0.1] * 24})
    assert _names(found)[0] == "stuck_at_trivial"
    assert found.causes[0].name == "learning_rate_too_high" and "7.7x the chance level" in found.causes[0].evidence


def test_a_loss_thrown_above_chance_that_never_got_below_its_start_blames_the_step():
    # SGD at 0.5 with momentum on a 4-class conv net: the loss rises 3% in its second epoch to 4.8%
    # above ln 4, comes back to just above its start and freezes there: nothing ever learned.
    loss = [1.4079, 1.4523, 1.4086, 1.4041, 1.4045] + [1.404447] * 10
    val = [1.3519, 1.4113, 1.3957, 1.3967] + [1.396633] * 11
    acc = [0.3567] + [0.24] * 14
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": [0.262, 0.273, 0.261] + [0.2686] * 12,
                             "val_accuracy": acc})
    assert _names(found)[0] == "stuck_at_trivial"
    assert found.causes[0].name == "learning_rate_too_high" and "above the chance level" in found.causes[0].evidence
    # AdamW's decay pulling a 6-class net's outputs to uniform: its loss rises, but only onto ln 6.
    decayed = [1.7849, 1.7914, 1.7919] + [1.79187] * 12
    shrunk = diagnose_curves({"loss": decayed, "val_loss": [1.7852, 1.7915] + [1.79185] * 13,
                              "accuracy": [0.412, 0.187] + [0.148] * 13, "val_accuracy": [0.4, 0.17] + [0.1667] * 13})
    assert not any("above the chance level" in c.evidence for c in shrunk.causes)


def test_a_constant_prediction_that_found_the_majority_class_after_a_blow_up_is_at_chance():
    # Plain SGD on raw wine features: epoch 1 blows up (41,000), then every row gets one class. The
    # accuracy jumps from a minority's share (0.27) to the majority's (0.40) once, then never moves:
    # no row's prediction flips, so that rise is no learning, and the loss sits at ln 3.
    loss = [40970.0, 1.103, 1.1, 1.096, 1.093, 1.091] + [1.089] * 34
    val = [1.103, 1.1, 1.096, 1.092, 1.09, 1.089] + [1.088] * 34
    acc = [0.3459, 0.2707, 0.2707] + [0.3985] * 37
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": acc, "val_accuracy": [0.2667] * 2 + [0.4] * 38})
    assert _names(found)[0] == "stuck_at_trivial"
    assert found.causes[0].name == "learning_rate_too_high" and "blow-up within the first epoch" in found.causes[0].evidence
    # A network whose accuracy keeps changing after such a rise learned something: no chance level is pinned.
    moving = [0.3459, 0.2707, 0.2707] + [0.40 + 0.002 * (i % 3) for i in range(37)]
    learned = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": moving, "val_accuracy": moving})
    assert not any("chance level, read from the log" in line for line in learned.not_checked)


def test_a_loss_still_falling_fast_at_the_end_is_slow_convergence_with_too_few_epochs():
    found = diagnose_curves({"loss": [1.84, 1.23, 0.90, 0.77, 0.69, 0.61], "val_loss": [2.19, 2.09, 1.93, 1.69, 1.38, 1.05],
                             "val_accuracy": [0.47, 0.6, 0.65, 0.78, 0.89, 0.93]})
    assert _names(found) == ["slow_convergence"] and found.causes[0].name == "too_few_epochs"


def test_memorizing_at_chance_points_to_data_without_signal():
    """Shuffled labels: the training loss falls below ln 2, val_loss never once gets below it."""
    loss = list(np.linspace(0.7095, 0.5966, 17))
    val = list(np.linspace(0.7036, 0.7292, 17))
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": list(np.linspace(0.5, 0.69, 17)),
                             "val_accuracy": [0.535] + [0.5] * 16})
    assert _names(found)[0] == "stuck_at_trivial" and found.causes[0].name == "no_learnable_signal"


def test_a_validation_loss_climbing_from_epoch_1_above_chance_points_to_data_without_signal():
    """A market-direction MLP: the training loss at ln 2 still falls a little, val_loss climbs from
    its first epoch and never once gets below ln 2, the accuracy at chance. A signal would have
    lowered val_loss first (patterns before noise)."""
    rng = np.random.default_rng(7)
    n = 21
    loss = [0.697 - 0.0005 * i + rng.normal(0, 0.002) for i in range(n)]
    val = [0.703 * np.exp(0.007 * i + rng.normal(0, 0.008)) for i in range(n)]
    val[0] = 0.703
    accuracy = [0.5 + rng.normal(0, 0.015) for _ in range(n)]
    history = {"loss": loss, "val_loss": val, "accuracy": accuracy, "val_accuracy": accuracy}
    found = diagnose_curves(history)
    assert _names(found)[0] == "stuck_at_trivial" and found.causes[0].name == "no_learnable_signal"
    assert "climbed from its first epoch" in found.causes[0].evidence
    # A training loss that does not fall fits nothing of its rows: nothing memorized, no such reading.
    flat = diagnose_curves({**history, "loss": [0.6935 + rng.normal(0, 0.002) for _ in range(n)]})
    assert "no_learnable_signal" not in [c.name for c in flat.causes]
    # Nor while the training loss is still far above chance (a first descent not over), 3 classes.
    early = {"loss": list(np.linspace(2.37, 1.79, n)), "val_loss": [1.39 * np.exp(0.03 * i) for i in range(n)],
             "accuracy": [0.30] * n, "val_accuracy": [0.29 + 0.001 * (i % 3) for i in range(n)]}
    assert "no_learnable_signal" not in [c.name for c in diagnose_curves(early).causes]


def test_a_run_that_barely_moved_but_still_falls_at_the_end_has_only_begun_its_first_descent():
    """A binary CNN at ln 2 to four digits for ten epochs, whose loss then starts to fall faster
    and faster; its validation loss, on a small split, wobbles down with it. 2% below epoch 1 at
    the end, still moving: not converged, whatever its level."""
    rng = np.random.default_rng(11)
    train = [0.6932] * 10 + [0.6925, 0.6921, 0.6908, 0.6886, 0.6863, 0.6827, 0.6777, 0.6740]
    val = [0.6931] * 10 + [0.6911, 0.6918, 0.6935, 0.6836, 0.6903, 0.6735, 0.6769, 0.6699]
    val = [v + rng.normal(0, 3e-4) for v in val]
    found = diagnose_curves({"loss": train, "val_loss": val})
    assert found.sick and _names(found) == ["slow_convergence"]
    assert "first descent began" in found.symptoms[0].evidence and found.causes
    # A training loss 10% below its first epoch has learned: a wobbling validation loss near its start is no slow start.
    learned = [0.80 * (0.86 + 0.14 * np.exp(-i / 2)) for i in range(18)]
    assert diagnose_curves({"loss": learned, "val_loss": val}).status == "healthy"
    # Nor is one whose training loss no longer falls beyond its noise at the end.
    settled = train[:13] + [0.6908 + rng.normal(0, 4e-4) for _ in range(5)]
    assert "first descent began" not in " ".join(s.evidence for s in diagnose_curves({"loss": settled, "val_loss": val}).symptoms)


def test_a_crawl_too_noisy_for_its_last_six_epochs_is_read_since_the_warm_up():
    """A cats-and-dogs CNN (public log, augmentation, batch 20) crawling from ln 2: the training loss
    falls 0.2% per epoch in 0.7% of batch noise, which its last 6 epochs alone cannot show; read
    since the warm-up it falls beyond its noise, and the end keeps that pace."""
    train = [0.7193, 0.6947, 0.6871, 0.6872, 0.69, 0.685, 0.6849, 0.6863, 0.685, 0.678, 0.6882, 0.6765, 0.6745, 0.6646, 0.6728]
    val = [0.7069, 0.686, 0.6783, 0.6833, 0.6896, 0.6856, 0.6808, 0.6835, 0.662, 0.6566, 0.6547, 0.6858, 0.6607, 0.6524, 0.6486]
    assert not noise.trend(np.array(train[-6:])).falls  # the premise: the end alone is within its noise
    found = diagnose_curves({"loss": train, "val_loss": val})
    assert found.sick and _names(found) == ["slow_convergence"], [(s.name, s.evidence) for s in found.symptoms]
    assert "over 12 epochs" in found.symptoms[0].evidence and found.causes[0].name == "learning_rate_too_low"
    # No rate in the log: the evidence says so, and does not call an unknown rate usual.
    assert "learning_rate not logged" in found.causes[0].evidence
    assert "nan" not in found.causes[0].evidence and "usual range" not in found.causes[0].evidence
    # The same wobble around a level that does not fall is no crawl.
    wobble = [0.001, -0.002, 0.002, -0.001, 0.0, 0.003, -0.003, 0.001, -0.002, 0.002, 0.0, -0.001, 0.001]
    level = train[:2] + [0.686 + w for w in wobble]
    assert "first descent began" not in " ".join(s.evidence for s in diagnose_curves({"loss": level, "val_loss": val}).symptoms)


def _cut_schedule(frozen_from: int | None = None):
    """ReduceLROnPlateau from 1e-3 down to 1e-6; each epoch the loss closes a share of its gap to a
    floor of 0.45 proportional to the rate (a step is the rate times the gradient), unless it was
    already settled ``frozen_from`` on."""
    rates = [1e-3] * 4 + [2.5e-4] * 9 + [6.25e-5] * 3 + [1.5625e-5] * 3 + [3.9e-6] * 3 + [1e-6] * 13
    loss, level = [], 0.551
    for epoch, rate in enumerate(rates):
        if frozen_from is None or epoch < frozen_from:
            level -= 5.0 * rate * (level - 0.45)
        loss.append(level)
    return rates, loss


def test_a_stall_under_a_rate_cut_a_hundredfold_while_the_loss_still_fell_is_a_rate_too_low():
    rates, loss = _cut_schedule()
    history = {"loss": loss, "val_loss": [v + 0.022 for v in loss], "learning_rate": rates}
    found = diagnose_curves(history)
    assert found.sick and _names(found)[0] == "plateau"
    assert found.causes[0].name == "learning_rate_too_low" and "the steps were cut" in found.causes[0].evidence
    # The same schedule over a loss that had settled before the cut: the cut found its floor, it is no cause.
    rates, settled = _cut_schedule(frozen_from=8)
    later = diagnose_curves({**history, "loss": settled, "val_loss": [v + 0.022 for v in settled]})
    assert later.sick and not any("the steps were cut" in c.evidence for c in later.causes)


def test_an_accuracy_frozen_from_epoch_1_under_a_falling_loss_is_an_output_that_cannot_move():
    """Softmax on one unit: the output is always 1, the accuracy is the positives' share."""
    loss = [0.52, 0.27, 0.17, 0.13, 0.10, 0.087, 0.075, 0.066, 0.059, 0.053, 0.048, 0.044, 0.040]
    val = [0.37, 0.24, 0.18, 0.14, 0.12, 0.11, 0.107, 0.104, 0.103, 0.103, 0.104, 0.104, 0.105]
    found = diagnose_curves({"loss": loss, "val_loss": val, "accuracy": [0.6264] * 13, "val_accuracy": [0.6316] * 13})
    assert _names(found)[0] == "stuck_at_trivial" and found.causes[0].name == "output_activation_mismatch"


def test_a_loss_frozen_at_the_clip_times_the_error_rate_is_a_pinned_output():
    found = diagnose_curves({"loss": [5.794] * 40, "accuracy": [0.6429] * 40})
    assert found.sick and found.causes[0].name == "output_activation_mismatch"
    assert "16.12 nats" in found.causes[0].evidence


def test_a_loss_creeping_down_at_a_steady_pace_from_epoch_1_blames_the_step_size():
    loss = [1.78 - 0.0017 * i for i in range(30)]
    found = diagnose_curves({"loss": loss, "mae": [1.26] * 30})
    assert found.sick and found.causes[0].name == "learning_rate_too_low" and "steady pace" in found.causes[0].evidence


def test_a_spike_that_came_back_to_its_best_and_keeps_moving_is_not_a_blow_up():
    tail = np.array(_falling(10, 0.06, 0.045)) * (1 + 0.02 * RNG.standard_normal(10))
    loss = _falling(15, 1.0, 0.05) + [0.6] + list(tail)
    found = diagnose_curves({"loss": loss, "val_loss": [v * 1.1 for v in loss]})
    assert "diverged" not in _names(found)


def test_a_regression_log_with_an_exact_match_accuracy_of_zero_is_not_stuck():
    loss = _falling(20, 3.9, 0.4)
    found = diagnose_curves({"loss": loss, "val_loss": [v * 1.2 for v in loss], "accuracy": [0.0] * 20,
                             "val_accuracy": [0.0] * 20})
    assert "stuck_at_trivial" not in _names(found)


def test_a_training_loss_that_settles_smoothly_at_chance_names_the_gradient_then_the_size():
    """A linear model on two circles: both losses slide onto ln 2 and stay; it cannot fit even
    its training rows better than the prior. A deep sigmoid net whose gradient vanishes draws
    the same curve (corpus own_deep_sigmoid), and more nets are deep than are this small: the
    gradient is named first, the size second, and grad_ratio_first_last would tell them apart."""
    loss = [0.7164, 0.7058, 0.6997, 0.6962, 0.6945, 0.6936, 0.6933, 0.6931, 0.6931, 0.6930, 0.6930, 0.6930]
    val = [0.7484, 0.7322, 0.7205, 0.7126, 0.7073, 0.7039, 0.7017, 0.7003, 0.6995, 0.6989, 0.6986, 0.6984]
    found = diagnose_curves({"loss": loss, "val_loss": val, "val_accuracy": [0.39, 0.39, 0.41, 0.41] + [0.4] * 8,
                             "learning_rate": [0.01] * 12})
    assert _names(found)[0] == "stuck_at_trivial"
    assert [c.name for c in found.causes[:2]] == ["vanishing_gradients", "insufficient_capacity"]
    assert "not confirmed: the log lacks grad_ratio_first_last" in found.causes[0].evidence


def _setup(**changes):
    from plateau_doctor.schema import ResolvedSetup

    values = dict(task="regression", n_classes=0, output_units=1, output_activation="relu", loss="mse",
                  hidden_units=[32], hidden_activation="relu", kernel_initializer="glorot_uniform",
                  optimizer="adam", learning_rate=1e-3, batch_size=32)
    values.update(changes)
    return ResolvedSetup(**values)


def test_a_set_up_read_from_the_model_is_checked_as_the_pipeline_checks_it_before_training():
    from plateau_doctor.schema import DataAudit

    # A ReLU output on a target that is negative for a third of the rows: the loss falls and then
    # stands still far above zero; nothing in the curves says that half the outputs are clipped.
    loss = list(0.45 + 0.55 * np.exp(-np.arange(20) / 2.0))
    history = {"loss": loss, "val_loss": [v + 0.02 for v in loss], "val_r2": [0.98 - v for v in loss]}
    audit = DataAudit.unknown("regression", target_mean=0.3, target_std=1.0, scaled_target=False,
                              trivial_val_loss=1.0, trivial_metrics={"val_r2": 0.0},
                              reference_val_loss=0.2, reference_metrics={"val_r2": 0.8}, reference_model="ridge")
    found = diagnose_curves(history, audit=audit, setup=_setup())
    assert found.sick and found.causes[0].name == "output_activation_mismatch"
    assert "relu" in found.causes[0].evidence and "-0.7" in found.causes[0].evidence
    # The same curves with a linear output: no mismatch to name.
    linear = diagnose_curves(history, audit=audit, setup=_setup(output_activation="linear"))
    assert "output_activation_mismatch" not in [c.name for c in linear.causes]
    # A bare log has no set-up: the activation is unknown and never blamed from the set-up.
    bare = diagnose_curves(history)
    assert "output_activation_mismatch" not in [c.name for c in bare.causes]


def test_a_sick_fit_without_a_cause_says_why_in_the_words_of_where_it_was_read():
    from plateau_doctor.engine.log_doctor import _say_why_no_cause
    from plateau_doctor.schema import Finding

    frame = normalize_history({"loss": [1.0, 0.9, 0.9], "val_loss": [1.0, 0.95, 0.95], "grad_norm": [1.0, 1.0, 1.0]})
    stuck = [Finding("symptom", "plateau", 0.8, "val_loss flat")]
    bare = _say_why_no_cause(stuck, frame, _setup())[0].evidence
    assert "the log lacks" in bare and "DoctorCallback records them" in bare
    watched = _say_why_no_cause(stuck, frame, _setup(), watched=True)[0].evidence
    assert "meet no cause's rule" in watched and "DoctorCallback" not in watched
    assert "not recorded: " in watched and "grad_norm" not in watched.split("not recorded: ")[1]

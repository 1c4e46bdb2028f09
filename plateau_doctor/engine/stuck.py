"""The ``stuck_at_trivial`` symptom: a network no better than the trivial predictor, by its
loss, its metric or both. Pure: numpy only."""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.curve_math import column, fmt, pct, recent_mean, relative_improvement, series, smoothed_progress
from plateau_doctor.engine.levels import (
    COLLAPSE_SHARE,
    NO_SIGNAL_R2,
    chance_balanced_accuracy,
    chance_margin,
    is_classification,
    loss_in_audit_scale,
    metric_value,
    reference_has_signal,
)
from plateau_doctor.engine.run_view import Run, symptom
from plateau_doctor.schema import DataAudit, Finding

CHANCE_MARGIN = 0.02
"""Balanced accuracy within 0.02 of 1/k is chance level: a collapsed classifier scores
exactly 1/k, and a validation split of a few hundred rows moves it by about this much."""

ERROR_PER_LOSS = 4.0
"""A row the accuracy counts wrong costs at least ln 2 under cross-entropy (its probability is
at most 1/2) and at least 1/4 under squared error or hinge: whatever the loss, the error rate
is at most 4x the loss. An accuracy that counts more errors than that does not read the
outputs the loss trains."""

MEANINGFUL_ACCURACY = 0.02
"""A constant classifier scores one class' share; an accuracy under 2% (a class of 1 in 50) is
the exact-match accuracy a regression log sometimes carries, which says nothing."""

LOSS_FELL = 0.2
"""A loss that fell 20% or more below its first epoch has moved the outputs (as
``causes.readings.FLAT_FROM_START``)."""

FAR_ABOVE_TRIVIAL = 3.0
"""A loss at 3x the trivial loss or more is beyond where a fan-scaled network starts (near ln k,
falling during its first epoch): the outputs' scale went far wrong (``log_readings.BLOWN_START``)."""

TRIVIAL_R2 = 0.05
"""An r2 at or below 0.05 explains no more than 5% of the target's variance: the network
predicts a constant, the regression's trivial predictor."""


def _reference_reaches(value: float) -> str:
    """What the reference model reaches, for evidence; nothing when no reference was fitted (a log)."""
    return f"; the reference model reaches {fmt(value)}" if math.isfinite(value) else ""


def _trivial_kind(audit: DataAudit) -> str:
    return "prior entropy" if is_classification(audit.task) else "target variance"


def _at_trivial_by_loss(run: Run) -> str | None:
    """The last ``patience`` epochs of val_loss all within ``trivial_tolerance`` of the trivial loss."""
    trivial = run.audit.trivial_val_loss
    if not loss_in_audit_scale(run.setup) or not math.isfinite(trivial) or trivial <= 0:
        return None
    tail = run.level[-run.patience:]
    distance = np.abs(tail - trivial) / trivial
    if not np.all(distance <= run.detection.trivial_tolerance):
        return None
    return (
        f"{run.level_name} {fmt(float(tail.mean()))} over epochs {run.window} is within"
        f" {pct(float(distance.max()))} of the trivial loss {fmt(trivial)} ({_trivial_kind(run.audit)})"
        f"{_reference_reaches(run.audit.reference_val_loss)}"
    )


def class_metric(run: Run) -> tuple[str, np.ndarray | None, float]:
    """The validation metric a classifier is judged by, its values and its chance level:
    balanced accuracy (chance 1/k); in a log without it, plain accuracy against the chance
    accuracy the log pinned (``chance.read_chance``: 1/k, or a majority share)."""
    values = series(run.history, "val_balanced_accuracy")
    chance = metric_value(run.audit.trivial_metrics, "val_accuracy")
    if values is None and math.isfinite(chance) and series(run.history, "val_accuracy") is not None:
        return "val_accuracy", series(run.history, "val_accuracy"), chance
    return "val_balanced_accuracy", values, chance_balanced_accuracy(run.audit)


def _at_trivial_by_metric(run: Run) -> str | None:
    """The last ``patience`` epochs of the validation metric all at the trivial predictor's level."""
    if is_classification(run.audit.task):
        name, values, chance = class_metric(run)
        if values is None or len(values) < run.patience or not np.all(values[-run.patience:] <= chance + CHANCE_MARGIN):
            return None
        reference = metric_value(run.audit.reference_metrics, name)
        level = f"1/k = {fmt(chance)}" if name == "val_balanced_accuracy" else f"a constant prediction's {fmt(chance)}"
        return (
            f"{name} {fmt(float(np.max(values[-run.patience:])))} or less over epochs {run.window}"
            f" is at chance ({level}){_reference_reaches(reference)}"
        )
    values = series(run.history, "val_r2")
    if values is None or len(values) < run.patience or not np.all(values[-run.patience:] <= TRIVIAL_R2):
        return None
    reference = metric_value(run.audit.reference_metrics, "val_r2")
    return (
        f"val_r2 {fmt(float(np.max(values[-run.patience:])))} or less over epochs {run.window} explains no more"
        f" than a constant prediction (r2 <= {TRIVIAL_R2:g}){_reference_reaches(reference)}"
    )


def _no_better_than_trivial(run: Run) -> str | None:
    """val_loss at or above the trivial loss for ``patience`` epochs, and the metric near the
    trivial predictor's: a net that memorizes noise generalizes no better than the prior,
    even while its val_loss wanders above it. (An overconfident net can have a val_loss
    above the trivial loss too, but its metric is far from chance.)"""
    trivial = run.audit.trivial_val_loss
    if not loss_in_audit_scale(run.setup) or not math.isfinite(trivial) or trivial <= 0:
        return None
    tail = run.level[-run.patience:]
    if not np.all(tail >= trivial * (1.0 - run.detection.trivial_tolerance)):
        return None
    if is_classification(run.audit.task):
        name, values, trivial_metric = class_metric(run)
        margin = chance_margin(run.audit)
    else:
        name, trivial_metric, margin = "val_r2", 0.0, NO_SIGNAL_R2
        values = series(run.history, name)
    value = recent_mean(values, run.patience)
    if not value <= trivial_metric + margin:
        return None
    return (
        f"{run.level_name} {fmt(float(tail.mean()))} over epochs {run.window} is no better than the trivial loss"
        f" {fmt(trivial)} ({_trivial_kind(run.audit)}) and {name} {fmt(value)} is within {fmt(margin)} of"
        f" the trivial predictor's {fmt(trivial_metric)}"
    )


def contradicted_accuracy(history) -> str | None:
    """An accuracy that counts more wrong rows than its loss allows (``ERROR_PER_LOSS``), on
    the validation or the training split, for evidence; else None."""
    for loss_name, accuracy_name in (("val_loss", "val_accuracy"), ("loss", "accuracy")):
        loss, accuracy = recent_mean(series(history, loss_name), 1), recent_mean(series(history, accuracy_name), 1)
        if loss > 0 and 1.0 - accuracy > ERROR_PER_LOSS * loss:
            return (
                f"{loss_name} {fmt(loss)} allows at most {pct(min(1.0, ERROR_PER_LOSS * loss))} wrong rows (each costs"
                f" >= 1/4 under squared error or hinge, >= ln 2 under cross-entropy), yet {accuracy_name}"
                f" {fmt(accuracy)} counts {pct(1.0 - accuracy)} wrong"
            )
    return None


def _constant_metric_under_a_falling_loss(run: Run) -> str | None:
    """Every logged accuracy unchanged since epoch 1 (below 1) while the loss fell by
    ``LOSS_FELL`` or more, and the accuracy contradicted by the loss: the predictions the
    metric reads are a constant, whatever the loss trains."""
    constant = []
    for name in ("val_accuracy", "accuracy"):
        values = column(run.history, name)
        if values is None:
            continue
        if values.size < 2 or not np.all(np.isfinite(values)) or float(np.ptp(values)) > 0:
            return None
        if not MEANINGFUL_ACCURACY <= values[0] < 1.0:
            return None  # perfect, or an exact-match accuracy on a continuous target (a regression's)
        constant.append(f"{name} {fmt(float(values[0]))}")
    fell = relative_improvement(float(run.progress[0]), float(run.progress[-1])) if np.all(np.isfinite(run.progress)) else 0.0
    contradiction = contradicted_accuracy(run.history)
    if not constant or fell < LOSS_FELL or contradiction is None:
        return None
    return (
        f"{' and '.join(constant)} never changed from epoch 1 to {run.n_epochs} while {run.progress_name} fell"
        f" {pct(fell)} ({fmt(float(run.progress[0]))} -> {fmt(float(run.progress[-1]))}); {contradiction}: the"
        " predictions the metric reads are a constant"
    )


def _metric_beats_trivial(run: Run) -> bool:
    """The recent validation metric is clearly above the trivial predictor's: balanced
    accuracy beyond :func:`chance_margin` of chance, or r2 above ``NO_SIGNAL_R2``. False
    when the metric was not recorded."""
    if is_classification(run.audit.task):
        _, values, chance = class_metric(run)
        return recent_mean(values, run.patience) > chance + chance_margin(run.audit)
    return recent_mean(series(run.history, "val_r2"), run.patience) > NO_SIGNAL_R2


def generalized_once(run: Run) -> str | None:
    """The validation metric was clearly above the trivial predictor's at some epoch (its best):
    the network learned what generalizes before it ended at the trivial level. None when it never
    did, or the metric was not recorded."""
    if is_classification(run.audit.task):
        name, values, trivial = class_metric(run)
        margin = chance_margin(run.audit)
    else:
        name, values, trivial, margin = "val_r2", series(run.history, "val_r2"), 0.0, NO_SIGNAL_R2
    finite = values[np.isfinite(values)] if values is not None else np.array([])
    if finite.size == 0 or not float(np.max(finite)) > trivial + margin:
        return None
    best = int(np.nanargmax(values))
    return f"{name} reached {fmt(float(values[best]))} at epoch {best + 1}, clearly above the trivial {fmt(trivial)}"


def _collapsed_predictions(run: Run) -> str | None:
    share = recent_mean(series(run.history, "pred_majority_share"), run.patience)
    if not share >= COLLAPSE_SHARE:
        return None
    return f"{pct(share)} of validation predictions are one class (collapsed, >= {pct(COLLAPSE_SHARE)})"


def _descending_onto_trivial(run: Run) -> str | None:
    """The validation loss still falls, but on every one of the last ``patience`` epochs it is at
    :data:`FAR_ABOVE_TRIVIAL` times the trivial loss or more, a level no fan-scaled network starts
    at: its outputs are far too large or too sure (a blown step, a huge initial scale), and coming
    down from there is the outputs shrinking toward the prior, no progress while the task metric
    stays at chance. (Between the two, a net on imbalanced classes that starts at ln 2 above the
    prior's entropy and first learns the prior is a slow start.) None when the trivial loss is not
    known in the loss' scale."""
    trivial = run.audit.trivial_val_loss
    if not loss_in_audit_scale(run.setup) or not math.isfinite(trivial) or trivial <= 0:
        return None
    tail = run.level[-run.patience:]
    if not np.all(tail >= FAR_ABOVE_TRIVIAL * trivial):
        return None
    return (f"{run.level_name} still falls, but from above the trivial loss {fmt(trivial)} ({fmt(float(np.min(tail)))}"
            f" at its lowest there, {float(np.min(tail)) / trivial:.3g}x): outputs too large or too sure shrinking"
            " toward the prior, not learning, while the metric stays at chance")


def stuck_at_trivial(run: Run) -> Finding | None:
    """No validation progress for ``patience`` epochs after the warm-up, at the trivial
    predictor's level.

    The level is read from the loss (when in the audit's scale), from the metric (balanced
    accuracy at chance, r2 ~ 0), or from both (no better than trivial), so a mismatched
    loss with its own scale is still caught. No progress of the smoothed validation loss
    is required, so that a run that starts at the trivial level and then learns is never
    stuck; it is waived only when the predictions have collapsed onto one class while the
    loss is in another scale than the audit's (e.g. softmax on one unit: Keras trains the
    logits, the predictions never move).

    The loss alone does not make a run stuck when its metric is clearly above the trivial
    predictor's: cross-entropy is unbounded, and the val_loss of an overfitting or
    overconfident net climbs through the trivial level (and may linger there) while it
    still classifies well.
    """
    if not run.ready:
        return None
    frozen = _constant_metric_under_a_falling_loss(run)
    if frozen is not None:
        return symptom("stuck_at_trivial", 0.7, frozen)
    by_loss, by_metric = _at_trivial_by_loss(run), _at_trivial_by_metric(run)
    if by_loss is not None and by_metric is None and _metric_beats_trivial(run):
        by_loss = None
    levels = [text for text in (by_loss, by_metric) if text is not None]
    if not levels:
        no_better = _no_better_than_trivial(run)
        levels = [no_better] if no_better is not None else []
    if not levels:
        return None
    collapsed = _collapsed_predictions(run) if is_classification(run.audit.task) else None
    progress = smoothed_progress(run.level, run.detection)
    moving = progress >= run.detection.min_delta
    predictions_frozen = collapsed is not None and by_metric is not None and not loss_in_audit_scale(run.setup)
    descending = _descending_onto_trivial(run) if moving and by_metric is not None else None
    if moving and not predictions_frozen and descending is None:
        return None
    parts = [*levels, *([collapsed] if collapsed is not None else [])]
    parts.append(
        f"smoothed {run.level_name} improved {pct(progress)} over the last {run.patience} epochs"
        f" (progress needs >= {pct(run.detection.min_delta)})"
    )
    if descending is not None:
        parts.append(descending)
    elif moving:
        parts.append("the loss is in another scale than the trivial loss and moves; the predictions do not")
    if reference_has_signal(run.audit):
        confidence = 0.7 + 0.1 * (len(levels) > 1) + 0.1 * (collapsed is not None)
    else:
        confidence = 0.6
        parts.append(
            "the reference model does no better than the trivial predictor either:"
            " the data may hold no learnable signal"
        )
    return symptom("stuck_at_trivial", confidence, "; ".join(parts))


def at_trivial_without_signal(run: Run) -> Finding | None:
    """A network at chance on data where the reference is at chance too is not healthy, however short or flat.

    It "converged" to the trivial predictor; with no signal in the data that is the
    finding (``no_learnable_signal`` names the cause), not a healthy run.
    """
    if reference_has_signal(run.audit):
        return None
    if is_classification(run.audit.task):
        name, level = "val_balanced_accuracy", chance_balanced_accuracy(run.audit) + chance_margin(run.audit)
    else:
        name, level = "val_r2", NO_SIGNAL_R2
    values = series(run.history, name)
    if values is None or not len(values) or not math.isfinite(float(values[-1])) or float(values[-1]) > level:
        return None
    return symptom(
        "stuck_at_trivial",
        0.6,
        f"{name} {fmt(float(values[-1]))} at the last epoch is no better than a constant prediction"
        f" (<= {fmt(level)}), and the reference model does no better than the trivial predictor either:"
        " the data may hold no learnable signal",
    )


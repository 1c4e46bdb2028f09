"""unscaled_target: a raw regression target whose scale hurts. Pure.

Judged by its effect: on the step (with a plain-gradient optimizer, learning_rate x E[y^2]
far above 2 cannot be stable, ``readings.STABLE_STEP``), on the start (a network
initialized to output about 0 whose first epochs' loss is several times the trivial loss
starts far from a target with a large offset, and must spend its steps moving the output
there), and by its size (a std or a mean in the hundreds). In a bare log, where the target was
not seen, by the scale of the first loss (``RAW_SCALE_LOSS``). Treated by standardizing the
target (regression only).
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.causes.log_readings import bare_log
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import (
    STALLED,
    STEP_LOAD_SEVERE,
    UNDERFIT,
    UNSTABLE,
    Case,
    make_cause,
    step_words,
    target_moment,
    unstable_by_scale,
)
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.engine.levels import RAW_SCALE_LOSS, first_loss, loss_in_audit_scale
from plateau_doctor.schema import Finding

TARGET_STD_HIGH = 100.0
"""A raw regression target with std above 100 makes the MSE and its gradients 1e4x larger
than with a standardized target, and the output bias must travel that far."""

TARGET_MEAN_TO_STD = 10.0
TARGET_MEAN_HIGH = 100.0
"""...and so does a target far from 0 (|mean| > 100 and > 10 std): the net starts ~0."""

TARGET_SCALE_SEVERE = 1e3


START_FAR = 3.0
"""A network initialized to output about 0 scores E[y^2] = mean^2 + var at first; the trivial
predictor (the mean) scores var. The lowest loss of the warm-up epochs still at 3x the
trivial loss means the output has not reached the target's offset (|mean| > 1.4 std) even
after the first epochs' steps."""


def _raw_scale_in_a_log(case: Case) -> Finding | None:
    """A bare regression log whose first loss is on the scale of an unscaled target (``RAW_SCALE_LOSS``)."""
    first = first_loss(case.signal("loss"))
    if not first >= RAW_SCALE_LOSS:
        return None
    return make_cause(
        "unscaled_target",
        0.6,
        f"the first epoch's training loss is {fmt(first)}: a network starts with outputs near 0, so its"
        f" first losses are about E[y^2] under squared error (E|y| under absolute error), and from"
        f" {fmt(RAW_SCALE_LOSS)} the target's scale is 100 or more (a standardized target starts near 1); the"
        f" curves show {case.shown(UNDERFIT + UNSTABLE)}",
    )


def start_ratio(case: Case) -> float:
    """The lowest training loss of the warm-up epochs over the trivial loss; NaN when the loss
    is not in the audit's scale (MSE on the raw target) or not recorded."""
    trivial = case.audit.trivial_val_loss
    loss = case.signal("loss")
    if loss is None or not loss_in_audit_scale(case.setup) or not math.isfinite(trivial) or trivial <= 0:
        return math.nan
    first = loss[: max(1, case.detection.start_from_epoch)]
    first = first[np.isfinite(first)]
    return float(first.min() / trivial) if first.size else math.nan


def standardize_target(finding: Finding, context: TreatmentContext) -> Treatment | None:
    if context.setup.task != "regression":
        return None
    return Treatment({"preprocessing.scale_target": True}, "standardize the target")


@register(
    "unscaled_target",
    rank=50,
    words=(
        "The regression target is large in scale or far from zero, so the loss and its gradients are "
        "dominated by its size rather than its pattern, and the output must travel far from where it starts."
    ),
    remedies=("preprocessing",),
    treatments={"preprocessing": standardize_target},
    search_prior=(Narrowing.SCALED_TARGET,),
)
def unscaled_target(case: Case) -> Finding | None:
    """A raw regression target whose scale hurts: large, offset, a plain-gradient step it
    makes unstable (and a standardized target would not), or a start far above the trivial
    loss that its offset explains. A target whose scale is normal never ranks as the cause."""
    audit = case.audit
    if audit.task != "regression" or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    if bare_log(case):
        return _raw_scale_in_a_log(case)
    if audit.scaled_target:
        return None
    moment = target_moment(audit, case.setup)
    if moment is None:
        return None
    mean, std = audit.target_mean, audit.target_std
    offset = abs(mean) > TARGET_MEAN_HIGH and abs(mean) > TARGET_MEAN_TO_STD * std
    unstable = unstable_by_scale(moment, case.setup)
    start = start_ratio(case)
    # A far start is the target's doing only when a zero output itself starts far above the
    # trivial loss: E[y^2] / var = 1 + mean^2 / var >= START_FAR. A centred target starts at
    # the trivial loss, so its far start is some other cause's (a blow-up, large weights).
    offset_start = std > 0 and 1.0 + (mean / std) ** 2 >= START_FAR
    far_start = start >= START_FAR and offset_start
    if not (std > TARGET_STD_HIGH or offset or unstable or far_start):
        return None
    severe = std > TARGET_SCALE_SEVERE or abs(mean) > TARGET_SCALE_SEVERE or (
        unstable and moment.step_load > STEP_LOAD_SEVERE
    )
    confidence = 0.55 + 0.2 * severe + 0.1 * case.has(*STALLED) + 0.15 * (unstable and case.has(*UNSTABLE))
    confidence += 0.1 * far_start
    parts = [
        f"the regression target is not scaled (preprocessing.scale_target is off): mean {fmt(mean)}, std {fmt(std)}"
    ]
    if std > TARGET_STD_HIGH:
        parts.append(f"its std is above {fmt(TARGET_STD_HIGH)}")
    if offset:
        parts.append(f"|mean| is above {fmt(TARGET_MEAN_HIGH)} and {fmt(TARGET_MEAN_TO_STD)} std: an offset to travel")
    if unstable:
        parts.append(step_words(moment, case))
    if far_start:
        parts.append(
            f"the lowest loss of the first {max(1, case.detection.start_from_epoch)} epoch(s) is {fmt(start)}x the"
            f" trivial loss {fmt(audit.trivial_val_loss)} (the target's variance): the output starts near 0 and"
            f" has not reached the target's mean {fmt(mean)}"
        )
    parts.append(f"the curves show {case.shown(UNDERFIT + UNSTABLE)}")
    return make_cause("unscaled_target", confidence, "; ".join(parts))

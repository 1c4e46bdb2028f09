"""class_imbalance: a dominant class the network collapses onto. Pure.

Treated by weighting the classes by inverse frequency, or, when weights are already on,
by oversampling the rare classes instead: both together would over-correct toward them.
Classification only.
"""

from __future__ import annotations

import math

from plateau_doctor.engine.causes.log_readings import at_chance, bare_log
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import UNDERFIT, Case, make_cause
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt, pct
from plateau_doctor.engine.levels import (
    BALANCED_ACCURACY_GAP, COLLAPSE_SHARE, chance_balanced_accuracy, is_classification, metric_value,
)
from plateau_doctor.schema import Finding

IMBALANCE_SHARE = 0.6
"""Imbalanced when the majority class holds 60% of the way from uniform (1/k) to
everything: 0.8 for binary, 0.73 for 3 classes, 0.64 for 10."""

IMBALANCE_SEVERE = 0.9

COLLAPSED_BALANCED_ACCURACY_MARGIN = 0.05
"""A balanced accuracy within 0.05 of chance is what a majority-only classifier scores."""

REFERENCE_BEATS_CHANCE = 0.1
"""The reference model's balanced accuracy 0.1 above chance: the minority is learnable."""


def rebalance(finding: Finding, context: TreatmentContext) -> Treatment | None:
    """Class weights first, since they keep the data as they are; oversampling once weights are on."""
    if not is_classification(context.setup.task):
        return None
    preprocessing = context.config.preprocessing
    if preprocessing.class_weight == "balanced" and preprocessing.resample != "oversample":
        overrides = {"preprocessing.class_weight": "none", "preprocessing.resample": "oversample"}
        return Treatment(overrides, "oversample the minority classes instead of weighting them")
    overrides = {"preprocessing.class_weight": "balanced", "preprocessing.resample": "none"}
    return Treatment(overrides, "weight the classes by inverse frequency")


@register(
    "class_imbalance",
    rank=70,
    words=(
        "One class dominates, so always predicting it already gives a low loss and the rare "
        "classes get ignored."
    ),
    remedies=("preprocessing",),
    treatments={"preprocessing": rebalance},
    search_prior=(Narrowing.BALANCED_CLASSES,),
    confirmed_by=("pred_majority_share", "val_balanced_accuracy"),
)
def class_imbalance(case: Case) -> Finding | None:
    """A dominant class, not re-weighted, and predictions collapsed onto it.

    Fully collapsed (balanced accuracy at chance) is the clearest case. Short of that, a
    net that predicts the majority class for more of the rows than it holds, while its
    balanced accuracy stays clearly below the reference's (the detection's clear gap,
    ``levels.BALANCED_ACCURACY_GAP``), is still being pulled toward the majority: the minority
    classes it misses are learnable (on imbalanced classes the reference is also fitted with
    balanced class weights, and the level is its balanced accuracy). Without that bias, a gap
    alone is only weak evidence, and it must be wider (:data:`REFERENCE_BEATS_CHANCE`).
    """
    audit = case.audit
    if not is_classification(audit.task) or not case.has(*UNDERFIT):
        return None
    weighting = _weighting(case)
    if weighting is None:
        return None
    chance = chance_balanced_accuracy(audit)
    threshold = chance + IMBALANCE_SHARE * (1.0 - chance)
    share = audit.majority_share
    if not share >= threshold:
        return None
    if bare_log(case):
        return _collapsed_in_a_log(case, share, threshold)
    balanced = case.recent("val_balanced_accuracy")
    majority = case.recent("pred_majority_share")
    reference = metric_value(audit.reference_metrics, "val_balanced_accuracy")
    collapsed = balanced <= chance + COLLAPSED_BALANCED_ACCURACY_MARGIN and not majority < COLLAPSE_SHARE
    learnable = reference >= chance + REFERENCE_BEATS_CHANCE
    over_predicted = majority > share
    if collapsed and learnable:
        confidence = 0.6 + 0.15 * (majority >= COLLAPSE_SHARE) + 0.1 * (share >= IMBALANCE_SEVERE)
    elif over_predicted and reference - balanced > BALANCED_ACCURACY_GAP:
        confidence = 0.5 + 0.1 * (share >= IMBALANCE_SEVERE)
    elif reference - balanced > REFERENCE_BEATS_CHANCE:
        confidence = 0.35
    else:
        return None
    parts = [
        f"majority class holds {pct(share)} of the training rows (imbalanced from {pct(threshold)}), {weighting}",
        f"val_balanced_accuracy {fmt(balanced)} vs chance {fmt(chance)} and the reference model's {fmt(reference)}",
    ]
    if math.isfinite(majority):
        parts.append(
            f"{pct(majority)} of validation predictions are the most predicted class"
            + (f", more than the majority's {pct(share)} share of the rows" if over_predicted else "")
        )
    return make_cause("class_imbalance", confidence, "; ".join(parts))


def _weighting(case: Case) -> str | None:
    """How the training rows were weighted, in words; None when they were re-weighted already (the
    pipeline's class weights or oversampling, a user's fit given class_weight or sample_weight): the
    rebalancing this cause asks for is in place."""
    prep = case.preprocessing
    if prep is not None:
        return "with no class_weight or resampling" if prep.class_weight == "none" and prep.resample == "none" else None
    return {"none": "with no class_weight or sample_weight given to fit",
            "unknown": "class weights not seen (the callback reads them from fit's arguments)"}.get(case.setup.row_weights)


def _collapsed_in_a_log(case: Case, share: float, threshold: float) -> Finding | None:
    """A log that pinned a majority prior (``chance.read_chance``): stuck at it, the accuracy
    flat at the majority share. Learnable or not, the log cannot tell (no reference)."""
    if not case.has("stuck_at_trivial") or not at_chance(case):
        return None
    trivial = case.audit.trivial_val_loss
    loss = case.recent("val_loss") if math.isfinite(case.recent("val_loss")) else case.recent("loss")
    tol = case.detection.trivial_tolerance
    how = (f"a prior whose entropy the loss equals ({fmt(trivial)})" if not loss < trivial * (1.0 - tol) else
           f"a prior whose entropy is {fmt(trivial)}; the loss {fmt(loss)} is below it, so the outputs rank the rows,"
           " but none crosses the decision threshold")
    return make_cause(
        "class_imbalance",
        0.6,
        f"the accuracy sits at {pct(share)}, the majority share of {how}: the network predicts the majority class"
        f" for every row (imbalanced from {pct(threshold)}); class weights or resampling make the minority count",
    )

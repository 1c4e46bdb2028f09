"""unscaled_features: raw features whose scale hurts. Pure.

Scale is judged by its effect, not by a fixed number alone: on the step (with a
plain-gradient optimizer, learning_rate x E[x^2] of the widest input far above 2 cannot be
stable, ``readings.STABLE_STEP``; a feature spanning a few hundred units under SGD is
unscaled even when its std looks modest), and on the forward pass whatever the optimizer
(features whose scales differ 100x, or a raw feature whose root mean square is in the
hundreds). Treated by standardizing the features.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import (
    FEATURE_RMS_HIGH,
    FEATURE_STD_RATIO_HIGH,
    STALLED,
    STEP_LOAD_SEVERE,
    UNDERFIT,
    UNSTABLE,
    Case,
    input_moment,
    make_cause,
    step_words,
    unstable_by_scale,
    units_damaged,
)
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.schema import Finding

FEATURE_SCALE_SEVERE = 1e3


def standardize_features(finding: Finding, context: TreatmentContext) -> Treatment:
    return Treatment({"preprocessing.scale_features": True}, "standardize the features")


@register(
    "unscaled_features",
    rank=60,
    words=(
        "The features span very different or very large ranges, so no single learning rate suits "
        "them all and the first layer's steps are too big for the widest ones."
    ),
    remedies=("preprocessing",),
    treatments={"preprocessing": standardize_features},
    search_prior=(Narrowing.SCALED_FEATURES,),
)
def unscaled_features(case: Case) -> Finding | None:
    """Raw features whose scale hurts: very different scales, a large root mean square, or a
    plain-gradient step that the widest feature's second moment makes unstable and that
    standardized features would make stable (``readings.unstable_by_scale``). Features whose
    scales are all in their normal range never rank as the cause, whatever the rate."""
    audit = case.audit
    if audit.scaled_features or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    moment = input_moment(audit, case.setup)
    if moment is None:
        return None
    ratio, widest = audit.feature_std_ratio, audit.max_feature_std
    spread = ratio > FEATURE_STD_RATIO_HIGH
    large = moment.rms > FEATURE_RMS_HIGH
    unstable = unstable_by_scale(moment, case.setup)
    if not (spread or large or unstable):
        return None
    damaged = units_damaged(case)
    severe = ratio > FEATURE_SCALE_SEVERE or moment.rms > FEATURE_SCALE_SEVERE or (
        unstable and moment.step_load > STEP_LOAD_SEVERE
    )
    confidence = 0.5 + 0.2 * severe + 0.15 * damaged + 0.1 * case.has(*STALLED) + 0.1 * unstable
    feature = max(audit.features, key=lambda f: f.std)
    parts = [
        "features are not scaled (preprocessing.scale_features is off)",
        f"largest feature std {fmt(widest)} ({feature.name}), largest/smallest std ratio {fmt(ratio)}"
        f" (> {fmt(FEATURE_STD_RATIO_HIGH)} is unscaled)",
        f"largest root mean square {fmt(moment.rms)} ({moment.source}; > {fmt(FEATURE_RMS_HIGH)} is unscaled)",
    ]
    if unstable:
        parts.append(step_words(moment, case))
    parts.append(f"the curves show {case.shown(UNDERFIT + UNSTABLE)}")
    if damaged:
        parts.append(case.measured("dead_fraction", "saturated_fraction"))
    return make_cause("unscaled_features", confidence, "; ".join(parts))

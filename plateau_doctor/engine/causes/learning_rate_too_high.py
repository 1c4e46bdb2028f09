"""learning_rate_too_high: each step overshoots. Pure.

Read from unstable curves (diverged, oscillation), or from a stall after a large rate
damaged the net. Treated by a lower rate (a range test picks it; a decade lower is the
fallback), clipped when the run diverged or a cause found calls for clipping.
"""

from __future__ import annotations

import math

from plateau_doctor.engine.causes.log_readings import bare_log, blow_up_signs
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import (
    STALLED,
    UNSTABLE,
    UPDATE_RATIO_HIGH,
    UPDATE_RATIO_PEAK,
    Case,
    lr_bounds,
    make_cause,
    rate_words,
    steps,
    units_damaged,
    upstream_cause,
)
from plateau_doctor.engine.causes.registry import CALLS_FOR_CLIPPING, JUDGES_THE_RATE, register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext, clip_norm, round3
from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.schema import Finding

LR_DOWN_FACTOR = 10.0
"""The fallback rate when no range test runs: one decade lower."""


def lower_the_rate(finding: Finding, context: TreatmentContext) -> Treatment:
    """A decade lower, settling later with ReduceLROnPlateau; clipped after a blow-up."""
    rate = context.setup.learning_rate
    lower = round3(rate / LR_DOWN_FACTOR)
    overrides = {"training.learning_rate": lower, "training.reduce_lr_on_plateau": True}
    note = f"lower the learning rate {rate:g} -> {lower:g}"
    if "diverged" in context.symptoms or CALLS_FOR_CLIPPING in context.properties:
        clip = clip_norm(context.config)
        overrides["training.clipnorm"] = clip
        note += f" and clip gradients at norm {clip:g}"
    return Treatment(overrides, note, lr_range_test=True)


@register(
    "learning_rate_too_high",
    rank=110,
    words="Each step overshoots the minimum, so the loss bounces around or explodes.",
    remedies=("learning_rate",),
    treatments={"learning_rate": lower_the_rate},
    search_prior=(Narrowing.LOWER_RATES,),
    confirmed_by=("update_ratio", "grad_norm"),
    properties=frozenset({JUDGES_THE_RATE}),
)
def learning_rate_too_high(case: Case) -> Finding | None:
    """Unstable curves (diverged, oscillation), or a stall after a large rate damaged the net.

    In a bare log the rate may be unknown: a stall after the training loss shows a blow-up
    (``log_readings.blow_up_signs``) is then the step's doing as well; so it is where a callback
    measured units the blow-up killed or saturated, whatever the rate (dead units are then its
    consequence: ``log_readings.blown_step``).
    """
    _, high, family = lr_bounds(case.setup)
    lr = case.setup.learning_rate
    large = lr >= high
    moved = steps(case)
    damaged = units_damaged(case)
    # Without the rate or the curvature, the curves' blow-up is the step's: in a bare log, or where a
    # callback measured the units it knocked out and the set-up shows nothing else that knocks them out
    # (a penalty or decay also starts the loss far above chance and kills the units).
    blamed = bare_log(case) or (damaged and upstream_cause(case) is None)
    signs = blow_up_signs(case) if blamed and not large and case.has(*STALLED) else None
    if case.has(*UNSTABLE):
        confidence = 0.45 + 0.3 * large + 0.15 * moved.jumpy
        shown = f"the curves show {case.shown(UNSTABLE)}"
    elif case.has(*STALLED) and large:
        confidence = 0.5 + 0.3 * (moved.jumpy or damaged)
        shown = f"the curves show {case.shown(STALLED)}"
    elif signs is not None:
        confidence = 0.6 + 0.2 * damaged  # the blow-up's damage measured: the step is the root of it
        shown = f"the curves show {case.shown(STALLED)} after a blow-up: {signs}"
    else:
        return None
    parts = [shown, rate_words(lr, family, "large", large, f"from {fmt(high)}")]
    if math.isfinite(moved.typical):
        parts.append(
            f"update_ratio typically {fmt(moved.typical)} and at most {fmt(moved.peak)} per epoch"
            f" (> {fmt(UPDATE_RATIO_HIGH)} typically or > {fmt(UPDATE_RATIO_PEAK)} once is jumpy)"
        )
    if damaged:
        parts.append(f"{case.measured('dead_fraction', 'saturated_fraction')}: units knocked out")
    return make_cause("learning_rate_too_high", confidence, "; ".join(parts))

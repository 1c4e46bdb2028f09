"""Family: the step size. Pure."""

from __future__ import annotations

import math

from plateau_doctor.engine.causes.readings import (
    DEAD_FRACTION_ALL,
    STALLED,
    UNDERFIT,
    UNSTABLE,
    UPDATE_RATIO_HIGH,
    UPDATE_RATIO_LOW,
    UPDATE_RATIO_PEAK,
    Case,
    fmt,
    lr_bounds,
    make_cause,
    pct,
    steps,
    units_damaged,
)
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.curve_math import smoothed_progress
from plateau_doctor.schema import Finding


@register(
    "learning_rate_too_high",
    rank=110,
    words="Each step overshoots the minimum, so the loss bounces around or explodes.",
    remedies=("learning_rate",),
)
def learning_rate_too_high(case: Case) -> Finding | None:
    """Unstable curves (diverged, oscillation), or a stall after a large rate damaged the net."""
    _, high, family = lr_bounds(case.setup)
    lr = case.setup.learning_rate
    large = lr >= high
    moved = steps(case)
    damaged = units_damaged(case)
    if case.has(*UNSTABLE):
        confidence = 0.45 + 0.3 * large + 0.15 * moved.jumpy
        shown = f"the curves show {case.shown(UNSTABLE)}"
    elif case.has(*STALLED) and large:
        confidence = 0.5 + 0.3 * (moved.jumpy or damaged)
        shown = f"the curves show {case.shown(STALLED)}"
    else:
        return None
    rate = "large" if large else "in the usual range"
    parts = [shown, f"learning_rate {fmt(lr)} is {rate} for {family} (large from {fmt(high)})"]
    if math.isfinite(moved.typical):
        parts.append(
            f"update_ratio typically {fmt(moved.typical)} and at most {fmt(moved.peak)} per epoch"
            f" (> {fmt(UPDATE_RATIO_HIGH)} typically or > {fmt(UPDATE_RATIO_PEAK)} once is jumpy)"
        )
    if damaged:
        parts.append(f"{case.measured('dead_fraction', 'saturated_fraction')}: units knocked out")
    return make_cause("learning_rate_too_high", confidence, "; ".join(parts))


@register(
    "learning_rate_too_low",
    rank=120,
    words="Each step is so small that the weights barely move from where they started.",
    remedies=("learning_rate",),
)
def learning_rate_too_low(case: Case) -> Finding | None:
    """Slow steady progress, or a stall with tiny steps or a tiny rate.

    Never for a large rate: tiny steps then come from units it killed or froze.
    """
    low, high, family = lr_bounds(case.setup)
    lr = case.setup.learning_rate
    if lr >= high:
        return None
    small = lr <= low
    ratio = case.typical("update_ratio")
    tiny_steps = ratio < UPDATE_RATIO_LOW and not case.recent("dead_fraction") >= DEAD_FRACTION_ALL
    loss = case.signal("loss")
    progress = smoothed_progress(loss, case.detection) if loss is not None else None
    creeping = progress is not None and progress > 0
    if case.has("slow_convergence"):
        confidence = 0.4 + 0.3 * small + 0.2 * tiny_steps
    elif case.has(*STALLED) and (small or tiny_steps):
        confidence = 0.3 + 0.3 * small + 0.2 * tiny_steps + 0.1 * creeping
    else:
        return None
    rate = "small" if small else "in the usual range"
    parts = [
        f"the curves show {case.shown(UNDERFIT)}",
        f"learning_rate {fmt(lr)} is {rate} for {family} (small up to {fmt(low)})",
    ]
    if math.isfinite(ratio):
        parts.append(f"typical update_ratio {fmt(ratio)} per epoch (too small below {fmt(UPDATE_RATIO_LOW)})")
    if progress is not None:
        parts.append(f"smoothed loss still changes {pct(progress)} over the last {case.detection.patience} epochs")
    return make_cause("learning_rate_too_low", confidence, "; ".join(parts))

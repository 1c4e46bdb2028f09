"""learning_rate_too_low: each step is too small to move the weights. Pure.

Read from slow steady progress, or a stall with tiny steps, a tiny rate or a rate a schedule cut
100-fold; never for a large rate, whose tiny steps come from the units it killed. Treated by a
higher rate (a range test picks it; a decade higher, or 30x for a stuck run, is the fallback).
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.causes.log_readings import bare_log, steady_creep, trivial_loss
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import (
    DEAD_FRACTION_ALL,
    STALLED,
    UNDERFIT,
    UPDATE_RATIO_LOW,
    Case,
    lr_bounds,
    make_cause,
    rate_words,
)
from plateau_doctor.engine.causes.registry import JUDGES_THE_RATE, register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext, round3
from plateau_doctor.engine import noise
from plateau_doctor.engine.curve_math import fmt, pct, recent_mean, relative_improvement, smoothed_progress
from plateau_doctor.schema import Finding

LR_UP_FACTOR_SLOW = 10.0
LR_UP_FACTOR_STUCK = 30.0
"""The fallback rate when no range test runs: a decade higher for a slow run, 30x for a stuck one."""

MAX_FALLBACK_LR = 1.0

RATE_CUT = 100.0
"""A schedule (or ReduceLROnPlateau) that cut the logged rate 100-fold from its first epoch: each
step is then a hundredth of the size that moved the loss before (a step is the rate times the
gradient, for plain and adaptive optimizers alike), and a loss that still fell at the old pace
falls a hundredth as fast: frozen to the eye and to any patience."""


def raise_the_rate(finding: Finding, context: TreatmentContext) -> Treatment:
    """Higher, settling later with ReduceLROnPlateau."""
    rate = context.setup.learning_rate
    stuck = bool(context.symptoms & {"stuck_at_trivial", "plateau"})
    factor = LR_UP_FACTOR_STUCK if stuck else LR_UP_FACTOR_SLOW
    higher = round3(min(rate * factor, MAX_FALLBACK_LR))
    overrides = {"training.learning_rate": higher, "training.reduce_lr_on_plateau": True}
    return Treatment(overrides, f"raise the learning rate {rate:g} -> {higher:g}", lr_range_test=True)


@register(
    "learning_rate_too_low",
    rank=120,
    words="Each step is so small that the weights barely move from where they started.",
    remedies=("learning_rate",),
    treatments={"learning_rate": raise_the_rate},
    search_prior=(Narrowing.HIGHER_RATES,),
    confirmed_by=("update_ratio",),
    properties=frozenset({JUDGES_THE_RATE}),
)
def learning_rate_too_low(case: Case) -> Finding | None:
    """Slow steady progress, or a stall with tiny steps or a tiny rate.

    Never for a large rate: tiny steps then come from units it killed or froze. In a bare
    log without the rate, a stall whose training loss creeps down at a steady pace from the
    first epoch, or a network at chance whose training loss still falls beyond its noise
    toward the chance level it has not yet reached, is read the same way (:func:`_curve_reading`);
    so is a stall under a logged rate that a schedule cut 100-fold while the loss still fell
    (:func:`rate_cut_while_falling`).
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
    curve = _curve_reading(case) if bare_log(case) and not math.isfinite(lr) else None
    # A known rate in its usual range and measured steps of a normal size: both readings are
    # normal, and slow progress has other explanations (capacity, the data, too few epochs). A
    # diagnosis on its own (a watched fit, a log) does not name it then. The pipeline still keeps
    # it as a weak hypothesis: its planner tries it as a cheap branch combined with the top cause,
    # which is no claim to the user (on the scenario suite that branch repaired a rare-class run
    # the class weights alone only improved).
    normal = math.isfinite(lr) and not small and math.isfinite(ratio) and not tiny_steps
    # The set-up's rate is the one the fit began with; a schedule that cut it while the loss fell is
    # read from the logged rates.
    cut = rate_cut_while_falling(case) if case.has(*STALLED) else None
    if case.has("slow_convergence") and not (normal and case.preprocessing is None):
        confidence = 0.4 + 0.3 * small + 0.2 * tiny_steps
    elif case.has(*STALLED) and (small or tiny_steps):
        confidence = 0.3 + 0.3 * small + 0.2 * tiny_steps + 0.1 * creeping + 0.1 * (cut is not None)
        curve = curve if cut is None else "; ".join(part for part in (curve, cut) if part)
    elif case.has(*STALLED) and curve is not None:
        confidence = 0.55
    elif cut is not None:
        confidence, curve = 0.5, cut
    else:
        return None
    parts = [f"the curves show {case.shown(UNDERFIT)}", rate_words(lr, family, "small", small, f"up to {fmt(low)}")]
    if math.isfinite(ratio):
        parts.append(f"typical update_ratio {fmt(ratio)} per epoch (too small below {fmt(UPDATE_RATIO_LOW)})")
    if progress is not None:
        parts.append(f"smoothed loss still changes {pct(progress)} over the last {case.detection.patience} epochs")
    if curve is not None:
        parts.append(curve)
    return make_cause("learning_rate_too_low", confidence, "; ".join(parts))


def _curve_reading(case: Case) -> str | None:
    """A steady creep from epoch 1, or a network at chance still descending toward chance."""
    creep = steady_creep(case)
    if creep is not None:
        return creep
    loss, trivial = case.signal("loss"), trivial_loss(case)
    if loss is None or not case.has("stuck_at_trivial") or not math.isfinite(trivial):
        return None
    trend = noise.trend(loss[-(2 * case.detection.patience + 1):])
    now = recent_mean(loss, case.detection.patience)
    # Within the tolerance that calls the run stuck at the chance level, the loss is there already.
    if trend is None or not trend.falls or not now > trivial * (1.0 + case.detection.trivial_tolerance):
        return None
    return (
        f"at chance, the training loss {fmt(now)} still falls beyond its noise ({trend.describe()}) and has not yet"
        f" come down to the chance level {fmt(trivial)}: the first descent is not over"
    )


def rate_cut_while_falling(case: Case) -> str | None:
    """The logged rate fell to 1/:data:`RATE_CUT` of its first epoch's or less, stayed there over
    the last ``patience + 1`` epochs or more, and the training loss still fell beyond its noise over
    the epochs just before: the stall began where the steps were cut, not where the loss found its
    floor (a loss already flat when the rate was cut had found it, and the cut is no cause)."""
    rates, loss = case.signal("learning_rate"), case.signal("loss")
    if rates is None or loss is None or rates.size != loss.size or not np.all(np.isfinite(rates)):
        return None
    first, patience = float(rates[0]), case.detection.patience
    low = np.flatnonzero(rates > first / RATE_CUT)
    start = int(low[-1]) + 1 if low.size else 0  # from here on the rate stays cut
    if not first > 0 or start == 0 or loss.size - start < patience + 1:
        return None
    before = noise.trend(loss[max(0, start - (patience + 1)): start])
    if before is None or not before.falls:
        return None
    after = relative_improvement(float(loss[start]), float(loss[-1]))
    return (
        f"the logged learning rate was cut from {fmt(first)} to {fmt(float(rates[start]))} by epoch {start + 1}"
        f" ({first / float(rates[start]):.0f}x, and {fmt(float(rates[-1]))} at the end), while the training loss still"
        f" fell beyond its noise over the epochs before ({before.describe()}); over the {loss.size - start} epochs"
        f" since, it moved {pct(after)}: the steps were cut, not the loss' floor reached (a schedule or"
        " ReduceLROnPlateau that cuts too far or too soon)"
    )

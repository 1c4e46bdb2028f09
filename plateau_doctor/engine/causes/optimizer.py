"""Family: how the optimizer spends the run: an optimizer that makes no progress at a sane
step, too few updates per epoch, too few epochs. Pure."""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.causes.readings import (
    CONSEQUENCE_DISCOUNT,
    DEAD_FRACTION_HIGH,
    DEEP_LAYERS,
    STALLED,
    UNDERFIT,
    UNSTABLE,
    UPDATE_RATIO_LOW,
    Case,
    fmt,
    is_plain_gradient,
    lr_bounds,
    make_cause,
    optimizer_family,
    pct,
    steps,
    units_healthy,
    upstream_cause,
)
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.curve_math import recent_mean, smoothed_progress
from plateau_doctor.engine.levels import loss_in_audit_scale
from plateau_doctor.schema import Finding

ADADELTA_USUAL_RATE = 1.0
"""Adadelta's step is lr x RMS(past updates) / RMS(gradients), and its paper uses lr = 1.0.
Keras' default of 0.001 (and anything under 0.1) makes each step a thousandth of that: a
net under it barely moves."""

ADADELTA_TINY_RATE = 0.1

ILL_CONDITIONED_STD_RATIO = 10.0
"""Raw features whose stds differ 10x give the first layer's curvature a spread of 100x
(it goes with the square): a plain-gradient step small enough for the steepest direction
makes almost no progress along the flattest."""

FEW_STEPS = 4
"""An epoch of at most 4 updates: the batch holds a quarter or more of the training split."""

FEW_TOTAL_UPDATES = 1000
"""An adaptive optimizer at its usual 1e-3 moves each weight by at most ~1e-3 per update, and
Glorot weights are ~0.1: reshaping them takes hundreds to thousands of updates."""

FAST_PROGRESS = 0.01
"""A smoothed training loss still falling 1% or more per epoch at the end of the run (five
times the least progress the detection counts) is far from its floor."""

STEADY_SHARE = 0.5
"""Steady: the last window's progress is at least half the window's before it, so the curve
is not flattening toward a floor."""

def _sane_rate(case: Case) -> bool:
    low, high, _ = lr_bounds(case.setup)
    return low < case.setup.learning_rate < high


def _conditioning(case: Case) -> list[str]:
    """Signs that the problem is badly conditioned for a plain-gradient step."""
    signs = []
    moved = steps(case)
    # Weights that do not move at all, or dead units, mean missing gradients, not slow steps.
    if moved.tiny and moved.typical > 0 and not case.recent("dead_fraction") >= DEAD_FRACTION_HIGH:
        signs.append(f"the weights move only {fmt(moved.typical)} of their norm per epoch (< {fmt(UPDATE_RATIO_LOW)})")
    audit = case.audit
    if not audit.scaled_features and audit.feature_std_ratio > ILL_CONDITIONED_STD_RATIO:
        signs.append(
            f"raw feature stds differ {fmt(audit.feature_std_ratio)}x (> {fmt(ILL_CONDITIONED_STD_RATIO)}x), so the"
            f" curvature differs ~{fmt(audit.feature_std_ratio**2)}x between directions"
        )
    if len(case.setup.hidden_units) >= DEEP_LAYERS:
        signs.append(f"{len(case.setup.hidden_units)} hidden layers compound the curvature's spread")
    loss = case.signal("loss")
    progress = smoothed_progress(loss, case.detection) if loss is not None else None
    if case.has(*STALLED) and progress is not None:
        signs.append(
            f"the smoothed loss moved only {pct(progress)} over the last {case.detection.patience} epochs"
        )
    return signs


@register(
    "optimizer_choice",
    rank=125,
    words=(
        "The optimizer makes no progress at a sensible step size: plain SGD without momentum crawls "
        "along the flat directions of a badly conditioned problem, and Adadelta at a tiny rate barely moves."
    ),
    remedies=("optimizer",),
)
def optimizer_choice(case: Case) -> Finding | None:
    """Adadelta at a tiny rate, or plain SGD at a sane rate on a badly conditioned problem, in
    an underfit run. A rate at the edge of its range is the learning rate's cause instead."""
    if not case.has(*UNDERFIT) or case.has(*UNSTABLE):
        return None
    family, lr = optimizer_family(case.setup), case.setup.learning_rate
    if family == "adadelta" and lr < ADADELTA_TINY_RATE:
        signs = _conditioning(case)
        confidence = 0.65 + 0.1 * case.has(*STALLED) + 0.1 * steps(case).tiny
        parts = [
            f"optimizer {case.setup.optimizer} at learning_rate {fmt(lr)}: Adadelta's step is lr x RMS(past updates)"
            f" / RMS(gradients) and its usual rate is {fmt(ADADELTA_USUAL_RATE)}, {fmt(ADADELTA_USUAL_RATE / lr)}x"
            " larger",
            *signs,
        ]
    elif is_plain_gradient(case.setup) and _sane_rate(case):
        signs = _conditioning(case)
        if not signs:
            return None
        confidence = 0.45 + 0.1 * min(len(signs), 3) - CONSEQUENCE_DISCOUNT * (upstream_cause(case) is not None)
        parts = [
            f"optimizer {case.setup.optimizer} (plain gradient steps, no momentum) at learning_rate {fmt(lr)}, a"
            " rate in its usual range",
            *signs,
        ]
    else:
        return None
    parts.append(f"the curves show {case.shown(UNDERFIT)}; Adam at 0.001 scales each weight's step by its own gradient")
    return make_cause("optimizer_choice", confidence, "; ".join(parts))


def steps_per_epoch(case: Case) -> int:
    """Updates per epoch: the training rows over the batch size, rounded up (0 when unknown)."""
    if case.audit.n_train <= 0 or case.setup.batch_size <= 0:
        return 0
    return math.ceil(case.audit.n_train / case.setup.batch_size)


@register(
    "too_few_updates",
    rank=115,
    words=(
        "Each epoch holds only a handful of weight updates, because the batch is nearly the whole "
        "training split: the network sees many rows but takes very few steps."
    ),
    remedies=("optimizer",),
)
def too_few_updates(case: Case) -> Finding | None:
    """An underfit run whose epochs hold at most ``FEW_STEPS`` updates."""
    if not case.has(*UNDERFIT):
        return None
    per_epoch = steps_per_epoch(case)
    if not 0 < per_epoch <= FEW_STEPS:
        return None
    total = per_epoch * case.n_epochs
    confidence = 0.5 + 0.15 * (per_epoch <= 2) + 0.1 * (total < FEW_TOTAL_UPDATES) + 0.05 * case.has(*STALLED)
    return make_cause(
        "too_few_updates",
        confidence,
        f"batch_size {case.setup.batch_size} on {case.audit.n_train} training rows gives {per_epoch} update(s) per"
        f" epoch (a handful is <= {FEW_STEPS}), {total} in {case.n_epochs} epochs"
        f" ({'fewer than' if total < FEW_TOTAL_UPDATES else 'about'} the {FEW_TOTAL_UPDATES} it takes to reshape"
        f" the weights); the curves show {case.shown(UNDERFIT)}",
    )


def _log_rate(values: np.ndarray) -> float:
    """Per-epoch relative fall of a positive loss: minus the least-squares slope of its log
    (0.02 = falling 2% per epoch); NaN when a value is not positive and finite."""
    if values.size < 2 or not np.all(np.isfinite(values) & (values > 0)):
        return math.nan
    return float(-np.polyfit(np.arange(values.size), np.log(values), 1)[0])


def _window_progress(loss: np.ndarray, case: Case) -> tuple[float, float]:
    """Per-epoch relative fall of the training loss over the last ``patience`` epochs, and over
    the ``patience`` epochs before them (NaN when the run is too short). Fitted on the raw
    curve's log rather than the smoothed one: an EMA lags, and would call a curve that has
    just flattened still fast."""
    p = case.detection.patience
    data = loss[case.detection.start_from_epoch:]
    recent = _log_rate(data[-(p + 1):]) if data.size >= p + 1 else math.nan
    before = _log_rate(data[-(2 * p + 1):-p]) if data.size >= 2 * p + 1 else math.nan
    return recent, before


@register(
    "too_few_epochs",
    rank=160,
    words=(
        "Training stopped while the loss was still falling at a steady rate: nothing is broken, "
        "the network simply needs more epochs."
    ),
    remedies=("optimizer",),
    exclusion=True,
)
def too_few_epochs(case: Case) -> Finding | None:
    """Still falling fast and steadily at the end, with nothing else wrong.

    A diagnosis of exclusion (``registry.EXCLUSION_CONFIDENCE``). Needs ``slow_convergence`` and nothing more (no stall, no instability, no overfitting),
    the validation loss still improving with the training loss, a rate in its usual range
    and healthy recorded signals. A converged run shows no sick symptom and gets no cause.
    """
    if not case.has("slow_convergence") or case.has(*STALLED, *UNSTABLE, "overfitting"):
        return None
    if not _sane_rate(case) or steps(case).tiny or not units_healthy(case):
        return None
    loss = case.signal("loss")
    if loss is None:
        return None
    rate, before = _window_progress(loss, case)
    if not rate >= FAST_PROGRESS:
        return None
    val = case.signal("val_loss")
    val_progress = smoothed_progress(val, case.detection) if val is not None else None
    if val_progress is not None and val_progress < case.detection.min_delta:
        return None  # the validation loss stopped: more epochs would overfit, not help
    steady = not math.isfinite(before) or rate >= STEADY_SHARE * before
    if not steady:
        return None
    parts = [
        f"the training loss still falls {pct(rate)} per epoch over the last {case.detection.patience}"
        f" epochs (fast from {pct(FAST_PROGRESS)})"
        + (f", vs {pct(before)} per epoch the window before: not flattening" if math.isfinite(before) else ""),
    ]
    if val_progress is not None:
        parts.append(f"the validation loss still improves {pct(val_progress)} over that window")
    audit = case.audit
    now = recent_mean(loss, 1)
    if loss_in_audit_scale(case.setup) and 0 < audit.reference_val_loss < now and rate < 1:
        needed = math.log(now / audit.reference_val_loss) / -math.log(1.0 - rate)
        parts.append(
            f"at that rate the loss {fmt(now)} reaches the reference model's {fmt(audit.reference_val_loss)} in"
            f" about {fmt(math.ceil(needed))} more epochs"
        )
    parts.append(f"training ended after {case.n_epochs} epochs; steps, gradients and units look healthy")
    confidence = 0.45 + 0.15 * min(1.0, (rate - FAST_PROGRESS) / (2 * FAST_PROGRESS)) + 0.1 * math.isfinite(before)
    return make_cause("too_few_epochs", confidence, "; ".join(parts))

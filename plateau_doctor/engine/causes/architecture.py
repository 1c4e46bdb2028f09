"""Family: what happens inside the network: dead units, vanishing or exploding gradients, a
symmetric or collapsed initialization. Pure."""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.causes.readings import (
    CONSEQUENCE_DISCOUNT,
    DEAD_FRACTION_HIGH,
    DEEP_LAYERS,
    EXPLODING_RATIO,
    FEATURE_RMS_HIGH,
    SYMMETRIC_FRACTION_HIGH,
    UNDERFIT,
    UNKNOWN_INITIALIZERS,
    UNSTABLE,
    VANISHING_RATIO,
    VARIANCE_PRESERVING,
    Case,
    constant_initializer,
    fmt,
    initializer_family,
    input_moment,
    lr_bounds,
    make_cause,
    pct,
    upstream_cause,
)
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.curve_math import column
from plateau_doctor.engine.levels import loss_in_audit_scale
from plateau_doctor.engine.vocabulary import canonical_activation
from plateau_doctor.schema import Finding

OUTPUT_STD_COLLAPSED = 1e-6
"""Raw outputs that do not vary over the validation rows from epoch 1 on: a constant net."""

VANISHING_RATIO_SEVERE = 1e-4

GRAD_GROWTH = 1e3
"""Gradient norm growing by three orders of magnitude during the fit."""

GRAD_GROWTH_SEVERE = 1e6

SATURATING_ACTIVATIONS = ("sigmoid", "tanh", "hard_sigmoid", "softsign", "hard_tanh")

OVERSIZED_START = 10.0
"""A fan-scaled initialization starts with outputs near 0, so the first epochs' loss sits near
the loss of a zero output: ln k nats for k classes, E[y^2] for a regression. Ten times that
means outputs of a scale a network of that width only gets from weights far too large."""

OVERSIZED_EPOCHS = 3
"""The start is read over the first epochs; the loss must fall through all of them, since a
step that blew up makes it rise or jump instead (a too large learning rate, not the weights)."""


@register(
    "dead_relu",
    rank=100,
    words=(
        "Many ReLU units output zero for every input, so no gradient flows through them and "
        "they never recover."
    ),
    remedies=("architecture",),
)
def dead_relu(case: Case) -> Finding | None:
    """Most ReLU units output 0 on every row (the signal is NaN for nets without ReLU units)."""
    dead = case.recent("dead_fraction")
    if not dead >= DEAD_FRACTION_HIGH or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    upstream = upstream_cause(case)
    evidence = (
        f"dead_fraction {fmt(dead)} over the last {case.detection.patience} epochs: {pct(dead)} of the"
        f" {case.setup.hidden_activation} hidden units output 0 on every validation row"
        f" (>= {pct(DEAD_FRACTION_HIGH)}); the curves show {case.shown(UNDERFIT + UNSTABLE)}"
    )
    if upstream is not None:
        evidence += f"; {upstream} likely killed them"
    confidence = 0.5 + 0.4 * min(1.0, (dead - DEAD_FRACTION_HIGH) / (1.0 - DEAD_FRACTION_HIGH))
    return make_cause("dead_relu", confidence - CONSEQUENCE_DISCOUNT * (upstream is not None), evidence)


@register(
    "vanishing_gradients",
    rank=90,
    words="The gradient shrinks layer by layer, so the first layers hardly learn.",
    remedies=("architecture",),
)
def vanishing_gradients(case: Case) -> Finding | None:
    """The first layer's gradient is a tiny share of the output layer's, in a stalled fit."""
    ratio = case.typical("grad_ratio_first_last")
    if not ratio < VANISHING_RATIO or not case.has(*UNDERFIT):
        return None
    depth = len(case.setup.hidden_units)
    activation = canonical_activation(case.setup.hidden_activation)
    deep, saturating = depth >= DEEP_LAYERS, activation in SATURATING_ACTIVATIONS
    upstream = upstream_cause(case)
    confidence = 0.35 + 0.2 * deep + 0.15 * saturating + 0.1 * (ratio < VANISHING_RATIO_SEVERE)
    evidence = (
        f"typical grad_ratio_first_last {fmt(ratio)} (< {fmt(VANISHING_RATIO)}): the first layer gets"
        f" {fmt(ratio)}x the output layer's gradient; {depth} hidden layer(s) of {activation}"
        f"{' (saturating)' if saturating else ''}; the curves show {case.shown(UNDERFIT)}"
    )
    if upstream is not None:
        evidence += f"; {upstream} may explain it"
    return make_cause("vanishing_gradients", confidence - CONSEQUENCE_DISCOUNT * (upstream is not None), evidence)


@register(
    "exploding_gradients",
    rank=80,
    words="The gradient grows layer by layer until the updates are huge.",
    remedies=("learning_rate", "architecture"),
)
def exploding_gradients(case: Case) -> Finding | None:
    """Gradients growing by orders of magnitude, or much larger early in the net, in an unstable fit."""
    if not case.has(*UNSTABLE):
        return None
    norms = column(case.history, "grad_norm")
    ratio = case.typical("grad_ratio_first_last")
    parts: list[str] = []
    growth = _growth(norms)
    if growth >= GRAD_GROWTH:
        parts.append(f"grad_norm grew {fmt(growth)}x during the fit (>= {fmt(GRAD_GROWTH)}x)")
    if ratio > EXPLODING_RATIO:
        parts.append(f"typical grad_ratio_first_last {fmt(ratio)} (> {fmt(EXPLODING_RATIO)})")
    overflow = _overflow_epoch(norms, column(case.history, "loss"))
    if overflow is not None:
        parts.append(f"grad_norm is non-finite at epoch {overflow + 1} while the loss is still finite")
    if not parts:
        return None
    depth = len(case.setup.hidden_units)
    severe = growth >= GRAD_GROWTH_SEVERE or overflow is not None
    confidence = 0.5 + 0.15 * (depth >= DEEP_LAYERS) + 0.15 * severe
    parts.append(f"{depth} hidden layer(s); the curves show {case.shown(UNSTABLE)}")
    return make_cause("exploding_gradients", confidence, "; ".join(parts))


def _growth(norms: np.ndarray | None) -> float:
    """Largest finite gradient norm over the first positive one."""
    if norms is None:
        return math.nan
    finite = norms[np.isfinite(norms) & (norms > 0)]
    return float(finite.max() / finite[0]) if finite.size else math.nan


def _overflow_epoch(norms: np.ndarray | None, loss: np.ndarray | None) -> int | None:
    """First epoch whose gradient norm overflowed (non-finite after finite epochs, as the
    recorder writes an overflow as NaN) while the loss was still finite."""
    if norms is None or loss is None or len(norms) != len(loss) or not np.isfinite(norms).any():
        return None
    measured_from = int(np.argmax(np.isfinite(norms)))
    overflowed = ~np.isfinite(norms) & np.isfinite(loss)
    overflowed[:measured_from] = False
    bad = np.flatnonzero(overflowed)
    return int(bad[0]) if bad.size else None


def _zero_output_loss(case: Case) -> float:
    """The default loss of an output of 0 on the target as the network sees it."""
    audit = case.audit
    if audit.task == "regression":
        return 1.0 if audit.scaled_target else audit.target_mean**2 + audit.target_std**2
    return math.log(max(2, audit.n_classes))


def _oversized_start(case: Case) -> Finding | None:
    """The loss starts at many times a zero output's and falls steadily from there."""
    family = initializer_family(case.setup)
    if family in VARIANCE_PRESERVING or not loss_in_audit_scale(case.setup):
        return None
    loss = case.signal("loss")
    if loss is None or len(loss) < OVERSIZED_EPOCHS:
        return None
    start = loss[:OVERSIZED_EPOCHS]
    zero = _zero_output_loss(case)
    if not (np.all(np.isfinite(start)) and math.isfinite(zero) and zero > 0):
        return None
    if not (np.all(start >= OVERSIZED_START * zero) and np.all(np.diff(start) < 0)):
        return None
    # Raw inputs of a large scale or a step past the optimizer's range explain a large start too.
    moment = input_moment(case.audit, case.setup)
    if moment is not None and moment.rms > FEATURE_RMS_HIGH:
        return None
    if case.setup.learning_rate >= lr_bounds(case.setup)[1]:
        return None
    unknown = family in UNKNOWN_INITIALIZERS
    evidence = (
        f"the loss starts at {fmt(float(start[0]))}, {fmt(float(start[0] / zero))}x the {fmt(zero)} of a zero output"
        f" (a fan-scaled initialization starts near it), and falls without a jump over the first"
        f" {OVERSIZED_EPOCHS} epochs, so the weights, not the step, are too large"
    )
    if not unknown:
        evidence += f"; kernel_initializer {case.setup.kernel_initializer} is not scaled to each layer's width"
    evidence += f"; the curves show {case.shown(UNDERFIT + UNSTABLE)}"
    return make_cause("bad_initialization", 0.6 if unknown else 0.85, evidence)


def _flat_output_explained(case: Case) -> bool:
    """A constant output has other explanations: dead units, or an output activation that
    cannot vary (softmax on one unit)."""
    return case.recent("dead_fraction") >= DEAD_FRACTION_HIGH or "output_activation_mismatch" in case.preflight


@register(
    "bad_initialization",
    rank=30,
    words=(
        "The starting weights (all zeros, constant, or far too large) leave units identical or "
        "saturated from the first step."
    ),
    remedies=("architecture",),
)
def bad_initialization(case: Case) -> Finding | None:
    """Symmetric hidden units (zeros/constant initializer), an output constant from epoch 1, or
    weights so large that the loss starts far above a zero output's."""
    if not case.setup.hidden_units or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    oversized = _oversized_start(case)
    if oversized is not None:
        return oversized
    named = constant_initializer(case.setup)
    symmetric = case.recent("symmetric_fraction")
    duplicated = symmetric >= SYMMETRIC_FRACTION_HIGH
    outputs = case.signal("output_std")
    flat_output = outputs is not None and bool(np.all(outputs[np.isfinite(outputs)] < OUTPUT_STD_COLLAPSED))
    if named and duplicated:
        confidence = 0.9
    elif named or duplicated:
        confidence = 0.75 + 0.05 * flat_output
    elif flat_output and not _flat_output_explained(case):
        confidence = 0.4
    else:
        return None
    parts = []
    if named:
        parts.append(
            f"kernel_initializer {case.setup.kernel_initializer} gives every hidden unit the same weights, so they"
            " get the same gradient and stay identical; he_normal (ReLU) or glorot_uniform break the symmetry"
        )
    if math.isfinite(symmetric):
        parts.append(f"symmetric_fraction {fmt(symmetric)} (>= {fmt(SYMMETRIC_FRACTION_HIGH)} is symmetric)")
    if flat_output:
        parts.append(f"output_std below {fmt(OUTPUT_STD_COLLAPSED)} from epoch 1: the network outputs a constant")
    parts.append(f"the curves show {case.shown(UNDERFIT + UNSTABLE)}")
    return make_cause("bad_initialization", confidence, "; ".join(parts))



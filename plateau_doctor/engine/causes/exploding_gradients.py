"""exploding_gradients: the gradient grows layer by layer until the updates are huge. Pure.

Read from gradient norms growing by orders of magnitude, much larger early in the net, or
overflowing while the loss is still finite; or, when the model was seen as the fit began (the
callback), from kernels whose per-layer gains compound to orders of magnitude (a fixed-scale
initializer on wide layers: N(0, 1) on 64 inputs is a gain of 5.7 per ReLU layer, 3e4 over six),
which blows the gradient up at the first step, before any norm is recorded. Treated on two
branches: clip the gradients (learning rate), and in a net of two or more hidden layers
re-initialize fixed-scale weights with a fan-scaled initializer or normalize each layer's inputs
(architecture).
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import DEEP_LAYERS, EXPLODING_RATIO, UNSTABLE, Case, make_cause
from plateau_doctor.engine.causes.registry import CALLS_FOR_CLIPPING, register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext, clip_norm
from plateau_doctor.engine.curve_math import column, fmt
from plateau_doctor.engine.vocabulary import VARIANCE_PRESERVING, fan_scaled_initializer, in_family
from plateau_doctor.schema import Finding

GRAD_GROWTH = 1e3
"""Gradient norm growing by three orders of magnitude during the fit."""

GRAD_GROWTH_SEVERE = 1e6


def clip(finding: Finding, context: TreatmentContext) -> Treatment:
    norm = clip_norm(context.config)
    return Treatment(
        {"training.clipnorm": norm, "training.reduce_lr_on_plateau": True}, f"clip gradients at norm {norm:g}"
    )


def tame_the_layers(finding: Finding, context: TreatmentContext) -> Treatment | None:
    setup = context.setup
    if len(setup.hidden_units) < 2:
        return None
    if in_family(setup.kernel_initializer, VARIANCE_PRESERVING):
        return Treatment({"model.batch_norm": True}, "normalize each hidden layer's inputs")
    # Weights of a fixed scale (RandomNormal, ones, ...) give every layer a gain of its own; a
    # fan-scaled initializer is the textbook fix for the growth itself.
    activation = setup.hidden_activation
    initializer = fan_scaled_initializer(activation)
    return Treatment(
        {"model.kernel_initializer": initializer},
        f"re-initialize with {initializer}, scaled to each layer's width so the gradient keeps its size"
        f" through the {len(setup.hidden_units)} {activation} layers ({setup.kernel_initializer} is not)",
    )


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


@register(
    "exploding_gradients",
    rank=80,
    words="The gradient grows layer by layer until the updates are huge.",
    remedies=("learning_rate", "architecture"),
    treatments={"learning_rate": clip, "architecture": tame_the_layers},
    search_prior=(Narrowing.LOWER_RATES,),
    confirmed_by=("grad_norm",),
    properties=frozenset({CALLS_FOR_CLIPPING}),
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
    gain = case.setup.initial_gain
    if gain >= GRAD_GROWTH:
        initializer = case.setup.kernel_initializer
        parts.append(
            f"the kernels as the fit began compound a gain of {fmt(gain)} through the layers (>= {fmt(GRAD_GROWTH)};"
            f" a fan-scaled initializer keeps about 1 per layer"
            + ("" if in_family(initializer, VARIANCE_PRESERVING) else f", and {initializer} is not one")
            + "): the gradient is that many times its size from the first step"
        )
    if not parts:
        return None
    depth = len(case.setup.hidden_units)
    severe = growth >= GRAD_GROWTH_SEVERE or overflow is not None or gain >= GRAD_GROWTH_SEVERE
    confidence = 0.5 + 0.15 * (depth >= DEEP_LAYERS) + 0.15 * severe
    parts.append(f"{depth} hidden layer(s); the curves show {case.shown(UNSTABLE)}")
    return make_cause("exploding_gradients", confidence, "; ".join(parts))

"""Weight penalties read from the set-up: a kernel L2 factor and the optimizer's decoupled weight
decay, in the units each optimizer feels them. Pure: no Keras.

Keras 3 applies an optimizer's ``weight_decay`` apart from the gradient, as w <- w - lr * wd * w
at each step. Under a plain-gradient step that is exactly an L2 penalty of wd / 2 (whose
gradient 2 * l2 * w the step multiplies by lr). An adaptive step divides the gradient by its
own running scale, so an L2 penalty's pull is rescaled with it, but the decoupled decay is not:
for Adam-like optimizers the decay is read by the bound it sets on the weights.
"""

from __future__ import annotations

import math

from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.engine.vocabulary import ADAPTIVE_OPTIMIZERS, in_family
from plateau_doctor.schema import ResolvedSetup


def kernel_fans(setup: ResolvedSetup, n_features: int) -> list[tuple[int, int]]:
    """(fan_in, fan_out) of each kernel, input to output; a Glorot initializer gives each a
    variance of 2 / (fan_in + fan_out)."""
    widths = [max(n_features, 1), *setup.hidden_units, max(setup.output_units, 1)]
    return list(zip(widths[:-1], widths[1:]))


def initial_weight_scale(setup: ResolvedSetup, n_features: int) -> float:
    """The smallest standard deviation a fan-scaled (Glorot) initializer gives one of the
    network's kernels, sqrt(2 / (fan_in + fan_out)): the scale its widest layer starts at."""
    return min(math.sqrt(2.0 / (a + b)) for a, b in kernel_fans(setup, n_features))


def l2_penalty_at_init(setup: ResolvedSetup, n_features: int) -> float:
    """The L2 penalty on Glorot-initialized kernels: l2 x the sum over layers of
    fan_in x fan_out x 2 / (fan_in + fan_out), each kernel's expected squared norm."""
    return effective_l2(setup) * sum(2.0 * a * b / (a + b) for a, b in kernel_fans(setup, n_features))


def l1_penalty_at_init(setup: ResolvedSetup, n_features: int) -> float:
    """The L1 penalty on Glorot-uniform kernels (Keras' default): l1 x the sum over layers of
    fan_in x fan_out x E|w|, where E|w| is half the bound sqrt(6 / (fan_in + fan_out))."""
    return setup.l1 * sum(a * b * math.sqrt(6.0 / (a + b)) / 2.0 for a, b in kernel_fans(setup, n_features))


def effective_l2(setup: ResolvedSetup) -> float:
    """The L2 factor a plain-gradient step reads: the kernel penalty, or the optimizer's decoupled
    weight decay, which Keras applies as w <- w - lr * wd * w, the step an L2 factor of wd / 2
    makes (its gradient is 2 * l2 * w). An adaptive step rescales the penalty's gradient and
    leaves the decay alone, so for it the decay is read by :func:`decay_holds_weights_down`."""
    if in_family(setup.optimizer, ADAPTIVE_OPTIMIZERS):
        return setup.l2
    return max(setup.l2, setup.weight_decay / 2.0)


def decay_holds_weights_down(setup: ResolvedSetup, n_features: int) -> str | None:
    """Decoupled weight decay that no adaptive step can hold the weights up against, in words.

    Each step shrinks a weight by lr * wd * |w| while an adaptive optimizer (Adam, AdamW, RMSprop,
    Lion...) moves it by about lr at most, whatever its gradient: above |w| = 1 / wd the decay
    always wins. When that bound is below the scale the kernels start at, every layer is pulled
    below its initialization and the net collapses toward a constant output. AdamW's default
    decay (0.004) bounds the weights at 250; it takes a decay above 8 to reach the Glorot scale
    of a 64-by-64 kernel (sqrt(2 / 128) = 0.125)."""
    if setup.weight_decay <= 0 or not in_family(setup.optimizer, ADAPTIVE_OPTIMIZERS):
        return None
    bound, scale = 1.0 / setup.weight_decay, initial_weight_scale(setup, n_features)
    if not bound < scale:
        return None
    return (
        f"{setup.optimizer} weight_decay {fmt(setup.weight_decay)} shrinks every weight by learning_rate x"
        f" {fmt(setup.weight_decay)} x |w| per step while the adaptive step moves it by about learning_rate:"
        f" no weight stays above 1 / weight_decay = {fmt(bound)}, below the {fmt(scale)} the kernels start at"
    )

"""optimizer_choice: an optimizer that makes no progress at a sane step. Pure.

Plain SGD without momentum at a rate in its usual range crawls along the flat directions of
a badly conditioned problem; Adadelta or FTRL at a tiny rate barely moves. A rate at the edge of its
range is the learning rate's cause instead. Treated by Adam at Keras' default rate.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import (
    CONSEQUENCE_DISCOUNT,
    DEAD_FRACTION_HIGH,
    DEEP_LAYERS,
    STALLED,
    UNDERFIT,
    UNSTABLE,
    UPDATE_RATIO_LOW,
    VANISHING_RATIO,
    Case,
    is_plain_gradient,
    make_cause,
    sane_rate,
    steps,
    upstream_cause,
)
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt, pct, smoothed_progress
from plateau_doctor.engine.vocabulary import name_key
from plateau_doctor.schema import Finding

ADADELTA_USUAL_RATE = 1.0
"""Adadelta's step is lr x RMS(past updates) / RMS(gradients), and its paper uses lr = 1.0.
Keras' default of 0.001 (and anything under 0.1) makes each step a thousandth of that: a
net under it barely moves."""

ADADELTA_TINY_RATE = 0.1

FTRL_USUAL_RATE = 0.1
"""FTRL-Proximal (McMahan et al. 2013) divides lr by the root of each weight's summed squared
gradients, as Adagrad does, and was made for linear models on sparse features: TensorFlow's linear
estimators run it at min(0.2, 1 / sqrt(number of feature columns)), their examples at 0.1. Keras'
default of 0.001 is a hundredth of that, and the accumulated gradients shrink it further."""

FTRL_TINY_RATE = 0.01

ILL_CONDITIONED_STD_RATIO = 10.0
"""Raw features whose stds differ 10x give the first layer's curvature a spread of 100x
(it goes with the square): a plain-gradient step small enough for the steepest direction
makes almost no progress along the flattest."""

USUAL_OPTIMIZER = ("adam", 0.001)
"""Adam at Keras' default rate: it scales each weight's step by its own gradient's running
magnitude, so flat and steep directions progress alike."""


def use_adam(finding: Finding, context: TreatmentContext) -> Treatment:
    name, rate = USUAL_OPTIMIZER
    setup = context.setup
    return Treatment(
        {"training.optimizer": name, "training.learning_rate": rate},
        f"use {name} at learning rate {rate:g} instead of {setup.optimizer} at {setup.learning_rate:g}",
    )


def _conditioning(case: Case) -> list[str]:
    """Signs that the problem is badly conditioned for a plain-gradient step."""
    signs = []
    moved = steps(case)
    # Weights that do not move at all, dead units, or a gradient that vanishes before the first
    # layer mean missing gradients, not slow steps.
    missing = case.recent("dead_fraction") >= DEAD_FRACTION_HIGH or case.typical("grad_ratio_first_last") < VANISHING_RATIO
    if moved.tiny and moved.typical > 0 and not missing:
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
    treatments={"optimizer": use_adam},
    search_prior=(Narrowing.OTHER_OPTIMIZERS,),
)
def optimizer_choice(case: Case) -> Finding | None:
    """Adadelta or FTRL at a tiny rate, or plain SGD at a sane rate on a badly conditioned problem, in
    an underfit run. A rate at the edge of its range is the learning rate's cause instead."""
    if not case.has(*UNDERFIT) or case.has(*UNSTABLE):
        return None
    lr = case.setup.learning_rate
    if name_key(case.setup.optimizer) == "adadelta" and lr < ADADELTA_TINY_RATE:
        signs = _conditioning(case)
        confidence = 0.65 + 0.1 * case.has(*STALLED) + 0.1 * steps(case).tiny
        parts = [
            f"optimizer {case.setup.optimizer} at learning_rate {fmt(lr)}: Adadelta's step is lr x RMS(past updates)"
            f" / RMS(gradients) and its usual rate is {fmt(ADADELTA_USUAL_RATE)}, {fmt(ADADELTA_USUAL_RATE / lr)}x"
            " larger",
            *signs,
        ]
    elif name_key(case.setup.optimizer) == "ftrl" and lr < FTRL_TINY_RATE:
        confidence = 0.65 + 0.1 * case.has(*STALLED) + 0.1 * steps(case).tiny
        parts = [
            f"optimizer {case.setup.optimizer} at learning_rate {fmt(lr)}: FTRL divides it by the root of each weight's"
            f" summed squared gradients and is run at about {fmt(FTRL_USUAL_RATE)} (TensorFlow's linear models),"
            f" {fmt(FTRL_USUAL_RATE / lr)}x larger; it was made for linear models on sparse features",
            *_conditioning(case),
        ]
    elif is_plain_gradient(case.setup) and sane_rate(case):
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

"""bad_initialization: starting weights that leave units identical or far too large. Pure.

Read from symmetric hidden units (a zeros or constant initializer), an output constant
from epoch 1, or a loss that starts at many times a zero output's and falls steadily
(weights far too large); in a bare log, from a loss at ln k on every epoch, the first one
included (``log_readings.uniform_from_the_start``). Treated by re-initializing with the fan-scaled initializer that
suits the hidden activation the branch ends up with (He for the ReLU family, else Glorot).
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.causes.log_readings import bare_log, uniform_from_the_start
from plateau_doctor.engine.causes.penalties import decay_holds_weights_down
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import (
    DEAD_FRACTION_HIGH,
    FEATURE_RMS_HIGH,
    SYMMETRIC_FRACTION_HIGH,
    UNDERFIT,
    UNSTABLE,
    Case,
    constant_initializer,
    input_moment,
    lr_bounds,
    make_cause,
)
from plateau_doctor.engine.causes.registry import BREAKS_OUTPUT, register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.engine.levels import loss_in_audit_scale
from plateau_doctor.engine.vocabulary import UNKNOWN_INITIALIZERS, VARIANCE_PRESERVING, in_family
from plateau_doctor.schema import Finding

OUTPUT_STD_COLLAPSED = 1e-6
"""Raw outputs that do not vary over the validation rows from epoch 1 on: a constant net."""

OVERSIZED_START = 10.0
"""A fan-scaled initialization starts with outputs near 0, so the first epochs' loss sits near
the loss of a zero output: ln k nats for k classes, E[y^2] for a regression. Ten times that
means outputs of a scale a network of that width only gets from weights far too large."""

OVERSIZED_EPOCHS = 3
"""The start is read over the first epochs; the loss must fall through all of them, since a
step that blew up makes it rise or jump instead (a too large learning rate, not the weights)."""


def reinitialize(finding: Finding, context: TreatmentContext) -> Treatment:
    return Treatment(
        {"model.kernel_initializer": "he_uniform"}, "re-initialize the weights", initializer_follows_activation=True
    )


def _zero_output_loss(case: Case) -> float:
    """The default loss of an output of 0 on the target as the network sees it."""
    audit = case.audit
    if audit.task == "regression":
        return 1.0 if audit.scaled_target else audit.target_mean**2 + audit.target_std**2
    return math.log(max(2, audit.n_classes))


def _oversized_start(case: Case) -> Finding | None:
    """The loss starts at many times a zero output's and falls steadily from there."""
    initializer = case.setup.kernel_initializer
    if in_family(initializer, VARIANCE_PRESERVING) or not loss_in_audit_scale(case.setup):
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
    unknown = in_family(initializer, UNKNOWN_INITIALIZERS)
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
    return case.recent("dead_fraction") >= DEAD_FRACTION_HIGH or case.preflight_shows(BREAKS_OUTPUT)


@register(
    "bad_initialization",
    rank=30,
    words=(
        "The starting weights (all zeros, constant, or far too large) leave units identical or "
        "saturated from the first step."
    ),
    remedies=("architecture",),
    treatments={"architecture": reinitialize},
    search_prior=(Narrowing.FAN_SCALED_INIT,),
    confirmed_by=("symmetric_fraction", "output_std"),
)
def bad_initialization(case: Case) -> Finding | None:
    """Symmetric hidden units (zeros/constant initializer), an output constant from epoch 1, or
    weights so large that the loss starts far above a zero output's."""
    if bare_log(case) and case.has(*UNDERFIT) and (uniform := uniform_from_the_start(case)) is not None:
        return make_cause("bad_initialization", 0.55, f"{uniform}; the curves show {case.shown(UNDERFIT)}")
    if not case.setup.hidden_units or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    oversized = _oversized_start(case)
    if oversized is not None:
        return oversized
    named = constant_initializer(case.setup)
    symmetric = case.recent("symmetric_fraction")
    # A decay that pulls every weight to zero makes the units identical whatever they started from.
    duplicated = symmetric >= SYMMETRIC_FRACTION_HIGH and decay_holds_weights_down(case.setup, case.audit.n_features) is None
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

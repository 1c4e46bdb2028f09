"""output_activation_mismatch: an output activation that cannot fit the task. Pure.

Seen in the set-up alone, before any training (:func:`setup_check`, run by
``diagnosis.check_setup``): softmax on one unit, a bounded output on a regression target
outside its range, or an output that is not a probability under a probability loss. More
certain once the curves are sick. Treated by the output activation and loss ``auto`` picks
for the task.
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.causes.log_readings import bare_log
from plateau_doctor.engine.causes.loss_levels import loss_contradicts_accuracy, pinned_output
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import Case, classification_fit, make_cause, preflight_cause, target_band
from plateau_doctor.engine.causes.registry import BREAKS_OUTPUT, register
from plateau_doctor.engine.causes.treating import task_head
from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.engine.unstable import is_frozen
from plateau_doctor.engine.vocabulary import (
    BINARY_PROBABILITY_LOSSES,
    MULTICLASS_PROBABILITY_LOSSES,
    OUTPUT_RANGES,
    canonical_activation,
    canonical_loss,
)
from plateau_doctor.schema import DataAudit, Finding, ResolvedSetup


def _regression_output_mismatch(activation: str, audit: DataAudit | None) -> Finding | None:
    """A bounded output activation on a regression target outside its range."""
    if activation not in OUTPUT_RANGES:
        return None
    low, high = OUTPUT_RANGES[activation]
    bounds = f"({fmt(low)}, {fmt(high)})" if math.isfinite(high) else f">= {fmt(low)}"
    fit = "a regression output needs linear activation"
    band = target_band(audit)
    if band is None:
        if not math.isfinite(high):
            return None
        return make_cause(
            "output_activation_mismatch",
            0.7,
            f"output_activation {activation} can only output values in {bounds}, but a regression target is"
            f" unbounded; {fit}",
        )
    if low <= band[0] and band[1] <= high:
        return None
    return make_cause(
        "output_activation_mismatch",
        0.85 if math.isfinite(high) else 0.7,
        f"output_activation {activation} can only output values in {bounds}, but the regression target the"
        f" network sees spans {fmt(band[0])}..{fmt(band[1])} (mean +- std"
        f"{', standardized' if audit is not None and audit.scaled_target else ''}); {fit}",
    )


def setup_check(setup: ResolvedSetup, audit: DataAudit | None) -> Finding | None:
    """The output activation against the task, the output units and the loss."""
    activation = canonical_activation(setup.output_activation)
    loss = canonical_loss(setup.loss)
    units = setup.output_units
    if activation == "softmax" and units == 1:
        fit = (
            "a regression output needs linear on 1 unit"
            if setup.task == "regression"
            else "a binary task needs sigmoid on 1 unit"
        )
        return make_cause(
            "output_activation_mismatch",
            0.95,
            f"output_activation softmax on 1 output unit always outputs 1.0, whatever the input; {fit}",
        )
    if setup.task == "regression":
        return _regression_output_mismatch(activation, audit)
    if units == 1 and loss in BINARY_PROBABILITY_LOSSES:
        expected = ("sigmoid", "hard_sigmoid")
    elif units > 1 and loss in MULTICLASS_PROBABILITY_LOSSES:
        expected = ("softmax",)
    else:
        return None
    if activation in expected:
        return None
    if activation == "sigmoid":
        return make_cause(
            "output_activation_mismatch",
            0.4,
            f"output_activation sigmoid on {units} units with {loss}: the outputs do not sum to 1; Keras rescales"
            f" them so it trains, but {expected[0]} on {units} units is what fits",
        )
    return make_cause(
        "output_activation_mismatch",
        0.85 if activation == "linear" else 0.8,
        f"output_activation {activation} on {units} unit(s) with loss {loss}: Keras reads the outputs as"
        f" probabilities (from_logits=False), which {activation} outputs are not (clipped to [1e-7, 1 - 1e-7]);"
        f" {classification_fit(setup)}",
    )


FROZEN_FROM_START_EPOCHS = 4
"""Four epoch means (the first included) equal to four digits: no noise of a live network."""


def frozen_from_epoch_one(name: str, values, detection, at_chance: bool) -> Finding | None:
    """A bare log's loss that is the same on every epoch, the first one included.

    Whatever else is dead, the output layer's bias gets a gradient from any loss that reads the
    outputs, and moves the loss within the first epoch's updates (towards the target's mean, or
    the class prior): a first epoch's mean equal to every later epoch's to four digits means the
    outputs never depended on it. Softmax over one unit outputs 1.0 whatever its input; an
    output pinned at a bound from the first batch does the same. (Units killed by a large step
    die during the first epoch, so its mean differs: ``dead_relu``'s frozen reading.) Not at the
    chance level: there a bias that starts at zero already outputs the balanced prior, the best
    constant, and gets no gradient on average, so dead hidden units freeze the first epoch too.
    """
    values = np.asarray(values, dtype=float)
    if at_chance or values.size < FROZEN_FROM_START_EPOCHS or not np.all(np.isfinite(values)):
        return None
    if not float(np.mean(np.abs(values))) > 0 or not is_frozen(values):
        return None
    return make_cause(
        "output_activation_mismatch",
        0.45,
        f"{name} is {values[-1]:.6g} on every epoch, the first one included ({values.size} epochs): not even the"
        " output layer's bias, which any loss that reads the outputs trains within the first epoch, moves it;"
        " the outputs cannot vary (softmax on one unit outputs 1.0 whatever the input, an output pinned at its bound),"
        " unless nothing is trained at all (every layer frozen, a learning rate of 0)",
    )


@register(
    "output_activation_mismatch",
    rank=10,
    words=(
        "The output layer's activation does not fit the task (for example softmax on a single "
        "unit, or sigmoid on a regression target)."
    ),
    remedies=("architecture",),
    treatments={"architecture": task_head},
    search_prior=(Narrowing.TASK_HEAD,),
    properties=frozenset({BREAKS_OUTPUT}),
    setup_check=setup_check,
    frozen_log_rule=frozen_from_epoch_one,
)
def output_activation_mismatch(case: Case) -> Finding | None:
    """From ``check_setup``, more certain when the curves are sick. In a bare log, from an
    output the loss shows pinned at 0 or 1, or an accuracy the loss contradicts
    (``log_readings``): the output layer cannot vary as the task needs."""
    found = preflight_cause(case, "output_activation_mismatch")
    if found is not None or not bare_log(case) or not case.symptoms:
        return found
    seen = pinned_output(case) or loss_contradicts_accuracy(case)
    if seen is None:
        return None
    return make_cause(
        "output_activation_mismatch",
        0.6,
        f"{seen}; the curves show {', '.join(case.symptoms)}: softmax on one unit (always 1), or an output"
        " activation and loss that do not match the task",
    )

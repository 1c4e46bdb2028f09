"""loss_mismatch: a loss that cannot fit the task or the target's encoding. Pure.

Seen in the set-up alone, before any training (:func:`setup_check`, run by
``diagnosis.check_setup``): a classification loss on a regression, a loss on the wrong
number of output units, a distribution or count loss on class labels or on a target it
cannot take. More certain once the curves are sick. Treated by the output activation and
loss ``auto`` picks for the task.
"""

from __future__ import annotations

import math

from plateau_doctor.engine.causes.log_readings import at_chance, bare_log
from plateau_doctor.engine.causes.loss_levels import below_cross_entropy, frozen_off_scale, zero_loss
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import UNDERFIT, Case, classification_fit, make_cause, preflight_cause, target_band
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import task_head
from plateau_doctor.engine.vocabulary import (
    BINARY_PROBABILITY_LOSSES,
    DISTRIBUTION_LOSSES,
    HINGE_LOSSES,
    MULTICLASS_PROBABILITY_LOSSES,
    OUTPUT_RANGES,
    PROBABILITY_OUTPUTS,
    REGRESSION_LOSSES,
    canonical_activation,
    canonical_loss,
)
from plateau_doctor.schema import DataAudit, Finding, ResolvedSetup

REGRESSION_FIT = "a regression fits mean_squared_error (or mean_absolute_error / huber) on 1 linear unit"


def _regression_loss_mismatch(setup: ResolvedSetup, audit: DataAudit | None, loss: str, activation: str) -> Finding | None:
    units = setup.output_units
    classification_losses = BINARY_PROBABILITY_LOSSES + MULTICLASS_PROBABILITY_LOSSES + HINGE_LOSSES
    if loss == "poisson":
        return _poisson_mismatch(setup, audit, activation)
    if loss == "mean_squared_logarithmic_error":
        return _log_error_mismatch(audit)
    if loss in DISTRIBUTION_LOSSES:
        return make_cause(
            "loss_mismatch",
            0.85,
            f"loss {loss} compares two distributions (or two directions), not one number with another:"
            f" on {units} output unit(s) it does not measure how far the prediction is from the target;"
            f" {REGRESSION_FIT}",
        )
    if loss not in classification_losses:
        return None
    band = target_band(audit)
    if loss in BINARY_PROBABILITY_LOSSES and band is not None and 0.0 <= band[0] and band[1] <= 1.0:
        return None  # a target in [0, 1] scored by cross-entropy is a legitimate choice
    return make_cause(
        "loss_mismatch",
        0.9,
        f"loss {loss} is a classification loss but the task is regression; {REGRESSION_FIT}",
    )


def setup_check(setup: ResolvedSetup, audit: DataAudit | None) -> Finding | None:
    """The loss against the task, the output units and the target."""
    loss = canonical_loss(setup.loss)
    activation = canonical_activation(setup.output_activation)
    units = setup.output_units
    if setup.task == "regression":
        return _regression_loss_mismatch(setup, audit, loss, activation)
    fit = classification_fit(setup)
    if units == 1 and loss in ("categorical_crossentropy", "categorical_focal_crossentropy"):
        return make_cause(
            "loss_mismatch",
            0.9,
            f"loss {loss} on 1 output unit is always 0: Keras rescales the single output to 1.0, so there is"
            f" no gradient; {fit}",
        )
    if units == 1 and loss == "sparse_categorical_crossentropy":
        return make_cause(
            "loss_mismatch",
            0.85,
            f"loss sparse_categorical_crossentropy needs one output unit per class ({max(setup.n_classes, 2)}),"
            f" the model has 1; {fit}",
        )
    if units == 1 and loss in BINARY_PROBABILITY_LOSSES and setup.task == "multiclass" and setup.n_classes > 2:
        return make_cause(
            "loss_mismatch",
            0.9,
            f"loss {loss} on 1 output unit scores one yes/no probability, but the labels hold"
            f" {setup.n_classes} classes (0-{setup.n_classes - 1}): every label above 1 is a target no"
            f" probability reaches; {fit}",
        )
    if units > 1 and loss in BINARY_PROBABILITY_LOSSES:
        return make_cause(
            "loss_mismatch",
            0.8,
            f"loss {loss} on {units} output units scores each unit as an independent yes/no against an integer"
            f" class label; {fit}",
        )
    if loss in DISTRIBUTION_LOSSES or loss == "poisson":
        ignored = (
            "the rows of class 0 add nothing to it (their label is 0), so it only pushes the output up"
            if units == 1 else "the integer class label is not a distribution over the classes"
        )
        return make_cause(
            "loss_mismatch",
            0.85,
            f"loss {loss} on {units} output unit(s) against integer class labels: {ignored}; {fit}",
        )
    if loss in REGRESSION_LOSSES and units > 1:
        return make_cause(
            "loss_mismatch",
            0.8,
            f"loss {loss} compares the integer class label with each of the {units} outputs, as if the"
            f" classes were numbers; {fit}",
        )
    if loss in REGRESSION_LOSSES:
        output = f"a {activation} class probability" if activation in PROBABILITY_OUTPUTS else "a class label"
        return make_cause(
            "loss_mismatch",
            0.5,
            f"loss {loss} on {output}: it trains, but its gradient fades as the output saturates and it does"
            f" not score probabilities; {fit}",
        )
    return None


def _poisson_mismatch(setup: ResolvedSetup, audit: DataAudit | None, activation: str) -> Finding | None:
    """Poisson is the negative log-likelihood of counts: ``y_pred - y_true * log(y_pred)`` needs
    a target >= 0 and an output > 0, else the logarithm of a negative number is NaN."""
    band = target_band(audit)
    low = OUTPUT_RANGES.get(activation, (-math.inf, math.inf))[0]
    negative_target = band is not None and band[0] < 0
    if not negative_target and low >= 0:
        return None
    reasons = []
    if negative_target:
        seen = "standardized" if audit is not None and audit.scaled_target else "as the network sees it"
        reasons.append(f"the target ({seen}) spans about {band[0]:.3g} .. {band[1]:.3g}, below 0")
    if low < 0:
        reasons.append(f"the {activation} output can go below 0")
    return make_cause(
        "loss_mismatch",
        0.85 if negative_target else 0.6,
        "loss poisson is the negative log-likelihood of counts (y_pred - y_true * log(y_pred)): it needs a"
        f" target >= 0 and a positive output, but {' and '.join(reasons)}, where its logarithm is NaN;"
        f" {REGRESSION_FIT}",
    )


def _log_error_mismatch(audit: DataAudit | None) -> Finding | None:
    """Keras' mean squared logarithmic error compares log(max(y, eps) + 1) of target and output: every
    value below 0 counts as 0, so a target with a part below 0 (a standardized one has about half)
    cannot be fitted there, and an output pushed below 0 gets no gradient back."""
    band = target_band(audit)
    if band is None or not band[0] < 0:
        return None
    seen = "standardized" if audit is not None and audit.scaled_target else "as the network sees it"
    return make_cause(
        "loss_mismatch",
        0.85,
        f"loss mean_squared_logarithmic_error compares log(max(y, eps) + 1) of target and output, but the target"
        f" ({seen}) spans about {band[0]:.3g} .. {band[1]:.3g}: every target below 0 counts as 0, so those rows"
        f" cannot be told apart, and an output below 0 gets no gradient; {REGRESSION_FIT} (or keep the log error"
        " on the unscaled, non-negative target)",
    )


@register(
    "loss_mismatch",
    rank=20,
    words="The loss function does not fit the task or the way the target is encoded.",
    remedies=("architecture",),
    treatments={"architecture": task_head},
    search_prior=(Narrowing.TASK_HEAD,),
    setup_check=setup_check,
)
def loss_mismatch(case: Case) -> Finding | None:
    """From ``check_setup``, more certain when the curves are sick; in a bare log, a loss that
    is exactly 0 from the first epoch while rows are wrong (``loss_levels.zero_loss``), or one
    frozen at chance accuracy far above the chance level (``loss_levels.frozen_off_scale``)."""
    if bare_log(case) and (blind := zero_loss(case)) is not None:
        return make_cause("loss_mismatch", 0.7, blind)
    if bare_log(case) and case.has(*UNDERFIT) and at_chance(case) and (scale := frozen_off_scale(case)) is not None:
        return make_cause("loss_mismatch", 0.6, f"{scale}; the curves show {case.shown(UNDERFIT)}")
    if bare_log(case) and case.has(*UNDERFIT) and (squared := below_cross_entropy(case)) is not None:
        return make_cause("loss_mismatch", 0.55, f"{squared}; the curves show {case.shown(UNDERFIT)}")
    return preflight_cause(case, "loss_mismatch")

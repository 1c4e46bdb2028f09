"""Family: a set-up that cannot fit the task, seen before any training. Pure.

:func:`check_setup` reads the set-up alone (an output activation or a loss that cannot fit
the task); the two causes repeat what it found, more certain once the curves are sick.
"""

from __future__ import annotations

import math

from plateau_doctor.engine.causes.readings import Case, fmt, make_cause
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.vocabulary import canonical_activation, canonical_loss
from plateau_doctor.schema import DataAudit, Finding, ResolvedSetup

SICK_BOOST = 0.1
"""A mismatch found before training is more certain once the curves are sick too."""

_BINARY_PROBABILITY_LOSSES = ("binary_crossentropy", "binary_focal_crossentropy")
_MULTICLASS_PROBABILITY_LOSSES = (
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "categorical_focal_crossentropy",
)
_HINGE_LOSSES = ("hinge", "squared_hinge", "categorical_hinge")
_REGRESSION_LOSSES = (
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "log_cosh",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
)
_PROBABILITY_OUTPUTS = ("sigmoid", "hard_sigmoid", "softmax")
_DISTRIBUTION_LOSSES = ("kl_divergence", "cosine_similarity")
"""Losses between whole vectors (two distributions, two directions): not for one number, nor
for an integer class label."""

OUTPUT_RANGES: dict[str, tuple[float, float]] = {
    "sigmoid": (0.0, 1.0),
    "hard_sigmoid": (0.0, 1.0),
    "tanh": (-1.0, 1.0),
    "softsign": (-1.0, 1.0),
    "hard_tanh": (-1.0, 1.0),
    "relu6": (0.0, 6.0),
    "relu": (0.0, math.inf),
    "softplus": (0.0, math.inf),
    "exponential": (0.0, math.inf),
}
"""What a bounded output activation can produce. A regression output must cover the target."""



def _target_band(audit: DataAudit | None) -> tuple[float, float] | None:
    """mean - std .. mean + std of the regression target as the network sees it."""
    if audit is None:
        return None
    if audit.scaled_target:
        return -1.0, 1.0
    if not (math.isfinite(audit.target_mean) and math.isfinite(audit.target_std)):
        return None
    return audit.target_mean - audit.target_std, audit.target_mean + audit.target_std


def _classification_fit(setup: ResolvedSetup) -> str:
    if setup.task == "binary":
        return "a binary task fits binary_crossentropy on 1 sigmoid unit"
    k = setup.n_classes
    return f"a {k}-class task fits sparse_categorical_crossentropy on {k} softmax units"


def _regression_output_mismatch(activation: str, audit: DataAudit | None) -> Finding | None:
    """A bounded output activation on a regression target outside its range."""
    if activation not in OUTPUT_RANGES:
        return None
    low, high = OUTPUT_RANGES[activation]
    bounds = f"({fmt(low)}, {fmt(high)})" if math.isfinite(high) else f">= {fmt(low)}"
    fit = "a regression output needs linear activation"
    band = _target_band(audit)
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


def _output_activation_mismatch(setup: ResolvedSetup, audit: DataAudit | None) -> Finding | None:
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
    if units == 1 and loss in _BINARY_PROBABILITY_LOSSES:
        expected = ("sigmoid", "hard_sigmoid")
    elif units > 1 and loss in _MULTICLASS_PROBABILITY_LOSSES:
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
        f" {_classification_fit(setup)}",
    )


def _loss_mismatch(setup: ResolvedSetup, audit: DataAudit | None) -> Finding | None:
    loss = canonical_loss(setup.loss)
    activation = canonical_activation(setup.output_activation)
    units = setup.output_units
    if setup.task == "regression":
        classification_losses = _BINARY_PROBABILITY_LOSSES + _MULTICLASS_PROBABILITY_LOSSES + _HINGE_LOSSES
        if loss == "poisson":
            return _poisson_mismatch(setup, audit, activation)
        if loss in _DISTRIBUTION_LOSSES:
            return make_cause(
                "loss_mismatch",
                0.85,
                f"loss {loss} compares two distributions (or two directions), not one number with another:"
                f" on {units} output unit(s) it does not measure how far the prediction is from the target;"
                " a regression fits mean_squared_error (or mean_absolute_error / huber) on 1 linear unit",
            )
        if loss not in classification_losses:
            return None
        band = _target_band(audit)
        if loss in _BINARY_PROBABILITY_LOSSES and band is not None and 0.0 <= band[0] and band[1] <= 1.0:
            return None  # a target in [0, 1] scored by cross-entropy is a legitimate choice
        return make_cause(
            "loss_mismatch",
            0.9,
            f"loss {loss} is a classification loss but the task is regression; a regression fits"
            " mean_squared_error (or mean_absolute_error / huber) on 1 linear unit",
        )
    fit = _classification_fit(setup)
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
    if units > 1 and loss in _BINARY_PROBABILITY_LOSSES:
        return make_cause(
            "loss_mismatch",
            0.8,
            f"loss {loss} on {units} output units scores each unit as an independent yes/no against an integer"
            f" class label; {fit}",
        )
    if loss in _DISTRIBUTION_LOSSES or loss == "poisson":
        ignored = (
            "the rows of class 0 add nothing to it (their label is 0), so it only pushes the output up"
            if units == 1 else "the integer class label is not a distribution over the classes"
        )
        return make_cause(
            "loss_mismatch",
            0.85,
            f"loss {loss} on {units} output unit(s) against integer class labels: {ignored}; {fit}",
        )
    if loss in _REGRESSION_LOSSES and units > 1:
        return make_cause(
            "loss_mismatch",
            0.8,
            f"loss {loss} compares the integer class label with each of the {units} outputs, as if the"
            f" classes were numbers; {fit}",
        )
    if loss in _REGRESSION_LOSSES:
        output = f"a {activation} class probability" if activation in _PROBABILITY_OUTPUTS else "a class label"
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
    band = _target_band(audit)
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
        " a regression fits mean_squared_error (or mean_absolute_error / huber) on 1 linear unit",
    )


def check_setup(setup: ResolvedSetup, audit: DataAudit | None = None) -> list[Finding]:
    """Causes visible in the set-up alone, before training: an output activation or a loss
    that cannot fit the task. ``audit`` (optional) tells a regression target's range."""
    found = [_output_activation_mismatch(setup, audit), _loss_mismatch(setup, audit)]
    return sorted((finding for finding in found if finding is not None), key=lambda finding: -finding.confidence)


def _preflight_cause(case: Case, name: str) -> Finding | None:
    """A mismatch :func:`check_setup` found, boosted by the sick symptoms (a healthy run has no
    cause, whatever its set-up; :func:`check_setup` still reports it before training): whatever the curves
    show (a stall, instability, or a val_loss that explodes on clipped probabilities and
    reads as overfitting), a set-up that cannot fit the task explains it first."""
    found = case.preflight.get(name)
    if found is None or not case.symptoms:
        return None
    return make_cause(name, found.confidence + SICK_BOOST, found.evidence)


@register(
    "output_activation_mismatch",
    rank=10,
    words=(
        "The output layer's activation does not fit the task (for example softmax on a single "
        "unit, or sigmoid on a regression target)."
    ),
    remedies=("architecture",),
)
def output_activation_mismatch(case: Case) -> Finding | None:
    """From :func:`check_setup`, more certain when the curves are sick."""
    return _preflight_cause(case, "output_activation_mismatch")


@register(
    "loss_mismatch",
    rank=20,
    words="The loss function does not fit the task or the way the target is encoded.",
    remedies=("architecture",),
)
def loss_mismatch(case: Case) -> Finding | None:
    """From :func:`check_setup`, more certain when the curves are sick."""
    return _preflight_cause(case, "loss_mismatch")

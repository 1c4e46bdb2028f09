"""Causes: why the curves look sick, from the symptoms, the training signals, the data audit
and the set-up. Pure: numpy only, no Keras, no Prefect.

:func:`check_setup` reads the set-up alone, before any training, for an output activation
or a loss that cannot fit the task. :func:`diagnose` ranks every cause of
``schema.CAUSES`` that the evidence supports. Each cause is one rule with one shared
signature, ``(Case) -> Finding | None`` (as fastai's learning-rate suggestion rules), kept
by name in :data:`CAUSE_RULES`.

Rules:

- a healthy run (only ``converged``) has no cause: :func:`diagnose` returns ``[]``;
- confidences are in 0..1. Structural causes that leave no doubt (a mismatch found before
  training, a symmetric initialization, data without signal) are given higher confidences
  than generic ones (learning rate, capacity), and win ties (:data:`SPECIFICITY`);
- ``no_learnable_signal`` follows the learnable-signal rule of ``detection``: a flat
  curve at the trivial level is ``stuck_at_trivial`` whatever the data, and when the
  reference model cannot beat the trivial predictor either, the cause is
  ``no_learnable_signal``; a network at the reference's (poor) level is ``converged`` and
  gets no cause at all;
- dead units and vanishing gradients that an upstream cause explains (a large learning
  rate, a constant initializer) rank below it (:data:`CONSEQUENCE_DISCOUNT`), and a large
  rate is never "too low" even when the net it froze takes tiny steps;
- causes under :data:`REPORT_CONFIDENCE` are left out.

Per-epoch signals are read as the training side records them (``schema.HISTORY_SIGNALS``):
"recent" is the mean over the last ``patience`` epochs, "typical" the median after the
warm-up (``start_from_epoch``). A signal that was not recorded never supports a cause.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from plateau_doctor.config import DetectionConfig, DoctorConfig, PreprocessingConfig
from plateau_doctor.detection import (
    COLLAPSE_SHARE,
    History,
    canonical_activation,
    canonical_loss,
    chance_balanced_accuracy,
    column,
    detect_symptoms,
    is_classification,
    metric_value,
    recent_mean,
    reference_gap,
    reference_has_signal,
    series,
    smoothed_progress,
    typical_value,
)
from plateau_doctor.schema import SICK_SYMPTOMS, DataAudit, Finding, ResolvedSetup

STALLED = ("stuck_at_trivial", "plateau")
UNDERFIT = ("stuck_at_trivial", "plateau", "slow_convergence")
UNSTABLE = ("diverged", "oscillation")

ADAPTIVE_OPTIMIZERS = ("adam", "adamw", "nadam", "adamax", "rmsprop", "lion", "adafactor", "lamb")
"""Optimizers that scale each step by the gradient's running magnitude: their step is about
the learning rate itself, so their usable range is lower than plain SGD's."""

LR_HIGH_ADAPTIVE = 0.05
"""Adam-family steps of 0.05 per weight are already a sizable share of typical weights
(~0.1 with Glorot initialization); Keras' default is 0.001."""

LR_HIGH_OTHER = 1.0
"""SGD-like optimizers (step = lr x gradient) rarely survive a learning rate of 1."""

LR_LOW_ADAPTIVE = 1e-5
"""Adam-family steps of 1e-5 per weight need thousands of epochs on a small table."""

LR_LOW_OTHER = 1e-4
"""SGD-like steps at 1e-4 x gradient barely move a dense network in a few hundred epochs."""

UPDATE_RATIO_HIGH = 0.5
"""update_ratio is per epoch (||dW|| / ||W||). Half the weights' norm every epoch, after the
warm-up, means the weights are thrown around rather than refined."""

UPDATE_RATIO_PEAK = 2.0
"""One epoch that moved the weights by twice their norm: a blow-up, even if the net froze after."""

UPDATE_RATIO_LOW = 1e-3
"""Under 0.1% of the weights' norm per epoch, a network needs hundreds of epochs to change
noticeably: the steps are too small (unless the units are dead and have no gradient)."""

DEAD_FRACTION_HIGH = 0.5
"""Half of the ReLU units dead (0 on every validation row) removes half the capacity and
their gradient; well-initialized nets keep this under 10-20%."""

CONSEQUENCE_DISCOUNT = 0.2
"""Dead units and vanishing gradients are often consequences of an upstream cause: a large
learning rate (one big step drives the biases far below 0 and freezes the net) or a
constant initializer (every unit identical, zero gradient to the first layer). When one is
present they weigh less as causes of their own."""

DEAD_FRACTION_ALL = 0.9
"""With nearly every unit dead, tiny updates come from missing gradients, not the learning rate."""

SATURATED_FRACTION_HIGH = 0.5
"""Half the sigmoid/tanh activations pinned at a bound: their gradient is ~0."""

SYMMETRIC_FRACTION_HIGH = 0.9
"""Nearly all hidden units duplicate another unit's weights: they can never differ again
(zeros or constant initialization), so the layer acts as one unit."""

OUTPUT_STD_COLLAPSED = 1e-6
"""Raw outputs that do not vary over the validation rows from epoch 1 on: a constant net."""

VANISHING_RATIO = 0.01
"""The first layer's gradient under 1% of the output layer's: the early layers barely learn."""

VANISHING_RATIO_SEVERE = 1e-4

EXPLODING_RATIO = 100.0
"""The first layer's gradient 100x the output layer's: gradients grow on the way back."""

GRAD_GROWTH = 1e3
"""Gradient norm growing by three orders of magnitude during the fit."""

GRAD_GROWTH_SEVERE = 1e6

DEEP_LAYERS = 3
"""Vanishing and exploding gradients compound with depth; 3+ hidden layers make them likely."""

SATURATING_ACTIVATIONS = ("sigmoid", "tanh", "hard_sigmoid", "softsign", "hard_tanh")

FEATURE_STD_RATIO_HIGH = 100.0
"""Features whose scales differ 100x make one step size wrong for most weights."""

FEATURE_STD_HIGH = 100.0
"""A raw feature std above 100 pushes the first pre-activations to hundreds: saturation or
dead units from the first step."""

FEATURE_SCALE_SEVERE = 1e3

TARGET_STD_HIGH = 100.0
"""A raw regression target with std above 100 makes the MSE and its gradients 1e4x larger
than with a standardized target, and the output bias must travel that far."""

TARGET_MEAN_TO_STD = 10.0
TARGET_MEAN_HIGH = 100.0
"""...and so does a target far from 0 (|mean| > 100 and > 10 std): the net starts ~0."""

TARGET_SCALE_SEVERE = 1e3

IMBALANCE_SHARE = 0.6
"""Imbalanced when the majority class holds 60% of the way from uniform (1/k) to
everything: 0.8 for binary, 0.73 for 3 classes, 0.64 for 10."""

IMBALANCE_SEVERE = 0.9

COLLAPSED_BALANCED_ACCURACY_MARGIN = 0.05
"""A balanced accuracy within 0.05 of chance is what a majority-only classifier scores."""

REFERENCE_BEATS_CHANCE = 0.1
"""The reference model's balanced accuracy 0.1 above chance: the minority is learnable."""

SMALL_NETWORK_UNITS = 8
"""At most 8 hidden units in all, or no hidden layer: too few for the nonlinear structure
gradient boosting finds."""

BOTTLENECK_UNITS = 2
"""A hidden layer of 1-2 units squeezes every later layer through 1-2 numbers."""

SICK_BOOST = 0.1
"""A mismatch found before training is more certain once the curves are sick too."""

REPORT_CONFIDENCE = 0.3
"""Causes below this are too weakly supported to report."""

SPECIFICITY: tuple[str, ...] = (
    "output_activation_mismatch",
    "loss_mismatch",
    "bad_initialization",
    "no_learnable_signal",
    "unscaled_target",
    "unscaled_features",
    "class_imbalance",
    "exploding_gradients",
    "vanishing_gradients",
    "dead_relu",
    "learning_rate_too_high",
    "learning_rate_too_low",
    "overfitting",
    "insufficient_capacity",
)
"""Tie-break order, most specific first."""

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


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _pct(value: float) -> str:
    return f"{100.0 * value:.1f}%"


def _cause(name: str, confidence: float, evidence: str) -> Finding:
    return Finding(kind="cause", name=name, confidence=round(min(1.0, max(0.0, confidence)), 3), evidence=evidence)


def _rank(findings: Sequence[Finding]) -> list[Finding]:
    """Most confident first; ties go to the more specific cause."""
    return sorted(
        findings,
        key=lambda f: (-f.confidence, SPECIFICITY.index(f.name) if f.name in SPECIFICITY else len(SPECIFICITY)),
    )


# --- check_setup: before any training -------------------------------------------------


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
    bounds = f"({_fmt(low)}, {_fmt(high)})" if math.isfinite(high) else f">= {_fmt(low)}"
    fit = "a regression output needs linear activation"
    band = _target_band(audit)
    if band is None:
        if not math.isfinite(high):
            return None
        return _cause(
            "output_activation_mismatch",
            0.7,
            f"output_activation {activation} can only output values in {bounds}, but a regression target is"
            f" unbounded; {fit}",
        )
    if low <= band[0] and band[1] <= high:
        return None
    return _cause(
        "output_activation_mismatch",
        0.85 if math.isfinite(high) else 0.7,
        f"output_activation {activation} can only output values in {bounds}, but the regression target the"
        f" network sees spans {_fmt(band[0])}..{_fmt(band[1])} (mean +- std"
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
        return _cause(
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
        return _cause(
            "output_activation_mismatch",
            0.4,
            f"output_activation sigmoid on {units} units with {loss}: the outputs do not sum to 1; Keras rescales"
            f" them so it trains, but {expected[0]} on {units} units is what fits",
        )
    return _cause(
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
        if loss not in classification_losses:
            return None
        band = _target_band(audit)
        if loss in _BINARY_PROBABILITY_LOSSES and band is not None and 0.0 <= band[0] and band[1] <= 1.0:
            return None  # a target in [0, 1] scored by cross-entropy is a legitimate choice
        return _cause(
            "loss_mismatch",
            0.9,
            f"loss {loss} is a classification loss but the task is regression; a regression fits"
            " mean_squared_error (or mean_absolute_error / huber) on 1 linear unit",
        )
    fit = _classification_fit(setup)
    if units == 1 and loss in ("categorical_crossentropy", "categorical_focal_crossentropy"):
        return _cause(
            "loss_mismatch",
            0.9,
            f"loss {loss} on 1 output unit is always 0: Keras rescales the single output to 1.0, so there is"
            f" no gradient; {fit}",
        )
    if units == 1 and loss == "sparse_categorical_crossentropy":
        return _cause(
            "loss_mismatch",
            0.85,
            f"loss sparse_categorical_crossentropy needs one output unit per class ({max(setup.n_classes, 2)}),"
            f" the model has 1; {fit}",
        )
    if units > 1 and loss in _BINARY_PROBABILITY_LOSSES:
        return _cause(
            "loss_mismatch",
            0.8,
            f"loss {loss} on {units} output units scores each unit as an independent yes/no against an integer"
            f" class label; {fit}",
        )
    if loss in _REGRESSION_LOSSES and units > 1:
        return _cause(
            "loss_mismatch",
            0.8,
            f"loss {loss} compares the integer class label with each of the {units} outputs, as if the"
            f" classes were numbers; {fit}",
        )
    if loss in _REGRESSION_LOSSES:
        output = f"a {activation} class probability" if activation in _PROBABILITY_OUTPUTS else "a class label"
        return _cause(
            "loss_mismatch",
            0.5,
            f"loss {loss} on {output}: it trains, but its gradient fades as the output saturates and it does"
            f" not score probabilities; {fit}",
        )
    return None


def check_setup(setup: ResolvedSetup, audit: DataAudit | None = None) -> list[Finding]:
    """Causes visible in the set-up alone, before training: an output activation or a loss
    that cannot fit the task. ``audit`` (optional) tells a regression target's range."""
    found = [_output_activation_mismatch(setup, audit), _loss_mismatch(setup, audit)]
    return _rank([finding for finding in found if finding is not None])


# --- diagnose: the rules -------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """Everything a cause rule may read about one run."""

    history: History
    audit: DataAudit
    setup: ResolvedSetup
    detection: DetectionConfig
    symptoms: dict[str, Finding]
    preflight: dict[str, Finding]
    preprocessing: PreprocessingConfig | None

    def has(self, *names: str) -> bool:
        return any(name in self.symptoms for name in names)

    def signal(self, name: str) -> np.ndarray | None:
        return series(self.history, name)

    def recent(self, name: str) -> float:
        """Mean over the last ``patience`` epochs (the run's end state)."""
        return recent_mean(self.signal(name), self.detection.patience)

    def typical(self, name: str) -> float:
        """Median after the warm-up (the run's usual behaviour)."""
        return typical_value(self.signal(name), self.detection.start_from_epoch)

    def shown(self, names: Sequence[str]) -> str:
        """The symptoms among ``names`` that the run shows, for evidence."""
        return ", ".join(name for name in names if name in self.symptoms)

    def measured(self, *names: str) -> str:
        """The recent value of each recorded signal among ``names``, for evidence."""
        values = ((name, self.recent(name)) for name in names)
        return ", ".join(f"{name} {_fmt(value)}" for name, value in values if math.isfinite(value))


CauseRule = Callable[[Case], "Finding | None"]


def _lr_bounds(setup: ResolvedSetup) -> tuple[float, float, str]:
    """(too low, too high, family) learning rates for the set-up's optimizer."""
    optimizer = setup.optimizer.strip().lower().replace("_", "")
    if optimizer in ADAPTIVE_OPTIMIZERS:
        return LR_LOW_ADAPTIVE, LR_HIGH_ADAPTIVE, f"adaptive optimizer {setup.optimizer}"
    return LR_LOW_OTHER, LR_HIGH_OTHER, f"optimizer {setup.optimizer}"


def learning_rate_too_high(case: Case) -> Finding | None:
    """Unstable curves (diverged, oscillation), or a stall after a large rate damaged the net."""
    _, high, family = _lr_bounds(case.setup)
    lr = case.setup.learning_rate
    large = lr >= high
    ratio, peak = case.typical("update_ratio"), _finite_max(case.signal("update_ratio"))
    jumpy = ratio > UPDATE_RATIO_HIGH or peak > UPDATE_RATIO_PEAK
    dead, saturated = case.recent("dead_fraction"), case.recent("saturated_fraction")
    damaged = dead >= DEAD_FRACTION_HIGH or saturated >= SATURATED_FRACTION_HIGH
    if case.has(*UNSTABLE):
        confidence = 0.45 + 0.3 * large + 0.15 * jumpy
        shown = f"the curves show {case.shown(UNSTABLE)}"
    elif case.has(*STALLED) and large:
        confidence = 0.5 + 0.3 * (jumpy or damaged)
        shown = f"the curves show {case.shown(STALLED)}"
    else:
        return None
    rate = "large" if large else "in the usual range"
    parts = [shown, f"learning_rate {_fmt(lr)} is {rate} for {family} (large from {_fmt(high)})"]
    if math.isfinite(ratio):
        parts.append(
            f"update_ratio typically {_fmt(ratio)} and at most {_fmt(peak)} per epoch"
            f" (> {_fmt(UPDATE_RATIO_HIGH)} typically or > {_fmt(UPDATE_RATIO_PEAK)} once is jumpy)"
        )
    if damaged:
        parts.append(f"{case.measured('dead_fraction', 'saturated_fraction')}: units knocked out")
    return _cause("learning_rate_too_high", confidence, "; ".join(parts))


def learning_rate_too_low(case: Case) -> Finding | None:
    """Slow steady progress, or a stall with tiny steps or a tiny rate.

    Never for a large rate: tiny steps then come from units it killed or froze.
    """
    low, high, family = _lr_bounds(case.setup)
    lr = case.setup.learning_rate
    if lr >= high:
        return None
    small = lr <= low
    ratio = case.typical("update_ratio")
    tiny_steps = ratio < UPDATE_RATIO_LOW and not case.recent("dead_fraction") >= DEAD_FRACTION_ALL
    loss = case.signal("loss")
    progress = smoothed_progress(loss, case.detection) if loss is not None else None
    creeping = progress is not None and progress > 0
    if case.has("slow_convergence"):
        confidence = 0.4 + 0.3 * small + 0.2 * tiny_steps
    elif case.has(*STALLED) and (small or tiny_steps):
        confidence = 0.3 + 0.3 * small + 0.2 * tiny_steps + 0.1 * creeping
    else:
        return None
    rate = "small" if small else "in the usual range"
    parts = [
        f"the curves show {case.shown(UNDERFIT)}",
        f"learning_rate {_fmt(lr)} is {rate} for {family} (small up to {_fmt(low)})",
    ]
    if math.isfinite(ratio):
        parts.append(f"typical update_ratio {_fmt(ratio)} per epoch (too small below {_fmt(UPDATE_RATIO_LOW)})")
    if progress is not None:
        parts.append(f"smoothed loss still changes {_pct(progress)} over the last {case.detection.patience} epochs")
    return _cause("learning_rate_too_low", confidence, "; ".join(parts))


def unscaled_features(case: Case) -> Finding | None:
    """Raw features of very different or very large scales, fed to the network as they are."""
    audit = case.audit
    if audit.scaled_features or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    ratio, widest = audit.feature_std_ratio, audit.max_feature_std
    if not (ratio > FEATURE_STD_RATIO_HIGH or widest > FEATURE_STD_HIGH):
        return None
    dead, saturated = case.recent("dead_fraction"), case.recent("saturated_fraction")
    damaged = dead >= DEAD_FRACTION_HIGH or saturated >= SATURATED_FRACTION_HIGH
    severe = ratio > FEATURE_SCALE_SEVERE or widest > FEATURE_SCALE_SEVERE
    confidence = 0.5 + 0.2 * severe + 0.15 * damaged + 0.1 * case.has(*STALLED)
    feature = max(audit.features, key=lambda f: f.std)
    parts = [
        "features are not scaled (preprocessing.scale_features is off)",
        f"largest feature std {_fmt(widest)} ({feature.name}), largest/smallest std ratio {_fmt(ratio)}"
        f" (> {_fmt(FEATURE_STD_RATIO_HIGH)} or std > {_fmt(FEATURE_STD_HIGH)} is unscaled)",
        f"the curves show {case.shown(UNDERFIT + UNSTABLE)}",
    ]
    if damaged:
        parts.append(case.measured("dead_fraction", "saturated_fraction"))
    return _cause("unscaled_features", confidence, "; ".join(parts))


def unscaled_target(case: Case) -> Finding | None:
    """A regression target with a large scale or offset, fed to the network as it is."""
    audit = case.audit
    if audit.task != "regression" or audit.scaled_target or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    mean, std = audit.target_mean, audit.target_std
    offset = abs(mean) > TARGET_MEAN_HIGH and abs(mean) > TARGET_MEAN_TO_STD * std
    if not (std > TARGET_STD_HIGH or offset):
        return None
    severe = std > TARGET_SCALE_SEVERE or abs(mean) > TARGET_SCALE_SEVERE
    confidence = 0.55 + 0.2 * severe + 0.1 * case.has(*STALLED)
    return _cause(
        "unscaled_target",
        confidence,
        f"the regression target is not scaled (preprocessing.scale_target is off): mean {_fmt(mean)}, std"
        f" {_fmt(std)} (std > {_fmt(TARGET_STD_HIGH)}, or |mean| > {_fmt(TARGET_MEAN_HIGH)} and >"
        f" {_fmt(TARGET_MEAN_TO_STD)} std, is unscaled); the curves show {case.shown(UNDERFIT + UNSTABLE)}",
    )


def class_imbalance(case: Case) -> Finding | None:
    """A dominant class, not re-weighted, and predictions collapsed onto it.

    Fully collapsed (balanced accuracy at chance) is the clearest case. Short of that, a
    net that predicts the majority class for more of the rows than it holds, while its
    balanced accuracy stays clearly below the reference's, is still being pulled toward
    the majority: the minority classes it misses are learnable. Without that bias, a gap
    alone is only weak evidence.
    """
    audit = case.audit
    if not is_classification(audit.task) or not case.has(*UNDERFIT):
        return None
    prep = case.preprocessing
    if prep is not None and (prep.class_weight != "none" or prep.resample != "none"):
        return None
    chance = chance_balanced_accuracy(audit)
    threshold = chance + IMBALANCE_SHARE * (1.0 - chance)
    share = audit.majority_share
    if not share >= threshold:
        return None
    balanced = case.recent("val_balanced_accuracy")
    majority = case.recent("pred_majority_share")
    reference = metric_value(audit.reference_metrics, "val_balanced_accuracy")
    collapsed = balanced <= chance + COLLAPSED_BALANCED_ACCURACY_MARGIN and not majority < COLLAPSE_SHARE
    learnable = reference >= chance + REFERENCE_BEATS_CHANCE
    over_predicted = majority > share
    if collapsed and learnable:
        confidence = 0.6 + 0.15 * (majority >= COLLAPSE_SHARE) + 0.1 * (share >= IMBALANCE_SEVERE)
    elif reference - balanced > REFERENCE_BEATS_CHANCE:
        confidence = 0.5 + 0.1 * (share >= IMBALANCE_SEVERE) if over_predicted else 0.35
    else:
        return None
    parts = [
        f"majority class holds {_pct(share)} of the training rows (imbalanced from {_pct(threshold)})"
        ", with no class_weight or resampling",
        f"val_balanced_accuracy {_fmt(balanced)} vs chance {_fmt(chance)} and the reference model's {_fmt(reference)}",
    ]
    if math.isfinite(majority):
        parts.append(
            f"{_pct(majority)} of validation predictions are the most predicted class"
            + (f", more than the majority's {_pct(share)} share of the rows" if over_predicted else "")
        )
    return _cause("class_imbalance", confidence, "; ".join(parts))


def _network_size(setup: ResolvedSetup) -> str | None:
    """Why the network is small, or None."""
    units = setup.hidden_units
    if not units:
        return "no hidden layer (a linear model)"
    if sum(units) <= SMALL_NETWORK_UNITS:
        return f"{sum(units)} hidden units in all ({units})"
    if min(units) <= BOTTLENECK_UNITS:
        return f"a bottleneck layer of {min(units)} unit(s) ({units})"
    return None


CAPACITY_CREEPING_DISCOUNT = 0.1
"""A small net whose training loss still creeps down is less surely at its limit than one
that has stopped: it is only read as one when its validation loss has stopped improving."""


def insufficient_capacity(case: Case) -> Finding | None:
    """A small network that trains healthily yet stalls clearly short of the reference.

    Stalled means a plateau (or stuck at trivial); or slow convergence whose validation
    loss has stopped improving over the last ``patience`` epochs while the training loss,
    still above the reference model's validation loss, creeps down: more epochs of a net
    that cannot fit its training split will not close the gap.
    """
    small = _network_size(case.setup)
    gap = reference_gap(case.history, case.audit, case.detection, setup=case.setup)
    if small is None or gap is None or not gap.far:
        return None
    loss = case.signal("loss")
    underfits = loss is not None and recent_mean(loss, case.detection.patience) > case.audit.reference_val_loss
    creeping = False
    if not case.has(*STALLED):
        val = case.signal("val_loss")
        val_progress = smoothed_progress(val, case.detection) if val is not None else None
        creeping = (
            case.has("slow_convergence")
            and underfits
            and val_progress is not None
            and val_progress < case.detection.min_delta
        )
        if not creeping:
            return None
    ratio, update = case.typical("grad_ratio_first_last"), case.typical("update_ratio")
    unhealthy = (
        ratio < VANISHING_RATIO
        or ratio > EXPLODING_RATIO
        or case.recent("dead_fraction") >= DEAD_FRACTION_HIGH
        or case.recent("symmetric_fraction") >= SYMMETRIC_FRACTION_HIGH
        or update < UPDATE_RATIO_LOW
        or update > UPDATE_RATIO_HIGH
    )
    if unhealthy:
        return None
    confidence = 0.55 + 0.2 * min(1.0, (gap.ratio - 1.0) / 3.0) + 0.1 * underfits
    confidence -= CAPACITY_CREEPING_DISCOUNT * creeping
    parts = [f"the network is small: {small}", gap.describe(), "gradients, updates and units look healthy"]
    if underfits:
        parts.append(
            f"training loss {_fmt(recent_mean(loss, case.detection.patience))} stays above the reference model's"
            f" validation loss {_fmt(case.audit.reference_val_loss)}"
        )
    if creeping:
        parts.append(
            "the training loss still creeps down but the validation loss stopped improving over the last"
            f" {case.detection.patience} epochs"
        )
    return _cause("insufficient_capacity", confidence, "; ".join(parts))


def overfitting(case: Case) -> Finding | None:
    """The overfitting symptom is its own cause: the net memorizes the training split."""
    symptom = case.symptoms.get("overfitting")
    if symptom is None:
        return None
    return _cause(
        "overfitting",
        min(0.9, symptom.confidence),
        f"{symptom.evidence}; the network fits the training split ever better while generalizing worse",
    )


def _preflight_cause(case: Case, name: str) -> Finding | None:
    """A mismatch :func:`check_setup` found, boosted by any sick symptom: whatever the curves
    show (a stall, instability, or a val_loss that explodes on clipped probabilities and
    reads as overfitting), a set-up that cannot fit the task explains it first."""
    found = case.preflight.get(name)
    if found is None:
        return None
    boost = SICK_BOOST if case.symptoms else 0.0
    return _cause(name, found.confidence + boost, found.evidence)


def output_activation_mismatch(case: Case) -> Finding | None:
    """From :func:`check_setup`, more certain when the curves are sick."""
    return _preflight_cause(case, "output_activation_mismatch")


def loss_mismatch(case: Case) -> Finding | None:
    """From :func:`check_setup`, more certain when the curves are sick."""
    return _preflight_cause(case, "loss_mismatch")


def dead_relu(case: Case) -> Finding | None:
    """Most ReLU units output 0 on every row (the signal is NaN for nets without ReLU units)."""
    dead = case.recent("dead_fraction")
    if not dead >= DEAD_FRACTION_HIGH or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    upstream = _upstream_cause(case)
    evidence = (
        f"dead_fraction {_fmt(dead)} over the last {case.detection.patience} epochs: {_pct(dead)} of the"
        f" {case.setup.hidden_activation} hidden units output 0 on every validation row"
        f" (>= {_pct(DEAD_FRACTION_HIGH)}); the curves show {case.shown(UNDERFIT + UNSTABLE)}"
    )
    if upstream is not None:
        evidence += f"; {upstream} likely killed them"
    confidence = 0.5 + 0.4 * min(1.0, (dead - DEAD_FRACTION_HIGH) / (1.0 - DEAD_FRACTION_HIGH))
    return _cause("dead_relu", confidence - CONSEQUENCE_DISCOUNT * (upstream is not None), evidence)


def vanishing_gradients(case: Case) -> Finding | None:
    """The first layer's gradient is a tiny share of the output layer's, in a stalled fit."""
    ratio = case.typical("grad_ratio_first_last")
    if not ratio < VANISHING_RATIO or not case.has(*UNDERFIT):
        return None
    depth = len(case.setup.hidden_units)
    activation = canonical_activation(case.setup.hidden_activation)
    deep, saturating = depth >= DEEP_LAYERS, activation in SATURATING_ACTIVATIONS
    upstream = _upstream_cause(case)
    confidence = 0.35 + 0.2 * deep + 0.15 * saturating + 0.1 * (ratio < VANISHING_RATIO_SEVERE)
    evidence = (
        f"typical grad_ratio_first_last {_fmt(ratio)} (< {_fmt(VANISHING_RATIO)}): the first layer gets"
        f" {_fmt(ratio)}x the output layer's gradient; {depth} hidden layer(s) of {activation}"
        f"{' (saturating)' if saturating else ''}; the curves show {case.shown(UNDERFIT)}"
    )
    if upstream is not None:
        evidence += f"; {upstream} may explain it"
    return _cause("vanishing_gradients", confidence - CONSEQUENCE_DISCOUNT * (upstream is not None), evidence)


def exploding_gradients(case: Case) -> Finding | None:
    """Gradients growing by orders of magnitude, or much larger early in the net, in an unstable fit."""
    if not case.has(*UNSTABLE):
        return None
    norms = column(case.history, "grad_norm")
    ratio = case.typical("grad_ratio_first_last")
    parts: list[str] = []
    growth = _growth(norms)
    if growth >= GRAD_GROWTH:
        parts.append(f"grad_norm grew {_fmt(growth)}x during the fit (>= {_fmt(GRAD_GROWTH)}x)")
    if ratio > EXPLODING_RATIO:
        parts.append(f"typical grad_ratio_first_last {_fmt(ratio)} (> {_fmt(EXPLODING_RATIO)})")
    overflow = _overflow_epoch(norms, column(case.history, "loss"))
    if overflow is not None:
        parts.append(f"grad_norm is non-finite at epoch {overflow + 1} while the loss is still finite")
    if not parts:
        return None
    depth = len(case.setup.hidden_units)
    severe = growth >= GRAD_GROWTH_SEVERE or overflow is not None
    confidence = 0.5 + 0.15 * (depth >= DEEP_LAYERS) + 0.15 * severe
    parts.append(f"{depth} hidden layer(s); the curves show {case.shown(UNSTABLE)}")
    return _cause("exploding_gradients", confidence, "; ".join(parts))


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


_CONSTANT_INITIALIZERS = ("zeros", "zero", "ones", "one", "constant")


def _constant_initializer(setup: ResolvedSetup) -> bool:
    """A kernel initializer that gives every unit the same weights (only matters with hidden layers)."""
    named = setup.kernel_initializer.strip().lower().replace("_", "")
    return bool(setup.hidden_units) and named in _CONSTANT_INITIALIZERS


def _flat_output_explained(case: Case) -> bool:
    """A constant output has other explanations: dead units, or an output activation that
    cannot vary (softmax on one unit)."""
    return case.recent("dead_fraction") >= DEAD_FRACTION_HIGH or "output_activation_mismatch" in case.preflight


def _upstream_cause(case: Case) -> str | None:
    """A root cause whose consequences include dead units and vanishing gradients."""
    _, high, _ = _lr_bounds(case.setup)
    if case.setup.learning_rate >= high:
        return f"the large learning_rate {_fmt(case.setup.learning_rate)}"
    if _constant_initializer(case.setup) or case.recent("symmetric_fraction") >= SYMMETRIC_FRACTION_HIGH:
        return f"the symmetric initialization ({case.setup.kernel_initializer})"
    return None


def _finite_max(values: np.ndarray | None) -> float:
    if values is None or not np.isfinite(values).any():
        return math.nan
    return float(np.max(values[np.isfinite(values)]))


def bad_initialization(case: Case) -> Finding | None:
    """Symmetric hidden units (zeros/constant initializer) or an output constant from epoch 1."""
    if not case.setup.hidden_units or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    named = _constant_initializer(case.setup)
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
        parts.append(f"symmetric_fraction {_fmt(symmetric)} (>= {_fmt(SYMMETRIC_FRACTION_HIGH)} is symmetric)")
    if flat_output:
        parts.append(f"output_std below {_fmt(OUTPUT_STD_COLLAPSED)} from epoch 1: the network outputs a constant")
    parts.append(f"the curves show {case.shown(UNDERFIT + UNSTABLE)}")
    return _cause("bad_initialization", confidence, "; ".join(parts))


def no_learnable_signal(case: Case) -> Finding | None:
    """The reference model cannot beat the trivial predictor either, and the network is flagged."""
    if reference_has_signal(case.audit) or not case.has("stuck_at_trivial", "plateau", "overfitting"):
        return None
    audit = case.audit
    parts = [
        f"the reference model ({audit.reference_model}) reaches val_loss {_fmt(audit.reference_val_loss)} vs the"
        f" trivial {_fmt(audit.trivial_val_loss)}"
    ]
    if is_classification(audit.task):
        parts.append(
            f"balanced accuracy {_fmt(metric_value(audit.reference_metrics, 'val_balanced_accuracy'))} vs chance"
            f" {_fmt(chance_balanced_accuracy(audit))}"
        )
    else:
        parts.append(f"r2 {_fmt(metric_value(audit.reference_metrics, 'val_r2'))}")
    parts.append(
        f"no model beats predicting the {'class prior' if is_classification(audit.task) else 'mean'}, so no"
        f" network change can help; the curves show {case.shown(('stuck_at_trivial', 'plateau', 'overfitting'))}"
    )
    return _cause("no_learnable_signal", 0.85 + 0.05 * case.has("stuck_at_trivial"), "; ".join(parts))


CAUSE_RULES: dict[str, CauseRule] = {
    "learning_rate_too_high": learning_rate_too_high,
    "learning_rate_too_low": learning_rate_too_low,
    "unscaled_features": unscaled_features,
    "unscaled_target": unscaled_target,
    "class_imbalance": class_imbalance,
    "insufficient_capacity": insufficient_capacity,
    "overfitting": overfitting,
    "output_activation_mismatch": output_activation_mismatch,
    "loss_mismatch": loss_mismatch,
    "dead_relu": dead_relu,
    "vanishing_gradients": vanishing_gradients,
    "exploding_gradients": exploding_gradients,
    "bad_initialization": bad_initialization,
    "no_learnable_signal": no_learnable_signal,
}
"""One rule per cause of ``schema.CAUSES``, by name."""


def _by_name(findings: Sequence[Finding], kind: str) -> dict[str, Finding]:
    """Each name once, at its highest confidence."""
    best: dict[str, Finding] = {}
    for finding in findings:
        if finding.kind == kind and (finding.name not in best or finding.confidence > best[finding.name].confidence):
            best[finding.name] = finding
    return best


def diagnose(
    history: History,
    audit: DataAudit,
    setup: ResolvedSetup,
    detection: DetectionConfig,
    symptoms: Sequence[Finding] | None = None,
    preflight: Sequence[Finding] | None = None,
    *,
    config: DoctorConfig | None = None,
) -> list[Finding]:
    """The causes of a sick run, most likely first; ``[]`` for a healthy run.

    ``symptoms`` default to :func:`detection.detect_symptoms` on ``history``; ``preflight``
    to :func:`check_setup`. ``config`` tells the preprocessing already applied (class
    weights, resampling); without it none is assumed. Causes under
    ``REPORT_CONFIDENCE`` are left out.
    """
    if symptoms is None:
        symptoms = detect_symptoms(history, audit, detection, setup=setup)
    sick = {name: finding for name, finding in _by_name(symptoms, "symptom").items() if name in SICK_SYMPTOMS}
    if not sick:
        return []
    if preflight is None:
        preflight = check_setup(setup, audit)
    case = Case(
        history=history,
        audit=audit,
        setup=setup,
        detection=detection,
        symptoms=sick,
        preflight=_by_name(preflight, "cause"),
        preprocessing=config.preprocessing if config is not None else None,
    )
    found = [rule(case) for rule in CAUSE_RULES.values()]
    return _rank([finding for finding in found if finding is not None and finding.confidence >= REPORT_CONFIDENCE])

"""Family: how much the network can fit: too small, too free (overfitting), or held back too
hard by dropout and L2. Pure."""

from __future__ import annotations

import math

from plateau_doctor.engine.causes.readings import STALLED, UNDERFIT, Case, fmt, make_cause, units_healthy
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.curve_math import recent_mean, smoothed_progress
from plateau_doctor.engine.levels import GAP_UNITS, loss_in_audit_scale, metric_value, reference_gap
from plateau_doctor.engine.vocabulary import canonical_activation
from plateau_doctor.schema import Finding, ResolvedSetup

SMALL_NETWORK_UNITS = 8
"""At most 8 hidden units in all, or no hidden layer: too few for the nonlinear structure
gradient boosting finds."""

BOTTLENECK_UNITS = 2
"""A hidden layer of 1-2 units squeezes every later layer through 1-2 numbers."""

CAPACITY_CREEPING_DISCOUNT = 0.1
"""A small net whose training loss still creeps down is less surely at its limit than one
that has stopped: it is only read as one when its validation loss has stopped improving."""

BELOW_MISMATCH = 0.05
"""Capacity is judged on a set-up that fits the task: with an output activation or loss
mismatch found before training, the mismatch explains the stall first and capacity ranks
at least this far below it."""

DROPOUT_NOTICEABLE = 0.3
DROPOUT_STRONG = 0.5
"""Dropout keeps each hidden unit with probability 1 - rate: from 0.5 on, half of the
network is missing at every step, and the training loss is measured on that thinned net."""

L2_STRONG_UNKNOWN_SCALE = 1e-2
"""Without a loss in the audit's scale to compare the penalty with, an L2 factor of 0.01 on
every kernel is strong (its penalty on Glorot-initialized weights of a 64-32 net is ~0.8,
above a binary cross-entropy's trivial 0.69)."""

TRAIN_ABOVE_VAL = 1.1
"""A training loss 10% above the validation loss, late in the run: the dropout noise (only
active in training) costs more than the net has learned to fit."""


def _network_size(setup: ResolvedSetup) -> str | None:
    """Why the network is small, or None."""
    units = setup.hidden_units
    if not units:
        return "no hidden layer (a linear model)"
    if canonical_activation(setup.hidden_activation) == "linear":
        # A product of linear maps is one linear map: width and depth add no capacity.
        return f"linear hidden activations: its {len(units)} hidden layer(s) {units} compose into one linear map (a linear model)"
    if sum(units) <= SMALL_NETWORK_UNITS:
        return f"{sum(units)} hidden units in all ({units})"
    if min(units) <= BOTTLENECK_UNITS:
        return f"a bottleneck layer of {min(units)} unit(s) ({units})"
    return None


def _below_mismatch(case: Case, confidence: float) -> float:
    mismatches = [finding.confidence for finding in case.preflight.values()]
    return min(confidence, min(mismatches) - BELOW_MISMATCH) if mismatches else confidence


@register(
    "insufficient_capacity",
    rank=150,
    words="The network is too small to fit the pattern, even on the training rows.",
    remedies=("capacity",),
)
def insufficient_capacity(case: Case) -> Finding | None:
    """A small network that trains healthily yet stalls clearly short of the reference.

    Stalled means a plateau (or stuck at trivial); or slow convergence whose validation
    loss has stopped improving over the last ``patience`` epochs while the training loss,
    still above the reference model's validation loss, creeps down: more epochs of a net
    that cannot fit its training split will not close the gap. A set-up mismatch found
    before training ranks above it (``BELOW_MISMATCH``).
    """
    small = _network_size(case.setup)
    gap = reference_gap(case.history, case.audit, case.detection, setup=case.setup)
    if small is None or gap is None or not gap.far:
        return None
    at_linear = _linear_model_at_its_limit(case, gap)
    if at_linear is not None:
        return make_cause(
            "insufficient_capacity",
            _below_mismatch(case, 0.85),
            f"the network is a linear model: {small}; {at_linear}; {gap.describe()}: only a nonlinearity"
            " can close that gap, not a step size or more epochs",
        )
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
    if not units_healthy(case):
        return None
    confidence = 0.55 + 0.2 * min(1.0, (gap.ratio - 1.0) / 3.0) + 0.1 * underfits
    confidence -= CAPACITY_CREEPING_DISCOUNT * creeping
    parts = [f"the network is small: {small}", gap.describe(), "gradients, updates and units look healthy"]
    if underfits:
        parts.append(
            f"training loss {fmt(recent_mean(loss, case.detection.patience))} stays above the reference model's"
            f" validation loss {fmt(case.audit.reference_val_loss)}"
        )
    if creeping:
        parts.append(
            "the training loss still creeps down but the validation loss stopped improving over the last"
            f" {case.detection.patience} epochs"
        )
    return make_cause("insufficient_capacity", _below_mismatch(case, confidence), "; ".join(parts))


def _linear_model_at_its_limit(case: Case, gap) -> str | None:
    """Why a linear network (no hidden layer, or linear hidden activations) is where a linear
    model ends: its validation score is not clearly below the regularized linear reference's.
    Its updates are then small because it sits at its optimum, not because the step is."""
    setup = case.setup
    if setup.hidden_units and canonical_activation(setup.hidden_activation) != "linear":
        return None
    unit = GAP_UNITS.get(gap.measure)
    linear = metric_value(case.audit.linear_reference_metrics, gap.measure)
    if unit is None or not math.isfinite(linear) or gap.network < linear - unit:
        return None
    return f"{gap.measure} {fmt(gap.network)} is at the linear reference's {fmt(linear)}"


@register(
    "overfitting",
    rank=140,
    words="The network has more capacity than the data supports and nothing holds it back.",
    remedies=("capacity", "early_stopping"),
)
def overfitting(case: Case) -> Finding | None:
    """The overfitting symptom is its own cause: the net memorizes the training split."""
    symptom = case.symptoms.get("overfitting")
    if symptom is None:
        return None
    return make_cause(
        "overfitting",
        min(0.9, symptom.confidence),
        f"{symptom.evidence}; the network fits the training split ever better while generalizing worse",
    )


def l2_penalty_at_init(setup: ResolvedSetup, n_features: int) -> float:
    """The L2 penalty on Glorot-initialized kernels: l2 x the sum over layers of
    fan_in x fan_out x 2 / (fan_in + fan_out), each kernel's expected squared norm."""
    widths = [max(n_features, 1), *setup.hidden_units, max(setup.output_units, 1)]
    squared = sum(2.0 * a * b / (a + b) for a, b in zip(widths[:-1], widths[1:]))
    return setup.l2 * squared


@register(
    "too_strong_regularization",
    rank=130,
    words=(
        "Dropout or L2 is so strong that the network cannot fit even its training rows: the "
        "penalty or the dropped units cost more than the pattern it could learn."
    ),
    remedies=("capacity",),
)
def too_strong_regularization(case: Case) -> Finding | None:
    """Strong dropout or L2, and a training loss that cannot fall toward the reference's level.

    L2 is judged by its effect: its penalty on the initial weights against the loss the
    reference reaches (both in the audit's scale), so an L2 that is heavy for one network
    and light for another is told apart. Dropout by its rate, and by a training loss that
    stays above the validation loss (the thinned net, measured in training only, fits worse
    than the whole one).
    """
    setup, audit = case.setup, case.audit
    if not (setup.dropout >= DROPOUT_NOTICEABLE or setup.l2 > 0) or not case.has(*UNDERFIT):
        return None
    gap = reference_gap(case.history, audit, case.detection, setup=setup)
    if gap is None or not gap.far:
        return None
    in_scale = loss_in_audit_scale(setup) and math.isfinite(audit.reference_val_loss) and audit.reference_val_loss > 0
    train_now = recent_mean(case.signal("loss"), case.detection.patience)
    val_now = recent_mean(case.signal("val_loss"), case.detection.patience)
    if in_scale and not train_now > audit.reference_val_loss:
        return None  # it fits its training split as well as the reference: the gap is not the penalty's
    penalty = l2_penalty_at_init(setup, audit.n_features)
    heavy_l2 = setup.l2 > 0 and (
        penalty >= audit.reference_val_loss if in_scale else setup.l2 >= L2_STRONG_UNKNOWN_SCALE
    )
    train_above_val = train_now > TRAIN_ABOVE_VAL * val_now
    heavy_dropout = setup.dropout >= DROPOUT_STRONG or (setup.dropout >= DROPOUT_NOTICEABLE and train_above_val)
    if not (heavy_l2 or heavy_dropout):
        return None
    confidence = 0.5 + 0.15 * (heavy_l2 and heavy_dropout) + 0.1 * in_scale + 0.1 * (heavy_dropout and train_above_val)
    parts = []
    if heavy_dropout:
        parts.append(f"dropout {fmt(setup.dropout)} after each hidden layer (strong from {fmt(DROPOUT_STRONG)})")
    if heavy_l2:
        parts.append(
            f"l2 {fmt(setup.l2)}: its penalty on the initial weights is about {fmt(penalty)}"
            + (f", above the reference model's validation loss {fmt(audit.reference_val_loss)}" if in_scale else "")
        )
    if in_scale:
        parts.append(
            f"training loss {fmt(train_now)} over the last {case.detection.patience} epochs stays above the"
            f" reference model's validation loss {fmt(audit.reference_val_loss)}"
        )
    if train_above_val and math.isfinite(val_now):
        parts.append(f"training loss {fmt(train_now)} is above the validation loss {fmt(val_now)}")
    parts.append(f"{gap.describe()}; the curves show {case.shown(UNDERFIT)}")
    return make_cause("too_strong_regularization", confidence, "; ".join(parts))

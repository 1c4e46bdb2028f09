"""insufficient_capacity: a network too small to fit the pattern. Pure.

Read from a small network that trains healthily yet stalls clearly short of the reference
(and, in a bare log, from a loss that fell and then froze: the net sits at the best its
weights can represent). Treated by a larger network without dropout or L2, or, for linear
hidden layers (which compose into one linear map), by a nonlinearity instead of width.
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.causes.log_readings import bare_log, converged_onto_chance, slid_onto_chance
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import FAST_PROGRESS, FLAT_FROM_START, STALLED, Case, make_cause, units_healthy
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt, pct, recent_mean, relative_improvement, smoothed_progress, window_progress
from plateau_doctor.engine.levels import GAP_UNITS, ReferenceGap, metric_value, reference_gap
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

MIN_GROWN_WIDTHS = (64, 32)


def _stall_epochs(case: Case) -> int:
    return case.detection.start_from_epoch + case.detection.patience + 1


def _linear_in_its_inputs(setup: ResolvedSetup) -> bool:
    """No hidden layer, or linear hidden activations, and no frozen base in front: the network
    is a linear map of its inputs. A trainable linear head on a frozen base is linear in the
    base's features, which the linear reference (fitted on the inputs) never sees."""
    if setup.frozen_layers:
        return False
    return not setup.hidden_units or canonical_activation(setup.hidden_activation) == "linear"


def _network_size(setup: ResolvedSetup) -> str | None:
    """Why the network is small, or None."""
    units = setup.hidden_units
    if not units and setup.frozen_layers:
        # A linear head on a frozen base fits what is linear in the base's features: how much that is,
        # no width of the head and no reference fitted on the inputs tells.
        return None
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


def _linear_model_at_its_limit(case: Case, gap: ReferenceGap) -> str | None:
    """Why a linear network (no hidden layer, or linear hidden activations) is where a linear
    model ends: its validation score is not clearly below the regularized linear reference's.
    Its updates are then small because it sits at its optimum, not because the step is."""
    if not _linear_in_its_inputs(case.setup):
        return None
    unit = GAP_UNITS.get(gap.measure)
    linear = metric_value(case.audit.linear_reference_metrics, gap.measure)
    if unit is None or not math.isfinite(linear) or gap.network < linear - unit:
        return None
    return f"{gap.measure} {fmt(gap.network)} is at the linear reference's {fmt(linear)}"


def _at_least_linear(setup: ResolvedSetup, n_features: int) -> str | None:
    """Why the network can represent at least what a linear model can, or None: no hidden
    layer or linear hidden layers (it is a linear model), or every hidden layer at least as
    wide as the input (it can pass the input through). Behind a frozen base neither holds: its
    layers see the base's features, not the inputs."""
    units = setup.hidden_units
    if _linear_in_its_inputs(setup):
        return "it is a linear model itself"
    if units and not setup.frozen_layers and n_features > 0 and min(units) >= n_features:
        return f"every hidden layer ({units}) is at least as wide as the {n_features} inputs"
    return None


def _linear_reference_reaches_the_level(case: Case, gap: ReferenceGap) -> str | None:
    """The regularized linear reference reaches the attainable level (within a clear gap of
    the best reference), for evidence; else None. Then a network at least as expressive as a
    linear model has the capacity the data need, and its gap is the step's or the budget's."""
    unit = GAP_UNITS.get(gap.measure)
    linear = metric_value(case.audit.linear_reference_metrics, gap.measure)
    if unit is None or not math.isfinite(linear) or linear < gap.reference - unit:
        return None
    return f"the linear reference reaches {gap.measure} {fmt(linear)}, within {fmt(unit)} of the level {fmt(gap.reference)}"


def _grow(units: list[int]) -> list[int]:
    """Double every width, at least [64, 32]; a net of 0 or 1 hidden layers gets two."""
    if not units:
        return list(MIN_GROWN_WIDTHS)
    grown = [2 * width for width in units]
    if len(grown) == 1:
        grown.append(max(units[0], MIN_GROWN_WIDTHS[1]))
    for i, minimum in enumerate(MIN_GROWN_WIDTHS):
        grown[i] = max(grown[i], minimum)
    return grown


def grow(finding: Finding, context: TreatmentContext) -> Treatment:
    """Wider and deeper without dropout or L2, which may be what holds the net back."""
    units = list(context.setup.hidden_units)
    if units and canonical_activation(context.setup.hidden_activation) == "linear":
        # Linear layers compose into one linear map: growing them adds nothing, a nonlinearity does.
        overrides = {"model.activation": "relu", "model.dropout": 0.0, "model.l2": 0.0}
        return Treatment(overrides, f"give the hidden layers {units} a nonlinearity: activation linear -> relu, without dropout or L2")
    grown = _grow(units)
    overrides = {"model.hidden_units": grown, "model.dropout": 0.0, "model.l2": 0.0}
    return Treatment(overrides, f"widen/deepen the hidden layers {units} -> {grown} without dropout or L2")


def learned_then_froze(name: str, values: np.ndarray, detection: DetectionConfig, at_chance: bool) -> Finding | None:
    """A frozen loss (a bare log's ``frozen`` plateau) that fell first: the network sits at a
    minimum of its loss.

    Gradient descent stops moving the weights only where the gradient vanishes. A network
    with capacity to spare keeps lowering its training loss (it can always fit its rows a
    little better); one that has learned what it can represent (a linear model, a tiny
    net) stops at its optimum, exactly. Units that died after learning stop it too, which
    the log cannot tell apart (``dead_fraction`` would). Frozen at the chance level, the net
    learned nothing a pattern needs (a fall onto chance is a bad start undone): no limit shows.
    """
    fell = relative_improvement(float(values[0]), float(values[-1]))
    if at_chance or not fell >= FLAT_FROM_START:
        return None
    return Finding(
        "cause",
        "insufficient_capacity",
        0.5,
        f"{name} fell {100 * fell:.0f}% from epoch 1 ({values[0]:.4g} -> {values[-1]:.4g}) and then froze"
        f" over its last {detection.patience + 1} epochs: the network learned, then reached the best its"
        " weights can represent; a net with room to spare keeps lowering its training loss"
        " (units that died after learning would freeze it too)",
    )


@register(
    "insufficient_capacity",
    rank=150,
    words="The network is too small to fit the pattern, even on the training rows.",
    remedies=("capacity",),
    treatments={"capacity": grow},
    search_prior=(Narrowing.LARGER_NETWORK,),
    confirmed_by=("grad_ratio_first_last", "update_ratio"),
    frozen_log_rule=learned_then_froze,
)
def insufficient_capacity(case: Case) -> Finding | None:
    """A small network that trains healthily yet stalls clearly short of the reference.

    Stalled means a plateau (or stuck at trivial); or slow convergence whose validation
    loss has stopped improving over the last ``patience`` epochs while the training loss,
    still above the reference model's validation loss, creeps down: more epochs of a net
    that cannot fit its training split will not close the gap. A set-up mismatch found
    before training ranks above it (``BELOW_MISMATCH``).

    In a bare log, a training loss that settles smoothly at the chance level
    (``log_readings.converged_onto_chance``) is read the same way, below the gradient that
    does not reach the hidden units (which that reading names first).

    It agrees with the references: a network at least as expressive as a linear model
    (``_at_least_linear``) is never short of capacity when the linear reference reaches the
    level. And a limit is read from a stall: a run shorter than the stall tests need
    (``start_from_epoch + patience + 1`` epochs) cannot show one.
    """
    if bare_log(case) and case.has("stuck_at_trivial") and (settled := converged_onto_chance(case)) is not None:
        slid = slid_onto_chance(case)
        if slid is not None:
            return make_cause(
                "insufficient_capacity", 0.5,
                f"{settled}; it slid onto chance, reaching it on epoch {slid + 1}: a net whose hidden units pass no gradient"
                " finds the prior within an epoch (its output bias is all that learns), while this one moved weights"
                f" that got gradients and ended no better than the prior: too small or too linear for any pattern"
                f" (a logistic regression on concentric circles); the curves show {case.shown(STALLED)}",
            )
        return make_cause(
            "insufficient_capacity", 0.35,
            f"{settled}; the curves show {case.shown(STALLED)}; a net too small for any pattern (one unit on"
            " concentric circles) would settle there too, the rarer reading",
        )
    small = _network_size(case.setup)
    gap = reference_gap(case.history, case.audit, case.detection, setup=case.setup)
    if small is None or gap is None or not gap.far or case.n_epochs < _stall_epochs(case):
        return None
    if _at_least_linear(case.setup, case.audit.n_features) and _linear_reference_reaches_the_level(case, gap):
        return None  # the references say a linear map suffices: capacity cannot be what is missing
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
    creeping = stopped = False
    if not case.has(*STALLED):
        val = case.signal("val_loss")
        val_progress = smoothed_progress(val, case.detection) if val is not None else None
        pace = window_progress(loss, case.detection)[0] if loss is not None else math.nan
        # A small net creeping, far above what the reference reaches: its validation loss has stopped,
        # or its training loss has slowed below the pace of a run merely cut short (FAST_PROGRESS).
        stopped = val_progress is not None and val_progress < case.detection.min_delta
        creeping = case.has("slow_convergence") and underfits and (stopped or pace < FAST_PROGRESS)
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
    if creeping and stopped:
        parts.append(
            "the training loss still creeps down but the validation loss stopped improving over the last"
            f" {case.detection.patience} epochs"
        )
    elif creeping:
        parts.append(
            f"the training loss creeps down {pct(pace)} per epoch over the last {case.detection.patience} epochs,"
            f" slower than a run merely cut short falls (from {pct(FAST_PROGRESS)}): it is slowing toward a floor"
            " of its own"
        )
    return make_cause("insufficient_capacity", _below_mismatch(case, confidence), "; ".join(parts))

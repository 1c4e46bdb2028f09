"""too_strong_regularization: dropout, L2, L1, weight decay or noise on the inputs so strong the
network cannot fit its training rows. Pure.

L2 and L1 are judged by their effect: their penalty on the initial weights against the loss the
reference reaches; an adaptive optimizer's decoupled weight decay by the bound it puts on the
weights (``penalties``). Treated by lowering dropout to 0.1 and L2 to 1e-4 at most.
"""

from __future__ import annotations

import math

import numpy as np

from plateau_doctor.engine.causes.log_readings import at_chance, bare_log, shed_penalty
from plateau_doctor.engine.causes.loss_levels import penalty_dominated
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.penalties import (
    decay_holds_weights_down, effective_l2, l1_penalty_at_init, l2_penalty_at_init,
)
from plateau_doctor.engine.causes.readings import DROPOUT_STRONG, L2_STRONG_UNKNOWN_SCALE, UNDERFIT, Case, make_cause
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt, recent_mean
from plateau_doctor.engine.levels import loss_in_audit_scale, reference_gap
from plateau_doctor.schema import DataAudit, Finding

DROPOUT_NOTICEABLE = 0.3

TRAIN_ABOVE_VAL = 1.1
"""A training loss 10% above the validation loss, late in the run: the dropout noise (only
active in training) costs more than the net has learned to fit."""

LIGHT_DROPOUT = 0.1
LIGHT_L2 = 1e-4
"""What too strong regularization is lowered to: dropout 0.1 and L2 1e-4 still regularize
a little, and are far below where they stop the net from fitting its training split."""


LIGHT_DECAY = 0.004
"""...and an optimizer's weight decay to AdamW's Keras default, which bounds the weights at 250."""


def lighten(finding: Finding, context: TreatmentContext) -> Treatment:
    """Lighter dropout and L2, and a lighter weight decay in the user's own optimizer settings
    (``plateau_doctor.repair`` keeps them): that change alone leaves a kept network as it is."""
    model = context.config.model
    dropout, l2 = min(model.dropout, LIGHT_DROPOUT), min(model.l2, LIGHT_L2)
    overrides: dict = {"model.dropout": dropout, "model.l2": l2}
    note = f"lower dropout {model.dropout:g} -> {dropout:g} and L2 {model.l2:g} -> {l2:g}"
    settings = dict(context.config.training.optimizer_settings or {})
    decay = settings.get("weight_decay")
    if isinstance(decay, (int, float)) and decay > LIGHT_DECAY:
        overrides["training.optimizer_settings"] = {**settings, "weight_decay": LIGHT_DECAY}
        note += f" and the optimizer's weight_decay {decay:g} -> {LIGHT_DECAY:g}"
    return Treatment(overrides, note + " so the network can fit its training split")


def _heavy_penalty(name: str, factor: float, penalty: float, audit: DataAudit, in_scale: bool) -> str | None:
    """Why a weight penalty ``name`` of ``factor`` holds the fit back, in words, or None: its
    ``penalty`` on the initial weights reaches the reference's whole validation loss (or, out of
    the audit's scale, the factor reaches ``L2_STRONG_UNKNOWN_SCALE``)."""
    if not factor > 0 or not (penalty >= audit.reference_val_loss if in_scale else factor >= L2_STRONG_UNKNOWN_SCALE):
        return None
    return (f"{name} {fmt(factor)}: its penalty on the initial weights is about {fmt(penalty)}"
            + (f", above the reference model's validation loss {fmt(audit.reference_val_loss)}" if in_scale else ""))


INPUT_DROPOUT_STRONG = 0.2
"""Srivastava et al. (2014) keep an input unit with probability 0.8 where they keep a hidden unit
with 0.5: an input carries information no other unit repeats, so noise on the inputs is strong
from the dropout rate 0.2 on."""


def _heavy_input_noise(stddev: float, audit: DataAudit) -> str | None:
    """GaussianNoise on the inputs past :data:`INPUT_DROPOUT_STRONG`, in words, or None. Dropout at
    rate p multiplies an input by a mask whose noise has p / (1 - p) times the input's square
    (Gaussian dropout draws exactly that: Srivastava et al. 2014); additive noise of stddev s on
    inputs of variance v has s^2 / v of it, which is dropout at p = r / (1 + r) with r = s^2 / v."""
    if not stddev > 0:
        return None
    spreads = [f.std**2 for f in audit.features if math.isfinite(f.std) and f.std > 0]
    variance = 1.0 if audit.scaled_features or not spreads else float(np.median(spreads))
    ratio = stddev**2 / variance
    rate = ratio / (1.0 + ratio)
    if rate < INPUT_DROPOUT_STRONG:
        return None
    return (f"GaussianNoise({fmt(stddev)}) on inputs of variance {fmt(variance)} (the median feature's): noise"
            f" {fmt(ratio)}x the signal's variance, as much as dropout at rate {fmt(rate)} on the inputs (strong from"
            f" {fmt(INPUT_DROPOUT_STRONG)} there)")


@register(
    "too_strong_regularization",
    rank=130,
    words=(
        "Dropout or L2 is so strong that the network cannot fit even its training rows: the "
        "penalty or the dropped units cost more than the pattern it could learn."
    ),
    remedies=("capacity",),
    treatments={"capacity": lighten},
    search_prior=(Narrowing.LESS_REGULARIZATION,),
)
def too_strong_regularization(case: Case) -> Finding | None:
    """Strong dropout, L2 or L1, and a training loss that cannot fall toward the reference's level.

    L2 and L1 are judged by their effect: their penalty on the initial weights against the loss the
    reference reaches (both in the audit's scale), so a penalty that is heavy for one network
    and light for another is told apart. Dropout by its rate, and by a training loss that
    stays above the validation loss (the thinned net, measured in training only, fits worse
    than the whole one).
    """
    setup, audit = case.setup, case.audit
    if bare_log(case) and case.has(*UNDERFIT) and at_chance(case):
        held = penalty_dominated(case) or shed_penalty(case)
        if held is not None:
            return make_cause("too_strong_regularization", 0.6, f"{held}; the curves show {case.shown(UNDERFIT)}")
    l2, decay = effective_l2(setup), decay_holds_weights_down(setup, audit.n_features)
    noise = _heavy_input_noise(setup.input_noise, audit)
    if not (setup.dropout >= DROPOUT_NOTICEABLE or l2 > 0 or setup.l1 > 0 or decay or noise) or not case.has(*UNDERFIT):
        return None
    gap = reference_gap(case.history, audit, case.detection, setup=setup)
    if gap is None or not gap.far:
        return None
    in_scale = loss_in_audit_scale(setup) and math.isfinite(audit.reference_val_loss) and audit.reference_val_loss > 0
    train_now = recent_mean(case.signal("loss"), case.detection.patience)
    val_now = recent_mean(case.signal("val_loss"), case.detection.patience)
    if in_scale and not train_now > audit.reference_val_loss:
        return None  # it fits its training split as well as the reference: the gap is not the penalty's
    heavy_l2 = _heavy_penalty("l2", l2, l2_penalty_at_init(setup, audit.n_features), audit, in_scale)
    heavy_l1 = _heavy_penalty("l1", setup.l1, l1_penalty_at_init(setup, audit.n_features), audit, in_scale)
    train_above_val = train_now > TRAIN_ABOVE_VAL * val_now
    heavy_dropout = setup.dropout >= DROPOUT_STRONG or (setup.dropout >= DROPOUT_NOTICEABLE and train_above_val)
    heavy_penalty = heavy_l2 is not None or heavy_l1 is not None
    if not (heavy_penalty or heavy_dropout or decay or noise):
        return None
    confidence = 0.5 + 0.15 * (heavy_penalty and heavy_dropout) + 0.1 * in_scale + 0.1 * (heavy_dropout and train_above_val)
    confidence += 0.2 * (decay is not None)  # a bound below the initial weights leaves the net nothing to hold
    parts = [decay] if decay else []
    confidence += 0.15 * (noise is not None and not heavy_dropout)
    if heavy_dropout:
        parts.append(f"dropout {fmt(setup.dropout)} after each hidden layer (strong from {fmt(DROPOUT_STRONG)})")
    if noise:
        parts.append(noise)
    if heavy_l2:
        parts.append(heavy_l2)
    if heavy_l1:
        parts.append(f"{heavy_l1}; its pull is the same on any weight, so every weight whose gradient stays under it goes to 0")
    if in_scale:
        parts.append(
            f"training loss {fmt(train_now)} over the last {case.detection.patience} epochs stays above the"
            f" reference model's validation loss {fmt(audit.reference_val_loss)}"
        )
    if train_above_val and math.isfinite(val_now):
        parts.append(f"training loss {fmt(train_now)} is above the validation loss {fmt(val_now)}")
    parts.append(f"{gap.describe()}; the curves show {case.shown(UNDERFIT)}")
    return make_cause("too_strong_regularization", confidence, "; ".join(parts))

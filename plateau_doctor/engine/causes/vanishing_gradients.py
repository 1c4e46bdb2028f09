"""vanishing_gradients: the gradient shrinks layer by layer, so the first layers hardly learn. Pure.

Likelier in deep nets of saturating units; weighs less when an upstream cause explains it
(``readings.CONSEQUENCE_DISCOUNT``). Treated by replacing a saturating activation (relu
with He initialization, or leaky_relu when units are dying too), or, in a ReLU-family net,
by He initialization with batch normalization.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.log_readings import bare_log, blown_step, converged_onto_chance, slid_onto_chance
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import (
    CONSEQUENCE_DISCOUNT,
    DEEP_LAYERS,
    UNDERFIT,
    VANISHING_RATIO,
    Case,
    make_cause,
    upstream_cause,
)
from plateau_doctor.engine.causes.registry import KILLS_UNITS, register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.engine.vocabulary import RELU_FAMILY, SATURATING, canonical_activation, in_family
from plateau_doctor.schema import Finding

VANISHING_RATIO_SEVERE = 1e-4


def pass_the_gradient(finding: Finding, context: TreatmentContext) -> Treatment:
    setup = context.setup
    if in_family(setup.hidden_activation, RELU_FAMILY):
        return Treatment(
            {"model.kernel_initializer": "he_uniform", "model.batch_norm": True},
            "use he_uniform initialization with batch normalization",
        )
    # The saturating activation is what shrinks the gradient: replacing it is the fix. Batch
    # normalization on top changes more than needed, and measured on an 8-layer sigmoid net
    # (480 rows) relu+He+BN generalized far worse (0.73 balanced accuracy) than relu+He (0.93).
    replacement = "leaky_relu" if KILLS_UNITS in context.properties else "relu"
    return Treatment(
        {"model.activation": replacement, "model.kernel_initializer": "he_uniform"},
        f"replace {setup.hidden_activation} by {replacement} with he_uniform initialization",
    )


@register(
    "vanishing_gradients",
    rank=90,
    words="The gradient shrinks layer by layer, so the first layers hardly learn.",
    remedies=("architecture",),
    treatments={"architecture": pass_the_gradient},
    search_prior=(Narrowing.NO_SATURATING_ACTIVATION,),
    confirmed_by=("grad_ratio_first_last",),
)
def vanishing_gradients(case: Case) -> Finding | None:
    """The first layer's gradient is a tiny share of the output layer's, in a stalled fit; in a
    bare log, a training loss that settled smoothly on the chance level
    (``log_readings.converged_onto_chance``: the output learned its bias and nothing else)."""
    if bare_log(case) and case.has("stuck_at_trivial") and (settled := converged_onto_chance(case)) is not None:
        slid = slid_onto_chance(case)  # over several epochs: weights got gradients, the net is too small
        return make_cause("vanishing_gradients", 0.5 if slid is None else 0.3, settled)
    ratio = case.typical("grad_ratio_first_last")
    if not ratio < VANISHING_RATIO or not case.has(*UNDERFIT):
        return None
    depth = len(case.setup.hidden_units)
    activation = canonical_activation(case.setup.hidden_activation)
    deep, saturating = depth >= DEEP_LAYERS, in_family(activation, SATURATING)
    upstream = upstream_cause(case) or blown_step(case)
    confidence = 0.35 + 0.2 * deep + 0.15 * saturating + 0.1 * (ratio < VANISHING_RATIO_SEVERE)
    evidence = (
        f"typical grad_ratio_first_last {fmt(ratio)} (< {fmt(VANISHING_RATIO)}): the first layer gets"
        f" {fmt(ratio)}x the output layer's gradient; {depth} hidden layer(s) of {activation}"
        f"{' (saturating)' if saturating else ''}; the curves show {case.shown(UNDERFIT)}"
    )
    if upstream is not None:
        evidence += f"; {upstream} may explain it"
    return make_cause("vanishing_gradients", confidence - CONSEQUENCE_DISCOUNT * (upstream is not None), evidence)

"""dead_relu: ReLU units that output 0 on every row, and so get no gradient. Pure.

Often a consequence of an upstream cause (a large step, an unstable scale, a constant
initializer), and then weighs less (``readings.CONSEQUENCE_DISCOUNT``). Treated by
leaky_relu with He initialization, which cannot die.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import (
    CONSEQUENCE_DISCOUNT,
    DEAD_FRACTION_HIGH,
    UNDERFIT,
    UNSTABLE,
    Case,
    make_cause,
    upstream_cause,
)
from plateau_doctor.engine.causes.registry import KILLS_UNITS, register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt, pct
from plateau_doctor.schema import Finding


def leaky_units(finding: Finding, context: TreatmentContext) -> Treatment:
    return Treatment(
        {"model.activation": "leaky_relu", "model.kernel_initializer": "he_uniform"},
        "use leaky_relu with he_uniform initialization so units cannot die",
    )


@register(
    "dead_relu",
    rank=100,
    words=(
        "Many ReLU units output zero for every input, so no gradient flows through them and "
        "they never recover."
    ),
    remedies=("architecture",),
    treatments={"architecture": leaky_units},
    search_prior=(Narrowing.NO_DYING_ACTIVATION, Narrowing.FAN_SCALED_INIT),
    confirmed_by=("dead_fraction",),
    properties=frozenset({KILLS_UNITS}),
)
def dead_relu(case: Case) -> Finding | None:
    """Most ReLU units output 0 on every row (the signal is NaN for nets without ReLU units)."""
    dead = case.recent("dead_fraction")
    if not dead >= DEAD_FRACTION_HIGH or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    upstream = upstream_cause(case)
    evidence = (
        f"dead_fraction {fmt(dead)} over the last {case.detection.patience} epochs: {pct(dead)} of the"
        f" {case.setup.hidden_activation} hidden units output 0 on every validation row"
        f" (>= {pct(DEAD_FRACTION_HIGH)}); the curves show {case.shown(UNDERFIT + UNSTABLE)}"
    )
    if upstream is not None:
        evidence += f"; {upstream} likely killed them"
    confidence = 0.5 + 0.4 * min(1.0, (dead - DEAD_FRACTION_HIGH) / (1.0 - DEAD_FRACTION_HIGH))
    return make_cause("dead_relu", confidence - CONSEQUENCE_DISCOUNT * (upstream is not None), evidence)

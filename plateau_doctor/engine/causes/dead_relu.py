"""dead_relu: ReLU units that output 0 on every row, and so get no gradient. Pure.

Often a consequence of an upstream cause (a large step, an unstable scale, a constant
initializer), and then weighs less (``readings.CONSEQUENCE_DISCOUNT``). Treated by
leaky_relu with He initialization, which cannot die.
"""

from __future__ import annotations

import numpy as np

from plateau_doctor.engine.causes.log_readings import blown_step
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import (
    CONSEQUENCE_DISCOUNT,
    DEAD_FRACTION_HIGH,
    FLAT_FROM_START,
    UNDERFIT,
    UNSTABLE,
    Case,
    make_cause,
    upstream_cause,
)
from plateau_doctor.engine.causes.registry import KILLS_UNITS, register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt, pct, relative_improvement
from plateau_doctor.engine.unstable import FROZEN_SPREAD
from plateau_doctor.schema import Finding


def leaky_units(finding: Finding, context: TreatmentContext) -> Treatment:
    return Treatment(
        {"model.activation": "leaky_relu", "model.kernel_initializer": "he_uniform"},
        "use leaky_relu with he_uniform initialization so units cannot die",
    )


STILL_AFTER_FIRST = 10 * FROZEN_SPREAD
"""After epoch 1 the loss moved under 0.1% of its level in all (its last epochs frozen to 0.01%,
``unstable.FROZEN_SPREAD``; a loss frozen to that from epoch 2 is within this bound too):
what moved is an output bias settling; hidden units that pass a gradient move an epoch-mean
loss by percents."""


def frozen_from_the_start(name: str, values, detection, at_chance: bool) -> Finding | None:
    """A bare log's loss frozen from its second epoch on without having learned (the ``frozen``
    plateau of a loss that never fell ``FLAT_FROM_START`` below its first epoch).

    The optimizer moves the weights whenever a gradient reaches them, and then the epoch-mean
    loss moves: frozen from epoch 2, the outputs stopped depending on anything it moves
    within the first epoch, before they learned. Units that output 0 on every row pass no
    gradient, and a too-large step usually kills them that early (a saturated output does the
    same). The first epoch's mean may differ: the units died during it. Frozen here means moving
    under :data:`STILL_AFTER_FIRST` of its level in all while the output bias, the one parameter
    left, settles.
    """
    values = np.asarray(values, dtype=float)
    if values.size < 3 or not np.all(np.isfinite(values)):
        return None
    later = values[1:]
    level = float(np.mean(np.abs(later)))
    if not level > 0 or float(np.ptp(later)) > STILL_AFTER_FIRST * level:
        return None
    if relative_improvement(float(values[0]), float(later[-1])) >= FLAT_FROM_START:
        return None  # it learned first: a limit reached, not units dead from the start
    return make_cause(
        "dead_relu",
        0.4,
        f"{name} is {later[-1]:.6g} on every epoch from epoch 2 to {values.size} (range {float(np.ptp(later)):.2g}), within"
        f" {pct(abs(relative_improvement(float(values[0]), float(later[-1]))))} of epoch 1's {values[0]:.6g}: it never"
        " learned, and no gradient reaches the weights since; units that output 0 on every row (often killed"
        " within the first epoch by a too-large step) pass none",
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
    frozen_log_rule=frozen_from_the_start,
)
def dead_relu(case: Case) -> Finding | None:
    """Most ReLU units output 0 on every row (the signal is NaN for nets without ReLU units)."""
    dead = case.recent("dead_fraction")
    if not dead >= DEAD_FRACTION_HIGH or not case.has(*UNDERFIT, *UNSTABLE):
        return None
    upstream = upstream_cause(case) or blown_step(case)
    evidence = (
        f"dead_fraction {fmt(dead)} over the last {case.detection.patience} epochs: {pct(dead)} of the"
        f" {case.setup.hidden_activation} hidden units output 0 on every validation row"
        f" (>= {pct(DEAD_FRACTION_HIGH)}); the curves show {case.shown(UNDERFIT + UNSTABLE)}"
    )
    if upstream is not None:
        evidence += f"; {upstream} likely killed them"
    confidence = 0.5 + 0.4 * min(1.0, (dead - DEAD_FRACTION_HIGH) / (1.0 - DEAD_FRACTION_HIGH))
    return make_cause("dead_relu", confidence - CONSEQUENCE_DISCOUNT * (upstream is not None), evidence)

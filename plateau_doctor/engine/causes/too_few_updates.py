"""too_few_updates: epochs of only a handful of weight updates. Pure.

The batch is nearly the whole training split, so the network sees many rows but takes very
few steps. Treated by a smaller batch: the largest power of two up to 32 rows that gives 16
updates per epoch.
"""

from __future__ import annotations

import math

from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import STALLED, UNDERFIT, Case, make_cause
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.schema import Finding

FEW_STEPS = 4
"""An epoch of at most 4 updates: the batch holds a quarter or more of the training split."""

FEW_TOTAL_UPDATES = 1000
"""An adaptive optimizer at its usual 1e-3 moves each weight by at most ~1e-3 per update, and
Glorot weights are ~0.1: reshaping them takes hundreds to thousands of updates."""

STEPS_PER_EPOCH = 16
"""The treatment picks a batch that gives at least 16 updates per epoch..."""
MAX_SMALL_BATCH = 32
"""...and at most Keras' default of 32 rows."""


def _small_batch(n_train: int, batch_size: int) -> int:
    """The largest power of two up to ``MAX_SMALL_BATCH`` that gives ``STEPS_PER_EPOCH`` updates
    per epoch on ``n_train`` rows (at least 1)."""
    target = max(1, min(MAX_SMALL_BATCH, n_train // STEPS_PER_EPOCH if n_train > 0 else batch_size))
    return 1 << (target.bit_length() - 1)


def smaller_batch(finding: Finding, context: TreatmentContext) -> Treatment | None:
    """None when the batch is already that small."""
    setup = context.setup
    batch = _small_batch(context.audit.n_train, setup.batch_size)
    if batch >= setup.batch_size:
        return None
    return Treatment(
        {"training.batch_size": batch},
        f"batch size {setup.batch_size} -> {batch} for at least {STEPS_PER_EPOCH} updates per epoch",
    )


def steps_per_epoch(case: Case) -> int:
    """Updates per epoch: as the fit reported them, else the training rows over the batch size,
    rounded up (0 when unknown)."""
    if case.setup.steps_per_epoch > 0:
        return case.setup.steps_per_epoch
    if case.audit.n_train <= 0 or case.setup.batch_size <= 0:
        return 0
    return math.ceil(case.audit.n_train / case.setup.batch_size)


@register(
    "too_few_updates",
    rank=115,
    words=(
        "Each epoch holds only a handful of weight updates, because the batch is nearly the whole "
        "training split: the network sees many rows but takes very few steps."
    ),
    remedies=("optimizer",),
    treatments={"optimizer": smaller_batch},
    search_prior=(Narrowing.SMALLER_BATCHES,),
)
def too_few_updates(case: Case) -> Finding | None:
    """An underfit run whose epochs hold at most ``FEW_STEPS`` updates."""
    if not case.has(*UNDERFIT):
        return None
    per_epoch = steps_per_epoch(case)
    if not 0 < per_epoch <= FEW_STEPS:
        return None
    total = per_epoch * case.n_epochs
    confidence = 0.5 + 0.15 * (per_epoch <= 2) + 0.1 * (total < FEW_TOTAL_UPDATES) + 0.05 * case.has(*STALLED)
    return make_cause(
        "too_few_updates",
        confidence,
        f"{_why(case)} {per_epoch} update(s) per"
        f" epoch (a handful is <= {FEW_STEPS}), {total} in {case.n_epochs} epochs"
        f" ({'fewer than' if total < FEW_TOTAL_UPDATES else 'about'} the {FEW_TOTAL_UPDATES} it takes to reshape"
        f" the weights); the curves show {case.shown(UNDERFIT)}",
    )


def _why(case: Case) -> str:
    if case.setup.batch_size > 0 and case.audit.n_train > 0:
        return f"batch_size {case.setup.batch_size} on {case.audit.n_train} training rows gives"
    return "the fit (Keras' steps) took"

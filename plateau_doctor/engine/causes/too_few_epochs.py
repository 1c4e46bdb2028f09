"""too_few_epochs: training stopped while the loss was still falling steadily. Pure.

A diagnosis of exclusion: nothing else is wrong (``registry.EXCLUSION_CONFIDENCE``).
Treated by three times the epochs, within the budget the planner shares out.
"""

from __future__ import annotations

import math

from plateau_doctor.engine.causes.log_readings import bare_log
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import FAST_PROGRESS, STALLED, UNSTABLE, Case, make_cause, sane_rate, steps, units_healthy
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.engine.curve_math import fmt, pct, recent_mean, smoothed_progress, window_progress
from plateau_doctor.engine.levels import loss_in_audit_scale
from plateau_doctor.schema import OVERFITTING, Finding

STEADY_SHARE = 0.5
"""Steady: the last window's progress is at least half the window's before it, so the curve
is not flattening toward a floor."""

MORE_EPOCHS_FACTOR = 3
"""A run cut short trains for 3x its epochs (the budget still caps it)."""


def train_longer(finding: Finding, context: TreatmentContext) -> Treatment:
    ran = context.setup.epochs or context.config.training.epochs
    more = ran * MORE_EPOCHS_FACTOR
    return Treatment({"training.epochs": more}, f"train {ran} -> {more} epochs (within the budget): the loss was still falling")


@register(
    "too_few_epochs",
    rank=160,
    words=(
        "Training stopped while the loss was still falling at a steady rate: nothing is broken, "
        "the network simply needs more epochs."
    ),
    remedies=("optimizer",),
    treatments={"optimizer": train_longer},
    search_prior=(Narrowing.MORE_EPOCHS,),
    exclusion=True,
)
def too_few_epochs(case: Case) -> Finding | None:
    """Still falling fast and steadily at the end, with nothing else wrong.

    A diagnosis of exclusion (``registry.EXCLUSION_CONFIDENCE``). Needs ``slow_convergence`` and nothing more (no stall, no instability, no overfitting),
    the validation loss still improving with the training loss, a rate in its usual range
    and healthy recorded signals. A converged run shows no sick symptom and gets no cause. A
    watched run too short for the progress tests, with nothing else seen wrong, is named too
    (:func:`_too_short_to_judge`).
    """
    rate_unknown = not math.isfinite(case.setup.learning_rate)
    healthy = (sane_rate(case) or rate_unknown) and not steps(case).tiny and units_healthy(case)
    if not healthy:
        return None
    found = _still_falling_fast(case)
    return found if found is not None else _too_short_to_judge(case)


def _too_short_to_judge(case: Case) -> Finding | None:
    """A watched run shorter than the progress tests need, flat or slow, with nothing else seen wrong:
    too short to tell a slow start (a recurrent net often sits still for epochs) from a stall. Not in a
    bare log, where steps, gradients and units are not seen."""
    need = case.detection.start_from_epoch + case.detection.patience + 1
    if case.n_epochs >= need or bare_log(case) or not case.has("plateau", "slow_convergence"):
        return None
    if case.has("stuck_at_trivial", *UNSTABLE, OVERFITTING):
        return None
    stopped = (f"; a callback ended the fit before its {case.setup.epochs} epochs: an early stop's patience shorter"
               " than a slow start stops it there" if case.setup.ended_early else "")
    return make_cause(
        "too_few_epochs", 0.5,
        f"only {case.n_epochs} epochs, fewer than the {need} the progress tests need to tell a slow start from a"
        f" stall; the rate is in its usual range and steps, gradients and units look healthy: train longer first{stopped}",
    )


def _where_it_ended(case: Case) -> str:
    """Where the epochs seen end. A log (no data seen) that stops before the epochs its fit asked for,
    with no callback's stop printed, was taken while the fit still ran (a paste cut there): the fit's
    own remaining epochs are the treatment."""
    setup = case.setup
    last = setup.fit_epoch(case.n_epochs)
    if bare_log(case) and setup.epochs > last and not setup.ended_early:
        return (f"the log ends at epoch {last} of the {setup.epochs} the fit asked for, with no early stop printed: the"
                " text was taken before the fit ended, and its remaining epochs are what this asks for")
    return f"training ended after {last} epochs"


def _still_falling_fast(case: Case) -> Finding | None:
    if not case.has("slow_convergence") or case.has(*STALLED, *UNSTABLE, OVERFITTING):
        return None
    loss = case.signal("loss")
    if loss is None:
        return None
    rate, before = window_progress(loss, case.detection)
    if not rate >= FAST_PROGRESS:
        return None
    val = case.signal("val_loss")
    val_progress = smoothed_progress(val, case.detection) if val is not None else None
    if val_progress is not None and val_progress < case.detection.min_delta:
        return None  # the validation loss stopped: more epochs would overfit, not help
    steady = not math.isfinite(before) or rate >= STEADY_SHARE * before
    if not steady:
        return None
    parts = [
        f"the training loss still falls {pct(rate)} per epoch over the last {case.detection.patience}"
        f" epochs (fast from {pct(FAST_PROGRESS)})"
        + (f", vs {pct(before)} per epoch the window before: not flattening" if math.isfinite(before) else ""),
    ]
    if val_progress is not None:
        parts.append(f"the validation loss still improves {pct(val_progress)} over that window")
    audit = case.audit
    now = recent_mean(loss, 1)
    if loss_in_audit_scale(case.setup) and 0 < audit.reference_val_loss < now and rate < 1:
        needed = math.log(now / audit.reference_val_loss) / -math.log(1.0 - rate)
        parts.append(
            f"at that rate the loss {fmt(now)} reaches the reference model's {fmt(audit.reference_val_loss)} in"
            f" about {fmt(math.ceil(needed))} more epochs"
        )
    parts.append(f"{_where_it_ended(case)}; steps, gradients and units look healthy")
    confidence = 0.45 + 0.15 * min(1.0, (rate - FAST_PROGRESS) / (2 * FAST_PROGRESS)) + 0.1 * math.isfinite(before)
    return make_cause("too_few_epochs", confidence, "; ".join(parts))

"""What the doctor may change inside a user's running fit, and when. Pure.

``DoctorCallback(repair=True)`` acts on a confirmed pathology while the user's ``fit`` runs.
A running fit can change only what its compiled train step reads at every step: the
weights, the optimizer's state, its learning rate, and whether training goes on. So a live
repair is the part of a cause's own treatment (``engine.causes``, planned by
``planning.plan_remedies``, exactly as for a remedy branch) that sets the learning rate or
stops at the best epoch. A treatment that needs a rebuilt network, another optimizer or
more epochs is not applied: the action log names it, for ``plateau_doctor.repair`` or the
CLI to try on a copy.

One reading needs no diagnosis and no patience: **the weights were thrown out** (the loss is
not finite, or one epoch's update was larger than the weights themselves,
``UPDATE_RATIO_PEAK``, and left nearly every probed hidden unit dead or saturated,
``DEAD_FRACTION_ALL``, or no gradient at all, ``NO_GRADIENT``: an output pinned at the
loss' clip passes nothing back). Units that no probe row activates get no gradient, and
weights that get none do not move: waiting ``patience`` epochs cannot bring them back. The step did it, whatever the cause's name, so
the weights from before that epoch are restored and the rate is lowered.

Which rate: a learning-rate range test (Smith 2015, :mod:`.range_test`) on the restored
weights picks it, kept on the side of the current rate that the treatment asks for; without
a usable sweep, the treatment's own rate (a decade lower or higher) is the fallback.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from plateau_doctor.engine.causes.readings import DEAD_FRACTION_ALL, UPDATE_RATIO_PEAK
from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.engine.range_test import on_the_asked_side, suggest_learning_rate
from plateau_doctor.engine.remedies.base import RemedyPlan

RATE = "training.learning_rate"
STOP_AT_BEST = "training.early_stopping_patience"
LIVE_SETTINGS = frozenset({RATE, STOP_AT_BEST})
"""The settings a running fit can take: the optimizer's rate, and stopping at the best epoch."""

LEFT_TO_THE_FIT = frozenset({"training.reduce_lr_on_plateau", "training.clipnorm"})
"""Settings a treatment adds to its main change that a compiled train step cannot take midway
(clipping is traced into the step; a plateau schedule is the user's callback to add). A plan
that sets them is still applied for its live part, and the action says what it left out."""

MAX_ACTIONS = 3
"""Default cap on actions per fit: the doctor adjusts the user's training, it does not take it over."""

BRANCH_BUDGET = "training.epochs"
"""Planning gives every branch its share of the epoch budget: the user's fit keeps its own length."""

NO_GRADIENT = 1e-12
"""A global gradient norm below this moves no weight by any step a rate can take: nothing flows back."""

RATE_FACTOR_LIMIT = 1e4
"""A range test's suggestion is taken within four decades of the current rate; beyond it the
sweep's own end is more likely than the model's need (the treatment's fallback is used)."""


@dataclass(frozen=True)
class LiveAction:
    """One change to a running fit.

    ``restore``: ``"before_blow_up"`` (the weights from before the epoch that threw them out,
    the optimizer's state reset), ``"best"`` (the epoch with the best validation loss) or
    ``""`` (the weights stay). ``rate``: the treatment's rate (the fallback when a range test
    runs), None when the rate stays. ``direction``: ``"lower"`` or ``"higher"`` than now.
    """

    remedy: str
    reason: str
    restore: str = ""
    rate: float | None = None
    direction: str = ""
    range_test: bool = False
    stop: bool = False
    left_out: tuple[str, ...] = ()


@dataclass
class ActionRecord:
    """What an action did, with the numbers before and after, for the run's report."""

    epoch: int
    remedy: str
    action: str
    reason: str
    learning_rate_before: float
    learning_rate_after: float
    restored_epoch: int | None = None
    rate_evidence: str = ""
    left_out: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def thrown_out(row: Mapping[str, float]) -> str | None:
    """Why this epoch's weights were thrown out (see the module's docstring), or None."""
    loss = row.get("loss")
    if loss is not None and not math.isfinite(loss):
        return f"the training loss is {loss}"
    ratio = row.get("update_ratio", math.nan)
    dead = row.get("dead_fraction", math.nan)
    saturated = row.get("saturated_fraction", math.nan)
    gradient = row.get("grad_norm", math.nan)
    knocked_out = max((v for v in (dead, saturated) if v is not None and math.isfinite(v)), default=math.nan)
    if not (math.isfinite(ratio) and ratio >= UPDATE_RATIO_PEAK):
        return None
    blow_up = (f"one epoch moved the weights by {fmt(ratio)} times their size (update_ratio; >= {fmt(UPDATE_RATIO_PEAK)}"
               " is a blow-up)")
    if math.isfinite(knocked_out) and knocked_out >= DEAD_FRACTION_ALL:
        return (f"{blow_up} and left {fmt(100 * knocked_out)}% of the probed hidden units dead or saturated"
                f" (>= {fmt(100 * DEAD_FRACTION_ALL)}%: no gradient reaches them)")
    if gradient is not None and math.isfinite(gradient) and gradient < NO_GRADIENT:
        return f"{blow_up} and left no gradient (grad_norm {fmt(gradient)} < {NO_GRADIENT:g}: nothing flows back)"
    return None


def restore_and_lower(reason: str, rate: float) -> LiveAction:
    """The action for weights thrown out: restore them from before, a lower rate by a range test."""
    return LiveAction("learning_rate", reason, restore="before_blow_up", rate=rate / 10.0, direction="lower",
                      range_test=True)


def live_action(plans: Sequence[RemedyPlan], rate: float, evidence: str) -> LiveAction | None:
    """The first plan (best first, as planned) whose change a running fit can take, as an action."""
    for plan in plans:
        keys = set(plan.overrides) - {BRANCH_BUDGET}
        if not keys & LIVE_SETTINGS or keys - LIVE_SETTINGS - LEFT_TO_THE_FIT:
            continue
        left_out = tuple(sorted(keys & LEFT_TO_THE_FIT))
        reason = f"{plan.reason}; {evidence}" if evidence else plan.reason
        if STOP_AT_BEST in keys:
            return LiveAction(plan.remedy, reason, restore="best", stop=True, left_out=left_out)
        new_rate = float(plan.overrides[RATE])
        if not (math.isfinite(new_rate) and new_rate > 0 and math.isfinite(rate) and new_rate != rate):
            continue
        lower = new_rate < rate
        return LiveAction(plan.remedy, reason, restore="before_blow_up" if lower else "", rate=new_rate,
                          direction="lower" if lower else "higher", range_test=plan.lr_range_test, left_out=left_out)
    return None


def pick_rate(action: LiveAction, current: float, lrs: Sequence[float], losses: Sequence[float]) -> tuple[float, str]:
    """The rate to train on, and why: the range test's suggestion when it lies on the side of
    ``current`` the action asks for and within ``RATE_FACTOR_LIMIT`` of it; else the
    treatment's own rate."""
    fallback = float(action.rate) if action.rate is not None else current
    rates, values = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    if rates.size < 3:
        return fallback, f"no range test ran: the treatment's rate {fmt(fallback)}"
    suggestion = suggest_learning_rate(rates, values)
    swept = f"a range test of {rates.size} steps from {fmt(rates[0])} to {fmt(rates[-1])}"
    within = 1.0 / RATE_FACTOR_LIMIT <= suggestion / current <= RATE_FACTOR_LIMIT
    if on_the_asked_side(suggestion, current, higher=action.direction != "lower") and within:
        return float(suggestion), f"{swept} suggests {fmt(suggestion)}"
    side = "below" if action.direction == "lower" else "above"
    return fallback, f"{swept} suggests {fmt(suggestion)}, not {side} {fmt(current)}: the treatment's rate {fmt(fallback)}"


def kept_epochs(actions: Sequence[ActionRecord], n_epochs: int, segment_start: int, enough: int) -> slice:
    """Which of a fit's recorded epochs describe the model as the fit leaves it.

    All of them without actions. After a stop at the best weights, the epochs that led to the
    restored one, from the action before it (the best is sought only since then): the epochs
    before that trained other settings, or weights a blow-up threw out, which the kept model
    no longer carries. Else those since the last action when there are ``enough`` of them to
    judge (warm-up plus patience), all of them when not.
    """
    if not actions:
        return slice(0, n_epochs)
    last = actions[-1]
    if "stop" in last.action and last.restored_epoch:
        start = actions[-2].epoch if len(actions) > 1 else 0
        return slice(start if start < last.restored_epoch else 0, last.restored_epoch)
    return slice(segment_start, n_epochs) if n_epochs - segment_start >= enough else slice(0, n_epochs)


def kept_model(span: slice, n_epochs: int, restored: int) -> tuple[slice, int, int]:
    """Where the kept model is when a callback of the user's puts an epoch's weights back at the
    end of the fit (``restored``, 1-based; 0: none): it acts after the doctor's actions, so when
    that epoch lies past the start of ``span`` (:func:`kept_epochs`), the epochs to diagnose run
    to the fit's end and that epoch is the model the fit leaves. Returns the epochs to diagnose,
    the kept model's 1-based epoch in the fit, and its epoch within those (0: their last)."""
    if span.start < restored < n_epochs:
        return slice(span.start, n_epochs), restored, restored - span.start
    if restored >= n_epochs:  # the last epoch put back: the fit's own end, after the doctor's actions
        return slice(span.start, n_epochs), n_epochs, 0
    return span, span.stop, 0


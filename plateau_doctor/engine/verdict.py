"""Judge remedy branches, decide the run's status and when to stop. Pure: plain numbers in.

**The judging rule** (:func:`score`), on the validation split, original target scale:

- classification: ``balanced accuracy - 0.05 x min(log loss, 5)``, the log loss (nats) being
  the doctor's own ``val_log_loss`` of the predicted probabilities against the true classes.
  0.01 of balanced accuracy is worth 0.2 nats: a model as accurate and far better
  calibrated wins (the overfitting fix that cuts the log loss 2.6 -> 0.56 gains 0.10 and may
  lose up to 0.10 of balanced accuracy), while a small calibration gain never buys much
  accuracy. A non-finite log loss counts as the cap (5 nats);
- regression: R^2 (the mean absolute error is reported beside it and breaks exact ties).

Raw losses are never compared: a remedy that scales the target or changes the loss also
changes the loss's scale, while the log loss here is computed the same way for every branch.

**Statuses** (:func:`repair_status`): ``repaired`` promises the final model's main metric
(balanced accuracy, R^2) is not significantly below the attainable level (the reference
models' metric) on the same validation rows (``engine.significance``: a paired bootstrap at
``remedies.confidence``), or within ``tolerance`` of it; or that the final model is healthy
when diagnosed again and at or above the regularized linear reference (a network need not
match gradient boosting on every table). That second path is a point comparison on purpose:
it already accepts a gap to the level in exchange for healthy curves, and the noise of the
rows is the first path's business. "Healthy when diagnosed again" is the doctor's own test: no sick symptom
on the final model's curves and no clear gap to the reference (the detection's gap, 0.05
of balanced accuracy or 0.1 of R^2), so a model far under the level is never repaired by
curves that merely look calm. ``improved`` beat the baseline by the margin but is short of
that; ``not_repaired``; ``healthy``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from plateau_doctor.engine.significance import LevelComparison
from plateau_doctor.schema import SICK_SYMPTOMS, Finding

MAIN_METRIC = {"binary": "val_balanced_accuracy", "multiclass": "val_balanced_accuracy", "regression": "val_r2"}
LOG_LOSS_WEIGHT = 0.05
"""Balanced accuracy given up per nat of validation log loss."""
LOG_LOSS_CAP = 5.0
"""Nats beyond which a log loss counts no worse: a few confidently wrong rows must not outweigh accuracy."""


@dataclass
class BranchOutcome:
    """What one remedy branch produced (plain data: it crosses process boundaries)."""

    remedy: str
    params: dict[str, Any]
    reason: str
    status: str = "ok"  # ok | failed | pruned
    error: str | None = None
    epochs: int = 0
    wall_seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)  # of the kept weights: its best epoch's
    model_path: str | None = None  # the kept model (its best epoch's weights)
    lr_suggestion: str | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)  # the branch's preprocessing.json
    history: Any = field(default=None, repr=False)  # the branch's per-epoch records (a DataFrame)
    round: int = 1
    setup: Any = field(default=None, repr=False)  # the ResolvedSetup it trained with
    finished: bool = False  # trained all its epochs (or stopped itself: early stopping)
    pruned_reason: str | None = None
    name: str | None = None  # its name in the history and the report when not the remedy's (search trials)
    best_epoch: int | None = None  # the epoch whose weights are kept (None: its last, or nothing kept)
    # The metrics of the model as its fit left it (its last epoch, or what Keras' EarlyStopping
    # restored): racing compares these. Empty for outcomes that do not tell them apart: ``metrics``.
    current_metrics: dict[str, float] = field(default_factory=dict)
    # Epochs its weights had trained before this branch began (a continuation of an earlier
    # round's branch); ``epochs`` counts only its own, which is what it cost.
    warm_epochs: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("history")
        data.pop("setup")
        return data


def main_metric(task: str) -> str:
    return MAIN_METRIC[task]


def _finite(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value if math.isfinite(value) else math.nan


def score(task: str, metrics: dict[str, float] | None) -> float:
    """The judging rule (module docstring): higher is better; -inf when the main metric is not finite.

    A missing ``val_log_loss`` (metrics recorded before the doctor computed it) costs nothing,
    so such records are judged on balanced accuracy alone.
    """
    metrics = metrics or {}
    main = _finite(metrics.get(main_metric(task)))
    if math.isnan(main):
        return -math.inf
    if task == "regression" or "val_log_loss" not in metrics:
        return main
    log_loss = _finite(metrics.get("val_log_loss"))
    log_loss = LOG_LOSS_CAP if math.isnan(log_loss) else min(max(log_loss, 0.0), LOG_LOSS_CAP)
    return main - LOG_LOSS_WEIGHT * log_loss


def _rank_key(task: str, outcome: BranchOutcome) -> tuple[float, float, int]:
    mae = _finite(outcome.metrics.get("val_mae")) if task == "regression" else math.nan
    return score(task, outcome.metrics), -mae if math.isfinite(mae) else -math.inf, -outcome.epochs


def describe_score(task: str, metrics: dict[str, float] | None) -> str:
    """The judged value with what it is made of, for reasons and the report."""
    metrics = metrics or {}
    value = score(task, metrics)
    text = f"{value:.4f}" if math.isfinite(value) else "not finite"
    main = _finite(metrics.get(main_metric(task)))
    if task == "regression" or "val_log_loss" not in metrics or not math.isfinite(main):
        return f"{main_metric(task)} {text}"
    return f"score {text} (balanced accuracy {main:.4f}, log loss {_finite(metrics.get('val_log_loss')):.4f})"


def choose_winner(
    task: str, baseline_metrics: dict[str, float], outcomes: list[BranchOutcome], margin: float
) -> tuple[BranchOutcome | None, str]:
    """The best branch by :func:`score`, if it beats the baseline's by ``margin``; and why.

    Pruned branches take part on equal terms: pruning stops training, it does not discard
    the best epoch, whose weights a branch keeps (``metrics`` are theirs). Of two of equal
    score (and MAE), the finished one goes first, then the one with fewer epochs.
    """
    usable = [o for o in outcomes if o.status in ("ok", "pruned") and math.isfinite(score(task, o.metrics))]
    if not outcomes:
        return None, "no remedy branch ran"
    if not usable:
        return None, f"every branch failed or produced no finite {main_metric(task)}"
    def standing(outcome: BranchOutcome) -> tuple[float, float, bool, int]:
        value, mae, fewer_epochs = _rank_key(task, outcome)
        return value, mae, outcome.status == "ok", fewer_epochs

    best = max(usable, key=standing)
    baseline_text = describe_score(task, baseline_metrics)
    if beats_baseline(task, baseline_metrics, best, margin):
        runners = sorted((o for o in usable if o is not best), key=lambda o: _rank_key(task, o), reverse=True)
        second = f"; next best {runners[0].remedy} {score(task, runners[0].metrics):.4f}" if runners else ""
        return best, (
            f"{best.remedy} reached {describe_score(task, best.metrics)} on the validation split against "
            f"{baseline_text} (required margin {margin}){second}"
        )
    return None, (
        f"no branch beat {baseline_text} by the margin {margin}; the best attempt, "
        f"{best.remedy}, reached {score(task, best.metrics):.4f}"
    )


def level_to_beat(
    task: str, baseline_metrics: dict[str, float], trivial_metrics: dict[str, float], trivial_log_loss: float = math.nan
) -> dict[str, float]:
    """The baseline's metrics, with the trivial predictor's standing in for a non-finite main metric.

    A diverged baseline has no finite metric; without a stand-in any finite branch, even one
    worse than always predicting the mean, would count as a repair. For classification the
    trivial predictor's log loss is the class prior's entropy (``audit.trivial_val_loss``).
    """
    metric = main_metric(task)
    if math.isfinite(_finite(baseline_metrics.get(metric))):
        return baseline_metrics
    stand_in = {**baseline_metrics, metric: trivial_metrics.get(metric, math.nan)}
    if task != "regression":
        stand_in["val_log_loss"] = trivial_metrics.get("val_log_loss", trivial_log_loss)
    return stand_in


def beats_baseline(task: str, baseline_metrics: dict[str, float], outcome: BranchOutcome, margin: float) -> bool:
    """A finite score at least ``margin`` above the baseline's (any finite one beats a non-finite baseline)."""
    value, baseline = score(task, outcome.metrics), score(task, baseline_metrics)
    if outcome.status not in ("ok", "pruned") or not math.isfinite(value):
        return False
    return not math.isfinite(baseline) or value >= baseline + margin


def is_sick(symptoms: list[Finding]) -> bool:
    return any(s.name in SICK_SYMPTOMS for s in symptoms)


# --------------------------------------------------------------------------- the level and the status
def gap_to_level(task: str, metrics: dict[str, float] | None, reference_metrics: dict[str, float] | None) -> float:
    """How far the main metric is below the attainable level (negative: above it); NaN when unknown."""
    metric = main_metric(task)
    return _finite((reference_metrics or {}).get(metric)) - _finite((metrics or {}).get(metric))


def level_reached(
    task: str, metrics: dict[str, float] | None, reference_metrics: dict[str, float] | None, tolerance: float
) -> bool:
    """Within ``tolerance`` of the reference models' main metric, or above it."""
    gap = gap_to_level(task, metrics, reference_metrics)
    return math.isfinite(gap) and gap <= tolerance + 1e-12


def repair_status(
    task: str,
    final_metrics: dict[str, float] | None,
    reference_metrics: dict[str, float] | None,
    tolerance: float,
    *,
    linear_reference_metrics: dict[str, float] | None = None,
    final_healthy: bool = False,
    level: LevelComparison | None = None,
) -> str:
    """``repaired`` or ``improved`` for a winner that beat the baseline by the margin.

    ``repaired`` is a promise: the attainable level is reached (``level``, the final model
    against the reference on the same validation rows: not significantly below it, or within
    the tolerance; without one, within ``tolerance`` of the reference's metric); or the
    final model is healthy when diagnosed again (``final_healthy``: no sick symptom, no clear
    gap to the reference) and at or above the linear reference.
    """
    reached = level.reached if level is not None else level_reached(task, final_metrics, reference_metrics, tolerance)
    if reached:
        return "repaired"
    if final_healthy and level_reached(task, final_metrics, linear_reference_metrics, 0.0):
        return "repaired"
    return "improved"


def run_status(symptoms: list[Finding], winner: BranchOutcome | None, repair: str = "improved") -> str:
    """``healthy`` without a sick symptom; else ``repair`` (see :func:`repair_status`) with a winner."""
    if not is_sick(symptoms):
        return "healthy"
    return repair if winner is not None else "not_repaired"


# --------------------------------------------------------------------------- rounds
def round_stop_reason(
    round_index: int,
    max_rounds: int,
    reached: bool,
    gain: float,
    margin: float,
    budget_left: int,
    min_branch_epochs: int,
    planned: int,
) -> str | None:
    """Why the repair stops after round ``round_index`` (1-based), or None to run another round.

    ``gain`` is how much the round's best branch raised the score over its patient (NaN or
    below ``margin`` when nothing beat it); ``planned`` the branches the next round's
    diagnosis plans.
    """
    if reached:
        return f"round {round_index} reached the attainable level"
    if not (math.isfinite(gain) and gain >= margin):
        return f"round {round_index} brought less than the margin {margin}"
    if round_index >= max_rounds:
        return f"remedies.max_rounds ({max_rounds}) rounds ran"
    if budget_left < min_branch_epochs:
        return f"the epoch budget is spent ({budget_left} epochs left, a branch needs {min_branch_epochs})"
    if planned == 0:
        return f"round {round_index}'s winner shows no cause a rule treats"
    return None

"""Judge remedy branches and compose the run's summary. Pure: plain numbers in, dicts out.

Branches are compared on the validation split with the task's main metric on the
original target scale (balanced accuracy, R^2), never on raw loss: a remedy that
scales the target or changes the loss also changes the loss's scale.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from plateau_doctor.schema import SICK_SYMPTOMS, Finding

MAIN_METRIC = {"binary": "val_balanced_accuracy", "multiclass": "val_balanced_accuracy", "regression": "val_r2"}


@dataclass
class BranchOutcome:
    """What one remedy branch produced (plain data: it crosses process boundaries)."""

    remedy: str
    params: dict[str, Any]
    reason: str
    status: str = "ok"  # ok | failed
    error: str | None = None
    epochs: int = 0
    wall_seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    model_path: str | None = None
    lr_suggestion: str | None = None
    preprocessing: dict[str, Any] = field(default_factory=dict)  # the branch's preprocessing.json
    history: Any = field(default=None, repr=False)  # the branch's per-epoch records (a DataFrame)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("history")
        return data


def main_metric(task: str) -> str:
    return MAIN_METRIC[task]


def _score(metrics: dict[str, float] | None, metric: str) -> float:
    value = (metrics or {}).get(metric, math.nan)
    return value if value is not None and math.isfinite(value) else -math.inf


def choose_winner(
    task: str, baseline_metrics: dict[str, float], outcomes: list[BranchOutcome], margin: float
) -> tuple[BranchOutcome | None, str]:
    """The best branch by the main metric, if it beats the baseline by ``margin``; and why."""
    metric = main_metric(task)
    baseline = _score(baseline_metrics, metric)
    usable = [o for o in outcomes if o.status == "ok" and math.isfinite(_score(o.metrics, metric))]
    if not outcomes:
        return None, "no remedy branch ran"
    if not usable:
        return None, f"every branch failed or produced no finite {metric}"
    best = max(usable, key=lambda o: (_score(o.metrics, metric), -o.epochs))
    best_value = _score(best.metrics, metric)
    baseline_text = f"{baseline:.4f}" if math.isfinite(baseline) else "not finite"
    if beats_baseline(task, baseline_metrics, best, margin):
        runners = sorted((o for o in usable if o is not best), key=lambda o: -_score(o.metrics, metric))
        second = f"; next best {runners[0].remedy} {_score(runners[0].metrics, metric):.4f}" if runners else ""
        return best, (
            f"{best.remedy} reached {metric} {best_value:.4f} on the validation split against the baseline's "
            f"{baseline_text} (required margin {margin}){second}"
        )
    return None, (
        f"no branch beat the baseline's {metric} {baseline_text} by the margin {margin}; the best attempt, "
        f"{best.remedy}, reached {best_value:.4f}"
    )


def level_to_beat(task: str, baseline_metrics: dict[str, float], trivial_metrics: dict[str, float]) -> dict[str, float]:
    """The baseline's metrics, with the trivial predictor's main metric standing in for a non-finite one.

    A diverged baseline has no finite metric; without a stand-in any finite branch, even one
    worse than always predicting the mean, would count as a repair.
    """
    metric = main_metric(task)
    if math.isfinite(_score(baseline_metrics, metric)):
        return baseline_metrics
    return {**baseline_metrics, metric: trivial_metrics.get(metric, math.nan)}


def beats_baseline(task: str, baseline_metrics: dict[str, float], outcome: BranchOutcome, margin: float) -> bool:
    """A finite main metric at least ``margin`` above the baseline's (any finite one beats a NaN baseline)."""
    metric = main_metric(task)
    value, baseline = _score(outcome.metrics, metric), _score(baseline_metrics, metric)
    if outcome.status != "ok" or not math.isfinite(value):
        return False
    return not math.isfinite(baseline) or value >= baseline + margin


def is_sick(symptoms: list[Finding]) -> bool:
    return any(s.name in SICK_SYMPTOMS for s in symptoms)


def run_status(symptoms: list[Finding], winner: BranchOutcome | None) -> str:
    if not is_sick(symptoms):
        return "healthy"
    return "repaired" if winner is not None else "not_repaired"

"""Run one remedy branch: its own data preparation, optional LR range test, and a fresh fit.

A branch starts from scratch (new weights, new optimizer state), so nothing carries over
from the baseline's plateau window. It runs in its own process when the flow fans out,
which keeps TensorFlow's process-global seed per branch: same seed, same result.

A branch keeps its best epoch (``training.best_weights``): over its rungs, the model of the
best epoch so far is its kept model (``<branch>.best.keras``, with its validation
predictions beside it for the verdict), while the next rung resumes from the model as the
last fit left it (``<branch>.keras``), so racing and training go on as without it.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from plateau_doctor.config import DoctorConfig, with_overrides
from plateau_doctor.data.prepared import ensure_split, load_split, reference_predictions
from plateau_doctor.engine.range_test import describe_suggestion, on_the_asked_side, suggest_learning_rate
from plateau_doctor.engine.planning import RemedyPlan
from plateau_doctor.engine.significance import LevelComparison, compare_with_level, main_metric_of, tolerance_only
from plateau_doctor.training.range_test import lr_range_test
from plateau_doctor.engine.verdict import BranchOutcome, gap_to_level, main_metric, score
from plateau_doctor.schema import DataAudit

log = logging.getLogger("plateau_doctor")

RUNG_STATE_SUFFIX = ".rung.json"
PREDICTIONS_SUFFIX = ".val.npy"
MATCH = 1e-4
"""How close kept predictions must score to the recorded metric to be taken as that model's."""


def rung_state_path(model_path: str) -> Path:
    """Beside a raced branch's model: how many epochs it has trained (the next rung resumes there) and its best epoch."""
    return Path(model_path + RUNG_STATE_SUFFIX)


def _rung_state(model_path: str) -> dict[str, Any]:
    state_file = rung_state_path(model_path)
    return json.loads(state_file.read_text()) if state_file.is_file() else {}


def trained_epochs(model_path: str) -> int:
    """Epochs a raced branch has trained in its earlier rungs (0 before its first)."""
    return int(_rung_state(model_path).get("epochs", 0))


def best_model_path(model_path: str) -> str:
    """A raced branch's kept model: its best epoch's, beside the model its next rung resumes from."""
    return str(Path(model_path).with_suffix(".best.keras"))


# --------------------------------------------------------------------------- kept models and the level
def predictions_path(model_path: str) -> Path:
    return Path(model_path + PREDICTIONS_SUFFIX)


def save_predictions(result, data, path: str | Path) -> None:
    """A fit's validation predictions (class codes, or values on the original scale): what the
    verdict compares with the level's."""
    from plateau_doctor.training.scoring import Scorer, raw_outputs

    predicted = Scorer.for_split(data, result.setup.task).predictions(raw_outputs(result.model, data.x_val))
    np.save(path, np.asarray(predicted), allow_pickle=False)


def save_kept(result, data, model_path: str, saved: bool = False) -> None:
    """A fit's model (its kept weights; ``saved``: already there) and its validation predictions beside it."""
    if not saved:
        result.save_model(model_path)
    save_predictions(result, data, predictions_path(model_path))


def kept_predictions(model_path: str | None) -> np.ndarray | None:
    """The validation predictions saved beside a kept model, or None."""
    return read_predictions(predictions_path(model_path) if model_path else None)


def read_predictions(path: str | Path | None) -> np.ndarray | None:
    return np.load(path, allow_pickle=False) if path is not None and Path(path).is_file() else None


def level_comparison(
    config: DoctorConfig, split_dir: str | None, audit: DataAudit, metrics: dict[str, float], final: np.ndarray | None
) -> LevelComparison:
    """A kept model (its ``metrics``, its validation predictions ``final``) against the attainable
    level on the same validation rows (``engine.significance``).

    The tolerance alone decides when the reference's or the model's predictions are missing,
    or do not give the metrics recorded for them (files from another run).
    """
    task, remedies, metric = audit.task, config.remedies, main_metric(audit.task)
    difference = -gap_to_level(task, metrics, audit.reference_metrics)
    fallback = tolerance_only(difference, confidence=remedies.confidence, tolerance=remedies.tolerance, n_val=audit.n_val)
    reference = reference_predictions(split_dir, config.preprocessing, task) if split_dir else None
    if reference is None or final is None or len(final) != len(reference.y_true):
        return fallback
    pairs = ((final, metrics.get(metric)), (reference.predicted, audit.reference_metrics.get(metric)))
    if not all(_same(main_metric_of(task, reference.y_true, predicted), recorded) for predicted, recorded in pairs):
        log.warning("level: the kept predictions do not give the recorded %s; the tolerance alone decides", metric)
        return fallback
    return compare_with_level(task, reference.y_true, final, reference.predicted, confidence=remedies.confidence,
                              tolerance=remedies.tolerance, seed=config.data.seed)


def resume_model_path(kept_path: str | None) -> str | None:
    """The model a raced branch's last rung left (its next rung resumes from it), given its kept
    model's path; None when that branch left none (a search trial, the baseline)."""
    if not kept_path or not kept_path.endswith(".best.keras"):
        return None
    resume = kept_path[: -len(".best.keras")] + ".keras"
    return resume if Path(resume).is_file() and rung_state_path(resume).is_file() else None


def copy_branch(resume_from: str, model_path: str) -> int:
    """Start a branch at ``model_path`` where a raced branch stopped: its last model, its epoch
    count and best epoch, and its kept model with its predictions. Returns the epochs it had trained."""
    Path(model_path).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(resume_from, model_path)
    shutil.copyfile(rung_state_path(resume_from), rung_state_path(model_path))
    kept_from, kept_to = best_model_path(resume_from), best_model_path(model_path)
    if Path(kept_from).is_file():
        shutil.copyfile(kept_from, kept_to)
        if predictions_path(kept_from).is_file():
            shutil.copyfile(predictions_path(kept_from), predictions_path(kept_to))
    return trained_epochs(model_path)


def branch_model_path(folder: str, plan: RemedyPlan) -> str:
    """Where a branch keeps its model. The remedy's name is unique in a round and must not move
    between rungs (a raced branch resumes from this file)."""
    return str(Path(folder) / f"branch-{plan.remedy.replace('+', '_')}.keras")


def _same(value: float, recorded: Any) -> bool:
    recorded = math.nan if recorded is None else float(recorded)
    return abs(value - recorded) <= MATCH or (math.isnan(value) and math.isnan(recorded))


def run_branch(config: DoctorConfig, plan: RemedyPlan, model_path: str, split_dir: str | None = None) -> BranchOutcome:
    """Apply the plan, train, score on the validation split, save the model. Never raises.

    Racing calls this once per rung with the same ``model_path``: when an earlier rung left
    its model there (and its epoch count beside it), training resumes from it up to the
    plan's ``training.epochs``, and the outcome holds only this rung's epochs. A path is
    all that crosses the process boundary, so every runner gives the same result. The branch
    reads the run's prepared split from ``split_dir`` (by default the one its data section
    names) with its own preprocessing.
    """
    from plateau_doctor.training.fit import fit_branch

    started = time.perf_counter()
    outcome = BranchOutcome(remedy=plan.remedy, params=dict(plan.overrides), reason=plan.reason)
    so_far = _rung_state(model_path)
    done = int(so_far.get("epochs", 0))
    try:
        branch_config = with_overrides(config, plan.overrides, f"remedy {plan.remedy!r}")
        # The branch's own preprocessing of the same rows; the seed keeps the split identical.
        data = load_split(split_dir or ensure_split(branch_config), branch_config.data, branch_config.preprocessing, audit=False)
        outcome.preprocessing = data.preprocessor.to_dict()
        if plan.lr_range_test and not done:
            lrs, losses = lr_range_test(branch_config, data)
            suggestion = suggest_learning_rate(lrs, losses)
            outcome.lr_suggestion = describe_suggestion(lrs, losses)
            current = config.training.learning_rate
            asked = plan.overrides.get("training.learning_rate")
            if asked is not None and asked != current and not on_the_asked_side(suggestion, current, higher=asked > current):
                # The treatment moves the rate one way; a valley on the other side undoes it.
                side = "above" if asked > current else "below"
                outcome.lr_suggestion += f"; not {side} {current:.3g}, so the treatment's {asked:.3g} is kept"
                suggestion = asked
            outcome.params["training.learning_rate"] = suggestion
            branch_config = with_overrides(branch_config, {"training.learning_rate": suggestion}, "the range test's rate")
            log.info("%s: range test over %d steps: learning rate %.3g", plan.remedy, len(lrs), suggestion)
        touches_model = any(key.startswith("model.") for key in plan.overrides)
        result = fit_branch(
            branch_config,
            data,
            branch=plan.remedy,
            use_saved_model=not touches_model,
            resume_from=model_path if done else None,
            initial_epoch=done,
        )
        outcome.epochs = result.epochs
        outcome.metrics = result.metrics
        outcome.history = result.history
        outcome.setup = result.setup
        outcome.finished = done + result.epochs < branch_config.training.epochs  # it stopped itself
        _keep_best(outcome, result, data, model_path, so_far.get("best"), done)
    except Exception as error:  # one failing branch is recorded; the others go on
        outcome.status = "failed"
        outcome.error = f"{error.__class__.__name__}: {error}"
        log.warning("%s failed: %s\n%s", plan.remedy, outcome.error, traceback.format_exc(limit=3))
    outcome.wall_seconds = time.perf_counter() - started
    return outcome


def _keep_best(outcome: BranchOutcome, result, data, model_path: str, best: dict[str, Any] | None, done: int) -> None:
    """Keep the branch's best epoch over its rungs; leave the model the next rung resumes from as the fit left it.

    The rung's kept weights (``result.metrics`` are theirs) replace the earlier best when they
    score at least as well; ties go to the later. A branch with no finite validation loss at
    any kept epoch fails, as before; one whose loss turned non-finite after a best epoch stops
    there (pruned) and stays a candidate with that epoch.
    """
    from plateau_doctor.training.best_weights import kept_by
    from plateau_doctor.training.scoring import evaluate

    task, end, kept_path = result.setup.task, done + result.epochs, best_model_path(model_path)
    keeper = kept_by(result.model)
    restored = keeper is not None and keeper.restored
    new_best = math.isfinite(result.metrics.get("val_loss", math.nan)) and (
        best is None or score(task, result.metrics) >= best["score"]
    )
    if new_best:
        epoch = keeper.best_epoch_ if keeper is not None and keeper.best_epoch_ is not None else end
        best = {"score": score(task, result.metrics), "epoch": epoch, "metrics": result.metrics}
        if restored:
            save_kept(result, data, kept_path)
    current = result.metrics
    if restored:  # back to the weights the fit ended with: racing reads them, the next rung resumes from them
        result.model.set_weights(keeper.unkept_weights_)
        current = evaluate(result.model, data, result.setup)
    outcome.current_metrics = current
    if best is None:
        outcome.status, outcome.error = "failed", "the branch's validation loss is not finite (NaN or inf)"
        return
    outcome.metrics, outcome.best_epoch, outcome.model_path = best["metrics"], best["epoch"], kept_path
    if math.isfinite(current.get("val_loss", math.nan)):
        result.save_model(model_path)
        if new_best and not restored:  # the last epoch is the best: one save, copied
            shutil.copyfile(model_path, kept_path)
            save_kept(result, data, kept_path, saved=True)
    else:
        outcome.status = "pruned"
        outcome.pruned_reason = f"pruned at epoch {end}: the validation loss is not finite; its best epoch, {best['epoch']}, is kept"
    rung_state_path(model_path).write_text(json.dumps({"epochs": end, "best": best}))

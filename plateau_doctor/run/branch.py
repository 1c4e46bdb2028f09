"""Run one remedy branch: its own data preparation, optional LR range test, and a fresh fit.

A branch starts from scratch (new weights, new optimizer state), so nothing carries over
from the baseline's plateau window. It runs in its own process when the flow fans out,
which keeps TensorFlow's process-global seed per branch: same seed, same result.
"""

from __future__ import annotations

import json
import logging
import math
import time
import traceback
from pathlib import Path


from plateau_doctor.config import DoctorConfig, with_overrides
from plateau_doctor.data.prepared import ensure_split, load_split
from plateau_doctor.engine.range_test import describe_suggestion, suggest_learning_rate
from plateau_doctor.engine.planning import RemedyPlan
from plateau_doctor.training.range_test import lr_range_test
from plateau_doctor.engine.verdict import BranchOutcome

log = logging.getLogger("plateau_doctor")

RUNG_STATE_SUFFIX = ".rung.json"


def rung_state_path(model_path: str) -> Path:
    """Beside a raced branch's model: how many epochs it has trained (the next rung resumes there)."""
    return Path(model_path + RUNG_STATE_SUFFIX)


def trained_epochs(model_path: str) -> int:
    """Epochs a raced branch has trained in its earlier rungs (0 before its first)."""
    state_file = rung_state_path(model_path)
    return int(json.loads(state_file.read_text())["epochs"]) if state_file.is_file() else 0


def branch_model_path(folder: str, plan: RemedyPlan) -> str:
    """Where a branch keeps its model. The remedy's name is unique in a round and must not move
    between rungs (a raced branch resumes from this file)."""
    return str(Path(folder) / f"branch-{plan.remedy.replace('+', '_')}.keras")


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
    state_file = rung_state_path(model_path)
    done = trained_epochs(model_path)
    try:
        branch_config = with_overrides(config, plan.overrides, f"remedy {plan.remedy!r}")
        # The branch's own preprocessing of the same rows; the seed keeps the split identical.
        data = load_split(split_dir or ensure_split(branch_config), branch_config.data, branch_config.preprocessing, audit=False)
        outcome.preprocessing = data.preprocessor.to_dict()
        if plan.lr_range_test and not done:
            lrs, losses = lr_range_test(branch_config, data)
            suggestion = suggest_learning_rate(lrs, losses)
            outcome.lr_suggestion = describe_suggestion(lrs, losses)
            outcome.params["training.learning_rate"] = suggestion
            branch_config = with_overrides(branch_config, {"training.learning_rate": suggestion}, "the range test's rate")
            log.info("%s: range test over %d steps suggests learning rate %.3g", plan.remedy, len(lrs), suggestion)
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
        if not math.isfinite(result.metrics.get("val_loss", math.nan)):
            outcome.status, outcome.error = "failed", "the branch's validation loss is not finite (NaN or inf)"
        else:
            result.save_model(model_path)
            state_file.write_text(json.dumps({"epochs": done + result.epochs}))
            outcome.model_path = model_path
    except Exception as error:  # one failing branch is recorded; the others go on
        outcome.status = "failed"
        outcome.error = f"{error.__class__.__name__}: {error}"
        log.warning("%s failed: %s\n%s", plan.remedy, outcome.error, traceback.format_exc(limit=3))
    outcome.wall_seconds = time.perf_counter() - started
    return outcome

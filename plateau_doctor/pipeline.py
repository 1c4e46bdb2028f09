"""The doctor's stages and their order, independent of any orchestrator.

``run_doctor`` is the pipeline. Its stages are plain functions by default (the scenario
suite and the benchmark run it so); the Prefect flow passes its tasks instead, so the UI
shows one task run per stage and per branch while the logic stays here, once.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from plateau_doctor.config import DoctorConfig
from plateau_doctor.config import dataset_name
from plateau_doctor.data import PreparedData, prepare_from_config
from plateau_doctor.detection import check_early_stop, detect_symptoms
from plateau_doctor.diagnosis import check_setup, diagnose
from plateau_doctor.planning import RemedyPlan, apply_plan, plan_remedies
from plateau_doctor.publish import RunRecord, write_run
from plateau_doctor.results import RunWriter, new_run_id
from plateau_doctor.schema import Finding, ResolvedSetup
from plateau_doctor.verdict import BranchOutcome, choose_winner, is_sick, level_to_beat, main_metric, run_status

log = logging.getLogger("plateau_doctor")


# --------------------------------------------------------------------------- stages
def load_stage(config: DoctorConfig) -> PreparedData:
    """Load, validate, split (seeded, stratified), scale on the training split, audit."""
    return prepare_from_config(config)


def check_setup_stage(config: DoctorConfig, data: PreparedData) -> tuple[ResolvedSetup, list[Finding]]:
    """Mismatches the config alone reveals, found before any epoch is spent."""
    from plateau_doctor.modeling import setup_without_building

    setup = setup_without_building(config, data.task, data.n_classes, data.x_train.shape[1])
    return setup, check_setup(setup, data.audit)


def baseline_stage(config: DoctorConfig, data: PreparedData, setup: ResolvedSetup, model_path: str):
    """Fit the user's model; stop it once a pathology is confirmed (detection.stop_sick_baseline)."""
    from plateau_doctor.training import fit_branch

    monitor = None
    if config.detection.stop_sick_baseline:
        def monitor(records):
            return check_early_stop(records, data.audit, config.detection, setup=setup)

    result = fit_branch(config, data, branch="baseline", monitor=monitor)
    result.save_model(model_path)
    return result


def diagnose_stage(
    history, data: PreparedData, setup: ResolvedSetup, config: DoctorConfig, preflight: list[Finding]
) -> tuple[list[Finding], list[Finding]]:
    """Symptoms from the curves, then causes ranked by confidence."""
    symptoms = detect_symptoms(history, data.audit, config.detection, setup=setup)
    causes = diagnose(history, data.audit, setup, config.detection, symptoms=symptoms, preflight=preflight, config=config)
    return symptoms, causes


def plan_stage(causes, symptoms, config: DoctorConfig, setup: ResolvedSetup, data: PreparedData, history) -> list[RemedyPlan]:
    """Only the branches that the causes point to, within remedies.enabled and the epoch budget."""
    return plan_remedies(causes, symptoms, config, setup, data.audit, history=history)


def branches_in_sequence(config: DoctorConfig, plans: list[RemedyPlan], folder: str) -> list[BranchOutcome]:
    """Every branch one after the other in this process (each fit re-seeds, so results repeat)."""
    from plateau_doctor.remedies import run_branch

    Path(folder).mkdir(parents=True, exist_ok=True)
    return [run_branch(config, plan, branch_model_path(folder, index, plan)) for index, plan in enumerate(plans)]


def branch_model_path(folder: str, index: int, plan: RemedyPlan) -> str:
    return str(Path(folder) / f"branch-{index}-{plan.remedy.replace('+', '_')}.keras")


def retrain_stage(config: DoctorConfig, model_path: str):
    """Retrain the winning recipe to completion; returns the fit and its preprocessing."""
    from plateau_doctor.training import fit_branch

    data = prepare_from_config(config, audit=False)
    result = fit_branch(config, data, branch="final", use_saved_model=config.model.path is not None)
    result.save_model(model_path)
    return result, data.preprocessor.to_dict()


def write_stage(record: RunRecord, writer: RunWriter) -> tuple[dict[str, Any], Path]:
    """Stage every file, then publish them all at once."""
    summary = write_run(record, writer)
    return summary, writer.publish()


@dataclass
class Stages:
    """The callables ``run_doctor`` uses; the flow swaps in its Prefect tasks."""

    load: Callable = load_stage
    check_setup: Callable = check_setup_stage
    fit_baseline: Callable = baseline_stage
    diagnose: Callable = diagnose_stage
    plan: Callable = plan_stage
    run_branches: Callable = branches_in_sequence
    retrain: Callable = retrain_stage
    write: Callable = write_stage
    logger: Any = field(default=log)


# --------------------------------------------------------------------------- the pipeline
def run_doctor(config: DoctorConfig, stages: Stages | None = None) -> tuple[dict[str, Any], Path, RunRecord]:
    """Data -> baseline -> diagnosis -> remedies -> verified winner -> results. Returns (summary, run_dir, record)."""
    stages = stages or Stages()
    logger = stages.logger
    started = time.perf_counter()
    logger.info("stage 1/6 data: loading %s (target %r)", config.data.path, config.data.target)
    data = stages.load(config)
    audit = data.audit
    logger.info(
        "data: %s task, %d training / %d validation rows; trivial val_loss %.4g; reference %s %s",
        audit.task, audit.n_train, audit.n_val, audit.trivial_val_loss, audit.reference_model, audit.reference_metrics,
    )
    setup, preflight = stages.check_setup(config, data)
    for finding in preflight:
        logger.warning("before training: %s: %s", finding.name, finding.evidence)

    run_id = new_run_id(dataset_name(config))
    writer = RunWriter(config.output.dir, run_id)
    try:
        logger.info("stage 2/6 baseline: fitting the user's model for up to %d epochs", config.training.epochs)
        baseline_path = str(writer.path("baseline.keras"))
        baseline = stages.fit_baseline(config, data, setup, baseline_path)
        logger.info("stage 3/6 diagnosis after %d epochs", baseline.epochs)
        symptoms, causes = stages.diagnose(baseline.history, data, baseline.setup, config, preflight)
        for finding in (*symptoms, *causes):
            logger.info("%s %s (%.2f): %s", finding.kind, finding.name, finding.confidence, finding.evidence)
        record = RunRecord(
            run_id=run_id,
            config=config,
            audit=audit,
            setup=baseline.setup,
            preprocessing=data.preprocessor.to_dict(),
            preflight=preflight,
            baseline_history=baseline.history,
            baseline_metrics=baseline.metrics,
            baseline_epochs=baseline.epochs,
            baseline_model_path=baseline_path,
            stopped_by=baseline.stopped_by,
            symptoms=symptoms,
            causes=causes,
        )
        if is_sick(symptoms):
            plans = stages.plan(causes, symptoms, config, baseline.setup, data, baseline.history)
            remedy_stage(record, plans, stages, writer)
        record.status = run_status(symptoms, record.winner)
        record.wall_seconds = time.perf_counter() - started
        logger.info("stage 6/6 results: writing run %s", run_id)
        summary, run_dir = stages.write(record, writer)
    except BaseException:
        writer.abort()
        raise
    logger.info("verdict: %s; report: %s", summary["status"], run_dir / "report.html")
    return summary, run_dir, record


def remedy_stage(record: RunRecord, plans: list[RemedyPlan], stages: Stages, writer: RunWriter) -> None:
    """Run the planned branches, choose the winner on the validation metric, finish its training."""
    logger, config = stages.logger, record.config
    plans, skipped = plans_for_builder(plans, config)
    if not plans:
        no_signal = any(c.name == "no_learnable_signal" for c in record.causes)
        record.outcomes = skipped
        record.winner_reason = "no remedy branch applies to these causes" + (
            " (the reference model cannot beat the trivial predictor either: the data has no learnable signal)"
            if no_signal
            else ""
        )
        logger.info("stage 4/6 remedies: %s", record.winner_reason)
        return
    logger.info("stage 4/6 remedies: %s", "; ".join(f"{p.remedy} {p.overrides}" for p in plans))
    record.outcomes = [*stages.run_branches(config, plans, str(writer.scratch("branches"))), *skipped]
    for outcome in record.outcomes:
        logger.info(
            "remedy %s: %s, %d epochs, %s", outcome.remedy, outcome.status, outcome.epochs, outcome.error or outcome.metrics
        )
    task = record.audit.task
    to_beat = level_to_beat(task, record.baseline_metrics, record.audit.trivial_metrics)
    record.winner, record.winner_reason = choose_winner(task, to_beat, record.outcomes, config.remedies.margin)
    logger.info("stage 5/6 verification: %s", record.winner_reason)
    if record.winner is not None:
        _finish_winner(record, stages, writer)


def plans_for_builder(plans: list[RemedyPlan], config: DoctorConfig) -> tuple[list[RemedyPlan], list[BranchOutcome]]:
    """The plans a ``model.builder`` can carry out, and the others as pruned outcomes saying why."""
    if not config.model.builder or not plans:
        return plans, []
    from plateau_doctor.builder import accepted_settings, load_builder, split_plans

    kept, skipped = split_plans(plans, accepted_settings(load_builder(config.model.builder)))
    # The report's remedies table shows ``error``: there it says why the branch did not run.
    return kept, [BranchOutcome(p.remedy, dict(p.overrides), why, status="pruned", error=why) for p, why in skipped]


def _finish_winner(record: RunRecord, stages: Stages, writer: RunWriter) -> None:
    """Retrain the winner to the user's epoch count when its branch ran fewer; keep the better model."""
    winner, config = record.winner, record.config
    winner_config = apply_plan(config, RemedyPlan(winner.remedy, winner.params, winner.reason, []))
    keep_branch = winner.epochs >= config.training.epochs or winner_config.training.early_stopping_patience is not None
    record.final_metrics, record.final_model_path = winner.metrics, winner.model_path
    record.final_preprocessing = winner.preprocessing
    if keep_branch:
        return
    full = apply_plan(winner_config, RemedyPlan("final", {"training.epochs": config.training.epochs}, "", []))
    final_path = str(writer.scratch("final.keras"))
    final, preprocessing = stages.retrain(full, final_path)
    record.final_history, record.final_epochs = final.history, final.epochs
    metric = main_metric(record.audit.task)
    final_value, branch_value = final.metrics.get(metric, math.nan), winner.metrics.get(metric, math.nan)
    if math.isfinite(final_value) and final_value >= branch_value:
        record.final_metrics, record.final_model_path, record.final_preprocessing = final.metrics, final_path, preprocessing
    else:
        record.winner_reason += (
            f"; retraining to {config.training.epochs} epochs reached {metric} {final_value:.4f}, "
            "below the branch's, so the branch's model is kept"
        )

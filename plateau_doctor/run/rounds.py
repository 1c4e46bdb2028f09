"""The remedies stage: rounds of raced branches until the level, the guided search when short, the winner finished.

Round 1 treats the baseline. While a round's winner is short of the attainable level, it
becomes the patient: its own curves are diagnosed, the next round is planned from its
config, and the next winner must beat it by the margin. "At the level" is the verdict's
reading (``run.branch.level_comparison``): not significantly below the reference on the
validation rows, or within the tolerance, so a run stops when the level is reached within
the noise of its rows. The rounds stop at the level, when
a round brings less than the margin, after ``remedies.max_rounds`` or when
``remedies.budget_epochs`` is spent (:func:`engine.verdict.round_stop_reason`). When no rule
applies, or the rounds stop short, ``remedies.search_trials`` Optuna trials search the
remedy space from the best model so far, seeded with the last diagnosis.
"""

from __future__ import annotations

import math
from typing import Any

from plateau_doctor.config import DoctorConfig, with_overrides
from plateau_doctor.engine.causes.catalog import untreatable_reason
from plateau_doctor.engine.diagnosis import check_setup
from plateau_doctor.engine.planning import MIN_BRANCH_EPOCHS, RemedyPlan, without_epochs, without_repeats
from plateau_doctor.engine.verdict import (
    BranchOutcome,
    beats_baseline,
    choose_winner,
    is_sick,
    level_to_beat,
    main_metric,
    round_stop_reason,
    score,
)
from plateau_doctor.results.publish import RunRecord
from plateau_doctor.run import stages
from plateau_doctor.run.audit_view import audit_for
from plateau_doctor.run.branch import branch_model_path, copy_branch, kept_predictions, level_comparison, resume_model_path
from plateau_doctor.run.race import race_branches
from plateau_doctor.run.search import SearchRequest
from plateau_doctor.run.state import Patient, RunState


def treat(config: DoctorConfig, state: RunState) -> RunState:
    """Rounds of raced branches until the level, then the guided search if still short; finish the winner."""
    record, executor, data = state.record, state.executor, state.data
    logger, audit, remedies = executor.logger, record.audit, config.remedies
    if not is_sick(record.symptoms):
        return state
    task = audit.task
    patient = Patient(
        config=config,
        overrides={},
        metrics=level_to_beat(task, record.baseline_metrics, audit.trivial_metrics, audit.trivial_val_loss),
        causes=list(record.causes),
        symptoms=list(record.symptoms),
    )
    budget_left = remedies.budget_epochs
    stop_reason = ""

    def reached(outcome: BranchOutcome) -> bool:
        return level_comparison(config, data.split_dir, audit, outcome.metrics, kept_predictions(outcome.model_path)).reached

    pending: list[RemedyPlan] = []  # planned by the last diagnosis but not run: the search tries them first
    round_index = 0
    plans = _builder_can_run(state.plans, record)
    while plans:
        round_index += 1
        logger.info("stage 4/6 remedies, round %d: %s", round_index, "; ".join(f"{p.remedy} {p.overrides}" for p in plans))
        folder = str(state.writer.scratch(f"branches-round-{round_index}"))
        warm = _continuations(plans, patient.overrides, record.winner, folder) if round_index > 1 else {}
        # A branch decides its round only as a winner would: past the patient by the margin, and at the level.
        decides = (lambda o, to_beat=patient.metrics: beats_baseline(task, to_beat, o, remedies.margin) and reached(o))
        outcomes = race_branches(patient.config, plans, folder, executor, audit, data.split_dir, at_level=decides, warm=warm)
        for outcome in outcomes:
            outcome.round = round_index
            outcome.params = {**patient.overrides, **outcome.params}
            logger.info(
                "round %d remedy %s: %s, %d epochs, %s", round_index, outcome.remedy, outcome.status, outcome.epochs,
                outcome.error or outcome.pruned_reason or outcome.metrics,
            )
        record.outcomes.extend(outcomes)
        budget_left -= sum(o.epochs for o in outcomes)
        winner, reason = choose_winner(task, patient.metrics, outcomes, remedies.margin)
        record.round_reasons.append(f"round {round_index}: {reason}")
        logger.info("stage 5/6 verification, round %d: %s", round_index, reason)
        if winner is None:
            stop_reason = f"round {round_index} brought no branch past the margin {remedies.margin}"
            break
        gain = score(task, winner.metrics) - score(task, patient.metrics)
        record.winner, record.winner_reason = winner, reason
        record.round_winners.append(winner)
        if reached(winner):
            stop_reason = f"round {round_index} reached the attainable level"
            break
        patient = _next_patient(record, winner, state, budget_left)
        record.round_findings.extend((round_index, f) for f in (*patient.symptoms, *patient.causes))
        plans = (
            executor.step("plan-remedies", stages.plan_for)(
                patient.causes, patient.symptoms, patient.plan_config, winner.setup, patient.data, winner.history
            )
            if is_sick(patient.symptoms)
            else []
        )
        plans = _builder_can_run(plans, record)
        planned = len(plans)
        plans = _not_repeated(plans, patient.overrides, record, round_index + 1)
        # Read with the plans made, before the repeats went: when only repeats were planned, that is the reason.
        stop_reason = round_stop_reason(
            round_index, remedies.max_rounds, False, gain, remedies.margin, budget_left, MIN_BRANCH_EPOCHS, planned
        ) or ("" if plans else f"every branch planned for round {round_index + 1} repeats one that already ran")
        if stop_reason:
            pending = plans
            break
    if round_index == 0:
        untreatable = untreatable_reason(record.causes)
        stop_reason = "no remedy branch applies to these causes" + (f" ({untreatable})" if untreatable else "")
        record.winner_reason = stop_reason
        logger.info("stage 4/6 remedies: %s", stop_reason)
    record.stop_reason = stop_reason
    if keeps_saved_network(config):  # the search must not rebuild the user's network either
        pending = split_rebuilds(pending)[0]
    candidates = [{**patient.overrides, **plan.overrides} for plan in pending]
    _search_if_short(record, patient, state, budget_left, round_index + 1, candidates)
    if record.winner is not None:
        _finish_winner(record, state)
    return state


def plans_for_builder(plans: list[RemedyPlan], config: DoctorConfig) -> tuple[list[RemedyPlan], list[BranchOutcome]]:
    """The plans a ``model.builder`` (or a saved model that must not be rebuilt) can carry out, and the others
    as pruned outcomes saying why."""
    if not plans or not (config.model.builder or keeps_saved_network(config)):
        return plans, []
    from plateau_doctor.training.builder import accepted_settings, load_builder, split_plans

    if config.model.builder:
        kept, skipped = split_plans(plans, accepted_settings(load_builder(config.model.builder)))
    else:
        kept, skipped = split_rebuilds(plans)
    # The report's remedies table shows ``error``: there it says why the branch did not run.
    return kept, [BranchOutcome(p.remedy, dict(p.overrides), why, status="pruned", error=why) for p, why in skipped]


def keeps_saved_network(config: DoctorConfig) -> bool:
    return bool(config.model.path) and not config.model.rebuild


def split_rebuilds(plans: list[RemedyPlan]) -> tuple[list[RemedyPlan], list[tuple[RemedyPlan, str]]]:
    """(plans that train the saved network as it is, [(a plan that would rebuild it as a dense stack, why)]).

    The planner turns a network change on a saved model into a rebuild (``model.path: null``); with
    ``model.rebuild: false`` (``plateau_doctor.repair``) the user's own network is never swapped for one.
    """
    kept, skipped = [], []
    for plan in plans:
        if "model.path" in plan.overrides and plan.overrides["model.path"] is None:
            changes = ", ".join(sorted(k for k in plan.overrides if k.startswith("model.") and k != "model.path"))
            skipped.append((plan, f"skipped: it changes the network ({changes}); model.rebuild is false, so the"
                                  " user's own network is kept rather than replaced by a rebuilt dense stack"))
        else:
            kept.append(plan)
    return kept, skipped


def _builder_can_run(plans: list[RemedyPlan], record: RunRecord) -> list[RemedyPlan]:
    """Drop the plans a ``model.builder`` ignores; they go into the record as pruned, with the reason."""
    kept, skipped = plans_for_builder(plans, record.config)
    record.outcomes.extend(skipped)
    return kept


def _continuations(
    plans: list[RemedyPlan], base: dict[str, Any], winner: BranchOutcome | None, folder: str
) -> dict[str, BranchOutcome]:
    """The plans that only train the patient longer, set up to go on from where its branch stopped.

    Such a plan (``too_few_epochs`` on top of the last round's winner) changes nothing but
    ``training.epochs``: from scratch it would retrain the epochs the winner already has, then
    add its own. It resumes the winner's last model instead (weights and optimizer state) and
    trains only the epochs it adds; the winner's curve and best epoch come with it.
    """
    resume_from = resume_model_path(winner.model_path) if winner is not None else None
    if resume_from is None:
        return {}
    warm: dict[str, BranchOutcome] = {}
    for plan in plans:
        if plan.lr_range_test or any(base.get(key) != value for key, value in without_epochs(plan.overrides).items()):
            continue
        done = copy_branch(resume_from, branch_model_path(folder, plan))
        total = int(plan.overrides.get("training.epochs", done))
        plan.overrides["training.epochs"] = max(total - done, MIN_BRANCH_EPOCHS)
        plan.reason += (f"; goes on from round {winner.round}'s {winner.remedy} branch at its epoch {done} (its weights"
                        f" and optimizer state), {plan.overrides['training.epochs']} epochs more")
        warm[plan.remedy] = BranchOutcome(plan.remedy, dict(plan.overrides), plan.reason, history=winner.history,
                                          warm_epochs=done, setup=winner.setup)
    return warm


def _not_repeated(plans: list[RemedyPlan], base: dict[str, Any], record: RunRecord, round_index: int) -> list[RemedyPlan]:
    """Drop the plans that would rerun an earlier round's branch (same set-up, no longer); each
    goes into the record as pruned, saying which round ran it."""
    tried = [(o.params, o.epochs, o.round) for o in record.outcomes if o.status in ("ok", "pruned") and o.epochs]
    kept, repeats = without_repeats(plans, base, tried)
    for plan, why in repeats:
        record.outcomes.append(BranchOutcome(plan.remedy, {**base, **plan.overrides}, why, status="pruned", error=why,
                                             round=round_index))
    return kept


def _next_patient(record: RunRecord, winner: BranchOutcome, state: RunState, budget_left: int) -> Patient:
    """The winner as the next patient: its config, and its own curves and signals diagnosed."""
    config, executor = record.config, state.executor
    epochs = max(config.training.epochs, int(winner.params.get("training.epochs", config.training.epochs)))
    overrides = {**winner.params, "training.epochs": epochs}
    patient_config = with_overrides(config, overrides, f"remedy {winner.remedy!r}")
    seen_by = audit_for(patient_config, record.audit)
    patient_data = _with_audit(state.data, seen_by)
    preflight = check_setup(winner.setup, seen_by)
    symptoms, causes = executor.step("diagnose", stages.diagnose_history)(
        winner.history, patient_data, winner.setup, patient_config, preflight
    )
    for finding in (*symptoms, *causes):
        executor.logger.info("%s's %s %s (%.2f): %s", winner.remedy, finding.kind, finding.name, finding.confidence, finding.evidence)
    plan_config = with_overrides(patient_config, {"remedies.budget_epochs": max(1, budget_left)}, "the budget left")
    return Patient(patient_config, overrides, winner.metrics, list(causes), list(symptoms), plan_config, patient_data)


def _with_audit(data, audit):
    import dataclasses

    return dataclasses.replace(data, audit=audit)


def _search_if_short(
    record: RunRecord, patient: Patient, state: RunState, budget_left: int, round_index: int, candidates: list[dict[str, Any]]
) -> None:
    """The guided search, when the rules ran out short of the level and the data has a signal."""
    from plateau_doctor.engine.search_space import search_wanted

    config, audit, executor = record.config, record.audit, state.executor
    best_metrics = record.winner.metrics if record.winner is not None else patient.metrics
    if level_comparison(config, state.data.split_dir, audit, *stages.kept_model(record)).reached:
        return  # at the level within the noise of the validation rows: nothing to search for
    why = search_wanted(config, audit, patient.causes, best_metrics, budget_left, record.stop_reason)
    if why is None:
        return
    executor.logger.info("stage 4/6 remedies, round %d: guided search (%s)", round_index, why)
    request = SearchRequest(
        base_overrides=dict(patient.overrides),
        causes=list(patient.causes),
        symptoms=list(patient.symptoms),
        candidates=candidates,
        tried=[dict(o.params) for o in record.outcomes if o.status == "ok"],
        tried_scores=[score(audit.task, o.metrics) for o in record.outcomes if o.status == "ok"],
        trials=config.remedies.search_trials,
        budget_epochs=budget_left,
        round=round_index,
        why=why,
        audit=audit,
    )
    folder = str(state.writer.scratch(f"search-round-{round_index}"))
    outcomes = executor.step("guided-search", stages.search)(config, request, folder, state.data.split_dir)
    record.outcomes.extend(outcomes)
    winner, reason = choose_winner(audit.task, best_metrics, outcomes, config.remedies.margin)
    record.round_reasons.append(f"search: {reason}")
    executor.logger.info("stage 5/6 verification, search: %s", reason)
    if winner is not None:
        record.winner, record.winner_reason = winner, reason
        record.round_winners.append(winner)


def _finish_winner(record: RunRecord, state: RunState) -> None:
    """Retrain the winner to the user's epoch count when its branch ran fewer; keep the better model."""
    winner, config = record.winner, record.config
    winner_config = with_overrides(config, winner.params, f"remedy {winner.remedy!r}")
    keep_branch = winner.warm_epochs + winner.epochs >= config.training.epochs or winner_config.training.early_stopping_patience is not None
    record.final_metrics, record.final_model_path = winner.metrics, winner.model_path
    record.final_preprocessing = winner.preprocessing
    if keep_branch:
        return
    full = with_overrides(winner_config, {"training.epochs": config.training.epochs}, "final")
    final_path = str(state.writer.scratch("final.keras"))
    final, preprocessing = state.executor.step("retrain-winner", stages.retrain)(full, final_path, state.data.split_dir)
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

"""Scheduled retraining: re-fit the last chosen recipe on today's data; call the doctor when it slips."""

from __future__ import annotations

from prefect import flow, get_run_logger

from flows.doctor import doctor, run_name
from plateau_doctor.config import DoctorConfig
from plateau_doctor.config import dataset_name
from plateau_doctor.retraining import data_fingerprint, judge_retrain, previous_metrics, trend_row
from tasks.retraining import append_trend, find_recipe, publish_trend, refit_recipe


@flow(name="plateau-doctor-retrain", flow_run_name=run_name("retrain-"))
def retrain(config: DoctorConfig = DoctorConfig(), margin: float = 0.05) -> dict:
    """Re-fit the latest repaired/healthy recipe; if the metric falls by > margin or the loss stalls, run the doctor."""
    logger = get_run_logger()
    out, dataset, target = config.output.dir, dataset_name(config), config.data.target
    fingerprint = data_fingerprint(config.data.path)
    recipe = find_recipe(out, dataset, target)
    verdict = refit = doctor_summary = None
    if recipe is None:
        logger.info("no earlier repaired or healthy run for %s/%s: running the doctor", dataset, target)
        doctor_summary = doctor(config)
        task = doctor_summary["task"]
    else:
        logger.info("re-fitting the recipe of run %s: %s", recipe.run_id, recipe.params or "the user's set-up as is")
        before = previous_metrics(out, dataset, target, recipe)
        refit = refit_recipe(config, recipe, out)
        task = refit.task
        verdict = judge_retrain(task, before, refit.metrics, refit.symptoms, margin)
        logger.info("retraining verdict: %s: %s", verdict.status, verdict.reason)
        if verdict.needs_doctor:
            doctor_summary = doctor(config)
    row = trend_row(config, fingerprint, recipe, verdict, refit.metrics if refit else None, doctor_summary, task)
    append_trend(out, row)
    publish_trend(config)
    return row

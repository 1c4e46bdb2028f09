"""The Prefect flows: the doctor (data -> baseline -> diagnosis -> remedies -> winner -> results)
and scheduled retraining. They compose the tasks of ``orchestration.tasks``, nothing more.

The stages and their order live in ``plateau_doctor.run.pipeline``; the doctor flow runs them
as Prefect tasks (one named task run per stage and per remedy branch) and publishes artifacts.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path

from prefect import flow, get_client, get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL, temporary_settings

from plateau_doctor.training.backends import select_backend
from plateau_doctor.config import DoctorConfig, dataset_name
from plateau_doctor.run.pipeline import run_doctor
from plateau_doctor.engine.planning import RemedyPlan
from plateau_doctor.run.branch import branch_model_path, trained_epochs
from plateau_doctor.run.executor import Executor
from plateau_doctor.orchestration.runners import branch_task_runner
from plateau_doctor.orchestration.warm_pool import warm_pool
from plateau_doctor.run.retrain import data_fingerprint, judge_retrain, previous_metrics, trend_row
from plateau_doctor.orchestration.tasks import (
    TASKS,
    append_trend,
    artifact_prefix_for,
    find_recipe,
    publish_artifacts,
    publish_trend,
    refit_recipe,
    remedy_branch,
)

# Our own progress lines (epochs, branches) reach the run's logs in the UI through Prefect's
# extra-loggers setting; they are INFO, so the logger must let INFO through.
logging.getLogger("plateau_doctor").setLevel(logging.INFO)


def run_name(prefix: str = ""):
    """A flow-run namer: ``[prefix-]<dataset>-<target>-<UTC date and time>`` in the UI's run list."""

    def name() -> str:
        config = flow_run.parameters.get("config")
        if not isinstance(config, DoctorConfig):
            config = DoctorConfig.model_validate(config or {})
        stamp = f"{datetime.now(timezone.utc):%Y-%m-%d-%H%M%S}"
        return f"{prefix}{dataset_name(config)}-{config.data.target}-{stamp}"

    return name


@flow(name="plateau-doctor", flow_run_name=run_name())
def doctor(config: DoctorConfig = DoctorConfig()) -> dict:
    """Diagnose why the model's loss stalls, run the remedies the evidence points to, keep the fix."""
    select_backend(config.training.backend)  # before any Keras import; branch processes inherit it
    with _branch_pool(config) as pool:
        return _doctor(config, pool)


def _branch_pool(config: DoctorConfig):
    """One warm process pool for every rung and round of this run's branches (remedies.runner: processes)."""
    if config.remedies.runner != "processes":
        return nullcontext(None)
    return warm_pool(max(1, config.remedies.max_parallel))


def _doctor(config: DoctorConfig, pool) -> dict:
    summary, run_dir, record = run_doctor(config, FlowExecutor(pool))
    publish_artifacts(record, summary, run_dir)
    return {**summary, "run_dir": str(run_dir)}


class FlowExecutor(Executor):
    """The pipeline's stages and steps as this flow's task runs; each rung of branches as a subflow on the pool."""

    def __init__(self, pool=None):
        super().__init__(logger=get_run_logger())
        self.pool = pool

    def wrap(self, name: str, function):
        return TASKS.get(function, function)

    def pace(self, wall_seconds: float, epochs: int) -> None:
        if self.pool is not None:  # which rungs are worth the pool's workers
            self.pool.observe_baseline(wall_seconds, epochs)

    def train_branches(self, config: DoctorConfig, plans: list[RemedyPlan], folder: str, split_dir: str) -> list:
        return branches_in_processes(config, plans, folder, split_dir, pool=self.pool)


def branches_in_processes(config: DoctorConfig, plans: list[RemedyPlan], folder: str, split_dir: str, pool=None) -> list:
    """The remedy branches as a subflow on a process pool (each fit seeds its own process)."""
    # The run's warm pool (or this process, while its workers would not pay for their start),
    # else a runner for this call: processes, or a Dask cluster (remedies.runner)
    if pool is not None:
        trained = [trained_epochs(branch_model_path(folder, p)) for p in plans]
        runner = pool.runner_for(plans, config, trained)
    else:
        runner = branch_task_runner(config, len(plans))
    with _api_url_for_subprocesses():
        return remedy_branches.with_options(task_runner=runner)(
            config, plans, folder, split_dir, f"{artifact_prefix_for(config)}-progress"
        )


# Called by the doctor flow only, with typed objects: validating them again (pydantic builds a
# model of DoctorConfig for it) cost 0.1 s at every import.
@flow(name="remedy-branches", flow_run_name=run_name("remedies-"), validate_parameters=False)
def remedy_branches(config: DoctorConfig, plans: list[RemedyPlan], folder: str, split_dir: str, progress_key: str) -> list:
    """Every planned branch as its own task run, each in its own process (a seed gives the same result)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    progress_id = create_progress_artifact(progress=0.0, key=progress_key, description="remedy branches finished")
    futures = [
        remedy_branch.with_options(task_run_name=f"remedy-{p.remedy}").submit(config, p, branch_model_path(folder, p), split_dir)
        for p in plans
    ]
    outcomes = []
    for done, future in enumerate(futures, start=1):
        outcomes.append(future.result())
        update_progress_artifact(progress_id, progress=100.0 * done / len(futures))
    return outcomes


def _api_url_for_subprocesses():
    """Point branch processes at this run's API: an embedded server's address is no setting, so it is not inherited."""
    if PREFECT_API_URL.value():
        return nullcontext()
    with get_client(sync_client=True) as client:
        return temporary_settings(updates={PREFECT_API_URL: str(client.api_url)})


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

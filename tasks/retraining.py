"""Scheduled retraining: find the last recipe, re-fit it, judge it, record the trend."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from plateau_doctor import retraining
from plateau_doctor.config import DoctorConfig, dataset_name
from plateau_doctor.results import to_jsonable
from tasks.reporting import artifact_prefix_for

find_recipe = task(retraining.latest_recipe, name="find-recipe", cache_policy=NO_CACHE)
refit_recipe = task(retraining.refit_recipe, name="refit-recipe", cache_policy=NO_CACHE)
append_trend = task(retraining.append_trend, name="append-trend", cache_policy=NO_CACHE)


@task(name="publish-trend", cache_policy=NO_CACHE)
def publish_trend(config: DoctorConfig) -> None:
    """The retraining history of this dataset and target as a keyed table artifact."""
    trend = retraining.read_trend(config.output.dir)
    rows = trend[(trend["dataset"] == dataset_name(config)) & (trend["target"] == config.data.target)]
    columns = ["date", "status", "main_metric", "previous_metric", "metric", "val_loss", "data_fingerprint", "doctor_status"]
    create_table_artifact(
        key=f"{artifact_prefix_for(config)}-retraining",
        table=to_jsonable(rows[columns].tail(50).to_dict(orient="records")),
        description="Scheduled retraining runs, oldest first: status ok, degraded or stalled (then the doctor ran)",
    )

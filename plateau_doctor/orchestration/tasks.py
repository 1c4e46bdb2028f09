"""Prefect tasks: one thin wrapper per pipeline stage and step, plus the artifacts and retraining tasks.

The stages (``run.stages``) take and return the run's state, so a flow of your own can
compose them: ``state = load_and_prepare(config, RunState(executor=...))`` and so on, in the
order ``run.pipeline.STAGES`` gives. The doctor flow runs exactly that list.
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from plateau_doctor.run import stages
from plateau_doctor.run import retrain as retraining
from plateau_doctor.config import DoctorConfig, dataset_name
from plateau_doctor.results.publish import RunRecord, remedies_frame
from plateau_doctor.run.branch import run_branch
from plateau_doctor.report.render import markdown_summary
from plateau_doctor.results.store import METRIC_COLUMNS, to_jsonable

# ---------------------------------------------------------------- the stages, each (config, state) -> state
load_and_prepare = task(stages.load, name="load-and-prepare-data", cache_policy=NO_CACHE)
check_setup = task(stages.check_setup, name="check-setup", cache_policy=NO_CACHE)
fit_baseline = task(stages.fit_baseline, name="fit-baseline", cache_policy=NO_CACHE)
diagnose = task(stages.diagnose_baseline, name="diagnose", cache_policy=NO_CACHE)
plan = task(stages.plan, name="plan-remedies", cache_policy=NO_CACHE)
write_results = task(stages.write, name="write-results", cache_policy=NO_CACHE)

# ---------------------------------------------------------------- the steps the remedy rounds call
diagnose_patient = task(stages.diagnose_history, name="diagnose", cache_policy=NO_CACHE)
plan_round = task(stages.plan_for, name="plan-remedies", cache_policy=NO_CACHE)
# A failing branch is recorded in its outcome (status "failed", the error), never raised.
remedy_branch = task(run_branch, name="remedy-branch", cache_policy=NO_CACHE)
retrain_winner = task(stages.retrain, name="retrain-winner", cache_policy=NO_CACHE)
# The fallback search trains its trials one after another in this process (Keras' seed is process-global).
guided_search = task(stages.search, name="guided-search", cache_policy=NO_CACHE)

TASKS = {
    unit.fn: unit
    for unit in (load_and_prepare, check_setup, fit_baseline, diagnose, plan, write_results,
                 diagnose_patient, plan_round, retrain_winner, guided_search)
}
"""The task of each stage and step function: the doctor flow's executor runs them as these."""


def artifact_prefix_for(config: DoctorConfig) -> str:
    """Stable per dataset and target, so each artifact keeps its version history across runs."""
    text = f"{dataset_name(config)}-{config.data.target}".lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "run"


@task(name="publish-artifacts", cache_policy=NO_CACHE)
def publish_artifacts(record: RunRecord, summary: dict, run_dir: Path) -> None:
    """Summary markdown, audit table, remedies table and a link to the HTML report."""
    prefix = artifact_prefix_for(record.config)
    create_markdown_artifact(
        key=f"{prefix}-summary",
        markdown=markdown_summary(summary) + f"\n\nReport: `{run_dir / 'report.html'}`\n",
        description=f"plateau-doctor verdict for {record.dataset} / {record.config.data.target}",
    )
    audit = record.audit
    audit_rows = [
        {"feature": f.name, "mean": f.mean, "std": f.std, "min": f.min, "max": f.max} for f in audit.features
    ]
    create_table_artifact(
        key=f"{prefix}-audit",
        table=to_jsonable(audit_rows),
        description=(
            f"Data audit: {audit.n_train} training / {audit.n_val} validation rows; trivial val_loss "
            f"{audit.trivial_val_loss:.4g}; reference {audit.reference_model} {to_jsonable(audit.reference_metrics)}"
        ),
    )
    remedies = remedies_frame(record)
    # Outcome columns first: the parameters are long and would push them off screen in the UI.
    leading = ["remedy", "status", "chosen", "improved", "epochs", *METRIC_COLUMNS, "error", "params"]
    rows = remedies[[c for c in leading if c in remedies]].dropna(axis=1, how="all").to_dict(orient="records")
    create_table_artifact(
        key=f"{prefix}-remedies",
        table=to_jsonable(rows) or [{"remedy": "none ran", "status": summary["status"]}],
        description=f"Remedy branches; {summary.get('winner_reason') or 'status ' + summary['status']}",
    )
    create_link_artifact(
        key=f"{prefix}-report",
        link=(run_dir / "report.html").resolve().as_uri(),
        link_text=f"report for run {record.run_id}",
        description="The run's HTML report with plots",
    )


# ---------------------------------------------------------------- scheduled retraining
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

"""Stage 7: write the results atomically and show them in the Prefect UI as keyed artifacts."""

from __future__ import annotations

import re
from pathlib import Path

from prefect import task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from plateau_doctor import pipeline
from plateau_doctor.config import DoctorConfig, dataset_name
from plateau_doctor.publish import RunRecord, remedies_frame
from plateau_doctor.report import markdown_summary
from plateau_doctor.results import METRIC_COLUMNS, to_jsonable


def artifact_prefix_for(config: DoctorConfig) -> str:
    """Stable per dataset and target, so each artifact keeps its version history across runs."""
    text = f"{dataset_name(config)}-{config.data.target}".lower()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-") or "run"


write_results = task(pipeline.write_stage, name="write-results", cache_policy=NO_CACHE)


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

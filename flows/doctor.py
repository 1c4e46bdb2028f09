"""Entry point of the doctor deployment (prefect.yaml: ``flows/doctor.py:doctor``).

The flow itself is ``plateau_doctor.orchestration.flows.doctor``; this file only names it
for Prefect and for ``python flows/doctor.py CONFIG.yaml``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the entry point chooses; importing the package does not

<<<<<<< HEAD
from plateau_doctor.orchestration.flows import doctor  # noqa: E402
=======
from plateau_doctor.config import DoctorConfig, dataset_name
from plateau_doctor.pipeline import Stages, branch_model_path, run_doctor
from plateau_doctor.planning import RemedyPlan
from tasks.data import load_and_prepare
from tasks.diagnosis import check_setup_before_training, diagnose_run
from tasks.remedies import guided_search, plan, remedy_branch, retrain_winner
from tasks.reporting import artifact_prefix_for, publish_artifacts, write_results
from tasks.training import fit_baseline
>>>>>>> i8b

__all__ = ["doctor"]

if __name__ == "__main__":
    from plateau_doctor.config import load_config

<<<<<<< HEAD
    print(doctor(load_config(sys.argv[1] if len(sys.argv) > 1 else None))["status"])
=======
def run_name(prefix: str = ""):
    """A flow-run namer: ``[prefix-]<dataset>-<target>-<UTC date and time>`` in the UI's run list."""

    def name() -> str:
        config = flow_run.parameters.get("config")
        if not isinstance(config, DoctorConfig):
            config = DoctorConfig.model_validate(config or {})
        stamp = f"{datetime.now(timezone.utc):%Y-%m-%d-%H%M%S}"
        return f"{prefix}{dataset_name(config)}-{config.data.target}-{stamp}"

    return name


@flow(name="remedy-branches", flow_run_name=run_name("remedies-"))
def remedy_branches(config: DoctorConfig, plans: list[RemedyPlan], folder: str, progress_key: str) -> list:
    """Every planned branch as its own task run, each in its own process (a seed gives the same result)."""
    Path(folder).mkdir(parents=True, exist_ok=True)
    progress_id = create_progress_artifact(progress=0.0, key=progress_key, description="remedy branches finished")
    futures = [
        remedy_branch.with_options(task_run_name=f"remedy-{p.remedy}").submit(config, p, branch_model_path(folder, i, p))
        for i, p in enumerate(plans)
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


@flow(name="plateau-doctor", flow_run_name=run_name())
def doctor(config: DoctorConfig = DoctorConfig()) -> dict:
    """Diagnose why the model's loss stalls, run the remedies the evidence points to, keep the fix."""

    def branches_in_processes(config: DoctorConfig, plans: list[RemedyPlan], folder: str) -> list:
        runner = ProcessPoolTaskRunner(max_workers=min(config.remedies.max_parallel, len(plans)))
        with _api_url_for_subprocesses():
            return remedy_branches.with_options(task_runner=runner)(
                config, plans, folder, f"{artifact_prefix_for(config)}-progress"
            )

    stages = Stages(
        load=load_and_prepare,
        check_setup=check_setup_before_training,
        fit_baseline=fit_baseline,
        diagnose=diagnose_run,
        plan=plan,
        run_branches=branches_in_processes,
        search=guided_search,
        retrain=retrain_winner,
        write=write_results,
        logger=get_run_logger(),
    )
    summary, run_dir, record = run_doctor(config, stages)
    publish_artifacts(record, summary, run_dir)
    return {**summary, "run_dir": str(run_dir)}
>>>>>>> i8b

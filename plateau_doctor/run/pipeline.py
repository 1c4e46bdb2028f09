"""The doctor, wired once: data -> set-up -> baseline -> diagnosis -> remedies -> verdict -> results.

Each stage is a function ``(config, state) -> state`` (``run.stages``, ``run.rounds``), run in
this order by :func:`run_doctor`. How each executes is the executor's business: in this
process by default (the scenario suite, the benchmarks, ``plateau_doctor.run``), as Prefect
task runs in the doctor flow (``orchestration.flows``), where the remedy branches fan out
to processes or a Dask cluster.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from plateau_doctor.config import DoctorConfig
from plateau_doctor.results.publish import RunRecord
from plateau_doctor.run import rounds, stages
from plateau_doctor.run.executor import Executor
from plateau_doctor.run.state import RunState


class Stage(NamedTuple):
    name: str  # the task run's name in Prefect's UI
    run: Callable[[DoctorConfig, RunState], RunState]
    unit: bool = True  # one unit of work (a task run); False: it calls its own steps (the rounds)


STAGES: tuple[Stage, ...] = (
    Stage("load-and-prepare-data", stages.load),          # the table's split on disk, scaled, audited
    Stage("check-setup", stages.check_setup),              # mismatches the config alone reveals
    Stage("fit-baseline", stages.fit_baseline),            # the user's model, its signals recorded
    Stage("diagnose", stages.diagnose_baseline),           # symptoms, then ranked causes with evidence
    Stage("plan-remedies", stages.plan),                   # the branches the causes point to
    Stage("remedies", rounds.treat, unit=False),           # raced rounds, the guided search, the winner finished
    Stage("verdict", stages.verdict, unit=False),          # healthy, repaired, improved or not_repaired
    Stage("write-results", stages.write),                  # files and datasets, published at once
)


def run_doctor(config: DoctorConfig, executor: Executor | None = None) -> tuple[dict[str, Any], Path, RunRecord]:
    """Every stage in order; returns (summary, run_dir, record). Nothing of a failed run stays visible."""
    executor = executor or Executor()
    state = RunState(executor=executor)
    try:
        for stage in STAGES:
            state = executor.step(stage.name, stage.run)(config, state) if stage.unit else stage.run(config, state)
    except BaseException:
        if state.writer is not None:
            state.writer.abort()
        raise
    summary = {**state.summary, "timings": executor.timings()}  # summary.json has every stage but its own writing
    executor.logger.info("verdict: %s; report: %s", summary["status"], state.run_dir / "report.html")
    return summary, state.run_dir, state.record

"""How a run's steps execute: here, one after another (:class:`Executor`), or as Prefect tasks.

The stages and the steps inside them are plain functions (``run.stages``, ``run.rounds``).
They reach an orchestrator only through the executor they are given: :meth:`Executor.step`
runs a named step (the Prefect layer makes it a task run of that name) and
:meth:`Executor.branches` trains a rung of remedy branches (in sequence here; the Prefect
layer fans them out to processes or a Dask cluster). Every call is timed by its bucket, for
``summary.json``'s ``timings``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from plateau_doctor.config import DoctorConfig
from plateau_doctor.engine.planning import RemedyPlan
from plateau_doctor.engine.verdict import BranchOutcome
from plateau_doctor.run.timing import StageClock

log = logging.getLogger("plateau_doctor")

BUCKETS = {
    "load-and-prepare-data": "data",
    "check-setup": "setup",
    "fit-baseline": "baseline",
    "diagnose": "diagnosis",
    "plan-remedies": "diagnosis",
    "remedy-branches": "branches",
    "guided-search": "branches",
    "retrain-winner": "retrain",
    "write-results": "report",
}
"""Where each step's wall seconds go in ``summary.json`` (the names the fixed-cost benchmark prints)."""


class Executor:
    """Runs every step in this process, one after another; subclasses hand steps to an orchestrator."""

    def __init__(self, logger: logging.Logger | logging.LoggerAdapter | None = None, clock: StageClock | None = None):
        self.logger = logger or log
        self.clock = clock or StageClock()

    def step(self, name: str, function: Callable) -> Callable:
        """``function`` as the run's step ``name``, timed."""
        return self.clock.timed(BUCKETS.get(name, name), self.wrap(name, function))

    def wrap(self, name: str, function: Callable) -> Callable:
        """Where an orchestrator makes ``function`` its own unit of work (a task named ``name``)."""
        return function

    def pace(self, wall_seconds: float, epochs: int) -> None:
        """The baseline's measured pace: an orchestrator may size its branch workers by it."""

    def branches(self, config: DoctorConfig, plans: list[RemedyPlan], folder: str, split_dir: str) -> list[BranchOutcome]:
        """One rung of a round: each plan trained to its ``training.epochs``, from the split in ``split_dir``."""
        return self.clock.timed("branches", self.train_branches)(config, plans, folder, split_dir)

    def train_branches(self, config: DoctorConfig, plans: list[RemedyPlan], folder: str, split_dir: str) -> list[BranchOutcome]:
        """Every branch one after the other in this process (each fit re-seeds, so results repeat)."""
        from plateau_doctor.run.branch import branch_model_path, run_branch

        Path(folder).mkdir(parents=True, exist_ok=True)
        return [run_branch(config, plan, branch_model_path(folder, plan), split_dir) for plan in plans]

    def timings(self) -> dict[str, Any]:
        return self.clock.to_dict()

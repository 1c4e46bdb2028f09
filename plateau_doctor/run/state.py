"""What a doctor run knows as it goes: one :class:`RunState`, read and returned by every stage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plateau_doctor.config import DoctorConfig
from plateau_doctor.data.preprocess import PreparedData
from plateau_doctor.engine.planning import RemedyPlan
from plateau_doctor.results.publish import RunRecord
from plateau_doctor.results.store import RunWriter
from plateau_doctor.schema import Finding, ResolvedSetup

if TYPE_CHECKING:
    from plateau_doctor.run.executor import Executor


@dataclass
class RunState:
    """Each stage ``(config, state) -> state`` fills in its part; later stages read what earlier ones left.

    ``executor`` is how the run's steps execute (here, or as Prefect tasks: ``run.executor``).
    ``data`` the prepared split (``load``); ``setup`` and ``preflight`` the resolved set-up and the
    mismatches it shows before training (``check_setup``); ``writer`` the run's staging folder and
    ``record`` everything the baseline and the remedies found (``fit_baseline`` onwards); ``plans``
    the first round's branches (``plan``); ``summary`` and ``run_dir`` once written (``write``).
    """

    executor: "Executor"
    started: float = field(default_factory=time.perf_counter)
    data: PreparedData | None = None
    setup: ResolvedSetup | None = None
    preflight: list[Finding] = field(default_factory=list)
    writer: RunWriter | None = None
    record: RunRecord | None = None
    plans: list[RemedyPlan] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    run_dir: Path | None = None


@dataclass
class Patient:
    """What a round treats: the baseline, then each round's winner while it is short of the level."""

    config: DoctorConfig
    overrides: dict[str, Any]  # from the user's config to this one
    metrics: dict[str, float]
    causes: list[Finding]
    symptoms: list[Finding]
    plan_config: DoctorConfig | None = None  # ``config`` with the budget that is left
    data: Any = None  # the prepared data with the audit as this patient sees it

"""What a cause's treatment reads and returns, and the values several treatments share. Pure.

A treatment is ``(finding, context) -> Treatment | None``: the config overrides that treat
the cause on one remedy branch, with a note for the plan's reason (None when it does not
apply to this set-up, e.g. scaling the target of a classification). Values are read from
``context.setup`` (what was actually built) rather than the config, so that a saved model
is repaired from what it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from plateau_doctor.config import DoctorConfig
from plateau_doctor.schema import DataAudit, Finding, ResolvedSetup

CLIPNORM = 1.0
"""The gradient norm a clipped branch is held to (half the user's own, when that is lower)."""


@dataclass(frozen=True)
class TreatmentContext:
    """What a treatment may read: the run's config and set-up, the data audit, the symptoms
    seen, and the properties (``registry.PROPERTIES``) of every cause found."""

    config: DoctorConfig
    setup: ResolvedSetup
    audit: DataAudit
    symptoms: frozenset[str]
    properties: frozenset[str]


@dataclass(frozen=True)
class Treatment:
    """One cause's config changes on one branch.

    ``lr_range_test``: the branch first runs a learning-rate range test, whose suggestion
    replaces ``training.learning_rate`` (the override stays as the fallback).
    ``initializer_follows_activation``: the branch's kernel initializer is chosen for the
    hidden activation the branch ends up with, whichever cause set it.
    """

    overrides: dict[str, Any]
    note: str
    lr_range_test: bool = False
    initializer_follows_activation: bool = False


def clip_norm(config: DoctorConfig) -> float:
    """The clipping norm of a branch: ``CLIPNORM``, or half the user's own when tighter."""
    return CLIPNORM if config.training.clipnorm is None else min(CLIPNORM, config.training.clipnorm / 2)


def round3(value: float) -> float:
    """Three significant digits, so that 0.001 / 10 reads 0.0001 in configs and reports."""
    return float(f"{value:.3g}") if math.isfinite(value) and value != 0 else value


def task_head(finding: Finding, context: TreatmentContext) -> Treatment:
    """The output activation and loss that fit the task: ``auto`` lets the builder pick the pair."""
    return Treatment(
        {"model.output_activation": "auto", "training.loss": "auto"},
        f"match the output activation and loss to the {context.setup.task} task",
    )

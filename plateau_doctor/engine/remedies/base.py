"""One remedy branch: the base class every branch subclasses, and the plan it makes. Pure.

Like Optuna's pruners (``BasePruner.prune``), a remedy has one method to write:
:meth:`Remedy.finish`, the branch's own rule on top of the merged treatments (a range test,
an initializer that follows the final activation); most branches have none and return the
plan as it is. :meth:`Remedy.plan` asks each cause that points to the branch for its
treatment and merges them: on a key two causes set, the more confident cause wins.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from plateau_doctor.engine.causes.catalog import REGISTRY
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext
from plateau_doctor.schema import Finding

Treated = list[tuple[Finding, Treatment]]


@dataclass
class RemedyPlan:
    """One branch to train: the config changes, and why.

    ``overrides`` maps dotted config keys to values (``{"training.learning_rate": 1e-4}``).
    With ``lr_range_test`` the executor first runs a learning-rate range test and replaces
    ``training.learning_rate`` by its suggestion; the override stays as the fallback for
    when the test cannot run. ``confidence`` is that of the plan's best cause; it ranks
    the plans.
    """

    remedy: str
    overrides: dict[str, Any]
    reason: str
    causes: list[str]
    lr_range_test: bool = False
    confidence: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Remedy(abc.ABC):
    """A remedy branch of ``schema.REMEDIES``, named by :attr:`name`."""

    name: ClassVar[str]

    def plan(self, causes: Sequence[Finding], context: TreatmentContext) -> RemedyPlan | None:
        """The branch's plan for ``causes`` (every cause found, most confident first), or None
        when no cause that points to it has a treatment for this set-up."""
        treated = []
        for finding in causes:
            treat = REGISTRY[finding.name].treatments.get(self.name)
            treatment = treat(finding, context) if treat is not None else None
            if treatment is not None:
                treated.append((finding, treatment))
        return self.finish(merge(self.name, treated), treated, context) if treated else None

    @abc.abstractmethod
    def finish(self, plan: RemedyPlan, treated: Treated, context: TreatmentContext) -> RemedyPlan:
        """The branch's own rule on the merged plan of ``treated``; return the plan to train."""


def merge(remedy: str, treated: Treated) -> RemedyPlan:
    """One plan from several causes' treatments; on a shared key the most confident wins."""
    ordered = sorted(treated, key=lambda item: -item[0].confidence)
    overrides: dict[str, Any] = {}
    for _, treatment in reversed(ordered):
        overrides.update(treatment.overrides)
    return RemedyPlan(
        remedy=remedy,
        overrides=overrides,
        reason="; ".join(f"{quote(finding)}: {treatment.note}" for finding, treatment in ordered),
        causes=[finding.name for finding, _ in ordered],
        lr_range_test=any(treatment.lr_range_test for _, treatment in ordered),
        confidence=ordered[0][0].confidence,
    )


def quote(finding: Finding) -> str:
    """A cause as a plan's reason names it: with its confidence."""
    return f"{finding.name} ({finding.confidence:.2f})"

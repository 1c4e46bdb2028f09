"""The optimizer branch: how the optimizer spends the run. Pure.

Adam at its usual rate instead of an optimizer that makes no progress (Kingma and Ba
2015), a smaller batch for more updates per epoch, more epochs for a run cut short (the
planner keeps them within the budget). Does not tune momentum or the rate schedule.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.treating import TreatmentContext
from plateau_doctor.engine.remedies.base import Remedy, RemedyPlan, Treated


class Optimizer(Remedy):
    """Merges the optimizer, batch and epoch treatments; no rule of its own."""

    name = "optimizer"

    def finish(self, plan: RemedyPlan, treated: Treated, context: TreatmentContext) -> RemedyPlan:
        return plan

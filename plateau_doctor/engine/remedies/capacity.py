"""The capacity branch: grow a net that cannot fit, lighten regularization that holds one
back, shrink and regularize one that overfits. Pure.

The causes point opposite ways; when several are found the more confident one decides
each setting (the merge). Does not search widths or depths: the guided search does.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.treating import TreatmentContext
from plateau_doctor.engine.remedies.base import Remedy, RemedyPlan, Treated


class Capacity(Remedy):
    """Merges the size and regularization treatments; no rule of its own."""

    name = "capacity"

    def finish(self, plan: RemedyPlan, treated: Treated, context: TreatmentContext) -> RemedyPlan:
        return plan

"""The learning-rate branch: lower, raise or clip the step. Pure.

A cause that calls the rate itself wrong asks for a learning-rate range test (Smith 2017,
"Cyclical Learning Rates for Training Neural Networks"; fastai's ``lr_find``): it picks the
rate, and the causes' own rates (a decade or 30x away) are the fallback for when it cannot
run. Does not handle a rate that is right but badly scheduled: ReduceLROnPlateau, which the
treatments turn on, only lets a bold rate settle later.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.treating import TreatmentContext
from plateau_doctor.engine.remedies.base import Remedy, RemedyPlan, Treated


class LearningRate(Remedy):
    """Merges the rate treatments and says when a range test picks the rate."""

    name = "learning_rate"

    def finish(self, plan: RemedyPlan, treated: Treated, context: TreatmentContext) -> RemedyPlan:
        if plan.lr_range_test:
            plan.reason += "; a learning-rate range test picks the rate, the one above is the fallback"
        return plan

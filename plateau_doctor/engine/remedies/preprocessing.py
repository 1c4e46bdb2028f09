"""The preprocessing branch: scale what is unscaled, reweight or resample a rare class. Pure.

Scaling is a ``StandardScaler`` fitted on the training split only. Class weights come
before oversampling because they keep the data as they are. Does not handle outliers or
skewed features (no robust scaling or transforms), nor missing values.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.treating import TreatmentContext
from plateau_doctor.engine.remedies.base import Remedy, RemedyPlan, Treated


class Preprocessing(Remedy):
    """Merges the data treatments; no rule of its own."""

    name = "preprocessing"

    def finish(self, plan: RemedyPlan, treated: Treated, context: TreatmentContext) -> RemedyPlan:
        return plan

"""The early-stopping branch: stop at the best validation loss and keep those weights. Pure.

Keras' ``EarlyStopping(restore_best_weights=True)`` on ``val_loss``, with the patience the
treatment asks for. Does not fix what makes the net overfit; the capacity branch does.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.treating import TreatmentContext
from plateau_doctor.engine.remedies.base import Remedy, RemedyPlan, Treated


class EarlyStopping(Remedy):
    """Merges the stopping treatments; no rule of its own."""

    name = "early_stopping"

    def finish(self, plan: RemedyPlan, treated: Treated, context: TreatmentContext) -> RemedyPlan:
        return plan

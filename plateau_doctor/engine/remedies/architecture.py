"""The architecture branch: the output/loss pair, the hidden activation, the initializer,
normalization. Pure.

The branch's own rule: when a treatment asks for it, the kernel initializer is chosen for
the hidden activation the branch ends up with (He for the ReLU family, Glorot for a
saturating one; Glorot 2010, He 2015), whichever cause set that activation. Does not add or
remove layers (the capacity branch does), nor skip connections.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.treating import TreatmentContext
from plateau_doctor.engine.remedies.base import Remedy, RemedyPlan, Treated
from plateau_doctor.engine.vocabulary import fan_scaled_initializer


class Architecture(Remedy):
    """Merges the network treatments; fits the initializer to the final activation."""

    name = "architecture"

    def finish(self, plan: RemedyPlan, treated: Treated, context: TreatmentContext) -> RemedyPlan:
        if any(treatment.initializer_follows_activation for _, treatment in treated):
            activation = plan.overrides.get("model.activation", context.setup.hidden_activation)
            initializer = fan_scaled_initializer(activation)
            plan.overrides["model.kernel_initializer"] = initializer
            plan.reason += f" (initializer {initializer} for {activation})"
        return plan

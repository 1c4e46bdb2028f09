"""overfitting: the network memorizes the training split. Pure.

The overfitting symptom is its own cause. Treated on two branches: shrink and regularize
the network (capacity), or stop at the best validation loss and keep those weights
(early stopping).
"""

from __future__ import annotations

from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import Case, make_cause
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext, round3
from plateau_doctor.schema import OVERFITTING, Finding

SHRINK_L2 = 1e-4
SHRINK_DROPOUT = 0.2
"""What an unregularized overfitting net gets; one already regularized gets 10x the L2 and
0.1 more dropout (up to 0.5)."""

EARLY_STOPPING_MIN_PATIENCE = 5
"""Fewest epochs without progress before stopping, so that noise does not stop the run."""


def shrink(finding: Finding, context: TreatmentContext) -> Treatment:
    """Halve every width (at least 4 units) and add L2 and dropout, or more of them."""
    units, model = list(context.setup.hidden_units), context.config.model
    shrunk = [min(width, max(4, width // 2)) for width in units]
    l2 = SHRINK_L2 if model.l2 < SHRINK_L2 else round3(model.l2 * 10)
    dropout = SHRINK_DROPOUT if model.dropout < SHRINK_DROPOUT else min(0.5, model.dropout + 0.1)
    overrides = {"model.hidden_units": shrunk, "model.l2": l2, "model.dropout": round3(dropout)}
    return Treatment(overrides, f"shrink the hidden layers {units} -> {shrunk} with L2 {l2:g} and dropout {dropout:g}")


def stop_early(finding: Finding, context: TreatmentContext) -> Treatment:
    """Patience follows the detection's own patience (at least 5 epochs); a patience the user
    already set lower is kept."""
    patience = max(EARLY_STOPPING_MIN_PATIENCE, context.config.detection.patience)
    if context.config.training.early_stopping_patience is not None:
        patience = min(patience, context.config.training.early_stopping_patience)
    return Treatment(
        {"training.early_stopping_patience": patience},
        f"stop after {patience} epochs without val_loss progress and restore the best weights",
    )


@register(
    "overfitting",
    rank=140,
    words="The network has more capacity than the data supports and nothing holds it back.",
    remedies=("capacity", "early_stopping"),
    treatments={"capacity": shrink, "early_stopping": stop_early},
    search_prior=(Narrowing.MORE_REGULARIZATION,),
)
def overfitting(case: Case) -> Finding | None:
    """The overfitting symptom is its own cause: the net memorizes the training split."""
    symptom = case.symptoms.get(OVERFITTING)
    if symptom is None:
        return None
    return make_cause(
        "overfitting",
        min(0.9, symptom.confidence),
        f"{symptom.evidence}; the network fits the training split ever better while generalizing worse",
    )

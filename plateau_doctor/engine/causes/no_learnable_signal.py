"""no_learnable_signal: the features carry nothing the network could learn. Pure.

Read when the reference model cannot beat the trivial predictor either. Untreatable: no
network change can help, so it has no remedy and vetoes the guided search; the pipeline
reports it instead.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import FLAGGED, Case, make_cause
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.engine.levels import chance_balanced_accuracy, is_classification, metric_value, reference_has_signal
from plateau_doctor.schema import Finding


@register(
    "no_learnable_signal",
    rank=40,
    words=(
        "The features carry no usable information about the target: even the reference model "
        "does no better than guessing."
    ),
    remedies=(),
    untreatable="the reference model cannot beat the trivial predictor either: the data has no learnable signal",
    search_prior=(Narrowing.NO_SEARCH,),
)
def no_learnable_signal(case: Case) -> Finding | None:
    """The reference model cannot beat the trivial predictor either, and the network is flagged."""
    if reference_has_signal(case.audit) or not case.has(*FLAGGED):
        return None
    audit = case.audit
    parts = [
        f"the reference model ({audit.reference_model}) reaches val_loss {fmt(audit.reference_val_loss)} vs the"
        f" trivial {fmt(audit.trivial_val_loss)}"
    ]
    if is_classification(audit.task):
        parts.append(
            f"balanced accuracy {fmt(metric_value(audit.reference_metrics, 'val_balanced_accuracy'))} vs chance"
            f" {fmt(chance_balanced_accuracy(audit))}"
        )
    else:
        parts.append(f"r2 {fmt(metric_value(audit.reference_metrics, 'val_r2'))}")
    parts.append(
        f"no model beats predicting the {'class prior' if is_classification(audit.task) else 'mean'}, so no"
        f" network change can help; the curves show {case.shown(FLAGGED)}"
    )
    return make_cause("no_learnable_signal", 0.85 + 0.05 * case.has("stuck_at_trivial"), "; ".join(parts))

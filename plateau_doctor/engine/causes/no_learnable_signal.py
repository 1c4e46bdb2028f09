"""no_learnable_signal: the features carry nothing the network could learn. Pure.

Read when the reference model cannot beat the trivial predictor either. Untreatable: no
network change can help, so it has no remedy and vetoes the guided search; the pipeline
reports it instead.
"""

from __future__ import annotations

from plateau_doctor.engine.causes.log_readings import bare_log, memorizes, worse_from_the_start
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.readings import FLAGGED, Case, make_cause
from plateau_doctor.engine.causes.registry import register
from plateau_doctor.engine.curve_math import fmt
from plateau_doctor.engine.levels import (
    chance_balanced_accuracy,
    ends_above_chance,
    is_classification,
    metric_value,
    reference_has_signal,
)
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
    """The reference model cannot beat the trivial predictor either, and the network is flagged.

    In a bare log (no reference model) a network at chance that memorizes its training rows
    while its validation loss never once gets below chance (``log_readings.memorizes``), or
    whose validation loss climbs from its first epoch and never gets below chance
    (``log_readings.worse_from_the_start``), points the same way, with less certainty: the
    data were not seen.
    """
    if not case.has(*FLAGGED):
        return None
    if bare_log(case):
        stuck = case.has("stuck_at_trivial")
        seen = memorizes(case) if stuck else None
        climbing = worse_from_the_start(case) if stuck and seen is None else None
        if seen is None and climbing is None:
            return None
        return make_cause(
            "no_learnable_signal",
            0.65 if seen is not None else 0.55,
            f"{seen or climbing}; the curves show {case.shown(FLAGGED)}: the labels may hold no signal the inputs predict"
            " (shuffled or unrelated labels), or the validation rows do not come from the training distribution;"
            " a reference model on the data (plateau-doctor run) would confirm it",
        )
    if reference_has_signal(case.audit) or ends_above_chance(case.history, case.audit):
        return None  # the reference, or the network itself, predicts better than guessing
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

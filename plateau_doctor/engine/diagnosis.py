"""Causes: why the curves look sick, from the symptoms, the training signals, the data audit
and the set-up. Pure: numpy only, no Keras, no Prefect.

:func:`check_setup` reads the set-up alone, before any training, for an output activation
or a loss that cannot fit the task (each cause's ``setup_check``). :func:`diagnose` ranks
every registered cause that the evidence supports. Each cause lives in its own module of
:mod:`plateau_doctor.engine.causes` (its rule, its rank, its plain words, its treatments);
this module only runs them.

Rules:

- a healthy run (only ``converged``) has no cause: :func:`diagnose` returns ``[]``;
- confidences are in 0..1. Structural causes that leave no doubt (a mismatch found before
  training, a symmetric initialization, data without signal) are given higher confidences
  than generic ones (learning rate, capacity), and win ties (each cause's ``rank``,
  :func:`specificity`);
- causes follow the learnable-signal rule of ``levels``: a flat curve at the trivial level
  is ``stuck_at_trivial`` whatever the data, and when the reference model cannot beat the
  trivial predictor either, the cause is that the data hold no learnable signal; a network
  at the reference's (poor) level is ``converged`` and gets no cause at all;
- dead units and vanishing gradients that an upstream cause explains (a large learning
  rate, an unstable step on unscaled inputs or target, a constant initializer) rank below
  it (``readings.CONSEQUENCE_DISCOUNT``), and a large rate is never "too low" even when
  the net it froze takes tiny steps;
- causes under :data:`REPORT_CONFIDENCE` are left out, and a diagnosis of exclusion (too
  few epochs: "nothing else is wrong") stands down when another cause reaches
  ``registry.EXCLUSION_CONFIDENCE``.
"""

from __future__ import annotations

from collections.abc import Sequence

from plateau_doctor.config import DetectionConfig, DoctorConfig
from plateau_doctor.engine.causes.catalog import REGISTRY, by_rank, specificity
from plateau_doctor.engine.causes.readings import REPORT_CONFIDENCE, Case
from plateau_doctor.engine.causes.registry import EXCLUSION_CONFIDENCE, CauseRule
from plateau_doctor.engine.curve_math import History
from plateau_doctor.engine.detection import detect_symptoms
from plateau_doctor.schema import SICK_SYMPTOMS, DataAudit, Finding, ResolvedSetup

__all__ = ["CAUSE_RULES", "REPORT_CONFIDENCE", "SPECIFICITY", "Case", "check_setup", "diagnose"]

CAUSE_RULES: dict[str, CauseRule] = {name: cause.rule for name, cause in REGISTRY.items()}
"""One rule per registered cause, by name (read from the registry)."""

SPECIFICITY: tuple[str, ...] = specificity()
"""Tie-break order, most specific first (read from the registry's ranks)."""


def check_setup(setup: ResolvedSetup, audit: DataAudit | None = None) -> list[Finding]:
    """Causes visible in the set-up alone, before training: an output activation or a loss
    that cannot fit the task. ``audit`` (optional) tells a regression target's range."""
    found = [cause.setup_check(setup, audit) for cause in by_rank() if cause.setup_check is not None]
    return sorted((finding for finding in found if finding is not None), key=lambda finding: -finding.confidence)


def _rank(findings: Sequence[Finding]) -> list[Finding]:
    order = {name: REGISTRY[name].rank for name in REGISTRY}
    return sorted(findings, key=lambda f: (-f.confidence, order.get(f.name, len(order) * 1000)))


def _by_name(findings: Sequence[Finding], kind: str) -> dict[str, Finding]:
    """Each name once, at its highest confidence."""
    best: dict[str, Finding] = {}
    for finding in findings:
        if finding.kind == kind and (finding.name not in best or finding.confidence > best[finding.name].confidence):
            best[finding.name] = finding
    return best


def diagnose(
    history: History,
    audit: DataAudit,
    setup: ResolvedSetup,
    detection: DetectionConfig,
    symptoms: Sequence[Finding] | None = None,
    preflight: Sequence[Finding] | None = None,
    *,
    config: DoctorConfig | None = None,
) -> list[Finding]:
    """The causes of a sick run, most likely first; ``[]`` for a healthy run.

    ``symptoms`` default to :func:`detection.detect_symptoms` on ``history``; ``preflight``
    to :func:`check_setup`. ``config`` tells the preprocessing already applied (class
    weights, resampling); without it none is assumed. Causes under
    ``REPORT_CONFIDENCE`` are left out.
    """
    if symptoms is None:
        symptoms = detect_symptoms(history, audit, detection, setup=setup)
    sick = {name: finding for name, finding in _by_name(symptoms, "symptom").items() if name in SICK_SYMPTOMS}
    if not sick:
        return []
    if preflight is None:
        preflight = check_setup(setup, audit)
    case = Case(
        history=history,
        audit=audit,
        setup=setup,
        detection=detection,
        symptoms=sick,
        preflight=_by_name(preflight, "cause"),
        preprocessing=config.preprocessing if config is not None else None,
    )
    found = [finding for cause in REGISTRY.values() if (finding := cause.rule(case)) is not None]
    found = [finding for finding in found if finding.confidence >= REPORT_CONFIDENCE]
    return _rank(_without_excluded(found))


def _without_excluded(found: list[Finding]) -> list[Finding]:
    """Drop the diagnoses of exclusion when another cause is specific enough to blame."""
    specific = any(
        not REGISTRY[finding.name].exclusion and finding.confidence >= EXCLUSION_CONFIDENCE for finding in found
    )
    return [finding for finding in found if not (specific and REGISTRY[finding.name].exclusion)]

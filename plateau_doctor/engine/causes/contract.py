"""The contract every cause meets, shipped as one function a new cause is checked with, in the
spirit of scikit-learn's ``check_estimator``: :func:`check_cause`.

A cause must have plain words for the report; point to remedy branches that exist and hold
its own treatment for each (or declare why it is untreatable, and then point to none); stay
silent on healthy curves, whatever the set-up; stay silent on sick curves whose readings it
names are all in their normal range (its evidence would contradict it: "features are not
scaled" beside a largest/smallest std ratio of 1.09); fire on its sick example with a
confidence in 0..1 and evidence that quotes a number; and get a plan from its branches on
that example.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from plateau_doctor import schema
from plateau_doctor.config import DetectionConfig, DoctorConfig, validate_config
from plateau_doctor.engine.causes.catalog import REGISTRY
from plateau_doctor.engine.causes.readings import Case
from plateau_doctor.engine.causes.registry import Cause
from plateau_doctor.engine.curve_math import History
from plateau_doctor.engine.detection import detect_symptoms
from plateau_doctor.engine.diagnosis import check_setup
from plateau_doctor.engine.planning import PLANNERS, RULE_FREE_REMEDIES, plan_remedies

MIN_WORDS = 6


class CauseContractError(ValueError):
    """A cause breaks the contract; the message names the cause, the rule and what to do."""


@dataclass(frozen=True)
class Example:
    """One hand-written run: its curves, the data audit and the set-up it was trained with.

    ``config`` is the config it was trained with; None derives it from the set-up and audit.
    """

    history: History
    audit: schema.DataAudit
    setup: schema.ResolvedSetup
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    config: DoctorConfig | None = None


def check_cause(
    cause: Cause, sick: Example, healthy: Sequence[Example], normal: Sequence[Example] = ()
) -> schema.Finding:
    """Check ``cause`` against the contract; return its finding on ``sick``.

    ``normal`` are runs whose curves are sick but whose readings this cause names (its
    signals, set-up and data) are all in their normal range: the cause must stay silent on
    them. Raises :class:`CauseContractError` naming the cause and the broken rule, or
    ``ValueError`` when an example is not what it claims (a healthy one with sick symptoms,
    a normal-readings one without).
    """
    _check_words(cause)
    _check_remedies(cause)
    for index, example in enumerate(healthy):
        case, symptoms = _case(example)
        if any(s.name in schema.SICK_SYMPTOMS for s in symptoms):
            raise ValueError(f"healthy example {index} shows {[s.name for s in symptoms]}: it is not healthy")
        if cause.rule(case) is not None:
            raise CauseContractError(f"cause {cause.name!r} fires on healthy example {index}; a converged run has no cause")
    for index, example in enumerate(normal):
        case, symptoms = _case(example)
        if not any(s.name in schema.SICK_SYMPTOMS for s in symptoms):
            raise ValueError(f"normal-readings example {index} shows no sick symptom: give it sick curves")
        found = cause.rule(case)
        if found is not None:
            raise CauseContractError(
                f"cause {cause.name!r} fires on normal-readings example {index} ({found.evidence[:120]}...): every"
                " reading it names is in its normal range, so the sick curves are some other cause's"
            )
    case, symptoms = _case(sick)
    finding = _check_finding(cause, cause.rule(case))
    if cause.remedies:
        _check_planned(cause, finding, symptoms, sick)
    return finding


def _check_words(cause: Cause) -> None:
    if len(cause.words.split()) < MIN_WORDS or not cause.words.endswith("."):
        raise CauseContractError(
            f"cause {cause.name!r}: its words {cause.words!r} must be a plain sentence of {MIN_WORDS}+ words"
            " ending with a period (the report shows them)"
        )


def _check_remedies(cause: Cause) -> None:
    if cause.untreatable:
        if cause.remedies or cause.treatments:
            raise CauseContractError(
                f"cause {cause.name!r} is declared untreatable but points to {cause.remedies}; drop them or the"
                " declaration"
            )
        return
    if not cause.remedies:
        raise CauseContractError(
            f"cause {cause.name!r} points to no remedy; list the branches that treat it, or declare why no"
            " network change can help (untreatable=...)"
        )
    for remedy in cause.remedies:
        if remedy not in schema.REMEDIES or remedy in RULE_FREE_REMEDIES or remedy not in PLANNERS:
            raise CauseContractError(
                f"cause {cause.name!r} points to {remedy!r}, which is not a planned branch ({', '.join(PLANNERS)})"
            )
        if not callable(cause.treatments.get(remedy)):
            raise CauseContractError(
                f"cause {cause.name!r} has no treatment of its own for remedy {remedy!r}: write"
                f" (finding, context) -> Treatment in its module and register it with treatments={{{remedy!r}: ...}}"
            )


def _check_finding(cause: Cause, finding: schema.Finding | None) -> schema.Finding:
    if finding is None:
        raise CauseContractError(f"cause {cause.name!r} is silent on its own sick example")
    if finding.kind != "cause" or finding.name != cause.name:
        raise CauseContractError(f"cause {cause.name!r} returns a {finding.kind} named {finding.name!r}")
    if not 0.0 <= finding.confidence <= 1.0:
        raise CauseContractError(f"cause {cause.name!r}: confidence {finding.confidence} is outside 0..1")
    if not re.search(r"\d", finding.evidence):
        raise CauseContractError(f"cause {cause.name!r}: its evidence must quote the numbers behind it")
    return finding


def _check_planned(cause: Cause, finding: schema.Finding, symptoms: list[schema.Finding], example: Example) -> None:
    if REGISTRY.get(cause.name) is not cause:
        raise CauseContractError(f"cause {cause.name!r} is not the registered one; register it to check its plans")
    config = example.config or _config_for(example.setup, example.audit)
    plans = plan_remedies([finding], symptoms, config, example.setup, example.audit)
    if not any(cause.name in plan.causes and plan.remedy in cause.remedies for plan in plans):
        raise CauseContractError(
            f"cause {cause.name!r}: none of its branches {cause.remedies} plans a change on its sick example"
            f" (plans: {[plan.remedy for plan in plans]})"
        )


def _case(example: Example) -> tuple[Case, list[schema.Finding]]:
    """What a cause rule reads of ``example``, and the symptoms the detection sees."""
    symptoms = detect_symptoms(example.history, example.audit, example.detection, setup=example.setup)
    sick = {s.name: s for s in symptoms if s.name in schema.SICK_SYMPTOMS}
    preflight = {f.name: f for f in check_setup(example.setup, example.audit)}
    return Case(example.history, example.audit, example.setup, example.detection, sick, preflight, None), symptoms


def _config_for(setup: schema.ResolvedSetup, audit: schema.DataAudit) -> DoctorConfig:
    """The config a run with this set-up was trained with (what the planner reads)."""
    model = {
        "hidden_units": setup.hidden_units,
        "activation": setup.hidden_activation,
        "kernel_initializer": setup.kernel_initializer,
        "output_activation": setup.output_activation,
        "dropout": setup.dropout,
        "l2": setup.l2,
    }
    training = {
        "optimizer": setup.optimizer,
        "learning_rate": setup.learning_rate,
        "loss": setup.loss,
        "batch_size": setup.batch_size,
        "epochs": max(setup.epochs, 20),
    }
    preprocessing = {"scale_features": audit.scaled_features, "scale_target": audit.scaled_target}
    return validate_config({"model": model, "training": training, "preprocessing": preprocessing})

"""Findings (symptoms, causes, preflight checks) in plain words, with their evidence."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from plateau_doctor.engine.causes.catalog import cause_words
from plateau_doctor.schema import OVERFITTING
from plateau_doctor.report.format import number, pct, text_or_empty

SYMPTOM_EXPLANATIONS: dict[str, str] = {
    "diverged": "The loss blew up to a huge value or NaN, so the weights stopped meaning anything.",
    "stuck_at_trivial": (
        "The network predicts no better than always guessing the class prior (or the mean "
        "target): it has learned nothing from the features."
    ),
    "plateau": "The loss stopped falling long before training ended and stayed flat, worse than the data allows.",
    "slow_convergence": "The loss is still falling, but so slowly that training ended far from where it could get.",
    "oscillation": "The loss jumps up and down from epoch to epoch instead of settling.",
    OVERFITTING: (
        "The training loss keeps falling while the validation loss turned and rose: the "
        "network memorises the training rows."
    ),
    "converged": "The loss fell and levelled off near what the data allows: a healthy run.",
}

CAUSE_EXPLANATIONS: dict[str, str] = cause_words()  # each cause's plain words live with its rule


def as_dict(item: Any) -> dict[str, Any]:
    """A finding or feature record as a dict, from a mapping or a dataclass (``Finding``, ``FeatureStats``)."""
    if dataclasses.is_dataclass(item) and not isinstance(item, type):
        return dataclasses.asdict(item)
    return dict(item)


def normalized_findings(summary: Mapping[str, Any], findings: Iterable[Any] | None) -> list[dict[str, Any]]:
    """The findings as dicts; rebuilt from the summary's symptoms and causes when none are given."""
    items = [as_dict(item) for item in findings or []]
    if items:
        return items
    symptoms = [
        {"kind": "symptom", "name": name, "confidence": math.nan, "evidence": ""}
        for name in summary.get("symptoms") or []
    ]
    causes = [
        {"kind": "cause", "name": cause.get("cause", "?"), "confidence": cause.get("confidence"),
         "evidence": cause.get("evidence", "")}
        for cause in summary.get("causes") or []
    ]
    return symptoms + causes


def ranked_causes(findings: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The causes among ``findings``, most confident first."""
    causes = [finding for finding in findings if finding.get("kind") == "cause"]
    return sorted(causes, key=lambda finding: -np.nan_to_num(number(finding.get("confidence")), nan=0.0))


def _explanation(kind: str, name: str) -> str:
    if kind == "symptom":
        return SYMPTOM_EXPLANATIONS.get(name, "")
    if kind == "cause":
        return CAUSE_EXPLANATIONS.get(name, "")
    return CAUSE_EXPLANATIONS.get(name) or SYMPTOM_EXPLANATIONS.get(name, "")


def finding_item(finding: Mapping[str, Any]) -> tuple[str, str]:
    """A finding as (name, "(kind, confidence): plain explanation. Evidence: ...")."""
    kind = str(finding.get("kind") or "finding")
    name = str(finding.get("name") or finding.get("cause") or "?")
    confidence = pct(finding.get("confidence"))
    words = f"({kind}, confidence {confidence})" if confidence else f"({kind})"
    explanation = _explanation(kind, name)
    evidence = text_or_empty(finding.get("evidence"))
    text = f"{words}: {explanation}" if explanation else words + "."
    if evidence:
        text += f" Evidence: {evidence}"
    return name, text

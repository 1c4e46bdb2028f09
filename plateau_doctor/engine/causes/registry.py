"""The cause registry: one entry per cause, holding everything the doctor knows about it.

A cause is one :class:`Cause`: its detection rule (``(Case) -> Finding | None``), its rank
among the others (a tie-break: lower is more specific and wins equal confidences), its
plain words (what the report shows next to the evidence) and the remedy branches that
treat it (names of ``schema.REMEDIES``; empty when no network change can help). Rules
register themselves with :func:`register`, used as a decorator in their family's module
(``learning_rate``, ``scaling``, ``data``, ``capacity``, ``architecture``, ``mismatch``,
``optimizer``); ``diagnosis``, ``planning`` and ``report`` read the registry, so adding a
cause is one decorated function plus its name in ``schema.CAUSES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plateau_doctor import schema
from plateau_doctor.schema import Finding  # noqa: F401  (named in CauseRule)

if TYPE_CHECKING:
    from plateau_doctor.engine.causes.readings import Case

CauseRule = Callable[["Case"], "Finding | None"]


@dataclass(frozen=True)
class Cause:
    """Everything about one cause, in one place."""

    name: str
    rule: CauseRule
    rank: int
    words: str
    remedies: tuple[str, ...]
    family: str
    exclusion: bool = False


EXCLUSION_CONFIDENCE = 0.5
"""A cause at 0.5 or more is specific evidence that something is wrong: a diagnosis of
exclusion (such as too few epochs) then stands down. Generic readings below it (a usual
learning rate that may be "too low" on any slow run) do not count."""

REGISTRY: dict[str, Cause] = {}
"""Every registered cause, by name, in registration order."""


def register(
    name: str, *, rank: int, words: str, remedies: tuple[str, ...], exclusion: bool = False
) -> Callable[[CauseRule], CauseRule]:
    """Decorator: register ``rule`` as the detection of cause ``name``.

    ``rank`` breaks ties between equally confident causes (lower first: the more
    specific); ``words`` is the plain explanation the report shows; ``remedies`` the
    branches that treat it. ``exclusion`` marks a diagnosis of exclusion ("nothing else is
    wrong"): it is dropped when another cause reaches ``EXCLUSION_CONFIDENCE``. A name
    registered twice, a name outside ``schema.CAUSES``,
    empty words or an unknown remedy is refused at import time, naming the cause.
    """
    def decorate(rule: CauseRule) -> CauseRule:
        if name in REGISTRY:
            raise ValueError(f"cause {name!r} is registered twice ({REGISTRY[name].family} and {rule.__module__})")
        if name not in schema.CAUSES:
            raise ValueError(f"cause {name!r} is not in schema.CAUSES; add it there (the contract's names) first")
        if not words.strip():
            raise ValueError(f"cause {name!r} needs plain words for the report")
        unknown = [remedy for remedy in remedies if remedy not in schema.REMEDIES]
        if unknown:
            raise ValueError(f"cause {name!r} points to unknown remedies {unknown}; use names of schema.REMEDIES")
        family = rule.__module__.rsplit(".", 1)[-1]
        REGISTRY[name] = Cause(
            name=name, rule=rule, rank=rank, words=words, remedies=tuple(remedies), family=family, exclusion=exclusion
        )
        return rule

    return decorate


def cause_words() -> dict[str, str]:
    """Cause name -> the plain words the report shows."""
    return {name: cause.words for name, cause in REGISTRY.items()}


def cause_remedies() -> dict[str, tuple[str, ...]]:
    """Cause name -> the remedy branches that treat it."""
    return {name: cause.remedies for name, cause in REGISTRY.items()}


def specificity() -> tuple[str, ...]:
    """Cause names by rank, most specific first (the tie-break order)."""
    return tuple(cause.name for cause in sorted(REGISTRY.values(), key=lambda cause: cause.rank))

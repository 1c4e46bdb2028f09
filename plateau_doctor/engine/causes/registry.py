"""The cause registry: one entry per cause, holding everything the doctor knows about it.

A cause is one :class:`Cause`, registered by its own module ``engine/causes/<name>.py``
with :func:`register` used as a decorator on its detection rule. The entry holds:

- the rule, ``(Case) -> Finding | None``, and the rank that breaks ties between equally
  confident causes (lower is more specific and wins);
- the plain words the report shows next to the evidence;
- the remedy branches that treat it (names of ``schema.REMEDIES``) and, for each, its
  treatment ``(Finding, TreatmentContext) -> Treatment | None``: the config changes that fix
  it. A cause no network change can help declares why (``untreatable``) and has neither;
- its search prior (how it narrows the guided search, ``priors.Narrowing``), the recorded
  signals that confirm it in a bare log, and the properties other causes may ask about
  (:data:`PROPERTIES`) instead of naming it.

:mod:`.catalog` finds the cause modules (by file name) and reads the registry; nothing else
lists the causes. :mod:`.contract` checks one cause the way the tests check every one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from plateau_doctor import schema
from plateau_doctor.engine.causes.priors import Narrowing
from plateau_doctor.engine.causes.treating import Treatment, TreatmentContext

CauseRule = Callable[..., "schema.Finding | None"]
"""``(readings.Case) -> Finding | None``: the cause read from one run, or None. (``readings``
reads this registry, so the registry names ``Case`` in words only.)"""
TreatmentRule = Callable[[schema.Finding, TreatmentContext], Treatment | None]
"""The config changes that treat a cause on one branch, or None where they do not apply."""

CALLS_FOR_CLIPPING = "calls_for_clipping"
KILLS_UNITS = "kills_units"
BREAKS_OUTPUT = "breaks_output"
JUDGES_THE_RATE = "judges_the_rate"
PROPERTIES: dict[str, str] = {
    CALLS_FOR_CLIPPING: "its gradients blow up: a lower learning rate should also clip them",
    KILLS_UNITS: "hidden units die: a replacement activation must not be one that can die",
    BREAKS_OUTPUT: "the output layer cannot vary as the task needs: a constant output is its doing",
    JUDGES_THE_RATE: "it judges the learning rate against the optimizer's usual range",
}
"""What a cause may declare about itself, so that another cause's rule or treatment (or the
log doctor) can ask "is a cause found that ...?" without naming it."""


@dataclass(frozen=True)
class Cause:
    """Everything about one cause, in one place."""

    name: str
    rule: CauseRule
    rank: int
    words: str
    remedies: tuple[str, ...]
    treatments: Mapping[str, TreatmentRule] = field(default_factory=dict)
    untreatable: str = ""
    search_prior: tuple[Narrowing, ...] = ()
    confirmed_by: tuple[str, ...] = ()
    properties: frozenset[str] = frozenset()
    exclusion: bool = False
    setup_check: Callable[..., "schema.Finding | None"] | None = None
    frozen_log_rule: Callable[..., "schema.Finding | None"] | None = None
    module: str = ""


EXCLUSION_CONFIDENCE = 0.5
"""A cause at 0.5 or more is specific evidence that something is wrong: a diagnosis of
exclusion (such as too few epochs) then stands down. Generic readings below it (a usual
learning rate that may be "too low" on any slow run) do not count."""

REGISTRY: dict[str, Cause] = {}
"""Every registered cause, by name, in the order their modules were imported. Read it through
:mod:`.catalog`, which imports every cause module first."""


def register(
    name: str,
    *,
    rank: int,
    words: str,
    remedies: tuple[str, ...],
    treatments: Mapping[str, TreatmentRule] | None = None,
    untreatable: str = "",
    search_prior: tuple[Narrowing, ...] = (),
    confirmed_by: tuple[str, ...] = (),
    properties: frozenset[str] = frozenset(),
    exclusion: bool = False,
    setup_check: Callable[..., schema.Finding | None] | None = None,
    frozen_log_rule: Callable[..., schema.Finding | None] | None = None,
) -> Callable[[CauseRule], CauseRule]:
    """Decorator: register ``rule`` as the detection of cause ``name``, with its other parts.

    ``rank`` breaks ties between equally confident causes (lower first: the more
    specific); ``words`` is the plain explanation the report shows; ``remedies`` the
    branches that treat it and ``treatments`` its treatment on each (remedy -> treatment);
    ``untreatable`` says why no network change can help (then no remedy);
    ``search_prior`` how it narrows the guided search; ``confirmed_by`` the recorded
    signals that confirm it in a bare log; ``properties`` what other causes may ask about
    it (:data:`PROPERTIES`); ``exclusion`` marks a diagnosis of exclusion ("nothing else is
    wrong"): it is dropped when another cause reaches ``EXCLUSION_CONFIDENCE``;
    ``setup_check`` reads the cause from the set-up alone, before training;
    ``frozen_log_rule`` from a bare log whose loss froze (``rule(name, values, detection,
    at_chance)``: ``at_chance`` when the log shows the chance level; each rule says whether
    it reads a net frozen there). A name registered
    twice or outside ``schema.CAUSES``, empty words, an unknown remedy, property or signal,
    or a treatment of a branch the cause does not point to is refused at import time,
    naming the cause.
    """
    def decorate(rule: CauseRule) -> CauseRule:
        if name in REGISTRY:
            raise ValueError(f"cause {name!r} is registered twice ({REGISTRY[name].module} and {rule.__module__})")
        if name not in schema.CAUSES:
            raise ValueError(f"cause {name!r} is not in schema.CAUSES; add it there (the contract's names) first")
        if not words.strip():
            raise ValueError(f"cause {name!r} needs plain words for the report")
        unknown = [remedy for remedy in remedies if remedy not in schema.REMEDIES]
        if unknown:
            raise ValueError(f"cause {name!r} points to unknown remedies {unknown}; use names of schema.REMEDIES")
        cause = Cause(
            name=name, rule=rule, rank=rank, words=words, remedies=tuple(remedies), treatments=dict(treatments or {}),
            untreatable=untreatable, search_prior=tuple(search_prior), confirmed_by=tuple(confirmed_by),
            properties=frozenset(properties), exclusion=exclusion, setup_check=setup_check,
            frozen_log_rule=frozen_log_rule, module=rule.__module__,
        )
        _refuse_unknown_parts(cause)
        REGISTRY[name] = cause
        return rule

    return decorate


def _refuse_unknown_parts(cause: Cause) -> None:
    stray = [remedy for remedy in cause.treatments if remedy not in cause.remedies]
    if stray:
        raise ValueError(f"cause {cause.name!r} treats {stray} but does not point to them; add them to its remedies")
    unknown = sorted(set(cause.properties) - set(PROPERTIES))
    if unknown:
        raise ValueError(f"cause {cause.name!r} declares unknown properties {unknown}; known: {sorted(PROPERTIES)}")
    signals = [signal for signal in cause.confirmed_by if signal not in schema.HISTORY_SIGNALS]
    if signals:
        raise ValueError(f"cause {cause.name!r} is confirmed by unknown signals {signals}; use schema.HISTORY_SIGNALS")
    if not all(isinstance(narrowing, Narrowing) for narrowing in cause.search_prior):
        raise ValueError(f"cause {cause.name!r}: its search prior must be priors.Narrowing members")

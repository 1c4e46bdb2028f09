"""Every cause, found by file name, and the readings of the registry the rest of the engine uses.

A cause lives in ``engine/causes/<name>.py``, named after it (a name of ``schema.CAUSES``).
Importing this module imports every such module, found with :mod:`pkgutil`, so no file
lists the causes; the other modules of the folder (the registry, the shared readings, the
contract) are not causes and are not imported here. Ranks must be unique, so that the
order in which the modules are found never decides a tie.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType

from plateau_doctor import schema
from plateau_doctor.engine.causes.registry import REGISTRY as _REGISTRY
from plateau_doctor.engine.causes.registry import Cause


def _import_cause_modules() -> None:
    package = __name__.rsplit(".", 1)[0]
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name in schema.CAUSES:
            importlib.import_module(f"{package}.{module.name}")
    ranks: dict[int, str] = {}
    for cause in _REGISTRY.values():
        if cause.rank in ranks:
            raise ValueError(f"causes {ranks[cause.rank]!r} and {cause.name!r} share rank {cause.rank}; ranks break ties")
        ranks[cause.rank] = cause.name


_import_cause_modules()

REGISTRY: Mapping[str, Cause] = MappingProxyType(_REGISTRY)
"""Every registered cause by name (read-only; :func:`registry.register` writes it)."""


def by_rank() -> list[Cause]:
    """Every cause, most specific (lowest rank) first."""
    return sorted(REGISTRY.values(), key=lambda cause: cause.rank)


def cause_words() -> dict[str, str]:
    """Cause name -> the plain words the report shows."""
    return {name: cause.words for name, cause in REGISTRY.items()}


def cause_remedies() -> dict[str, tuple[str, ...]]:
    """Cause name -> the remedy branches that treat it."""
    return {name: cause.remedies for name, cause in REGISTRY.items()}


def specificity() -> tuple[str, ...]:
    """Cause names by rank, most specific first (the tie-break order)."""
    return tuple(cause.name for cause in by_rank())


def properties_of(names: Iterable[str]) -> frozenset[str]:
    """The properties (``registry.PROPERTIES``) declared by the causes named; unknown names add none."""
    return frozenset(prop for name in names if name in REGISTRY for prop in REGISTRY[name].properties)


def untreatable_reason(findings: Iterable[schema.Finding]) -> str:
    """Why no network change can help, from the untreatable causes among ``findings`` ("" when none)."""
    reasons = (REGISTRY[f.name].untreatable for f in findings if f.name in REGISTRY)
    return "; ".join(dict.fromkeys(reason for reason in reasons if reason))

"""Every remedy branch, found by file name: ``engine/remedies/<branch>.py`` holds the one
:class:`.base.Remedy` subclass of that branch of ``schema.REMEDIES``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

from plateau_doctor import schema
from plateau_doctor.engine.remedies.base import Remedy


def _find_remedies() -> dict[str, Remedy]:
    package = __name__.rsplit(".", 1)[0]
    found: dict[str, Remedy] = {}
    for info in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if info.name not in schema.REMEDIES:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        classes = [
            value for value in vars(module).values()
            if inspect.isclass(value) and issubclass(value, Remedy) and value.__module__ == module.__name__
        ]
        if [cls.name for cls in classes] != [info.name]:
            raise ValueError(f"{module.__name__} must define one Remedy subclass named {info.name!r}")
        found[info.name] = classes[0]()
    return {name: found[name] for name in schema.REMEDIES if name in found}


REMEDY_BRANCHES: dict[str, Remedy] = _find_remedies()
"""One remedy per branch, in ``schema.REMEDIES`` order (``search`` has none: it is not planned)."""

"""Values as the report's text: numbers to 4 significant digits, shares, durations, settings."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd


def fmt(value: Any) -> str:
    """A value for a table cell: 4 significant digits, NaN as "NaN", missing as "–"."""
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        real = float(value)
        if math.isnan(real):
            return "NaN"
        if math.isinf(real):
            return "inf" if real > 0 else "-inf"
        return f"{real:.4g}"
    return str(value)


def number(value: Any) -> float:
    """``value`` as a float; NaN when it is missing or not a number."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def pct(value: Any) -> str:
    share = number(value)
    return f"{share:.0%}" if math.isfinite(share) else ""


def fmt_seconds(value: Any) -> str:
    seconds = number(value)
    if not math.isfinite(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def fmt_config_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def fmt_params(value: Any) -> str:
    """Remedy params (JSON text) as ``key=value, ...``; the raw text when it is not a JSON object."""
    if not isinstance(value, str):
        return text_or_empty(value)
    try:
        params = json.loads(value)
    except json.JSONDecodeError:
        return value
    if not isinstance(params, dict):
        return value
    return ", ".join(f"{key}={fmt_config_value(item)}" for key, item in params.items())


def text_or_empty(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def flatten(config: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested settings as ``(dotted.name, value)`` rows."""
    rows: list[tuple[str, Any]] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            rows.extend(flatten(value, f"{name}."))
        else:
            rows.append((name, value))
    return rows


def join_names(names: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

"""Checking a table before anything is trained: columns, values, the task. Pure: pandas and numpy.

Task inference rule (``data.task: auto``):

* a target that is not numeric (text, category) or boolean is classification;
* a numeric target whose values are all whole numbers with at most
  ``MAX_CLASSES_FOR_INFERENCE`` (20) distinct values is classification;
* anything else is regression.

Classification with two classes is ``binary``, with more ``multiclass``. An explicit
``data.task`` always wins (an integer 0..5 rating can then be regression). Every problem is
a ``DataError`` that names the column or field and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from plateau_doctor.config import DataConfig
from plateau_doctor.errors import DataError

FLOAT32_MAX = float(np.finfo(np.float32).max)

MAX_CLASSES_FOR_INFERENCE = 20

def check_unique_columns(names: list[str], source: Path) -> None:
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataError(
            f"data.path: {source} has more than one column named {name_list(duplicated)}; "
            "give each column a unique name in the header"
        )


def check_same_columns(files: list[str], folder: Path) -> None:
    """Every file of a Parquet folder must have the same columns.

    pyarrow takes the first file's schema: a column only some files have is dropped, or
    filled with nulls that later read as missing values. Neither is what the user meant.
    """
    import pyarrow.parquet as pq

    first = files[0]
    expected = pq.read_schema(first).names
    for other in files[1:]:
        names = pq.read_schema(other).names
        if names != expected:
            extra = [n for n in names if n not in expected]
            lacking = [n for n in expected if n not in names]
            what = []
            if extra:
                what.append(f"{Path(other).name} has {name_list(extra)} that {Path(first).name} lacks")
            if lacking:
                what.append(f"{Path(other).name} lacks {name_list(lacking)} that {Path(first).name} has")
            if not what:
                what.append(f"{Path(other).name} orders its columns differently from {Path(first).name}")
            raise DataError(
                f"data.path: the Parquet files in {folder} disagree on columns: {'; '.join(what)}; "
                "give every file the same columns (or point data.path at one file)"
            )


def first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else error.__class__.__name__


def infer_task(target: pd.Series) -> str:
    """Return binary, multiclass or regression by the module's documented rule."""
    values = target.dropna()
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "binary" if values.nunique() <= 2 else "multiclass"
    numbers = values.to_numpy(dtype=float)
    distinct = np.unique(numbers[np.isfinite(numbers)])
    if distinct.size <= MAX_CLASSES_FOR_INFERENCE and np.all(distinct == np.round(distinct)):
        return "binary" if distinct.size <= 2 else "multiclass"
    return "regression"


def feature_columns(columns: list[str], data: DataConfig) -> list[str]:
    """The feature columns ``data`` asks for among ``columns``; a DataError naming the field otherwise."""
    if data.target not in columns:
        raise DataError(
            f"data.target: column {data.target!r} is not in the table; its columns are {name_list(columns)}"
        )
    features = data.features if data.features is not None else [c for c in columns if c != data.target]
    missing = [c for c in features if c not in columns]
    if missing:
        raise DataError(f"data.features: {name_list(missing)} not in the table; its columns are {name_list(columns)}")
    if data.target in features:
        raise DataError(f"data.features: lists the target {data.target!r}; drop it from data.features")
    if not features:
        raise DataError(f"data.features: the table has no column besides the target {data.target!r}")
    return features


def select_columns(frame: pd.DataFrame, data: DataConfig) -> tuple[pd.DataFrame, pd.Series]:
    """Pick the feature and target columns and check them; raise DataError naming columns."""
    columns = [str(c) for c in frame.columns]
    frame = frame.set_axis(columns, axis=1)
    features = feature_columns(columns, data)

    x = frame[features]
    non_numeric = [
        f"{c!r} ({x[c].dtype}, e.g. {plain(x[c].dropna().iloc[0])!r})" if x[c].notna().any() else f"{c!r} ({x[c].dtype})"
        for c in features
        if not (pd.api.types.is_numeric_dtype(x[c]) or pd.api.types.is_bool_dtype(x[c]))
    ]
    if non_numeric:
        raise DataError(
            f"feature columns must be numeric; not numeric: {', '.join(non_numeric)}. Encode them as numbers "
            "or leave them out with data.features"
        )
    x = x.astype(float)
    _check_finite(pd.concat([x, frame[[data.target]]], axis=1), data.target)
    numeric_target = pd.api.types.is_numeric_dtype(frame[data.target]) and not pd.api.types.is_bool_dtype(frame[data.target])
    checked = pd.concat([x, frame[[data.target]]], axis=1) if numeric_target else x
    _check_float32_range(checked, list(checked.columns), data.target)
    return x, frame[data.target]


def _check_finite(frame: pd.DataFrame, target: str) -> None:
    problems = []
    for column in frame.columns:
        series = frame[column]
        n_missing = int(series.isna().sum())
        n_infinite = 0
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            n_infinite = int(np.isinf(series.to_numpy(dtype=float, na_value=np.nan)).sum())
        parts = [f"{n_missing} missing"] if n_missing else []
        parts += [f"{n_infinite} infinite"] if n_infinite else []
        if parts:
            role = " (the target)" if column == target else ""
            problems.append(f"{column!r}{role}: {', '.join(parts)}")
    if problems:
        raise DataError(
            f"the table has missing (NaN) or infinite values: {_join_limited(problems)}. Fill or drop those rows first"
        )


def _check_float32_range(frame: pd.DataFrame, columns: list[str], target: str) -> None:
    """The network computes in float32: a value beyond its range (about 3.4e38) becomes infinity there."""
    problems = []
    for column in columns:
        values = frame[column].to_numpy(dtype=float)
        too_large = np.abs(values) > FLOAT32_MAX
        if too_large.any():
            row = int(np.flatnonzero(too_large)[0])
            role = " (the target)" if column == target else ""
            problems.append(
                f"{column!r}{role}: {int(too_large.sum())} value(s) beyond float32's range, e.g. "
                f"{values[row]:.3g} in row {row + 1}"
            )
    if problems:
        raise_beyond_float32(problems)


def raise_beyond_float32(problems: list[str]) -> None:
    """One message for values beyond float32's range, whichever path (in memory, streamed) found them."""
    raise DataError(
        f"the table has values too large for the network's float32 arithmetic (|value| > {FLOAT32_MAX:.3g}): "
        f"{_join_limited(problems)}. Rescale those columns (e.g. take a log or divide by a power of ten) "
        "or drop those rows"
    )


def _join_limited(parts: list[str], limit: int = 8) -> str:
    shown = "; ".join(parts[:limit])
    return shown + (f"; ... ({len(parts)} columns in all)" if len(parts) > limit else "")


def plain(value: Any) -> Any:
    """numpy scalars as Python ones, so messages say 1, not np.int64(1)."""
    return value.item() if isinstance(value, np.generic) else value


def name_list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(plain(n)) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def resolve_task(target: pd.Series, data: DataConfig) -> str:
    """The task to run: the explicit ``data.task``, else the inferred one; checks the target fits it."""
    task = infer_task(target) if data.task == "auto" else data.task
    distinct = target.nunique()
    if distinct < 2:
        raise DataError(
            f"data.target: column {data.target!r} has a single value ({plain(target.iloc[0])!r}) in all {len(target)} "
            "rows; there is nothing to learn. Check the target column or the rows selected"
        )
    if task == "regression" and not pd.api.types.is_numeric_dtype(target):
        raise DataError(
            f"data.task: regression needs a numeric target, but {data.target!r} holds {target.dtype} values "
            f"(e.g. {plain(target.iloc[0])!r}); set data.task to binary/multiclass or auto"
        )
    if task == "binary" and distinct != 2:
        raise DataError(
            f"data.task: binary needs exactly 2 classes, but {data.target!r} has {distinct}; "
            "set data.task to multiclass, regression or auto"
        )
    return task


def sort_key(label: Any) -> tuple[int, Any]:
    return (0, label) if isinstance(label, (int, float, np.integer, np.floating)) else (1, str(label))


def json_label(label: Any) -> Any:
    return label.item() if isinstance(label, np.generic) else label


def schema_feature_columns(dataset, data: DataConfig) -> list[str]:
    """The feature columns, checked against the schema as ``data.select_columns`` does."""
    import pyarrow as pa

    schema = dataset.schema
    columns = list(schema.names)
    features = feature_columns(columns, data)
    numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_decimal)
    non_numeric = [f"{c!r} ({schema.field(c).type})" for c in features if not any(t(schema.field(c).type) for t in numeric)]
    if non_numeric:
        raise DataError(
            f"feature columns must be numeric; not numeric: {', '.join(non_numeric)}. Encode them as numbers "
            "or leave them out with data.features"
        )
    return features

"""Streaming a Parquet table larger than memory into the prepared split, in two passes.

The table is read once per run, in record batches over ``pyarrow.dataset``:

* pass 0 reads the target column alone: the task, the classes and their counts;
* pass 1 reads every used column: the checks (non-numeric columns, missing and infinite
  values per column, with names and counts), the training split's per-column statistics
  (``StandardScaler``'s arithmetic, merged batch by batch; min, max) and the split, written as raw
  float32 rows (``data.splitfiles``).

The split is a seeded function of the row position (``data.split.SplitRule``), so it needs
no shuffle of the whole table. The validation split is kept up to ``VALIDATION_CAP`` rows (a
seeded sample) for the metrics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from plateau_doctor.config import DataConfig
from plateau_doctor.data.checks import (
    FLOAT32_MAX,
    raise_beyond_float32,
    resolve_task,
    schema_feature_columns,
    sort_key,
)
from plateau_doctor.data.sources.parquet import open_dataset, record_batches
from plateau_doctor.data.split import SplitRule, check_split_sizes, class_ordinals
from plateau_doctor.data.splitfiles import NpyWriter, staged_folder, write_meta
from plateau_doctor.errors import DataError

FORMAT_VERSION = 1

VALIDATION_CAP = 100_000
# A numeric target with more distinct values than this cannot be a class label here.
MAX_STREAMED_CLASSES = 1_000

def _scan_target(dataset, data: DataConfig) -> tuple[str, list[Any], np.ndarray, int]:
    """Pass 0, the target column only: (task, classes, class counts, rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    counts: dict[Any, int] = {}
    rows = 0
    target_type = dataset.schema.field(data.target).type
    too_many = False
    for batch in record_batches(dataset, [data.target]):
        column = batch.column(0)
        rows += len(column)
        if too_many:
            continue
        if pa.types.is_floating(column.type):
            column = pc.drop_null(pc.if_else(pc.is_finite(column), column, None))
        for item in pc.value_counts(pc.drop_null(column)).to_pylist():
            counts[item["values"]] = counts.get(item["values"], 0) + item["counts"]
        too_many = len(counts) > MAX_STREAMED_CLASSES
    if rows == 0:
        raise DataError(f"data.path: {data.path} has no rows; give a table with a header and data rows")
    if too_many:
        # More distinct values than any class list: only a numeric target, as regression, can stream.
        if data.task in ("auto", "regression") and (pa.types.is_integer(target_type) or pa.types.is_floating(target_type)):
            return "regression", [], np.asarray([rows]), rows
        raise DataError(
            f"data.target: {data.target!r} has more than {MAX_STREAMED_CLASSES} distinct values; a streamed "
            "classification needs fewer classes. Set data.task to regression or group the labels"
        )
    distinct = pd.Series(pa.array(list(counts), type=target_type).to_pandas())
    if len(distinct) < 2:
        first = distinct.iloc[0] if len(distinct) else None
        shown = repr(first.item() if isinstance(first, np.generic) else first) if len(distinct) else "none"
        raise DataError(
            f"data.target: column {data.target!r} has a single value ({shown}) in all {rows} rows; there is "
            "nothing to learn. Check the target column or the rows selected"
        )
    # The documented inference rule needs only the distinct values, not every row.
    task = resolve_task(distinct, data)
    if task == "regression":
        return task, [], np.asarray([rows]), rows
    classes = sorted(counts, key=sort_key)
    return task, classes, np.asarray([counts[c] for c in classes], dtype=np.int64), rows


def write_streamed_split(data: DataConfig, folder: Path) -> dict[str, Any]:
    """Passes 0 and 1: check the table, gather statistics, write the split to ``folder``."""
    source = Path(data.path)
    dataset = open_dataset(source)
    features = schema_feature_columns(dataset, data)
    task, classes, class_counts, rows = _scan_target(dataset, data)
    rule = SplitRule(data.validation_fraction, data.seed, max(len(classes), 1))
    n_val_per_class = rule.n_validation(class_counts)
    check_split_sizes(rows, class_counts, n_val_per_class, classes, data)
    n_val = int(n_val_per_class.sum())
    n_train = rows - n_val
    kept_val = np.arange(n_val)
    if n_val > VALIDATION_CAP:
        kept_val = np.sort(np.random.default_rng([data.seed, 0xCA9]).choice(n_val, VALIDATION_CAP, replace=False))

    with staged_folder(folder) as staging:
        stats = _pass_one(dataset, data, features, task, classes, rule, staging, n_train, kept_val)
        meta = {
            "format_version": FORMAT_VERSION,
            "layout": "streamed",
            "source": str(source.resolve()),
            "task": task,
            "target": data.target,
            "features": features,
            "classes": [c.item() if isinstance(c, np.generic) else c for c in classes],
            "rule": {"kind": "systematic-per-class", "fraction": rule.fraction, "seed": rule.seed},
            "n_rows": rows,
            "n_train": n_train,
            "n_val": n_val,
            "n_val_kept": int(len(kept_val)),
            **stats,
        }
        write_meta(staging, meta)
    return meta


class RunningStats:
    """Per-column count, mean, sum of squared deviations (Chan et al.'s merge), min and max.

    The arithmetic of ``StandardScaler.partial_fit``, without its per-call validation and
    copies, over columns laid out contiguously (one row of ``values`` per column).
    """

    def __init__(self, width: int):
        self.count = 0
        self.mean = np.zeros(width)
        self.m2 = np.zeros(width)
        self.min = np.full(width, np.inf)
        self.max = np.full(width, -np.inf)

    def update(self, values: np.ndarray) -> None:
        n = values.shape[1]
        if n == 0:
            return
        mean = values.mean(axis=1)
        deviations = np.subtract(values, mean[:, None])
        m2 = np.square(deviations, out=deviations).sum(axis=1)
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.m2 = self.m2 + m2 + np.square(delta) * (self.count * n / total)
        self.count = total
        self.min = np.minimum(self.min, values.min(axis=1))
        self.max = np.maximum(self.max, values.max(axis=1))

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(self.m2 / max(self.count, 1))

    @property
    def scale(self) -> np.ndarray:
        """StandardScaler's ``scale_``: the std, or 1 for a feature sklearn deems constant."""
        var = np.square(self.std)
        eps = np.finfo(np.float64).eps
        constant = var <= self.count * eps * var + (self.count * self.mean * eps) ** 2
        scale = self.std.copy()
        scale[constant | (scale < 10 * eps)] = 1.0
        return scale


def _pass_one(dataset, data, features, task, classes, rule, staging, n_train, kept_val) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    classification = task != "regression"
    width = len(features)
    writers = {
        "x_train": NpyWriter(staging / "x_train.npy", n_train, width, "<f4"),
        "y_train": NpyWriter(staging / "y_train.npy", n_train, None, "<i4" if classification else "<f8"),
        "x_val": NpyWriter(staging / "x_val.npy", len(kept_val), width, "<f4"),
        "y_val": NpyWriter(staging / "y_val.npy", len(kept_val), None, "<i4" if classification else "<f8"),
    }
    stats, target_stats = RunningStats(width), RunningStats(1)
    missing = np.zeros(width + 1, dtype=np.int64)
    infinite = np.zeros(width + 1, dtype=np.int64)
    too_large = np.zeros(width + 1, dtype=np.int64)  # finite in float64, infinite in the float32 rows written
    seen = np.zeros(rule.n_classes, dtype=np.int64)
    train_counts = np.zeros(max(len(classes), 1), dtype=np.int64)
    val_seen = 0
    class_set = pa.array(classes, type=dataset.schema.field(data.target).type) if classification else None
    try:
        for batch in record_batches(dataset, [*features, data.target]):
            n = batch.num_rows
            if n == 0:
                continue
            # One row per column: each copy from Arrow is contiguous, and so is every statistic.
            columns = np.empty((width, n), dtype=np.float64)
            for index in range(width):
                columns[index] = batch.column(index).to_numpy(zero_copy_only=False)
            target = batch.column(width)
            if classification:
                if target.type != class_set.type:  # one file may store the labels in another width
                    target = target.cast(class_set.type)
                found = pc.index_in(target, value_set=class_set)
                missing[width] += found.null_count
                y = found.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
                codes = y
            else:
                y = target.to_numpy(zero_copy_only=False).astype(np.float64)
                missing[width] += int(np.isnan(y).sum())
                infinite[width] += int(np.isinf(y).sum())
                too_large[width] += int((np.abs(y) > FLOAT32_MAX).sum()) - int(np.isinf(y).sum())
                codes = np.zeros(n, dtype=np.int64)
            if not np.isfinite(columns).all():
                missing[:width] += np.isnan(columns).sum(axis=1)
                infinite[:width] += np.isinf(columns).sum(axis=1)
            beyond = np.abs(columns) > FLOAT32_MAX
            if beyond.any():
                too_large[:width] += beyond.sum(axis=1) - np.isinf(columns).sum(axis=1)

            validation = rule.is_validation(codes, class_ordinals(codes, seen))
            train = ~validation
            train_columns = columns[:, train]
            y_train = y[train]
            if missing.any() or infinite.any() or too_large.any():
                # A table that fails the checks is only read on, to count: its rows and statistics are never used.
                continue
            stats.update(train_columns)
            if classification:
                train_counts += np.bincount(y_train, minlength=len(train_counts))
            else:
                target_stats.update(y_train[None, :])
            writers["x_train"].write(train_columns.T)
            writers["y_train"].write(y_train)
            val_rows = np.flatnonzero(validation)
            if len(val_rows):
                positions = np.arange(val_seen, val_seen + len(val_rows))
                keep = np.searchsorted(kept_val, positions)
                keep = val_rows[(keep < len(kept_val)) & (kept_val[np.minimum(keep, len(kept_val) - 1)] == positions)]
                writers["x_val"].write(columns[:, keep].T)
                writers["y_val"].write(y[keep])
                val_seen += len(val_rows)
        _raise_for_bad_values(features, data.target, missing, infinite)
        _raise_for_too_large(features, data.target, too_large)
    finally:
        for writer in writers.values():
            writer.stream.close()
    for writer in writers.values():
        writer.close()
    return {
        "feature_mean": stats.mean.tolist(),
        "feature_std": stats.std.tolist(),
        "feature_scale": stats.scale.tolist(),
        "feature_min": stats.min.tolist(),
        "feature_max": stats.max.tolist(),
        "target_mean": None if classification else float(target_stats.mean[0]),
        "target_std": None if classification else float(target_stats.std[0]),
        "train_class_counts": train_counts.tolist() if classification else None,
    }


def _raise_for_bad_values(features, target, missing, infinite) -> None:
    problems = []
    for index, column in enumerate([*features, target]):
        parts = [f"{missing[index]} missing"] if missing[index] else []
        parts += [f"{infinite[index]} infinite"] if infinite[index] else []
        if parts:
            role = " (the target)" if column == target else ""
            problems.append(f"{column!r}{role}: {', '.join(parts)}")
    if problems:
        raise DataError(
            f"the table has missing (NaN) or infinite values: {'; '.join(problems)}. Fill or drop those rows first"
        )


def _raise_for_too_large(features, target, too_large) -> None:
    problems = [
        f"{column!r}{' (the target)' if column == target else ''}: {too_large[index]} value(s) beyond float32's range"
        for index, column in enumerate([*features, target])
        if too_large[index]
    ]
    if problems:
        raise_beyond_float32(problems)

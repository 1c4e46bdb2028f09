"""The streamed data stage: Parquet tables larger than memory, read in record batches.

The table is read once per run, in two streamed passes over ``pyarrow.dataset``:

* pass 0 reads the target column alone: the task, the classes and their counts;
* pass 1 reads every used column: the checks (non-numeric columns, missing and infinite
  values per column, with names and counts), the training split's per-column statistics
  (``StandardScaler``'s arithmetic, merged batch by batch; min, max) and the split, written as raw
  float32 rows to ``.npy`` files that are read back by row ranges (:class:`RowFile`).

The split is a seeded function of the row position, so it needs no shuffle of the whole
table (:class:`SplitRule`). The prepared split lives in ``<output.dir>/.prepared/<key>/``,
where the key hashes the table's files (names, sizes, modification times) and the data
section; the CLI's check, the load stage, every branch and the retrain find it there
instead of reading the table again. A branch that changes preprocessing derives its
scaler from the stored statistics: nothing is re-read or re-checked.

Training reads block-shuffled batches from the split on disk, scaled per batch, through
``keras.utils.PyDataset`` (:func:`fit_inputs`). The validation split is materialized up to
``VALIDATION_CAP`` rows (a seeded sample) for the metrics, and the reference model of
the audit is trained on a seeded sample of ``data.REFERENCE_MAX_ROWS`` training rows.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from plateau_doctor.config import DataConfig, DoctorConfig, PreprocessingConfig
from plateau_doctor.data.prepare import FLOAT32_MAX, PreparedData, feature_columns
from plateau_doctor.errors import DataError

FORMAT_VERSION = 1
# Rows per record batch: larger batches amortize Arrow's per-batch cost (~50 MB of float64 each).
STREAM_BATCH_ROWS = 262_144
# pyarrow's default read-ahead (16 batches, 4 files) holds hundreds of MB of decoded
# batches in flight; this keeps the decoding ahead of the arithmetic with a fraction of it.


def record_batches(dataset, columns: list[str]):
    """The dataset's rows in table order, file by file, in batches of ``STREAM_BATCH_ROWS``.

    Read with ``ParquetFile.iter_batches`` rather than the dataset scanner: the scanner
    reads ahead of a slow consumer without a firm bound (about 800 MB over a 10M-row
    table here), while this holds one row group's columns at a time.
    """
    import pyarrow.parquet as pq

    for fragment in dataset.get_fragments():
        with dataset.filesystem.open_input_file(fragment.path) as stream:
            yield from pq.ParquetFile(stream).iter_batches(batch_size=STREAM_BATCH_ROWS, columns=columns)
# Rows of the validation split kept in memory for the metrics (a seeded uniform sample).
VALIDATION_CAP = 100_000
# A numeric target with more distinct values than this cannot be a class label here.
MAX_STREAMED_CLASSES = 1_000
# The in-memory path holds the pandas frame, its float copy, the split and the scaled
# arrays at once: about this many 8-byte copies of the table.
IN_MEMORY_COPIES = 4
# `data.stream: auto` streams once those copies would take more than this share of RAM.
MEMORY_SHARE = 0.5
PREPARED_DIR = ".prepared"
# Training batches are shuffled in blocks of up to this many neighbouring rows (reshuffled
# every epoch): a batch of 1,024 rows is 8 reads, not 1,024.
SHUFFLE_BLOCK_ROWS = 128


# --------------------------------------------------------------------------- when to stream
def is_parquet_source(path: str | Path) -> bool:
    source = Path(path)
    return source.is_dir() or source.suffix.lower() in (".parquet", ".pq")


def memory_budget() -> int:
    """Bytes the in-memory path may use: a share of this machine's physical memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 1024**3
    return int(total * MEMORY_SHARE)


def in_memory_bytes(path: str | Path) -> int:
    """What the in-memory path would hold for this table, from the Parquet metadata alone."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet")
    return int(dataset.count_rows()) * len(dataset.schema.names) * 8 * IN_MEMORY_COPIES


def should_stream(data: DataConfig) -> bool:
    """``data.stream``: true streams (Parquet only), false never, auto when over the memory budget."""
    if data.stream is False:
        return False
    if data.stream is True:
        if not is_parquet_source(data.path):
            raise DataError(
                f"data.stream: true streams Parquet only, but data.path {data.path} is not a .parquet file or "
                "folder; convert the table to Parquet or set data.stream to auto or false"
            )
        return True
    if not is_parquet_source(data.path) or not Path(data.path).exists():
        return False
    try:
        return in_memory_bytes(data.path) > memory_budget()
    except (OSError, ValueError, ImportError) as error:  # unreadable: load_table reports it in its own words
        del error
        return False


# --------------------------------------------------------------------------- the split rule
@dataclass(frozen=True)
class SplitRule:
    """Validation rows as a seeded function of each row's position within its class.

    The k-th row of class c (k = 0, 1, ... in table order) goes to validation when
    ``floor((k + 1) f + p_c) > floor(k f + p_c)``, with ``f`` the validation fraction and
    ``p_c`` a seeded phase in [0, 1). This is systematic sampling per class: every class
    keeps its share of validation rows exactly (within one row), spread evenly through the
    table, and a row's side depends only on its position, never on a shuffle. Regression
    uses one class. It is not a random permutation: a table whose order repeats with a
    period of ``1/f`` rows would be sampled in step with it.
    """

    fraction: float
    seed: int
    n_classes: int

    @functools.cached_property
    def phases(self) -> np.ndarray:
        return np.random.default_rng([self.seed, 0x5EED]).random(max(self.n_classes, 1))

    def n_validation(self, class_counts: np.ndarray) -> np.ndarray:
        """Validation rows per class among the first ``class_counts`` rows of each class."""
        counts = np.asarray(class_counts, dtype=np.float64)
        return np.floor(counts * self.fraction + self.phases[: len(counts)]).astype(np.int64)

    def is_validation(self, codes: np.ndarray, ordinals: np.ndarray) -> np.ndarray:
        phase = self.phases[codes]
        return np.floor((ordinals + 1) * self.fraction + phase) > np.floor(ordinals * self.fraction + phase)

    def mask(self, codes: np.ndarray) -> np.ndarray:
        """The validation mask of a whole table's class codes (the in-memory form of the rule)."""
        codes = np.asarray(codes, dtype=np.int64)
        return self.is_validation(codes, class_ordinals(codes, np.zeros(max(self.n_classes, 1), dtype=np.int64)))


def split_rows_by_rule(x: pd.DataFrame, y: pd.Series, task: str, data: DataConfig):
    """``data.split_rows`` with the streamed path's rule instead of a shuffle (rows stay in table order)."""
    from plateau_doctor.data.prepare import _sort_key

    if task == "regression":
        codes, n_classes = np.zeros(len(y), dtype=np.int64), 1
    else:
        classes = sorted(pd.unique(y).tolist(), key=_sort_key)
        codes = y.map({label: code for code, label in enumerate(classes)}).to_numpy(dtype=np.int64)
        n_classes = len(classes)
    validation = SplitRule(data.validation_fraction, data.seed, n_classes).mask(codes)
    return x[~validation], x[validation], y[~validation], y[validation]


def class_ordinals(codes: np.ndarray, seen: np.ndarray) -> np.ndarray:
    """Each row's position within its class, counting on from ``seen`` (updated in place)."""
    order = np.argsort(codes, kind="stable")
    ranked = codes[order]
    first = np.searchsorted(ranked, ranked, side="left")
    ordinals = np.empty(len(codes), dtype=np.int64)
    ordinals[order] = np.arange(len(codes)) - first + seen[ranked]
    seen += np.bincount(codes, minlength=len(seen))
    return ordinals


# --------------------------------------------------------------------------- the prepared split
def prepared_dir(config: DoctorConfig) -> Path:
    """Where this table's prepared split lives: a key over its files and the data section."""
    source = Path(config.data.path).resolve()
    files = sorted(p for p in source.rglob("*.parquet")) if source.is_dir() else [source]
    digest = hashlib.sha256()
    for file in files:
        stat = file.stat()
        digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    data = config.data
    settings = [FORMAT_VERSION, VALIDATION_CAP, data.target, data.features, data.task, data.validation_fraction, data.seed]
    digest.update(json.dumps(settings).encode())
    return Path(config.output.dir) / PREPARED_DIR / digest.hexdigest()[:20]


def prepare_streamed(config: DoctorConfig, audit: bool = True):
    """The streamed counterpart of ``data.prepare_from_config``: reuse the prepared split, or make it."""
    source = Path(config.data.path)
    if not source.exists():
        from plateau_doctor.data.prepare import load_table

        load_table(source)  # raises the in-memory path's DataError for a missing path
    folder = prepared_dir(config)
    if not (folder / "split.json").is_file():
        write_split(config.data, folder)
    return load_split(folder, config.data, config.preprocessing, audit=audit)


def _open_dataset(path: Path):
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(str(path), format="parquet")
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"data.path: {path} could not be read as Parquet ({_first_line(error)}); check the file") from None
    if path.is_dir() and not dataset.files:
        raise DataError(f"data.path: the folder {path} holds no .parquet files")
    from plateau_doctor.data.prepare import _check_same_columns, _check_unique_columns

    if path.is_dir():
        _check_same_columns(dataset.files, path)  # the dataset takes the first file's schema for all
    _check_unique_columns(list(dataset.schema.names), path)
    return dataset


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else error.__class__.__name__


def _columns(dataset, data: DataConfig) -> list[str]:
    """The feature columns, checked against the schema as ``data.select_columns`` does."""
    import pyarrow as pa

    from plateau_doctor.data.prepare import _name_list

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


def _scan_target(dataset, data: DataConfig) -> tuple[str, list[Any], np.ndarray, int]:
    """Pass 0, the target column only: (task, classes, class counts, rows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from plateau_doctor.data.prepare import _sort_key, resolve_task

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
    classes = sorted(counts, key=_sort_key)
    return task, classes, np.asarray([counts[c] for c in classes], dtype=np.int64), rows


def _check_split_sizes(rows: int, class_counts: np.ndarray, n_val: np.ndarray, classes: list[Any], data: DataConfig) -> None:
    """The in-memory split's size rules, on the streamed counts."""
    if classes:
        rare = [c.item() if isinstance(c, np.generic) else c for c, n in zip(classes, class_counts) if n < 2]
        if rare:
            from plateau_doctor.data.prepare import _name_list

            raise DataError(
                f"data.target: {len(rare)} class(es) have a single row ({_name_list(rare)}); a stratified split needs at least 2 rows "
                "per class. Add rows or drop those classes"
            )
        if np.any(n_val < 1) or np.any(class_counts - n_val < 1):
            raise DataError(
                f"the table has {rows} rows: too few to put each of the {len(classes)} classes in both splits "
                f"with data.validation_fraction={data.validation_fraction}; add rows or change the fraction"
            )
    total_val = int(n_val.sum())
    if rows - total_val < 10 or total_val < 2:
        raise DataError(
            f"the table has {rows} rows: too few for a training split of at least 10 rows and a validation "
            f"split of at least 2 with data.validation_fraction={data.validation_fraction}; add rows"
        )


class _NpyWriter:
    """Appends rows to a ``.npy`` file whose shape is known up front (no memory map while writing)."""

    def __init__(self, path: Path, rows: int, width: int | None, dtype: str):
        self.path, self.rows, self.dtype = path, rows, np.dtype(dtype)
        shape = (rows, width) if width is not None else (rows,)
        self.stream = open(path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self.stream, header)
        self.written = 0

    def write(self, values: np.ndarray) -> None:
        np.ascontiguousarray(values, dtype=self.dtype).tofile(self.stream)
        self.written += len(values)

    def close(self) -> None:
        self.stream.close()
        if self.written != self.rows:
            raise RuntimeError(f"{self.path.name}: wrote {self.written} rows, expected {self.rows}")


def write_split(data: DataConfig, folder: Path) -> dict[str, Any]:
    """Passes 0 and 1: check the table, gather statistics, write the split to ``folder``."""
    source = Path(data.path)
    dataset = _open_dataset(source)
    features = _columns(dataset, data)
    task, classes, class_counts, rows = _scan_target(dataset, data)
    rule = SplitRule(data.validation_fraction, data.seed, max(len(classes), 1))
    n_val_per_class = rule.n_validation(class_counts)
    _check_split_sizes(rows, class_counts, n_val_per_class, classes, data)
    n_val = int(n_val_per_class.sum())
    n_train = rows - n_val
    kept_val = np.arange(n_val)
    if n_val > VALIDATION_CAP:
        kept_val = np.sort(np.random.default_rng([data.seed, 0xCA9]).choice(n_val, VALIDATION_CAP, replace=False))

    created_root = not folder.parent.parent.exists()
    staging = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        stats = _pass_one(dataset, data, features, task, classes, rule, staging, n_train, kept_val)
        meta = {
            "format_version": FORMAT_VERSION,
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
        (staging / "split.json").write_text(json.dumps(meta, indent=1))
        try:
            os.rename(staging, folder)
        except OSError:
            # Another process (a branch, the CLI's check) finished the same split first: keep theirs.
            if not (folder / "split.json").is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(folder.parent)
        if created_root:
            _remove_if_empty(folder.parent.parent)
        raise
    return meta


def _remove_if_empty(path: Path) -> None:
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()


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
        "x_train": _NpyWriter(staging / "x_train.npy", n_train, width, "<f4"),
        "y_train": _NpyWriter(staging / "y_train.npy", n_train, None, "<i4" if classification else "<f8"),
        "x_val": _NpyWriter(staging / "x_val.npy", len(kept_val), width, "<f4"),
        "y_val": _NpyWriter(staging / "y_val.npy", len(kept_val), None, "<i4" if classification else "<f8"),
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
    from plateau_doctor.data.prepare import raise_beyond_float32

    problems = [
        f"{column!r}{' (the target)' if column == target else ''}: {too_large[index]} value(s) beyond float32's range"
        for index, column in enumerate([*features, target])
        if too_large[index]
    ]
    if problems:
        raise_beyond_float32(problems)


# --------------------------------------------------------------------------- reading it back
class RowFile:
    """Rows of a 2-D (or 1-D) ``.npy`` file, read with ``os.pread``: contiguous runs, one call each.

    Not a memory map: on this kernel a page fault maps a whole large folio of the page
    cache (up to ~2 MB), so 1,024 random rows gathered through ``np.load(mmap_mode="r")``
    put 500 MB of an 8M-row split into the process's RSS. Reads here cost the bytes asked.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        with open(self.path, "rb") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(stream)
            self.offset = stream.tell()
        if fortran:
            raise ValueError(f"{self.path}: Fortran-ordered arrays are not supported")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        self._fd: int | None = None

    def __getstate__(self):
        return {**self.__dict__, "_fd": None}

    @property
    def fd(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def _read_run(self, start: int, stop: int) -> np.ndarray:
        size = (stop - start) * self.row_bytes
        payload = os.pread(self.fd, size, self.offset + start * self.row_bytes)
        if len(payload) != size:
            raise OSError(f"{self.path}: short read at row {start}")
        return np.frombuffer(payload, dtype=self.dtype).reshape((stop - start, *self.shape[1:]))

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            values = self._read_run(start, max(start, stop)) if step > 0 else self._read_run(stop + 1, start + 1)[::-1]
            return values[:: abs(step)] if abs(step) != 1 else values
        if np.isscalar(key):
            index = int(key) + (len(self) if int(key) < 0 else 0)
            return self._read_run(index, index + 1)[0]
        rows = np.asarray(key)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = np.where(rows < 0, rows + len(self), rows).astype(np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)
        out = np.empty((len(unique), *self.shape[1:]), dtype=self.dtype)
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        for first, last in zip(np.r_[0, breaks], np.r_[breaks, len(unique)]):
            out[first:last] = self._read_run(int(unique[first]), int(unique[last - 1]) + 1)
        return out[inverse.ravel()]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self[:]
        return values if dtype is None else values.astype(dtype)


class ScaledRows:
    """Rows of a RowFile (or array), transformed as they are read: ``(raw - mean) / scale``.

    It stands in for the scaled training array: indexing, ``len`` and ``shape`` behave as
    on the array the in-memory path would hold, with the same float32 arithmetic.
    """

    def __init__(self, raw: np.ndarray, mean=None, scale=None, dtype=np.float32, work_dtype=None):
        self.raw = raw
        self.dtype = np.dtype(dtype)
        # The in-memory path scales features in float32 but the target in float64: match each.
        self.work_dtype = np.dtype(work_dtype or dtype)
        self.mean = None if mean is None else np.asarray(mean, dtype=self.work_dtype)
        self.scale = None if scale is None else np.asarray(scale, dtype=self.work_dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.raw.shape

    @property
    def ndim(self) -> int:
        return self.raw.ndim

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, key) -> np.ndarray:
        values = np.asarray(self.raw[key], dtype=self.work_dtype)
        if self.mean is not None:
            values = (values - self.mean) / self.scale
        return values.astype(self.dtype, copy=False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self[:]
        return values if dtype is None else values.astype(dtype)


@dataclass
class StreamedData(PreparedData):
    """Prepared data whose training split stays on disk (``split_dir``), read in batches."""

    split_dir: str = ""
    train_index: np.ndarray | None = None  # rows to draw from (oversampling repeats some); None = all


def is_streamed(data) -> bool:
    return isinstance(data, StreamedData)


def load_split(folder: str | Path, data: DataConfig, preprocessing: PreprocessingConfig, audit: bool = True):
    """Prepared data over a written split, with this config's preprocessing; nothing is re-read."""
    from plateau_doctor.data.prepare import Preprocessor, oversample

    folder = Path(folder)
    meta = json.loads((folder / "split.json").read_text())
    task = meta["task"]
    if task != "regression" and preprocessing.scale_target:
        preprocessing = preprocessing.model_copy(update={"scale_target": False})
    prep = Preprocessor(
        task=task,
        features=list(meta["features"]),
        target=meta["target"],
        scale_features=preprocessing.scale_features,
        scale_target=preprocessing.scale_target,
    )
    if prep.scale_features:
        prep.feature_mean_, prep.feature_scale_ = list(meta["feature_mean"]), list(meta["feature_scale"])
    if task == "regression":
        if prep.scale_target:
            prep.target_mean_ = float(meta["target_mean"])
            prep.target_scale_ = float(meta["target_std"]) if meta["target_std"] > 0 else 1.0
    else:
        prep.classes_ = list(meta["classes"])

    x_train_raw = RowFile(folder / "x_train.npy")
    y_train_raw = RowFile(folder / "y_train.npy")
    x_val_raw = np.load(folder / "x_val.npy")
    y_val_raw = np.load(folder / "y_val.npy")
    mean = prep.feature_mean_ if prep.scale_features else None
    scale = prep.feature_scale_ if prep.scale_features else None
    x_train = ScaledRows(x_train_raw, mean, scale)
    x_val = ScaledRows(x_val_raw, mean, scale)[:]
    if task == "regression":
        y_train = ScaledRows(y_train_raw, prep.target_mean_, prep.target_scale_, work_dtype=np.float64)
        y_val = ((y_val_raw - prep.target_mean_) / prep.target_scale_).astype(np.float32)
        y_val_original = y_val_raw.astype(float)
    else:
        y_train = ScaledRows(y_train_raw, dtype=np.int64)
        y_val = y_val_raw.astype(np.int64)
        y_val_original = y_val

    class_weight, train_index = None, None
    if task != "regression":
        counts = np.asarray(meta["train_class_counts"], dtype=np.float64)
        if preprocessing.class_weight == "balanced":
            # sklearn's compute_class_weight("balanced"): n_samples / (n_classes * count)
            weights = counts.sum() / (len(counts) * counts)
            class_weight = {int(c): float(w) for c, w in enumerate(weights)}
        if preprocessing.resample == "oversample":
            rows = np.arange(len(y_train_raw), dtype=np.int64).reshape(-1, 1)
            train_index = oversample(rows, np.asarray(y_train_raw, dtype=np.int64), data.seed)[0][:, 0]

    audit_result = _audit(meta, x_train_raw, y_train, x_val_raw, y_val, prep, data.seed) if audit else None
    return StreamedData(
        task=task,
        feature_names=list(meta["features"]),
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        y_val_original=y_val_original,
        preprocessor=prep,
        class_weight=class_weight,
        audit=audit_result,
        split_dir=str(folder),
        train_index=train_index,
    )


def _audit(meta, x_train_raw, y_train, x_val_raw, y_val, prep, seed):
    """``data.audit_data`` on streamed statistics; the reference models see a seeded sample."""
    from plateau_doctor.data import prepare as data_module
    from plateau_doctor.schema import FeatureStats

    features = [
        FeatureStats(name=name, mean=mean, std=std, min=low, max=high)
        for name, mean, std, low, high in zip(
            meta["features"], meta["feature_mean"], meta["feature_std"], meta["feature_min"], meta["feature_max"]
        )
    ]
    n_train = int(meta["n_train"])
    # The reference model always sees scaled features, whatever the user's preprocessing.
    center = np.asarray(meta["feature_mean"])
    spread = np.asarray(meta["feature_scale"])
    if n_train > data_module.REFERENCE_MAX_ROWS:
        # The in-memory audit's draw, in its order: the same rows reach the same reference models.
        rows = np.random.default_rng(seed).choice(n_train, data_module.REFERENCE_MAX_ROWS, replace=False)
    else:
        rows = np.arange(n_train)
    xs_fit = (np.asarray(x_train_raw[rows], dtype=float) - center) / spread
    y_codes = np.asarray(y_train[:] if isinstance(y_train, ScaledRows) else y_train)
    y_fit = y_codes[rows]
    xs_val = (np.asarray(x_val_raw, dtype=float) - center) / spread
    common = dict(
        task=prep.task,
        n_rows=int(meta["n_rows"]),
        n_train=n_train,
        n_val=int(len(y_val)),
        n_features=len(features),
        features=features,
        scaled_features=prep.scale_features,
        scaled_target=prep.task == "regression" and prep.scale_target,
    )
    if prep.task == "regression":
        return data_module._audit_regression(common, y_codes, y_val, xs_fit, y_fit, xs_val, prep, seed)
    return data_module._audit_classification(common, y_codes, y_val, xs_fit, y_fit, xs_val, prep, seed)


# --------------------------------------------------------------------------- training input
@functools.lru_cache(maxsize=1)
def _batches_class():
    import keras

    class TrainBatches(keras.utils.PyDataset):
        """Block-shuffled training batches read from the split on disk, scaled per batch."""

        def __init__(self, x, y, batch_size, seed, to_labels, class_weight=None, index=None, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size, self.seed = x, y, int(batch_size), seed
            self.to_labels = to_labels
            self.index = np.arange(len(y), dtype=np.int64) if index is None else np.asarray(index, dtype=np.int64)
            self.weights = None
            if class_weight:
                self.weights = np.asarray([class_weight[c] for c in sorted(class_weight)], dtype=np.float32)
            self.epoch = 0
            self.order = self._shuffled()

        def _shuffled(self) -> np.ndarray:
            """This epoch's order: blocks of neighbouring positions, the blocks in a seeded random order."""
            rng = np.random.default_rng([self.seed, self.epoch])
            block = max(1, min(SHUFFLE_BLOCK_ROWS, self.batch_size // 8))
            n = len(self.index)
            starts = rng.permutation(np.arange(0, n, block, dtype=np.int64))
            positions = (starts[:, None] + np.arange(block)).ravel()
            return self.index[positions[positions < n]]

        def __len__(self) -> int:
            return math.ceil(len(self.index) / self.batch_size)

        def __getitem__(self, step):
            # Ascending rows make each block one read; order inside a batch does not change
            # its gradient.
            rows = np.sort(self.order[step * self.batch_size : (step + 1) * self.batch_size])
            codes = np.asarray(self.y[rows])
            x, y = self.x[rows], self.to_labels(codes)
            if self.weights is None:
                return x, y
            return x, y, self.weights[codes.astype(np.int64)]

        def on_epoch_end(self):
            self.epoch += 1
            self.order = self._shuffled()

    return TrainBatches


def train_batches(data, setup, batch_size: int, seed: int):
    """A ``keras.utils.PyDataset`` over the streamed training split."""
    from plateau_doctor.training.model import labels_for_loss

    return _batches_class()(
        data.x_train,
        data.y_train,
        batch_size,
        seed,
        to_labels=functools.partial(labels_for_loss, setup=setup),
        class_weight=data.class_weight,
        index=data.train_index,
    )


def fit_inputs(data, setup, config: DoctorConfig) -> dict[str, Any]:
    """``model.fit``'s training-data arguments: the arrays in memory, or batches of the streamed split."""
    from plateau_doctor.training.model import labels_for_loss

    if is_streamed(data):
        # Class weights travel as per-row sample weights: some data adapters ignore class_weight.
        return {"x": train_batches(data, setup, config.training.batch_size, config.data.seed)}
    return {
        "x": data.x_train,
        "y": labels_for_loss(data.y_train, setup),
        "batch_size": config.training.batch_size,
        "class_weight": data.class_weight,
        "shuffle": True,
    }

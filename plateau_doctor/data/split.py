"""Splitting a table into training and validation rows, seeded: shuffled in memory, by rule when streamed.

In memory, :func:`split_table` shuffles with ``data.seed`` (stratified for classification)
and keeps the raw rows (:class:`RawSplit`), from which every branch derives its own
preprocessing. A streamed table cannot be shuffled whole: :class:`SplitRule` picks the
validation rows from each row's position within its class.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from plateau_doctor.config import DataConfig
from plateau_doctor.data.checks import name_list, plain, resolve_task, select_columns, sort_key
from plateau_doctor.errors import DataError


@dataclass
class RawSplit:
    """A table's rows as read (features in float64), split: what every branch's preprocessing starts from.

    ``y_train``/``y_val`` are class codes (positions in ``classes``, the training split's
    labels sorted) for classification and the raw target for regression.
    """

    task: str
    features: list[str]
    target: str
    x_train: np.ndarray
    x_val: np.ndarray
    y_train: np.ndarray
    y_val: np.ndarray
    n_rows: int
    classes: list[Any] = field(default_factory=list)


def split_table(frame: pd.DataFrame, data: DataConfig, validation: np.ndarray | None = None) -> RawSplit:
    """Select and check the columns, resolve the task, split the rows (seeded, stratified for classes;
    ``validation``: a boolean mask of the validation rows, kept as given)."""
    x, y = select_columns(frame, data)
    task = resolve_task(y, data)
    if validation is None:
        x_train, x_val, y_train, y_val = split_rows(x, y, task, data)
    else:
        x_train, x_val, y_train, y_val = split_by_mask(x, y, np.asarray(validation, dtype=bool))
    raw = RawSplit(
        task=task,
        features=list(x.columns),
        target=data.target,
        x_train=x_train.to_numpy(dtype=float),
        x_val=x_val.to_numpy(dtype=float),
        y_train=y_train.to_numpy(dtype=float) if task == "regression" else np.empty(0),
        y_val=y_val.to_numpy(dtype=float) if task == "regression" else np.empty(0),
        n_rows=len(y),
    )
    if task != "regression":
        raw.classes = sorted(pd.unique(y_train).tolist(), key=sort_key)
        raw.y_train, raw.y_val = class_codes(y_train, raw.classes), class_codes(y_val, raw.classes)
    return raw


def class_codes(labels: pd.Series, classes: list[Any]) -> np.ndarray:
    """Labels to their positions in ``classes``; a DataError for a label the training split never had."""
    index = {label: code for code, label in enumerate(classes)}
    unknown = sorted({label for label in labels.tolist() if label not in index}, key=sort_key)
    if unknown:
        raise DataError(
            f"data.target: labels {name_list([plain(u) for u in unknown])} were not seen in the training split; "
            "add rows with those labels or drop them"
        )
    return np.asarray([index[label] for label in labels.tolist()], dtype=np.int64)


def split_rows(
    x: pd.DataFrame, y: pd.Series, task: str, data: DataConfig
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series, pd.Series]:
    """Shuffled split by ``data.seed``; stratified for classification."""
    from sklearn.model_selection import train_test_split

    n_rows = len(y)
    n_val = math.ceil(n_rows * data.validation_fraction)
    stratify = None
    if task != "regression":
        counts = y.value_counts()
        n_classes = len(counts)
        if counts.min() < 2:
            rare = [plain(label) for label in counts[counts < 2].index.tolist()]
            raise DataError(
                f"data.target: {len(rare)} class(es) have a single row ({name_list(rare)}); a stratified split needs at least 2 rows "
                "per class. Add rows or drop those classes"
            )
        if n_val < n_classes or n_rows - n_val < n_classes:
            raise DataError(
                f"the table has {n_rows} rows: too few to put each of the {n_classes} classes in both splits "
                f"with data.validation_fraction={data.validation_fraction}; add rows or change the fraction"
            )
        stratify = y
    minimum = 10
    if n_rows - n_val < minimum or n_val < 2:
        raise DataError(
            f"the table has {n_rows} rows: too few for a training split of at least {minimum} rows and a "
            f"validation split of at least 2 with data.validation_fraction={data.validation_fraction}; add rows"
        )
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=n_val, random_state=data.seed, shuffle=True, stratify=stratify
    )
    return x_train, x_val, y_train, y_val


def split_by_mask(x: pd.DataFrame, y: pd.Series, validation: np.ndarray):
    """The rows the mask marks go to validation, the others to training, each in table order."""
    n_val = int(validation.sum())
    if len(validation) != len(y) or n_val < 2 or len(y) - n_val < 10:
        raise DataError(
            f"the validation mask marks {n_val} of {len(y)} rows (mask length {len(validation)}); it needs one value"
            " per row, at least 2 validation rows and at least 10 training rows"
        )
    return x[~validation], x[validation], y[~validation], y[validation]


def oversample(x: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Repeat minority-class rows (drawn with replacement) up to the majority count."""
    from sklearn.utils import resample

    rng_seed = seed
    classes, counts = np.unique(y, return_counts=True)
    target = counts.max()
    xs, ys = [], []
    for label, count in zip(classes, counts):
        rows = np.flatnonzero(y == label)
        if count < target:
            rows = np.concatenate([rows, resample(rows, n_samples=target - count, random_state=rng_seed)])
        xs.append(x[rows])
        ys.append(y[rows])
    order = np.random.default_rng(seed).permutation(sum(len(part) for part in ys))
    return np.concatenate(xs)[order], np.concatenate(ys)[order]


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
    if task == "regression":
        codes, n_classes = np.zeros(len(y), dtype=np.int64), 1
    else:
        classes = sorted(pd.unique(y).tolist(), key=sort_key)
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


def check_split_sizes(rows: int, class_counts: np.ndarray, n_val: np.ndarray, classes: list[Any], data: DataConfig) -> None:
    """The in-memory split's size rules, on the streamed counts."""
    if classes:
        rare = [c.item() if isinstance(c, np.generic) else c for c, n in zip(classes, class_counts) if n < 2]
        if rare:
            raise DataError(
                f"data.target: {len(rare)} class(es) have a single row ({name_list(rare)}); a stratified split needs at least 2 rows "
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

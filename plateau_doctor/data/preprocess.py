"""A branch's own preprocessing of the prepared split: scalers fit on the training split only, class weights, oversampling.

Pure: numpy, pandas and scikit-learn. Every branch starts from the same raw split on disk
(``data.prepared``) and derives its preprocessing from its own config, so a remedy that
turns scaling on or weights the classes changes nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from plateau_doctor.config import PreprocessingConfig
from plateau_doctor.data.checks import json_label
from plateau_doctor.data.split import RawSplit, oversample
from plateau_doctor.data.splitfiles import RowFile, ScaledRows
from plateau_doctor.schema import DataAudit


@dataclass
class Preprocessor:
    """Learned preprocessing; fit on the training split only (attributes end in ``_``)."""

    task: str
    features: list[str]
    target: str
    scale_features: bool
    scale_target: bool
    feature_mean_: list[float] = field(default_factory=list)
    feature_scale_: list[float] = field(default_factory=list)
    target_mean_: float = 0.0
    target_scale_: float = 1.0
    classes_: list[Any] = field(default_factory=list)

    def fit(self, raw: RawSplit) -> "Preprocessor":
        """Learn the scalers on the training split's raw rows; the classes come with the split."""
        from sklearn.preprocessing import StandardScaler

        if self.scale_features:
            scaler = StandardScaler().fit(raw.x_train)
            self.feature_mean_ = scaler.mean_.tolist()
            self.feature_scale_ = scaler.scale_.tolist()  # a constant feature gets scale 1 (sklearn)
        if self.task == "regression":
            if self.scale_target:
                values = raw.y_train
                self.target_mean_ = float(values.mean())
                std = float(values.std())
                self.target_scale_ = std if std > 0 else 1.0
        else:
            self.classes_ = list(raw.classes)
        return self

    def transform_features(self, x: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Raw features (a frame with the feature columns, or rows in their order) as the network sees them."""
        values = x[self.features].to_numpy(dtype=np.float32) if isinstance(x, pd.DataFrame) else np.asarray(x, dtype=np.float32)
        if self.scale_features:
            values = (values - np.asarray(self.feature_mean_, dtype=np.float32)) / np.asarray(
                self.feature_scale_, dtype=np.float32
            )
        return values.astype(np.float32)

    def transform_target(self, y: np.ndarray) -> np.ndarray:
        """The split's targets as the network sees them: class codes as they are, a regression target scaled."""
        if self.task == "regression":
            return ((np.asarray(y, dtype=float) - self.target_mean_) / self.target_scale_).astype(np.float32)
        return np.asarray(y, dtype=np.int64)

    def inverse_target(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(values, dtype=float) * self.target_scale_ + self.target_mean_

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "target": self.target,
            "features": self.features,
            "feature_scaler": (
                {"kind": "StandardScaler", "mean": self.feature_mean_, "scale": self.feature_scale_}
                if self.scale_features
                else None
            ),
            "target_scaler": (
                {"kind": "StandardScaler", "mean": self.target_mean_, "scale": self.target_scale_}
                if self.task == "regression" and self.scale_target
                else None
            ),
            "classes": [json_label(c) for c in self.classes_],
        }


@dataclass
class PreparedData:
    """Arrays as the network sees them, plus what is needed to judge it on the original scale."""

    task: str
    feature_names: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    y_val_original: np.ndarray
    preprocessor: Preprocessor
    class_weight: dict[int, float] | None
    audit: DataAudit | None
    split_dir: str = ""  # the prepared split on disk these arrays came from ("" for a frame prepared in memory)

    @property
    def n_classes(self) -> int:
        return len(self.preprocessor.classes_)


@dataclass
class StreamedData(PreparedData):
    """Prepared data whose training split stays on disk (``split_dir``), read in batches."""

    train_index: np.ndarray | None = None  # rows to draw from (oversampling repeats some); None = all


def is_streamed(data) -> bool:
    return isinstance(data, StreamedData)


def preprocess(raw: RawSplit, preprocessing: PreprocessingConfig, seed: int) -> PreparedData:
    """The raw split as a branch with ``preprocessing`` trains on it (no audit: ``data.audit`` adds it)."""
    preprocessing = effective(preprocessing, raw.task)
    prep = Preprocessor(
        task=raw.task,
        features=list(raw.features),
        target=raw.target,
        scale_features=preprocessing.scale_features,
        scale_target=preprocessing.scale_target,
    ).fit(raw)
    x_train, x_val = prep.transform_features(raw.x_train), prep.transform_features(raw.x_val)
    y_train, y_val = prep.transform_target(raw.y_train), prep.transform_target(raw.y_val)
    y_val_original = raw.y_val.astype(float) if raw.task == "regression" else y_val
    class_weight = None
    if raw.task != "regression":
        class_weight = class_weights(preprocessing, np.bincount(y_train, minlength=len(prep.classes_)))
        if preprocessing.resample == "oversample":
            x_train, y_train = oversample(x_train, y_train, seed)
    return PreparedData(
        task=raw.task,
        feature_names=list(raw.features),
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        y_val_original=y_val_original,
        preprocessor=prep,
        class_weight=class_weight,
        audit=None,
    )


def effective(preprocessing: PreprocessingConfig, task: str) -> PreprocessingConfig:
    """``scale_target`` applies to regression only."""
    if task != "regression" and preprocessing.scale_target:
        return preprocessing.model_copy(update={"scale_target": False})
    return preprocessing


def class_weights(preprocessing: PreprocessingConfig, counts: np.ndarray) -> dict[int, float] | None:
    """``class_weight: balanced``: scikit-learn's n_samples / (n_classes * count) per class code."""
    if preprocessing.class_weight != "balanced":
        return None
    counts = np.asarray(counts, dtype=np.float64)
    weights = counts.sum() / (len(counts) * counts)
    return {int(c): float(w) for c, w in enumerate(weights)}


def preprocess_streamed(folder: Path, meta: dict[str, Any], preprocessing: PreprocessingConfig, seed: int) -> StreamedData:
    """A streamed split as a branch with ``preprocessing`` reads it: scalers from the stored statistics, rows read lazily."""
    task = meta["task"]
    preprocessing = effective(preprocessing, task)
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
        class_weight = class_weights(preprocessing, np.asarray(meta["train_class_counts"]))
        if preprocessing.resample == "oversample":
            rows = np.arange(len(y_train_raw), dtype=np.int64).reshape(-1, 1)
            train_index = oversample(rows, np.asarray(y_train_raw, dtype=np.int64), seed)[0][:, 0]

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
        audit=None,
        split_dir=str(folder),
        train_index=train_index,
    )

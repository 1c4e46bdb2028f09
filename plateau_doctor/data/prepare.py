"""Data stage: load, check, split, scale, audit. Pure: pandas, numpy, scikit-learn only.

Task inference rule (``data.task: auto``):

* a target that is not numeric (text, category) or boolean is classification;
* a numeric target whose values are all whole numbers with at most
  ``MAX_CLASSES_FOR_INFERENCE`` (20) distinct values is classification;
* anything else is regression.

Classification with two classes is ``binary``, with more ``multiclass``. An explicit
``data.task`` always wins (an integer 0..5 rating can then be regression).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from plateau_doctor.config import DataConfig, PreprocessingConfig
from plateau_doctor.errors import DataError
from plateau_doctor.schema import DataAudit, FeatureStats

MAX_CLASSES_FOR_INFERENCE = 20
FLOAT32_MAX = float(np.finfo(np.float32).max)
# The reference model is a yardstick, not a contender: a sample keeps it cheap on big tables.
REFERENCE_MAX_ROWS = 20_000

IMBALANCE_REFIT_RATIO = 3
"""When a class is at least 3x as common as another on the training split, the references are
also fitted with balanced class weights, and the better fit on balanced accuracy sets the level."""


def needs_balanced_refit(counts: np.ndarray) -> bool:
    """Whether some class is at least ``IMBALANCE_REFIT_RATIO`` times as common as another."""
    return bool(counts.min() * IMBALANCE_REFIT_RATIO <= counts.max())


@dataclass(frozen=True)
class ReferenceBudget:
    """Bounds on the audit's reference models, so the audit stays seconds at any width.

    * ``max_rows``: both models fit on a seeded sample of at most this many training rows;
    * ``boosting_max_features``: gradient boosting sees the columns with the largest
      univariate F statistic on the fit rows (F-test: ANOVA for classes, correlation for a
      number). Its cost grows with columns x rows x iterations; a few hundred columns
      carry what a table of this size lets boosting learn;
    * ``linear_max_cells``: the regularized linear model keeps every column and samples
      rows so that rows x columns stays under this;
    * ``threads``: one. scikit-learn's boosting uses OpenMP threads, which spin and slowed
      a 256-column fit from 1.4 s to 39 s on 2 busy cores; the bounds above already make
      one thread quick.

    The reference stays the attainable level (``repaired`` is measured against it): on
    tables within the bounds nothing changes.
    """

    max_rows: int | None = REFERENCE_MAX_ROWS
    boosting_max_features: int | None = 256
    linear_max_cells: int | None = 4_000_000
    threads: int | None = 1

    @classmethod
    def unbounded(cls) -> "ReferenceBudget":
        """Every row and column, default threads: the benchmark's baseline."""
        return cls(max_rows=None, boosting_max_features=None, linear_max_cells=None, threads=None)
_PROB_EPS = 1e-7


# --------------------------------------------------------------------------- loading
def load_table(path: str | Path) -> pd.DataFrame:
    """Read a .csv file, a .parquet file, or a folder of .parquet files."""
    source = Path(path)
    if not source.exists():
        raise DataError(
            f"data.path: {source} does not exist; point data.path at a .csv file, a .parquet file "
            "or a folder of .parquet files"
        )
    if source.is_dir():
        frame = _read_parquet(source, folder=True)
    elif source.suffix.lower() == ".npz":  # arrays of any shape: one column per position
        from plateau_doctor.data.npz import load_npz

        frame = load_npz(source)
    elif source.suffix.lower() == ".csv":
        frame = _read_csv(source)
    elif source.suffix.lower() in (".parquet", ".pq"):
        frame = _read_parquet(source, folder=False)
    else:
        raise DataError(
            f"data.path: {source} has the suffix {source.suffix!r}; use a .csv file, a .parquet file "
            "or a folder of .parquet files"
        )
    if frame.shape[0] == 0:
        raise DataError(f"data.path: {source} has no rows; give a table with a header and data rows")
    if frame.shape[1] == 0:
        raise DataError(f"data.path: {source} has no columns; give a table with a header and data rows")
    _check_unique_columns([str(c) for c in frame.columns], source)
    return frame


def _check_unique_columns(names: list[str], source: Path) -> None:
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataError(
            f"data.path: {source} has more than one column named {_name_list(duplicated)}; "
            "give each column a unique name in the header"
        )


def _read_csv(source: Path) -> pd.DataFrame:
    if source.stat().st_size == 0:
        raise DataError(f"data.path: {source} is empty (0 bytes); give a CSV with a header and data rows")
    try:
        header = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False)
        # pandas renames a repeated name ('a' again becomes 'a.1') without a word: check the header as written.
        _check_unique_columns([str(v) for v in header.iloc[0].tolist()], source)
        return pd.read_csv(source)
    except pd.errors.EmptyDataError:
        raise DataError(f"data.path: {source} is empty; give a CSV with a header and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
        raise DataError(f"data.path: {source} could not be read as CSV ({_first_line(error)}); check the file") from None


def _read_parquet(source: Path, folder: bool) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(str(source), format="parquet")
        if folder and not dataset.files:
            raise DataError(f"data.path: the folder {source} holds no .parquet files")
        if folder:
            _check_same_columns(dataset.files, source)
        return dataset.to_table().to_pandas()
    except (pa.ArrowException, OSError) as error:
        raise DataError(
            f"data.path: {source} could not be read as Parquet ({_first_line(error)}); check the file"
        ) from None


def _check_same_columns(files: list[str], folder: Path) -> None:
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
                what.append(f"{Path(other).name} has {_name_list(extra)} that {Path(first).name} lacks")
            if lacking:
                what.append(f"{Path(other).name} lacks {_name_list(lacking)} that {Path(first).name} has")
            if not what:
                what.append(f"{Path(other).name} orders its columns differently from {Path(first).name}")
            raise DataError(
                f"data.path: the Parquet files in {folder} disagree on columns: {'; '.join(what)}; "
                "give every file the same columns (or point data.path at one file)"
            )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else error.__class__.__name__


# --------------------------------------------------------------------------- checking
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
            f"data.target: column {data.target!r} is not in the table; its columns are {_name_list(columns)}"
        )
    features = data.features if data.features is not None else [c for c in columns if c != data.target]
    missing = [c for c in features if c not in columns]
    if missing:
        raise DataError(f"data.features: {_name_list(missing)} not in the table; its columns are {_name_list(columns)}")
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
        f"{c!r} ({x[c].dtype}, e.g. {_plain(x[c].dropna().iloc[0])!r})" if x[c].notna().any() else f"{c!r} ({x[c].dtype})"
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


def _plain(value: Any) -> Any:
    """numpy scalars as Python ones, so messages say 1, not np.int64(1)."""
    return value.item() if isinstance(value, np.generic) else value


def _name_list(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(_plain(n)) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def resolve_task(target: pd.Series, data: DataConfig) -> str:
    """The task to run: the explicit ``data.task``, else the inferred one; checks the target fits it."""
    task = infer_task(target) if data.task == "auto" else data.task
    distinct = target.nunique()
    if distinct < 2:
        raise DataError(
            f"data.target: column {data.target!r} has a single value ({_plain(target.iloc[0])!r}) in all {len(target)} "
            "rows; there is nothing to learn. Check the target column or the rows selected"
        )
    if task == "regression" and not pd.api.types.is_numeric_dtype(target):
        raise DataError(
            f"data.task: regression needs a numeric target, but {data.target!r} holds {target.dtype} values "
            f"(e.g. {_plain(target.iloc[0])!r}); set data.task to binary/multiclass or auto"
        )
    if task == "binary" and distinct != 2:
        raise DataError(
            f"data.task: binary needs exactly 2 classes, but {data.target!r} has {distinct}; "
            "set data.task to multiclass, regression or auto"
        )
    return task


# --------------------------------------------------------------------------- split and scale
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

    def fit(self, x_train: pd.DataFrame, y_train: pd.Series) -> "Preprocessor":
        from sklearn.preprocessing import StandardScaler

        if self.scale_features:
            scaler = StandardScaler().fit(x_train.to_numpy(dtype=float))
            self.feature_mean_ = scaler.mean_.tolist()
            self.feature_scale_ = scaler.scale_.tolist()  # a constant feature gets scale 1 (sklearn)
        if self.task == "regression":
            if self.scale_target:
                values = y_train.to_numpy(dtype=float)
                self.target_mean_ = float(values.mean())
                std = float(values.std())
                self.target_scale_ = std if std > 0 else 1.0
        else:
            self.classes_ = sorted(pd.unique(y_train).tolist(), key=_sort_key)
        return self

    def transform_features(self, x: pd.DataFrame) -> np.ndarray:
        values = x[self.features].to_numpy(dtype=np.float32)
        if self.scale_features:
            values = (values - np.asarray(self.feature_mean_, dtype=np.float32)) / np.asarray(
                self.feature_scale_, dtype=np.float32
            )
        return values.astype(np.float32)

    def transform_target(self, y: pd.Series) -> np.ndarray:
        """Class labels to codes 0..k-1; regression targets to the network's scale."""
        if self.task == "regression":
            return ((y.to_numpy(dtype=float) - self.target_mean_) / self.target_scale_).astype(np.float32)
        index = {label: code for code, label in enumerate(self.classes_)}
        unknown = sorted({label for label in y.tolist() if label not in index}, key=_sort_key)
        if unknown:
            raise DataError(
                f"data.target: labels {_name_list([_plain(u) for u in unknown])} were not seen in the training split; "
                "add rows with those labels or drop them"
            )
        return np.asarray([index[label] for label in y.tolist()], dtype=np.int64)

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
            "classes": [_json_label(c) for c in self.classes_],
        }


def _sort_key(label: Any) -> tuple[int, Any]:
    return (0, label) if isinstance(label, (int, float, np.integer, np.floating)) else (1, str(label))


def _json_label(label: Any) -> Any:
    return label.item() if isinstance(label, np.generic) else label


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

    @property
    def n_classes(self) -> int:
        return len(self.preprocessor.classes_)


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
            rare = [_plain(label) for label in counts[counts < 2].index.tolist()]
            raise DataError(
                f"data.target: {len(rare)} class(es) have a single row ({_name_list(rare)}); a stratified split needs at least 2 rows "
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


def prepare_data(
    frame: pd.DataFrame, data: DataConfig, preprocessing: PreprocessingConfig, audit: bool = True
) -> PreparedData:
    """Select, check, split, scale and (unless ``audit=False``) audit the table."""
    x, y = select_columns(frame, data)
    task = resolve_task(y, data)
    if task != "regression" and preprocessing.scale_target:
        preprocessing = preprocessing.model_copy(update={"scale_target": False})
    x_train_df, x_val_df, y_train_s, y_val_s = split_rows(x, y, task, data)
    prep = Preprocessor(
        task=task,
        features=list(x.columns),
        target=data.target,
        scale_features=preprocessing.scale_features,
        scale_target=preprocessing.scale_target,
    ).fit(x_train_df, y_train_s)
    x_train, x_val = prep.transform_features(x_train_df), prep.transform_features(x_val_df)
    y_train, y_val = prep.transform_target(y_train_s), prep.transform_target(y_val_s)
    y_val_original = y_val_s.to_numpy(dtype=float) if task == "regression" else y_val

    # Audited before any resampling: the audit describes the data, not a remedy.
    audit_result = audit_data(x_train_df, y_train, x_val_df, y_val, prep, data.seed, n_rows=len(y)) if audit else None
    class_weight = None
    if task != "regression":
        if preprocessing.class_weight == "balanced":
            from sklearn.utils.class_weight import compute_class_weight

            codes = np.arange(len(prep.classes_))
            weights = compute_class_weight("balanced", classes=codes, y=y_train)
            class_weight = {int(c): float(w) for c, w in zip(codes, weights)}
        if preprocessing.resample == "oversample":
            x_train, y_train = oversample(x_train, y_train, data.seed)

    return PreparedData(
        task=task,
        feature_names=list(x.columns),
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        y_val_original=y_val_original,
        preprocessor=prep,
        class_weight=class_weight,
        audit=audit_result,
    )


def prepare_from_config(config, audit: bool = True) -> PreparedData:
    """Load ``data.path`` and prepare it as ``config`` says; ``audit=False`` skips the reference model."""
    from plateau_doctor.data import stream as streaming

    if streaming.should_stream(config.data):  # larger than memory: read once, in record batches
        return streaming.prepare_streamed(config, audit=audit)
    return prepare_data(load_table(config.data.path), config.data, config.preprocessing, audit=audit)


# --------------------------------------------------------------------------- audit
def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, balanced_accuracy_score

    return {
        "val_accuracy": float(accuracy_score(y_true, y_pred)),
        "val_balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
    }


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, r2_score

    if not np.all(np.isfinite(y_pred)):
        return {"val_r2": float("nan"), "val_mae": float("nan")}
    return {"val_r2": float(r2_score(y_true, y_pred)), "val_mae": float(mean_absolute_error(y_true, y_pred))}


def cross_entropy(codes: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean categorical cross-entropy of class codes under predicted probabilities (k columns)."""
    chosen = np.clip(probabilities[np.arange(len(codes)), codes], _PROB_EPS, 1.0)
    return float(-np.log(chosen).mean())


def audit_data(
    x_train: pd.DataFrame,
    y_train: np.ndarray,
    x_val: pd.DataFrame,
    y_val: np.ndarray,
    prep: Preprocessor,
    seed: int,
    n_rows: int,
    budget: ReferenceBudget = ReferenceBudget(),
) -> DataAudit:
    """Raw feature statistics, class balance, the trivial predictor and a reference model (within ``budget``)."""
    from sklearn.preprocessing import StandardScaler

    raw = x_train.to_numpy(dtype=float)
    features = [
        FeatureStats(name=name, mean=float(col.mean()), std=float(col.std()), min=float(col.min()), max=float(col.max()))
        for name, col in zip(x_train.columns, raw.T)
    ]
    # The reference model always sees scaled features: it measures what the data allows,
    # not what the user's preprocessing allows.
    scaler = StandardScaler().fit(raw)
    xs_train, xs_val = scaler.transform(raw), scaler.transform(x_val.to_numpy(dtype=float))
    xs_fit, y_fit = _sample_rows(xs_train, y_train, budget.max_rows, seed)

    common = dict(
        task=prep.task,
        n_rows=int(n_rows),
        n_train=int(len(y_train)),
        n_val=int(len(y_val)),
        n_features=len(features),
        features=features,
        scaled_features=prep.scale_features,
        scaled_target=prep.task == "regression" and prep.scale_target,
    )
    if prep.task == "regression":
        return _audit_regression(common, y_train, y_val, xs_fit, y_fit, xs_val, prep, seed, budget)
    return _audit_classification(common, y_train, y_val, xs_fit, y_fit, xs_val, prep, seed, budget)


def _sample_rows(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if limit is None or len(y) <= limit:
        return x, y
    # Unsorted, as drawn: the streamed audit draws the same rows in the same order.
    rows = np.random.default_rng(seed).choice(len(y), limit, replace=False)
    return x[rows], y[rows]


def _fit_reference(name: str, estimator, x_fit, y_fit, x_val, task: str, budget: ReferenceBudget, seed: int):
    """Fit one reference model within the budget; returns it with the validation features it needs."""
    if name.startswith("hist_gradient_boosting") and budget.boosting_max_features is not None:
        columns = _top_columns(x_fit, y_fit, task, budget.boosting_max_features)
        x_fit, x_val = x_fit[:, columns], x_val[:, columns]
    elif budget.linear_max_cells is not None and x_fit.shape[1] > 0:
        max_rows = max(1000, budget.linear_max_cells // x_fit.shape[1])
        x_fit, y_fit = _sample_rows(x_fit, y_fit, max_rows, seed)
    estimator.fit(x_fit, y_fit)
    return estimator, x_val


def _threads(budget: ReferenceBudget):
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=budget.threads)


def _top_columns(x: np.ndarray, y: np.ndarray, task: str, k: int) -> np.ndarray:
    """The ``k`` columns with the largest univariate F statistic (all of them when there are at most ``k``)."""
    if x.shape[1] <= k:
        return np.arange(x.shape[1])
    import warnings

    from sklearn.feature_selection import f_classif, f_regression

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant columns give F = NaN: they rank last
        scores, _ = (f_regression if task == "regression" else f_classif)(x, y)
    scores = np.nan_to_num(scores, nan=-1.0, posinf=np.finfo(float).max)
    return np.sort(np.argsort(-scores, kind="stable")[:k])


def _audit_classification(common, y_train, y_val, xs_fit, y_fit, xs_val, prep, seed, budget=None) -> DataAudit:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    k = len(prep.classes_)
    counts = np.bincount(y_train, minlength=k)
    prior = counts / counts.sum()
    trivial_probs = np.tile(prior, (len(y_val), 1))
    majority = int(np.argmax(prior))
    trivial_metrics = classification_metrics(y_val, np.full(len(y_val), majority))

    # Unweighted fits maximize accuracy and may leave rare classes out, while the level is read
    # on balanced accuracy: on imbalanced classes, fits weighted by rarity are candidates too.
    weightings = {"": None}
    if needs_balanced_refit(counts):
        weightings["_balanced"] = "balanced"
    candidates = {}
    for suffix, class_weight in weightings.items():
        candidates[f"logistic_regression{suffix}"] = LogisticRegression(max_iter=1000, class_weight=class_weight)
        candidates[f"hist_gradient_boosting{suffix}"] = HistGradientBoostingClassifier(
            max_iter=100, random_state=seed, class_weight=class_weight
        )
    scored = []
    budget = budget or ReferenceBudget()
    for name, estimator in candidates.items():
        with _threads(budget):
            estimator, x_val = _fit_reference(name, estimator, xs_fit, y_fit, xs_val, prep.task, budget, seed)
            predicted = estimator.predict_proba(x_val)
        probs = np.zeros((len(y_val), k))
        probs[:, estimator.classes_] = predicted
        metrics = classification_metrics(y_val, np.argmax(probs, axis=1))
        metrics["val_loss"] = cross_entropy(y_val, probs)
        scored.append((name, metrics))
    best_name, best = max(scored, key=lambda item: item[1]["val_balanced_accuracy"])
    linear = max(
        (metrics for name, metrics in scored if name.startswith("logistic_regression")),
        key=lambda metrics: metrics["val_balanced_accuracy"],
    )
    return DataAudit(
        **common,
        trivial_val_loss=cross_entropy(y_val, trivial_probs),
        trivial_metrics=trivial_metrics,
        reference_model=best_name,
        reference_val_loss=min(metrics["val_loss"] for _, metrics in scored),
        reference_metrics={k_: v for k_, v in best.items() if k_ != "val_loss"},
        linear_reference_metrics={k_: v for k_, v in linear.items() if k_ != "val_loss"},
        classes=[str(_json_label(c)) for c in prep.classes_],
        class_balance={str(_json_label(c)): float(p) for c, p in zip(prep.classes_, prior)},
        majority_share=float(prior.max()),
    )


def _audit_regression(common, y_train, y_val, xs_fit, y_fit, xs_val, prep, seed, budget=None) -> DataAudit:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    y_train_orig = prep.inverse_target(y_train)
    y_val_orig = prep.inverse_target(y_val)
    mean = float(y_train.mean())
    trivial_metrics = regression_metrics(y_val_orig, np.full(len(y_val), float(y_train_orig.mean())))
    candidates = {
        "ridge": Ridge(alpha=1.0),
        "hist_gradient_boosting": HistGradientBoostingRegressor(max_iter=100, random_state=seed),
    }
    scored = []
    budget = budget or ReferenceBudget()
    for name, estimator in candidates.items():
        with _threads(budget):
            estimator, x_val = _fit_reference(name, estimator, xs_fit, y_fit, xs_val, prep.task, budget, seed)
            predicted = estimator.predict(x_val)
        metrics = regression_metrics(y_val_orig, prep.inverse_target(predicted))
        metrics["val_loss"] = float(np.mean((predicted - y_val) ** 2))
        scored.append((name, metrics))
    best_name, best = max(scored, key=lambda item: item[1]["val_r2"])
    return DataAudit(
        **common,
        trivial_val_loss=float(np.mean((y_val - mean) ** 2)),
        trivial_metrics=trivial_metrics,
        reference_model=best_name,
        reference_val_loss=min(metrics["val_loss"] for _, metrics in scored),
        reference_metrics={k_: v for k_, v in best.items() if k_ != "val_loss"},
        linear_reference_metrics={k_: v for k_, v in dict(scored)["ridge"].items() if k_ != "val_loss"},
        target_mean=float(y_train_orig.mean()),
        target_std=float(y_train_orig.std()),
    )

"""The data audit: what the data allow, measured before any network is trained.

Raw feature statistics, the class balance, the trivial predictor's validation loss and
metrics (the floor) and reference models' (the attainable level: a regularized linear model
and gradient boosting, within a :class:`ReferenceBudget`), so that "the network fails" and
"the data has no signal" can be told apart. The same audit serves every way in: the
pipeline's split in memory (:func:`audit_data`) or streamed (:func:`audit_streamed`), a
user's fit seen by the callback (:func:`quick_audit`: the labels seen and a linear
reference), and a training log alone (:func:`minimal_audit`: nothing measured).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from plateau_doctor.data.checks import json_label
from plateau_doctor.data.preprocess import Preprocessor
from plateau_doctor.engine.metrics import classification_metrics, cross_entropy, regression_metrics
from plateau_doctor.schema import DataAudit, FeatureStats

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


@dataclass(frozen=True)
class ReferencePredictions:
    """The best reference model's predictions on the validation rows, beside the truth: the level, row by row.

    Class codes, or values on the original target scale. The verdict compares the final
    model with them on the same rows (``engine.significance``).
    """

    model: str
    y_true: np.ndarray
    predicted: np.ndarray


def audit_data(*args, **kwargs) -> DataAudit:
    """The audit alone: :func:`audit_with_reference`'s first half, same arguments."""
    return audit_with_reference(*args, **kwargs)[0]


def audit_with_reference(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    prep: Preprocessor,
    seed: int,
    n_rows: int,
    budget: ReferenceBudget = ReferenceBudget(),
) -> tuple[DataAudit, ReferencePredictions]:
    """Raw feature statistics, class balance, the trivial predictor and a reference model (within
    ``budget``); and the best reference model's validation predictions.

    ``x_train`` and ``x_val`` are the raw rows (the split as read); ``y_train`` and ``y_val`` the
    targets as the network sees them (class codes, or the target in its scale).
    """
    from sklearn.preprocessing import StandardScaler

    raw = np.asarray(x_train, dtype=float)
    features = [
        FeatureStats(name=name, mean=float(col.mean()), std=float(col.std()), min=float(col.min()), max=float(col.max()))
        for name, col in zip(prep.features, raw.T)
    ]
    # The reference model always sees scaled features: it measures what the data allows,
    # not what the user's preprocessing allows.
    scaler = StandardScaler().fit(raw)
    xs_train, xs_val = scaler.transform(raw), scaler.transform(np.asarray(x_val, dtype=float))
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


def _audit_classification(
    common, y_train, y_val, xs_fit, y_fit, xs_val, prep, seed, budget=None
) -> tuple[DataAudit, ReferencePredictions]:
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
        codes = np.argmax(probs, axis=1)
        metrics = classification_metrics(y_val, codes)
        metrics["val_loss"] = cross_entropy(y_val, probs)
        scored.append((name, metrics, codes))
    best_name, best, best_codes = max(scored, key=lambda item: item[1]["val_balanced_accuracy"])
    linear = max(
        (metrics for name, metrics, _ in scored if name.startswith("logistic_regression")),
        key=lambda metrics: metrics["val_balanced_accuracy"],
    )
    audit = DataAudit(
        **common,
        trivial_val_loss=cross_entropy(y_val, trivial_probs),
        trivial_metrics=trivial_metrics,
        reference_model=best_name,
        reference_val_loss=min(metrics["val_loss"] for _, metrics, _ in scored),
        reference_metrics={k_: v for k_, v in best.items() if k_ != "val_loss"},
        linear_reference_metrics={k_: v for k_, v in linear.items() if k_ != "val_loss"},
        classes=[str(json_label(c)) for c in prep.classes_],
        class_balance={str(json_label(c)): float(p) for c, p in zip(prep.classes_, prior)},
        majority_share=float(prior.max()),
    )
    return audit, ReferencePredictions(best_name, np.asarray(y_val, dtype=np.int64), best_codes.astype(np.int64))


def _audit_regression(
    common, y_train, y_val, xs_fit, y_fit, xs_val, prep, seed, budget=None
) -> tuple[DataAudit, ReferencePredictions]:
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
        values = np.asarray(prep.inverse_target(predicted), dtype=np.float64)
        metrics = regression_metrics(y_val_orig, values)
        metrics["val_loss"] = float(np.mean((predicted - y_val) ** 2))
        scored.append((name, metrics, values))
    best_name, best, best_values = max(scored, key=lambda item: item[1]["val_r2"])
    ridge = next(metrics for name, metrics, _ in scored if name == "ridge")
    audit = DataAudit(
        **common,
        trivial_val_loss=float(np.mean((y_val - mean) ** 2)),
        trivial_metrics=trivial_metrics,
        reference_model=best_name,
        reference_val_loss=min(metrics["val_loss"] for _, metrics, _ in scored),
        reference_metrics={k_: v for k_, v in best.items() if k_ != "val_loss"},
        linear_reference_metrics={k_: v for k_, v in ridge.items() if k_ != "val_loss"},
        target_mean=float(y_train_orig.mean()),
        target_std=float(y_train_orig.std()),
    )
    return audit, ReferencePredictions(best_name, np.asarray(y_val_orig, dtype=np.float64), best_values)

def audit_streamed(meta, x_train_raw, y_train, x_val_raw, y_val, prep, seed) -> tuple[DataAudit, ReferencePredictions]:
    """:func:`audit_with_reference` on a streamed split's statistics; the reference models see a seeded
    sample of the training rows, and predict the validation rows the networks are scored on."""
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
    if n_train > REFERENCE_MAX_ROWS:
        # The in-memory audit's draw, in its order: the same rows reach the same reference models.
        rows = np.random.default_rng(seed).choice(n_train, REFERENCE_MAX_ROWS, replace=False)
    else:
        rows = np.arange(n_train)
    xs_fit = (np.asarray(x_train_raw[rows], dtype=float) - center) / spread
    y_codes = np.asarray(y_train[:])
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
        return _audit_regression(common, y_codes, y_val, xs_fit, y_fit, xs_val, prep, seed)
    return _audit_classification(common, y_codes, y_val, xs_fit, y_fit, xs_val, prep, seed)


def minimal_audit(task: str, **known: Any) -> DataAudit:
    """An audit of what is unknown: no trivial level, no reference model, no feature statistics."""
    values: dict[str, Any] = dict(
        task=task, n_rows=0, n_train=0, n_val=0, n_features=0, features=[], scaled_features=True,
        scaled_target=True, trivial_val_loss=math.nan, trivial_metrics={}, reference_model="none",
        reference_val_loss=math.nan, reference_metrics={},
    )
    values.update(known)
    return DataAudit(**values)

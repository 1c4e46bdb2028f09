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
    rows = _sample_index(len(y), limit, seed)
    return (x, y) if rows is None else (x[rows], y[rows])


def _sample_index(n: int, limit: int | None, seed: int) -> np.ndarray | None:
    """A seeded draw of ``limit`` of ``n`` rows; None when all of them fit."""
    if limit is None or n <= limit:
        return None
    # Unsorted, as drawn: the streamed audit draws the same rows in the same order.
    return np.random.default_rng(seed).choice(n, limit, replace=False)


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
    k = len(prep.classes_)
    counts = np.bincount(y_train, minlength=k)
    prior = counts / counts.sum()
    trivial_probs = np.tile(prior, (len(y_val), 1))
    majority = int(np.argmax(prior))
    trivial_metrics = classification_metrics(y_val, np.full(len(y_val), majority))
    budget = budget or ReferenceBudget()
    candidates = _classifier_candidates(counts, seed, boosting=True)
    scored = _score_classifiers(candidates, xs_fit, y_fit, xs_val, y_val, k, prep.task, budget, seed)
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
        reference_metrics=_without_loss(best),
        linear_reference_metrics=_without_loss(linear),
        classes=[str(json_label(c)) for c in prep.classes_],
        class_balance={str(json_label(c)): float(p) for c, p in zip(prep.classes_, prior)},
        majority_share=float(prior.max()),
    )
    return audit, ReferencePredictions(best_name, np.asarray(y_val, dtype=np.int64), best_codes.astype(np.int64))


def _classifier_candidates(counts: np.ndarray, seed: int, boosting: bool) -> dict[str, Any]:
    """Logistic regression (and gradient boosting), also weighted by rarity on imbalanced classes.

    Unweighted fits maximize accuracy and may leave rare classes out, while the level is read
    on balanced accuracy: on imbalanced classes, fits weighted by rarity are candidates too.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    weightings = {"": None}
    if needs_balanced_refit(counts):
        weightings["_balanced"] = "balanced"
    candidates = {}
    for suffix, class_weight in weightings.items():
        candidates[f"logistic_regression{suffix}"] = LogisticRegression(max_iter=1000, class_weight=class_weight)
        if boosting:
            candidates[f"hist_gradient_boosting{suffix}"] = HistGradientBoostingClassifier(
                max_iter=100, random_state=seed, class_weight=class_weight
            )
    return candidates


def _score_classifiers(candidates, xs_fit, y_fit, xs_val, y_val, k: int, task: str, budget: ReferenceBudget, seed: int):
    """``[(name, metrics with val_loss, predicted codes)]``: each candidate fitted within the budget, scored on the validation rows."""
    scored = []
    for name, estimator in candidates.items():
        with _threads(budget):
            estimator, x_val = _fit_reference(name, estimator, xs_fit, y_fit, xs_val, task, budget, seed)
            predicted = estimator.predict_proba(x_val)
        probs = np.zeros((len(y_val), k))
        probs[:, estimator.classes_] = predicted
        codes = np.argmax(probs, axis=1)
        metrics = classification_metrics(y_val, codes)
        metrics["val_loss"] = cross_entropy(y_val, probs)
        scored.append((name, metrics, codes))
    return scored


def _without_loss(metrics: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in metrics.items() if name != "val_loss"}


def _audit_regression(
    common, y_train, y_val, xs_fit, y_fit, xs_val, prep, seed, budget=None
) -> tuple[DataAudit, ReferencePredictions]:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    y_train_orig = prep.inverse_target(y_train)
    mean = float(y_train.mean())
    trivial_metrics = regression_metrics(prep.inverse_target(y_val), np.full(len(y_val), float(y_train_orig.mean())))
    candidates = {
        "ridge": Ridge(alpha=1.0),
        "hist_gradient_boosting": HistGradientBoostingRegressor(max_iter=100, random_state=seed),
    }
    budget = budget or ReferenceBudget()
    scored = _score_regressors(candidates, xs_fit, y_fit, xs_val, y_val, prep.inverse_target, budget, seed)
    best_name, best, best_values = max(scored, key=lambda item: item[1]["val_r2"])
    ridge = next(metrics for name, metrics, _ in scored if name == "ridge")
    audit = DataAudit(
        **common,
        trivial_val_loss=float(np.mean((y_val - mean) ** 2)),
        trivial_metrics=trivial_metrics,
        reference_model=best_name,
        reference_val_loss=min(metrics["val_loss"] for _, metrics, _ in scored),
        reference_metrics=_without_loss(best),
        linear_reference_metrics=_without_loss(ridge),
        target_mean=float(y_train_orig.mean()),
        target_std=float(y_train_orig.std()),
    )
    return audit, ReferencePredictions(best_name, np.asarray(prep.inverse_target(y_val), dtype=np.float64), best_values)


def _score_regressors(candidates, xs_fit, y_fit, xs_val, y_val, to_original, budget: ReferenceBudget, seed: int):
    """``[(name, metrics with val_loss, predictions)]``: metrics and predictions on the original scale, the loss in the network's."""
    y_val_orig = to_original(y_val)
    scored = []
    for name, estimator in candidates.items():
        with _threads(budget):
            estimator, x_val = _fit_reference(name, estimator, xs_fit, y_fit, xs_val, "regression", budget, seed)
            predicted = estimator.predict(x_val)
        values = np.asarray(to_original(predicted), dtype=np.float64)
        metrics = regression_metrics(y_val_orig, values)
        metrics["val_loss"] = float(np.mean((predicted - y_val) ** 2))
        scored.append((name, metrics, values))
    return scored

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


FEATURE_STATS_MAX = 200
"""A user's probe gets per-feature statistics up to this many columns (a table, not an image)."""

_QUICK_NAMES = {
    "logistic_regression": "logistic regression",
    "logistic_regression_balanced": "logistic regression (balanced class weights)",
    "ridge": "ridge regression",
}


def quick_audit(task: str, x_val=None, y_val=None, reference=None, default_loss: bool = True, seed: int = 0,
                budget: ReferenceBudget = ReferenceBudget()) -> DataAudit:
    """The audit of a fit the doctor only watches (``DoctorCallback``): no table, no split.

    ``x_val, y_val`` are the validation rows it sees (``y_val`` as class codes, or the target
    as the network sees it); ``reference`` is ``(x, y)`` training rows, likewise. Measured: the
    trivial predictor from the labels seen, per-feature statistics when the rows are a table,
    and, with ``reference``, the linear reference model of :func:`audit_data` fitted within
    ``budget`` on the reference rows and scored on the validation rows. The trivial and the
    reference loss are in the default loss' scale, so they are kept only when the fit's loss
    is the task's default (``default_loss``).
    """
    if y_val is None:
        return minimal_audit(task)
    y_val = np.asarray(y_val)
    known: dict[str, Any] = {"n_val": len(y_val), "n_rows": len(y_val)}
    if task == "regression":
        std = float(np.std(y_val))
        known.update(target_mean=float(np.mean(y_val)), target_std=std, scaled_target=False,
                     trivial_metrics={"val_r2": 0.0})
        if default_loss:
            known["trivial_val_loss"] = std**2
    else:
        counts = np.bincount(y_val, minlength=2 if task == "binary" else 0)
        shares = counts / counts.sum()
        known.update(
            classes=[str(c) for c in range(len(counts))],
            class_balance={str(c): float(s) for c, s in enumerate(shares)},
            majority_share=float(shares.max()),
            trivial_metrics={"val_accuracy": float(shares.max()), "val_balanced_accuracy": 1.0 / len(counts)},
        )
        if default_loss:
            known["trivial_val_loss"] = float(-(shares[shares > 0] * np.log(shares[shares > 0])).sum())
    if x_val is not None and np.ndim(x_val) == 2 and np.shape(x_val)[1] <= FEATURE_STATS_MAX:
        table = np.asarray(x_val, dtype=np.float64)
        known["n_features"] = table.shape[1]
        known["features"] = [
            FeatureStats(f"x{i}", float(c.mean()), float(c.std()), float(c.min()), float(c.max()))
            for i, c in enumerate(table.T)
        ]
        known["scaled_features"] = False  # the rows are what the network sees: judge their scales
    if reference is not None and x_val is not None:
        known.update(_quick_reference(task, reference, x_val, y_val, default_loss, seed, budget))
    return minimal_audit(task, **known)


def _quick_reference(task, reference, x_val, y_val, default_loss, seed, budget) -> dict[str, Any]:
    """The linear reference on the reference rows (scaled on them), scored on the validation rows."""
    from sklearn.preprocessing import StandardScaler

    x_ref, y_ref = np.asarray(reference[0]), np.asarray(reference[1])
    rows = _sample_index(len(y_ref), budget.max_rows, seed)
    if rows is not None:
        x_ref, y_ref = x_ref[rows], y_ref[rows]
    x_ref = np.asarray(x_ref, dtype=np.float64).reshape(len(y_ref), -1)
    scaler = StandardScaler().fit(x_ref)
    xs_fit = scaler.transform(x_ref)
    xs_val = scaler.transform(np.asarray(x_val, dtype=np.float64).reshape(len(y_val), -1))
    if task == "regression":
        from sklearn.linear_model import Ridge

        scored = _score_regressors({"ridge": Ridge(alpha=1.0)}, xs_fit, y_ref, xs_val, y_val, lambda v: v, budget, seed)
    else:
        counts = np.bincount(y_ref)
        k = int(max(y_ref.max(), y_val.max())) + 1
        candidates = _classifier_candidates(counts[counts > 0], seed, boosting=False)
        scored = _score_classifiers(candidates, xs_fit, y_ref, xs_val, y_val, k, task, budget, seed)
    level = "val_r2" if task == "regression" else "val_balanced_accuracy"
    name, best, _ = max(scored, key=lambda item: item[1][level])
    metrics = _without_loss(best)
    found: dict[str, Any] = {"reference_model": _QUICK_NAMES[name], "reference_metrics": metrics,
                             "n_train": len(y_ref), "linear_reference_metrics": metrics}
    if default_loss:
        found["reference_val_loss"] = min(values["val_loss"] for _, values, _ in scored)
    return found


def minimal_audit(task: str, **known: Any) -> DataAudit:
    """An audit of what is unknown: no trivial level, no reference model, no feature statistics."""
    values: dict[str, Any] = dict(
        task=task, n_rows=0, n_train=0, n_val=0, n_features=0, features=[], scaled_features=True,
        scaled_target=True, trivial_val_loss=math.nan, trivial_metrics={}, reference_model="none",
        reference_val_loss=math.nan, reference_metrics={},
    )
    values.update(known)
    return DataAudit(**values)

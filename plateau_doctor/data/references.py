"""The audit's reference models: the attainable level, fitted within a budget and scored on the validation rows.

A regularized linear model and gradient boosting (each also weighted by class rarity on
imbalanced classes), on scaled features: they measure what the data allow, not what the
user's preprocessing allows. Pure: numpy and scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from plateau_doctor.engine.metrics import classification_metrics, cross_entropy, regression_metrics

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


def sample_rows(x: np.ndarray, y: np.ndarray, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rows = sample_index(len(y), limit, seed)
    return (x, y) if rows is None else (x[rows], y[rows])


def sample_index(n: int, limit: int | None, seed: int) -> np.ndarray | None:
    """A seeded draw of ``limit`` of ``n`` rows; None when all of them fit."""
    if limit is None or n <= limit:
        return None
    # Unsorted, as drawn: the streamed audit draws the same rows in the same order.
    return np.random.default_rng(seed).choice(n, limit, replace=False)


def fit_reference(name: str, estimator, x_fit, y_fit, x_val, task: str, budget: ReferenceBudget, seed: int):
    """Fit one reference model within the budget; returns it with the validation features it needs."""
    if name.startswith("hist_gradient_boosting") and budget.boosting_max_features is not None:
        columns = _top_columns(x_fit, y_fit, task, budget.boosting_max_features)
        x_fit, x_val = x_fit[:, columns], x_val[:, columns]
    elif budget.linear_max_cells is not None and x_fit.shape[1] > 0:
        max_rows = max(1000, budget.linear_max_cells // x_fit.shape[1])
        x_fit, y_fit = sample_rows(x_fit, y_fit, max_rows, seed)
    estimator.fit(x_fit, y_fit)
    return estimator, x_val


def threads(budget: ReferenceBudget):
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


def classifier_candidates(counts: np.ndarray, seed: int, boosting: bool) -> dict[str, Any]:
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


def score_classifiers(candidates, xs_fit, y_fit, xs_val, y_val, k: int, task: str, budget: ReferenceBudget, seed: int):
    """``[(name, metrics with val_loss, predicted codes)]``: each candidate fitted within the budget, scored on the validation rows."""
    scored = []
    for name, estimator in candidates.items():
        with threads(budget):
            estimator, x_val = fit_reference(name, estimator, xs_fit, y_fit, xs_val, task, budget, seed)
            predicted = estimator.predict_proba(x_val)
        probs = np.zeros((len(y_val), k))
        probs[:, estimator.classes_] = predicted
        codes = np.argmax(probs, axis=1)
        metrics = classification_metrics(y_val, codes)
        metrics["val_loss"] = cross_entropy(y_val, probs)
        scored.append((name, metrics, codes))
    return scored


LINEAR_REFERENCES = ("logistic_regression", "ridge")
"""The linear candidates (and their weighted variants): a network is judged short of capacity against them."""


def best_linear(scored, level: str) -> dict[str, float]:
    """The metrics of the best linear candidate of ``[(name, metrics, predictions)]`` by ``level``."""
    return max((metrics for name, metrics, _ in scored if name.startswith(LINEAR_REFERENCES)), key=lambda m: m[level])


def without_loss(metrics: dict[str, float]) -> dict[str, float]:
    return {name: value for name, value in metrics.items() if name != "val_loss"}


def score_regressors(candidates, xs_fit, y_fit, xs_val, y_val, to_original, budget: ReferenceBudget, seed: int):
    """``[(name, metrics with val_loss, predictions)]``: metrics and predictions on the original scale, the loss in the network's."""
    y_val_orig = to_original(y_val)
    scored = []
    for name, estimator in candidates.items():
        with threads(budget):
            estimator, x_val = fit_reference(name, estimator, xs_fit, y_fit, xs_val, "regression", budget, seed)
            predicted = estimator.predict(x_val)
        values = np.asarray(to_original(predicted), dtype=np.float64)
        metrics = regression_metrics(y_val_orig, values)
        metrics["val_loss"] = float(np.mean((predicted - y_val) ** 2))
        scored.append((name, metrics, values))
    return scored

"""The data audit: what the data allow, measured before any network is trained.

Raw feature statistics, the class balance, the trivial predictor's validation loss and
metrics (the floor) and reference models' (the attainable level: a regularized linear model
and gradient boosting, within a :class:`ReferenceBudget`), so that "the network fails" and
"the data has no signal" can be told apart. The same audit serves every way in: the
pipeline's split in memory (:func:`audit_data`) or streamed (:func:`audit_streamed`), a
user's fit seen by the callback (:func:`quick_audit`: the labels seen and a linear
reference), and a training log alone (``DataAudit.unknown``: nothing measured).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from plateau_doctor.data.checks import json_label
from plateau_doctor.data.preprocess import Preprocessor
from plateau_doctor.data.references import (
    REFERENCE_MAX_ROWS,
    ReferenceBudget,
    best_linear,
    classifier_candidates,
    sample_index,
    sample_rows,
    score_classifiers,
    score_regressors,
    without_loss,
)
from plateau_doctor.engine.metrics import classification_metrics, cross_entropy, regression_metrics
from plateau_doctor.schema import DataAudit, FeatureStats

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
    xs_fit, y_fit = sample_rows(xs_train, y_train, budget.max_rows, seed)

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
    candidates = classifier_candidates(counts, seed, boosting=True)
    scored = score_classifiers(candidates, xs_fit, y_fit, xs_val, y_val, k, prep.task, budget, seed)
    best_name, best, best_codes = max(scored, key=lambda item: item[1]["val_balanced_accuracy"])
    linear = best_linear(scored, "val_balanced_accuracy")
    audit = DataAudit(
        **common,
        trivial_val_loss=cross_entropy(y_val, trivial_probs),
        trivial_metrics=trivial_metrics,
        reference_model=best_name,
        reference_val_loss=min(metrics["val_loss"] for _, metrics, _ in scored),
        reference_metrics=without_loss(best),
        linear_reference_metrics=without_loss(linear),
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
    mean = float(y_train.mean())
    trivial_metrics = regression_metrics(prep.inverse_target(y_val), np.full(len(y_val), float(y_train_orig.mean())))
    candidates = {
        "ridge": Ridge(alpha=1.0),
        "hist_gradient_boosting": HistGradientBoostingRegressor(max_iter=100, random_state=seed),
    }
    budget = budget or ReferenceBudget()
    scored = score_regressors(candidates, xs_fit, y_fit, xs_val, y_val, prep.inverse_target, budget, seed)
    best_name, best, best_values = max(scored, key=lambda item: item[1]["val_r2"])
    audit = DataAudit(
        **common,
        trivial_val_loss=float(np.mean((y_val - mean) ** 2)),
        trivial_metrics=trivial_metrics,
        reference_model=best_name,
        reference_val_loss=min(metrics["val_loss"] for _, metrics, _ in scored),
        reference_metrics=without_loss(best),
        linear_reference_metrics=without_loss(best_linear(scored, "val_r2")),
        target_mean=float(y_train_orig.mean()),
        target_std=float(y_train_orig.std()),
    )
    return audit, ReferencePredictions(best_name, np.asarray(prep.inverse_target(y_val), dtype=np.float64), best_values)


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
"""A user's probe gets per-feature statistics up to this many columns or channels; a wider table is
read as one pool of values."""

STATS_VALUES = 2_000_000
"""Input statistics read at most this many values (16 MB as float64): a batch of large images
would cost more memory than the scales need."""

_QUICK_NAMES = {
    "logistic_regression": "logistic regression",
    "logistic_regression_balanced": "logistic regression (balanced class weights)",
    "ridge": "ridge regression",
    "hist_gradient_boosting": "gradient boosting",
    "hist_gradient_boosting_balanced": "gradient boosting (balanced class weights)",
}
QUICK_BUDGET = ReferenceBudget(max_rows=10_000, boosting_max_features=64)
"""The callback's references are fitted inside the user's fit (once): a sample of 10,000 rows and
boosting on the 64 most informative columns keep that to a second or two on a table or an image."""


def quick_audit(task: str, x_val=None, y_val=None, reference=None, default_loss: bool = True, seed: int = 0,
                budget: ReferenceBudget = QUICK_BUDGET, tokens: int | None = None) -> DataAudit:
    """The audit of a fit the doctor only watches (``DoctorCallback``): no table, no split.

    ``x_val, y_val`` are the validation rows it sees (``y_val`` as class codes, or the target
    as the network sees it); ``reference`` is ``(x, y)`` training rows, likewise. Measured: the
    trivial predictor from the labels seen, per-feature statistics when the rows are a table,
    and, with ``reference``, the reference models of :func:`audit_data` (linear and gradient
    boosting, as the pipeline's audit fits them: the level is the better one's, and a linear model is
    no measure of what data a network can fit) fitted within ``budget`` on the reference rows and
    scored on the validation rows. The trivial and the
    reference loss are in the default loss' scale, so they are kept only when the fit's loss
    is the task's default (``default_loss``).

    ``tokens`` (a vocabulary size) says the rows are token ids that an Embedding reads: ids are
    categories, not measurements, so they get no feature statistics (no scale to judge), and the
    reference is the linear model on each row's bag of tokens, the usual baseline for text.
    """
    if y_val is None:
        return DataAudit.unknown(task)
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
    features = input_stats(x_val) if tokens is None and x_val is not None else None
    if features:
        known["n_features"] = len(features)
        known["features"] = features
        known["scaled_features"] = False  # the rows are what the network sees: judge their scales
    if reference is not None and x_val is not None:
        known.update(_quick_reference(task, reference, x_val, y_val, default_loss, seed, budget, tokens))
    return DataAudit.unknown(task, **known)


def input_stats(x) -> list[FeatureStats]:
    """The scales the first layer meets: per column of a table; per channel (the last axis) of an
    image or a sequence, over every position, as a convolution's kernel meets them; over every
    value of a table too wide to list (784 pixel columns read as one). At most
    ``STATS_VALUES`` values are read (the first rows)."""
    try:
        data = np.asarray(x)
    except (TypeError, ValueError):
        return []
    if data.ndim < 2 or data.size == 0 or not np.issubdtype(data.dtype, np.number):
        return []
    rows = max(1, STATS_VALUES // max(1, int(np.prod(data.shape[1:]))))
    data = np.asarray(data[:rows], dtype=np.float64)
    if data.ndim == 2 and data.shape[1] <= FEATURE_STATS_MAX:
        named = [(f"x{i}", column) for i, column in enumerate(data.T)]
    elif data.ndim > 2 and data.shape[-1] <= FEATURE_STATS_MAX:
        channels = data.reshape(-1, data.shape[-1]).T
        named = [(f"channel {i} (all {int(np.prod(data.shape[1:-1]))} positions)", c) for i, c in enumerate(channels)]
    else:
        named = [(f"all {int(np.prod(data.shape[1:]))} values of a row", data.ravel())]
    return [FeatureStats(name, float(v.mean()), float(v.std()), float(v.min()), float(v.max())) for name, v in named]


def bag_of_tokens(x, vocabulary: int):
    """Each row's token counts (log1p), sparse: rows x vocabulary; ids outside it are dropped."""
    from scipy.sparse import csr_matrix

    ids = np.asarray(x).reshape(len(x), -1).astype(np.int64)
    rows = np.repeat(np.arange(len(ids)), ids.shape[1])
    keep = (ids.ravel() >= 0) & (ids.ravel() < vocabulary)
    counts = csr_matrix((np.ones(int(keep.sum())), (rows[keep], ids.ravel()[keep])), shape=(len(ids), vocabulary))
    counts.sum_duplicates()
    counts.data = np.log1p(counts.data)
    return counts


def _quick_reference(task, reference, x_val, y_val, default_loss, seed, budget, tokens=None) -> dict[str, Any]:
    """The reference models on the reference rows (scaled on them, or their bags of tokens), scored on the validation rows."""
    from sklearn.preprocessing import StandardScaler

    x_ref, y_ref = np.asarray(reference[0]), np.asarray(reference[1])
    rows = sample_index(len(y_ref), budget.max_rows, seed)
    if rows is not None:
        x_ref, y_ref = x_ref[rows], y_ref[rows]
    if tokens is not None:
        xs_fit, xs_val = bag_of_tokens(x_ref, tokens), bag_of_tokens(x_val, tokens)
    else:
        x_ref = np.asarray(x_ref, dtype=np.float64).reshape(len(y_ref), -1)
        scaler = StandardScaler().fit(x_ref)
        xs_fit = scaler.transform(x_ref)
        xs_val = scaler.transform(np.asarray(x_val, dtype=np.float64).reshape(len(y_val), -1))
    boosting = tokens is None  # boosting needs dense columns; on a bag of tokens the linear model is the baseline
    if task == "regression":
        from sklearn.ensemble import HistGradientBoostingRegressor
        from sklearn.linear_model import Ridge

        candidates = {"ridge": Ridge(alpha=1.0)}
        if boosting:
            candidates["hist_gradient_boosting"] = HistGradientBoostingRegressor(max_iter=100, random_state=seed)
        scored = score_regressors(candidates, xs_fit, y_ref, xs_val, y_val, lambda v: v, budget, seed)
    else:
        counts = np.bincount(y_ref)
        k = int(max(y_ref.max(), y_val.max())) + 1
        candidates = classifier_candidates(counts[counts > 0], seed, boosting=boosting)
        scored = score_classifiers(candidates, xs_fit, y_ref, xs_val, y_val, k, task, budget, seed)
    level = "val_r2" if task == "regression" else "val_balanced_accuracy"
    name, best, _ = max(scored, key=lambda item: item[1][level])
    found: dict[str, Any] = {"reference_model": _QUICK_NAMES[name], "reference_metrics": without_loss(best),
                             "n_train": len(y_ref), "linear_reference_metrics": without_loss(best_linear(scored, level))}
    if default_loss:
        found["reference_val_loss"] = min(values["val_loss"] for _, values, _ in scored)
    return found

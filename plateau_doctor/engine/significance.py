"""Is a model significantly below the attainable level? A paired bootstrap on the validation rows. Pure: numpy.

The final model and the reference model (the level: ``data.audit``'s best of a regularized
linear model and gradient boosting) predict the same validation rows, so the comparison is
paired: resample the rows, recompute the main metric of both models on each resample, and
read the spread of the difference ``final - reference`` (Efron & Tibshirani 1993, ch. 13;
percentile intervals).

- **Balanced accuracy** is resampled within each class. The split is stratified, so the
  class counts of the validation rows are fixed by design, and balanced accuracy weighs each
  class's recall equally whatever its count. Within class ``c`` (``n_c`` rows) a row is one
  of: only the final model right (+1), only the reference right (-1), both or neither (0);
  the difference of the class's recalls on a resample is ``(k+ - k-) / n_c`` with
  ``(k+, k-, k0)`` multinomial over ``n_c`` draws at the observed shares. Those counts are
  drawn directly: exactly the row bootstrap, at a cost of resamples x classes, whatever the
  number of rows.
- **R^2**: rows resampled as they are. On a resample, ``R^2_final - R^2_reference =
  (SSE_reference - SSE_final) / SST``, both models sharing the resample's SST.

``low`` and ``high`` are the ``1 - confidence`` and ``confidence`` quantiles of the resampled
differences: each a one-sided bound at the confidence (together a central interval at
``2 x confidence - 1``: 90% at 0.95, as a non-inferiority test reads it).

**The decision** (:attr:`LevelComparison.reached`): the final model is not significantly
below the level (``high >= 0``), or its observed difference is within ``tolerance`` (a floor
for differences too small to matter, whatever the rows).

What it does not handle: both models were chosen on these same rows (the best of the
reference models, a branch's best epoch), which makes both a little optimistic; neither is
corrected for it. The resamples share one seed, so the same predictions give the same bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

RESAMPLES = 2000
"""Bootstrap resamples: the 5% and 95% quantiles settle to about 0.002 of balanced accuracy."""
CHUNK_CELLS = 4_000_000
"""Row draws held at once while resampling R^2 (about 32 MB of indices): large splits go in chunks."""
EPS = 1e-12

BY_CLASS = "paired_bootstrap_by_class"
"""Balanced accuracy: the paired bootstrap, resampled within each class."""
PAIRED = "paired_bootstrap"
"""R^2: the paired bootstrap of rows."""
TOLERANCE_ONLY = "tolerance_only"
"""No paired predictions to resample: only the observed difference and the tolerance decide."""


@dataclass(frozen=True)
class LevelComparison:
    """The final model against the attainable level, on the same validation rows."""

    difference: float  # observed main metric, final - reference
    low: float  # one-sided lower bound of the difference at ``confidence`` (NaN without a test)
    high: float  # one-sided upper bound
    confidence: float
    tolerance: float
    n_val: int
    test: str

    @property
    def within_tolerance(self) -> bool:
        return math.isfinite(self.difference) and self.difference >= -self.tolerance - EPS

    @property
    def significantly_below(self) -> bool:
        """Even the upper bound is under the level (False when there was no test)."""
        return math.isfinite(self.high) and self.high < -EPS

    @property
    def reached(self) -> bool:
        """Not significantly below the level, or within the tolerance of it."""
        if self.within_tolerance:
            return True
        return math.isfinite(self.difference) and math.isfinite(self.high) and not self.significantly_below

    def to_dict(self) -> dict[str, Any]:
        """``summary.json``'s ``level`` fields for the comparison."""
        return {
            "difference": self.difference,
            "interval": [self.low, self.high],
            "confidence": self.confidence,
            "n_val": self.n_val,
            "test": self.test,
            "significantly_below": self.significantly_below,
        }


def compare_with_level(
    task: str,
    y_true: np.ndarray,
    final: np.ndarray,
    reference: np.ndarray,
    *,
    confidence: float,
    tolerance: float,
    seed: int,
    resamples: int = RESAMPLES,
) -> LevelComparison:
    """The paired bootstrap of ``final - reference`` on the main metric (module docstring).

    ``y_true``, ``final`` and ``reference`` are one entry per validation row: class codes, or
    values on the original target scale.
    """
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")
    y_true, final, reference = (np.asarray(a).reshape(-1) for a in (y_true, final, reference))
    if not len(y_true) == len(final) == len(reference):
        raise ValueError(
            f"paired predictions need the same rows: {len(y_true)} targets, {len(final)} final, {len(reference)} reference"
        )
    rng = np.random.default_rng(seed)
    if task == "regression":
        observed, draws, test = *_r2_differences(y_true, final, reference, rng, resamples), PAIRED
    else:
        observed, draws, test = *_balanced_accuracy_differences(y_true, final, reference, rng, resamples), BY_CLASS
    finite = draws[np.isfinite(draws)]
    if not math.isfinite(observed) or len(finite) == 0:
        low = high = math.nan
    else:
        low, high = (float(q) for q in np.quantile(finite, [1.0 - confidence, confidence]))
    return LevelComparison(observed, low, high, confidence, tolerance, len(y_true), test)


def tolerance_only(difference: float, *, confidence: float, tolerance: float, n_val: int) -> LevelComparison:
    """A comparison without paired predictions: the fixed tolerance alone decides."""
    return LevelComparison(float(difference), math.nan, math.nan, confidence, tolerance, int(n_val), TOLERANCE_ONLY)


def main_metric_of(task: str, y_true: np.ndarray, predicted: np.ndarray) -> float:
    """The main metric of one model's predictions, as the differences above count it."""
    y_true, predicted = np.asarray(y_true).reshape(-1), np.asarray(predicted).reshape(-1)
    if task == "regression":
        if not np.all(np.isfinite(predicted)):
            return math.nan
        spread = float(np.sum((y_true - y_true.mean()) ** 2))
        return 1.0 - float(np.sum((y_true - predicted) ** 2)) / spread if spread > 0 else math.nan
    recalls = [float(np.mean(predicted[y_true == c] == c)) for c in np.unique(y_true)]
    return float(np.mean(recalls)) if recalls else math.nan


def _balanced_accuracy_differences(y_true, final, reference, rng, resamples) -> tuple[float, np.ndarray]:
    classes = np.unique(y_true)
    if len(classes) == 0:
        return math.nan, np.full(resamples, math.nan)
    observed, draws = 0.0, np.zeros(resamples)
    for code in classes:
        rows = y_true == code
        n = int(rows.sum())
        edge = (final[rows] == code).astype(np.int64) - (reference[rows] == code).astype(np.int64)
        ahead, behind = int(np.sum(edge > 0)), int(np.sum(edge < 0))
        counts = rng.multinomial(n, [ahead / n, behind / n, (n - ahead - behind) / n], size=resamples)
        draws += (counts[:, 0] - counts[:, 1]) / n
        observed += (ahead - behind) / n
    return observed / len(classes), draws / len(classes)


def _r2_differences(y_true, final, reference, rng, resamples) -> tuple[float, np.ndarray]:
    y = y_true.astype(np.float64)
    if len(y) == 0 or not (np.all(np.isfinite(final)) and np.all(np.isfinite(reference))):
        return math.nan, np.full(resamples, math.nan)
    centred = y - y.mean()  # SST from centred values: no cancellation on a large offset
    gain = (y - reference) ** 2 - (y - final) ** 2  # each row's share of SSE_reference - SSE_final
    n = len(y)
    spread = float(np.sum(centred**2))
    observed = float(np.sum(gain)) / spread if spread > 0 else math.nan
    parts = []
    per_chunk = max(1, CHUNK_CELLS // n)
    for start in range(0, resamples, per_chunk):
        rows = rng.integers(0, n, size=(min(per_chunk, resamples - start), n))
        drawn = centred[rows]
        sst = np.sum(drawn**2, axis=1) - np.sum(drawn, axis=1) ** 2 / n
        with np.errstate(divide="ignore", invalid="ignore"):
            parts.append(np.where(sst > 0, np.sum(gain[rows], axis=1) / sst, math.nan))
    return observed, np.concatenate(parts)

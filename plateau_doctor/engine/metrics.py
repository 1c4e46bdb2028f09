"""The task metrics the doctor judges by, computed by itself on the original scale. Pure: numpy and scikit-learn."""

from __future__ import annotations

import numpy as np

PROB_EPS = 1e-7


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
    chosen = np.clip(probabilities[np.arange(len(codes)), codes], PROB_EPS, 1.0)
    return float(-np.log(chosen).mean())

"""What a model's outputs on the validation rows say: predictions, the validation loss as Keras logs
it, the task metrics on the original scale, and the collapse signals. Shared by every recorder."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from plateau_doctor.engine.metrics import PROB_EPS, classification_metrics, cross_entropy, regression_metrics

PREDICT_CHUNK = 8192


def output_chunks(model, x):
    """``(rows, outputs)`` for each chunk of ``x``: the model in inference mode, its output tensors as made."""
    for start in range(0, len(x), PREDICT_CHUNK):
        rows = slice(start, start + PREDICT_CHUNK)
        yield rows, model(x[rows], training=False)


def raw_outputs(model, x) -> np.ndarray:
    """The model's outputs on ``x`` in inference mode, in chunks, as float64 rows."""
    import keras

    return as_rows([keras.ops.convert_to_numpy(tensor) for _, tensor in output_chunks(model, x)])


def as_rows(parts: list[np.ndarray]) -> np.ndarray:
    outputs = np.concatenate(parts).astype(np.float64)
    return outputs.reshape(len(outputs), -1)


def class_codes(outputs: np.ndarray) -> np.ndarray:
    """Predicted class per row: a threshold at 0.5 on one unit, else the largest output."""
    if outputs.shape[1] == 1:
        return (np.nan_to_num(outputs[:, 0], nan=0.0) > 0.5).astype(np.int64)
    return np.argmax(np.nan_to_num(outputs, nan=-np.inf), axis=1)


def output_signals(outputs: np.ndarray, task: str) -> dict[str, float]:
    """Collapse signals from raw outputs: their spread, and the most predicted class' share."""
    finite = outputs[np.isfinite(outputs).all(axis=1)]
    row = {"output_std": float(finite.std()) if len(finite) else math.nan}
    if task != "regression" and len(outputs):
        predicted = class_codes(outputs)
        row["pred_majority_share"] = float(np.bincount(predicted).max() / len(predicted))
    return row


class Scorer:
    """The task's metrics of a model's outputs against the truth, on the original scale.

    ``truth`` is class codes, or the target on its original scale; ``to_original`` maps the
    network's one regression output back to that scale (identity when the target was not scaled).
    """

    def __init__(self, task: str, truth: np.ndarray, to_original: Callable[[np.ndarray], np.ndarray] | None = None):
        self.task = task
        self.truth = truth
        self.to_original = to_original

    @classmethod
    def for_split(cls, data, task: str) -> "Scorer":
        """The pipeline's validation split: codes, or the target in its units (the scaler undone)."""
        if task == "regression":
            return cls(task, data.y_val_original, data.preprocessor.inverse_target)
        return cls(task, data.y_val)

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        """Class codes, or regression values on the original target scale."""
        if self.task == "regression":
            return outputs[:, 0] if self.to_original is None else self.to_original(outputs[:, 0])
        return class_codes(outputs)

    def metrics(self, outputs: np.ndarray) -> dict[str, float]:
        predicted = self.predictions(outputs)
        if self.task == "regression":
            return regression_metrics(self.truth, predicted)
        return {**classification_metrics(self.truth, predicted), "val_log_loss": self.log_loss(outputs)}

    def log_loss(self, outputs: np.ndarray) -> float:
        """Mean log loss of the true classes under the predicted probabilities, whatever the training loss.

        The outputs are read as probabilities the way predictions read them (one unit: P(class 1));
        outputs that are not probabilities (a linear or ReLU head) are clipped into [eps, 1] and
        normalized, so they are judged as the probabilities they claim to be. NaN when a label
        has no output to read it from (a user's labels that do not match the output).
        """
        if not np.isfinite(outputs).all() or (len(self.truth) and self.truth.max() >= max(outputs.shape[1], 2)):
            return math.nan
        if outputs.shape[1] == 1:
            positive = np.clip(outputs[:, 0], PROB_EPS, 1.0 - PROB_EPS)
            probabilities = np.column_stack([1.0 - positive, positive])
        else:
            clipped = np.clip(outputs, PROB_EPS, None)
            probabilities = clipped / clipped.sum(axis=1, keepdims=True)
        return cross_entropy(self.truth, probabilities)


def evaluate(model, data, setup) -> dict[str, float]:
    """The branch's final scores on the validation split: the loss of its NumPy outputs and the task metrics."""
    import keras

    from plateau_doctor.training.model import labels_for_loss

    outputs = raw_outputs(model, data.x_val)
    loss = keras.losses.get(setup.loss)(labels_for_loss(data.y_val, setup), outputs.astype(np.float32))
    val_loss = float(keras.ops.convert_to_numpy(keras.ops.mean(loss)))
    return {"val_loss": val_loss, **Scorer.for_split(data, setup.task).metrics(outputs)}


def labels_task(task: str, y) -> str:
    """The task the labels show where the loss says binary: one column of whole numbers with more
    than two values is several classes (a binary loss on them is the set-up's fault to name, and
    thresholding them at 0.5 would hide it)."""
    y = np.asarray(y)
    if task != "binary" or y.size == 0 or (y.ndim > 1 and y.shape[-1] > 1) or not np.issubdtype(y.dtype, np.number):
        return task
    flat = y.reshape(-1).astype(np.float64)
    whole = np.all(np.isfinite(flat)) and np.all(flat == np.round(flat)) and flat.min() >= 0
    return "multiclass" if whole and np.unique(flat).size > 2 else task


def label_codes(y, task: str) -> np.ndarray:
    """Class codes (classification) or a flat float target, whatever shape the loss takes."""
    y = np.asarray(y)
    if task == "regression":
        return y.reshape(len(y), -1)[:, 0].astype(np.float64)
    if y.ndim > 1 and y.shape[-1] > 1:
        return np.argmax(y.reshape(len(y), -1), axis=1)
    flat = y.reshape(-1).astype(np.float64)
    return (flat > 0.5).astype(np.int64) if task == "binary" else flat.astype(np.int64)

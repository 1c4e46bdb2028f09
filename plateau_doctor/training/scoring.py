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

    def metrics(self, outputs: np.ndarray, *, with_prior_matched: bool = False) -> dict[str, float]:
        """The task's metrics; ``with_prior_matched`` (a classification's recorded signal) adds
        ``val_log_loss_prior_matched``, the log loss once the probabilities' class shares are
        matched to the truth's (:func:`prior_matched`), from the same probabilities."""
        predicted = self.predictions(outputs)
        if self.task == "regression":
            return regression_metrics(self.truth, predicted)
        probabilities = self.probabilities(outputs)
        found = {**classification_metrics(self.truth, predicted),
                 "val_log_loss": math.nan if probabilities is None else cross_entropy(self.truth, probabilities)}
        if with_prior_matched:
            found["val_log_loss_prior_matched"] = math.nan if probabilities is None else cross_entropy(
                self.truth, prior_matched(probabilities, class_shares(self.truth, probabilities.shape[1])))
        return found

    def probabilities(self, outputs: np.ndarray) -> np.ndarray | None:
        """The outputs as the class probabilities they claim to be, one column per class, whatever
        the training loss (``val_log_loss`` is the log loss of the true classes under them).

        Read the way predictions read them (one unit: P(class 1)); outputs that are not
        probabilities (a linear or ReLU head) are clipped into [eps, 1] and normalized. None when
        an output is not finite or a label has no output to read it from (a user's labels that do
        not match the output).
        """
        if not np.isfinite(outputs).all() or (len(self.truth) and self.truth.max() >= max(outputs.shape[1], 2)):
            return None
        if outputs.shape[1] == 1:
            positive = np.clip(outputs[:, 0], PROB_EPS, 1.0 - PROB_EPS)
            return np.column_stack([1.0 - positive, positive])
        clipped = np.clip(outputs, PROB_EPS, None)
        return clipped / clipped.sum(axis=1, keepdims=True)


PRIOR_MATCH_STEPS = 200
PRIOR_MATCH_TOLERANCE = 1e-6
PRIOR_MATCH_ROWS = 4096
"""The offsets (one per class) are solved on at most this many evenly spaced rows: k numbers are
pinned long before, and a whole validation split of 50,000 rows took 0.3 s an epoch."""


def class_shares(codes: np.ndarray, k: int) -> np.ndarray:
    """Each class' share of the rows (k of them)."""
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=k)[:k].astype(float)
    return counts / max(float(counts.sum()), 1.0)


def prior_matched(probabilities: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """The probabilities with one offset per class on their logits, so that their mean over the
    rows is ``shares``: a prior shift undone, nothing else.

    Class weights or oversampling train a network on another class prior: its best
    probabilities are the data's, each class scaled by its weight (p_w(c|x) ~ w_c p(c|x)), so
    its log loss is worse than a calibrated model's however well it separates the classes. The
    offsets that bring its average prediction back to the classes' shares undo that scaling
    (the prior adjustment of Saerens, Latinne and Decaestecker, "Adjusting the outputs of a
    classifier to new a priori probabilities", Neural Computation 14, 2002, with the shift
    solved for rather than known). They cannot add what the outputs lack: probabilities held
    near the prior by a penalty stay there, and a network that separates nothing scores the
    shares' entropy. Solved by the fixed point b <- b + log(shares / mean softmax(log p + b))
    (15-50 steps), on :data:`PRIOR_MATCH_ROWS` rows at most.
    """
    logits = np.log(np.clip(probabilities, PROB_EPS, 1.0))
    sample = logits[:: max(1, -(-len(logits) // PRIOR_MATCH_ROWS))]
    target = np.log(np.clip(shares, PROB_EPS, 1.0))
    offsets = np.zeros(probabilities.shape[1])
    for _ in range(PRIOR_MATCH_STEPS):
        step = target - np.log(np.clip(_softmax(sample + offsets).mean(axis=0), PROB_EPS, None))
        offsets += step
        if float(np.max(np.abs(step))) < PRIOR_MATCH_TOLERANCE:
            break
    return _softmax(logits + offsets)


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def evaluate(model, data, setup) -> dict[str, float]:
    """The branch's final scores on the validation split: the loss of its NumPy outputs and the task metrics."""
    import keras

    from plateau_doctor.training.model import labels_for_loss

    outputs = raw_outputs(model, data.x_val)
    loss = keras.losses.get(setup.loss)(labels_for_loss(data.y_val, setup), outputs.astype(np.float32))
    val_loss = float(keras.ops.convert_to_numpy(keras.ops.mean(loss)))
    return {"val_loss": val_loss, **Scorer.for_split(data, setup.task).metrics(outputs)}


def labels_task(task: str, y, *, loss_decides: bool = True) -> str:
    """The task the labels show where the loss or the output said binary.

    One column of whole numbers with more than two values is several classes (a binary loss on
    them is the set-up's fault to name, and thresholding them at 0.5 would hide it). When only the
    output said binary (one sigmoid unit under a loss that is not a classification loss, such as
    MSE), labels that are no class codes (fractions, negatives) are a regression target: a sigmoid
    on it is the set-up's fault to name, and scoring its outputs by balanced accuracy at 0.5 would
    hide it. Under a classification loss, fractions stay soft binary labels."""
    y = np.asarray(y)
    if task != "binary" or y.size == 0 or (y.ndim > 1 and y.shape[-1] > 1) or not np.issubdtype(y.dtype, np.number):
        return task
    flat = y.reshape(-1).astype(np.float64)
    if not np.all(np.isfinite(flat)):
        return task
    whole = np.all(flat == np.round(flat)) and flat.min() >= 0
    if whole:
        return "multiclass" if np.unique(flat).size > 2 else task
    return task if loss_decides else "regression"


def label_codes(y, task: str) -> np.ndarray:
    """Class codes (classification) or a flat float target, whatever shape the loss takes."""
    y = np.asarray(y)
    if task == "regression":
        return y.reshape(len(y), -1)[:, 0].astype(np.float64)
    if y.ndim > 1 and y.shape[-1] > 1:
        return np.argmax(y.reshape(len(y), -1), axis=1)
    flat = y.reshape(-1).astype(np.float64)
    return (flat > 0.5).astype(np.int64) if task == "binary" else flat.astype(np.int64)

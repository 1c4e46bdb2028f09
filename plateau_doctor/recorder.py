"""The training-signal recorder: a Keras callback that measures every epoch.

What it records is listed, with meanings, in ``schema.HISTORY_SIGNALS``. A NaN or
infinite loss is recorded as such; it never raises.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np

from plateau_doctor.backends import gradient_norms_fn
from plateau_doctor.data import PreparedData, classification_metrics, cross_entropy, regression_metrics
from plateau_doctor.modeling import keras, labels_for_loss, probe_layers
from plateau_doctor.schema import HISTORY_SIGNALS, Finding, ResolvedSetup

log = logging.getLogger("plateau_doctor")

GRADIENT_BATCH_ROWS = 512
PROBE_ROWS = 1024
PREDICT_CHUNK = 8192
_RELU_DEAD = {"relu", "relu6"}
_SATURATING = {"sigmoid": (0.0, 1.0), "hard_sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0)}
_SATURATION_MARGIN = 0.01
_PROB_EPS = 1e-7


class Evaluator:
    """Scores a model on the validation split with the task's metrics on the original scale."""

    def __init__(self, data: PreparedData, setup: ResolvedSetup):
        self.data = data
        self.setup = setup
        self.loss_fn = keras().losses.get(setup.loss)
        self.y_val_for_loss = labels_for_loss(data.y_val, setup)

    def raw_outputs(self, model, x: np.ndarray) -> np.ndarray:
        ops = keras().ops
        parts = [
            ops.convert_to_numpy(model(x[start : start + PREDICT_CHUNK], training=False))
            for start in range(0, len(x), PREDICT_CHUNK)
        ]
        return np.concatenate(parts).astype(np.float64)

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        """Class codes, or regression values on the original target scale."""
        if self.setup.task == "regression":
            return self.data.preprocessor.inverse_target(outputs[:, 0])
        if outputs.shape[1] == 1:
            return (np.nan_to_num(outputs[:, 0], nan=0.0) > 0.5).astype(np.int64)
        return np.argmax(np.nan_to_num(outputs, nan=-np.inf), axis=1)

    def metrics(self, outputs: np.ndarray) -> dict[str, float]:
        predicted = self.predictions(outputs)
        if self.setup.task == "regression":
            return regression_metrics(self.data.y_val_original, predicted)
        return {**classification_metrics(self.data.y_val, predicted), "val_log_loss": self.log_loss(outputs)}

    def log_loss(self, outputs: np.ndarray) -> float:
        """Mean log loss of the true classes under the predicted probabilities, whatever the training loss.

        The outputs are read as probabilities the way predictions read them (one unit: P(class 1));
        outputs that are not probabilities (a linear or ReLU head) are clipped into [eps, 1] and
        normalized, so they are judged as the probabilities they claim to be.
        """
        if not np.isfinite(outputs).all():
            return math.nan
        if outputs.shape[1] == 1:
            positive = np.clip(outputs[:, 0], _PROB_EPS, 1.0 - _PROB_EPS)
            probabilities = np.column_stack([1.0 - positive, positive])
        else:
            clipped = np.clip(outputs, _PROB_EPS, None)
            probabilities = clipped / clipped.sum(axis=1, keepdims=True)
        return cross_entropy(self.data.y_val, probabilities)

    def val_loss(self, outputs: np.ndarray) -> float:
        ops = keras().ops
        value = ops.convert_to_numpy(ops.mean(self.loss_fn(self.y_val_for_loss, outputs.astype(np.float32))))
        return float(value)

    def evaluate(self, model) -> dict[str, float]:
        outputs = self.raw_outputs(model, self.data.x_val)
        return {"val_loss": self.val_loss(outputs), **self.metrics(outputs)}


class TrainingRecorder(keras().callbacks.Callback):
    """Records loss, learning rate, task metrics and training signals at every epoch end.

    ``monitor`` (optional) sees the records so far after each epoch and may return a
    Finding; the fit then stops and the finding is kept in ``stopped_by``.
    """

    def __init__(
        self,
        data: PreparedData,
        setup: ResolvedSetup,
        branch: str = "baseline",
        monitor: Callable[[dict[str, list[float]]], Finding | None] | None = None,
        total_epochs: int | None = None,
    ):
        super().__init__()
        self.data = data
        self.setup = setup
        self.branch = branch
        self.monitor = monitor
        self.total_epochs = total_epochs
        self.evaluator = Evaluator(data, setup)
        rows = min(GRADIENT_BATCH_ROWS, len(data.x_train))
        self._grad_x = data.x_train[:rows]
        self._grad_y = labels_for_loss(data.y_train[:rows], setup)
        self._probe_x = data.x_val[:PROBE_ROWS]
        self._gradient_norms = gradient_norms_fn()
        self.records: dict[str, list[float]] = {}
        self.stopped_by: Finding | None = None

    # Reset per fit: state must not leak from one attempt into the next.
    def on_train_begin(self, logs=None):
        self.records = {name: [] for name in ("epoch", *HISTORY_SIGNALS)}
        self.stopped_by = None
        self._previous_kernels = self._kernels()
        probes = probe_layers(self.model)
        self._probe_activations = [getattr(layer.activation, "__name__", "") for layer in probes]
        self._probe_model = (
            keras().Model(self.model.input, [layer.output for layer in probes]) if probes else None
        )
        dense = [layer for layer in self.model.layers if isinstance(layer, keras().layers.Dense)]
        self._first_layer = dense[0].name
        self._last_layer = dense[-1].name
        self._hidden_dense = dense[:-1]

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        outputs = self.evaluator.raw_outputs(self.model, self.data.x_val)
        row: dict[str, float] = {name: math.nan for name in HISTORY_SIGNALS}
        row["epoch"] = float(epoch + 1)
        row["loss"] = math.nan if logs.get("loss") is None else float(logs["loss"])
        row["val_loss"] = math.nan if logs.get("val_loss") is None else float(logs["val_loss"])
        row["learning_rate"] = float(keras().ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row.update(self.evaluator.metrics(outputs))
        row.update(self._gradient_signals())
        row.update(self._activation_signals())
        row["symmetric_fraction"] = self._symmetric_fraction()
        row["update_ratio"] = self._update_ratio()
        finite = outputs[np.isfinite(outputs).all(axis=1)]
        row["output_std"] = float(finite.std()) if len(finite) else math.nan
        if self.setup.task != "regression":
            predicted = self.evaluator.predictions(outputs)
            row["pred_majority_share"] = float(np.bincount(predicted).max() / len(predicted))
        for name, value in row.items():
            self.records[name].append(value)
        self._log_progress(row)
        if self.monitor is not None and self.stopped_by is None:
            finding = self.monitor(self.records)
            if finding is not None:
                self.stopped_by = finding
                self.model.stop_training = True
                log.info("%s: stopping at epoch %d: %s (%s)", self.branch, epoch + 1, finding.name, finding.evidence)

    def _log_progress(self, row: dict[str, float]) -> None:
        total = f"/{self.total_epochs}" if self.total_epochs else ""
        metric = "val_r2" if self.setup.task == "regression" else "val_balanced_accuracy"
        log.info(
            "%s epoch %d%s: loss %.4g, val_loss %.4g, %s %.4g",
            self.branch, int(row["epoch"]), total, row["loss"], row["val_loss"], metric, row[metric],
        )

    def _gradient_signals(self) -> dict[str, float]:
        try:
            norms = self._gradient_norms(self.model, self.evaluator.loss_fn, self._grad_x, self._grad_y)
        except (ValueError, ArithmeticError) as error:
            log.debug("gradient norms failed: %s", error)
            return {}
        first, last = norms.get(self._first_layer, math.nan), norms.get(self._last_layer, math.nan)
        total = math.sqrt(sum(value**2 for value in norms.values()))
        ratio = first / last if last > 0 and math.isfinite(first) and math.isfinite(last) else math.nan
        return {
            "grad_norm": _finite_or_nan(total),
            "grad_norm_first": _finite_or_nan(first),
            "grad_norm_last": _finite_or_nan(last),
            "grad_ratio_first_last": _finite_or_nan(ratio),
        }

    def _activation_signals(self) -> dict[str, float]:
        if self._probe_model is None:
            return {}
        outputs = self._probe_model(self._probe_x, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        dead_units = relu_units = 0
        saturated = saturating = 0
        for activation, tensor in zip(self._probe_activations, outputs):
            values = keras().ops.convert_to_numpy(tensor)
            if activation in _RELU_DEAD:
                dead_units += int(np.sum(np.all(values <= 0, axis=0)))
                relu_units += values.shape[1]
            elif activation in _SATURATING:
                low, high = _SATURATING[activation]
                span = (high - low) * _SATURATION_MARGIN
                saturated += int(np.sum((values <= low + span) | (values >= high - span)))
                saturating += values.size
        return {
            "dead_fraction": dead_units / relu_units if relu_units else math.nan,
            "saturated_fraction": saturated / saturating if saturating else math.nan,
        }

    def _symmetric_fraction(self) -> float:
        """Share of hidden units whose incoming weights and bias equal another unit's."""
        duplicated = total = 0
        for layer in self._hidden_dense:
            weights = [keras().ops.convert_to_numpy(w) for w in layer.weights]
            kernel = weights[0]
            columns = np.vstack([kernel, weights[1][None, :]]) if len(weights) > 1 else kernel
            _, inverse, counts = np.unique(np.round(columns.T, 6), axis=0, return_inverse=True, return_counts=True)
            duplicated += int(np.sum(counts[inverse.ravel()] > 1))
            total += kernel.shape[1]
        return duplicated / total if total else math.nan

    def _kernels(self) -> list[np.ndarray]:
        return [
            keras().ops.convert_to_numpy(v).copy()
            for v in self.model.trainable_weights
            if v.path.endswith("kernel")
        ]

    def _update_ratio(self) -> float:
        current = self._kernels()
        change = math.sqrt(sum(float(np.sum((c - p) ** 2)) for c, p in zip(current, self._previous_kernels)))
        size = math.sqrt(sum(float(np.sum(p**2)) for p in self._previous_kernels))
        self._previous_kernels = current
        if not math.isfinite(change):
            return math.nan
        return change / size if size > 0 else (math.inf if change > 0 else 0.0)


def _finite_or_nan(value) -> float:
    if value is None:
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan

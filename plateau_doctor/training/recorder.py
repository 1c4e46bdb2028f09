"""The training-signal recorder: what any Keras model shows at every epoch end.

:class:`SignalRecorder` is the core. It needs only what a Keras callback has, the model,
plus a small probe (a few validation rows, labels as the loss takes them, and a training
batch for gradients). It works on Sequential, functional and subclassed models and on
any layer type; a signal it cannot observe on a model is NaN, never an error.
:class:`TrainingRecorder` is the pipeline's callback: the same core plus the task metrics
on the whole validation split. ``plateau_doctor.training.callback.DoctorCallback`` is the user's.

What it records is listed, with meanings, in ``schema.HISTORY_SIGNALS``. A NaN or
infinite loss is recorded as such; it never raises.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np

from plateau_doctor.training.backends import current_backend, layer_key
from plateau_doctor.data.preprocess import PreparedData
from plateau_doctor.engine.metrics import classification_metrics, cross_entropy, regression_metrics
from plateau_doctor.training.model import keras, labels_for_loss
from plateau_doctor.engine.vocabulary import DEAD_AT_ZERO, SATURATION_BOUNDS
from plateau_doctor.schema import HISTORY_SIGNALS, Finding, ResolvedSetup

log = logging.getLogger("plateau_doctor")

GRADIENT_BATCH_ROWS = 512
PROBE_ROWS = 1024
PREDICT_CHUNK = 8192
_RELU_DEAD = DEAD_AT_ZERO
_SATURATING = SATURATION_BOUNDS
_SATURATION_MARGIN = 0.01
_PROB_EPS = 1e-7


def activation_name(layer) -> str:
    """The name of a layer's activation ('' when it has none): Dense(activation=...), Activation, ReLU."""
    if isinstance(layer, keras().layers.ReLU):
        return "relu"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") if activation is not None else ""


def observable_layers(model) -> list:
    """Layers whose outputs are hidden-unit activations the recorder can read (dead/saturated units).

    Separate Activation/ReLU layers when the model has them; else every layer with a
    ReLU-family or saturating activation except the output layer. Only for models with
    symbolic inputs (Sequential, functional): a subclassed model's layers have no output
    tensor to probe.
    """
    k = keras()
    layers = _all_layers(model)
    if not layers:
        return []
    separate = [layer for layer in layers if isinstance(layer, (k.layers.Activation, k.layers.ReLU))]
    candidates = separate or [layer for layer in layers[:-1] if activation_name(layer) in _RELU_DEAD | set(_SATURATING)]
    return [layer for layer in candidates if activation_name(layer) in _RELU_DEAD | set(_SATURATING)]


def _all_layers(model) -> list:
    """Every leaf layer in call order (nested models flattened)."""
    flat = []
    for layer in getattr(model, "layers", []):
        inner = getattr(layer, "layers", None)
        flat.extend(_all_layers(layer) if inner else [layer])
    return flat


def _weighted_layers(model) -> list:
    """Leaf layers with a trainable matrix (Dense, Conv, recurrent, Embedding), in call order."""
    return [layer for layer in _all_layers(model) if any(len(w.shape) >= 2 for w in layer.trainable_weights)]


class SignalRecorder:
    """Gradient, update and unit signals of one model, measured on a fixed probe.

    ``loss_fn(y_true, y_pred)`` is the model's loss (per-sample or mean); ``x_probe`` a few
    validation rows (activations), ``x_grad, y_grad`` a training batch (gradients; the
    probe is used when absent). Call :meth:`start` when training begins (state must not
    leak from one fit into the next) and :meth:`measure` at each epoch end.
    """

    def __init__(self, loss_fn, x_probe, x_grad=None, y_grad=None):
        self.loss_fn = loss_fn
        self.x_probe = x_probe
        self.x_grad = x_grad
        self.y_grad = y_grad
        self.layer_norms: dict[str, float] = {}
        self._backend = current_backend()

    def start(self, model) -> None:
        self._previous_kernels = _kernels(model)
        probes = observable_layers(model)
        self._probe_activations = [activation_name(layer) for layer in probes]
        self._probe_model = None
        if probes and self.x_probe is not None:
            try:
                inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
                self._probe_model = keras().Model(inputs, [layer.output for layer in probes])
            except (AttributeError, ValueError, TypeError) as error:  # subclassed: no symbolic outputs
                log.debug("activations not observable on %s: %s", model.name, error)
        weighted = _weighted_layers(model)
        self._first_layer = weighted[0].name if weighted else None
        self._last_layer = weighted[-1].name if weighted else None
        self._hidden_dense = [layer for layer in weighted[:-1] if isinstance(layer, keras().layers.Dense)]

    @property
    def observes_activations(self) -> bool:
        return self._probe_model is not None

    def measure(self, model) -> dict[str, float]:
        row: dict[str, float] = {}
        row.update(self.gradient_signals(model))
        row.update(self.activation_signals())
        row["symmetric_fraction"] = self.symmetric_fraction()
        row["update_ratio"] = self.update_ratio(model)
        return row

    def gradient_signals(self, model) -> dict[str, float]:
        if self.x_grad is None or self.y_grad is None or self.loss_fn is None:
            return {}
        try:
            norms = self._backend.gradient_norms(model, self.loss_fn, self.x_grad, self.y_grad)
        except (ValueError, ArithmeticError, TypeError) as error:
            log.debug("gradient norms failed: %s", error)
            return {}
        self.layer_norms = {name: _finite_or_nan(value) for name, value in norms.items()}
        first = norms.get(self._first_layer, math.nan) if self._first_layer else math.nan
        last = norms.get(self._last_layer, math.nan) if self._last_layer else math.nan
        total = math.sqrt(sum(value**2 for value in norms.values()))
        ratio = first / last if last > 0 and math.isfinite(first) and math.isfinite(last) else math.nan
        return {
            "grad_norm": _finite_or_nan(total),
            "grad_norm_first": _finite_or_nan(first),
            "grad_norm_last": _finite_or_nan(last),
            "grad_ratio_first_last": _finite_or_nan(ratio),
        }

    def activation_signals(self) -> dict[str, float]:
        if self._probe_model is None:
            return {}
        outputs = self._probe_model(self.x_probe, training=False)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        dead_units = relu_units = 0
        saturated = saturating = 0
        for activation, tensor in zip(self._probe_activations, outputs):
            values = keras().ops.convert_to_numpy(tensor)
            # A unit is a channel: Dense units, conv filters over every position, recurrent units over time.
            values = values.reshape(-1, values.shape[-1]) if values.ndim > 1 else values.reshape(-1, 1)
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

    def symmetric_fraction(self) -> float:
        """Share of hidden Dense units whose incoming weights and bias equal another unit's."""
        duplicated = total = 0
        for layer in self._hidden_dense:
            weights = [keras().ops.convert_to_numpy(w) for w in layer.weights]
            kernel = weights[0]
            columns = np.vstack([kernel, weights[1][None, :]]) if len(weights) > 1 and weights[1].ndim == 1 else kernel
            _, inverse, counts = np.unique(np.round(columns.T, 6), axis=0, return_inverse=True, return_counts=True)
            duplicated += int(np.sum(counts[inverse.ravel()] > 1))
            total += kernel.shape[1]
        return duplicated / total if total else math.nan

    def update_ratio(self, model) -> float:
        """||W_t - W_(t-1)|| / ||W_(t-1)|| over every weight matrix (kernels, embeddings)."""
        current = _kernels(model)
        change = math.sqrt(sum(float(np.sum((c - p) ** 2)) for c, p in zip(current, self._previous_kernels)))
        size = math.sqrt(sum(float(np.sum(p**2)) for p in self._previous_kernels))
        self._previous_kernels = current
        if not math.isfinite(change):
            return math.nan
        return change / size if size > 0 else (math.inf if change > 0 else 0.0)


def _kernels(model) -> list[np.ndarray]:
    return [keras().ops.convert_to_numpy(v).copy() for v in model.trainable_weights if len(v.shape) >= 2]


def layer_gradient_keys(model) -> list[str]:
    """The per-layer keys gradient norms come under, for naming columns."""
    seen: dict[str, None] = {}
    for variable in model.trainable_weights:
        seen[layer_key(model, variable)] = None
    return list(seen)


class Evaluator:
    """Scores a model on the validation split with the task's metrics on the original scale."""

    def __init__(self, data: PreparedData, setup: ResolvedSetup):
        self.data = data
        self.setup = setup
        self.loss_fn = keras().losses.get(setup.loss)
        self.y_val_for_loss = labels_for_loss(data.y_val, setup)

    def raw_outputs(self, model, x: np.ndarray) -> np.ndarray:
        return raw_outputs(model, x)

    def predictions(self, outputs: np.ndarray) -> np.ndarray:
        """Class codes, or regression values on the original target scale."""
        if self.setup.task == "regression":
            return self.data.preprocessor.inverse_target(outputs[:, 0])
        return class_codes(outputs)

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

    def outputs_and_monitored_loss(self, model) -> tuple[np.ndarray, float]:
        """The validation outputs (as :meth:`raw_outputs`) and what Keras' validation pass would
        log as ``val_loss``: the loss on the output tensors as the model made them, plus the
        model's regularization penalties (``model.losses``), as its training loss counts them.

        Not on the NumPy outputs: on TensorFlow a sigmoid's or softmax's output tensor carries
        its logits, and Keras' cross-entropies read them, unclipped, as in training (a
        saturated model's loss is then in the thousands, not capped at -log(1e-7)).
        """
        ops = keras().ops
        x, y = self.data.x_val, self.y_val_for_loss
        parts, loss_sum = [], 0.0
        for rows, tensor in output_chunks(model, x):
            loss_sum += float(ops.convert_to_numpy(ops.sum(self.loss_fn(y[rows], tensor))))
            parts.append(ops.convert_to_numpy(tensor))
        penalties = sum(float(ops.convert_to_numpy(loss)) for loss in model.losses)
        return _as_rows(parts), loss_sum / max(len(x), 1) + penalties

    def evaluate(self, model) -> dict[str, float]:
        outputs = self.raw_outputs(model, self.data.x_val)
        return {"val_loss": self.val_loss(outputs), **self.metrics(outputs)}


def output_chunks(model, x):
    """``(rows, outputs)`` for each chunk of ``x``: the model in inference mode, its output tensors as made."""
    for start in range(0, len(x), PREDICT_CHUNK):
        rows = slice(start, start + PREDICT_CHUNK)
        yield rows, model(x[rows], training=False)


def raw_outputs(model, x) -> np.ndarray:
    """The model's outputs on ``x`` in inference mode, in chunks, as float64 rows."""
    ops = keras().ops
    return _as_rows([ops.convert_to_numpy(tensor) for _, tensor in output_chunks(model, x)])


def _as_rows(parts: list[np.ndarray]) -> np.ndarray:
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


def logged(logs: dict | None, name: str) -> float:
    value = (logs or {}).get(name)
    return math.nan if value is None else _finite_or_nan_keep_inf(value)


class TrainingRecorder(keras().callbacks.Callback):
    """The pipeline's callback: the core's signals plus the task metrics on the whole validation split.

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
        self.signals = SignalRecorder(
            self.evaluator.loss_fn,
            data.x_val[:PROBE_ROWS],
            x_grad=data.x_train[:rows],
            y_grad=labels_for_loss(data.y_train[:rows], setup),
        )
        self.records: dict[str, list[float]] = {}
        self.stopped_by: Finding | None = None

    # Reset per fit: state must not leak from one attempt into the next.
    def on_train_begin(self, logs=None):
        self.records = {name: [] for name in ("epoch", *HISTORY_SIGNALS)}
        self.stopped_by = None
        self.signals.start(self.model)

    def on_epoch_end(self, epoch, logs=None):
        outputs, val_loss = self.evaluator.outputs_and_monitored_loss(self.model)
        row: dict[str, float] = {name: math.nan for name in HISTORY_SIGNALS}
        row["epoch"] = float(epoch + 1)
        row["loss"] = logged(logs, "loss")
        # Keras' own validation pass would predict the same rows again, each epoch: the
        # recorder's outputs give val_loss, and the callbacks after it (ReduceLROnPlateau,
        # EarlyStopping) read it from the logs.
        row["val_loss"] = val_loss
        if logs is not None:
            logs["val_loss"] = row["val_loss"]
        row["learning_rate"] = float(keras().ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row.update(self.evaluator.metrics(outputs))
        row.update(self.signals.measure(self.model))
        row.update(output_signals(outputs, self.setup.task))
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


def _finite_or_nan(value) -> float:
    if value is None:
        return math.nan
    value = float(value)
    return value if math.isfinite(value) else math.nan


def _finite_or_nan_keep_inf(value) -> float:
    """A logged loss as a float; inf stays inf (a blow-up is evidence), anything unreadable is NaN."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan

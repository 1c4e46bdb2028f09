"""The training-signal recorder: what any Keras model shows at every epoch end.

:class:`Recorder` is the one recording callback. The pipeline's fits
(``training.fit.TrainingRecorder``) and the user's (``training.callback.DoctorCallback``)
build on it, so a user's fit and the doctor's own are measured and judged by the same code.
Each epoch it records one row: the loss, the validation loss (computed as Keras' validation
pass would, from the recorder's own prediction of the validation rows), the learning rate,
the task metrics on those rows, and the signals of :class:`SignalRecorder` (gradient norms
on a training batch, dead or saturated units on a probe of the validation rows, symmetric
units, the update ratio) and the outputs' collapse signals. An optional ``monitor`` reads
the records after each epoch and may stop the fit.

It works on Sequential, functional and subclassed models and on any layer type; a signal it
cannot observe on a model is NaN, never an error. What it records is listed, with meanings,
in ``schema.HISTORY_SIGNALS``. A NaN or infinite loss is recorded as such; it never raises.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from plateau_doctor.engine.vocabulary import DEAD_AT_ZERO, SATURATION_BOUNDS
from plateau_doctor.schema import HISTORY_SIGNALS, Finding
from plateau_doctor.training.backends import current_backend
from plateau_doctor.training.describe import activation_name, all_layers, learning_rate, weighted_layers
from plateau_doctor.training.model import keras
from plateau_doctor.training.scoring import Scorer, monitored_outputs, output_signals

log = logging.getLogger("plateau_doctor")

GRADIENT_BATCH_ROWS = 512
PROBE_ROWS = 1024
_RELU_DEAD = DEAD_AT_ZERO
_SATURATING = SATURATION_BOUNDS
_SATURATION_MARGIN = 0.01


def observable_layers(model) -> list:
    """Layers whose outputs are hidden-unit activations the recorder can read (dead/saturated units).

    Separate Activation/ReLU layers when the model has them; else every layer with a
    ReLU-family or saturating activation except the output layer. Only for models with
    symbolic inputs (Sequential, functional): a subclassed model's layers have no output
    tensor to probe.
    """
    k = keras()
    layers = all_layers(model)
    if not layers:
        return []
    separate = [layer for layer in layers if isinstance(layer, (k.layers.Activation, k.layers.ReLU))]
    candidates = separate or [layer for layer in layers[:-1] if activation_name(layer) in _RELU_DEAD | set(_SATURATING)]
    return [layer for layer in candidates if activation_name(layer) in _RELU_DEAD | set(_SATURATING)]


class SignalRecorder:
    """Gradient, update and unit signals of one model, measured on a fixed probe.

    ``loss_fn(y_true, y_pred)`` is the model's loss (per-sample or mean); ``x_probe`` a few
    validation rows (activations), ``x_grad, y_grad`` a training batch (gradients). Call
    :meth:`start` when training begins (state must not leak from one fit into the next),
    :meth:`use` when the rows are found later, and :meth:`measure` at each epoch end. Without
    rows only the weights' signals (symmetric units, update ratio) are measured.
    """

    def __init__(self, loss_fn):
        self.loss_fn = loss_fn
        self.x_probe = self.x_grad = self.y_grad = None
        self.layer_norms: dict[str, float] = {}
        self._probe_model = None
        self._backend = current_backend()

    def start(self, model, x_probe=None, x_grad=None, y_grad=None) -> None:
        # A subclassed model is built by its first step: until then it has no weights to read.
        self._previous_kernels = _kernels(model) if model.built else None
        self._read_layers(model)
        self.use(model, x_probe, x_grad, y_grad)

    def _read_layers(self, model) -> None:
        weighted = weighted_layers(model)
        self._first_layer = weighted[0].name if weighted else None
        self._last_layer = weighted[-1].name if weighted else None
        self._hidden_dense = [layer for layer in weighted[:-1] if isinstance(layer, keras().layers.Dense)]

    def use(self, model, x_probe, x_grad=None, y_grad=None) -> None:
        """Measure activations on ``x_probe`` and gradients on ``(x_grad, y_grad)`` from now on."""
        self.x_probe, self.x_grad, self.y_grad = x_probe, x_grad, y_grad
        probes = observable_layers(model)
        self._probe_activations = [activation_name(layer) for layer in probes]
        self._probe_model = None
        if probes and self.x_probe is not None:
            try:
                inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
                self._probe_model = keras().Model(inputs, [layer.output for layer in probes])
            except (AttributeError, ValueError, TypeError) as error:  # subclassed: no symbolic outputs
                log.debug("activations not observable on %s: %s", model.name, error)

    @property
    def observes_activations(self) -> bool:
        return self._probe_model is not None

    def measure(self, model) -> dict[str, float]:
        if self._first_layer is None:
            self._read_layers(model)  # built since the start
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
        previous, self._previous_kernels = self._previous_kernels, current
        if previous is None:
            return math.nan  # the weights before this epoch were never read
        change = math.sqrt(sum(float(np.sum((c - p) ** 2)) for c, p in zip(current, previous)))
        size = math.sqrt(sum(float(np.sum(p**2)) for p in previous))
        if not math.isfinite(change):
            return math.nan
        return change / size if size > 0 else (math.inf if change > 0 else 0.0)


def _kernels(model) -> list[np.ndarray]:
    return [keras().ops.convert_to_numpy(v).copy() for v in model.trainable_weights if len(v.shape) >= 2]


@dataclass
class Rows:
    """What the recorder measures on: validation rows (``y_val`` as the loss takes them, ``scorer``
    for the task metrics; the first ``PROBE_ROWS`` also probe the activations) and a training
    batch for the gradients."""

    x_val: Any
    y_val: Any
    scorer: Scorer
    x_grad: Any = None
    y_grad: Any = None


class Recorder(keras().callbacks.Callback):
    """One row per epoch, recorded as ``records`` (a list per column); see the module's docstring.

    Args:
        loss_fn: the model's loss ``(y_true, y_pred)`` (per row, or a Loss object); None when
            it cannot be had: the validation loss and the gradients are then not measured.
        rows: what to measure on (:class:`Rows`); also later, with :meth:`use_rows`.
        monitor: sees the records after each epoch and may return a Finding.
        stop_on_finding: stop the fit on the monitor's finding (kept in ``stopped_by``).
        owns_validation: the rows are the whole validation split: the recorder's validation
            loss and metrics are the fit's (written into ``logs`` as ``val_loss`` for the
            callbacks after it); otherwise what the fit logged wins over them.
    """

    def __init__(self, loss_fn=None, rows: Rows | None = None,
                 monitor: Callable[[dict[str, list[float]]], Finding | None] | None = None,
                 stop_on_finding: bool = True, owns_validation: bool = False):
        super().__init__()
        self.loss_fn = loss_fn
        self.rows = rows
        self.monitor = monitor
        self.stop_on_finding = stop_on_finding
        self.owns_validation = owns_validation
        self.signals: SignalRecorder | None = None
        self.records: dict[str, list[float]] = {}
        self.layer_gradient_norms: list[dict[str, float]] = []
        self.stopped_by: Finding | None = None

    def use_rows(self, rows: Rows) -> None:
        """Measure on ``rows`` from the next epoch end on (the weights' history so far is kept)."""
        self.rows = rows
        if self.signals is not None:
            self.signals.use(self.model, *self._probe_arrays())

    def _probe_arrays(self) -> tuple:
        if self.rows is None:
            return None, None, None
        return self.rows.x_val[:PROBE_ROWS], self.rows.x_grad, self.rows.y_grad

    # Reset per fit: state must not leak from one attempt into the next.
    def on_train_begin(self, logs=None):
        self.records = {name: [] for name in ("epoch", *HISTORY_SIGNALS)}
        self.layer_gradient_norms = []
        self.stopped_by = None
        self.signals = SignalRecorder(self.loss_fn)
        self.signals.start(self.model, *self._probe_arrays())

    def on_epoch_end(self, epoch, logs=None):
        row = self.measure(epoch, logs)
        width = len(self.records["epoch"])
        for name, value in row.items():
            self.records.setdefault(name, [math.nan] * width).append(value)
        for values in self.records.values():
            if len(values) < width + 1:
                values.append(math.nan)
        self.log_progress(row)
        if self.monitor is not None and self.stopped_by is None:
            finding = self.monitor(self.records)
            if finding is not None:
                if self.stop_on_finding:
                    self.stopped_by = finding
                    self.model.stop_training = True
                self.found(epoch, finding)

    def measure(self, epoch: int, logs: dict | None) -> dict[str, float]:
        """This epoch's row: what the fit logged, then the recorder's own measurements."""
        row: dict[str, float] = {"epoch": float(epoch + 1)}
        for key, value in (logs or {}).items():
            if not isinstance(value, str):
                row[key] = logged(logs, key)
        row.setdefault("learning_rate", learning_rate(self.model))
        if self.rows is not None:
            outputs, val_loss = monitored_outputs(self.model, self.rows.x_val, self.rows.y_val, self.loss_fn)
            own = {"val_loss": val_loss, **self.rows.scorer.metrics(outputs),
                   **output_signals(outputs, self.rows.scorer.task)}
            for name, value in own.items():
                if self.owns_validation or name not in row:
                    row[name] = value
            if self.owns_validation and logs is not None:
                # Keras' own validation pass would predict the same rows again, each epoch: the
                # recorder's val_loss is the fit's, and callbacks after it (ReduceLROnPlateau,
                # EarlyStopping) read it from the logs.
                logs["val_loss"] = row["val_loss"]
        row.update(self.signals.measure(self.model))
        if self.rows is not None:
            self.layer_gradient_norms.append(dict(self.signals.layer_norms))
        for name in HISTORY_SIGNALS:
            row.setdefault(name, math.nan)  # every signal has a column: NaN where it cannot be observed
        return row

    def log_progress(self, row: dict[str, float]) -> None:
        """Called with each epoch's row (the pipeline logs it)."""

    def found(self, epoch: int, finding: Finding) -> None:
        """Called when the monitor returns a finding (after the fit was told to stop, if it stops)."""


def logged(logs: dict | None, name: str) -> float:
    value = (logs or {}).get(name)
    return math.nan if value is None else _finite_or_nan_keep_inf(value)


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

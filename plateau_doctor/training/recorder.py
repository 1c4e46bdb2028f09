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
from plateau_doctor.training.backends import layer_norms
from plateau_doctor.training.describe import activation_name, all_layers, learning_rate, weighted_layers
from plateau_doctor.training.model import keras
from plateau_doctor.training.probe import EpochProbe, Reading, UnitBound
from plateau_doctor.training.scoring import Scorer, output_signals

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
    """Gradient, update and unit signals of one model, and its outputs on the validation rows,
    read each epoch by one compiled program (``probe.EpochProbe``).

    ``loss_fn(y_true, y_pred)`` is the model's loss (per-sample or mean). The rows: ``x_val,
    y_val`` validation rows (outputs and their loss), ``x_probe`` the first of them (activations),
    ``x_grad, y_grad`` a training batch (gradients). Call :meth:`start` when training begins
    (state must not leak from one fit into the next), :meth:`use` when the rows are found
    later, :meth:`read` at each epoch end and :meth:`signals` on what it read. Without rows
    only the weights' signals (symmetric units, update ratio) are measured.
    """

    def __init__(self, loss_fn):
        self.loss_fn = loss_fn
        self.layer_norms: dict[str, float] = {}
        self._probe_model = None
        self._program: EpochProbe | None = None
        self._rows: tuple = (None,) * 5

    def start(self, model, *rows) -> None:
        # A subclassed model is built by its first step: until then it has no weights to read.
        self._previous_kernels = _kernels(model) if model.built else None
        self.use(model, *rows)

    def _read_layers(self, model) -> None:
        weighted = weighted_layers(model)
        self._first_layer = weighted[0].name if weighted else None
        self._last_layer = weighted[-1].name if weighted else None
        self._hidden_dense = [layer for layer in weighted[:-1] if isinstance(layer, keras().layers.Dense)]

    def use(self, model, x_val=None, y_val=None, x_probe=None, x_grad=None, y_grad=None) -> None:
        """Read outputs on ``x_val``, activations on ``x_probe`` and gradients on ``(x_grad, y_grad)`` from now on."""
        self._rows = (x_val, y_val, x_probe, x_grad, y_grad)
        self._read_layers(model)
        probes = observable_layers(model)
        self._probe_model = None
        # When the probe is every validation row, one model gives the outputs and the activations.
        merged = (x_probe is not None and x_val is not None and len(x_probe) == len(x_val)
                  and len(getattr(model, "outputs", None) or ()) == 1)
        if probes and x_probe is not None:
            try:
                inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
                outputs = [layer.output for layer in probes]
                self._probe_model = keras().Model(inputs, [model.outputs[0], *outputs] if merged else outputs)
            except (AttributeError, ValueError, TypeError) as error:  # subclassed: no symbolic outputs
                log.debug("activations not observable on %s: %s", model.name, error)
        bounds = tuple(_unit_bound(activation_name(layer)) for layer in probes) if self._probe_model else ()
        index = {id(v): i for i, v in enumerate(model.trainable_weights)}
        self._kernel_index = [i for i, v in enumerate(model.trainable_weights) if len(v.shape) >= 2]
        self._dense_index = [[index.get(id(w)) for w in layer.weights] for layer in self._hidden_dense]
        wanted = set(self._kernel_index) | {i for ids in self._dense_index for i in ids if i is not None}
        self._program = EpochProbe(model, self.loss_fn, self._probe_model, bounds, tuple(sorted(wanted)), merged=merged)
        self._program.use(*self._rows)
        self._built = model.built

    @property
    def observes_activations(self) -> bool:
        return self._probe_model is not None

    def read(self, model) -> Reading:
        if not self._built and model.built:  # a subclassed model built by its first step
            self.use(model, *self._rows)
        return self._program.read()

    def signals(self, model, reading: Reading) -> dict[str, float]:
        row: dict[str, float] = {}
        row.update(self.gradient_signals(model, reading))
        row.update(self.activation_signals(reading))
        row["symmetric_fraction"] = self.symmetric_fraction(reading)
        row["update_ratio"] = self.update_ratio(reading)
        return row

    def gradient_signals(self, model, reading: Reading) -> dict[str, float]:
        if reading.grad_squares is None:
            return {}
        norms = layer_norms(model, reading.grad_squares)
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

    @staticmethod
    def activation_signals(reading: Reading) -> dict[str, float]:
        if reading.units is None:
            return {}
        dead_units, relu_units, saturated, saturating = (int(value) for value in reading.units)
        return {
            "dead_fraction": dead_units / relu_units if relu_units else math.nan,
            "saturated_fraction": saturated / saturating if saturating else math.nan,
        }

    def symmetric_fraction(self, reading: Reading) -> float:
        """Share of hidden Dense units whose incoming weights and bias equal another unit's."""
        duplicated = total = 0
        for layer, indices in zip(self._hidden_dense, self._dense_index):
            weights = [keras().ops.convert_to_numpy(w) if i is None else reading.weights[i]
                       for w, i in zip(layer.weights, indices)]
            kernel = weights[0]
            columns = np.vstack([kernel, weights[1][None, :]]) if len(weights) > 1 and weights[1].ndim == 1 else kernel
            duplicated += _duplicated_rows(np.round(columns.T, 6))
            total += kernel.shape[1]
        return duplicated / total if total else math.nan

    def update_ratio(self, reading: Reading) -> float:
        """||W_t - W_(t-1)|| / ||W_(t-1)|| over every weight matrix (kernels, embeddings)."""
        current = [reading.weights[i] for i in self._kernel_index]
        previous, self._previous_kernels = self._previous_kernels, current
        if previous is None:
            return math.nan  # the weights before this epoch were never read
        # Weights thrown out past float32's range square to inf: read as "not measured" (NaN
        # below), without a RuntimeWarning in the user's output.
        with np.errstate(over="ignore", invalid="ignore"):
            change = math.sqrt(sum(float(np.sum((c - p) ** 2)) for c, p in zip(current, previous)))
            size = math.sqrt(sum(float(np.sum(p**2)) for p in previous))
        if not math.isfinite(change):
            return math.nan
        return change / size if size > 0 else (math.inf if change > 0 else 0.0)


def _duplicated_rows(rows: np.ndarray) -> int:
    """How many rows equal another row.

    Equal rows have equal sums: when every row's sum differs from the others' (and none is
    NaN), no two rows are equal, and the row-wise sort (tens of milliseconds on a 512-unit
    layer, each epoch) is skipped.
    """
    sums = rows.sum(axis=1)
    if np.isfinite(sums).all() and len(np.unique(sums)) == len(sums):
        return 0
    _, inverse, counts = np.unique(rows, axis=0, return_inverse=True, return_counts=True)
    return int(np.sum(counts[inverse.ravel()] > 1))


def _unit_bound(activation: str) -> UnitBound:
    if activation in _RELU_DEAD:
        return UnitBound("dead", 0.0)
    low, high = _SATURATING[activation]
    span = (high - low) * _SATURATION_MARGIN
    return UnitBound("saturated", low + span, high - span)


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
            return None, None, None, None, None
        rows = self.rows
        return rows.x_val, rows.y_val, rows.x_val[:PROBE_ROWS], rows.x_grad, rows.y_grad

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

    def ended_by_another_callback(self) -> bool:
        """The fit stopped before the epochs it was asked for, and not by this recorder's own stop:
        another callback ended it (Keras' EarlyStopping, as a rule)."""
        asked = int((getattr(self, "params", None) or {}).get("epochs") or 0)
        ran = int(self.records["epoch"][-1]) if self.records.get("epoch") else 0
        stopped = bool(getattr(self.model, "stop_training", False))
        return stopped and self.stopped_by is None and not self.stopped_itself() and 0 < ran < asked

    def stopped_itself(self) -> bool:
        """A stop of the recorder's own other than ``stopped_by`` (none here; the callback's live actions)."""
        return False

    def measure(self, epoch: int, logs: dict | None) -> dict[str, float]:
        """This epoch's row: what the fit logged, then the recorder's own measurements."""
        row: dict[str, float] = {"epoch": float(epoch + 1)}
        for key, value in (logs or {}).items():
            if not isinstance(value, str):
                row[key] = logged(logs, key)
        row.setdefault("learning_rate", learning_rate(self.model))
        reading = self.signals.read(self.model)
        if self.rows is not None:
            outputs = reading.outputs
            own = {"val_loss": self._val_loss(reading), **self.rows.scorer.metrics(outputs, with_prior_matched=True),
                   **output_signals(outputs, self.rows.scorer.task)}
            for name, value in own.items():
                if self.owns_validation or name not in row:
                    row[name] = value
            if self.owns_validation and logs is not None:
                # Keras' own validation pass would predict the same rows again, each epoch: the
                # recorder's val_loss is the fit's, and callbacks after it (ReduceLROnPlateau,
                # EarlyStopping) read it from the logs.
                logs["val_loss"] = row["val_loss"]
        row.update(self.signals.signals(self.model, reading))
        if self.rows is not None:
            self.layer_gradient_norms.append(dict(self.signals.layer_norms))
        for name in HISTORY_SIGNALS:
            row.setdefault(name, math.nan)  # every signal has a column: NaN where it cannot be observed
        return row

    def _val_loss(self, reading: Reading) -> float:
        """What Keras' validation pass would log as ``val_loss``: the loss on the output tensors as
        the model made them, plus the model's regularization penalties (``model.losses``), as its
        training loss counts them.

        Not on the NumPy outputs: on TensorFlow a sigmoid's or softmax's output tensor carries
        its logits, and Keras' cross-entropies read them, unclipped, as in training (a
        saturated model's loss is then in the thousands, not capped at -log(1e-7)).
        """
        if self.loss_fn is None:
            return math.nan
        loss_sum = 0.0
        for value in reading.loss_sums:
            loss_sum += value
        return loss_sum / max(len(reading.outputs), 1) + sum(reading.penalties)

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

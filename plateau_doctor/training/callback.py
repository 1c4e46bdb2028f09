"""``DoctorCallback``: the doctor inside the user's own ``model.fit``.

    model.fit(x, y, validation_data=(xv, yv), epochs=30,
              callbacks=[DoctorCallback(out="results", stop_when_sick=False)])

Every epoch it records what the pipeline's recorder records, wherever the model allows
(``recorder.SignalRecorder``): loss, val_loss, learning rate and the compiled metrics;
global and per-layer gradient norms, the update ratio and dead or saturated units on a
small probe of validation rows. It runs detection live (``stop_when_sick`` stops a
confirmed-sick fit). At the end of training it diagnoses the curves (``curves``), writes
a run in the results layout of the CLI (``observed``) and prints the verdict.

Keras gives callbacks no data. The probe is ``probe=(x, y)`` when given; otherwise the
first validation rows, read from the validation iterator that Keras' trainers keep on the
model during ``fit`` (``model._eval_epoch_iterator``, in every Keras 3 backend's trainer).
Without either, the signals that need data are not measured and the report says so.

The doctor never breaks the fit: any failure inside it is logged once, the callback goes
quiet, and training goes on.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from typing import Any

import keras
import numpy as np

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.detection import check_early_stop
from plateau_doctor.engine.vocabulary import BINARY_LOSSES, DEFAULT_LOSS, MULTICLASS_LOSSES, canonical_loss
from plateau_doctor.training.recorder import (
    GRADIENT_BATCH_ROWS,
    PROBE_ROWS,
    SignalRecorder,
    _all_layers,
    activation_name,
    class_codes,
    logged,
    output_signals,
    raw_outputs,
)
from plateau_doctor.schema import HISTORY_SIGNALS, DataAudit, FeatureStats, Finding, ResolvedSetup

log = logging.getLogger("plateau_doctor")

_BINARY_LOSSES = BINARY_LOSSES
_MULTICLASS_LOSSES = MULTICLASS_LOSSES
_DEFAULT_LOSSES = DEFAULT_LOSS
REFERENCE_ROWS = 20_000
"""Rows the quick reference model is fitted on at most: it must cost seconds, not minutes."""
FEATURE_STATS_MAX = 200
"""Per-feature statistics are kept for tables up to this many columns."""


class DoctorCallback(keras.callbacks.Callback):
    """Diagnose the fit it is attached to; write a run under ``out`` at train end.

    Args:
        out: the results folder (runs/, history/, diagnosis/ go under it).
        stop_when_sick: stop the fit once a pathology is confirmed (a non-finite loss, or
            a loss flat at the trivial level for ``patience`` epochs).
        probe: ``(x, y)`` validation rows to measure on; default: the fit's validation data.
        reference: ``(x, y)`` training rows for a quick scikit-learn reference model (the
            attainable level); without it the run cannot be compared with what the data allow.
        task: ``binary``, ``multiclass`` or ``regression``; default: from the output and the loss.
        name: the run's name in results (default ``keras-fit``).
        patience, min_delta, start_from_epoch: detection settings, as in Keras' callbacks.
        write: write the run at train end (False: only diagnose, see ``result``).
        verbose: print the verdict at train end.
    """

    def __init__(
        self,
        out: str = "results",
        stop_when_sick: bool = False,
        probe: tuple[Any, Any] | None = None,
        reference: tuple[Any, Any] | None = None,
        task: str | None = None,
        name: str = "keras-fit",
        patience: int = 5,
        min_delta: float = 0.01,
        start_from_epoch: int = 3,
        write: bool = True,
        verbose: bool = True,
    ):
        super().__init__()
        if task not in (None, "binary", "multiclass", "regression"):
            raise ValueError(f"DoctorCallback does not support task={task!r}; use binary, multiclass, regression or None")
        for label, pair in (("probe", probe), ("reference", reference)):
            if pair is not None and (not isinstance(pair, (tuple, list)) or len(pair) != 2 or len(pair[0]) != len(pair[1])):
                raise ValueError(f"DoctorCallback {label} must be a pair (x, y) with as many rows in x as in y")
        self.detection = DetectionConfig(patience=patience, min_delta=min_delta, start_from_epoch=start_from_epoch)
        self.out = str(out)
        self.stop_when_sick = bool(stop_when_sick)
        self.probe = probe
        self.reference = reference
        self.task = task
        self.name = name
        self.write = write
        self.verbose = verbose
        self.records: dict[str, list[float]] = {}
        self.layer_gradient_norms: list[dict[str, float]] = []
        self.stopped_by: Finding | None = None
        self.diagnosis = None
        self.summary: dict[str, Any] | None = None
        self.run_dir = None
        self._failed = False

    # ------------------------------------------------------------------ never break the fit
    def _safely(self, step: str, function, *args) -> None:
        if self._failed:
            return
        try:
            function(*args)
        except Exception as error:  # the doctor's failure must not become the user's
            self._failed = True
            log.warning("plateau-doctor: %s failed, the doctor stops watching this fit (%s: %s)",
                        step, error.__class__.__name__, error, exc_info=log.isEnabledFor(logging.DEBUG))

    def on_train_begin(self, logs=None):
        self._failed = False  # state must not leak from one fit into the next
        self._safely("start", self._start)

    def on_epoch_end(self, epoch, logs=None):
        self._safely(f"epoch {epoch + 1}", self._epoch_end, epoch, dict(logs or {}))

    def on_train_end(self, logs=None):
        self._safely("the diagnosis at train end", self._finish)

    # ------------------------------------------------------------------ the work
    def _start(self) -> None:
        self.records = {}
        self.layer_gradient_norms = []
        self.stopped_by = None
        self.diagnosis = self.summary = self.run_dir = None
        self._started = time.perf_counter()
        self._warned = False
        self._probe_xy = None
        self._signals = None
        self._probe_tried = False
        self._loss_name, self._loss_fn = _model_loss(self.model)
        self._task = self.task or infer_task(self.model, self._loss_name)
        if self.probe is not None:
            self._use_probe(*self.probe)

    def _use_probe(self, x, y) -> None:
        x, y = _rows(x, PROBE_ROWS), _rows(y, PROBE_ROWS)
        self._probe_xy = (x, y)
        grad_rows = min(GRADIENT_BATCH_ROWS, len(y))
        self._signals = SignalRecorder(self._loss_fn, x, x_grad=_rows(x, grad_rows), y_grad=_rows(y, grad_rows))
        self._signals.start(self.model)

    def _find_probe(self) -> None:
        """The first validation rows of this fit, from the iterator Keras keeps while fitting."""
        self._probe_tried = True
        iterator = getattr(self.model, "_eval_epoch_iterator", None)
        adapter = getattr(iterator, "data_adapter", None)
        if adapter is None or type(adapter).__name__ == "GeneratorDataAdapter":  # a generator would be consumed
            return
        xs, ys, rows = [], [], 0
        for batch in adapter.get_numpy_iterator():
            x, y = batch[0], batch[1] if len(batch) > 1 else None
            if y is None or isinstance(x, (dict, list, tuple)):
                return  # multi-input models and unlabeled data are not probed
            xs.append(np.asarray(x))
            ys.append(np.asarray(y))
            rows += len(xs[-1])
            if rows >= PROBE_ROWS:
                break
        if xs:
            self._use_probe(np.concatenate(xs), np.concatenate(ys))

    def _epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self._probe_xy is None and not self._probe_tried:
            self._find_probe()
        row: dict[str, float] = {"epoch": float(epoch + 1)}
        for key, value in logs.items():
            number = logged(logs, key)
            if not isinstance(value, str):
                row[key] = number
        row["learning_rate"] = _learning_rate(self.model, logs)
        if self._probe_xy is not None:
            x, y = self._probe_xy
            outputs = raw_outputs(self.model, x)
            for name, value in probe_metrics(outputs, y, self._task).items():
                row.setdefault(name, value)  # the fit's own validation metrics (all rows) win
            row.update(output_signals(outputs, self._task))
            row.update(self._signals.measure(self.model))
            self.layer_gradient_norms.append(dict(self._signals.layer_norms))
        for name in HISTORY_SIGNALS:
            row.setdefault(name, math.nan)  # every signal has a column: NaN where it cannot be observed
        width = max((len(v) for v in self.records.values()), default=0)
        for name, value in row.items():
            self.records.setdefault(name, [math.nan] * width).append(value)
        for values in self.records.values():
            if len(values) < width + 1:
                values.append(math.nan)
        self._watch(epoch)

    def _watch(self, epoch: int) -> None:
        finding = check_early_stop(self._signal_columns(), self._audit(), self.detection, setup=self._setup())
        if finding is None:
            return
        if self.stop_when_sick:
            self.stopped_by = finding
            self.model.stop_training = True
            log.warning("plateau-doctor: stopping the fit at epoch %d: %s (%s)", epoch + 1, finding.name, finding.evidence)
        elif not self._warned:
            self._warned = True
            log.warning("plateau-doctor: epoch %d: %s (%s)", epoch + 1, finding.name, finding.evidence)

    def _signal_columns(self) -> dict[str, list[float]]:
        return {name: values for name, values in self.records.items() if name in HISTORY_SIGNALS or name == "epoch"}

    def _finish(self) -> None:
        from plateau_doctor.engine.log_doctor import diagnose_curves

        if not self.records:
            return
        self.diagnosis = diagnose_curves(
            self.records, audit=self._audit(), setup=self._setup(), detection=self.detection,
            not_checked=self._not_checked(),
        )
        if self.stopped_by is not None and all(s.name != self.stopped_by.name for s in self.diagnosis.symptoms):
            self.diagnosis.symptoms.insert(0, self.stopped_by)
        if not self.write:
            return
        from plateau_doctor.results.observed import verdict_lines, write_observed_run

        extra = {
            "wall_seconds": round(time.perf_counter() - self._started, 2),
            "early_stopped": self.stopped_by is not None,
            "early_stop_reason": self.stopped_by.evidence if self.stopped_by else None,
            "model": {"name": self.model.name, "class": type(self.model).__name__,
                      "parameters": int(self.model.count_params())},
        }
        files = {"layer_gradient_norms.json": self.layer_gradient_norms} if self.layer_gradient_norms else None
        self.summary, self.run_dir = write_observed_run(
            self.diagnosis, self.out, self.name, branch="fit", extra=extra, files=files
        )
        if self.verbose:
            print(verdict_lines(self.summary), file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ what can be derived
    def _not_checked(self) -> list[str]:
        notes = []
        if self._probe_xy is None:
            notes.append("gradients, units and probe metrics: no validation data seen (pass validation_data to fit,"
                         " or probe=(x, y))")
        elif not self._signals.observes_activations:
            notes.append("dead/saturated units: the model's layers expose no activations to probe"
                         " (subclassed model, or no ReLU/sigmoid/tanh hidden layer)")
        if self.reference is None:
            notes.append("the attainable level: no reference model (pass reference=(x_train, y_train))")
        if self._loss_fn is None:
            notes.append(f"gradients: the model's loss {self._loss_name!r} could not be resolved to one Keras loss")
        return notes

    def _setup(self) -> ResolvedSetup:
        if getattr(self, "_setup_cache", None) is None or self._setup_cache[0] is not self.model:
            self._setup_cache = (self.model, describe_model(self.model, self._task, self._loss_name))
        return self._setup_cache[1]

    def _audit(self) -> DataAudit:
        key = self._probe_xy is not None
        if getattr(self, "_audit_cache", None) is None or self._audit_cache[0] != key:
            y = self._probe_xy[1] if self._probe_xy is not None else None
            x = self._probe_xy[0] if self._probe_xy is not None else None
            self._audit_cache = (key, derive_audit(self._task, self._loss_name, x, y, self.reference))
        return self._audit_cache[1]


# ---------------------------------------------------------------------- derivations (no table)
def _rows(values, n: int):
    return np.asarray(values[:n])


def _model_loss(model) -> tuple[str, Any]:
    """The compiled loss' name and a callable ``(y_true, y_pred)``; (name, None) when it is not one loss."""
    loss = getattr(model, "loss", None)
    if loss is None or isinstance(loss, (dict, list, tuple)):
        return str(loss), None
    if isinstance(loss, str):
        function = keras.losses.get(loss)
        return canonical_loss(loss), lambda y_true, y_pred: function(_same_rank(y_true, y_pred), y_pred)
    name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    return canonical_loss(str(name)), loss


def _same_rank(y_true, y_pred):
    """A column of labels for a one-unit output: Keras' loss functions (not its Loss objects) need equal ranks."""
    if len(getattr(y_true, "shape", ())) == len(y_pred.shape) - 1 and y_pred.shape[-1] == 1:
        return keras.ops.expand_dims(y_true, -1)
    return y_true


def _learning_rate(model, logs: dict[str, Any]) -> float:
    if "learning_rate" in logs:
        return logged(logs, "learning_rate")
    optimizer = getattr(model, "optimizer", None)
    try:
        return float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return math.nan


def _output_layer(model):
    layers = _all_layers(model)
    return layers[-1] if layers else None


def _output_units(model) -> int:
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        layer = _output_layer(model)
        return int(getattr(layer, "units", 1) or 1)


def infer_task(model, loss_name: str) -> str:
    """The task from the loss, else from the output: one sigmoid unit, several softmax units, anything else."""
    if loss_name in _BINARY_LOSSES:
        return "binary"
    if loss_name in _MULTICLASS_LOSSES:
        return "multiclass" if _output_units(model) > 1 else "binary"
    layer = _output_layer(model)
    activation = activation_name(layer) if layer is not None else ""
    if isinstance(layer, keras.layers.Softmax):
        activation = "softmax"
    if activation == "sigmoid" and _output_units(model) == 1:
        return "binary"
    if activation == "softmax" and _output_units(model) > 1:
        return "multiclass"
    return "regression"


def describe_model(model, task: str, loss_name: str) -> ResolvedSetup:
    """The set-up the diagnosis reads, from the model as it is (nothing rebuilt)."""
    layers = _all_layers(model)
    hidden = [activation_name(layer) for layer in layers[:-1] if activation_name(layer) not in ("", "linear")]
    output = _output_layer(model)
    output_activation = "softmax" if isinstance(output, keras.layers.Softmax) else (activation_name(output) or "linear")
    optimizer = getattr(model, "optimizer", None)
    rate = _learning_rate(model, {})
    units = _output_units(model)
    return ResolvedSetup(
        task=task,
        n_classes=units if task == "multiclass" else (2 if task == "binary" else 0),
        output_units=units,
        output_activation=output_activation,
        loss=loss_name,
        hidden_units=_hidden_widths(model),
        hidden_activation=hidden[0] if hidden else "unknown",
        kernel_initializer="the model's own",
        optimizer=type(optimizer).__name__.lower() if optimizer is not None else "unknown",
        learning_rate=rate,
        batch_size=0,
        from_saved_model=True,
    )


def _hidden_widths(model) -> list[int]:
    """Units, filters or embedding width of every weighted layer but the output: the network's size."""
    from plateau_doctor.training.recorder import _weighted_layers

    widths = []
    for layer in _weighted_layers(model)[:-1]:
        width = getattr(layer, "units", None) or getattr(layer, "filters", None) or getattr(layer, "output_dim", None)
        if width:
            widths.append(int(width))
    return widths


def label_codes(y, task: str) -> np.ndarray:
    """Class codes (classification) or a flat float target, whatever shape the loss takes."""
    y = np.asarray(y)
    if task == "regression":
        return y.reshape(len(y), -1)[:, 0].astype(np.float64)
    if y.ndim > 1 and y.shape[-1] > 1:
        return np.argmax(y.reshape(len(y), -1), axis=1)
    flat = y.reshape(-1).astype(np.float64)
    return (flat > 0.5).astype(np.int64) if task == "binary" else flat.astype(np.int64)


def probe_metrics(outputs: np.ndarray, y, task: str) -> dict[str, float]:
    from plateau_doctor.engine.metrics import classification_metrics, regression_metrics

    codes = label_codes(y, task)
    if task == "regression":
        return regression_metrics(codes, outputs[:, 0])
    return classification_metrics(codes, class_codes(outputs))


def derive_audit(task: str, loss_name: str, x, y, reference) -> DataAudit:
    """What can be measured without a table: the trivial predictor from the labels seen,
    feature statistics of a tabular probe, and the reference model when given."""
    from plateau_doctor.engine.log_doctor import minimal_audit

    if y is None:
        return minimal_audit(task)
    codes = label_codes(y, task)
    default_loss = loss_name == _DEFAULT_LOSSES[task] or (task == "multiclass" and loss_name == "categorical_crossentropy")
    known: dict[str, Any] = {"n_val": len(codes), "n_rows": len(codes)}
    if task == "regression":
        std = float(np.std(codes))
        known.update(target_mean=float(np.mean(codes)), target_std=std, scaled_target=False,
                     trivial_metrics={"val_r2": 0.0})
        if default_loss:
            known["trivial_val_loss"] = std**2
    else:
        counts = np.bincount(codes, minlength=2 if task == "binary" else 0)
        shares = counts / counts.sum()
        known.update(
            classes=[str(c) for c in range(len(counts))],
            class_balance={str(c): float(s) for c, s in enumerate(shares)},
            majority_share=float(shares.max()),
            trivial_metrics={"val_accuracy": float(shares.max()), "val_balanced_accuracy": 1.0 / len(counts)},
        )
        if default_loss:
            known["trivial_val_loss"] = float(-(shares[shares > 0] * np.log(shares[shares > 0])).sum())
    if x is not None and np.asarray(x).ndim == 2 and np.asarray(x).shape[1] <= FEATURE_STATS_MAX:
        table = np.asarray(x, dtype=np.float64)
        known["n_features"] = table.shape[1]
        known["features"] = [
            FeatureStats(f"x{i}", float(c.mean()), float(c.std()), float(c.min()), float(c.max())) for i, c in enumerate(table.T)
        ]
        known["scaled_features"] = False  # the probe is what the network sees: judge its scales
    if reference is not None and x is not None:
        known.update(_reference(task, reference, x, codes, default_loss))
    return minimal_audit(task, **known)


def _reference(task: str, reference, x_val, codes_val, default_loss: bool) -> dict[str, Any]:
    """A quick scikit-learn model on the reference rows, scored on the probe: the attainable level."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from plateau_doctor.engine.metrics import classification_metrics, regression_metrics
    from plateau_doctor.data.audit import needs_balanced_refit

    x_ref, y_ref = reference
    flat_ref = np.asarray(x_ref[:REFERENCE_ROWS], dtype=np.float64).reshape(min(len(x_ref), REFERENCE_ROWS), -1)
    flat_val = np.asarray(x_val, dtype=np.float64).reshape(len(x_val), -1)
    codes_ref = label_codes(np.asarray(y_ref[:REFERENCE_ROWS]), task)
    if task == "regression":
        model = make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(flat_ref, codes_ref)
        predicted = model.predict(flat_val)
        metrics = regression_metrics(codes_val, predicted)
        loss = float(np.mean((predicted - codes_val) ** 2))
        name = "ridge regression"
    else:
        # As the pipeline's audit: an unweighted fit maximizes accuracy and may leave a rare class
        # out, while the level is read on balanced accuracy; on imbalanced labels a fit weighted by
        # rarity is a candidate too (the best on balanced accuracy sets the level, the best loss the loss).
        counts = np.bincount(codes_ref)
        weightings = {"logistic regression": None}
        if needs_balanced_refit(counts[counts > 0]):
            weightings["logistic regression (balanced class weights)"] = "balanced"
        scored = []
        for candidate, class_weight in weightings.items():
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, class_weight=class_weight))
            model.fit(flat_ref, codes_ref)
            probabilities = model.predict_proba(flat_val)
            known = {c: i for i, c in enumerate(model.classes_)}
            rows = np.array([known.get(c, -1) for c in codes_val])
            chosen = np.where(rows >= 0, probabilities[np.arange(len(rows)), np.maximum(rows, 0)], 1e-7)
            candidate_loss = float(-np.log(np.clip(chosen, 1e-7, 1.0)).mean())
            scored.append((candidate, classification_metrics(codes_val, model.classes_[np.argmax(probabilities, axis=1)]),
                           candidate_loss))
        name, metrics, _ = max(scored, key=lambda item: item[1]["val_balanced_accuracy"])
        loss = min(item[2] for item in scored)
    found: dict[str, Any] = {"reference_model": name, "reference_metrics": metrics, "n_train": len(flat_ref),
                             "linear_reference_metrics": metrics}
    if default_loss:
        found["reference_val_loss"] = loss
    return found

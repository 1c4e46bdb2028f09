"""``DoctorCallback``: the doctor inside the user's own ``model.fit``.

    model.fit(x, y, validation_data=(xv, yv), epochs=30,
              callbacks=[DoctorCallback(out="results", stop_when_sick=False)])

Every epoch it records what the pipeline's fits record, with the same recorder
(``recorder.Recorder``), wherever the model allows: loss, val_loss, learning rate and the
compiled metrics; the task metrics, global and per-layer gradient norms, dead or saturated
units and the outputs' collapse signals on a small probe of validation rows; the update
ratio. The set-up it diagnoses is read from the model (``describe``), the attainable level
from the data it sees (``data.audit.quick_audit``). It runs detection live
(``stop_when_sick`` stops a confirmed-sick fit). With ``repair=True`` it also acts inside
the fit (``live_repair``, ``engine.live``): weights thrown out by a step are restored and
the rate lowered at once; a confirmed pathology gets the part of its cause's treatment that
a running fit can take (a learning rate set by a range test, or the best weights and a
stop), at most ``max_actions`` times. At the end of training it diagnoses the curves since
the last action (``log_doctor``), writes a run in the results layout of the CLI
(``observed``), with the actions, and prints the verdict.

Keras gives callbacks no data. The probe is ``probe=(x, y)`` when given; otherwise the
first validation rows, read from the validation iterator that Keras' trainers keep on the
model during ``fit`` (``model._eval_epoch_iterator``, in every Keras 3 backend's trainer).
Without either, the signals that need data are not measured and the report says so.

The doctor never breaks the fit: any failure inside it is logged once, the callback goes
quiet, and training goes on.
"""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import replace
from typing import Any

import keras
import numpy as np

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.detection import check_early_stop
from plateau_doctor.engine.live import MAX_ACTIONS, kept_epochs, kept_model, live_action, restore_and_lower
from plateau_doctor.engine.vocabulary import BINARY_LOSSES, DEFAULT_LOSS, MULTICLASS_LOSSES, canonical_loss
from plateau_doctor.schema import HISTORY_SIGNALS, DataAudit, Finding, ResolvedSetup
from plateau_doctor.training.describe import (
    all_layers, describe_model, initial_gain, output_activation, output_units, token_vocabulary,
)
from plateau_doctor.training.live_repair import LiveRepair, current_rate
from plateau_doctor.training.recorder import GRADIENT_BATCH_ROWS, PROBE_ROWS, Recorder, Rows
from plateau_doctor.training.scoring import Scorer, label_codes, labels_task
from plateau_doctor.training.siblings import read_fit, restored_epoch

log = logging.getLogger("plateau_doctor")


class DoctorCallback(Recorder):
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
        repair: act inside the fit on what it finds (see the module's docstring); default
            False: the callback only watches and never changes the fit.
        max_actions: the most actions ``repair`` takes in one fit.
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
        repair: bool = False,
        max_actions: int = MAX_ACTIONS,
    ):
        if task not in (None, "binary", "multiclass", "regression"):
            raise ValueError(f"DoctorCallback does not support task={task!r}; use binary, multiclass, regression or None")
        for label, pair in (("probe", probe), ("reference", reference)):
            if pair is not None and (not isinstance(pair, (tuple, list)) or len(pair) != 2 or len(pair[0]) != len(pair[1])):
                raise ValueError(f"DoctorCallback {label} must be a pair (x, y) with as many rows in x as in y")
        # Live detection is the recorder's monitor; it stops the fit only when asked to.
        # With repair, a finding is treated first; the fit stops only once no action is left.
        super().__init__(monitor=self._check, stop_on_finding=bool(stop_when_sick) and not repair)
        self.detection = DetectionConfig(patience=patience, min_delta=min_delta, start_from_epoch=start_from_epoch)
        self.out = str(out)
        self.stop_when_sick = bool(stop_when_sick)
        self.probe = probe
        self.reference = reference
        self.task = task
        self.name = name
        self.write = write
        self.verbose = verbose
        self.diagnosis = None
        self.summary: dict[str, Any] | None = None
        self.run_dir = None
        self.live = LiveRepair(max_actions, quiet_epochs=patience) if repair else None
        self._pending: Finding | None = None
        self._failed = False
        self._initial_gain = 0.0
        self._siblings, self._row_weights = [], "unknown"  # the fit's, read at on_train_begin (read_fit)

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
        self._safely("finding the fit's other callbacks", self._find_siblings)
        self._safely("start", self._start)

    def _find_siblings(self) -> None:  # called from on_train_begin: the fit's CallbackList is a caller's frame
        self._siblings, self._row_weights = read_fit(self)

    def on_epoch_end(self, epoch, logs=None):
        self._safely(f"epoch {epoch + 1}", self._epoch_end, epoch, dict(logs or {}))

    def on_train_end(self, logs=None):
        self._safely("the diagnosis at train end", self._finish)

    # ------------------------------------------------------------------ the work
    def _start(self) -> None:
        self.diagnosis = self.summary = self.run_dir = None
        self._started = time.perf_counter()
        self._warned = False
        self._probe_tried = False
        self._setup_cache = self._audit_cache = None
        self.rows = None
        self._loss_name, self.loss_fn = _model_loss(self.model)
        self._initial_gain = initial_gain(self.model)  # before the first step moves the weights
        self._task = self.task or infer_task(self.model, self._loss_name)
        if self.probe is not None:
            self.rows = self._rows(*self.probe)
        super().on_train_begin()
        self._pending = None
        if self.live is not None:
            self.live.start(self.model)

    def _rows(self, x, y) -> Rows:
        x, y = _first(x, PROBE_ROWS), _first(y, PROBE_ROWS)
        loss_decides = self._loss_name in BINARY_LOSSES or self._loss_name in MULTICLASS_LOSSES
        if self.task is None and (task := labels_task(self._task, y, loss_decides=loss_decides)) != self._task:
            self._task, self._setup_cache, self._audit_cache = task, None, None
        grad_rows = min(GRADIENT_BATCH_ROWS, len(y))
        return Rows(x_val=x, y_val=y, scorer=Scorer(self._task, label_codes(y, self._task)),
                    x_grad=_first(x, grad_rows), y_grad=_first(y, grad_rows))

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
            self.use_rows(self._rows(np.concatenate(xs), np.concatenate(ys)))

    def _epoch_end(self, epoch: int, logs: dict[str, Any]) -> None:
        if self.rows is None and not self._probe_tried:
            self._find_probe()
        super().on_epoch_end(epoch, logs)
        if self.live is not None:
            self._repair(epoch + 1)

    def _segment(self, records: dict[str, list[float]]) -> dict[str, list[float]]:
        """The records trained with the current settings: since the last live action."""
        start = self.live.segment_start if self.live is not None else 0
        return {name: values[start:] for name, values in records.items()}

    def _check(self, records: dict[str, list[float]]) -> Finding | None:
        columns = {name: values for name, values in self._segment(records).items()
                   if name in HISTORY_SIGNALS or name == "epoch"}
        return check_early_stop(columns, self._audit(), self.detection, setup=self._setup())

    # ------------------------------------------------------------------ live repair
    def _repair(self, epoch: int) -> None:
        row = {name: values[-1] for name, values in self.records.items() if values}
        thrown = self.live.watch(self.model, epoch, row)
        pending, self._pending = self._pending, None
        action = None
        if thrown is not None and self.live.can_act(epoch, urgent=True):
            rate = current_rate(self.model.optimizer)
            action = restore_and_lower(thrown, rate) if rate is not None else None
        elif self.live.can_act(epoch) and (pending is not None or self._settled(epoch)):
            action = self._treatment(pending)
        if action is not None and self.live.act(self.model, action, epoch, self._sweep_rows()) is not None:
            self.live.begin_segment(len(self.records["epoch"]))
            self._setup_cache = None  # the rate the set-up describes has changed
            self.stopped_by = None
        elif pending is not None and self.stop_when_sick and not self.live.can_act(epoch):
            self.stopped_by = pending
            self.model.stop_training = True

    def _settled(self, epoch: int) -> bool:
        """Every ``patience`` epochs after the warm-up of the current segment, the whole diagnosis is read."""
        ran = len(self.records["epoch"]) - self.live.segment_start
        first = self.detection.start_from_epoch + self.detection.patience
        return ran >= first and (ran - first) % self.detection.patience == 0

    def _treatment(self, pending: Finding | None):
        from plateau_doctor.config import DoctorConfig
        from plateau_doctor.engine.log_doctor import diagnose_curves
        from plateau_doctor.engine.planning import plan_remedies

        segment = self._segment(self.records)
        found = diagnose_curves(segment, audit=self._audit(), setup=self._setup(), detection=self.detection)
        if not found.sick or not found.causes:
            return None
        plans = plan_remedies(found.causes, found.symptoms, DoctorConfig(), found.setup, found.audit, history=segment)
        shown = "; ".join(f"{s.name}: {s.evidence}" for s in found.symptoms if s.name != "converged")
        rate = current_rate(self.model.optimizer)
        return live_action(plans, rate if rate is not None else float("nan"), shown)

    def _sweep_rows(self) -> tuple[Any, Any] | None:
        """Rows for the in-fit range test: the training rows of ``reference`` when given, else the probe."""
        if self.reference is not None:
            return self.reference
        if self.rows is not None:
            return self.rows.x_val, self.rows.y_val
        return None

    def found(self, epoch: int, finding: Finding) -> None:
        if self.live is not None:
            self._pending = finding
            return
        if self.stop_when_sick:
            log.warning("plateau-doctor: stopping the fit at epoch %d: %s (%s)", epoch + 1, finding.name, finding.evidence)
        elif not self._warned:
            self._warned = True
            log.warning("plateau-doctor: epoch %d: %s (%s)", epoch + 1, finding.name, finding.evidence)

    def _finish(self) -> None:
        from plateau_doctor.engine.log_doctor import diagnose_curves, normalize_history

        n = len(self.records.get("epoch", ()))
        if not n:
            return
        first = int(self.records["epoch"][0])  # fit(initial_epoch=k) numbers from k + 1, the doctor from 1
        self._setup_cache = replace(self._setup(), first_epoch=first,
                                    ended_early=self._setup().ended_early or self.ended_by_another_callback())
        kept, last, within = kept_model(self._kept(), n, restored_epoch(self._siblings, first))
        if within:  # the user's EarlyStopping puts that epoch back: the model the fit leaves
            self._setup_cache = replace(self._setup(), kept_epoch=within)
        self.diagnosis = diagnose_curves(
            {name: values[kept] for name, values in self.records.items()}, audit=self._audit(), setup=self._setup(),
            detection=self.detection, not_checked=self._not_checked(),
        )
        if self.live is not None and self.live.actions:
            # The verdict is on the model as kept; the history shown is the whole fit, in which it is epoch `last`.
            self.diagnosis.history = normalize_history(self.records)
            self.diagnosis.setup = replace(self.diagnosis.setup, kept_epoch=last if last < n else 0)
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
        if self.live is not None:
            extra["live_repairs"] = [action.to_dict() for action in self.live.actions]
        files = {"layer_gradient_norms.json": self.layer_gradient_norms} if self.layer_gradient_norms else None
        self.summary, self.run_dir = write_observed_run(
            self.diagnosis, self.out, self.name, branch="fit", extra=extra, files=files
        )
        if self.verbose:
            print(verdict_lines(self.summary), file=sys.stderr, flush=True)

    def stopped_itself(self) -> bool:
        return self.live is not None and any("stop" in a.action for a in self.live.actions)

    def _kept(self) -> slice:
        """The epochs of the model as the fit leaves it (``engine.live.kept_epochs``)."""
        n = len(self.records.get("epoch", ()))
        if self.live is None:
            return slice(0, n)
        return kept_epochs(self.live.actions, n, self.live.segment_start,
                           self.detection.start_from_epoch + self.detection.patience)

    # ------------------------------------------------------------------ what can be derived
    def _not_checked(self) -> list[str]:
        notes = []
        if self.rows is None:
            notes.append("gradients, units and probe metrics: no validation data seen (pass validation_data to fit,"
                         " or probe=(x, y))")
        elif not self.signals.observes_activations:
            notes.append("dead/saturated units: the model's layers expose no activations to probe"
                         " (subclassed model, or no ReLU/sigmoid/tanh hidden layer)")
        if self.reference is None:
            notes.append("the attainable level: no reference model (pass reference=(x_train, y_train))")
        if self.loss_fn is None:
            notes.append(f"gradients: the model's loss {self._loss_name!r} could not be resolved to one Keras loss")
        return notes

    def _setup(self) -> ResolvedSetup:
        if self._setup_cache is None:
            params = getattr(self, "params", None) or {}
            epochs, steps = params.get("epochs") or 0, params.get("steps") or 0  # what fit() was asked for
            known = {}
            if self._task == "multiclass" and output_units(self.model) == 1 and self.rows is not None:
                known["n_classes"] = int(np.max(self.rows.scorer.truth)) + 1  # the labels', not the output's
            self._setup_cache = describe_model(self.model, self._task, self._loss_name, epochs=int(epochs),
                                               steps_per_epoch=int(steps), initial_gain=self._initial_gain,
                                               row_weights=self._row_weights, **known)
        return self._setup_cache

    def _audit(self) -> DataAudit:
        """The audit of what this fit shows: computed once the rows are known (the reference is fitted once)."""
        key = self.rows is not None
        if self._audit_cache is None or self._audit_cache[0] != key:
            self._audit_cache = (key, self._derive_audit())
        return self._audit_cache[1]

    def _derive_audit(self) -> DataAudit:
        from plateau_doctor.data.audit import quick_audit

        if self.rows is None:
            return quick_audit(self._task)
        default_loss = self._loss_name == DEFAULT_LOSS[self._task] or (
            self._task == "multiclass" and self._loss_name == "categorical_crossentropy")
        reference = None
        if self.reference is not None:
            reference = (self.reference[0], label_codes(self.reference[1], self._task))
        return quick_audit(self._task, self.rows.x_val, self.rows.scorer.truth, reference, default_loss=default_loss,
                           tokens=token_vocabulary(self.model))


# ---------------------------------------------------------------------- derivations (no table)
def _first(values, n: int):
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


def infer_task(model, loss_name: str) -> str:
    """The task from the loss, else from the output: one sigmoid unit, several softmax units, anything else."""
    if loss_name in BINARY_LOSSES:
        return "binary"
    if loss_name in MULTICLASS_LOSSES:
        return "multiclass" if output_units(model) > 1 else "binary"
    activation = output_activation(model) if all_layers(model) else ""
    if activation == "sigmoid" and output_units(model) == 1:
        return "binary"
    if activation == "softmax" and output_units(model) > 1:
        return "multiclass"
    return "regression"

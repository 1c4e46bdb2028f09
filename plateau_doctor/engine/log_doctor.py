"""Diagnosis from what a run logged, with or without the doctor's own audit. Pure: numpy and pandas.

The pipeline measures the data before training (trivial and reference losses, feature
scales) and records every training signal. A user's ``model.fit`` (``DoctorCallback``) or
an old training log (``plateau-doctor diagnose``) has less. This module runs the same
detection and the same cause rules on what there is, and says what is missing:

- without a reference model the attainable level is unknown, so ``plateau`` and
  ``slow_convergence`` (which need a clear gap to it) cannot be called the usual way.
  Curves-only tests replace them: a loss still falling steadily at the end, beyond its noise
  (``progress.still_falling``), is slow convergence; a loss that has not moved since its
  first epoch (the monitored loss within ``FLAT_FROM_START`` of where it began, the
  training loss within ``log_symptoms.TRAINING_LOSS_LEARNED``, no progress over ``patience``
  epochs) is a plateau whatever the data allow, and one that has barely moved since its first
  epoch but still falls at the end (``log_symptoms.barely_begun``) is slow convergence: its
  first descent has only begun. A run that fell and then flattened is never called sick here:
  it may sit at the data's noise floor;
- a classifier's log pins its own chance level when it sits there (``chance.read_chance``:
  ln k with accuracy 1/k, or a majority prior's entropy): that level stands in for the
  audit's trivial loss, so ``stuck_at_trivial`` is read as in a full run;
- a training loss frozen to four digits for ``patience`` epochs (``log_symptoms.FROZEN_RANGE``)
  away from zero is a plateau too: the weights no longer change (dead units, saturated outputs);
- a finished log too short for the progress tests whose losses sat at the chance level it pins
  on every epoch, the first included (``chance.short_run_at_chance``), is ``stuck_at_trivial``: it
  ended where a network that learned nothing starts (a live fit is not judged so: it may still
  break out);
- a training accuracy that does not change at all from epoch 2 on, at a majority share, while
  the loss still moves (``chance.majority_only``) is every row given the majority class:
  ``stuck_at_trivial`` by the task metric (balanced accuracy 1/2), whatever the loss;
- a cause whose confirming signals the log lacks (:data:`CONFIRMED_BY`) keeps its place
  but loses confidence (:data:`UNCONFIRMED_DISCOUNT`), and its evidence names the
  measurement that would confirm it;
- the optimizer is not in a log: learning rates are then judged as for Adam, Keras' most
  common choice, and the evidence says so;
- a sick log for which no cause can be named says why in its first symptom's evidence: what
  the log lacks, and the causes those readings would tell apart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from plateau_doctor.config import DetectionConfig
from plateau_doctor.engine.causes.catalog import REGISTRY, by_rank
from plateau_doctor.engine.chance import Chance, majority_only, read_chance, short_run_at_chance
from plateau_doctor.engine.causes.registry import JUDGES_THE_RATE
from plateau_doctor.engine.cadence import kept_among_validated, on_validated_epochs, validated_note
from plateau_doctor.engine.detection import detect_symptoms
from plateau_doctor.engine.diagnosis import check_setup, diagnose
from plateau_doctor.engine.log_symptoms import barely_begun, flat_from_start, frozen_curve, training_curve
from plateau_doctor.engine.progress import still_falling
from plateau_doctor.engine.run_view import read_run
from plateau_doctor.schema import HISTORY_SIGNALS, SICK_SYMPTOMS, DataAudit, Finding, ResolvedSetup

UNCONFIRMED_DISCOUNT = 0.75
"""Confidence kept by a cause whose confirming signals were not recorded."""

ASSUMED_OPTIMIZER = "adam"

CONFIRMED_BY: dict[str, tuple[str, ...]] = {name: cause.confirmed_by for name, cause in REGISTRY.items() if cause.confirmed_by}
"""The recorded signals (``schema.HISTORY_SIGNALS``) that confirm each cause beyond its curves
(each cause's ``confirmed_by``)."""

_ALIASES = {
    "lr": "learning_rate",
    "val_acc": "val_accuracy",
    "acc": "accuracy",
    "epoch_loss": "loss",
    "epoch_val_loss": "val_loss",
    "epoch_learning_rate": "learning_rate",
    "epoch_accuracy": "accuracy",
    "epoch_val_accuracy": "val_accuracy",
}
_ACCURACY_NAMES = ("binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")
"""What Keras logs for ``metrics=[keras.metrics.SparseCategoricalAccuracy()]`` and the like: the
metric the string ``"accuracy"`` resolves to for that loss, so the same column. Top-k and a CRF's
token accuracy are other measures, with other chance levels, and keep their names."""
for _name in _ACCURACY_NAMES:
    _ALIASES.update({_name: "accuracy", f"val_{_name}": "val_accuracy"})
_CLASSIFICATION_HINTS = re.compile(r"acc|auc|precision|recall|crossentropy|f1|hinge")


@dataclass
class CurvesDiagnosis:
    """Symptoms and causes of one logged run, with what could not be checked."""

    history: pd.DataFrame
    audit: DataAudit
    setup: ResolvedSetup
    symptoms: list[Finding]
    causes: list[Finding]
    not_checked: list[str] = field(default_factory=list)

    @property
    def sick(self) -> bool:
        return any(s.name in SICK_SYMPTOMS for s in self.symptoms)

    @property
    def status(self) -> str:
        return "sick" if self.sick else "healthy"


def normalize_history(history) -> pd.DataFrame:
    """Per-epoch columns as the doctor names them; ``epoch`` 1-based; numbers only.

    Accepts a DataFrame, a ``{name: [values]}`` mapping (Keras' ``History.history``) or a
    History object. Keras' CSVLogger counts epochs from 0; TensorBoard prefixes ``epoch_``.
    """
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history
    frame = pd.DataFrame(history).copy() if not isinstance(history, pd.DataFrame) else history.copy()
    named = [str(c).strip() for c in frame.columns]
    # A column logged under the doctor's own name wins over one that an alias would rename to it.
    frame.columns = [name if _ALIASES.get(name, name) in named else _ALIASES.get(name, name) for name in named]
    frame = frame.loc[:, ~frame.columns.duplicated()]
    if "loss" not in frame and "val_loss" not in frame:
        raise ValueError(
            f"no 'loss' or 'val_loss' column (found {', '.join(map(str, frame.columns)) or 'none'});"
            " a training log needs at least one of them per epoch"
        )
    if len(frame) == 0:
        raise ValueError("the log has no epoch")
    numeric = {}
    for name in frame.columns:
        if name == "branch":
            continue
        values = pd.to_numeric(frame[name], errors="coerce")
        if name in ("loss", "val_loss") or values.notna().any():
            numeric[name] = values.astype(float)
    out = pd.DataFrame(numeric)
    if "epoch" in out and out["epoch"].notna().all():
        epochs = out["epoch"].to_numpy()
        out = out.iloc[np.argsort(epochs, kind="stable")].reset_index(drop=True)
        out["epoch"] = out["epoch"] - out["epoch"].iloc[0] + 1
    else:
        out["epoch"] = np.arange(1, len(out) + 1, dtype=float)
    return out


def infer_task(history: pd.DataFrame) -> str:
    """classification when a column names a classification metric or loss, else regression."""
    names = " ".join(c.lower() for c in history.columns)
    return "binary" if _CLASSIFICATION_HINTS.search(names) else "regression"




def minimal_setup(task: str, history: pd.DataFrame, **known) -> ResolvedSetup:
    """A set-up of what is unknown; the learning rate from the log when it has one."""
    rate = history["learning_rate"].dropna() if "learning_rate" in history else pd.Series(dtype=float)
    values = dict(
        task=task, n_classes=0, output_units=1, output_activation="unknown", loss="unknown", hidden_units=[],
        hidden_activation="unknown", kernel_initializer="unknown", optimizer=ASSUMED_OPTIMIZER,
        learning_rate=float(rate.iloc[0]) if len(rate) else math.nan, batch_size=0, from_saved_model=True,
    )
    values.update(known)
    return ResolvedSetup(**values)


def chance_audit(chance: Chance) -> DataAudit:
    """What a log tells of its data once it pins its chance level: k classes, the trivial loss
    and the chance accuracy (and, for a majority prior, the class balance)."""
    task = "binary" if chance.k == 2 else "multiclass"
    classes = [str(index) for index in range(chance.k)]
    known = math.isfinite(chance.accuracy)
    balance = {"0": chance.accuracy, "1": 1.0 - chance.accuracy} if chance.k == 2 and known else {}
    metrics = {"val_balanced_accuracy": 1.0 / chance.k, **({"val_accuracy": chance.accuracy} if known else {})}
    return DataAudit.unknown(
        task, classes=classes, trivial_val_loss=chance.trivial_loss, class_balance=balance, trivial_metrics=metrics,
        majority_share=chance.accuracy if chance.k == 2 and known else math.nan,
    )


def chance_setup(chance: Chance | None) -> dict:
    """The output and loss a log at its chance level shows: a cross-entropy on a sigmoid (two
    classes) or softmax output, the only losses that sit at ln k when nothing is learned."""
    if chance is None:
        return {}
    if chance.k == 2:
        return dict(n_classes=2, output_units=1, output_activation="sigmoid", loss="binary_crossentropy")
    return dict(
        n_classes=chance.k, output_units=chance.k, output_activation="softmax", loss="sparse_categorical_crossentropy"
    )


def learned_then_froze(history: pd.DataFrame, detection: DetectionConfig, at_chance: bool) -> Finding | None:
    """A cause read from a frozen loss (the plateau of :func:`frozen_curve`) when no cause was
    found: the first cause, by rank, whose ``frozen_log_rule`` explains it (a loss that fell
    and then froze sits at the best the network can represent; one frozen from its second epoch
    never learned), each rule told whether the log shows the chance level."""
    name = training_curve(history)
    values = history[name].to_numpy(dtype=float)
    for cause in by_rank():
        if cause.frozen_log_rule is not None and (found := cause.frozen_log_rule(name, values, detection, at_chance)) is not None:
            return found
    return None


def _recorded(history: pd.DataFrame, name: str) -> bool:
    return name in history and bool(np.isfinite(history[name].to_numpy(dtype=float)).any())


REFERENCE_NO_CEILING = ("the network is at or above the linear reference model's level, which is what the data allow at"
                        " least, not at most: a loss still falling this steadily has more to gain")


def _qualify(cause: Finding, history: pd.DataFrame, setup: ResolvedSetup, optimizer_known: bool) -> Finding:
    """Lower a cause that the log cannot confirm, and name the measurement that would."""
    needed = CONFIRMED_BY.get(cause.name, ())
    missing = [name for name in needed if not _recorded(history, name)]
    evidence, confidence = cause.evidence, cause.confidence
    if needed and len(missing) == len(needed):
        confidence = round(confidence * UNCONFIRMED_DISCOUNT, 3)
        if optimizer_known:  # the doctor watched the fit (the callback): it recorded them, and none was finite
            evidence += f"; not confirmed: no finite {', '.join(missing)} was recorded to confirm it"
        else:
            evidence += (
                f"; not confirmed: the log lacks {', '.join(missing)}, which would confirm it"
                " (DoctorCallback records them)"
            )
    if not optimizer_known and JUDGES_THE_RATE in REGISTRY[cause.name].properties:
        evidence += f"; the log does not name the optimizer: the rate is judged as for {setup.optimizer}"
    return replace(cause, confidence=confidence, evidence=evidence)


def diagnose_curves(
    history,
    *,
    audit: DataAudit | None = None,
    setup: ResolvedSetup | None = None,
    task: str | None = None,
    detection: DetectionConfig | None = None,
    not_checked: Sequence[str] = (),
    fit: Mapping[str, int | bool] | None = None,
) -> CurvesDiagnosis:
    """Symptoms and ranked causes from a per-epoch history; ``audit``/``setup`` when known; ``fit``:
    what a log says of the fit without a set-up (``ResolvedSetup`` fields: ``epochs``,
    ``ended_early``, ``kept_epoch``; console text prints them)."""
    frame, detection, unvalidated = on_validated_epochs(normalize_history(history), detection or DetectionConfig())
    task = (audit.task if audit is not None else None) or task or infer_task(frame)
    notes = list(not_checked) + ([validated_note(unvalidated)] if unvalidated is not None else [])
    chance = read_chance(frame, detection) if audit is None and task != "regression" else None
    majority = majority_only(frame, detection) if audit is None and task != "regression" else None
    if chance is not None and majority is not None and chance.k != 2:
        majority = None  # the loss pins k > 2 classes: there is no binary majority to read
    chance = chance or majority
    if audit is None:
        audit = DataAudit.unknown(task) if chance is None else chance_audit(chance)
        notes.append("the attainable level: no reference model was fitted on the data (no data given)")
        notes.append("feature and target scales, class balance: the data were not seen")
        if chance is not None and chance is not majority:
            notes.append(f"the chance level, read from the log itself: {chance.why}")
    optimizer_known = setup is not None
    if setup is None:
        setup = minimal_setup(audit.task, frame, **chance_setup(chance), **dict(fit or {}))
        notes.append(f"the set-up (architecture, optimizer, loss): not in the log; rates judged as for {setup.optimizer}")
    if unvalidated is not None and setup.kept_epoch:
        setup = replace(setup, kept_epoch=kept_among_validated(setup.kept_epoch, unvalidated))
    for name in ("learning_rate", "grad_norm", "update_ratio", "dead_fraction"):
        if not _recorded(frame, name):
            notes.append(f"{name}: not recorded")
    # The training accuracy is no recorded signal of the doctor's, but a log's own column that
    # the loss/accuracy consistency check reads.
    signals = frame.reindex(columns=["epoch", *HISTORY_SIGNALS, *(["accuracy"] if "accuracy" in frame else [])])
    symptoms = detect_symptoms(signals, audit, detection, setup=setup)
    no_reference = not math.isfinite(audit.reference_val_loss) and not audit.reference_metrics
    frozen = frozen_curve(frame, detection) if no_reference else None
    if majority is not None and not any(s.name in SICK_SYMPTOMS for s in symptoms):
        symptoms = [Finding("symptom", "stuck_at_trivial", 0.7, f"by the task metric: {majority.why}")]
    if chance is not None and not any(s.name in SICK_SYMPTOMS for s in symptoms):
        short = short_run_at_chance(frame, chance, detection)
        if short is not None:
            symptoms = [short]
    if no_reference and not any(s.name in SICK_SYMPTOMS for s in symptoms):
        flat = frozen or flat_from_start(frame, detection) or barely_begun(frame, detection)
        if flat is not None:
            symptoms = [flat]
    if not no_reference and not any(s.name in SICK_SYMPTOMS for s in symptoms):
        # A watched fit at its linear reference's level whose loss still falls steadily is not done:
        # the linear reference is a floor of what the data allow, not their ceiling.
        falling = still_falling(read_run(signals, audit, detection, setup))
        if falling is not None:
            symptoms = [replace(falling, evidence=f"{falling.evidence}; {REFERENCE_NO_CEILING}")]
    # A set-up read from the model (the callback, a saved model) is checked as the pipeline checks
    # its own before training: an output or loss that cannot fit the task shows in no curve.
    preflight = check_setup(setup, audit) if optimizer_known else []
    causes = diagnose(signals, audit, setup, detection, symptoms=symptoms, preflight=preflight)
    at_chance = any(s.name == "stuck_at_trivial" for s in symptoms)  # each frozen rule says what it reads there
    if frozen is not None and not causes and (limit := learned_then_froze(frame, detection, at_chance)) is not None:
        causes = [limit]
    causes = [_qualify(c, frame, setup, optimizer_known) for c in causes]
    causes.sort(key=lambda c: -c.confidence)
    if not causes:
        symptoms = _say_why_no_cause(symptoms, frame, setup, watched=optimizer_known)
    return CurvesDiagnosis(frame, audit, setup, symptoms, causes, notes)


def _say_why_no_cause(symptoms: list[Finding], history: pd.DataFrame, setup: ResolvedSetup,
                      watched: bool = False) -> list[Finding]:
    """A sick verdict without a cause says why in its first sick symptom's evidence: what the log
    lacks, and the causes that would need it (those whose confirming signals were not recorded).
    A watched fit (the set-up read from its model) says which signals it could not record."""
    sick = [s for s in symptoms if s.name in SICK_SYMPTOMS]
    if not sick:
        return symptoms
    missing = sorted({name for needed in CONFIRMED_BY.values() for name in needed if not _recorded(history, name)})
    if watched:
        words = ("no cause can be named: the set-up read from the model, the data seen and the signals recorded"
                 " meet no cause's rule" + (f" (not recorded: {', '.join(missing)})" if missing else ""))
    else:
        candidates = [cause.name for cause in by_rank() if cause.name in CONFIRMED_BY
                      and not any(_recorded(history, name) for name in CONFIRMED_BY[cause.name])]
        lacks = ["the set-up (architecture, loss, optimizer)"] if setup.from_saved_model else []
        if not math.isfinite(setup.learning_rate):
            lacks.insert(0, "the learning rate")
        lacks.append(", ".join(missing) or "no training signal")
        words = (
            f"no cause can be named from what was logged: the log lacks {'; '.join(lacks)}, and the curves alone do"
            f" not single one out; the causes those readings would tell apart: {', '.join(candidates)}"
            " (DoctorCallback records them)"
        )
    first = sick[0]
    return [replace(s, evidence=f"{s.evidence}; {words}") if s is first else s for s in symptoms]

"""``plateau_doctor.repair``: the whole doctor on a user's own compiled Keras model and in-memory data.

It writes the model and the data where a config can point to them (``<out>/.inputs/<key>/``:
the model, weights and all, behind a Reshape from flat rows; the rows as ``.npz`` with the
validation rows marked), builds the config from the user's compile, and runs the same
stages as the CLI (``plateau_doctor.run``). Everything about the input is checked before
anything is written; a run that fails leaves nothing of its inputs behind.
"""

from __future__ import annotations

import shutil
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from plateau_doctor.api import DoctorResult
from plateau_doctor.errors import ArgumentError

INPUTS_DIR = ".inputs"


def repair(model, x, y=None, *, validation_data=None, validation_fraction: float = 0.2, epochs: int = 30,
           batch_size: int = 32, out: str | Path = "results", seed: int = 0, scale_features: bool = False,
           max_bytes: int | None = None, **overrides) -> DoctorResult:
    """Diagnose and repair a compiled Keras model's training on your data; return the result with ``.model``.

    ``model``: a compiled ``keras.Model`` with one input and one output (or a function of no
    arguments returning one). Its weights as they are now are every branch's starting point;
    the model object itself is left untouched. Its optimizer (class, rate and other settings),
    loss and metrics are read from its compile; the task from the loss and output units
    (categorical losses: multiclass, labels 0..units-1, each present in the training rows;
    binary losses: binary, 1 unit; others: regression, 1 unit).

    ``x``, ``y``: NumPy arrays of any example shape (images, sequences, tables), or ``x`` a
    ``tf.data.Dataset`` / ``keras.utils.PyDataset`` yielding ``(x, y)`` or ``(x, y, weights)``
    (weights ignored) with ``y=None``. A dataset is read into memory once, up to ``max_bytes``
    (default 512 MB of float64 inputs, each of ``x`` and ``validation_data``); above that pass
    a subset. ``validation_data`` (as for ``model.fit``) is kept as the validation split; without
    it ``validation_fraction`` of the rows are drawn (stratified, seeded by ``seed``).

    ``epochs``, ``batch_size``: the baseline fit's, and the finished remedy's. Inputs are fed as
    given (``scale_features=False``); the ``preprocessing`` remedy may still scale them, and the
    returned model then has the scaling as its first layer. Remedies that would change the
    network's layers (capacity, architecture) are skipped with the reason, never swapped for
    another network; the others change the optimizer, rate, clipping, batch size, class weights,
    scaling or epochs. ``overrides`` set any other config field as ``plateau_doctor.run`` does
    (``remedies__budget_epochs=100``).

    Returns the :class:`DoctorResult` of the run written under ``out`` (report, Parquet rows),
    with ``.model``: the kept model (the repaired one, else the baseline as trained), compiled
    with your loss and metrics and the kept optimizer settings, taking your inputs as given.
    Bad input raises ``errors.UserInputError`` (``ArgumentError`` naming the argument).
    """
    from plateau_doctor.data.sources.arrays import MAX_BYTES, materialise, validation_arrays
    from plateau_doctor.run.checks import check_output_dir
    from plateau_doctor.training.user_model import check_model, read_compiled

    check_output_dir(str(out), "out")
    model = check_model(model)
    compiled = read_compiled(model)
    rank = len(compiled.input_shape)
    cap = MAX_BYTES if max_bytes is None else int(max_bytes)
    train = materialise(x, y, "x", rank, cap)
    validation = validation_arrays(validation_data, rank, cap)
    shape = _example_shape(compiled.input_shape, train.x, "x")
    if validation is not None:
        _example_shape(compiled.input_shape, validation.x, "validation_data")
        if validation.x.shape[1:] != train.x.shape[1:]:
            raise ArgumentError(f"validation_data: examples of shape {validation.x.shape[1:]}, but x's are {shape}")
    train.y = _targets(train.y, compiled, "y")
    if validation is not None:
        validation.y = _targets(validation.y, compiled, "validation_data's y")
    _check_classes(train.y, compiled)
    notes = [*compiled.notes, *train.notes, *(validation.notes if validation is not None else [])]
    for note in notes:
        warnings.warn(f"plateau_doctor.repair: {note}", stacklevel=2)

    folder = _write_inputs(Path(out), model, shape, compiled, train, validation)
    try:
        config = _config(folder, model.name, compiled, out, epochs, batch_size, seed, scale_features,
                         validation_fraction, overrides)
        from plateau_doctor.api import run

        result = run(config)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # nothing half-written: the run itself cleans up after itself
        raise
    result.model = _kept_model(result, model.name, shape, compiled)
    return result


def _example_shape(model_shape: tuple, x: np.ndarray, argument: str) -> tuple[int, ...]:
    """One example's shape; it must fit the model's input (None matches any size)."""
    shape = tuple(int(n) for n in x.shape[1:])
    if len(shape) != len(model_shape) or any(m is not None and m != n for m, n in zip(model_shape, shape)):
        raise ArgumentError(
            f"{argument}: examples of shape {shape}, but the model takes {tuple(model_shape)}; reshape the inputs"
            " to the model's input shape (one row per example)"
        )
    return shape


def _targets(y: np.ndarray, compiled, argument: str) -> np.ndarray:
    """One target per row: one-hot rows (categorical losses) become class codes."""
    if y.ndim == 2 and y.shape[1] == compiled.output_units and compiled.output_units > 1 and compiled.task == "multiclass":
        y = y.argmax(axis=1)
    elif y.ndim > 1 and int(np.prod(y.shape[1:])) == 1:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise ArgumentError(f"{argument}: shape {y.shape}; give one target per row (class codes, one-hot rows or values)")
    if compiled.task == "regression":
        return y.astype(np.float64)
    codes = y.astype(np.int64)
    limit = compiled.output_units if compiled.task == "multiclass" else 2
    if not np.array_equal(codes, y) or codes.min() < 0 or codes.max() >= limit:
        raise ArgumentError(
            f"{argument}: the {compiled.task} loss {compiled.loss} needs class labels 0..{limit - 1}, got values from"
            f" {y.min()!r} to {y.max()!r}; encode the labels as integers 0..{limit - 1}"
        )
    return codes


def _check_classes(y: np.ndarray, compiled) -> None:
    """Every class of the model's outputs among the training rows: the split numbers the classes it sees."""
    if compiled.task == "regression":
        return
    expected = compiled.output_units if compiled.task == "multiclass" else 2
    missing = sorted(set(range(expected)) - set(np.unique(y).tolist()))
    if missing:
        raise ArgumentError(
            f"y: classes {missing} of the model's {expected} never appear in the training rows; the doctor needs"
            " every class the model predicts among them (add rows of those classes)"
        )


def _write_inputs(out: Path, model, shape, compiled, train, validation) -> Path:
    """The wrapped model and the rows, written to a staging folder and renamed: a folder is whole or absent."""
    from plateau_doctor.data.sources.arrays import write_npz
    from plateau_doctor.training.user_model import wrap_for_rows

    key = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"
    folder = out / INPUTS_DIR / key
    staging = out / INPUTS_DIR / f".{key}.staging"
    staging.mkdir(parents=True)
    try:
        wrapped = wrap_for_rows(model, shape, compiled)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wrapped.save(str(staging / "model.keras"))
                _reload(staging / "model.keras")
        except Exception as error:  # Keras raises many kinds here; all mean "this model cannot be cloned from a file"
            raise ArgumentError(
                f"model: {model.name} cannot be saved and loaded again as a .keras file ({str(error)[:200]}); every"
                " branch trains a clone loaded from one, so register custom layers with"
                " keras.saving.register_keras_serializable and give them get_config"
            ) from None
        write_npz(staging / f"{_slug(model.name)}.npz", train, validation)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(out / INPUTS_DIR)
        raise
    return folder


def _reload(path: Path) -> None:
    import keras

    keras.saving.load_model(str(path), compile=False, safe_mode=True)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:40] or "model"


def _config(folder: Path, name: str, compiled, out, epochs, batch_size, seed, scale_features, validation_fraction,
            overrides: dict[str, Any]):
    from plateau_doctor.api import resolve_config

    try:
        return resolve_config({
            "data": {"path": str(folder / f"{_slug(name)}.npz"), "target": "y", "task": compiled.task, "seed": seed,
                     "validation_fraction": validation_fraction},
            "preprocessing": {"scale_features": scale_features},
            "model": {"path": str(folder / "model.keras"), "rebuild": False},
            "training": {"optimizer": compiled.optimizer, "learning_rate": float(f"{compiled.learning_rate:.6g}"),
                         "clipnorm": compiled.clipnorm, "optimizer_settings": compiled.optimizer_settings,
                         "loss": compiled.loss, "epochs": epochs, "batch_size": batch_size},
            "output": {"dir": str(out)},
        }, **overrides)
    except ArgumentError:
        raise
    except Exception as error:  # a ConfigError names the config field; say which argument set it
        raise ArgumentError(f"repair() arguments: {error}") from None


def _kept_model(result: DoctorResult, name: str, shape, compiled):
    """The kept model out of the run's files, as the user's network (see ``user_model.unwrap_kept``)."""
    import json

    from plateau_doctor.training.user_model import unwrap_kept

    path = result.paths.get("model")
    if path is None:
        return None
    preprocessing_file = result.run_dir / "preprocessing.json" if result.run_dir is not None else None
    preprocessing = json.loads(preprocessing_file.read_text()) if preprocessing_file and preprocessing_file.is_file() else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return unwrap_kept(path, name, shape, compiled, preprocessing)

"""A user's own compiled Keras model, for ``plateau_doctor.repair``: read its compile, wrap it, unwrap the kept one.

The pipeline trains a saved model (``model.path``) on flat feature rows. :func:`read_compiled`
reads what the user compiled (optimizer class, rate and other settings, loss, task);
:func:`wrap_for_rows` puts the model, weights and all, behind a Reshape from the flat rows
to its own input shape (and a softmax or sigmoid when its loss takes logits), so that every
branch loads its own clone of the user's network from one file; :func:`unwrap_kept` takes the
kept model's inner network out again, recompiled with the user's loss and metrics and the
kept optimizer settings, ready for the user's own arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from plateau_doctor.engine.vocabulary import BINARY_LOSSES, MULTICLASS_LOSSES, canonical_loss
from plateau_doctor.errors import ArgumentError

WRAPPER_NAME = "plateau_doctor_rows"
LOGITS_LAYER = "from_logits"

# KL divergence compares the outputs with one-hot rows: a classification over the classes too.
CLASSES_LOSSES = MULTICLASS_LOSSES | {"kl_divergence"}
# Settings of a Loss object that the config's loss identifier carries (their defaults) or the wrapper
# stands in for (from_logits); any other non-default setting is noted as not carried.
_LOSS_DEFAULTS = {"reduction": "sum_over_batch_size", "from_logits": False, "label_smoothing": 0.0, "axis": -1,
                  "ignore_class": None, "dtype": None}


@dataclass
class Compiled:
    """What the user's ``model.compile`` said, as config values."""

    optimizer: str
    learning_rate: float
    clipnorm: float | None
    optimizer_settings: dict[str, Any]
    loss: str
    from_logits: bool
    task: str
    output_units: int
    input_shape: tuple[int | None, ...]
    compile_config: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def check_model(model):
    """The model itself, or the one a zero-argument function returns; ArgumentError naming ``model``."""
    import keras

    if callable(model) and not isinstance(model, keras.Model):
        try:
            model = model()
        except TypeError as error:
            raise ArgumentError(
                f"model: calling {getattr(model, '__name__', model)!r} with no arguments failed ({error}); pass a"
                " compiled keras.Model or a function of no arguments that returns one"
            ) from None
    if not isinstance(model, keras.Model):
        raise ArgumentError(
            f"model: got {type(model).__name__}, not a Keras model; pass a compiled keras.Model (Keras 3) or a"
            " function of no arguments that returns one"
        )
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None or model.loss is None:
        raise ArgumentError(
            f"model: {model.name} is not compiled; call model.compile(optimizer=..., loss=...) first: the"
            " doctor trains with your optimizer, learning rate and loss"
        )
    return model


def read_compiled(model) -> Compiled:
    """The optimizer, loss, task and shapes of a compiled single-input, single-output model."""
    if len(getattr(model, "inputs", None) or []) != 1 or len(getattr(model, "outputs", None) or []) != 1:
        raise ArgumentError(
            f"model: {model.name} has {len(getattr(model, 'inputs', None) or [])} inputs and"
            f" {len(getattr(model, 'outputs', None) or [])} outputs; repair() takes a built model with one input"
            " and one output (give it a keras.Input, or call it on a batch once)"
        )
    notes: list[str] = []
    optimizer, learning_rate, clipnorm, settings = _read_optimizer(model.optimizer, notes)
    loss, from_logits = _read_loss(model.loss, notes)
    units = int(model.outputs[0].shape[-1] or 1)
    task = _task(loss, units)
    return Compiled(
        optimizer=optimizer, learning_rate=learning_rate, clipnorm=clipnorm, optimizer_settings=settings,
        loss=loss, from_logits=from_logits, task=task, output_units=units,
        input_shape=tuple(model.inputs[0].shape[1:]), compile_config=model.get_compile_config(), notes=notes,
    )


def _read_optimizer(optimizer, notes: list[str]) -> tuple[str, float, float | None, dict[str, Any]]:
    import keras

    identifier = type(optimizer).__name__.lower()
    try:
        known = type(keras.optimizers.get(identifier)) is type(optimizer)
    except (ValueError, TypeError):
        known = False
    if not known:
        raise ArgumentError(
            f"model: its optimizer {type(optimizer).__name__} is not one of Keras' built-in optimizers; compile"
            " with one (keras.optimizers.SGD, Adam, RMSprop, AdamW, ...), whose settings the branches can vary"
        )
    config = optimizer.get_config()
    rate = config.get("learning_rate")
    if not isinstance(rate, (int, float)):
        rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        notes.append(f"the learning-rate schedule is not carried: the branches start from its current rate {rate:.3g}")
    settings = {key: value for key, value in config.items() if key not in ("name", "learning_rate", "clipnorm")
                and (value is None or isinstance(value, (bool, int, float, str)))}
    return identifier, float(rate), config.get("clipnorm"), {"class_name": type(optimizer).__name__, **settings}


def _read_loss(loss, notes: list[str]) -> tuple[str, bool]:
    import keras

    if isinstance(loss, (list, tuple, dict)):
        raise ArgumentError("model: it is compiled with several losses; repair() takes one output and one loss")
    from_logits = False
    if isinstance(loss, str):
        name = loss
    elif isinstance(loss, keras.losses.Loss):
        name = canonical_loss(type(loss).__name__)
        config = loss.get_config()
        from_logits = bool(config.get("from_logits", False))
        others = {key: value for key, value in config.items()
                  if key != "name" and key in _LOSS_DEFAULTS and value != _LOSS_DEFAULTS[key] and key != "from_logits"}
        others.update({key: value for key, value in config.items() if key not in _LOSS_DEFAULTS and key != "name"})
        if others:
            notes.append(f"the loss settings {others} are not carried: the branches train with {name}'s defaults")
    else:
        name = getattr(loss, "__name__", type(loss).__name__)
    try:
        resolved = keras.losses.get(name)
    except (ValueError, TypeError):
        resolved = None
    if resolved is None:
        raise ArgumentError(
            f"model: its loss {loss!r} is not one of Keras' built-in losses; compile with one (e.g."
            " 'sparse_categorical_crossentropy', keras.losses.MeanSquaredError()) so that the branches can use it"
        )
    return getattr(resolved, "__name__", name), from_logits


def _task(loss: str, units: int) -> str:
    if loss in CLASSES_LOSSES:
        if units < 2:
            raise ArgumentError(f"model: the loss {loss} needs one output unit per class, but the model has {units}")
        return "multiclass"
    if loss in BINARY_LOSSES:
        if units != 1:
            raise ArgumentError(
                f"model: {loss} on {units} output units is multi-label; repair() takes one label per row (binary"
                " with 1 unit, or multiclass with a softmax and a categorical loss)"
            )
        return "binary"
    if units != 1:
        raise ArgumentError(f"model: {units} regression outputs; repair() takes a single target per row")
    return "regression"


def wrap_for_rows(model, shape: tuple[int, ...], compiled: Compiled):
    """The model behind a Reshape from flat rows (and a softmax or sigmoid when the loss takes logits)."""
    import keras

    n_features = int(np.prod(shape))
    inputs = keras.Input(shape=(n_features,), name="features")
    outputs = model(keras.layers.Reshape(tuple(shape), name="to_input_shape")(inputs))
    if compiled.from_logits:
        activation = "softmax" if compiled.task == "multiclass" else "sigmoid"
        outputs = keras.layers.Activation(activation, name=LOGITS_LAYER)(outputs)
    return keras.Model(inputs, outputs, name=WRAPPER_NAME)


def unwrap_kept(path, inner_name: str, shape: tuple[int, ...], compiled: Compiled, preprocessing: dict[str, Any]):
    """The user's network out of the kept wrapper, with the run's scaling baked in, compiled as the user did.

    When the kept recipe scaled the features (the preprocessing remedy), a Normalization layer in front
    does the same on the user's own inputs; a scaled regression target gets the inverse behind it.
    """
    import keras

    kept = keras.saving.load_model(str(path), compile=True, safe_mode=True)
    network = kept.get_layer(inner_name)
    features = (preprocessing or {}).get("feature_scaler")
    target = (preprocessing or {}).get("target_scaler")
    if features or target:
        inputs = keras.Input(shape=tuple(shape), name="inputs")
        x = inputs
        if features:
            mean = np.asarray(features["mean"], dtype="float32").reshape(shape)
            scale = np.asarray(features["scale"], dtype="float32").reshape(shape)
            axes = tuple(range(1, len(shape) + 1))  # one mean and scale per position, as the run's scaler
            x = keras.layers.Normalization(axis=axes, mean=mean, variance=scale**2, name="doctor_scaling")(x)
        x = network(x)
        if target:
            x = keras.layers.Rescaling(_scalar(target["scale"]), offset=_scalar(target["mean"]), name="doctor_target_scale")(x)
        network = keras.Model(inputs, x, name=f"{inner_name}_repaired")
    config = dict(compiled.compile_config)
    optimizer = getattr(kept, "optimizer", None)
    if optimizer is not None:
        config["optimizer"] = keras.optimizers.serialize(type(optimizer).from_config(optimizer.get_config()))
    network.compile_from_config(config)
    return network


def _scalar(value) -> float:
    return float(np.asarray(value, dtype=float).reshape(-1)[0])

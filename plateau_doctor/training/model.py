"""Build, compile or load the user's Keras model, with Keras 3's own API only.

Whatever must be backend-specific (gradients) lives in ``plateau_doctor.training.backends``.
"""

from __future__ import annotations

import dataclasses
import warnings
import zipfile
from typing import Any

import numpy as np

from plateau_doctor.config import DoctorConfig
from plateau_doctor.errors import ConfigError
from plateau_doctor.schema import ResolvedSetup

AUTO_OUTPUT_ACTIVATION = {"binary": "sigmoid", "multiclass": "softmax", "regression": "linear"}
AUTO_LOSS = {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy", "regression": "mean_squared_error"}
# Losses that take class codes; every other loss on a multi-unit output gets one-hot labels.
SPARSE_LOSSES = {"sparse_categorical_crossentropy", "sparse_categorical_focal_crossentropy"}


def keras():
    """Import Keras lazily: the pure stages must not pay for TensorFlow's start-up."""
    import keras as _keras

    return _keras


def check_identifiers(config: DoctorConfig) -> None:
    """Check every Keras identifier in the config against Keras itself; raise ConfigError naming the field."""
    k = keras()
    checks = [
        ("model.activation", config.model.activation, k.activations.get),
        ("training.optimizer", config.training.optimizer, lambda name: k.optimizers.get(name)),
        ("model.kernel_initializer", config.model.kernel_initializer, k.initializers.get),
    ]
    if config.model.output_activation != "auto":
        checks.append(("model.output_activation", config.model.output_activation, k.activations.get))
    if config.training.loss != "auto":
        checks.append(("training.loss", config.training.loss, k.losses.get))
    for field, value, getter in checks:
        try:
            resolved = getter(value)
        except (ValueError, TypeError, KeyError) as error:
            raise ConfigError(
                f"{field}: {value!r} is not a Keras identifier Keras knows ({_first_line(error)}); "
                "use a name such as those in the Keras docs (e.g. relu, adam, he_uniform, mean_squared_error)"
            ) from None
        if resolved is None:
            raise ConfigError(f"{field}: {value!r} is not a Keras identifier Keras knows")


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:160] if lines else error.__class__.__name__


def initializer_name(identifier: str | dict[str, Any]) -> str:
    if isinstance(identifier, dict):
        return str(identifier.get("class_name", identifier))
    return identifier


def resolve_setup(config: DoctorConfig, task: str, n_classes: int, n_features: int) -> ResolvedSetup:
    """Replace every ``auto`` with what will be built."""
    output_units = n_classes if task == "multiclass" else 1
    output_activation = (
        AUTO_OUTPUT_ACTIVATION[task] if config.model.output_activation == "auto" else config.model.output_activation
    )
    loss = AUTO_LOSS[task] if config.training.loss == "auto" else config.training.loss
    return ResolvedSetup(
        task=task,
        n_classes=n_classes,
        output_units=output_units,
        output_activation=output_activation,
        loss=loss,
        hidden_units=list(config.model.hidden_units),
        hidden_activation=config.model.activation,
        kernel_initializer=initializer_name(config.model.kernel_initializer),
        optimizer=config.training.optimizer,
        learning_rate=config.training.learning_rate,
        batch_size=config.training.batch_size,
        dropout=config.model.dropout,
        l2=config.model.l2,
        epochs=config.training.epochs,
        weight_decay=configured_weight_decay(config),
    )


def configured_weight_decay(config: DoctorConfig) -> float:
    """The decoupled weight decay the branch's optimizer gets: the user's own setting (read from
    their compile by ``plateau_doctor.repair``) while the plan keeps their optimizer class."""
    if not config.training.optimizer_settings:
        return 0.0  # the config's optimizer at Keras' defaults: no decay (and no Keras import to say so)
    template = keras().optimizers.get(config.training.optimizer)
    decay = own_settings(config.training.optimizer_settings, template, {}).get("weight_decay")
    return float(decay) if isinstance(decay, (int, float)) else 0.0


def setup_without_building(config: DoctorConfig, task: str, n_classes: int, n_features: int) -> ResolvedSetup:
    """The set-up from the config alone, no model built or compiled (a saved model is only read).

    A builder's model is described by the settings it is given: what it does with them is
    its own (``builder``).
    """
    if config.model.path:
        return load_user_model(config, task, n_classes, n_features)[1]
    return resolve_setup(config, task, n_classes, n_features)


def build_model(config: DoctorConfig, setup: ResolvedSetup, n_features: int):
    """The user's network: their ``model.builder``'s, or a dense stack from ``model:``."""
    if config.model.builder:
        return build_from_builder(config, setup, n_features)
    return build_dense(config, setup, n_features)


def build_from_builder(config: DoctorConfig, setup: ResolvedSetup, n_features: int):
    """The builder's model on the flat feature rows the pipeline feeds: a Reshape in front when the
    data are arrays of another shape (``.npz``, see ``arrays``)."""
    from plateau_doctor.data.sources.npz import feature_shape
    from plateau_doctor.training.builder import call_builder

    shape = feature_shape(config.data.path) or (n_features,)
    model = call_builder(config, setup, shape)
    if tuple(shape) == (n_features,):
        return model
    k = keras()
    inputs = k.Input(shape=(n_features,), name="features")
    outputs = model(k.layers.Reshape(shape, name="to_input_shape")(inputs))
    return k.Model(inputs, outputs, name=f"{model.name}_on_rows")


def build_dense(config: DoctorConfig, setup: ResolvedSetup, n_features: int):
    """A dense network from ``model:``. Activations are separate layers so that probes can read them."""
    k = keras()
    m = config.model
    regularizer = k.regularizers.L2(m.l2) if m.l2 > 0 else None
    inputs = k.Input(shape=(n_features,), name="features")
    x = inputs
    for index, units in enumerate(m.hidden_units, start=1):
        x = k.layers.Dense(
            units,
            kernel_initializer=k.initializers.get(m.kernel_initializer),
            kernel_regularizer=regularizer,
            use_bias=not m.batch_norm,
            name=f"hidden_{index}",
        )(x)
        if m.batch_norm:
            x = k.layers.BatchNormalization(name=f"batch_norm_{index}")(x)
        x = k.layers.Activation(m.activation, name=f"activation_{index}")(x)
        if m.dropout > 0:
            x = k.layers.Dropout(m.dropout, seed=config.data.seed + index, name=f"dropout_{index}")(x)
    outputs = k.layers.Dense(
        setup.output_units,
        activation=setup.output_activation,
        kernel_initializer=k.initializers.get(m.kernel_initializer),
        kernel_regularizer=regularizer,
        name="output",
    )(x)
    return k.Model(inputs, outputs, name="user_model")


def make_optimizer(config: DoctorConfig):
    k = keras()
    settings: dict[str, Any] = {"learning_rate": config.training.learning_rate}
    if config.training.clipnorm is not None:
        settings["clipnorm"] = config.training.clipnorm
    template = k.optimizers.get(config.training.optimizer)
    return template.__class__(**{**own_settings(config.training.optimizer_settings, template, settings), **settings})


def own_settings(saved: dict[str, Any] | None, template, settings: dict[str, Any]) -> dict[str, Any]:
    """The user's other optimizer settings (momentum, ...), while the plan keeps their optimizer class.

    A remedy that switches the class gets that class's defaults: SGD's momentum means nothing to Adam.
    The rate and clipnorm are the plan's; Keras refuses a second kind of clipping beside clipnorm.
    """
    extra = dict(saved or {})
    if extra.pop("class_name", None) != type(template).__name__:
        return {}
    dropped = {"name", "learning_rate", "clipnorm"} | ({"clipvalue", "global_clipnorm"} if "clipnorm" in settings else set())
    return {key: value for key, value in extra.items() if key not in dropped}


def compile_model(model, config: DoctorConfig, setup: ResolvedSetup) -> None:
    model.compile(optimizer=make_optimizer(config), loss=setup.loss)


def check_model_file(config: DoctorConfig, n_features: int | None = None):
    """Fail early, naming model.path, when the saved model is missing, unloadable or unusable here.

    With ``n_features`` it also checks the model's input width and that it has a Dense
    layer, the two things ``load_user_model`` needs, so that a bad file is refused before
    Prefect starts rather than after it. Returns the loaded model (None without model.path).
    """
    if not config.model.path:
        return None
    model = _load_saved(config.model.path)
    if n_features is not None:
        _check_usable(model, config.model.path, n_features)
    return model


def _check_usable(model, path: str, n_features: int) -> None:
    inputs = getattr(model, "inputs", None) or []
    if len(inputs) != 1:
        raise ConfigError(
            f"model.path: {path} takes {len(inputs)} inputs; plateau-doctor feeds one table, so save a model "
            "with a single input of shape (n_features,)"
        )
    width = inputs[0].shape[-1]
    if width != n_features:
        raise ConfigError(
            f"model.path: {path} takes {width} features but the data has {n_features} feature columns; "
            "set data.features to the columns the model was trained on, in that order"
        )
    if not _has_dense(model):
        raise ConfigError(
            f"model.path: {path} has no Dense layer; plateau-doctor diagnoses dense networks, so point model.path "
            "at one or leave it null to build the model from the model section"
        )


def _has_dense(model) -> bool:
    """A Dense layer anywhere, nested models included: plateau_doctor.repair saves the user's model inside a
    reshaping wrapper, whose own top-level layers hold none."""
    from plateau_doctor.training.describe import all_layers

    return any(isinstance(layer, keras().layers.Dense) for layer in all_layers(model))


def check_model_path(config: DoctorConfig) -> None:
    """The file checks of ``model.path`` that need no Keras: it exists, is a file, and looks like a model."""
    if config.model.path:
        _check_model_path(config.model.path)


def _check_model_path(path: str) -> None:
    from pathlib import Path

    file = Path(path)
    if not file.is_file():
        what = "is a folder" if file.is_dir() else "does not exist"
        raise ConfigError(f"model.path: {path} {what}; point it at a .keras file saved with model.save()")
    if file.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise ConfigError(
            f"model.path: {path} has the suffix {file.suffix!r}; save the model with model.save('name.keras') "
            "and point model.path at that file"
        )
    if file.suffix.lower() == ".keras" and not zipfile.is_zipfile(file):
        # Keras says "File not found" for a .keras file that exists but is no zip archive.
        raise ConfigError(
            f"model.path: {path} exists but is not a Keras model archive (a .keras file is a zip); "
            "save the model again with model.save('name.keras')"
        )


def _load_saved(path: str):
    _check_model_path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras().saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds here; all mean "this file is not usable"
        raise ConfigError(
            f"model.path: {path} could not be loaded as a Keras model ({_first_line(error)}); "
            "save it again with model.save('name.keras') in Keras 3"
        ) from None


def check_loss_fits_task(config: DoctorConfig, task: str, n_classes: int, output_units: int | None = None) -> None:
    """Refuse a loss that cannot train this task at all (it raises or gives NaN on well-formed labels).

    A loss that merely fits the task badly (mean squared error on classes) is left to the
    diagnosis: it trains, and ``loss_mismatch`` explains it. One that cannot be computed
    (sparse categorical cross-entropy on one output unit, Keras' abstract ``Loss``,
    ``ctc`` on a table) would only crash the baseline fit after Prefect started.
    """
    if config.training.loss == "auto":
        return
    setup = resolve_setup(config, task, n_classes, n_features=1)
    if output_units is not None:
        setup = dataclasses.replace(setup, output_units=int(output_units))
    n = max(4, setup.output_units)
    codes = np.arange(n) % max(n_classes, 2) if task != "regression" else np.linspace(-1.5, 2.5, n)
    labels = labels_for_loss(codes, setup)
    if task == "regression":
        predicted = np.linspace(-1.0, 1.0, n, dtype=np.float32).reshape(-1, 1).repeat(setup.output_units, axis=1)
    else:
        predicted = np.full((n, setup.output_units), 1.0 / max(setup.output_units, 2), dtype=np.float32)
    fits = {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy", "regression": "mean_squared_error"}
    advice = f"use loss: auto (here {fits[task]}) or a loss that takes {_label_words(task, n_classes)}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = np.asarray(keras().losses.get(config.training.loss)(labels, predicted), dtype=float)
    except Exception as error:  # any failure here is a failure of every epoch's first step
        reason = _first_line(error) if str(error).strip() else f"{error.__class__.__name__}: it is abstract or incomplete"
        raise ConfigError(
            f"training.loss: {config.training.loss!r} cannot train a {task} target ({_short(reason)}); {advice}"
        ) from None
    if not np.all(np.isfinite(value)):
        raise ConfigError(
            f"training.loss: {config.training.loss!r} gives NaN or infinity on {task} labels; {advice}"
        )


def _label_words(task: str, n_classes: int) -> str:
    if task == "regression":
        return "real-valued targets"
    return f"class labels 0..{n_classes - 1} on {1 if task == 'binary' else n_classes} output unit(s)"


def _short(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    if "}}" in text:  # TensorFlow prefixes op errors with "{{function_node ...}}"
        text = text.rsplit("}}", 1)[1].strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def load_user_model(config: DoctorConfig, task: str, n_classes: int, n_features: int):
    """Load ``model.path`` with Keras' safe mode on, and describe what it is."""
    from plateau_doctor.training.describe import describe_model, initial_gain

    path = config.model.path
    model = _load_saved(path)
    if model.inputs and model.inputs[0].shape[-1] != n_features:
        raise ConfigError(
            f"model.path: the model takes {model.inputs[0].shape[-1]} features but the data has {n_features}; "
            "point data.features at the columns the model was trained on"
        )
    if not _has_dense(model):
        raise ConfigError(f"model.path: {path} has no Dense layer; plateau-doctor diagnoses dense networks")
    # What it will be trained with is the config's: the file is loaded without its compile state.
    setup = describe_model(
        model,
        task,
        AUTO_LOSS[task] if config.training.loss == "auto" else config.training.loss,
        n_classes=n_classes,
        hidden_default=config.model.activation,
        kernel_initializer="loaded",
        optimizer=config.training.optimizer,
        learning_rate=config.training.learning_rate,
        batch_size=config.training.batch_size,
        epochs=config.training.epochs,
        weight_decay=configured_weight_decay(config),
        initial_gain=initial_gain(model),  # training starts from the saved kernels, as the callback's fit from its own
    )
    return model, setup


def labels_for_loss(codes: np.ndarray, setup: ResolvedSetup) -> np.ndarray:
    """Shape the target for the loss: codes, one-hot, or a column."""
    if setup.task == "multiclass" and setup.loss not in SPARSE_LOSSES and setup.output_units > 1:
        return np.eye(setup.output_units, dtype=np.float32)[codes]
    if setup.task == "multiclass":
        return codes.astype(np.int64)
    return np.asarray(codes, dtype=np.float32).reshape(-1, 1)

"""Read a Keras model as it is into the set-up the diagnosis reads: one reader for every way in.

The pipeline reads a saved ``model.path`` with it (``model.load_user_model``) and the
callback reads the user's model in ``fit`` (``callback.DoctorCallback``): the same layers
count as hidden, the same activation is named, whichever way the model came. Nothing is
rebuilt or compiled here. Works on Sequential, functional and subclassed models and on any
layer type (nested models are flattened).
"""

from __future__ import annotations

import math
from typing import Any

from plateau_doctor.engine.vocabulary import CONSTANT_INITIALIZERS, RELU_FAMILY, in_family
from plateau_doctor.schema import ResolvedSetup


def all_layers(model) -> list:
    """Every leaf layer in call order (nested models flattened)."""
    flat = []
    for layer in getattr(model, "layers", []):
        inner = getattr(layer, "layers", None)
        flat.extend(all_layers(layer) if inner else [layer])
    return flat


def _has_matrix(weights) -> bool:
    return any(len(w.shape) >= 2 for w in weights)


def weighted_layers(model) -> list:
    """Leaf layers with a trainable matrix (Dense, Conv, recurrent, Embedding), in call order."""
    return [layer for layer in all_layers(model) if _has_matrix(layer.trainable_weights)]


def frozen_layers(model) -> int:
    """Leaf layers whose matrices the fit does not train (``layer.trainable = False``, a frozen
    base): the trainable part sees their features, not the inputs."""
    return sum(
        1 for layer in all_layers(model)
        if _has_matrix(layer.weights) and not _has_matrix(layer.trainable_weights)
    )


def activation_name(layer) -> str:
    """The name of a layer's activation ('' when it has none): Dense(activation=...), Activation, ReLU."""
    import keras

    if isinstance(layer, keras.layers.ReLU):
        return "relu"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") if activation is not None else ""


def output_layer(model):
    layers = all_layers(model)
    return layers[-1] if layers else None


def output_units(model) -> int:
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        layer = output_layer(model)
        return int(getattr(layer, "units", 1) or 1)


def output_activation(model) -> str:
    """The last layer's activation ('softmax' for a Softmax layer, 'linear' for none)."""
    import keras

    layer = output_layer(model)
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return (activation_name(layer) if layer is not None else "") or "linear"


def hidden_activation(model, default: str = "unknown") -> str:
    """The first non-linear activation before the output layer; 'linear' when every hidden layer
    is linear; ``default`` when no hidden layer names one.

    A Dense layer followed by its own Activation layer reads as that activation, so a network
    built with separate activation layers (as the pipeline builds them) is not taken for linear.
    """
    names = [name for name in (activation_name(layer) for layer in all_layers(model)[:-1]) if name]
    nonlinear = [name for name in names if name != "linear"]
    if nonlinear:
        return nonlinear[0]
    return "linear" if names else default


def hidden_widths(model) -> list[int]:
    """Units, filters or embedding width of every weighted layer but the output: the network's size."""
    widths = []
    for layer in weighted_layers(model)[:-1]:
        width = getattr(layer, "units", None) or getattr(layer, "filters", None) or getattr(layer, "output_dim", None)
        if width:
            widths.append(int(width))
    return widths


def dropout_rate(model) -> float:
    """The largest rate of the model's dropout layers (Dropout, SpatialDropout, GaussianDropout...); 0 without one."""
    rates = [getattr(layer, "rate", 0.0) for layer in all_layers(model) if "Dropout" in type(layer).__name__]
    return max((float(rate) for rate in rates if isinstance(rate, (int, float))), default=0.0)


def input_noise(model) -> float:
    """The largest stddev of the GaussianNoise layers that act on the inputs (before the first layer
    with trainable matrices); 0 without one."""
    noise = 0.0
    for layer in all_layers(model):
        if _has_matrix(layer.trainable_weights):
            break
        stddev = getattr(layer, "stddev", None) if type(layer).__name__ == "GaussianNoise" else None
        if isinstance(stddev, (int, float)):
            noise = max(noise, float(stddev))
    return noise


def _as_written(value: float) -> float:
    """A float32 setting read back as the user wrote it: a variable holds 1e-3 as 0.0010000000475,
    and keras.regularizers.L1 holds 0.02 as 0.0199999996; seven significant digits give it back."""
    return float(f"{value:.7g}")


def _largest_factor(model, factor: str, attributes: tuple[str, ...]) -> float:
    """The largest ``factor`` ("l1", "l2") of the regularizers the layers carry as ``attributes``; 0
    without one."""
    factors = []
    for layer in all_layers(model):
        for attribute in attributes:
            try:
                factors.append(_as_written(float(getattr(getattr(layer, attribute, None), factor, None))))
            except (TypeError, ValueError):
                continue
    return max(factors, default=0.0)


def l2_factor(model) -> float:
    """The largest L2 factor on a layer's kernel (``kernel_regularizer=L2(...)`` or ``L1L2``); 0 without one.
    The penalty the causes weigh is on the kernels, as the pipeline's own ``model.l2`` puts it."""
    return _largest_factor(model, "l2", ("kernel_regularizer",))


def l1_factor(model) -> float:
    """The largest L1 factor on a layer's kernel or embeddings (``L1(...)`` or ``L1L2``); 0 without one."""
    return _largest_factor(model, "l1", ("kernel_regularizer", "embeddings_regularizer"))


def kernel_initializer_name(model) -> str:
    """The hidden layers' kernel initializer in Keras' snake_case ('glorot_uniform', 'zeros'...): a
    constant one wherever a hidden layer has it (it makes that layer's units identical), else the
    first hidden layer's; "the model's own" when no hidden layer names one."""
    import re

    names = []
    for layer in weighted_layers(model)[:-1]:
        initializer = getattr(layer, "kernel_initializer", None)
        if initializer is not None:
            names.append(re.sub(r"(?<!^)(?=[A-Z])", "_", type(initializer).__name__).lower())
    constant = [name for name in names if in_family(name, CONSTANT_INITIALIZERS)]
    return (constant or names or ["the model's own"])[0]


KERNEL_SAMPLE = 65536
"""Weights per kernel :func:`initial_gain` reads (every one of a smaller kernel)."""


def initial_gain(model) -> float:
    """How much the kernels as they are now scale a signal's spread on its way through the network:
    the product over its Dense and convolution layers of sqrt(fan_in * mean(w^2) * c), c = 1/2 for a
    ReLU-family layer (it zeroes half of a centred input), else 1 (Glorot and Bengio 2010, He et al.
    2015). A fan-scaled initializer keeps each factor near 1; the backward pass compounds the same
    factors, so a gain of 1e3 at the start is a gradient 1e3 times its size at the first step. 0 when
    it cannot be read: fewer than two such layers, or a normalization layer that resets the scale."""
    import keras
    import numpy as np

    layers = all_layers(model)
    normalizing = (keras.layers.BatchNormalization, keras.layers.LayerNormalization, keras.layers.GroupNormalization)
    if any(isinstance(layer, normalizing) for layer in layers):
        return 0.0
    gain, counted = 1.0, 0
    for index, layer in enumerate(layers):
        if not isinstance(layer, (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
            continue
        if not layer.built:
            return 0.0  # a subclassed model builds its layers on the first batch: nothing to read yet
        shape = tuple(int(d) for d in layer.kernel.shape)
        # A strided sample of the kernel: its mean square to ~1%, without copying a VGG's 100M weights.
        step = max(1, math.prod(shape) // KERNEL_SAMPLE)
        sample = keras.ops.convert_to_numpy(keras.ops.reshape(layer.kernel, (-1,))[::step]).astype(np.float64)
        activation = activation_name(layer)
        if activation in ("", "linear") and index + 1 < len(layers) and not layers[index + 1].weights:
            activation = activation_name(layers[index + 1])  # Dense, then its own Activation layer
        halved = 0.5 if in_family(activation, RELU_FAMILY) else 1.0
        gain *= math.sqrt(math.prod(shape[:-1]) * float(np.mean(sample**2)) * halved)
        counted += 1
    return gain if counted >= 2 and math.isfinite(gain) else 0.0


def token_vocabulary(model) -> int | None:
    """The vocabulary size when the model's first weighted layer is an Embedding (its inputs are
    token ids, categories rather than measurements); else None."""
    import keras

    layers = weighted_layers(model)
    if layers and isinstance(layers[0], keras.layers.Embedding):
        return int(layers[0].input_dim)
    return None


def _optimizer_number(model, name: str) -> float:
    value = getattr(getattr(model, "optimizer", None), name, None)
    try:
        return float(value) if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def weight_decay(model) -> float:
    """The optimizer's decoupled weight decay (AdamW's, or ``weight_decay=`` on any Keras 3
    optimizer); 0 without one."""
    return _optimizer_number(model, "weight_decay")


def momentum(model) -> float:
    """The optimizer's momentum (Keras' SGD and RMSprop carry one); 0 without one."""
    return _optimizer_number(model, "momentum")


def learning_rate(model) -> float:
    """The optimizer's current learning rate; NaN when the model has none it can read."""
    import keras

    try:
        rate = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    except (AttributeError, TypeError, ValueError):
        return math.nan
    # Read back as written, so it compares equal to the bounds it sits on.
    return _as_written(rate) if math.isfinite(rate) else rate


def describe_model(model, task: str, loss: str, n_classes: int | None = None, hidden_default: str = "unknown",
                   **known: Any) -> ResolvedSetup:
    """The set-up of ``model`` as it is. ``known`` overrides what the caller knows better than the
    model tells (the pipeline: its config's optimizer, rate and batch size)."""
    units = output_units(model)
    optimizer = getattr(model, "optimizer", None)
    if n_classes is None:
        n_classes = units if task == "multiclass" else (2 if task == "binary" else 0)
    values: dict[str, Any] = dict(
        task=task,
        n_classes=n_classes,
        output_units=units,
        output_activation=output_activation(model),
        loss=loss,
        hidden_units=hidden_widths(model),
        hidden_activation=hidden_activation(model, hidden_default),
        kernel_initializer=kernel_initializer_name(model),
        optimizer=type(optimizer).__name__.lower() if optimizer is not None else "unknown",
        learning_rate=learning_rate(model),
        batch_size=0,
        from_saved_model=True,
        dropout=dropout_rate(model),
        l2=l2_factor(model),
        l1=l1_factor(model),
        weight_decay=weight_decay(model),
        momentum=momentum(model),
        input_noise=input_noise(model),
        frozen_layers=frozen_layers(model),
    )
    values.update(known)
    return ResolvedSetup(**values)

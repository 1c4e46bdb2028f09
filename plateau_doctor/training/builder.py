"""``model.builder``: the user's own architecture, built by their function from the resolved settings.

``model.builder: "package.module:function"``. The function is called with keyword
arguments, the settings the doctor resolved (:data:`SETTINGS`): ``input_shape``,
``outputs``, ``task``, ``hidden_units``, ``activation``, ``output_activation``,
``initializer``, ``dropout``, ``l2`` and ``batch_norm``. It may use or ignore each one,
and returns a Keras model (not compiled: the doctor compiles it with the optimizer, rate
and loss it is testing).

A builder that takes ``**kwargs`` receives every setting. One without it receives only
the parameters it names, and a remedy that changes a setting it does not name cannot act
through it: :func:`split_plans` skips that remedy with the reason. Training-side remedies
(learning rate, optimizer, batch size, scaling, class weights, early stopping, clipping)
change no builder setting and always apply.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Callable

from plateau_doctor.errors import ConfigError

SETTINGS: dict[str, str] = {
    "model.hidden_units": "hidden_units",
    "model.activation": "activation",
    "model.output_activation": "output_activation",
    "model.kernel_initializer": "initializer",
    "model.dropout": "dropout",
    "model.l2": "l2",
    "model.batch_norm": "batch_norm",
}
"""Config field -> the builder's keyword argument; ``input_shape``, ``outputs`` and ``task`` come from the data."""


def load_builder(spec: str) -> Callable[..., Any]:
    """Import ``package.module:function``; ConfigError naming model.builder when it cannot be."""
    module_name, _, function_name = spec.partition(":")
    if not module_name or not function_name:
        raise ConfigError(f"model.builder: {spec!r} is not 'package.module:function' (a colon before the function name)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(
            f"model.builder: module {module_name!r} cannot be imported ({error}); make it importable"
            " (installed, or on PYTHONPATH)"
        ) from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConfigError(f"model.builder: {module_name} has no function {function_name!r}")
    return function


def accepted_settings(function: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword arguments the builder takes; None when it takes ``**kwargs`` (every setting)."""
    parameters = inspect.signature(function).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return frozenset(
        p.name for p in parameters if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    )


def ignored_fields(overrides: dict[str, Any], accepted: frozenset[str] | None) -> list[str]:
    """The config fields among ``overrides`` that reach the builder through a parameter it does not take."""
    if accepted is None:
        return []
    return [key for key in overrides if key in SETTINGS and SETTINGS[key] not in accepted]


def split_plans(plans: list, accepted: frozenset[str] | None) -> tuple[list, list[tuple[Any, str]]]:
    """(plans the builder can carry out, [(skipped plan, why)]). Pure: plans are read, not changed."""
    kept, skipped = [], []
    for plan in plans:
        ignored = ignored_fields(plan.overrides, accepted)
        if ignored:
            names = ", ".join(f"{SETTINGS[key]} ({key})" for key in ignored)
            skipped.append((plan, f"skipped: the model builder ignores {names}, so this remedy cannot change the model"))
        else:
            kept.append(plan)
    return kept, skipped


def builder_arguments(config, setup, input_shape: tuple[int, ...]) -> dict[str, Any]:
    """Every setting, resolved (no ``auto`` left)."""
    m = config.model
    return {
        "input_shape": tuple(input_shape),
        "outputs": setup.output_units,
        "task": setup.task,
        "hidden_units": list(m.hidden_units),
        "activation": m.activation,
        "output_activation": setup.output_activation,
        "initializer": m.kernel_initializer,
        "dropout": m.dropout,
        "l2": m.l2,
        "batch_norm": m.batch_norm,
    }


def call_builder(config, setup, input_shape: tuple[int, ...]):
    """The builder's model for these settings; ConfigError when it does not return a Keras model."""
    import keras

    function = load_builder(config.model.builder)
    arguments = builder_arguments(config, setup, input_shape)
    accepted = accepted_settings(function)
    if accepted is not None:
        arguments = {name: value for name, value in arguments.items() if name in accepted}
    model = function(**arguments)
    if not isinstance(model, keras.Model):
        raise ConfigError(
            f"model.builder: {config.model.builder} returned {type(model).__name__}, not a Keras model"
        )
    return model

"""The only backend-specific code, one module per Keras backend.

A backend module (``backends/<name>.py``) has ``compile_program(model, probe_model,
program)`` and optionally ``make_deterministic()``. ``program(context, arrays, full)`` is
written once with ``keras.ops`` (``training.probe``); the backend's ``Context`` says how the
model is called on its current weights (``forward``, ``probe``, ``weight``) and how gradients
are taken (``gradients``), and the backend compiles the program once (``jax.jit`` over
``stateless_call``, ``tf.function``, a ``torch.no_grad`` pass) and brings its one flat result
to the host in one transfer. :func:`current_backend` returns the one Keras runs on. To
support another Keras backend, add a module here with the same two functions and one entry
in ``_BACKENDS``; nothing else changes.
"""

from __future__ import annotations

import importlib
import math
import random
from contextlib import contextmanager
from typing import Callable, Iterator


class Backend:
    """Compiled programs and determinism for one Keras backend; the code lives in ``backends/<name>.py``."""

    def __init__(self, name: str, module: str):
        self.name = name
        self._module = module

    def compile_program(self, model, probe_model, program: Callable) -> Callable:
        """``step(arrays, full) -> numpy vector``: ``program`` compiled for ``model`` (and ``probe_model``,
        a model over the same layers whose outputs are hidden activations), run on its current weights."""
        return importlib.import_module(self._module).compile_program(model, probe_model, program)

    def gradient_norms(self, model, loss_fn, x, y) -> dict[str, float]:
        """L2 norm of the mean loss's gradient per layer (see :func:`layer_key`), on one batch."""
        import keras

        def program(context, arrays, full):
            return keras.ops.stack(squared_gradients(context, loss_fn, *arrays))

        step = self.compile_program(model, None, program)
        arrays = tuple(keras.ops.convert_to_tensor(a) for a in (x, y))
        return layer_norms(model, step(arrays, True))

    def make_deterministic(self) -> None:
        """Ask the backend for run-to-run identical results (same seed, same numbers)."""
        module = importlib.import_module(self._module)
        if hasattr(module, "make_deterministic"):
            module.make_deterministic()

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


class ModelCalls:
    """A context for backends that call the model on its variables as they are (TensorFlow, torch);
    a backend module adds ``dtype``, ``gradients`` and ``weight``."""

    def __init__(self, model, probe_model):
        self.model = model
        self.probe_model = probe_model

    def forward(self, x, losses: bool, probe: bool = False):
        """The model's (or the probe model's) outputs on ``x`` in inference mode, and the penalties."""
        outputs = (self.probe_model if probe else self.model)(x, training=False)
        return outputs, (list(self.model.losses) if losses else [])


def squared_gradients(context, loss_fn, x, y) -> list:
    """The squared L2 norm of the mean loss's gradient, per trainable variable, in the context's dtype
    (a variable the loss does not reach: 0)."""
    import keras

    ops = keras.ops
    return [
        ops.convert_to_tensor(0.0, dtype=context.dtype) if gradient is None
        else ops.sum(ops.square(ops.cast(gradient, context.dtype)))
        for gradient in context.gradients(loss_fn, x, y)
    ]


def layer_norms(model, squares) -> dict[str, float]:
    """Per-layer norms from per-variable squared norms (kernel and bias together)."""
    totals: dict[str, float] = {}
    for variable, value in zip(model.trainable_variables, squares):
        layer = layer_key(model, variable)
        totals[layer] = totals.get(layer, 0.0) + float(value)
    return {layer: math.sqrt(total) for layer, total in totals.items()}


_BACKENDS = {
    "tensorflow": Backend("tensorflow", "plateau_doctor.training.backends.tensorflow"),
    "jax": Backend("jax", "plateau_doctor.training.backends.jax"),
    "torch": Backend("torch", "plateau_doctor.training.backends.torch"),
}


def current_backend() -> Backend:
    import keras

    name = keras.backend.backend()
    if name not in _BACKENDS:
        raise RuntimeError(f"Keras backend {name!r} is not supported; use {', '.join(BACKENDS)} (KERAS_BACKEND)")
    return _BACKENDS[name]


def layer_key(model, variable) -> str:
    """The layer a variable belongs to: its path without the model's own name in front.

    Keras 3 paths read ``dense/kernel`` in a functional model but ``sequential/dense/kernel``
    or ``my_model/dense/kernel`` in Sequential and subclassed ones.
    """
    path = variable.path
    prefix = f"{model.name}/"
    if path.startswith(prefix):
        path = path[len(prefix):]
    return path.split("/")[0]


def make_deterministic() -> None:
    current_backend().make_deterministic()


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed Keras (Python, NumPy, the backend), ask the backend for deterministic ops, and keep
    Keras' default seeds this process's own.

    Keras draws the seed of every initializer and layer built without one from Python's
    global ``random`` (``keras.src.random.seed_generator.make_default_seed``). Other threads
    of the process draw from it too: in a Dask worker its event loop does, every second or
    so, so a model built there a few milliseconds later than usual got other initial
    weights (the runner test's rare mismatch). Inside this block Keras' draws come from a
    private ``random.Random(seed)``, the very sequence the seeded global one gives when
    nobody else draws, so results are unchanged where nothing interferes.
    """
    import keras

    keras.utils.set_random_seed(seed)
    make_deterministic()
    try:
        from keras.src.random import seed_generator
    except ImportError:  # another layout: Keras' own seeding is all there is
        yield
        return
    shared = seed_generator.python_random
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = shared


BACKENDS = tuple(_BACKENDS)


def select_backend(name: str) -> None:
    """Make ``name`` Keras' backend for this process and every process it starts.

    Keras reads ``KERAS_BACKEND`` once, when it is first imported, so this must run before
    that: the CLI and the doctor flow call it first thing, and branch processes (process
    pool, local Dask cluster) inherit the variable. Once Keras runs another backend in this
    process, switching is impossible: that is a clear ConfigError, not a silent mismatch.
    """
    import os
    import sys

    from plateau_doctor.errors import ConfigError

    if name not in BACKENDS:
        raise ConfigError(f"training.backend: {name!r} is not supported; use one of {', '.join(BACKENDS)}")
    keras = sys.modules.get("keras")
    backend = getattr(getattr(keras, "backend", None), "backend", None)
    if backend is not None:
        current = backend()
        if current != name:
            raise ConfigError(
                f"training.backend: {name!r}, but Keras was already imported in this process with the {current!r} "
                f"backend; start the process with KERAS_BACKEND={name} (the plateau-doctor command does this from "
                f"the config), or set training.backend: {current}"
            )
        return
    os.environ["KERAS_BACKEND"] = name


def require_backend(name: str) -> None:
    """Fail clearly when this process's Keras runs another backend than the config's (e.g. a Dask worker)."""
    select_backend(name)

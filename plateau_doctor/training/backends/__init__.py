"""The only backend-specific code, one object per Keras backend.

A backend object has ``name``, ``gradient_norms(model, loss_fn, x, y) -> {layer: norm}``
and ``make_deterministic()``. :func:`current_backend` returns the one for the backend
Keras runs on. To support another Keras backend, add a module here with the same
``gradient_norms`` function and one entry in ``_BACKENDS``; nothing else changes.
"""

from __future__ import annotations

import importlib
import random
from contextlib import contextmanager
from typing import Callable, Iterator


class Backend:
    """Gradients and determinism for one Keras backend; the code lives in ``backends/<name>.py``."""

    def __init__(self, name: str, module: str):
        self.name = name
        self._module = module

    def gradient_norms(self, model, loss_fn, x, y) -> dict[str, float]:
        """L2 norm of the mean loss's gradient per layer (see :func:`layer_key`), on one batch."""
        return importlib.import_module(self._module).gradient_norms(model, loss_fn, x, y)

    def make_deterministic(self) -> None:
        """Ask the backend for run-to-run identical results (same seed, same numbers)."""
        module = importlib.import_module(self._module)
        if hasattr(module, "make_deterministic"):
            module.make_deterministic()

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"


_BACKENDS = {
    "tensorflow": Backend("tensorflow", "plateau_doctor.training.backends.tensorflow"),
    "jax": Backend("jax", "plateau_doctor.training.backends.jax"),
}


def current_backend() -> Backend:
    import keras

    name = keras.backend.backend()
    if name not in _BACKENDS:
        raise RuntimeError(f"Keras backend {name!r} is not supported; use tensorflow or jax (KERAS_BACKEND)")
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


def gradient_norms_fn() -> Callable:
    """The current backend's ``gradient_norms`` (kept for callers of the function form)."""
    return current_backend().gradient_norms


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


BACKENDS = ("tensorflow", "jax")


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

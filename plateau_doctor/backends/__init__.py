"""The only backend-specific code: gradients. Pick the implementation for Keras' backend.

To support another Keras backend (JAX on the GPU machine), add a module here with the
same ``gradient_norms`` function and a branch below; nothing else changes.
"""

from __future__ import annotations

from typing import Callable


def gradient_norms_fn() -> Callable:
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        from plateau_doctor.backends.tensorflow import gradient_norms

        return gradient_norms
    if backend == "jax":
        from plateau_doctor.backends.jax import gradient_norms

        return gradient_norms
    raise RuntimeError(f"Keras backend {backend!r} is not supported; use tensorflow or jax (KERAS_BACKEND)")


def make_deterministic() -> None:
    """Ask the backend for run-to-run identical results (same seed, same numbers)."""
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    # JAX on the CPU is deterministic as it is; keras.utils.set_random_seed seeds its keys.


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

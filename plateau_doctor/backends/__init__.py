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

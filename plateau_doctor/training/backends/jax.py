"""Per-layer gradient norms with ``jax.grad`` over ``model.stateless_call``."""

from __future__ import annotations

import numpy as np

from plateau_doctor.training.backends import layer_key


def gradient_norms(model, loss_fn, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """L2 norm of the mean loss's gradient, per layer (kernel and bias together)."""
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in model.trainable_variables]
    frozen = [v.value for v in model.non_trainable_variables]

    def mean_loss(weights):
        predictions, _ = model.stateless_call(weights, frozen, x, training=False)
        return jnp.mean(loss_fn(y, predictions))

    gradients = jax.grad(mean_loss)(trainable)
    squares: dict[str, float] = {}
    for variable, gradient in zip(model.trainable_variables, gradients):
        layer = layer_key(model, variable)
        squares[layer] = squares.get(layer, 0.0) + float(jnp.sum(jnp.square(gradient.astype(jnp.float32))))
    return {layer: float(np.sqrt(total)) for layer, total in squares.items()}

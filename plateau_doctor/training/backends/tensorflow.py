"""Per-layer gradient norms with TensorFlow's GradientTape."""

from __future__ import annotations

import numpy as np

from plateau_doctor.training.backends import layer_key


def gradient_norms(model, loss_fn, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """L2 norm of the mean loss's gradient, per layer (kernel and bias together)."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        predictions = model(x, training=False)
        loss = tf.reduce_mean(loss_fn(y, predictions))
    gradients = tape.gradient(loss, model.trainable_weights)
    squares: dict[str, float] = {}
    for variable, gradient in zip(model.trainable_weights, gradients):
        layer = layer_key(model, variable)
        value = 0.0 if gradient is None else float(tf.reduce_sum(tf.square(tf.cast(gradient, tf.float64))))
        squares[layer] = squares.get(layer, 0.0) + value
    return {layer: float(np.sqrt(total)) for layer, total in squares.items()}


def make_deterministic() -> None:
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()

"""The recorder's program on TensorFlow: one ``tf.function``, gradients with ``GradientTape``."""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

from plateau_doctor.training.backends import ModelCalls


class Context(ModelCalls):
    """The model called on its variables inside the traced function. Squares in float64, as the
    tape's gradients were always summed."""

    dtype = "float64"

    def gradients(self, loss_fn, x, y) -> list:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            predictions = self.model(x, training=False)
            loss = tf.reduce_mean(loss_fn(y, predictions))
        return tape.gradient(loss, self.model.trainable_weights)

    def weight(self, index: int):
        return self.model.trainable_weights[index].value


def compile_program(model, probe_model, program):
    """``program`` traced once per input signature; its one flat result read back as NumPy."""
    import tensorflow as tf

    context = Context(model, probe_model)
    traced = tf.function(lambda arrays, full: program(context, arrays, full))

    def step(arrays, full: bool) -> np.ndarray:
        with _as_eager_would():
            return traced(arrays, full).numpy()

    return step


@contextmanager
def _as_eager_would():
    """Run the traced program without Grappler's rewrites, so it computes what eager code computes.

    Grappler's arithmetic optimizer rewrites the gradient's graph (a ReLU network's gradient
    norms moved in the 8th digit), and the recorder's numbers must not depend on whether they
    were traced. The option travels with each function call (the calls made inside this block
    only); the fit's own train function keeps every optimization.
    """
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


def make_deterministic() -> None:
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()

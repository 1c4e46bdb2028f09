"""The recorder's program on JAX: ``jax.jit`` over ``model.stateless_call``, gradients with ``jax.grad``.

The weights are arguments of the compiled function (read from the variables at each call),
never constants captured at tracing: one compilation serves every epoch of the fit.
"""

from __future__ import annotations

import numpy as np


class Context:
    """The model called on explicit weights inside ``jax.jit``. Squares in float32 (JAX's default)."""

    dtype = "float32"

    def __init__(self, model, probe_model, trainable, non_trainable, probe_index):
        self.model = model
        self.probe_model = probe_model
        self.trainable = trainable
        self.non_trainable = non_trainable
        self.probe_index = probe_index

    def forward(self, x, losses: bool, probe: bool = False):
        """The model's (or the probe model's) outputs on ``x`` in inference mode, and the penalties."""
        model, trainable, non_trainable = self.model, self.trainable, self.non_trainable
        if probe:
            trainable_index, non_trainable_index = self.probe_index
            model = self.probe_model
            trainable = [trainable[i] for i in trainable_index]
            non_trainable = [non_trainable[i] for i in non_trainable_index]
        if not losses:
            return model.stateless_call(trainable, non_trainable, x, training=False)[0], []
        outputs, _, penalties = model.stateless_call(trainable, non_trainable, x, training=False, return_losses=True)
        return outputs, list(penalties)

    def gradients(self, loss_fn, x, y) -> list:
        import jax
        import jax.numpy as jnp

        def mean_loss(weights):
            predictions, _ = self.model.stateless_call(weights, self.non_trainable, x, training=False)
            return jnp.mean(loss_fn(y, predictions))

        return jax.grad(mean_loss)(self.trainable)

    def weight(self, index: int):
        return self.trainable[index]


def compile_program(model, probe_model, program):
    """``program`` jitted once (per input shapes); the weights are read at each call and passed in."""
    import jax

    probe_index = ([], [])
    if probe_model is not None:
        trainable = {id(v): i for i, v in enumerate(model.trainable_variables)}
        frozen = {id(v): i for i, v in enumerate(model.non_trainable_variables)}
        probe_index = ([trainable[id(v)] for v in probe_model.trainable_variables],
                       [frozen[id(v)] for v in probe_model.non_trainable_variables])

    def run(trainable, non_trainable, arrays, full):
        return program(Context(model, probe_model, trainable, non_trainable, probe_index), arrays, full)

    compiled = jax.jit(run, static_argnums=(3,))

    def step(arrays, full: bool) -> np.ndarray:
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        return np.asarray(jax.device_get(compiled(trainable, non_trainable, arrays, full)))

    return step

"""The recorder's program on PyTorch: one pass under ``torch.no_grad``, gradients with ``torch.autograd``."""

from __future__ import annotations

import numpy as np

from plateau_doctor.training.backends import ModelCalls


class Context(ModelCalls):
    """The model called on its parameters as they are. Squares in float64, as on TensorFlow."""

    dtype = "float64"

    def gradients(self, loss_fn, x, y) -> list:
        import torch

        parameters = [v.value for v in self.model.trainable_variables]
        with torch.enable_grad():
            predictions = self.model(x, training=False)
            loss = torch.mean(loss_fn(y, predictions))
            return list(torch.autograd.grad(loss, parameters, allow_unused=True))

    def weight(self, index: int):
        return self.model.trainable_variables[index].value.detach()


def compile_program(model, probe_model, program):
    """No compilation: the program runs as one pass without autograd's bookkeeping (the gradients
    take their own), and its one flat result comes to the host in one copy."""
    import torch

    context = Context(model, probe_model)

    def step(arrays, full: bool) -> np.ndarray:
        with torch.no_grad():
            return program(context, arrays, full).detach().cpu().numpy()

    return step


def make_deterministic() -> None:
    import torch

    # warn_only: a GPU op without a deterministic kernel warns instead of failing the fit.
    torch.use_deterministic_algorithms(True, warn_only=True)

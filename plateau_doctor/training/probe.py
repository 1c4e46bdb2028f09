"""The recorder's per-epoch measurement as one program, compiled once per fit, read back in one transfer.

What the program computes, on the device: the model's outputs on the validation rows and
their loss (on the output tensors as made, as Keras' validation pass computes it), the
regularization penalties, the squared gradient norm of each trainable variable on a training
batch, the dead and saturated unit counts on a probe of validation rows (reduced to counts
there: the activation maps never leave the device), and the weights the update ratio and the
symmetric units are read from. Everything is cast to one dtype and concatenated into one flat
vector, so one copy brings it to the host; :class:`EpochProbe` splits it again.

The program is written once with ``keras.ops``; each backend (``training.backends``) supplies
how the model is called on its current weights and compiles it. Validation rows beyond
``PREDICT_CHUNK`` (the pipeline's large splits) go through a second, smaller program (outputs
and loss only), one call per chunk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from plateau_doctor.training.backends import current_backend, squared_gradients
from plateau_doctor.training.scoring import PREDICT_CHUNK

log = logging.getLogger("plateau_doctor")


@dataclass
class Reading:
    """One epoch's numbers, on the host."""

    outputs: np.ndarray | None = None  # validation rows x output units, float64
    loss_sums: list[float] = field(default_factory=list)  # the loss summed over each chunk's rows
    penalties: list[float] = field(default_factory=list)
    grad_squares: np.ndarray | None = None  # per trainable variable
    units: np.ndarray | None = None  # dead units, ReLU units, saturated values, saturating values
    weights: dict[int, np.ndarray] = field(default_factory=dict)  # trainable variable index -> value


@dataclass(frozen=True)
class UnitBound:
    """How a probed layer's units are counted: ``dead`` when a unit is <= ``low`` on every row and
    position; ``saturated`` for each value <= ``low`` or >= ``high``."""

    kind: str
    low: float
    high: float = 0.0


class EpochProbe:
    """The compiled program of one fit: what to read (``weights``: trainable variable indices),
    how to count units (``bounds``, one per activation output of ``probe_model``), and the rows
    to read on, put on the device once (:meth:`use`).

    ``merged``: the probe rows are the validation rows, and ``probe_model``'s first output is
    the model's own: one pass gives the outputs and the activations.
    """

    def __init__(self, model, loss_fn: Callable | None, probe_model=None, bounds: tuple[UnitBound, ...] = (),
                 weights: tuple[int, ...] = (), merged: bool = False):
        self.model = model
        self.loss_fn = loss_fn
        self.probe_model = probe_model
        self.merged = merged and probe_model is not None
        self.bounds = bounds
        self.weights = weights
        self.with_gradients = loss_fn is not None
        self._layouts: dict[Any, list[tuple[str, tuple[int, ...]]]] = {}
        self._chunks: list[tuple[Any, Any, int]] = []
        self._extras: tuple = (None, None, None)
        self._step = current_backend().compile_program(model, probe_model, self._program)

    def use(self, x_val=None, y_val=None, x_probe=None, x_grad=None, y_grad=None) -> None:
        """The rows to read on, converted to the backend's tensors (on its device) once."""
        import keras

        def tensor(values):
            return None if values is None else keras.ops.convert_to_tensor(np.asarray(values))

        self._chunks = []
        if x_val is not None:
            for start in range(0, len(x_val), PREDICT_CHUNK):
                rows = slice(start, start + PREDICT_CHUNK)
                y_rows = y_val[rows] if y_val is not None and self.loss_fn is not None else None
                self._chunks.append((tensor(x_val[rows]), tensor(y_rows), len(x_val[rows])))
        grad = (x_grad, y_grad) if self.with_gradients and x_grad is not None and y_grad is not None else (None, None)
        probe = x_probe if self.probe_model is not None and not self.merged else None
        self._extras = (tensor(probe), tensor(grad[0]), tensor(grad[1]))

    def read(self) -> Reading:
        try:
            return self._read()
        except (ValueError, ArithmeticError, TypeError) as error:
            if self._extras[1] is None:
                raise
            # As before the program was one: a gradient the backend cannot take costs the
            # gradient signals, not the epoch's other numbers.
            log.debug("gradient norms failed: %s", error)
            self._extras = (self._extras[0], None, None)
            self._layouts.clear()
            return self._read()

    def _read(self) -> Reading:
        reading = Reading()
        outputs = []
        chunks = self._chunks or [(None, None, 0)]
        for index, (x, y, _) in enumerate(chunks):
            full = index == 0
            arrays = (x, y, *(self._extras if full else (None, None, None)))
            flat = self._step(arrays, full)
            parts = self._split(flat, self._layouts[_key(arrays, full)])
            if x is not None:
                outputs.append(parts["outputs"][0])
            reading.loss_sums.extend(float(value) for value in parts.get("loss", []))
            if full:
                reading.penalties = [float(value) for value in parts.get("penalty", [])]
                reading.grad_squares = np.asarray(parts["grad"]) if "grad" in parts else None
                reading.units = parts["units"][0] if "units" in parts else None
                reading.weights = dict(zip(self.weights, parts.get("weight", [])))
        if outputs:
            stacked = np.concatenate(outputs).astype(np.float64)
            reading.outputs = stacked.reshape(len(stacked), -1)
        return reading

    def _program(self, context, arrays, full: bool):
        """The whole epoch's work on ``context`` (a backend's model calls); one flat vector."""
        import keras

        ops = keras.ops
        x, y, x_probe, x_grad, y_grad = arrays
        parts: list[tuple[str, Any]] = []
        activations = None
        if x is not None:
            if full and self.merged:  # the probe rows are these rows: one pass gives both
                (outputs, *activations), penalties = context.forward(x, losses=True, probe=True)
            else:
                outputs, penalties = context.forward(x, losses=full)
            parts.append(("outputs", outputs))
            if y is not None:
                values = self.loss_fn(y, outputs)
                # A loss function gives one value per row; a Loss object their mean.
                parts.append(("loss", ops.sum(values) if len(values.shape) else values * x.shape[0]))
            parts.extend(("penalty", penalty) for penalty in penalties)
        if full:
            if activations is None and x_probe is not None and self.bounds:
                activations = _as_list(context.forward(x_probe, losses=False, probe=True)[0])
            if activations is not None:
                parts.append(("units", unit_counts(activations, self.bounds)))
            if x_grad is not None:
                parts.extend(("grad", square) for square in squared_gradients(context, self.loss_fn, x_grad, y_grad))
            parts.extend(("weight", context.weight(index)) for index in self.weights)
        self._layouts[_key(arrays, full)] = [(name, tuple(int(d) for d in value.shape)) for name, value in parts]
        if not parts:
            return ops.zeros((0,), dtype=context.dtype)
        return ops.concatenate([ops.reshape(ops.cast(value, context.dtype), (-1,)) for _, value in parts])

    @staticmethod
    def _split(flat: np.ndarray, layout) -> dict[str, list[np.ndarray]]:
        parts: dict[str, list[np.ndarray]] = {}
        start = 0
        for name, shape in layout:
            size = int(np.prod(shape))
            value = flat[start:start + size].reshape(shape)
            start += size
            # The weights come back in the model's own float32, exactly (a float64 vector holds them).
            parts.setdefault(name, []).append(value.astype(np.float32) if name == "weight" else value)
        return parts


def unit_counts(tensors: list, bounds: tuple[UnitBound, ...]):
    """[dead units, ReLU units, saturated values, saturating values] over the probed layers.

    A unit is a channel: Dense units, conv filters over every position, recurrent units over time.
    """
    import keras

    ops = keras.ops
    dead = saturated = ops.convert_to_tensor(0, dtype="int32")
    relu_units = saturating = 0
    for tensor, bound in zip(tensors, bounds):
        shape = tuple(int(d) for d in tensor.shape)
        flat = ops.reshape(tensor, (-1, shape[-1])) if len(shape) > 1 else ops.reshape(tensor, (-1, 1))
        if bound.kind == "dead":
            dead = dead + ops.sum(ops.cast(ops.all(flat <= bound.low, axis=0), "int32"))
            relu_units += int(flat.shape[1])
        else:
            near = ops.logical_or(flat <= bound.low, flat >= bound.high)
            saturated = saturated + ops.sum(ops.cast(near, "int32"))
            saturating += int(np.prod(shape))
    return ops.stack([dead, ops.convert_to_tensor(relu_units, dtype="int32"), saturated,
                      ops.convert_to_tensor(saturating, dtype="int32")])


def _as_list(outputs) -> list:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def _key(arrays, full: bool) -> tuple:
    return (full, *(None if a is None else tuple(int(d) for d in a.shape) for a in arrays))

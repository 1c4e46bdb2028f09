"""In-memory data for ``plateau_doctor.repair``: NumPy arrays, a ``tf.data.Dataset`` or a ``keras.utils.PyDataset``,
as one ``.npz`` file (``x``, ``y`` and the ``validation`` mask that ``data.sources.npz`` reads).

A dataset is iterated once and its batches concatenated in memory, up to ``max_bytes`` of
``x`` (the table pipeline holds a few float64 copies of it): a larger one is refused with
the advice to pass a subset. Each element is ``(x, y)`` or ``(x, y, sample_weight)``; the
weights are dropped (noted): the doctor weighs rows itself (``preprocessing.class_weight``).
Every refusal is an ``ArgumentError`` naming the argument (``x``, ``y``, ``validation_data``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plateau_doctor.errors import ArgumentError

MAX_BYTES = 512 * 1024**2
"""Default cap on each of ``x`` and ``validation_data``, counted as float64: above it, pass a subset."""


@dataclass
class Arrays:
    x: np.ndarray
    y: np.ndarray
    notes: list[str] = field(default_factory=list)


def materialise(x, y, argument: str, example_rank: int, max_bytes: int = MAX_BYTES) -> Arrays:
    """``x`` with ``y`` (arrays) or ``x`` alone (a dataset of (x, y[, w]) elements) as two arrays of rows.

    ``example_rank``: the rank of one example (the model's input rank without the batch axis),
    which tells a batched dataset's elements from an unbatched one's.
    """
    if _is_dataset(x):
        if y is not None:
            raise ArgumentError(f"y: give y only with array {argument}; a dataset yields its own targets (x, y)")
        return _from_batches(_elements(x, argument), argument, example_rank, max_bytes)
    if y is None:
        raise ArgumentError(f"y: is missing; with array {argument} pass its targets as y (one per row)")
    x_rows = _numeric(x, argument)
    y_rows = _numeric(y, "y" if argument == "x" else f"{argument}'s y")
    if len(x_rows) != len(y_rows):
        name = "y" if argument == "x" else f"{argument}'s y"
        raise ArgumentError(f"{argument} and {name}: {len(x_rows)} rows of inputs but {len(y_rows)} targets; give one target per row")
    _check_size(x_rows.size, argument, max_bytes)
    return Arrays(x_rows, y_rows)


def validation_arrays(validation_data, example_rank: int, max_bytes: int = MAX_BYTES) -> Arrays | None:
    """``validation_data`` as in ``model.fit``: ``(x_val, y_val)``, ``(x_val, y_val, weights)`` or a dataset."""
    if validation_data is None:
        return None
    if _is_dataset(validation_data):
        return materialise(validation_data, None, "validation_data", example_rank, max_bytes)
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        raise ArgumentError(
            f"validation_data: got {type(validation_data).__name__}; give (x_val, y_val) or (x_val, y_val,"
            " sample_weight) as for model.fit, a tf.data.Dataset or a keras.utils.PyDataset"
        )
    found = materialise(validation_data[0], validation_data[1], "validation_data", example_rank, max_bytes)
    if len(validation_data) == 3:
        found.notes.append("validation_data's sample weights are ignored: the verdict weighs every validation row alike")
    return found


def write_npz(path: Path, train: Arrays, validation: Arrays | None) -> None:
    """``x``, ``y`` and, with ``validation``, the mask that keeps those rows as the validation split."""
    x = train.x if validation is None else np.concatenate([train.x, validation.x])
    y = train.y if validation is None else np.concatenate([train.y, validation.y])
    arrays = {"x": x, "y": y}
    if validation is not None:
        arrays["validation"] = np.arange(len(y)) >= len(train.y)
    with open(path, "wb") as handle:  # a handle: np.savez would add its own suffix to a path
        np.savez(handle, **arrays)


def _is_dataset(value) -> bool:
    if hasattr(value, "element_spec") and hasattr(value, "as_numpy_iterator"):
        return True
    try:
        import keras

        return isinstance(value, keras.utils.PyDataset)
    except (ImportError, AttributeError):
        return False


def _elements(dataset, argument: str):
    """The dataset's elements as tuples of NumPy arrays."""
    if hasattr(dataset, "as_numpy_iterator"):
        if int(dataset.cardinality()) == -1:  # tf.data.INFINITE_CARDINALITY: reading it whole would never end
            raise ArgumentError(f"{argument}: the dataset repeats forever; pass it without .repeat() (or with .take(n))")
        iterator = dataset.as_numpy_iterator()
    else:
        try:
            n_batches = dataset.num_batches
        except (NotImplementedError, AttributeError, TypeError):
            n_batches = None
        if n_batches is None:
            raise ArgumentError(f"{argument}: the PyDataset has no length (num_batches); give it a __len__")
        iterator = (dataset[index] for index in range(n_batches))
    for element in iterator:
        if isinstance(element, dict) or not isinstance(element, (tuple, list)) or len(element) not in (2, 3):
            raise ArgumentError(
                f"{argument}: the dataset yields {type(element).__name__} elements; it must yield (x, y) or"
                " (x, y, sample_weight), with x one array (a single-input model)"
            )
        yield tuple(element)


def _from_batches(elements, argument: str, example_rank: int, max_bytes: int) -> Arrays:
    xs, ys, size, weighted = [], [], 0, False
    for element in elements:
        x_part = _numeric(element[0], argument)
        y_part = np.asarray(element[1])
        weighted = weighted or len(element) == 3
        if x_part.ndim == example_rank:  # an unbatched dataset: one example per element
            x_part, y_part = x_part[None], y_part[None]
        if len(x_part) != len(y_part):
            raise ArgumentError(f"{argument}: a batch holds {len(x_part)} inputs but {len(y_part)} targets")
        size += x_part.size
        _check_size(size, argument, max_bytes)
        xs.append(x_part)
        ys.append(y_part)
    if not xs:
        raise ArgumentError(f"{argument}: the dataset yielded no batches; check that it is not empty or already exhausted")
    try:
        found = Arrays(np.concatenate(xs), np.concatenate(ys))
    except ValueError as error:
        raise ArgumentError(f"{argument}: its batches have different shapes ({error}); pad them to one shape") from None
    if weighted:
        found.notes.append(f"{argument}'s sample weights are ignored: the doctor weighs rows itself (class_weight)")
    return found


def _numeric(value, argument: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ArgumentError(f"{argument}: cannot be read as an array ({error}); pass a NumPy array") from None
    if array.ndim == 0 or len(array) == 0:
        raise ArgumentError(f"{argument}: has no rows (shape {array.shape}); pass one row per example")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ArgumentError(f"{argument}: holds {array.dtype} values; it must be numeric")
    if not np.all(np.isfinite(array)):
        raise ArgumentError(f"{argument}: holds NaN or infinite values; fill or drop those rows")
    return array


def _check_size(n_values: int, argument: str, max_bytes: int) -> None:
    if n_values * 8 > max_bytes:
        raise ArgumentError(
            f"{argument}: more than {max_bytes / 1024**2:.0f} MB of inputs as float64; the doctor holds the data in"
            " memory, so pass a subset (e.g. dataset.take(n), or x[:n]) or raise max_bytes"
        )

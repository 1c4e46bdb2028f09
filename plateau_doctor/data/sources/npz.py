"""Non-tabular data: a NumPy ``.npz`` file with ``x`` (any shape: images, sequences) and ``y``.

The table pipeline sees one column per position of ``x`` (``x_0``, ``x_1``, ... in C
order) and the target column ``y``, so that splitting, scaling (one StandardScaler column
per position: per pixel, per time step and channel) and the audit work unchanged. The
original shape is kept in :func:`feature_shape`: ``model.builder`` receives it as
``input_shape``, and the model built from it gets a Reshape in front.

An optional boolean array ``validation`` (one value per row) fixes the validation rows:
the split keeps them as given instead of drawing ``data.validation_fraction`` of the rows
(``plateau_doctor.repair`` keeps a caller's ``validation_data`` this way).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from plateau_doctor.data.sources.base import TableSource
from plateau_doctor.errors import DataError

TARGET = "y"
"""The target column of an .npz file (``data.target: y``)."""
VALIDATION = "validation"
"""The optional array of an .npz file that marks the validation rows."""


class NpzSource(TableSource):
    suffixes = (".npz",)

    def read_frame(self) -> pd.DataFrame:
        return load_npz(self.path)

    def fixed_validation(self) -> np.ndarray | None:
        return load_validation_mask(self.path)


def is_npz(path: str | Path) -> bool:
    return Path(path).suffix.lower() == ".npz"


def load_npz(path: str | Path) -> pd.DataFrame:
    """``x`` flattened to one column per position, and ``y``; DataError naming what is wrong."""
    source = Path(path)
    try:
        with np.load(source, allow_pickle=False) as arrays:
            missing = [key for key in ("x", TARGET) if key not in arrays.files]
            if missing:
                raise DataError(
                    f"data.path: {source} has no array {' or '.join(missing)} (it holds {', '.join(arrays.files) or 'none'});"
                    " save it with numpy.savez(path, x=inputs, y=targets)"
                )
            x, y = arrays["x"], arrays[TARGET]
    except DataError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise DataError(f"data.path: {source} could not be read as .npz ({error}); save it with numpy.savez") from None
    if x.ndim < 2 or len(x) != len(y) or y.ndim > 1 and y.shape[1] != 1:
        raise DataError(
            f"data.path: {source}: x has shape {x.shape} and y {y.shape}; x needs one row per example and y one"
            " value per row (class codes or a regression target)"
        )
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"data.path: {source}: x holds {x.dtype} values; it must be numeric")
    flat = x.reshape(len(x), -1)
    frame = pd.DataFrame(flat, columns=[f"x_{i}" for i in range(flat.shape[1])])
    frame[TARGET] = y.reshape(-1)
    return frame


def load_validation_mask(path: str | Path) -> np.ndarray | None:
    """The file's ``validation`` array as a boolean mask; None when it has none."""
    source = Path(path)
    with np.load(source, allow_pickle=False) as arrays:
        if VALIDATION not in arrays.files:
            return None
        mask, n_rows = arrays[VALIDATION], len(arrays[TARGET])
    if mask.shape != (n_rows,) or not (mask.dtype == bool or np.isin(mask, (0, 1)).all()):
        raise DataError(
            f"data.path: {source}: validation has shape {mask.shape} and dtype {mask.dtype}; it must hold one"
            f" true/false per row ({n_rows}), true for a validation row"
        )
    return mask.astype(bool)


def feature_shape(path: str | Path | None) -> tuple[int, ...] | None:
    """The shape of one example of ``x`` in an .npz file (read from its header); None for a table."""
    if path is None or not is_npz(path) or not Path(path).is_file():
        return None
    with zipfile.ZipFile(path) as archive, archive.open("x.npy") as stream:
        major, _ = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
        shape, _, _ = read_header(stream)
    return tuple(int(n) for n in shape[1:])

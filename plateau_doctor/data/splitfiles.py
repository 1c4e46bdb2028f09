"""The prepared split's files: ``split.json`` and ``.npy`` arrays, written once, read by path.

Written into a staging folder and renamed into place (:func:`staged_folder`), so that a
reader finds a whole split or none, and two processes preparing the same split at once
keep the first one finished. Read back by row ranges (:class:`RowFile`), scaled as read
(:class:`ScaledRows`), so that a split larger than memory is never loaded whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

SPLIT_FILE = "split.json"


@contextlib.contextmanager
def staged_folder(folder: Path):
    """Yield a staging folder beside ``folder``; on success it becomes ``folder`` (or is dropped if
    another process made ``folder`` first). On failure nothing is left, not even the parents this made."""
    created_root = not folder.parent.parent.exists()
    staging = folder.parent / f".tmp-{folder.name}-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        yield staging
        try:
            os.rename(staging, folder)
        except OSError:
            # Another process (a branch, the CLI's check) finished the same split first: keep theirs.
            if not (folder / SPLIT_FILE).is_file():
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_if_empty(folder.parent)
        if created_root:
            _remove_if_empty(folder.parent.parent)
        raise


def _remove_if_empty(path: Path) -> None:
    if path.is_dir() and not any(path.iterdir()):
        path.rmdir()


def write_meta(folder: Path, meta: dict[str, Any]) -> None:
    (folder / SPLIT_FILE).write_text(json.dumps(meta, indent=1))


def read_meta(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / SPLIT_FILE).read_text())


def has_split(folder: Path) -> bool:
    return (Path(folder) / SPLIT_FILE).is_file()


class NpyWriter:
    """Appends rows to a ``.npy`` file whose shape is known up front (no memory map while writing)."""

    def __init__(self, path: Path, rows: int, width: int | None, dtype: str):
        self.path, self.rows, self.dtype = path, rows, np.dtype(dtype)
        shape = (rows, width) if width is not None else (rows,)
        self.stream = open(path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(self.stream, header)
        self.written = 0

    def write(self, values: np.ndarray) -> None:
        np.ascontiguousarray(values, dtype=self.dtype).tofile(self.stream)
        self.written += len(values)

    def close(self) -> None:
        self.stream.close()
        if self.written != self.rows:
            raise RuntimeError(f"{self.path.name}: wrote {self.written} rows, expected {self.rows}")


class RowFile:
    """Rows of a 2-D (or 1-D) ``.npy`` file, read with ``os.pread``: contiguous runs, one call each.

    Not a memory map: on this kernel a page fault maps a whole large folio of the page
    cache (up to ~2 MB), so 1,024 random rows gathered through ``np.load(mmap_mode="r")``
    put 500 MB of an 8M-row split into the process's RSS. Reads here cost the bytes asked.
    """

    def __init__(self, path: str | Path):
        self.path = str(path)
        with open(self.path, "rb") as stream:
            version = np.lib.format.read_magic(stream)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read_header(stream)
            self.offset = stream.tell()
        if fortran:
            raise ValueError(f"{self.path}: Fortran-ordered arrays are not supported")
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)
        self.row_bytes = self.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        self._fd: int | None = None

    def __getstate__(self):
        return {**self.__dict__, "_fd": None}

    @property
    def fd(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        return self._fd

    def __del__(self):
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def _read_run(self, start: int, stop: int) -> np.ndarray:
        size = (stop - start) * self.row_bytes
        payload = os.pread(self.fd, size, self.offset + start * self.row_bytes)
        if len(payload) != size:
            raise OSError(f"{self.path}: short read at row {start}")
        return np.frombuffer(payload, dtype=self.dtype).reshape((stop - start, *self.shape[1:]))

    def __getitem__(self, key) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, step = key.indices(len(self))
            values = self._read_run(start, max(start, stop)) if step > 0 else self._read_run(stop + 1, start + 1)[::-1]
            return values[:: abs(step)] if abs(step) != 1 else values
        if np.isscalar(key):
            index = int(key) + (len(self) if int(key) < 0 else 0)
            return self._read_run(index, index + 1)[0]
        rows = np.asarray(key)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        rows = np.where(rows < 0, rows + len(self), rows).astype(np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)
        out = np.empty((len(unique), *self.shape[1:]), dtype=self.dtype)
        breaks = np.flatnonzero(np.diff(unique) != 1) + 1
        for first, last in zip(np.r_[0, breaks], np.r_[breaks, len(unique)]):
            out[first:last] = self._read_run(int(unique[first]), int(unique[last - 1]) + 1)
        return out[inverse.ravel()]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self[:]
        return values if dtype is None else values.astype(dtype)


class ScaledRows:
    """Rows of a RowFile (or array), transformed as they are read: ``(raw - mean) / scale``.

    It stands in for the scaled training array: indexing, ``len`` and ``shape`` behave as
    on the array the in-memory path would hold, with the same float32 arithmetic.
    """

    def __init__(self, raw: np.ndarray, mean=None, scale=None, dtype=np.float32, work_dtype=None):
        self.raw = raw
        self.dtype = np.dtype(dtype)
        # The in-memory path scales features in float32 but the target in float64: match each.
        self.work_dtype = np.dtype(work_dtype or dtype)
        self.mean = None if mean is None else np.asarray(mean, dtype=self.work_dtype)
        self.scale = None if scale is None else np.asarray(scale, dtype=self.work_dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.raw.shape

    @property
    def ndim(self) -> int:
        return self.raw.ndim

    def __len__(self) -> int:
        return len(self.raw)

    def __getitem__(self, key) -> np.ndarray:
        values = np.asarray(self.raw[key], dtype=self.work_dtype)
        if self.mean is not None:
            values = (values - self.mean) / self.scale
        return values.astype(self.dtype, copy=False)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        values = self[:]
        return values if dtype is None else values.astype(dtype)

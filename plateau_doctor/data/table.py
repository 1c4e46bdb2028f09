"""Choosing the table source, once per run: by ``data.path``'s kind and ``data.stream``.

To add a kind of table, write a :class:`~plateau_doctor.data.sources.base.TableSource`
subclass in its own file under ``data/sources/`` and add it to :data:`IN_MEMORY` (or
return it from :func:`open_source` when it streams).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from plateau_doctor.config import DataConfig
from plateau_doctor.data.sources.base import TableSource
from plateau_doctor.data.sources.csv import CsvSource
from plateau_doctor.data.sources.npz import NpzSource
from plateau_doctor.data.sources.parquet import ParquetSource, should_stream
from plateau_doctor.data.sources.streamed import StreamedParquetSource
from plateau_doctor.errors import DataError

IN_MEMORY: tuple[type[TableSource], ...] = (CsvSource, ParquetSource, NpzSource)


def open_source(data: DataConfig) -> TableSource:
    """The source for ``data.path``: streamed Parquet when ``data.stream`` says so, else by suffix."""
    if should_stream(data):
        return StreamedParquetSource(data.path)
    return source_for(data.path)


def source_for(path: str | Path) -> TableSource:
    """The in-memory source that reads ``path``; a DataError naming the field otherwise."""
    source = Path(path)
    if not source.exists():
        raise DataError(
            f"data.path: {source} does not exist; point data.path at a .csv file, a .parquet file "
            "or a folder of .parquet files"
        )
    suffix = "" if source.is_dir() else source.suffix.lower()
    for kind in IN_MEMORY:
        if suffix in kind.suffixes:
            return kind(source)
    raise DataError(
        f"data.path: {source} has the suffix {source.suffix!r}; use a .csv file, a .parquet file "
        "or a folder of .parquet files"
    )


def load_table(path: str | Path) -> pd.DataFrame:
    """Read a .csv file, a .parquet file, a folder of .parquet files or an .npz file, whole."""
    return source_for(path).read()

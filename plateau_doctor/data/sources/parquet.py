"""Parquet: a file or a folder of files, read whole in memory or, larger than memory, streamed.

``data.stream`` chooses (:func:`should_stream`): ``true`` streams, ``false`` never, ``auto``
once the in-memory path would need more than half of this machine's memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from plateau_doctor.config import DataConfig
from plateau_doctor.data.checks import check_same_columns, check_unique_columns, first_line
from plateau_doctor.data.sources.base import TableSource
from plateau_doctor.errors import DataError


class ParquetSource(TableSource):
    """A .parquet file or a folder of them, read whole (every file must have the same columns)."""

    suffixes = (".parquet", ".pq", "")  # "" : a folder

    def read_frame(self) -> pd.DataFrame:
        import pyarrow as pa

        try:
            return open_dataset(self.path).to_table().to_pandas()
        except (pa.ArrowException, OSError) as error:
            raise DataError(
                f"data.path: {self.path} could not be read as Parquet ({first_line(error)}); check the file"
            ) from None


STREAM_BATCH_ROWS = 262_144
# pyarrow's default read-ahead (16 batches, 4 files) holds hundreds of MB of decoded
# batches in flight; this keeps the decoding ahead of the arithmetic with a fraction of it.


def record_batches(dataset, columns: list[str]):
    """The dataset's rows in table order, file by file, in batches of ``STREAM_BATCH_ROWS``.

    Read with ``ParquetFile.iter_batches`` rather than the dataset scanner: the scanner
    reads ahead of a slow consumer without a firm bound (about 800 MB over a 10M-row
    table here), while this holds one row group's columns at a time.
    """
    import pyarrow.parquet as pq

    for fragment in dataset.get_fragments():
        with dataset.filesystem.open_input_file(fragment.path) as stream:
            yield from pq.ParquetFile(stream).iter_batches(batch_size=STREAM_BATCH_ROWS, columns=columns)

# The in-memory path holds the pandas frame, its float copy, the split and the scaled
# arrays at once: about this many 8-byte copies of the table.
IN_MEMORY_COPIES = 4
# `data.stream: auto` streams once those copies would take more than this share of RAM.
MEMORY_SHARE = 0.5

def is_parquet_source(path: str | Path) -> bool:
    source = Path(path)
    return source.is_dir() or source.suffix.lower() in (".parquet", ".pq")


def memory_budget() -> int:
    """Bytes the in-memory path may use: a share of this machine's physical memory."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 * 1024**3
    return int(total * MEMORY_SHARE)


def in_memory_bytes(path: str | Path) -> int:
    """What the in-memory path would hold for this table, from the Parquet metadata alone."""
    import pyarrow.dataset as ds

    dataset = ds.dataset(str(path), format="parquet")
    return int(dataset.count_rows()) * len(dataset.schema.names) * 8 * IN_MEMORY_COPIES


def should_stream(data: DataConfig) -> bool:
    """``data.stream``: true streams (Parquet only), false never, auto when over the memory budget."""
    if data.stream is False:
        return False
    if data.stream is True:
        if not is_parquet_source(data.path):
            raise DataError(
                f"data.stream: true streams Parquet only, but data.path {data.path} is not a .parquet file or "
                "folder; convert the table to Parquet or set data.stream to auto or false"
            )
        return True
    if not is_parquet_source(data.path) or not Path(data.path).exists():
        return False
    try:
        return in_memory_bytes(data.path) > memory_budget()
    except (OSError, ValueError, ImportError) as error:  # unreadable: load_table reports it in its own words
        del error
        return False


def open_dataset(path: Path):
    import pyarrow as pa
    import pyarrow.dataset as ds

    try:
        dataset = ds.dataset(str(path), format="parquet")
    except (pa.ArrowException, OSError) as error:
        raise DataError(f"data.path: {path} could not be read as Parquet ({first_line(error)}); check the file") from None
    if path.is_dir() and not dataset.files:
        raise DataError(f"data.path: the folder {path} holds no .parquet files")
    if path.is_dir():
        check_same_columns(dataset.files, path)  # the dataset takes the first file's schema for all
    check_unique_columns(list(dataset.schema.names), path)
    return dataset

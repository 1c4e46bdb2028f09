"""Parquet larger than memory: never read whole, streamed into the prepared split (``data.stream``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from plateau_doctor.config import DataConfig
from plateau_doctor.data.sources.base import TableSource
from plateau_doctor.data.stream import write_streamed_split


class StreamedParquetSource(TableSource):
    suffixes = (".parquet", ".pq", "")
    streams = True

    def read_frame(self) -> pd.DataFrame:
        raise NotImplementedError("a streamed table is never read whole; it writes its split in passes")

    def write_split(self, data: DataConfig, folder: Path) -> dict[str, Any]:
        return write_streamed_split(data, folder)

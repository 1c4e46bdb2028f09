"""The table-source extension point: one abstract class, one file per kind of source.

A source reads ``data.path`` once. In-memory sources (:meth:`TableSource.read`) return a
pandas frame, which ``data.prepared`` splits and writes to disk; a streamed source writes
the split itself, batch by batch (:meth:`TableSource.write_split`), for tables larger than
memory. Either way the branches, rungs and retrains read the split on disk by path, never
the source again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from plateau_doctor.config import DataConfig
from plateau_doctor.data.checks import check_unique_columns
from plateau_doctor.errors import DataError


class TableSource(ABC):
    """One kind of table: ``suffixes`` it reads, how, and whether it streams."""

    suffixes: ClassVar[tuple[str, ...]] = ()
    streams: ClassVar[bool] = False

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def files(self) -> list[Path]:
        """The files behind the source, for the prepared split's key (names, sizes, modification times)."""
        return sorted(self.path.rglob("*.parquet")) if self.path.is_dir() else [self.path]

    @abstractmethod
    def read_frame(self) -> pd.DataFrame:
        """The whole table, as written (the checks of :meth:`read` follow)."""

    def read(self) -> pd.DataFrame:
        """The whole table, with the checks every in-memory source shares."""
        frame = self.read_frame()
        if frame.shape[0] == 0:
            raise DataError(f"data.path: {self.path} has no rows; give a table with a header and data rows")
        if frame.shape[1] == 0:
            raise DataError(f"data.path: {self.path} has no columns; give a table with a header and data rows")
        check_unique_columns([str(c) for c in frame.columns], self.path)
        return frame

    def fixed_validation(self):
        """A boolean mask of the rows the source itself marks for validation, or None: split by
        ``data.validation_fraction`` (an ``.npz``'s ``validation`` array: ``plateau_doctor.repair``)."""
        return None

    def write_split(self, data: DataConfig, folder: Path) -> dict[str, Any]:
        """Streamed sources only: check the table and write its split to ``folder`` in passes."""
        raise NotImplementedError(f"{type(self).__name__} is read in memory, not streamed")

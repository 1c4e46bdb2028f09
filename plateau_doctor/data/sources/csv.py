"""CSV files, read whole with pandas."""

from __future__ import annotations

import pandas as pd

from plateau_doctor.data.checks import check_unique_columns, first_line
from plateau_doctor.data.sources.base import TableSource
from plateau_doctor.errors import DataError


class CsvSource(TableSource):
    suffixes = (".csv",)

    def read_frame(self) -> pd.DataFrame:
        source = self.path
        if source.stat().st_size == 0:
            raise DataError(f"data.path: {source} is empty (0 bytes); give a CSV with a header and data rows")
        try:
            header = pd.read_csv(source, header=None, nrows=1, dtype=str, keep_default_na=False)
            # pandas renames a repeated name ('a' again becomes 'a.1') without a word: check the header as written.
            check_unique_columns([str(v) for v in header.iloc[0].tolist()], source)
            return pd.read_csv(source)
        except pd.errors.EmptyDataError:
            raise DataError(f"data.path: {source} is empty; give a CSV with a header and data rows") from None
        except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as error:
            raise DataError(f"data.path: {source} could not be read as CSV ({first_line(error)}); check the file") from None

"""Write a run's results atomically: everything is staged, then renamed into place.

Layout (``shared/CONTRACT.md``)::

    <out>/runs/<run_id>/{summary.json, report.md, report.html, model.keras, preprocessing.json, ...}
    <out>/history/run_id=<run_id>/part-0.parquet      (likewise diagnosis/, remedies/)

A run is staged under ``<out>/.staging/<run_id>`` (hidden from pyarrow's dataset
discovery, which skips names starting with '.' or '_') and each piece is moved in with
one ``os.rename``; a failed run leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATASETS = ("history", "diagnosis", "remedies")
METRIC_COLUMNS = ("val_loss", "val_accuracy", "val_balanced_accuracy", "val_log_loss", "val_r2", "val_mae")


def dataset_schema(name: str):
    """Fixed column types per dataset: runs of every task and outcome must read back as one table.

    Without them pyarrow infers ``null`` for a column that is empty or all-None in one run
    and ``string`` in the next, and reading the folder fails.
    """
    import pyarrow as pa

    from plateau_doctor.schema import HISTORY_SIGNALS

    text, number, integer, flag = pa.string(), pa.float64(), pa.int64(), pa.bool_()
    fields = {
        "history": [("branch", text), ("epoch", integer), *((signal, number) for signal in HISTORY_SIGNALS)],
        "diagnosis": [("round", integer), ("kind", text), ("name", text), ("confidence", number), ("evidence", text)],
        "remedies": [
            ("round", integer), ("remedy", text), ("params", text), ("epochs", integer), *((m, number) for m in METRIC_COLUMNS),
            ("improved", flag), ("chosen", flag), ("status", text), ("error", text), ("reason", text),
            ("wall_seconds", number),
        ],
        "retraining": [
            ("retrain_id", text), ("date", text), ("dataset", text), ("target", text), ("data_fingerprint", text),
            ("recipe_run_id", text), ("recipe", text), ("status", text), ("reason", text), ("main_metric", text),
            ("previous_metric", number), ("metric", number), ("val_loss", number), ("symptoms", text),
            ("doctor_run_id", text), ("doctor_status", text),
        ],
    }[name]
    return pa.schema(fields)


def new_run_id(dataset: str, now: datetime | None = None) -> str:
    """Sortable, readable and unique: ``20261127-020521-breast_cancer-3f9a1c``."""
    now = now or datetime.now(timezone.utc)
    slug = re.sub(r"[^A-Za-z0-9_]+", "_", dataset).strip("_")[:40] or "data"
    return f"{now:%Y%m%d-%H%M%S}-{slug}-{uuid.uuid4().hex[:6]}"


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars to Python, NaN/inf to None (JSON has neither)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write to a temporary name beside ``path``, then rename over it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(to_jsonable(payload), indent=2, allow_nan=False) + "\n")


def write_parquet(frame: pd.DataFrame, path: str | Path, schema=None) -> None:
    """Atomic Parquet write; ``schema`` (pyarrow) fixes column order and types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}")
    try:
        if schema is not None:
            frame = frame[schema.names]
        pq.write_table(pa.Table.from_pandas(frame, schema=schema, preserve_index=False), temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class RunWriter:
    """Stages one run's files and publishes them all at the end, or none of them."""

    def __init__(self, out_dir: str | Path, run_id: str):
        self.out = Path(out_dir)
        self.run_id = run_id
        self._created_out = not self.out.exists()
        self.staging = self.out / ".staging" / run_id
        self.staging.mkdir(parents=True, exist_ok=False)
        self._datasets: list[str] = []

    @property
    def run_dir(self) -> Path:
        """Where the run's folder will be once published."""
        return self.out / "runs" / self.run_id

    def path(self, name: str) -> Path:
        """A file inside the staged run folder (for writers that need a path, e.g. Keras)."""
        (self.staging / "run").mkdir(parents=True, exist_ok=True)
        return self.staging / "run" / name

    def scratch(self, name: str) -> Path:
        """A file for intermediate results (branch models): removed, never published."""
        (self.staging / "scratch").mkdir(parents=True, exist_ok=True)
        return self.staging / "scratch" / name

    def write_text(self, name: str, text: str) -> Path:
        path = self.path(name)
        atomic_write_text(path, text)
        return path

    def write_json(self, name: str, payload: Any) -> Path:
        path = self.path(name)
        atomic_write_json(path, payload)
        return path

    def add_dataset(self, name: str, frame: pd.DataFrame) -> None:
        """One run's rows of a dataset; the partition column ``run_id`` comes from the folder."""
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
        frame = frame.drop(columns=["run_id"], errors="ignore")
        write_parquet(frame, self.staging / "datasets" / name / "part-0.parquet", dataset_schema(name))
        self._datasets.append(name)

    def publish(self) -> Path:
        """Move every staged piece into place; the run folder goes last, as the 'done' mark."""
        for name in self._datasets:
            destination = self.out / name / f"run_id={self.run_id}"
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self.staging / "datasets" / name, destination)
        self.run_dir.parent.mkdir(parents=True, exist_ok=True)
        (self.staging / "run").mkdir(parents=True, exist_ok=True)
        os.rename(self.staging / "run", self.run_dir)
        self._cleanup_staging()
        return self.run_dir

    def abort(self) -> None:
        """Remove everything staged; leave the output folder as it was."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self._cleanup_staging()
        if self._created_out and self.out.exists() and not any(self.out.iterdir()):
            self.out.rmdir()

    def _cleanup_staging(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        parent = self.staging.parent
        if parent.exists() and not any(parent.iterdir()):
            parent.rmdir()


def read_dataset(out_dir: str | Path, name: str) -> pd.DataFrame:
    """Every run's rows of one dataset, as pandas reads it (``run_id`` from the partitions)."""
    return pd.read_parquet(Path(out_dir) / name)

"""Write a run's results atomically: everything is staged, then renamed into place.

Layout (``shared/CONTRACT.md``)::

    <out>/runs/<run_id>/{summary.json, report.md, report.html, model.keras, preprocessing.json, ...}
    <out>/history/run_id=<run_id>/part-0.parquet      (likewise diagnosis/, remedies/)

The visibility rule: a run's rows are visible to ``pandas.read_parquet("<out>/history")``
if and only if its ``runs/<run_id>/`` folder exists, and that folder is complete whenever
it exists. pyarrow's dataset discovery skips names starting with '.' or '_', and
``publish`` goes in three steps, each an ``os.rename`` on one file system:

1. each dataset's partition moves in under a hidden name, ``<dataset>/.run_id=<run_id>``;
2. the run folder moves to ``runs/<run_id>`` (the commit);
3. each hidden partition is renamed to ``run_id=<run_id>`` (shown).

A crash before step 2 leaves only hidden rows, removed by the next writer's start. A crash
inside step 3 (between renames, microseconds) leaves a complete run some of whose
partitions are still hidden: never an incomplete run in view; the next writer's start, or
:func:`read_dataset`, shows them (:func:`clean_stale_staging`). Each run stages in its own ``<out>/.staging-<run_id>/``,
held by an flock for the writer's life, so concurrent runs into one folder share nothing
mutable, and only staging folders whose owner process died are ever cleaned.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import re
import shutil
import tempfile
import time
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
    """Stages one run's files in its own folder and publishes them all at the end, or none of them.

    The staging folder ``<out>/.staging-<run_id>/`` belongs to this run alone and holds an
    flock on ``owner.lock`` for the writer's life; a later writer removes it only when that
    lock is free (its owner died). Nothing mutable is shared between runs.
    """

    def __init__(self, out_dir: str | Path, run_id: str):
        self.out = Path(out_dir)
        self.run_id = run_id
        self._created_out = not self.out.exists()
        self._lock_fd: int | None = None
        self._published = False
        self._run_dir_moved = False
        self.staging = self._create_staging()
        self._datasets: list[str] = []
        clean_stale_staging(self.out)

    def _create_staging(self) -> Path:
        # Locked under a private name, then renamed: a cleaner never sees an unlocked new folder.
        for attempt in range(5):
            try:
                self.out.mkdir(parents=True, exist_ok=True)
                pending = Path(tempfile.mkdtemp(prefix=f"{_PENDING_PREFIX}{self.run_id}-", dir=self.out))
                break
            except FileNotFoundError:  # another run removed its empty output folder just now: retry
                if attempt == 4:
                    raise
        fd = os.open(pending / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        staging = self.out / f"{_STAGING_PREFIX}{self.run_id}"
        os.rename(pending, staging)  # fails if the run id is already staged: run ids are unique
        return staging

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
        if name not in self._datasets:
            self._datasets.append(name)

    def publish(self) -> Path:
        """Publish by the module's rule: hidden partitions in, run folder in (the commit), partitions shown."""
        self.run_dir.parent.mkdir(parents=True, exist_ok=True)
        (self.staging / "run").mkdir(parents=True, exist_ok=True)
        for name in self._datasets:
            (self.out / name).mkdir(parents=True, exist_ok=True)
            os.rename(self.staging / "datasets" / name, _hidden_partition(self.out, name, self.run_id))
            _fault_point(f"hidden:{name}")
        os.rename(self.staging / "run", self.run_dir)
        self._run_dir_moved = True
        _fault_point("run")
        for name in self._datasets:
            _show_partition(self.out, name, self.run_id)
            _fault_point(f"shown:{name}")
        self._published = True
        self._release(remove=True)
        _fault_point("cleaned")
        return self.run_dir

    def abort(self) -> None:
        """Undo what is not committed; leave the output folder as it was (a committed run is finished)."""
        if self._lock_fd is None:
            return
        if self._run_dir_moved:
            for name in DATASETS:  # committed: every row belongs in view
                _show_partition(self.out, name, self.run_id)
        else:
            for name in DATASETS:
                shutil.rmtree(_hidden_partition(self.out, name, self.run_id), ignore_errors=True)
        self._release(remove=True)
        if self._created_out:
            try:
                self.out.rmdir()  # only if empty: another run may be writing here
            except OSError:
                pass

    def _release(self, remove: bool) -> None:
        if remove:
            shutil.rmtree(self.staging, ignore_errors=True)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __del__(self):
        if getattr(self, "_lock_fd", None) is not None:
            os.close(self._lock_fd)


_STAGING_PREFIX = ".staging-"
_PENDING_PREFIX = ".pending-"
_LOCK_NAME = "owner.lock"
# A pending folder older than this lost its owner between mkdtemp and the rename (milliseconds).
_PENDING_GRACE_SECONDS = 3600.0


def _hidden_partition(out: Path, name: str, run_id: str) -> Path:
    return out / name / f".run_id={run_id}"


def _show_partition(out: Path, name: str, run_id: str) -> None:
    """Rename the hidden partition into view; already shown (another cleaner did it) is fine."""
    try:
        os.rename(_hidden_partition(out, name, run_id), out / name / f"run_id={run_id}")
    except FileNotFoundError:
        pass


def _fault_point(step: str) -> None:
    """Between two publish steps; the fault-injection test replaces this to crash there."""


def _owner_alive(staging: Path) -> bool:
    try:
        fd = os.open(staging / _LOCK_NAME, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's lock too
    return False


def clean_stale_staging(out_dir: str | Path) -> list[str]:
    """Finish or undo what writers that died left in ``out_dir``; returns the run ids handled.

    A staging folder whose lock is free lost its owner. Its hidden partitions are shown when
    the run folder was committed (the crash came after the commit) and removed when not.
    Folders of live writers are left alone, whoever they belong to.
    """
    out = Path(out_dir)
    if not out.is_dir():
        return []
    handled = []
    for entry in sorted(out.iterdir()):
        if entry.name.startswith(_STAGING_PREFIX):
            run_id = entry.name[len(_STAGING_PREFIX):]
            if _owner_alive(entry):
                continue
            _settle_partitions(out, run_id)
            shutil.rmtree(entry, ignore_errors=True)  # last: a crash here leaves it for the next cleaner
            handled.append(run_id)
        elif entry.name.startswith(_PENDING_PREFIX):
            try:
                old = time.time() - entry.stat().st_mtime > _PENDING_GRACE_SECONDS
            except FileNotFoundError:
                continue
            if old and not _owner_alive(entry):
                shutil.rmtree(entry, ignore_errors=True)
    # Hidden partitions without any staging folder: only a crash inside a cleaner leaves them.
    live = {e.name[len(_STAGING_PREFIX):] for e in out.iterdir() if e.name.startswith(_STAGING_PREFIX)}
    for name in DATASETS:
        folder = out / name
        if not folder.is_dir():
            continue
        for partition in folder.glob(".run_id=*"):
            run_id = partition.name[len(".run_id="):]
            if run_id not in live:
                _settle_partitions(out, run_id)
                handled.append(run_id)
    return sorted(set(handled))


def _settle_partitions(out: Path, run_id: str) -> None:
    committed = (out / "runs" / run_id).is_dir()
    for name in DATASETS:
        if committed:
            _show_partition(out, name, run_id)
        else:
            shutil.rmtree(_hidden_partition(out, name, run_id), ignore_errors=True)


def read_dataset(out_dir: str | Path, name: str) -> pd.DataFrame:
    """Every run's rows of one dataset, as pandas reads it (``run_id`` from the partitions).

    Settles first what dead writers left, so a complete run is never missing here.
    """
    clean_stale_staging(out_dir)
    return pd.read_parquet(Path(out_dir) / name)

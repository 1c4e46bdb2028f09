"""The prepared split on disk: written once per table, read by path by every fit of a run.

The load stage (or the CLI's check, before Prefect starts) reads the table once from its
source (``data.table.open_source``), checks it and writes the split under
``<output.dir>/.prepared/<key>/``: the raw rows of each side as ``.npy`` files (float64 for
a table read in memory, float32 rows for a streamed one) and ``split.json``. The key hashes
the table's files (names, sizes, modification times) and the data section, so a changed
table or split gets a new folder. The baseline, every branch and rung, the search's trials,
the retrain and Dask workers load the split from there (:func:`load_split`) and apply their
own preprocessing (``data.preprocess``): nothing is read or checked twice. The audit is
computed once per preprocessing and kept beside the split, with the best reference model's
validation predictions (``reference-*.npz``: the level, row by row, for the verdict).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from plateau_doctor.config import DataConfig, DoctorConfig, PreprocessingConfig
from plateau_doctor.data.audit import ReferencePredictions, audit_streamed, audit_with_reference
from plateau_doctor.data.preprocess import PreparedData, effective, preprocess, preprocess_streamed
from plateau_doctor.data.sources.base import TableSource
from plateau_doctor.data.split import RawSplit, split_table
from plateau_doctor.data.splitfiles import has_split, read_meta, staged_folder, write_meta
from plateau_doctor.data.stream import VALIDATION_CAP
from plateau_doctor.data.table import open_source
from plateau_doctor.schema import DataAudit

PREPARED_DIR = ".prepared"
FORMAT_VERSION = 1
_ARRAYS = ("x_train", "x_val", "y_train", "y_val")


def prepared_dir(config: DoctorConfig, source: TableSource | None = None) -> Path:
    """Where this table's prepared split lives: a key over its files and the data section."""
    source = source or open_source(config.data)
    digest = hashlib.sha256()
    for file in source.files():
        stat = file.resolve().stat()
        digest.update(f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    data = config.data
    settings = [FORMAT_VERSION, source.streams, VALIDATION_CAP, data.target, data.features, data.task, data.validation_fraction, data.seed]
    digest.update(json.dumps(settings).encode())
    return Path(config.output.dir) / PREPARED_DIR / digest.hexdigest()[:20]


def ensure_split(config: DoctorConfig) -> Path:
    """The prepared split's folder, written now from the table if no run wrote it before."""
    source = open_source(config.data)
    folder = prepared_dir(config, source)
    if not has_split(folder):
        if source.streams:
            source.write_split(config.data, folder)
        else:
            write_raw(split_table(source.read(), config.data, source.fixed_validation()), folder)
    return folder


def write_raw(raw: RawSplit, folder: Path) -> None:
    """A split read in memory, as its raw rows (float64, as read) and ``split.json``."""
    with staged_folder(folder) as staging:
        for name in _ARRAYS:
            np.save(staging / f"{name}.npy", getattr(raw, name), allow_pickle=False)
        write_meta(staging, {
            "format_version": FORMAT_VERSION,
            "layout": "memory",
            "task": raw.task,
            "target": raw.target,
            "features": list(raw.features),
            "classes": list(raw.classes),
            "n_rows": raw.n_rows,
        })


def read_raw(folder: Path, meta: dict[str, Any]) -> RawSplit:
    arrays = {name: np.load(folder / f"{name}.npy", allow_pickle=False) for name in _ARRAYS}
    return RawSplit(
        task=meta["task"], features=list(meta["features"]), target=meta["target"], n_rows=int(meta["n_rows"]),
        classes=list(meta["classes"]), **arrays,
    )


def load_split(folder: str | Path, data: DataConfig, preprocessing: PreprocessingConfig, audit: bool = True) -> PreparedData:
    """The split in ``folder`` as ``preprocessing`` prepares it; with ``audit``, the data audit too (kept beside the split)."""
    folder = Path(folder)
    meta = read_meta(folder)
    if meta.get("layout") == "streamed":
        prepared = preprocess_streamed(folder, meta, preprocessing, data.seed)
        if audit:
            prepared.audit = _kept_audit(folder, preprocessing, meta["task"], lambda: audit_streamed(
                meta, prepared.x_train.raw, prepared.y_train, np.load(folder / "x_val.npy"), prepared.y_val,
                prepared.preprocessor, data.seed,
            ))
        return prepared
    raw = read_raw(folder, meta)
    prepared = preprocess(raw, preprocessing, data.seed)
    prepared.split_dir = str(folder)
    if audit:
        prepared.audit = _kept_audit(folder, preprocessing, raw.task, lambda: audit_raw(raw, prepared, data.seed))
    return prepared


def audit_raw(raw: RawSplit, prepared: PreparedData, seed: int) -> tuple[DataAudit, ReferencePredictions]:
    """The audit of an in-memory split, on its targets as ``prepared`` sees them (before any resampling),
    with the best reference model's validation predictions."""
    prep = prepared.preprocessor
    return audit_with_reference(
        raw.x_train, prep.transform_target(raw.y_train), raw.x_val, prepared.y_val, prep, seed, n_rows=raw.n_rows
    )


def _scaling_key(preprocessing: PreprocessingConfig, task: str) -> str:
    scaling = effective(preprocessing, task)
    return f"{int(scaling.scale_features)}{int(scaling.scale_target)}"


def _reference_path(folder: Path, preprocessing: PreprocessingConfig, task: str) -> Path:
    return Path(folder) / f"reference-{_scaling_key(preprocessing, task)}.npz"


def _kept_audit(folder: Path, preprocessing: PreprocessingConfig, task: str, compute) -> DataAudit:
    """The audit for this preprocessing, computed once and kept beside the split (the CLI's, while the server boots).

    The reference's predictions are kept beside it; a folder an older version wrote without
    them is audited again (the same seed gives the same audit).
    """
    path = folder / f"audit-{_scaling_key(preprocessing, task)}.json"
    reference_path = _reference_path(folder, preprocessing, task)
    if path.is_file() and reference_path.is_file():
        return DataAudit.from_dict(json.loads(path.read_text()))
    result, reference = compute()
    write_reference_predictions(folder, preprocessing, task, reference)
    staging = path.with_name(f".{path.name}.{id(result)}")
    staging.write_text(json.dumps(result.to_dict()))
    staging.replace(path)
    return result


def write_reference_predictions(
    folder: str | Path, preprocessing: PreprocessingConfig, task: str, reference: ReferencePredictions
) -> None:
    """Keep the reference's validation predictions beside the split, for this preprocessing's audit."""
    path = _reference_path(Path(folder), preprocessing, task)
    staging = path.with_name(f".{path.name}.{id(reference)}")
    with open(staging, "wb") as handle:  # a handle: np.savez would add its own suffix to a path
        np.savez(handle, model=np.array(reference.model), y_true=reference.y_true, predicted=reference.predicted)
    staging.replace(path)


def reference_predictions(folder: str | Path, preprocessing: PreprocessingConfig, task: str) -> ReferencePredictions | None:
    """The reference model's validation predictions the audit kept beside the split; None when there are none."""
    path = _reference_path(Path(folder), preprocessing, task)
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as kept:
        return ReferencePredictions(str(kept["model"]), kept["y_true"], kept["predicted"])


def prepare_from_config(config: DoctorConfig, audit: bool = True) -> PreparedData:
    """``data.path`` prepared as ``config`` says, through its split on disk (written on first use)."""
    return load_split(ensure_split(config), config.data, config.preprocessing, audit=audit)


def prepare_data(frame: pd.DataFrame, data: DataConfig, preprocessing: PreprocessingConfig, audit: bool = True) -> PreparedData:
    """Split, scale and (unless ``audit=False``) audit a frame in memory, with nothing written."""
    raw = split_table(frame, data)
    prepared = preprocess(raw, preprocessing, data.seed)
    if audit:
        prepared.audit = audit_raw(raw, prepared, data.seed)[0]
    return prepared

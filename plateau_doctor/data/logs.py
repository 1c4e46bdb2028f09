"""Read a training log into a per-epoch table: what ``plateau-doctor diagnose`` takes.

Formats, told apart by the path:

- a folder: TensorBoard event files as Keras' ``TensorBoard`` callback writes them
  (``train/`` and ``validation/`` runs, ``epoch_*`` scalars), read with what TensorFlow
  ships (``tf.compat.v1.train.summary_iterator``); the only format that imports TensorFlow;
- ``.json``: ``History.history`` dumped with ``json.dump`` (``{"loss": [...], ...}``), the
  same under a ``"history"`` key, or a list of per-epoch records;
- ``.csv``/``.tsv``/``.txt``: Keras' ``CSVLogger`` file, or any table with ``epoch``,
  ``loss``, ``val_loss``, ... columns;
- ``.parquet``: such a table.

Anything unreadable raises :class:`HistoryFileError` (exit 2 in the CLI) with one message
that names the file and what was wrong.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from plateau_doctor.errors import UserInputError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".log")


class HistoryFileError(UserInputError, ValueError):
    """A training log that cannot be read or has no loss curve; the message names the file."""


def read_history(path: str | Path) -> pd.DataFrame:
    """The log at ``path`` as one row per epoch, columns as logged (see ``curves.normalize_history``)."""
    from plateau_doctor.engine.log_doctor import normalize_history

    source = Path(path)
    if not source.exists():
        raise HistoryFileError(f"{source}: no such file or folder; give a CSVLogger file, a History JSON, "
                               "a CSV/Parquet table or a TensorBoard log folder")
    try:
        if source.is_dir():
            raw = read_tensorboard(source)
        elif source.suffix.lower() == ".json":
            raw = _read_json(source)
        elif source.suffix.lower() == ".parquet":
            raw = pd.read_parquet(source)
        elif source.suffix.lower() in TABLE_SUFFIXES:
            raw = pd.read_csv(source, sep=None, engine="python")
        else:
            raise HistoryFileError(
                f"{source}: unknown log format {source.suffix or '(no suffix)'!r}; use .csv (CSVLogger), .json "
                "(History.history), .parquet, or a TensorBoard log folder"
            )
    except HistoryFileError:
        raise
    except Exception as error:  # pandas, pyarrow and json each raise their own kinds: all mean "unreadable"
        raise HistoryFileError(f"{source}: cannot be read as a training log ({_first_line(error)})") from None
    try:
        return normalize_history(raw)
    except (ValueError, TypeError) as error:
        raise HistoryFileError(f"{source}: {_first_line(error)}") from None


def _read_json(source: Path) -> pd.DataFrame:
    payload = json.loads(source.read_text(encoding="utf-8"))
    if isinstance(payload, dict) and isinstance(payload.get("history"), dict):
        payload = payload["history"]
    if isinstance(payload, dict):
        lengths = {len(v) for v in payload.values() if isinstance(v, list)}
        if not payload or any(not isinstance(v, list) for v in payload.values()) or len(lengths) != 1:
            raise HistoryFileError(
                f"{source}: expected History.history, a mapping of metric name to one list of per-epoch values"
                " (all lists the same length)"
            )
        return pd.DataFrame(payload)
    if isinstance(payload, list) and payload and all(isinstance(row, dict) for row in payload):
        return pd.DataFrame(payload)
    raise HistoryFileError(f"{source}: expected History.history (a JSON object of lists) or a list of per-epoch records")


def read_tensorboard(folder: Path) -> pd.DataFrame:
    """Per-epoch scalars of a Keras TensorBoard log folder: ``train/`` as is, ``validation/`` with ``val_``."""
    files = sorted(folder.rglob("events.out.tfevents.*"))
    if not files:
        raise HistoryFileError(f"{folder}: a folder, but no TensorBoard event file (events.out.tfevents.*) in it")
    import tensorflow as tf

    columns: dict[str, dict[int, float]] = {}
    for file in files:
        relative = file.relative_to(folder).parts
        prefix = "val_" if any(part in ("validation", "val", "eval") for part in relative[:-1]) else ""
        for event in tf.compat.v1.train.summary_iterator(str(file)):
            for value in event.summary.value:
                if not value.tag.startswith("epoch_"):
                    continue  # batch-level and histogram summaries are not per-epoch curves
                number = value.simple_value if value.HasField("simple_value") else float(tf.make_ndarray(value.tensor))
                name = prefix + value.tag.removeprefix("epoch_")
                columns.setdefault(name, {})[int(event.step)] = float(number)
    if not columns:
        raise HistoryFileError(f"{folder}: the event files hold no per-epoch scalar (epoch_loss, ...)")
    frame = pd.DataFrame(columns).sort_index()
    frame.insert(0, "epoch", frame.index.astype(float))
    return frame.reset_index(drop=True)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else error.__class__.__name__

"""Read a training log into a per-epoch table: what ``plateau-doctor diagnose`` takes.

Formats, told apart by the path and, for text, by the content:

- a folder: TensorBoard event files as Keras' ``TensorBoard`` callback writes them
  (``train/`` and ``validation/`` runs, ``epoch_*`` scalars), read with what TensorFlow
  ships (``tf.compat.v1.train.summary_iterator``); the only format that imports TensorFlow;
- ``.json``: ``History.history`` dumped with ``json.dump`` (``{"loss": [...], ...}``), the
  same under a ``"history"`` key, or a list of per-epoch records;
- ``.parquet``: a table with ``epoch``, ``loss``, ``val_loss``, ... columns;
- any text file with ``Epoch N/M`` lines or Keras' progress lines: the console output of
  ``model.fit`` (``data.console``), whatever its suffix;
- other ``.csv``/``.tsv``/``.txt``/``.log``/``.out`` files: ``History.history`` as ``print`` or
  ``str()`` writes it (the dict's repr, also after a label on its line, or one ``name: [values]``
  line per metric), else Keras' ``CSVLogger`` file or any table with ``epoch``, ``loss``,
  ``val_loss``, ... columns, also below a title line (a ``training.log`` written by CSVLogger has
  a header, not ``Epoch 1/10`` lines, and reads as the table it is).

A row whose loss is text (``abc``) is left out and :attr:`TrainingLog.skipped` says so;
``nan`` and ``inf`` are values (a run that diverged). Anything unreadable raises
:class:`HistoryFileError` (exit 2 in the CLI) with one message that names the file and what
was wrong: a missing or empty file, binary content, no number in any loss column.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from plateau_doctor.data.console import looks_like_console, parse_console
from plateau_doctor.engine.cadence import spread_validations
from plateau_doctor.errors import UserInputError

TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".log", ".out")
LOSS_COLUMNS = ("loss", "val_loss")
NUMPY_SCALAR = re.compile(r"\b(?:np|numpy)\.(?:float(?:16|32|64)|int(?:32|64))\(([^()]*)\)")
"""A NumPy scalar as NumPy 2 prints it in a list (``np.float32(0.69)``): its value."""
KEY_LIST_LINE = re.compile(r"^['\"]?([A-Za-z_]\w*)['\"]?\s*[:=]\s*(\[.*\])\s*,?$")
"""One metric's per-epoch list on its own line: ``loss: [0.69, 0.52]`` or ``val_loss = [...]``."""
MAX_TITLE_LINES = 5
"""Lines above a table's header that may be a title; a header further down is no CSVLogger table."""
HEADER_FIELD = re.compile(r"[,;\t|]\s*|\s+")
BINARY_SHARE = 0.05
"""Text with more than 5% undecodable bytes or control characters is not a log: a console
capture has none but for a stray byte, a model file or an archive has them everywhere."""


class HistoryFileError(UserInputError, ValueError):
    """A training log that cannot be read or has no loss curve; the message names the file."""


@dataclass
class TrainingLog:
    """A log read into per-epoch curves, and what the reader left out of them (one line each)."""

    history: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    fit: dict[str, int | bool] = field(default_factory=dict)  # console text only: ``ConsoleLog.fit``


def read_history(path: str | Path) -> pd.DataFrame:
    """The log at ``path`` as one row per epoch, columns as logged (see ``log_doctor.normalize_history``)."""
    return read_log(path).history


def read_log(path: str | Path) -> TrainingLog:
    """The log at ``path`` as one row per epoch, with what was skipped on the way."""
    from plateau_doctor.engine.log_doctor import normalize_history

    source = Path(path)
    if not source.exists():
        raise HistoryFileError(f"{source}: no such file or folder; give a CSVLogger file, a History JSON, "
                               "model.fit's console output, a CSV/Parquet table or a TensorBoard log folder")
    try:
        raw, skipped, fit = _read_raw(source)
    except HistoryFileError:
        raise
    except Exception as error:  # pandas, pyarrow, json and TensorFlow each raise their own kinds: all mean "unreadable"
        raise HistoryFileError(f"{source}: cannot be read as a training log ({_first_line(error)})") from None
    raw, text_rows = _without_text_losses(raw, source)
    skipped = [*skipped, *text_rows, *_text_cells(raw)]
    try:
        history = normalize_history(raw)
    except (ValueError, TypeError) as error:
        raise HistoryFileError(f"{source}: {_first_line(error)}") from None
    return TrainingLog(_with_both_losses(history), skipped, fit)


def _read_raw(source: Path) -> tuple[pd.DataFrame, list[str], dict[str, int | bool]]:
    if source.is_dir():
        return read_tensorboard(source), [], {}
    suffix = source.suffix.lower()
    if suffix == ".json":
        return (*_read_json(source), {})
    if suffix == ".parquet":
        return pd.read_parquet(source), [], {}
    text = _read_text(source)
    if looks_like_console(text):
        try:
            console = parse_console(text)
        except ValueError as error:
            raise HistoryFileError(f"{source}: {_first_line(error)}") from None
        return console.frame, console.skipped, console.fit
    if suffix not in TABLE_SUFFIXES:
        raise _unknown_format(source)
    printed = _printed_history(text) if _header_line(text) is None else None  # a table's rows are no repr
    if printed is not None:
        history, skipped = _history_lists(printed[0], source)
        return history, [*printed[1], *skipped], {}
    text, title = _below_title(text)
    return pd.read_csv(io.StringIO(text), sep=None, engine="python"), title, {}


def _printed_history(text: str) -> tuple[dict, list[str]] | None:
    """``History.history`` as a text file holds it when it was printed or written with ``str()``:
    the dict's repr (``{'loss': [0.69, ...], ...}``, NumPy scalars as ``np.float32(0.69)``), that
    repr after a label on its line (``history: {...}``), or one ``name: [values]`` line per metric.
    The dict and what else the file held, one line each; None when the text is none of these."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    whole = _as_history(text.strip())
    if whole is not None:
        return whole, []
    for at, line in enumerate(lines):
        if "{" in line and line.endswith("}") and (found := _as_history(line[line.index("{"):])) is not None:
            label = line[:line.index("{")].strip()
            others = [repr(other[:40]) for k, other in enumerate(lines) if k != at]
            notes = [f"text before the history on its line skipped: {label[:40]!r}"] if label else []
            if others:
                notes.append(f"{len(others)} other line{'s' if len(others) > 1 else ''} skipped: {', '.join(others[:3])}"
                             + (", ..." if len(others) > 3 else ""))
            return found, notes
    pairs = [KEY_LIST_LINE.match(line) for line in lines]
    if lines and all(pairs):
        found = _as_history("{" + ", ".join(f"{m.group(1)!r}: {m.group(2)}" for m in pairs) + "}")
        if found is not None:
            return found, []
    return None


def _as_history(text: str) -> dict | None:
    """``text`` as a History.history dict (JSON or a Python repr, some value a list), else None."""
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        payload = _python_literal(NUMPY_SCALAR.sub(r"\1", text))
    payload = _unwrapped(payload)
    if isinstance(payload, dict) and any(isinstance(values, list) for values in payload.values()):
        return payload  # without a loss list, normalize_history names the keys it found
    return None


def _below_title(text: str) -> tuple[str, list[str]]:
    """The table from its header on, when a few lines above the header name no loss column
    (a title such as ``model_history_log`` that a user wrote first); else the text as it is.

    The header is the first line with a loss column's name among its fields. Without this the
    separator is sniffed from the title (``model_history_log`` split on ``o``) and the log is refused.
    """
    at = _header_line(text)
    if not at:
        return text, []
    lines = text.splitlines(keepends=True)
    shown = " / ".join(repr(above.strip()[:40]) for above in lines[:at] if above.strip())
    return "".join(lines[at:]), [f"{at} line{'s' if at > 1 else ''} above the header skipped: {shown or 'blank'}"]


def _header_line(text: str) -> int | None:
    """The index of a table's header among its first lines: the first that names a loss column."""
    for at, line in enumerate(text.splitlines()[:MAX_TITLE_LINES + 1]):
        if KEY_LIST_LINE.match(line.strip()) or "[" in line:
            continue  # a printed list (``val_loss = [...]``), not a header
        if any(_doctor_name(field.strip("\"'")) in LOSS_COLUMNS for field in HEADER_FIELD.split(line.strip())):
            return at
    return None


def _unknown_format(source: Path) -> HistoryFileError:
    pickled = "; a pickle is not loaded (it runs code it carries): json.dump its History.history instead" if \
        source.suffix.lower() in (".npy", ".npz", ".pkl", ".pickle", ".joblib") else ""
    return HistoryFileError(f"{source}: unknown log format {source.suffix or '(no suffix)'!r}; use .csv (CSVLogger), .json"
                            f" (History.history), .parquet, model.fit's console output, or a TensorBoard log folder{pickled}")


def _read_text(source: Path) -> str:
    """The file as text (UTF-8, or UTF-16 with its byte-order mark as PowerShell writes it); empty or binary refused."""
    data = source.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        text = data.decode("utf-16", errors="replace")
    else:
        text = data.decode("utf-8-sig", errors="replace")
    if not text.strip():
        if source.suffix.lower() not in TABLE_SUFFIXES:
            raise _unknown_format(source)
        raise HistoryFileError(f"{source}: cannot be read as a training log (the file is empty)")
    sample = text[:100_000]
    odd = sum(1 for char in sample if char == "\ufffd" or (char < " " and char not in "\t\n\r\b\x07\x0b\x0c\x1b"))
    if odd > BINARY_SHARE * len(sample):
        if source.suffix.lower() not in TABLE_SUFFIXES:
            raise _unknown_format(source)
        raise HistoryFileError(f"{source}: cannot be read as a training log (binary content, not text)")
    return text


def _read_json(source: Path) -> tuple[pd.DataFrame, list[str]]:
    text = source.read_text(encoding="utf-8-sig")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        cut = "; the file ends early: truncated?" if error.pos >= len(text.rstrip()) - 1 else ""
        raise HistoryFileError(f"{source}: cannot be read as a training log (not valid JSON: {error.msg},"
                               f" line {error.lineno} column {error.colno}{cut})") from None
    if isinstance(payload, str):
        payload = _python_literal(payload)  # json.dump(str(history.history)): the dict's repr as one JSON string
    payload = _unwrapped(payload)
    if isinstance(payload, dict):
        return _history_lists(payload, source)
    if isinstance(payload, list) and payload and all(isinstance(row, dict) for row in payload):
        return pd.DataFrame(payload), []
    raise HistoryFileError(f"{source}: expected History.history (a JSON object of lists) or a list of per-epoch records")


def _history_lists(payload: dict, source: Path) -> tuple[pd.DataFrame, list[str]]:
    """History.history's per-epoch lists, as long as the loss list. Users add to the dict before
    dumping it (a training time, a test score, a second fine-tuning phase's lists): a value that is
    not a list, or a list of another length, is left out and named in what was skipped."""
    lists = {name: values for name, values in payload.items() if isinstance(values, list)}
    lists, spread = spread_validations(lists) or (lists, None)
    main = next((name for name in ("loss", "val_loss") if name in lists), None)
    core = {len(lists[name]) for name in ("loss", "val_loss") if name in lists}
    if main is None or len(core) != 1:
        lengths = {len(values) for values in lists.values()}
        if not lists or len(lengths) != 1:
            raise HistoryFileError(
                f"{source}: expected History.history, a mapping of metric name to one list of per-epoch values"
                " (all lists the same length)"
            )
        return pd.DataFrame(lists), []
    epochs = len(lists[main])
    kept = {name: values for name, values in lists.items() if len(values) == epochs}
    skipped = [f"{name}: one value, not a per-epoch list" for name, value in payload.items() if name not in lists]
    skipped += [spread] if spread else []
    skipped += [f"{name}: {len(values)} values where {main} has {epochs} (another phase or run)"
                for name, values in lists.items() if name not in kept]
    return pd.DataFrame(kept), skipped


def _unwrapped(payload):
    """History.history itself when the payload holds it under ``history`` (a dump of History's attributes)."""
    return payload["history"] if isinstance(payload, dict) and isinstance(payload.get("history"), dict) else payload


def _python_literal(text: str):
    """A Python literal (numbers, lists, dicts; ``nan`` and ``inf`` as ``repr`` writes them), or the text itself."""
    literal = re.sub(r"\binf\b", "1e999", re.sub(r"\bnan\b", "None", text))  # 1e999 parses as inf; None reads as NaN
    try:
        return ast.literal_eval(literal)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


def read_tensorboard(folder: Path) -> pd.DataFrame:
    """Per-epoch scalars of a Keras TensorBoard log folder: ``train/`` as is, ``validation/`` with ``val_``."""
    files = sorted(folder.rglob("events.out.tfevents.*"))
    if not files:
        raise HistoryFileError(f"{folder}: a folder, but no TensorBoard event file (events.out.tfevents.*) in it")
    columns: dict[str, dict[int, float]] = {}
    with _quiet_tensorflow():
        import tensorflow as tf

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


@contextlib.contextmanager
def _quiet_tensorflow():
    """TensorFlow's event-file reader is deprecated (``tf_record_iterator``) and logs so on stderr,
    as its import may warn: nothing a user of the doctor can act on, so neither reaches them."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _doctor_name(column) -> str:
    """A column's name as ``normalize_history`` will name it (``epoch_loss`` is ``loss``, ``lr`` is ``learning_rate``)."""
    from plateau_doctor.engine.log_doctor import _ALIASES

    name = str(column).strip()
    return _ALIASES.get(name, name)


def _is_text(cell) -> bool:
    """A cell that holds something that is not a number (``abc``, a list); NaN, None and '' are missing values."""
    if isinstance(cell, str):
        try:
            float(cell.strip() or "nan")
        except ValueError:
            return True
        return False
    if isinstance(cell, (list, tuple, dict, set)):
        return True
    return not isinstance(cell, (int, float)) and not pd.isna(cell) and not pd.api.types.is_number(cell)


def _examples(raw: pd.DataFrame, column, rows: list) -> str:
    """Up to three cells as the user finds them in their file: ``epoch 0 'abc'`` (else ``row 1 'abc'``)."""
    epoch = next((c for c in raw.columns if _doctor_name(c) == "epoch"), None)
    shown = []
    for row in rows[:3]:
        label = f"epoch {_shown(raw.at[row, epoch])}" if epoch is not None else f"row {raw.index.get_loc(row) + 1}"
        shown.append(f"{label} {str(raw.at[row, column])[:20]!r}")
    return ", ".join(shown) + (", ..." if len(rows) > 3 else "")


def _shown(cell) -> str:
    return str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)


def _without_text_losses(raw: pd.DataFrame, source: Path) -> tuple[pd.DataFrame, list[str]]:
    """The table without its rows whose loss or validation loss is text, and a line saying which.

    Read as NaN, such a cell would pass for a diverged run. No row left: exit 2.
    """
    losses = [c for c in raw.columns if _doctor_name(c) in LOSS_COLUMNS]
    if not losses or raw.empty:
        return raw, []  # normalize_history names what is missing
    text = raw[losses].map(_is_text)
    if not text.any().any():
        return raw, []
    bad = text.any(axis=1)
    rows = list(raw.index[bad])
    first = next(c for c in losses if text[c].any())
    names = " or ".join(dict.fromkeys(_doctor_name(c) for c in losses if text[c].any()))
    examples = _examples(raw, first, [row for row in rows if text.at[row, first]])
    if bad.all():
        raise HistoryFileError(f"{source}: no numeric {names} in any row ({examples})")
    return raw.loc[~bad].reset_index(drop=True), [
        f"{len(rows)} row{'s' if len(rows) > 1 else ''} with non-numeric {names} skipped: {examples}"
    ]


def _text_cells(raw: pd.DataFrame) -> list[str]:
    """Text in a numeric column other than the losses: read as missing, and said so."""
    notes = []
    for column in raw.columns:
        if _doctor_name(column) in LOSS_COLUMNS or raw[column].dtype.kind in "biufc":
            continue
        text = raw[column].map(_is_text)
        if text.any() and not text.all() and pd.to_numeric(raw[column], errors="coerce").notna().any():
            rows = list(raw.index[text])
            notes.append(f"{column}: {len(rows)} non-numeric value{'s' if len(rows) > 1 else ''} read as missing: "
                         + _examples(raw, column, rows))
    return notes


def _with_both_losses(history: pd.DataFrame) -> pd.DataFrame:
    """A validation loss column of NaN where the log has a training loss only, NaN at every epoch.

    ``log_doctor`` falls back from a training loss with no number to ``val_loss`` and fails
    when there is none; a run whose loss was NaN from its first epoch is still a diagnosis
    (it diverged), so it gets the column it looks for.
    """
    if "val_loss" not in history and "loss" in history and history["loss"].isna().all():
        return history.assign(val_loss=math.nan)
    return history


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0][:200] if lines else error.__class__.__name__

"""Read the text ``model.fit`` prints into a per-epoch table. Pure: regular expressions and pandas.

What users paste when they ask why a loss stalls is the console, not a CSVLogger file:
from a terminal (the bar redrawn in place with ``\\b`` and ``\\r``, ANSI colours), a
notebook, a log file (``python train.py > train.log``) or a forum post. Read here:

- Keras 3, ``verbose=1``: ``15/15 ━━━━━━━━━━━━━━━━━━━━ 3s 54ms/step - accuracy: 0.60 - loss: 0.66 -
  val_accuracy: 0.76 - val_loss: 0.55 - learning_rate: 0.0100`` (metrics in alphabetical order);
- Keras 3, ``verbose=2``: ``16/16 - 2s - 96ms/step - loss: 12.27 - mae: 2.81 - val_loss: ...``;
- Keras 2 / ``tf.keras``: ``1875/1875 [==============================] - 5s 3ms/step - loss: 0.2954 -
  accuracy: 0.9142 - val_loss: ...``, its ``ETA:`` updates, and ``1875/1875 - 3s - loss: ...``;
- TF 1 and Keras 1: ``60000/60000 [====] - 5s 84us/sample - loss: ... - acc: ...`` after a
  ``Train on N samples`` line, and ``verbose=2``'s `` - 3s - loss: ...`` under ``Epoch 1/10``.

An epoch runs from its ``Epoch N/M`` line to the next. Of its progress lines, the last
complete one is read (the bar at ``M/M``, the one with the ``val_`` metrics when the epoch
has one): earlier redraws hold running means of part of the epoch. Lines of another
length of bar (``model.evaluate`` after the fit), warnings, tracebacks and callback
messages (``Epoch 6: ReduceLROnPlateau reducing ...``) are passed over. ``nan`` and ``inf``
are values (a run that diverged), read as such; an epoch cut short with its running loss
already non-finite (``TerminateOnNaN``'s "Invalid loss, terminating training") is read as
that non-finite value, since its mean over the whole epoch would be too. Metric names stay as printed (``acc``,
``lr``): ``log_doctor.normalize_history`` maps them as for every other format.

Not handled: output of other progress bars (tqdm, Lightning), and a ``verbose=0`` fit,
which prints nothing. A text holding several fits (epoch numbers starting over) is read
as its last fit, and says so.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pandas as pd

_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
"""ANSI CSI sequences (colours, bold, cursor moves) and OSC sequences (terminal titles)."""

_GLUED_LOG = re.compile(r"(?<=\d)(?=(?:WARNING|INFO|ERROR|DEBUG|CRITICAL)\b)")
"""A log record written on stderr while the bar, on stdout, waited for its next redraw."""

_EPOCH = re.compile(r"\bEpoch\s+(\d+)\s*/\s*(\d+)\b")
_STEPS = re.compile(r"^\s*(\d+)/(\d+|Unknown)\b")
_PAIR = re.compile(
    r"(?:^|\s)([A-Za-z_][\w./]*):\s+([-+]?(?:nan|inf(?:inity)?|(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?))(?![\w.:])",
    re.IGNORECASE,
)
"""``name: value`` as Keras prints a metric; a value followed by a letter or a colon
(``ETA: 0s``, ``ETA: 1:23``, ``params: 101,770``) is not a metric."""

_ETA = re.compile(r"\bETA:")
_STOPPED = re.compile(r"\bEpoch\s+0*(\d+):\s+early stopping")
_RESTORED = re.compile(r"Restoring model weights from the end of the best epoch:?\s*(\d+)")
"""What Keras' EarlyStopping prints (``verbose=1``) when it ends a fit and when it puts the best
epoch's weights back (Keras 3 does at the end of every fit; Keras 2 when it stopped it)."""


@dataclass
class ProgressLine:
    """One state of the progress bar: its step counter and the metrics it shows."""

    metrics: dict[str, float]
    step: int | None = None
    total: int | None = None  # None: no counter (`` - 3s - loss: ...``, then ``step`` is None too) or ``N/Unknown``
    eta: bool = False

    @property
    def complete(self) -> bool:
        """The epoch's last state: no time left to run, the counter (if any) at its end."""
        return not self.eta and (self.total is None or self.step == self.total)

    @property
    def validated(self) -> bool:
        return any(name.startswith("val_") for name in self.metrics)


@dataclass
class ConsoleLog:
    """The per-epoch table read from console text, and what was left out of it."""

    frame: pd.DataFrame
    skipped: list[str] = field(default_factory=list)
    # What the text says of the fit beyond its epochs, as ``ResolvedSetup`` fields: the epochs it
    # was asked for (``Epoch N/M``), whether EarlyStopping ended it before them, the epoch it restored.
    fit: dict[str, int | bool] = field(default_factory=dict)


def looks_like_console(text: str) -> bool:
    """Whether ``text`` is ``model.fit``'s console output: ``Epoch N/M`` lines, or metric lines with a loss."""
    head = text[:1_000_000]
    return bool(_EPOCH.search(head)) or any(_progress(line) for line in _segments(head[:200_000]))


def parse_console(text: str) -> ConsoleLog:
    """One row per finished epoch (``epoch`` as printed, 1-based), one column per metric.

    Raises ``ValueError`` when no epoch's metrics can be read.
    """
    before: list[ProgressLine] = []  # lines before any ``Epoch N/M``: all there is in a paste without them
    epochs: list[tuple[int, list[ProgressLine]]] = []
    for segment in _segments(text):
        header = _EPOCH.search(segment)
        if header:
            epochs.append((int(header.group(1)), []))
            segment = segment[header.end():]
        line = _progress(segment)
        if line is not None:
            (epochs[-1][1] if epochs else before).append(line)
    if not epochs:
        return _table(_rows_without_headers(before), [])
    skipped: list[str] = []
    epochs = _with_epoch_before(before, epochs, skipped)
    fits = _split_fits(epochs)
    if len(fits) > 1:
        skipped.append(
            f"the text holds {len(fits)} fits (epoch numbers start over); the last one is read,"
            f" epochs {fits[-1][0][0]}-{fits[-1][-1][0]}"
        )
    log = _table(_rows(fits[-1], skipped), skipped)
    log.fit = _early_stopping(text, int(log.frame["epoch"].iloc[-1]))
    first = int(log.frame["epoch"].iloc[0])
    if first > 1:
        _counted_from(first, log)
    return log


def _counted_from(first: int, log: ConsoleLog) -> None:
    """A text that starts at the fit's epoch ``first``: the doctor counts the epochs it shows from
    1 (``normalize_history``), so the epoch EarlyStopping restored is moved into that count."""
    log.skipped.append(f"the text starts at epoch {first} of the fit: its first {first - 1} epoch(s) are not in it,"
                       f" and the epochs are counted here from there (epoch 1 is the fit's epoch {first})")
    log.fit["first_epoch"] = first
    kept = log.fit.pop("kept_epoch", 0)
    if kept >= first:
        log.fit["kept_epoch"] = kept - first + 1
    elif kept:
        log.skipped.append(f"EarlyStopping put back epoch {kept}'s weights, from before the text starts: the model"
                           " judged is the last epoch shown")


def _with_epoch_before(before: list[ProgressLine], epochs: list[tuple[int, list[ProgressLine]]],
                       skipped: list[str]) -> list[tuple[int, list[ProgressLine]]]:
    """A paste that begins inside an epoch's bar, its ``Epoch N/M`` line cut off: Keras prints
    that line before the bar, so bar lines before the first ``Epoch k/M`` are epoch k - 1's. Before
    an ``Epoch 1/M`` they belong to no epoch of this fit (``evaluate``, another fit) and are named."""
    if not before:
        return epochs
    first = epochs[0][0]
    if first > 1:
        return [(first - 1, before), *epochs]
    skipped.append(f"{len(before)} line(s) with a loss before the first 'Epoch 1/M' line belong to no epoch of the fit:"
                   " not read")
    return epochs


def _early_stopping(text: str, last: int) -> dict[str, int | bool]:
    """The last fit's budget (its last ``Epoch N/M``) and what EarlyStopping printed after its last
    epoch: a stop there before the budget, and the epoch whose weights it put back."""
    headers = list(_EPOCH.finditer(text))
    if not headers or last <= 0:
        return {}
    asked, tail = int(headers[-1].group(2)), text[headers[-1].end():]
    found: dict[str, int | bool] = {"epochs": asked}
    stopped = _STOPPED.search(tail)
    if stopped and int(stopped.group(1)) == last < asked:
        found["ended_early"] = True
    restored = _RESTORED.search(tail)
    if restored and 0 < int(restored.group(1)) < last:
        found["kept_epoch"] = int(restored.group(1))
    return found


def _table(rows: list[dict[str, float]], skipped: list[str]) -> ConsoleLog:
    if not rows:
        raise ValueError(
            "no finished epoch with a loss in the console text: expected Keras' progress lines"
            " ('Epoch 1/10' then '32/32 ... - loss: 0.69 - val_loss: 0.70')"
        )
    return ConsoleLog(pd.DataFrame(rows), skipped)


def _segments(text: str) -> list[str]:
    """The text as the states a terminal showed: escapes and backspaces out, ``\\r`` ends a state too."""
    text = _ESCAPES.sub("", text).replace("\b", "")
    return re.split(r"\r\n|\r|\n", _GLUED_LOG.sub("\n", text))


def _progress(segment: str) -> ProgressLine | None:
    """The progress line in ``segment``, or None: a line counts when one of its metrics is a loss."""
    metrics = {}
    for name, value in _PAIR.findall(segment):
        metrics[name] = float(value)
    if not any(name == "loss" or name.endswith("_loss") for name in metrics):
        return None
    steps = _STEPS.match(segment)
    step, total = (int(steps.group(1)), steps.group(2)) if steps else (None, None)
    return ProgressLine(
        metrics,
        step=step,
        total=int(total) if total and total.isdigit() else None,
        eta=bool(_ETA.search(segment)),
    )


def _split_fits(epochs: list[tuple[int, list[ProgressLine]]]) -> list[list[tuple[int, list[ProgressLine]]]]:
    """Epoch blocks grouped by ``model.fit`` call: a number not above the last one starts a new fit."""
    fits: list[list[tuple[int, list[ProgressLine]]]] = []
    for number, lines in epochs:
        if not fits or number <= fits[-1][-1][0]:
            fits.append([])
        fits[-1].append((number, lines))
    return fits


def _rows(fit: list[tuple[int, list[ProgressLine]]], skipped: list[str]) -> list[dict[str, float]]:
    """The final line of each epoch of one fit; an epoch that never reached its end is named in ``skipped``."""
    rows = []
    for number, lines in fit:
        final = _final(_same_bar(lines))
        if final is None:
            if lines:
                last = lines[-1]
                where = f" at step {last.step}/{last.total}" if last.step is not None and last.total else ""
                lost = {name: value for name, value in last.metrics.items() if not math.isfinite(value)}
                if lost:
                    # A running mean that is already non-finite makes the epoch's mean non-finite
                    # too, whatever the batches it did not reach (TerminateOnNaN stops right there).
                    skipped.append(f"epoch {number} did not finish{where}, with {_listed(lost)} already non-finite:"
                                   " that is read as its value; its finite running means are not")
                    rows.append({"epoch": float(number), **lost})
                else:
                    skipped.append(f"epoch {number} did not finish{where}: its running means are not read")
            else:
                skipped.append(f"epoch {number} has no progress line with a loss that could be read (the text ends"
                               " or moves on after its 'Epoch' line): not read")
            continue
        rows.append({"epoch": float(number), **final.metrics})
    if len(rows) > 1 and _cut_in_validation(rows):
        skipped.append(f"epoch {rows[-1]['epoch']:g} has no validation metrics while the earlier epochs do: it was"
                       " cut off (a paste that ends inside its line, or a fit stopped while validating); not read")
        rows.pop()
    return rows


def _cut_in_validation(rows: list[dict[str, float]]) -> bool:
    """The last epoch lacks every ``val_`` metric that each earlier epoch shows, and its values are
    finite: Keras prints them at the end of the epoch's line, so the line was cut before them (a
    paste's last line, a fit interrupted during validation), and its training metrics may be
    cut too."""
    earlier = set.intersection(*({name for name in row if name.startswith("val_")} for row in rows[:-1]))
    last = rows[-1]
    finite = all(math.isfinite(value) for value in last.values())  # a NaN there is the divergence TerminateOnNaN stopped on
    return bool(earlier) and finite and not any(name.startswith("val_") for name in last)


def _listed(values: dict[str, float]) -> str:
    return ", ".join(f"{name} {value:g}" for name, value in values.items())


def _rows_without_headers(lines: list[ProgressLine]) -> list[dict[str, float]]:
    """No ``Epoch N/M`` line (a forum paste of bar lines): each complete line ends an epoch.

    Keras 3 draws an epoch's full bar twice, without and then with the ``val_`` metrics:
    the second replaces the first.
    """
    finals: list[ProgressLine] = []
    for line in _same_bar(lines):
        if not line.complete:
            continue
        if finals and _extends(line, finals[-1]):
            finals[-1] = line
        else:
            finals.append(line)
    return [{"epoch": float(number), **line.metrics} for number, line in enumerate(finals, start=1)]


def _same_bar(lines: list[ProgressLine]) -> list[ProgressLine]:
    """The lines of the fit's own bar, the first one's: another length after it is ``evaluate`` or
    ``predict``, and a line without a counter beside counted ones is some other text."""
    counted = [line for line in lines if line.step is not None]
    return [line for line in counted if line.total == counted[0].total] if counted else lines


def _final(lines: list[ProgressLine]) -> ProgressLine | None:
    complete = [line for line in lines if line.complete]
    validated = [line for line in complete if line.validated]
    return (validated or complete or [None])[-1]


def _extends(later: ProgressLine, earlier: ProgressLine) -> bool:
    """``later`` repeats all of ``earlier`` (same step, same values) and adds validation metrics."""
    same = all(
        name in later.metrics and _same_value(later.metrics[name], value) for name, value in earlier.metrics.items()
    )
    return same and later.step == earlier.step and later.validated and not earlier.validated


def _same_value(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))

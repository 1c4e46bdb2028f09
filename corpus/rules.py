"""The numeric labelling rules of corpus/LABELING.md, literally, and a log reader of their own.

Reads a training log (CSVLogger CSV, pandas table, History JSON, console text) into per-epoch
series and applies rules R0-R6. Knows nothing of plateau-doctor: it neither imports nor calls
it, so the labels cannot depend on what the doctor says.

    from corpus.rules import read_log, reading
    log = read_log("corpus/logs/pub_tomato_leaf.csv")
    reading(log, n_classes=10, cross_entropy=True)   # {'label': ..., 'patterns': [...], ...}
"""

from __future__ import annotations

import ast
import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
EPOCH_HEADER = re.compile(r"^\s*Epoch (\d+)/(\d+)\s*$")
METRIC = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*): (nan|-?inf|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)(?![\w.])", re.I)
STEPS = re.compile(r"^\s*(\d+)/(\d+)\b")

ACCURACY = ("val_accuracy", "val_acc", "accuracy", "acc")


@dataclass
class Log:
    columns: dict = field(default_factory=dict)  # name -> list of float, one per epoch, file order
    appended_runs: bool = False
    starts_mid_run: bool = False  # a console paste whose first epoch header is not epoch 1
    notes: list = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.columns.get("loss", []))


def _num(text: str) -> float | None:
    """A logged value; None where the log has none (CSVLogger's "NA", an empty cell)."""
    t = text.strip().strip('"').lower()
    if t in ("na", ""):
        return None
    if t == "nan":
        return math.nan
    if t in ("inf", "+inf", "infinity"):
        return math.inf
    if t in ("-inf", "-infinity"):
        return -math.inf
    return float(t)


def _read_table(text: str) -> Log:
    lines = [ln for ln in re.split(r"\r\n|\r|\n", text) if ln.strip()]
    sep = ";" if lines and lines[0].count(";") > lines[0].count(",") else ("\t" if "\t" in lines[0] and "," not in lines[0] else ",")
    rows = list(csv.reader(io.StringIO("\n".join(lines)), delimiter=sep))
    header, body = [h.strip() for h in rows[0]], rows[1:]
    cols: dict = {h: [] for h in header if h}
    for r in body:
        for h, v in zip(header, r):
            if h:
                try:
                    cols[h].append(_num(v))
                except ValueError:
                    cols[h].append(None)
    log = Log(columns=cols)
    if "epoch" in cols and any(b < a for a, b in zip(cols["epoch"], cols["epoch"][1:])):
        log.appended_runs = True
    return log


def _read_json(text: str) -> Log:
    data = json.loads(text)
    if isinstance(data, str):  # json.dump(str(history.history)): a JSON string holding the dict's repr (heldout4)
        data = ast.literal_eval(data)
    if isinstance(data, list):  # a list of per-epoch dicts
        keys = sorted({k for d in data for k in d})
        return Log(columns={k: [None if d.get(k) is None else float(d[k]) for d in data] for k in keys})
    if "history" in data and isinstance(data["history"], dict):
        data = data["history"]
    return Log(columns={k: [float(x) if x is not None else None for x in v] for k, v in data.items() if isinstance(v, list)})


def _read_console(text: str) -> Log:
    text = ANSI.sub("", text).replace("\x08", "\r")
    epochs: list[dict] = []
    current = None
    for raw in re.split(r"\r\n|\n", text):
        for seg in raw.split("\r"):
            if EPOCH_HEADER.match(seg):
                current = {}
                epochs.append(current)
                continue
            if current is None:
                continue
            found = {k: v for k, v in METRIC.findall(seg) if k.lower() not in ("eta",)}
            if "loss" in found:
                current.clear()
                current.update({k: _num(v) for k, v in found.items()})
    epochs = [e for e in epochs if "loss" in e]
    notes = []
    if len(epochs) >= 2 and set(epochs[-2]) - set(epochs[-1]):
        epochs = epochs[:-1]  # a paste cut inside its last epoch line: that epoch is incomplete
        notes.append("incomplete last epoch dropped")
    keys = sorted({k for e in epochs for k in e})
    heads = [int(m.group(1)) for m in (EPOCH_HEADER.match(x) for x in re.split(r"\r\n|\n|\r", text)) if m]
    return Log(columns={k: [e.get(k) for e in epochs] for k in keys}, notes=notes, starts_mid_run=bool(heads and heads[0] > 1))


def _text(path: Path) -> str:
    raw = path.read_bytes()
    # A console capture saved by PowerShell is UTF-16 with a byte-order mark (added for heldout4, before the freeze).
    return raw.decode("utf-16", "replace") if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else raw.decode("utf-8-sig", "replace")


def is_console(path: str | Path) -> bool:
    """Console text of ``model.fit``: a .txt file, or any file with ``Epoch k/n`` header lines."""
    path = Path(path)
    return path.suffix == ".txt" or (path.suffix != ".json" and re.search(r"^\s*Epoch \d+/\d+\s*$", _text(path), re.M) is not None)


def read_log(path: str | Path) -> Log:
    path = Path(path)
    text = _text(path)
    if path.suffix == ".json":
        return _read_json(text)
    if is_console(path):
        return _read_console(text)
    return _read_table(text)


# ----------------------------------------------------------------------------------------


def _smooth(x: np.ndarray) -> np.ndarray:
    return np.array([np.mean(x[max(0, i - 2): i + 1]) for i in range(len(x))])


def _positive(*series) -> bool:
    return all(np.all(s[np.isfinite(s)] > 0) for s in series if s is not None)


def _rel(delta: float, ref: float, series: np.ndarray, positive: bool) -> float:
    if positive:
        return delta / ref if ref > 0 else math.inf
    span = float(np.max(series) - np.min(series))
    return delta / span if span > 0 else 0.0


CAUSES = {
    "diverged": ["learning_rate_too_high", "exploding_gradients", "unscaled_features", "unscaled_target", "loss_mismatch"],
    "stuck": ["learning_rate_too_high", "learning_rate_too_low", "bad_initialization", "dead_relu", "vanishing_gradients",
              "output_activation_mismatch", "loss_mismatch", "optimizer_choice", "no_learnable_signal", "unscaled_features",
              "unscaled_target", "class_imbalance", "too_strong_regularization", "too_few_updates"],
    "overfitting": ["overfitting"],
    "still_falling": ["too_few_epochs", "learning_rate_too_low", "too_few_updates", "optimizer_choice"],
    "oscillation": ["learning_rate_too_high", "exploding_gradients"],
}
SYMPTOMS = {"diverged": ["diverged"], "stuck": ["stuck_at_trivial", "plateau"], "overfitting": ["overfitting"],
            "still_falling": ["slow_convergence"], "oscillation": ["oscillation"]}


def reading(log: Log, n_classes: int | None = None, cross_entropy: bool | None = None) -> dict:
    """Rules R0-R6 of LABELING.md on one log: label, patterns, borderlines, symptoms, causes, the numbers."""
    cols = log.columns
    out = {"patterns": [], "borderline": [], "numbers": {}}

    def done(label, why):
        causes = sorted({c for p in out["patterns"] for c in CAUSES[p]})
        symptoms = sorted({s for p in out["patterns"] for s in SYMPTOMS[p]}) if label == "sick" else (["converged"] if label == "healthy" else [])
        return {**out, "label": label, "why": why, "causes": causes, "symptoms": symptoms}

    if "loss" not in cols or log.n == 0:
        return done("unclear", "R0: no loss column")
    if log.appended_runs:
        return done("unclear", "R0: several runs appended in one file")
    def arr(name):
        return np.array([math.nan if v is None else v for v in cols[name]], float)

    def logged_nonfinite(name):
        return name in cols and any(v is not None and not math.isfinite(v) for v in cols[name])

    loss = arr("loss")
    val = arr("val_loss") if "val_loss" in cols else None
    if val is not None:
        present = np.mean([v is not None for v in cols["val_loss"]])
        if len(val) != len(loss) or present < 0.8:
            val = None
    n = len(loss)
    # R1: a non-finite value the log itself wrote (a missing value is not one)
    nonfinite = logged_nonfinite("loss") or (val is not None and logged_nonfinite("val_loss"))
    pos_loss = _positive(loss)
    if nonfinite:
        out["patterns"].append("diverged")
        out["numbers"]["nonfinite"] = True
        return done("sick", "R1: a non-finite loss")
    if n < 5:
        return done("unclear", f"R0: {n} epochs")
    sl = _smooth(loss)
    if pos_loss and (sl[-1] > 3 * loss[0] or (loss.max() > 10 * loss[0] and loss[-1] > loss[0])):
        out["patterns"].append("diverged")
    M = val if val is not None else loss
    sM = _smooth(M)
    pos = _positive(loss, val)
    half = n // 2
    out["numbers"].update(first_loss=float(loss[0]), last_loss=float(loss[-1]), min_loss=float(loss.min()), n=n,
                          monitored="val_loss" if val is not None else "loss")
    # R2
    stuck = []
    if n_classes and n_classes >= 2 and cross_entropy:
        lnk = math.log(n_classes)
        if np.all(np.abs(sM[half:] - lnk) <= 0.02 * lnk):
            stuck.append(f"(a) S(M) within 2% of ln {n_classes} = {lnk:.4f} for the last half")
    acc_name = next((a for a in ACCURACY if a in cols and (val is not None or not a.startswith("val_"))), None)
    acc = np.asarray(cols[acc_name], float) if acc_name else None
    if n_classes and n_classes >= 2 and acc is not None and np.all(np.isfinite(acc[half:])):
        if np.all(np.abs(acc[half:] - 1.0 / n_classes) <= 0.02):
            stuck.append(f"(b) {acc_name} within 0.02 of 1/{n_classes} for the last half")
    fell = _rel(loss[0] - loss.min(), loss[0], loss, pos_loss)
    out["numbers"]["train_fall_first_to_min"] = round(float(fell), 4)
    if fell < 0.05 and not log.starts_mid_run:
        stuck.append(f"(c) training loss never fell 5% below its first value (fell {fell:.1%})")
    if stuck:
        out["patterns"].append("stuck")
        out["numbers"]["stuck"] = stuck
    # R3
    if val is not None:
        sv = _smooth(val)
        m = int(np.argmin(sv))
        if n - 1 - m >= 5:
            last3 = float(np.mean(val[-3:]))
            gl = _rel(last3 - sv[m], sv[m], sv, pos)
            slope = float(np.polyfit(np.arange(n - m), val[m:], 1)[0])
            train_drop = _rel(sl[m] - sl[-1], sl[m], sl, pos)
            out["numbers"].update(val_min_epoch=m, val_gl=round(float(gl), 4), val_slope_after_min=slope,
                                  train_drop_after_val_min=round(float(train_drop), 4))
            if slope > 0 and train_drop >= 0.02:
                if gl >= 0.10:
                    out["patterns"].append("overfitting")
                elif gl >= 0.05:
                    out["borderline"].append(f"overfitting: generalization loss {gl:.1%} (5-10%)")
    # R4
    w = max(3, math.ceil(0.2 * n))
    if n > w:
        win = M[-(w + 1):]
        steps = np.diff(win)
        down = float(np.mean(steps < 0))
        fall = _rel(win[0] - win[-1], win[0], sM, pos)
        total = float(np.nanmax(M[: n - w]) - win[-1])  # the run's progress down to the end
        share = float((win[0] - win[-1]) / total) if total > 0 else 0.0
        out["numbers"].update(tail_steps=w, tail_down_share=round(down, 3), tail_fall=round(float(fall), 4),
                              tail_share_of_progress=round(share, 4))
        if down >= 0.8:
            if fall > 0.05 and share >= 0.05:
                out["patterns"].append("still_falling")
            elif fall > 0.02 and share >= 0.025:
                out["borderline"].append(f"still falling: {fall:.1%} over the last {w} steps, {share:.1%} of the run's progress")
    # R5
    if n >= 6:
        tail = loss[half:]
        d = np.diff(tail)
        ups = float(np.mean(d > 0))
        med_step = float(np.median(np.abs(d)))
        scale = float(np.median(tail)) if pos_loss else float(np.max(sl) - np.min(sl))
        tail_fall = _rel(sl[half] - sl[-1], sl[half], sl, pos_loss)
        out["numbers"].update(osc_up_share=round(ups, 3), osc_step_rel=round(med_step / scale, 4) if scale > 0 else None)
        if ups >= 0.4 and scale > 0 and med_step >= 0.10 * scale and tail_fall < 0.10:
            out["patterns"].append("oscillation")
    if out["patterns"]:
        return done("sick", "; ".join(out["patterns"]))
    if out["borderline"]:
        return done("unclear", "borderline: " + "; ".join(out["borderline"]))
    if log.starts_mid_run:
        return done("unclear", "R0: the log starts in the middle of the run (no first epoch to compare with)")
    if fell < 0.10:
        return done("unclear", f"training loss fell only {fell:.1%} from the first epoch to its minimum")
    if n_classes and acc is not None and np.isfinite(acc[-1]) and acc[-1] < 1.0 / n_classes + 0.1:
        return done("unclear", f"last {acc_name} {acc[-1]:.3f} below 1/k + 0.1")
    return done("healthy", "R6: no pattern, training loss fell, accuracy above chance")

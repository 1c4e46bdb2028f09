"""Write corpus/labels.yaml from how each log was made (own fits) or from the written rules (public logs).

    .venv/bin/python corpus/make_labels.py            # labels.yaml (+ build/references.json)
    .venv/bin/python corpus/make_labels.py --freeze   # then corpus/FROZEN and corpus/MANIFEST.sha256

Inputs: harness/corpus_build.py's SPECS and the build's corpus/build/meta/*.json (own fits),
corpus/public_sources.yaml (public logs), corpus/rules.py (LABELING.md, section B). Never
imports or runs plateau_doctor. The references (scikit-learn on the same splits) are
computed once and kept in corpus/build/references.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import json
import math
import random
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
sys.path.insert(0, str(ROOT))
from corpus.rules import is_console, read_log, reading  # noqa: E402

_spec = importlib.util.spec_from_file_location("corpus_build", ROOT / "harness" / "corpus_build.py")
corpus_build = importlib.util.module_from_spec(_spec)
sys.modules["corpus_build"] = corpus_build
_spec.loader.exec_module(corpus_build)

SPLIT_SEED = 19
KIND = {"cnn_digits": "cnn_image", "cnn_shapes": "cnn_image", "transfer_digits": "frozen_transfer",
        "transfer_shapes": "frozen_transfer", "diabetes": "regression_mlp", "friedman": "regression_mlp",
        "make_regression": "regression_mlp", "nll": "regression_mlp", "text_doc": "text_embedding",
        "tokens_bigram": "token_sequence", "tokens_count": "token_sequence", "seq_freq": "numeric_sequence",
        "seq_amp": "numeric_sequence",
        # heldout2's families
        "stripes": "cnn_image", "transfer_digits59": "frozen_transfer", "friedman2": "regression_mlp",
        "friedman3": "regression_mlp", "make_regression2": "regression_mlp", "waves": "numeric_sequence",
        "tokens_vote": "token_sequence",
        # heldout3's
        "glyphs": "cnn_image", "transfer_oddeven": "frozen_transfer", "energy": "regression_mlp",
        "diabetes3": "regression_mlp", "friedman1c": "regression_mlp", "tokens_topic": "token_sequence",
        "tokens_order": "token_sequence",
        # heldout4's
        "lines": "cnn_image", "pulses": "numeric_sequence", "sinus": "regression_mlp", "poly": "regression_mlp",
        "transfer_prime": "frozen_transfer", "tokens_count4": "token_sequence",
        # heldout5's
        "corners": "cnn_image", "chirps": "numeric_sequence", "houses": "regression_mlp", "scurve": "regression_mlp",
        "tokens_motif5": "token_sequence", "transfer_mod3": "frozen_transfer",
        # heldout6's
        "textures": "cnn_image", "seqlong": "numeric_sequence", "tokens_first": "token_sequence",
        "denoise": "regression_mlp", "tregress": "regression_mlp",
        # heldout7's
        "beats": "numeric_sequence", "beats_rare": "numeric_sequence", "load": "numeric_sequence", "bars": "cnn_image",
        "transfer_bars": "frozen_transfer", "reviews": "token_sequence", "pendulum": "regression_mlp",
        "sparse": "regression_mlp",
        # heldout8's
        "emblems": "cnn_image", "transfer_emblems": "frozen_transfer", "imu": "numeric_sequence",
        "spectra": "numeric_sequence", "tickets": "token_sequence", "tickets_urgent": "token_sequence",
        "solar": "regression_mlp", "concrete": "regression_mlp", "swissroll": "regression_mlp",
        # heldout9's
        "emblems9": "cnn_image", "transfer_emblems9": "frozen_transfer", "imu9": "numeric_sequence",
        "tickets9": "token_sequence", "concrete9": "regression_mlp", "solar9": "regression_mlp",
        "diabetes9": "regression_mlp", "wine9": "tabular_mlp", "breast9": "tabular_mlp", "imb9": "tabular_mlp",
        "digits9": "cnn_image",
        # heldout10's
        "emblems10": "cnn_image", "transfer_emblems10": "frozen_transfer", "imu10": "numeric_sequence",
        "tickets10": "token_sequence", "concrete10": "regression_mlp", "solar10": "regression_mlp",
        "diabetes10": "regression_mlp", "swissroll10": "regression_mlp", "wine10": "tabular_mlp",
        "breast10": "tabular_mlp", "iris10": "tabular_mlp", "imb10": "tabular_mlp", "digits_flat10": "tabular_mlp",
        "digits10": "cnn_image", "spectra10": "numeric_sequence"}
DESIGN_SYMPTOMS = {
    "learning_rate_too_high": ["diverged", "stuck_at_trivial", "oscillation"],
    "exploding_gradients": ["diverged", "stuck_at_trivial", "oscillation"],
    "learning_rate_too_low": ["stuck_at_trivial", "plateau", "slow_convergence"],
    "optimizer_choice": ["stuck_at_trivial", "plateau", "slow_convergence"],
    "too_few_updates": ["stuck_at_trivial", "plateau", "slow_convergence"],
    "too_few_epochs": ["slow_convergence"],
    "overfitting": ["overfitting"],
    "insufficient_capacity": ["plateau"],
}
OTHER_FAULT_SYMPTOMS = ["stuck_at_trivial", "plateau"]
TOKEN_FAMILIES = {"text_doc", "tokens_bigram", "tokens_count",  # references on a bag of tokens
                  "tokens_vote", "tokens_topic", "tokens_order", "tokens_count4",  # (heldout2-6's)
                  "tokens_motif5", "tokens_first",
                  "reviews",  # heldout7's
                  "tickets", "tickets_urgent",  # heldout8's
                  "tickets9",  # heldout9's
                  "tickets10"}  # heldout10's
FORMAT = {"csvlogger": "csvlogger", "csvlogger_crlf2": "csvlogger", "csv_noepoch": "csv_table", "csv_epochlast": "csv_table",
          "json": "history_json", "console_v1_pty": "console", "console_v1_pipe": "console", "console_v2_pipe": "console",
          # the writers heldout5 and heldout6 added (harness/corpus_build5.py, corpus_build6.py)
          "keras2_csv": "csvlogger", "json_pretty": "history_json", "csv_semicolon": "csv_table", "csv_index": "csv_table"}
PUBLIC_KIND = {
    "heartnet": "cnn_audio", "yogamirror": "pose_classifier", "distracted": "cnn_image", "stock": "regression_lstm",
    "voice": "cnn_audio", "car_cnn": "cnn_image", "braincnn": "cnn_image", "emotion": "cnn_image", "cat_": "cnn_image",
    "tomato": "cnn_image", "brain_tumor": "cnn_image", "digits": "cnn_image", "plant": "cnn_image", "waste": "cnn_image",
    "gru_noise": "regression_rnn", "power": "regression_rnn", "cnnbricks": "cnn_image", "text": "text_embedding",
    "carnd": "regression_cnn", "molecular": "regression_mlp", "seeds": "cnn_image", "traffic": "cnn_image",
    "colorizer": "regression_cnn", "hsdnn": "other", "cs653": "cnn_image", "sign": "cnn_image", "tweets": "text_embedding",
    "pneumonia": "cnn_image", "maize": "cnn_image", "groww": "text_embedding", "console_chenzhang": "unknown",
    "console_handsonml2": "regression_mlp", "console_keras_10506": "unknown", "console_rkeras3": "regression_mlp",
    "console_keras_8680": "cnn_image", "console_mobilenet": "detector_cnn",
}


# ----------------------------------------------------------------------------------------


def quirks_of(path: Path, log) -> list[str]:
    raw = path.read_bytes()
    q = []
    if b"\r\r\n" in raw:
        q.append("crcrlf_line_ends")
    elif b"\r\n" in raw:
        q.append("crlf_line_ends")
    cols = log.columns
    if path.suffix == ".csv":
        header = re.split(rb"\r|\n", raw, 1)[0].decode("utf-8", "replace").split(",")
        if "epoch" not in [h.strip() for h in header]:
            q.append("no_epoch_column")
        elif header[-1].strip() == "epoch":
            first = re.split(rb"\r\r\n|\r\n|\n", raw)[1].decode().split(",")[-1].strip()
            q.append("epoch_1based_last" if first == "1" else "epoch_last")
    if any(k in cols for k in ("lr", "learning_rate")):
        q.append("lr_column")
    losses = [v for k in ("loss", "val_loss") for v in cols.get(k, [])]
    if any(isinstance(v, float) and math.isfinite(v) and v < 0 for v in losses):
        q.append("negative_loss")
    if any(isinstance(v, float) and not math.isfinite(v) for v in losses):
        q.append("non_finite_values")
    if "val_loss" not in cols:
        q.append("training_columns_only")
    elif all(v is None for v in cols["val_loss"]):
        q.append("training_columns_only")
        q.append("val_columns_all_NA")  # Keras 3's CSVLogger without validation data
    if log.appended_runs:
        q.append("appended_runs")
    std = {"epoch", "loss", "val_loss", "accuracy", "acc", "val_accuracy", "val_acc", "lr", "learning_rate", "mae", "val_mae"}
    if set(cols) - std:
        q.append("extra_metric_columns")
    if path.suffix == ".json" and b"\n" in raw.strip():
        q.append("pretty_printed_json")
    if path.suffix == ".txt":
        text = raw.decode("utf-8", "replace")
        if "\x1b[" in text:
            q.append("ansi_codes")
        if "\x08" in text or re.search(r"\r(?!\n)", text):
            q.append("progress_bar_redraws")
        if re.search(r"Warning|WARNING|I0000|ReduceLROnPlateau|Invalid loss|Restoring model weights|Epoch \d+: early stopping", text):
            q.append("interleaved_messages")
        if "[====" in text or "[...." in text:
            q.append("keras2_progress_bars")
        heads = [int(m) for m in re.findall(r"^\s*Epoch (\d+)/\d+\s*$", text, re.M)]
        if heads and heads[0] > 1:
            q.append("starts_mid_run")
        last = [ln for ln in re.split(r"\r\n|\n", text) if ln.strip()][-1]
        looks_like_progress = re.search(r"^\s*\d+/\d+ |\[[=.>]+|\s- \w+: ", last)
        if looks_like_progress and not re.search(r"(loss|acc|accuracy|mae|rate|error): (nan|inf|-?[\d.]+(e[+-]?\d+)?)\s*$", last):
            q.append("truncated_last_line")
    return q


def _rule_block(r: dict) -> dict:
    return {"label": r["label"], "patterns": r["patterns"], "borderline": r["borderline"], "why": r["why"]}


# ----------------------------------------------------------------------------------------


def _read(path: Path):
    """corpus/rules.py's reader; a log it cannot read is named in the error (a public JSON that is not a dict, say)."""
    try:
        return read_log(path)
    except Exception as exc:
        raise RuntimeError(f"corpus/rules.py cannot read {path}: {type(exc).__name__}: {exc}") from exc


def references(specs) -> dict:
    """A scikit-learn reference on each fit's own split: logistic regression (balanced weights when a
    class is 3x another) or ridge, on the flattened inputs (bag of tokens for text; the frozen
    base's features for the transfer fits, the level that set-up allows). Cached."""
    path = CORPUS / "build" / "references.json"
    cache = json.loads(path.read_text()) if path.exists() else {}
    todo = [s for s in specs if s.id not in cache]
    if todo:
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import numpy as np
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.metrics import balanced_accuracy_score, r2_score
        from sklearn.preprocessing import StandardScaler

        corpus_build._setup_tf()
        for s in todo:
            job = corpus_build.make_job(s)
            xtr, xva = np.asarray(job.xtr), np.asarray(job.xva)
            if s.family.startswith("transfer"):  # the level a frozen base allows: a linear model on its features
                base = job.model.layers[0]
                xtr, xva = base.predict(xtr, verbose=0), base.predict(xva, verbose=0)
            if s.family in TOKEN_FAMILIES:
                v = int(max(xtr.max(), xva.max())) + 1
                xtr = np.stack([np.bincount(r, minlength=v) for r in xtr.astype(int)])[:, 1:]
                xva = np.stack([np.bincount(r, minlength=v) for r in xva.astype(int)])[:, 1:]
            xtr, xva = xtr.reshape(len(xtr), -1).astype("float64"), xva.reshape(len(xva), -1).astype("float64")
            sc = StandardScaler().fit(xtr)
            xtr, xva = sc.transform(xtr), sc.transform(xva)
            if job.task == "regression":
                m = Ridge(alpha=1.0).fit(xtr, job.ytr)
                y = np.asarray(job.yva) * job.y_std + job.y_mean
                ref = float(r2_score(y, m.predict(xva) * job.y_std + job.y_mean))
            else:  # labels given to Keras as an (n, 1) column (mse on class ids) are the same labels
                ytr, yva = np.asarray(job.ytr).ravel(), np.asarray(job.yva).ravel()
                counts = np.bincount(ytr.astype(int))
                cw = "balanced" if counts[counts > 0].max() >= 3 * counts[counts > 0].min() else None
                m = LogisticRegression(max_iter=3000, class_weight=cw).fit(xtr, ytr)
                ref = float(balanced_accuracy_score(yva, m.predict(xva)))
            cache[s.id] = ref
            print(f"  reference {s.id}: {ref:.4f}", flush=True)
        path.write_text(json.dumps(cache, indent=1))
    return cache


def own_entries() -> list[dict]:
    specs = {s.id: s for s in corpus_build.SPECS}
    metas = {i: json.loads((CORPUS / "build" / "meta" / f"{i}.json").read_text()) for i in specs}
    refs = references([s for s in corpus_build.SPECS if s.intent == "healthy"])
    fix_of = {s.fix: s.id for s in specs.values() if s.fix}
    entries = []
    for i, s in specs.items():
        meta = metas[i]
        path = CORPUS / "logs" / f"{i}.{corpus_build.ext(s.fmt)}"
        log = _read(path)
        ce = meta["task"] != "regression" and "crossentropy" in str(s.params.get("loss") or "crossentropy")
        r = reading(log, n_classes=meta["n_classes"], cross_entropy=ce)
        main = meta["main"]
        e = {"id": i, "file": f"logs/{path.name}", "format": FORMAT[s.fmt], "origin": "own",
             "source": {"script": "harness/corpus_build.py", "function": f"make_job[{s.family}] + run_fit", "seed": s.seed,
                        "params": s.params},
             "kind": KIND.get(s.family, "tabular_mlp"), "task": meta["task"], "n_classes": meta["n_classes"],
             "how": s.how}
        metric = f"{meta['main_metric']}={main:.4f}" if main is not None else f"{meta['main_metric']}=nan"
        if s.intent == "sick":
            fm = metas[s.fix]
            a, b = (main if main is not None else -math.inf), (fm["main"] if fm["main"] is not None else -math.inf)
            gain = b - a
            lv = meta.get("final_val_loss")
            lf = fm.get("final_val_loss")
            loss_ok = "overfitting" in s.causes and lv is not None and lf is not None and math.isfinite(lv) and lf <= 0.8 * lv
            clear = gain >= 0.05 or loss_ok
            design = sorted({x for c in s.causes for x in DESIGN_SYMPTOMS.get(c, OTHER_FAULT_SYMPTOMS)})
            rule_sym = r["symptoms"] if r["label"] == "sick" else []
            e.update(label="sick" if clear else "unclear", accepted_causes=list(s.causes),
                     expected_symptoms=sorted(set(design) | set(rule_sym)),
                     fix={"id": s.fix, "change": s.fix_change,
                          "metric": f"{meta['main_metric']} {main if main is None else round(main, 4)} -> {round(fm['main'], 4) if fm['main'] is not None else None}",
                          "final_val_loss": f"{round(lv, 4) if lv is not None and math.isfinite(lv) else lv} -> {round(lf, 4) if lf is not None else None}",
                          "clearly_better": bool(clear)},
                     curve_visible=r["label"] == "sick")
            if not clear:
                e["unclear_why"] = f"the fix did not reach clearly better ({metric} -> {fm['main']})"
        else:
            ref = refs.get(i)
            near = main is not None and ref is not None and main >= ref - 0.05
            ok = r["label"] == "healthy" and near
            e.update(label="healthy" if ok else "unclear", accepted_causes=[], expected_symptoms=["converged"] if ok else [],
                     fix=None, reference=f"scikit-learn linear reference {ref:.4f}; this fit {metric}")
            if i in fix_of:
                e["fix_for"] = fix_of[i]
            if not ok:
                e["unclear_why"] = (f"rules read {r['label']} ({r['why']})" if r["label"] != "healthy"
                                    else f"{metric} more than 0.05 below the reference {ref:.4f}")
        e["metrics"] = {"epochs": meta["epochs_run"], "fit_seconds": meta["fit_seconds"], meta["main_metric"]: main,
                        "final_val_loss": meta.get("final_val_loss")}
        e["rule_reading"] = _rule_block(r)
        e["quirks"] = quirks_of(path, log)
        entries.append(e)
    return entries


def public_entries() -> list[dict]:
    entries = []
    for src in yaml.safe_load((CORPUS / "public_sources.yaml").read_text()):
        i = src["id"]
        path = next(p for p in (CORPUS / "logs").glob(f"{i}.*"))
        log = _read(path)
        ce = bool(src.get("loss") and "crossentropy" in src["loss"])
        k = src.get("n_classes") or (2 if src.get("task") == "binary" else None)
        r = reading(log, n_classes=k, cross_entropy=ce)
        fmt = {".json": "history_json", ".txt": "console"}.get(path.suffix)
        if fmt is None and is_console(path):  # a console capture saved as .log (heldout4)
            fmt = "console"
        if fmt is None:
            first = path.read_bytes().split(b"\n", 1)[0]
            fmt = "csvlogger" if first.startswith(b"epoch,") else "csv_table"
        source = {k2: src[k2] for k2 in ("repo", "path", "commit", "url") if src.get(k2)}
        kind = next((v for key, v in PUBLIC_KIND.items() if key in i), "unknown")
        e = {"id": i, "file": f"logs/{path.name}", "format": fmt, "origin": "public", "source": source, "kind": kind,
             "task": src.get("task"), "n_classes": src.get("n_classes"),
             "how": f"labelled by LABELING.md section B: {r['why']}",
             "label": r["label"], "accepted_causes": r["causes"], "expected_symptoms": r["symptoms"], "fix": None,
             "rule_reading": _rule_block(r), "quirks": quirks_of(path, log)}
        if src.get("note"):
            e["note"] = src["note"]
        entries.append(e)
    return entries


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--freeze", action="store_true")
    a = ap.parse_args(argv)
    entries = sorted(own_entries() + public_entries(), key=lambda e: e["id"])
    rng = random.Random(SPLIT_SEED)
    for e in entries:
        e["split"] = "tune" if rng.random() < 0.5 else "heldout"
    header = (f"# plateau-doctor real-log corpus (issue 19, part 1): one entry per log in corpus/logs/.\n"
              f"# Labels from how each own fit was built (LABELING.md A) or from the numeric rules (LABELING.md B);\n"
              f"# never from plateau-doctor's output. split: random.Random({SPLIT_SEED}) over sorted ids, < 0.5 -> tune.\n")
    out = write_labels(CORPUS, entries, header)
    from collections import Counter

    print(Counter((e["origin"], e["split"]) for e in out))
    if a.freeze:
        print("frozen", write_freeze(CORPUS, "No log was given to plateau-doctor before this file was written."))


ORDER = ["id", "file", "format", "origin", "source", "split", "label", "accepted_causes", "expected_symptoms", "how",
         "fix", "quirks", "task", "n_classes", "kind"]
"""The keys every labels.yaml entry starts with, in this order; any others follow."""


def write_labels(folder: Path, entries: list[dict], header: str) -> list[dict]:
    """``folder``/labels.yaml: ``header`` (comment lines), then the entries with their keys in
    :data:`ORDER`; prints the count per origin and label, and returns the entries as written."""
    from collections import Counter

    out = [{**{k: e.get(k) for k in ORDER}, **{k: v for k, v in e.items() if k not in ORDER}} for e in entries]
    (folder / "labels.yaml").write_text(header + yaml.safe_dump(out, sort_keys=False, width=140, allow_unicode=True))
    print(Counter((e["origin"], e["label"]) for e in out))
    return out

def heldout_entries(folder: Path, script: str, split: str) -> list[dict]:
    """A later held-out corpus' entries (``corpus/heldout2/``, ``corpus/heldout3/``), once ``CORPUS``
    and ``corpus_build`` point at it: its own fits (built by ``script``) and, when its
    ``public_sources.yaml`` exists, its public logs with the kinds written there; every entry in
    ``split``. Two quirks of those corpora are named: a pandas index column, and NaN losses that
    pandas wrote as empty cells (LABELING.md B reads those as missing, so the label comes from the
    construction)."""
    own = own_entries()
    for e in own:
        e["source"]["script"] = script
    pub = []
    sources = folder / "public_sources.yaml"
    if sources.exists():
        pub = public_entries()
        src = {s["id"]: s for s in yaml.safe_load(sources.read_text())}
        for e in pub:
            e["kind"] = src[e["id"]].get("kind") or e["kind"]
    out = sorted(own + pub, key=lambda e: e["id"])
    for e in out:
        e["split"] = split
        path = folder / e["file"]
        if path.suffix == ".csv" and path.read_bytes().startswith(b","):
            e["quirks"].append("pandas_index_column")
        if e["origin"] == "own" and path.suffix == ".csv":
            meta = json.loads((folder / "build" / "meta" / f"{e['id']}.json").read_text())
            if any(isinstance(v, float) and not math.isfinite(v) for vs in meta["history"].values() for v in vs):
                # pandas' to_csv writes NaN as an empty cell: the file shows "missing" where the fit logged NaN
                bad = [q for q in e["quirks"] if q in ("training_columns_only", "val_columns_all_NA")]
                e["quirks"] = [q for q in e["quirks"] if q not in bad] + ["nan_written_as_empty_cells"]
                e["note"] = ("the fit logged NaN losses; pandas wrote them as empty cells, which LABELING.md B reads as "
                             "missing values, not non-finite ones (the label comes from the construction)")
    return out


def add_csv_header_quirks(folder: Path, entries: list[dict]) -> list[dict]:
    """Two quirks read from a CSV log's header line (named from heldout5 on; the earlier corpora
    were frozen without them): ``semicolon_separator`` and ``keras2_metric_names`` (acc/val_acc)."""
    for e in entries:
        path = folder / e["file"]
        if path.suffix == ".csv":
            header = path.read_bytes().split(b"\n", 1)[0]
            if header.count(b";") > header.count(b","):
                e["quirks"].append("semicolon_separator")
            names = header.decode("utf-8", "replace").replace(";", ",").strip().split(",")
            if "acc" in names or "val_acc" in names:
                e["quirks"].append("keras2_metric_names")
    return entries


def unlisted(folder: Path, entries: list[dict]) -> list[str]:
    """Files in ``folder``/logs that no entry names (e.g. a public log whose source is not listed yet)."""
    named = {Path(e["file"]).name for e in entries}
    return sorted(p.name for p in (folder / "logs").iterdir() if p.name not in named)


def heldout_main(folder: Path, entries, ordinal: str, argv=None) -> None:
    """The command line of a later held-out corpus' labelling script (``make_labels3.py`` ...):
    write ``folder``/labels.yaml from ``entries(own_only)``; ``--freeze`` then writes FROZEN and
    MANIFEST.sha256, and refuses while a log has no entry; ``--own-only`` labels the own fits
    alone (a dry run while the public half is still being collected) and cannot be frozen."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--freeze", action="store_true")
    ap.add_argument("--own-only", action="store_true",
                    help="label the own fits only (a dry run while the public half is incomplete); --freeze then refuses")
    a = ap.parse_args(argv)
    if a.freeze and a.own_only:
        sys.exit("not frozen: --own-only leaves the public logs out")
    name = folder.name
    header = (f"# plateau-doctor {ordinal} held-out corpus (corpus/{name}/): one entry per log in corpus/{name}/logs/.\n"
              "# Labels from how each own fit was built (LABELING.md A) or from the numeric rules (LABELING.md B, corpus/rules.py);\n"
              f"# never from plateau-doctor's output. Every entry is split {name} (no tune half).\n")
    out = write_labels(folder, entries(a.own_only), header)
    if not (folder / "public_sources.yaml").exists():
        print(f"note: {folder / 'public_sources.yaml'} does not exist: public logs not labelled")
    left = unlisted(folder, out)
    if left:
        print(f"warning: {len(left)} file(s) in logs/ have no entry: {', '.join(left)}")
    if a.freeze:
        if left:
            sys.exit("not frozen: every file in logs/ needs an entry first")
        print("frozen", write_freeze(folder, f"No log of corpus/{name} was given to plateau-doctor before this file was written."))


def later_corpus_main(number: int, ordinal: str, argv=None) -> None:
    """The whole labelling command of ``corpus/heldout<number>/`` from heldout5 on
    (``make_labels5.py`` ...): this module pointed at that folder, with
    ``harness/corpus_build<number>.py``'s specs (its import patches the ``corpus_build`` module this
    one loaded: that corpus' specs, paths, families and writers)."""
    global CORPUS, corpus_build
    sys.path.insert(0, str(ROOT / "harness"))
    build = importlib.import_module(f"corpus_build{number}")
    folder = getattr(build, f"H{number}")  # corpus/heldout<number>, or HELDOUT<number>_OUT for a dry run elsewhere
    CORPUS, corpus_build = folder, build.cb
    split = f"heldout{number}"

    def entries(own_only: bool = False) -> list[dict]:
        global public_entries
        if own_only:  # a dry run of the own half while the public half is still being collected
            public_entries = lambda: []  # noqa: E731
        return add_csv_header_quirks(folder, heldout_entries(folder, f"harness/corpus_build{number}.py", split))

    heldout_main(folder, entries, ordinal, argv)


def write_freeze(folder: Path, pledge: str) -> str:
    """FROZEN (time, labels.yaml's sha256, the pledge) and MANIFEST.sha256 (every log) in ``folder``."""
    digest = hashlib.sha256((folder / "labels.yaml").read_bytes()).hexdigest()
    lines = [f"{hashlib.sha256(p.read_bytes()).hexdigest()}  logs/{p.name}" for p in sorted((folder / "logs").iterdir())]
    (folder / "MANIFEST.sha256").write_text("\n".join(lines + [f"{digest}  labels.yaml"]) + "\n")
    (folder / "FROZEN").write_text(
        f"frozen: {dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}\n"
        f"labels.yaml sha256: {digest}\n"
        f"logs: {len(lines)} files, hashes in MANIFEST.sha256\n"
        f"{pledge}\n")
    return digest


if __name__ == "__main__":
    main()

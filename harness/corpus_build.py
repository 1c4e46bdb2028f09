"""Build the own half of the real-log corpus (issue 19, part 1): seeded Keras fits, logs as users write them.

    .venv/bin/python harness/corpus_build.py build [--only ID ...] [--jobs 2]   # fits -> corpus/logs, corpus/build/meta
    .venv/bin/python harness/corpus_build.py list                               # the fits and their intent

Every fit is one entry of ``SPECS``: a family function (data + model), its parameters, a
seed, the log format and the intent (``sick`` with the causes it was built with, or
``healthy``). Each sick fit names its fix: the same set-up with the fault removed, itself a
fit of the corpus. The build writes each log to ``corpus/logs/<id>.<ext>`` exactly as the
chosen writer produced it (Keras' CSVLogger, a pandas table, ``json.dump(history.history)``
or the console text ``model.fit`` printed), and the fit's measured outcome (validation metric
on the original scale, epochs, seconds) to ``corpus/build/meta/<id>.json``.

Labels are NOT written here: ``corpus/make_labels.py`` turns the intents, the measured
sick -> fix outcomes and the written rules (``corpus/LABELING.md``) into ``labels.yaml``.
Nothing here imports or runs the doctor.

Fits run in subprocesses, at most ``--jobs`` (default 2) at once, each with one TensorFlow
thread. Re-running regenerates the same numbers on the same machine and versions (seeded
with ``keras.utils.set_random_seed`` per fit, oneDNN off, one thread); console logs repeat
their numbers but not their timings (``2s - 45ms/step``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOGS = ROOT / "corpus" / "logs"
META = ROOT / "corpus" / "build" / "meta"
SCRIPT = Path(__file__).resolve()  # the script a subprocess runs (harness/corpus_build2.py points it at itself)

# ----------------------------------------------------------------------------------------
# The fits
# ----------------------------------------------------------------------------------------


@dataclass
class Spec:
    id: str
    family: str
    fmt: str  # csvlogger | csvlogger_crlf2 | csv_noepoch | csv_epochlast | json | console_v1_pty | console_v1_pipe | console_v2_pipe
    intent: str  # sick | healthy
    seed: int
    params: dict = field(default_factory=dict)
    causes: list = field(default_factory=list)
    fix: str | None = None  # id of the fit that removes the fault
    fix_change: str = ""
    how: str = ""


SPECS: list[Spec] = []


def spec_writers(specs: list[Spec], prefix: str):
    """``spec`` (one fit) and ``pair`` (a sick fit and its fix, ids ``<prefix><base_id>`` and
    ``<prefix><base_id>_fix``), appending to ``specs``: each corpus' build script lists its fits with them."""

    def spec(id, family, fmt, intent, seed, how, causes=(), fix=None, fix_change="", **params):
        specs.append(Spec(id, family, fmt, intent, seed, dict(params), list(causes), fix, fix_change, how))

    def pair(base_id, family, seed, how_sick, how_fix, causes, fix_change, sick_fmt, fix_fmt, base, sick, fixed):
        """A sick fit and its fix: the same family, seed and base parameters; only ``sick``/``fixed`` differ."""
        spec(f"{prefix}{base_id}", family, sick_fmt, "sick", seed, how_sick, causes, f"{prefix}{base_id}_fix", fix_change,
             **{**base, **sick})
        spec(f"{prefix}{base_id}_fix", family, fix_fmt, "healthy", seed, how_fix, (), None, "", **{**base, **fixed})

    return spec, pair


spec, pair = spec_writers(SPECS, "own_")


def point_at(folder: Path, script: str | Path) -> None:
    """Build into ``folder`` (its ``logs/`` and ``build/meta/``), console fits running ``script``."""
    global LOGS, META, SCRIPT
    LOGS, META, SCRIPT = folder / "logs", folder / "build" / "meta", Path(script).resolve()


CNN = dict(aug=True, bn=True, dropout=0.3, opt="adam", lr=1e-3, epochs=30, batch=32)

# --- CNNs on 8x8 digits (augmentation, batch norm, dropout) -----------------------------
pair("cnn_digits_lr_high", "cnn_digits", 101,
     "conv net on digits (aug, BN, dropout), Adam at lr 0.3", "same conv net, Adam at lr 1e-3",
     ["learning_rate_too_high"], "lr 0.3 -> 1e-3", "csvlogger", "csvlogger", dict(CNN, epochs=25), dict(lr=0.3), dict(lr=1e-3))
pair("cnn_digits_sgd_lr_low", "cnn_digits", 102,
     "conv net on digits, plain SGD at lr 1e-5 for 25 epochs", "same conv net, SGD at lr 0.05",
     ["learning_rate_too_low"], "SGD lr 1e-5 -> 0.05", "console_v1_pty", "csvlogger", CNN,
     dict(opt="sgd", lr=1e-5, epochs=25, legacy_input=True), dict(opt="sgd", lr=0.05, epochs=25))
pair("cnn_digits_overfit", "cnn_digits", 103,
     "conv net, 150 training digits, no aug/dropout/BN, Dense(256) head, 150 epochs",
     "same, stopped by EarlyStopping(patience=3, restore_best_weights=True)",
     ["overfitting"], "added EarlyStopping(val_loss, patience 3, restore best)", "csvlogger", "csvlogger",
     dict(CNN, aug=False, bn=False, dropout=0.0, n_train=150, head=256, epochs=150), {}, dict(early_stop=3))
pair("cnn_digits_few_epochs", "cnn_digits", 104,
     "conv net on digits, SGD lr 0.01, stopped after 6 epochs", "same, 60 epochs",
     ["too_few_epochs", "learning_rate_too_low"], "epochs 6 -> 60", "csv_epochlast", "csv_epochlast",
     dict(CNN, opt="sgd", lr=0.01), dict(epochs=6), dict(epochs=60))
pair("cnn_digits_linear_out", "cnn_digits", 105,
     "conv net with a linear 10-unit output under sparse_categorical_crossentropy (from_logits=False)",
     "same with a softmax output", ["output_activation_mismatch", "loss_mismatch"], "output linear -> softmax",
     "json", "json", CNN, dict(out="linear"), dict(out="softmax"))
pair("cnn_digits_dropout_09", "cnn_digits", 106,
     "conv net with Dropout(0.9) after each block and L2 0.05", "same with Dropout(0.3), no L2",
     ["too_strong_regularization"], "dropout 0.9 + L2 0.05 -> dropout 0.3", "csvlogger_crlf2", "csvlogger_crlf2",
     CNN, dict(dropout=0.9, l2=0.05, drop_every=True), dict(dropout=0.3))
spec("own_cnn_digits_cosine", "cnn_digits", "csvlogger", "healthy", 107,
     "conv net on digits (aug, BN, dropout), Adam with CosineDecay from 3e-3, lr logged as `lr`",
     **dict(CNN, lr=3e-3, schedule="cosine", log_lr="lr", epochs=24))

# --- CNNs on generated shape images (flip/translate/rotate augmentation) ---------------
SHP = dict(aug=True, bn=True, dropout=0.25, opt="adam", lr=1e-3, epochs=20, batch=32, n_train=2000, n_val=600)
spec("own_cnn_shapes_reduce_lr", "cnn_shapes", "console_v2_pipe", "healthy", 201,
     "conv net on 16x16 generated shapes (flip/translate/rotate aug, BN, dropout), Adam, ReduceLROnPlateau(verbose=1)",
     **dict(SHP, reduce_lr=True, epochs=20))
pair("cnn_shapes_sgd_blowup", "cnn_shapes", 202,
     "conv net (no BN) on shapes, SGD lr 2.0 momentum 0.9, TerminateOnNaN", "same, SGD lr 0.01 momentum 0.9",
     ["learning_rate_too_high", "exploding_gradients"], "SGD lr 2.0 -> 0.01", "console_v1_pty", "console_v2_pipe",
     dict(SHP, bn=False, opt="sgd", momentum=0.9, terminate_nan=True, epochs=15), dict(lr=2.0, legacy_input=True), dict(lr=0.01))
pair("cnn_shapes_adadelta", "cnn_shapes", 203,
     "conv net on shapes with Adadelta at its default rate (1e-3)", "same with Adam 1e-3",
     ["optimizer_choice", "learning_rate_too_low"], "Adadelta -> Adam", "csvlogger", "csvlogger",
     SHP, dict(opt="adadelta"), dict(opt="adam"))
pair("cnn_shapes_full_batch", "cnn_shapes", 204,
     "conv net on shapes, full batch (2000 rows = 1 update per epoch), Adam 1e-3, 20 epochs", "same, batch 32",
     ["too_few_updates", "learning_rate_too_low", "too_few_epochs"], "batch 2000 -> 32", "csv_noepoch", "csv_noepoch",
     dict(SHP, epochs=14), dict(batch=2000), dict(batch=32))

# --- frozen-base transfer ---------------------------------------------------------------
spec("own_transfer_digits_head", "transfer_digits", "csvlogger", "healthy", 301,
     "conv base trained on digits 0-4, frozen (trainable=False), new softmax head fit on digits 5-9",
     opt="adam", lr=3e-3, epochs=40, batch=32)
pair("transfer_digits_head_lr_low", "transfer_digits", 302,
     "frozen digits 0-4 base, head on digits 5-9 with SGD lr 1e-4", "same head with SGD lr 0.05",
     ["learning_rate_too_low"], "SGD lr 1e-4 -> 0.05", "json", "json",
     dict(opt="sgd", epochs=40, batch=32), dict(lr=1e-4), dict(lr=0.05))
spec("own_transfer_shapes_size", "transfer_shapes", "csvlogger", "healthy", 303,
     "conv base trained on shape class, frozen, head fit on large-vs-small; no validation in the fit (training columns only)",
     opt="adam", lr=3e-3, epochs=40, batch=32, no_val=True)

# --- regression -------------------------------------------------------------------------
MLP = dict(hidden=[64, 32], act="relu", opt="adam", lr=1e-3, batch=32, epochs=60)
pair("friedman_raw_target", "friedman", 401,
     "MLP 64-32 on friedman1 with the target in raw units (y*1000+5000, about 5k-35k), MSE, Adam 1e-3, 60 epochs",
     "same with the target standardized (R2 read on the original scale)",
     ["unscaled_target", "learning_rate_too_low"], "target raw -> standardized", "csvlogger_crlf2", "csvlogger_crlf2",
     dict(MLP, y_affine=True), dict(scale_y=False), dict(scale_y=True))
pair("friedman_unscaled_sgd", "friedman", 402,
     "MLP on friedman1 with inputs x*100+500 (unscaled), SGD lr 0.01", "same with StandardScaler inputs",
     ["unscaled_features", "learning_rate_too_high", "exploding_gradients"], "inputs raw -> standardized",
     "csvlogger", "csvlogger", dict(MLP, opt="sgd", lr=0.01, epochs=40, n_train=2000, n_val=500),
     dict(scale_x=False), dict(scale_x=True))
spec("own_friedman_large_val_expdecay", "friedman", "csvlogger", "healthy", 403,
     "MLP on friedman1, 4000 train / 20000 validation rows, Adam with ExponentialDecay, lr logged as `lr`",
     **dict(MLP, lr=3e-3, schedule="exp", log_lr="lr", epochs=40, n_train=4000, n_val=20000, batch=64))
pair("friedman_few_epochs", "friedman", 404,
     "MLP on friedman1 (20000 validation rows), SGD lr 1e-3, stopped after 8 epochs", "same, 150 epochs",
     ["too_few_epochs", "learning_rate_too_low"], "epochs 8 -> 150", "json", "json",
     dict(MLP, opt="sgd", lr=1e-3, momentum=0.9, n_train=4000, n_val=20000, batch=64), dict(epochs=8), dict(epochs=150))
pair("regression_sigmoid_out", "make_regression", 405,
     "MLP on a standardized make_regression target with a sigmoid output", "same with a linear output",
     ["output_activation_mismatch"], "output sigmoid -> linear", "csvlogger", "csvlogger_crlf2",
     dict(MLP, epochs=40), dict(out="sigmoid"), dict(out="linear"))
pair("nll_lr_high", "nll", 406,
     "Gaussian negative log-likelihood regression (mean, log variance; custom loss), Adam lr 0.5",
     "same, Adam lr 1e-3 (loss goes negative)", ["learning_rate_too_high"], "lr 0.5 -> 1e-3",
     "csvlogger", "csvlogger", dict(MLP, epochs=40), dict(lr=0.5), dict(lr=1e-3))
spec("own_nll_friedman_noepoch", "nll", "csv_noepoch", "healthy", 407,
     "Gaussian NLL regression (custom loss, negative values) on friedman1, pandas table without epoch column",
     **dict(MLP, epochs=40, data="friedman"))

# --- tabular classification -------------------------------------------------------------
pair("breast_overfit", "breast", 501,
     "MLP 256-256 on 60 breast-cancer training rows, 300 epochs, batch 16", "same, EarlyStopping(patience=3, restore)",
     ["overfitting"], "added EarlyStopping(val_loss, patience 3, restore best)", "csv_noepoch", "csv_noepoch",
     dict(MLP, hidden=[256, 256], n_train=60, batch=16, epochs=300), {}, dict(early_stop=3))
pair("wine_unscaled_sgd", "wine", 502,
     "MLP on raw wine features (proline ~1000), SGD lr 0.01, 36 validation rows", "same with StandardScaler",
     ["unscaled_features", "learning_rate_too_high", "dead_relu"], "inputs raw -> standardized", "console_v2_pipe", "csvlogger",
     dict(MLP, opt="sgd", lr=0.01, epochs=150, n_val=36), dict(scale_x=False, legacy_input=True), dict(scale_x=True))
pair("moons_logistic", "moons", 503,
     "a single sigmoid unit (logistic regression) on make_moons", "same with two hidden layers 32-32 relu",
     ["insufficient_capacity"], "no hidden layer -> 32-32", "json", "json",
     dict(MLP, epochs=40, lr=1e-2), dict(hidden=[]), dict(hidden=[32, 32]))
pair("shuffled_labels", "make_classification", 504,
     "MLP 64-32 on make_classification with the labels randomly permuted (train and validation)",
     "same with the true labels", ["no_learnable_signal"], "permuted labels -> true labels", "csvlogger", "csv_noepoch",
     dict(MLP, epochs=17), dict(shuffle_labels=True), dict(shuffle_labels=False))
pair("imbalance_97_3", "imbalanced", 505,
     "MLP 16 on a 97:3 imbalanced make_classification, no class weights, 15 epochs (balanced accuracy)",
     "same with class_weight balanced", ["class_imbalance"], "class_weight none -> balanced", "csvlogger", "csvlogger",
     dict(MLP, hidden=[16], epochs=15), dict(class_weight=False), dict(class_weight=True))
pair("deep_sigmoid", "make_classification", 506,
     "12 Dense(32, sigmoid) layers, SGD lr 0.01", "same depth with relu and he_normal init",
     ["vanishing_gradients"], "sigmoid -> relu + he_normal", "console_v1_pipe", "console_v1_pipe",
     dict(MLP, hidden=[32] * 12, opt="sgd", lr=0.01, epochs=24), dict(act="sigmoid"), dict(act="relu", init="he_normal"))
pair("dead_relu_blowup", "breast", 507,
     "MLP 64-64 relu on breast cancer, SGD lr 3.0 (blow-up, then dead units)", "same, SGD lr 0.05",
     ["dead_relu", "learning_rate_too_high"], "SGD lr 3.0 -> 0.05", "json", "json",
     dict(MLP, hidden=[64, 64], opt="sgd", epochs=40), dict(lr=3.0), dict(lr=0.05))
pair("digits_mlp_bad_init", "digits_flat", 508,
     "MLP 128-64 on flat digits with RandomNormal(stddev=5) kernels", "same with glorot_uniform",
     ["bad_initialization"], "init N(0,5) -> glorot_uniform", "csvlogger", "csvlogger",
     dict(MLP, hidden=[128, 64], epochs=30), dict(init="normal5"), dict(init="glorot_uniform"))
pair("l2_too_strong", "make_classification5", 509,
     "MLP 64-32 on 5-class make_classification with L2 0.5 on every kernel", "same with L2 1e-4",
     ["too_strong_regularization"], "L2 0.5 -> 1e-4", "csv_epochlast", "csv_epochlast",
     dict(MLP, epochs=22), dict(l2=0.5), dict(l2=1e-4))
pair("binary_cce", "breast", 510,
     "one sigmoid unit trained with categorical_crossentropy (the loss is identically 0)", "same with binary_crossentropy",
     ["loss_mismatch"], "loss categorical_crossentropy -> binary_crossentropy", "csvlogger", "csvlogger",
     dict(MLP, epochs=14), dict(loss="categorical_crossentropy"), dict(loss="binary_crossentropy"))
pair("softmax_one_unit", "breast", 511,
     "binary task with Dense(1, softmax) output and binary_crossentropy (output is always 1)", "same with sigmoid",
     ["output_activation_mismatch"], "output softmax -> sigmoid", "console_v2_pipe", "csvlogger",
     dict(MLP, epochs=13), dict(out="softmax"), dict(out="sigmoid"))
spec("own_iris_small_val", "iris", "csvlogger_crlf2", "healthy", 512,
     "MLP 16 on iris, 30 validation rows, Adam 1e-2, 80 epochs", **dict(MLP, hidden=[16], lr=1e-2, epochs=80, n_val=30))
spec("own_breast_small_val", "breast", "json", "healthy", 513,
     "MLP 32-16 on breast cancer, 40 validation rows, Adam 1e-3, 40 epochs",
     **dict(MLP, hidden=[32, 16], epochs=22, n_val=40))
spec("own_cls_large_val_expdecay", "make_classification", "csv_epochlast", "healthy", 514,
     "MLP 64-32 on make_classification, 5000 train / 20000 validation rows, ExponentialDecay, lr logged as `lr`",
     **dict(MLP, epochs=13, n_train=5000, n_val=20000, schedule="exp", lr=3e-3, log_lr="lr", batch=64))
pair("large_val_sgd_lr_high", "make_classification", 515,
     "MLP 64-32 on make_classification (20000 validation rows), SGD lr 5", "same, SGD lr 0.05",
     ["learning_rate_too_high"], "SGD lr 5 -> 0.05", "csvlogger", "csvlogger",
     dict(MLP, opt="sgd", epochs=25, n_train=5000, n_val=20000, batch=64), dict(lr=5.0), dict(lr=0.05))

# --- text: which stdlib package a docstring sentence comes from -------------------------
TXT = dict(model="gap", emb=32, opt="adam", lr=1e-3, epochs=20, batch=32, dropout=0.3)
spec("own_text_doc_gap", "text_doc", "console_v1_pty", "healthy", 601,
     "Embedding+GlobalAveragePooling on stdlib docstring sentences (6 packages), ReduceLROnPlateau(verbose=1)",
     **dict(TXT, reduce_lr=True, epochs=25))
pair("text_doc_lr_high", "text_doc", 602,
     "Embedding+GAP docstring classifier, Adam lr 1.0", "same, Adam lr 1e-3",
     ["learning_rate_too_high"], "lr 1.0 -> 1e-3", "csvlogger", "csv_epochlast", TXT, dict(lr=1.0), dict(lr=1e-3))
pair("text_doc_lstm_overfit", "text_doc", 603,
     "Embedding+LSTM(64) on 800 docstring sentences, no dropout, 40 epochs", "same, EarlyStopping(patience=3, restore)",
     ["overfitting"], "added EarlyStopping(val_loss, patience 3, restore best)", "json", "json",
     dict(TXT, model="lstm", dropout=0.0, n_train=800, epochs=40), {}, dict(early_stop=3))

# --- token sequences with a planted rule ------------------------------------------------
spec("own_tokens_conv1d_bigram", "tokens_bigram", "csv_noepoch", "healthy", 701,
     "Embedding+Conv1D+GlobalMaxPool: does the bigram (7, 13) occur in a random token sequence",
     opt="adam", lr=1e-3, epochs=15, batch=32)
pair("tokens_conv1d_sgd_low", "tokens_bigram", 702,
     "same bigram Conv1D, SGD lr 1e-4 momentum 0.9", "same, SGD lr 0.05 momentum 0.9",
     ["learning_rate_too_low"], "SGD lr 1e-4 -> 0.05", "csvlogger", "csvlogger",
     dict(opt="sgd", momentum=0.9, epochs=15, batch=32), dict(lr=1e-4), dict(lr=0.05))
spec("own_tokens_lstm_count", "tokens_count", "csvlogger_crlf2", "healthy", 703,
     "Embedding+LSTM(32): is token 5 more frequent than token 9; PiecewiseConstantDecay, lr logged as `lr`",
     opt="adam", lr=3e-3, schedule="piecewise", log_lr="lr", epochs=25, batch=32)

# --- numeric sequences (LSTM / GRU) -----------------------------------------------------
spec("own_seq_gru_freq_small_val", "seq_freq", "console_v1_pipe", "healthy", 801,
     "GRU(32) classifying a noisy sine's frequency (3 classes), 45 validation rows",
     opt="adam", lr=3e-3, epochs=30, batch=32, n_val=45)
pair("seq_rnn_exploding", "seq_amp", 802,
     "SimpleRNN(32, relu) with Orthogonal(gain=1.5) recurrent weights, amplitude regression, SGD lr 0.003 momentum 0.9",
     "same with clipnorm=0.5", ["exploding_gradients", "learning_rate_too_high"], "added clipnorm 0.5",
     "csvlogger", "csvlogger", dict(rnn="simple_relu", gain=1.5, opt="sgd", lr=0.003, momentum=0.9, epochs=30, batch=32),
     {}, dict(clipnorm=0.5))
pair("seq_lstm_lr_low_trainonly", "seq_amp", 803,
     "LSTM(32) amplitude regression, Adam lr 1e-6, no validation in the fit (training columns only)",
     "same, Adam lr 1e-3", ["learning_rate_too_low"], "lr 1e-6 -> 1e-3", "json", "csv_noepoch",
     dict(opt="adam", epochs=30, batch=32, no_val=True), dict(lr=1e-6), dict(lr=1e-3))


# ----------------------------------------------------------------------------------------
# Data (all generated or shipped with scikit-learn / Python: nothing is downloaded)
# ----------------------------------------------------------------------------------------


def _split(n, n_val, seed, n_train=None, stratify=None):
    import numpy as np
    from sklearn.model_selection import train_test_split

    idx = np.arange(n)
    tr, va = train_test_split(idx, test_size=n_val, random_state=seed, stratify=stratify)
    if n_train is not None and n_train < len(tr):
        tr = tr[:n_train]
    return tr, va


def _shapes(n, seed):
    """16x16 images: horizontal bar, vertical bar, square outline, gaussian blob; plus a size label."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.zeros((n, 16, 16), "float32")
    cls = rng.integers(0, 4, n)
    size = rng.integers(0, 2, n)  # 0 small, 1 large
    yy, xx = np.mgrid[0:16, 0:16]
    for i in range(n):
        s = 3 + 4 * size[i] + rng.integers(0, 2)
        cy, cx = rng.integers(2 + s // 2, 14 - s // 2 + 1, 2)
        img = np.zeros((16, 16), "float32")
        if cls[i] == 0:
            img[cy, max(cx - s, 0): cx + s] = 1
        elif cls[i] == 1:
            img[max(cy - s, 0): cy + s, cx] = 1
        elif cls[i] == 2:
            h = s // 2 + 1
            y0, y1, x0, x1 = max(cy - h, 0), min(cy + h, 15), max(cx - h, 0), min(cx + h, 15)
            img[y0, x0:x1 + 1] = img[y1, x0:x1 + 1] = 1
            img[y0:y1 + 1, x0] = img[y0:y1 + 1, x1] = 1
        else:
            img = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.35 * s) ** 2)).astype("float32")
        x[i] = img + rng.normal(0, 0.3, (16, 16))
    return x[..., None], cls, size


PACKAGES = ["asyncio", "email", "unittest", "logging", "xml", "http+urllib"]


def _docstring_sentences():
    """Sentences of the docstrings of six stdlib packages; label = the package (Python 3.11's text)."""
    import importlib
    import inspect
    import pkgutil
    import warnings

    texts, labels = [], []
    seen_sent = set()
    for label, group in enumerate(PACKAGES):
        sents = []
        for pkg in group.split("+"):
            mods = [importlib.import_module(pkg)]
            for info in sorted(pkgutil.walk_packages(mods[0].__path__, pkg + "."), key=lambda i: i.name):
                if ".test" in info.name or "tests" in info.name or info.name.endswith("__main__"):
                    continue
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        mods.append(importlib.import_module(info.name))
                except Exception:
                    pass
            for m in mods:
                objs = [m]
                for name in sorted(vars(m)):
                    o = vars(m)[name]
                    if (inspect.isclass(o) or inspect.isfunction(o)) and getattr(o, "__module__", "") == m.__name__:
                        objs.append(o)
                        if inspect.isclass(o):
                            objs.extend(vars(o)[k] for k in sorted(vars(o)) if inspect.isfunction(vars(o)[k]))
                for o in objs:
                    d = inspect.getdoc(o)
                    if not d:
                        continue
                    for s in re.split(r"(?<=[.!?])\s+", " ".join(d.split())):
                        w = re.findall(r"[a-z]+", s.lower())
                        if 5 <= len(w) <= 60:
                            t = " ".join(w)
                            if t not in seen_sent:
                                seen_sent.add(t)
                                sents.append(t)
        texts += sents
        labels += [label] * len(sents)
    return texts, labels


def _tokens_bigram(n, seed, length=30, vocab=40):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(2, vocab, (n, length))
    y = rng.integers(0, 2, n)
    for i in range(n):
        for j in range(length - 1):  # remove accidental bigrams
            if x[i, j] == 7 and x[i, j + 1] == 13:
                x[i, j + 1] = 14
        if y[i]:
            j = rng.integers(0, length - 1)
            x[i, j], x[i, j + 1] = 7, 13
    return x, y


def _tokens_count(n, seed, length=25, vocab=20):
    import numpy as np

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    while len(xs) < n:
        s = rng.integers(1, vocab, length)
        a, b = (s == 5).sum(), (s == 9).sum()
        if a != b:
            xs.append(s)
            ys.append(int(a > b))
    return np.array(xs), np.array(ys)


def _sine(n, seed, length=50):
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(length)
    freq_cls = rng.integers(0, 3, n)
    f = np.array([0.03, 0.07, 0.12])[freq_cls] * rng.uniform(0.9, 1.1, n)
    amp = rng.uniform(0.5, 2.0, n)
    phase = rng.uniform(0, 2 * np.pi, n)
    x = amp[:, None] * np.sin(2 * np.pi * f[:, None] * t[None] + phase[:, None]) + rng.normal(0, 0.3, (n, length))
    return x[..., None].astype("float32"), freq_cls, amp.astype("float32")


# ----------------------------------------------------------------------------------------
# Models and the fit
# ----------------------------------------------------------------------------------------


@dataclass
class Job:
    model: object
    xtr: object
    ytr: object
    xva: object
    yva: object
    task: str  # binary | multiclass | regression
    n_classes: int | None
    loss: object
    metrics: list
    y_mean: float = 0.0
    y_std: float = 1.0
    note: str = ""


def _first(keras, shape, p):
    """The model's input: keras.Input, or the legacy ``input_shape=`` keyword (which warns)."""
    return [] if p.get("legacy_input") else [keras.Input(shape)]


def _kw_in(p, shape, i):
    return {"input_shape": shape} if p.get("legacy_input") and i == 0 else {}


def _init(keras, p):
    init = p.get("init", "glorot_uniform")
    if init == "normal5":
        return keras.initializers.RandomNormal(stddev=5.0)
    return init


def _reg(keras, p):
    return keras.regularizers.l2(p["l2"]) if p.get("l2") else None


def _head(keras, task, n_classes, p):
    out = p.get("out")
    if task == "regression":
        return keras.layers.Dense(1, activation=out or "linear")
    if task == "binary":
        return keras.layers.Dense(1, activation=out or "sigmoid")
    return keras.layers.Dense(n_classes, activation=out or "softmax")


def _default_loss(task, p):
    if p.get("loss"):
        return p["loss"]
    return {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy", "regression": "mse"}[task]


def _metrics(task):
    return ["mae"] if task == "regression" else ["accuracy"]


def _cnn(keras, shape, n_out_layer, p, flip):
    L = keras.layers
    layers = _first(keras, shape, p)
    i = 0
    if p.get("aug"):
        if flip:
            layers.append(L.RandomFlip("horizontal_and_vertical", **_kw_in(p, shape, i)))
            i += 1
        layers.append(L.RandomTranslation(0.1, 0.1, **_kw_in(p, shape, i)))
        i += 1
        layers.append(L.RandomRotation(0.05))
    layers.append(L.Conv2D(16, 3, padding="same", activation="relu", kernel_regularizer=_reg(keras, p), **_kw_in(p, shape, i)))
    if p.get("bn"):
        layers.append(L.BatchNormalization())
    if p.get("drop_every") and p.get("dropout"):
        layers.append(L.Dropout(p["dropout"]))
    layers.append(L.Conv2D(32, 3, padding="same", activation="relu", kernel_regularizer=_reg(keras, p)))
    if p.get("bn"):
        layers.append(L.BatchNormalization())
    layers.append(L.MaxPooling2D(2))
    if p.get("drop_every") and p.get("dropout"):
        layers.append(L.Dropout(p["dropout"]))
    layers.append(L.Flatten())
    layers.append(L.Dense(p.get("head", 64), activation="relu", kernel_regularizer=_reg(keras, p)))
    if p.get("dropout"):
        layers.append(L.Dropout(p["dropout"]))
    layers.append(n_out_layer)
    return keras.Sequential(layers)


def _mlp(keras, n_in, task, n_classes, p):
    L = keras.layers
    layers = _first(keras, (n_in,), p)
    for i, units in enumerate(p.get("hidden", [64, 32])):
        layers.append(L.Dense(units, activation=p.get("act", "relu"), kernel_initializer=_init(keras, p),
                              kernel_regularizer=_reg(keras, p), **_kw_in(p, (n_in,), i)))
        if p.get("dropout"):
            layers.append(L.Dropout(p["dropout"]))
    head = _head(keras, task, n_classes, p)
    if not p.get("hidden") and p.get("legacy_input"):
        head = L.Dense(head.units, activation=head.activation, input_shape=(n_in,))
    layers.append(head)
    return keras.Sequential(layers)


def _scale(xtr, xva):
    from sklearn.preprocessing import StandardScaler

    s = StandardScaler().fit(xtr)
    return s.transform(xtr).astype("float32"), s.transform(xva).astype("float32")


_CACHE: dict = {}


def _train_base(keras, name, x, y, n_out, seed):
    """A conv base trained on the source task once per process (seeded), returned frozen."""
    if name in _CACHE:
        return _CACHE[name]
    keras.utils.set_random_seed(seed)
    L = keras.layers
    base = keras.Sequential([keras.Input(x.shape[1:]), L.Conv2D(16, 3, padding="same", activation="relu"),
                             L.Conv2D(32, 3, padding="same", activation="relu"), L.MaxPooling2D(2),
                             L.Flatten(), L.Dense(64, activation="relu")], name=f"{name}_base")
    clf = keras.Sequential([base, L.Dense(n_out, activation="softmax")])
    clf.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    clf.fit(x, y, epochs=12, batch_size=32, verbose=0)
    base.trainable = False
    _CACHE[name] = base
    return base


def make_job(s: Spec) -> Job:
    import keras
    import numpy as np
    from sklearn import datasets

    p, fam, seed = s.params, s.family, s.seed
    data_seed = 0
    if fam == "cnn_digits":
        d = datasets.load_digits()
        x = (d.images[..., None] / 16.0).astype("float32")
        y = d.target
        tr, va = _split(len(y), 0.25, data_seed, p.get("n_train"), stratify=y)
        model = _cnn(keras, (8, 8, 1), _head(keras, "multiclass", 10, p), p, flip=False)
        return Job(model, x[tr], y[tr], x[va], y[va], "multiclass", 10, _default_loss("multiclass", p), _metrics("multiclass"))
    if fam == "cnn_shapes":
        x, y, _ = _shapes(p["n_train"] + p["n_val"], 11)
        xtr, ytr, xva, yva = x[: p["n_train"]], y[: p["n_train"]], x[p["n_train"]:], y[p["n_train"]:]
        model = _cnn(keras, (16, 16, 1), _head(keras, "multiclass", 4, p), p, flip=True)
        return Job(model, xtr, ytr, xva, yva, "multiclass", 4, _default_loss("multiclass", p), _metrics("multiclass"))
    if fam == "transfer_digits":
        d = datasets.load_digits()
        x = (d.images[..., None] / 16.0).astype("float32")
        y = d.target
        src = y < 5
        base = _train_base(keras, "digits04", x[src], y[src], 5, 3001)
        xt, yt = x[~src], y[~src] - 5
        tr, va = _split(len(yt), 0.3, data_seed, stratify=yt)
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((8, 8, 1)), base, keras.layers.Dense(5, activation="softmax")])
        return Job(model, xt[tr], yt[tr], xt[va], yt[va], "multiclass", 5, "sparse_categorical_crossentropy", ["accuracy"],
                   note="base trained 12 epochs on digits 0-4 (seed 3001), frozen")
    if fam == "transfer_shapes":
        x, y, size = _shapes(3000, 12)
        base = _train_base(keras, "shapes", x[:2000], y[:2000], 4, 3003)
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((16, 16, 1)), base, keras.layers.Dense(1, activation="sigmoid")])
        return Job(model, x[2000:2600], size[2000:2600], x[2600:], size[2600:], "binary", 2, "binary_crossentropy",
                   ["accuracy"], note="base trained 12 epochs on the shape class (seed 3003), frozen; head on size")
    if fam in ("diabetes", "friedman", "make_regression"):
        if fam == "diabetes":
            x, y = datasets.load_diabetes(return_X_y=True)
        elif fam == "friedman":
            x, y = datasets.make_friedman1(n_samples=p.get("n_train", 2000) + p.get("n_val", 500), noise=0.5, random_state=7)
        else:
            x, y = datasets.make_regression(n_samples=2000, n_features=10, n_informative=6, noise=5.0, random_state=7)
        n_val = p.get("n_val", 0.2)
        tr, va = _split(len(y), n_val, data_seed, p.get("n_train"))
        xtr, xva = x[tr], x[va]
        if p.get("scale_x", True):
            xtr, xva = _scale(xtr, xva)
        else:
            xtr, xva = (xtr * 100 + 500).astype("float32"), (xva * 100 + 500).astype("float32")
        if p.get("y_affine"):  # the target in raw units, far from 0 and unit scale
            y = y * 1000.0 + 5000.0
        ytr, yva = y[tr].astype("float32"), y[va].astype("float32")
        m, sd = 0.0, 1.0
        if p.get("scale_y", fam != "diabetes"):
            m, sd = float(ytr.mean()), float(ytr.std())
        model = _mlp(keras, x.shape[1], "regression", None, p)
        return Job(model, xtr, (ytr - m) / sd, xva, (yva - m) / sd, "regression", None, _default_loss("regression", p),
                   ["mae"], y_mean=m, y_std=sd)
    if fam == "nll":
        if p.get("data") == "friedman":
            x, y = datasets.make_friedman1(n_samples=3000, noise=0.3, random_state=8)
        else:
            rng = np.random.default_rng(9)
            x, y = datasets.make_regression(n_samples=2000, n_features=8, n_informative=5, noise=0.0, random_state=9)
            y = y + rng.normal(0, 1, len(y)) * (2 + 8 * (x[:, 0] > 0))  # heteroscedastic noise
        tr, va = _split(len(y), 0.2, data_seed)
        xtr, xva = _scale(x[tr], x[va])
        m, sd = float(y[tr].mean()), float(y[tr].std())
        ytr, yva = ((y[tr] - m) / sd).astype("float32"), ((y[va] - m) / sd).astype("float32")
        L = keras.layers
        layers = [keras.Input((x.shape[1],))] + [L.Dense(u, activation="relu") for u in p["hidden"]] + [L.Dense(2)]
        model = keras.Sequential(layers)

        def gaussian_nll(y_true, y_pred):
            import keras.ops as ops

            mu, log_var = y_pred[:, :1], y_pred[:, 1:]
            y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 1))
            return ops.mean(0.5 * (log_var + ops.square(y_true - mu) / ops.exp(log_var)), axis=-1)

        return Job(model, xtr, ytr, xva, yva, "regression", None, gaussian_nll, [], y_mean=m, y_std=sd,
                   note="custom Gaussian NLL loss (no 0.5 log 2pi constant): negative once the predicted variance is small")
    if fam in ("breast", "wine", "iris", "moons", "make_classification", "make_classification5", "imbalanced", "digits_flat"):
        if fam == "breast":
            x, y = datasets.load_breast_cancer(return_X_y=True)
        elif fam == "wine":
            x, y = datasets.load_wine(return_X_y=True)
        elif fam == "iris":
            x, y = datasets.load_iris(return_X_y=True)
        elif fam == "moons":
            x, y = datasets.make_moons(n_samples=2000, noise=0.2, random_state=5)
        elif fam == "make_classification":
            n = p.get("n_train", 2400) + p.get("n_val", 600)
            x, y = datasets.make_classification(n_samples=n, n_features=20, n_informative=8, random_state=5)
        elif fam == "make_classification5":
            x, y = datasets.make_classification(n_samples=3000, n_features=20, n_informative=10, n_classes=5,
                                                n_clusters_per_class=1, random_state=6)
        elif fam == "imbalanced":
            x, y = datasets.make_classification(n_samples=5000, n_features=20, n_informative=3, weights=[0.97],
                                                class_sep=0.6, flip_y=0, random_state=4)
        else:
            d = datasets.load_digits()
            x, y = d.data / 16.0, d.target
        k = int(len(np.unique(y)))
        task = "binary" if k == 2 else "multiclass"
        tr, va = _split(len(y), p.get("n_val", 0.2), data_seed, p.get("n_train"), stratify=y)
        xtr, xva = x[tr], x[va]
        ytr, yva = y[tr], y[va]
        if p.get("scale_x", True):
            xtr, xva = _scale(xtr, xva)
        else:
            xtr, xva = xtr.astype("float32"), xva.astype("float32")
        if p.get("shuffle_labels"):
            rng = np.random.default_rng(44)
            ytr, yva = rng.permutation(ytr), rng.permutation(yva)
        model = _mlp(keras, x.shape[1], task, k, p)
        loss = _default_loss(task, p)
        return Job(model, xtr, ytr, xva, yva, task, k, loss, _metrics(task))
    if fam == "text_doc":
        texts, labels = _docstring_sentences()
        labels = np.array(labels)
        tr, va = _split(len(labels), 0.2, data_seed, p.get("n_train"), stratify=labels)
        vocab = {}
        for i in tr:
            for w in texts[i].split():
                vocab[w] = vocab.get(w, 0) + 1
        words = [w for w, c in sorted(vocab.items(), key=lambda kv: (-kv[1], kv[0]))][:4000]
        index = {w: i + 2 for i, w in enumerate(words)}

        def enc(ids):
            out = np.zeros((len(ids), 40), "int32")
            for r, i in enumerate(ids):
                seq = [index.get(w, 1) for w in texts[i].split()][:40]
                out[r, : len(seq)] = seq
            return out

        L = keras.layers
        layers = [keras.Input((40,)), L.Embedding(len(words) + 2, p["emb"], mask_zero=p["model"] == "lstm")]
        if p["model"] == "lstm":
            layers.append(L.LSTM(64))
        else:
            layers.append(L.GlobalAveragePooling1D())
            layers.append(L.Dense(64, activation="relu"))
        if p.get("dropout"):
            layers.append(L.Dropout(p["dropout"]))
        layers.append(L.Dense(len(PACKAGES), activation="softmax"))
        return Job(keras.Sequential(layers), enc(tr), labels[tr], enc(va), labels[va], "multiclass", len(PACKAGES),
                   "sparse_categorical_crossentropy", ["accuracy"], note=f"{len(labels)} sentences, vocabulary {len(words)}")
    if fam in ("tokens_bigram", "tokens_count"):
        x, y = _tokens_bigram(4000, 21) if fam == "tokens_bigram" else _tokens_count(4000, 22)
        L = keras.layers
        if fam == "tokens_bigram":
            layers = [keras.Input((30,)), L.Embedding(40, 16), L.Conv1D(32, 3, activation="relu"), L.GlobalMaxPooling1D(),
                      L.Dense(16, activation="relu"), L.Dense(1, activation="sigmoid")]
        else:
            layers = [keras.Input((25,)), L.Embedding(20, 16), L.LSTM(32), L.Dense(1, activation="sigmoid")]
        return Job(keras.Sequential(layers), x[:3200], y[:3200], x[3200:], y[3200:], "binary", 2, "binary_crossentropy", ["accuracy"])
    if fam in ("seq_freq", "seq_amp"):
        n_val = p.get("n_val", 500)
        x, cls, amp = _sine(2000 + n_val, 31)
        L = keras.layers
        if fam == "seq_freq":
            model = keras.Sequential([keras.Input((50, 1)), L.GRU(32), L.Dense(3, activation="softmax")])
            return Job(model, x[:2000], cls[:2000], x[2000:], cls[2000:], "multiclass", 3, "sparse_categorical_crossentropy", ["accuracy"])
        ys = p.get("y_scale", 1.0)
        if p.get("rnn") == "simple_relu":  # a plain ReLU RNN whose recurrent weights amplify (gain > 1)
            rec = keras.initializers.Orthogonal(gain=p.get("gain", 1.0), seed=seed)
            core = L.SimpleRNN(32, activation="relu", recurrent_initializer=rec)
        else:
            core = L.LSTM(32)
        model = keras.Sequential([keras.Input((50, 1)), core, L.Dense(1)])
        return Job(model, x[:2000], amp[:2000] * ys, x[2000:], amp[2000:] * ys, "regression", None, "mse", ["mae"])
    raise ValueError(fam)


class LRLogger:
    """Adds the optimizer's current rate to the epoch logs under ``name`` (place before CSVLogger)."""

    def __new__(cls, name):
        import keras

        class _LR(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if logs is not None:
                    logs[name] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

        return _LR()


def _optimizer(keras, p, steps_per_epoch):
    """The spec's optimizer and schedule. AdamW, Nadam, Adagrad, Nesterov SGD and warmup + cosine came
    with heldout4 (corpus_build4.py); no earlier spec sets them, so earlier builds are unchanged."""
    lr = p.get("lr", 1e-3)
    sched = p.get("schedule")
    total = steps_per_epoch * p["epochs"]
    if sched == "warmup_cosine":
        warm = steps_per_epoch * p.get("warmup_epochs", 3)
        lr = keras.optimizers.schedules.CosineDecay(lr * 0.01, decay_steps=total - warm, alpha=0.01, warmup_target=lr,
                                                    warmup_steps=warm)
    elif sched == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(lr, decay_steps=total, alpha=0.01)
    elif sched == "exp":
        lr = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=steps_per_epoch * 5, decay_rate=0.7)
    elif sched == "piecewise":
        b = [steps_per_epoch * 10, steps_per_epoch * 18]
        lr = keras.optimizers.schedules.PiecewiseConstantDecay(b, [lr, lr / 3, lr / 10])
    kw = {"learning_rate": lr}
    if p.get("clipnorm"):
        kw["clipnorm"] = p["clipnorm"]
    opt = p.get("opt", "adam")
    if opt == "sgd":
        return keras.optimizers.SGD(momentum=p.get("momentum", 0.0), nesterov=bool(p.get("nesterov")), **kw)
    if opt == "adadelta":
        return keras.optimizers.Adadelta(**kw)
    if opt == "adagrad":
        return keras.optimizers.Adagrad(**kw)
    if opt == "rmsprop":
        return keras.optimizers.RMSprop(**kw)
    if opt == "nadam":
        return keras.optimizers.Nadam(**kw)
    if opt == "adamw":
        return keras.optimizers.AdamW(weight_decay=p.get("weight_decay", 1e-4), **kw)
    return keras.optimizers.Adam(**kw)


def _outcome(job: Job, model) -> dict:
    """The validation metric on the original scale (the rows the log's val_* columns use)."""
    import numpy as np
    from sklearn.metrics import balanced_accuracy_score, r2_score

    pred = np.asarray(model.predict(job.xva, verbose=0, batch_size=1024), dtype="float64")
    finite = bool(np.isfinite(pred).all())
    out = {"finite_predictions": finite, "n_val": int(len(job.yva)), "n_train": int(len(job.ytr))}
    if job.task == "regression":
        mu = pred[:, 0] * job.y_std + job.y_mean
        y = np.asarray(job.yva, "float64") * job.y_std + job.y_mean
        out["val_r2"] = float(r2_score(y, mu)) if finite else None
        out["main_metric"] = "val_r2"
    else:
        pred = np.nan_to_num(pred, nan=0.0)
        cls = (pred[:, 0] > 0.5).astype(int) if pred.shape[1] == 1 else pred.argmax(1)
        out["val_accuracy"] = float((cls == job.yva).mean())
        out["val_balanced_accuracy"] = float(balanced_accuracy_score(job.yva, cls))
        out["main_metric"] = "val_balanced_accuracy"
    out["main"] = out[out["main_metric"]]
    ev = model.evaluate(job.xva, job.yva, verbose=0, batch_size=1024, return_dict=True)
    out["final_val_loss"] = float(ev["loss"])  # the model as the fit left it (EarlyStopping: restored)
    return out


def run_fit(s: Spec, verbose: int = 0) -> dict:
    """One fit: build, train, write the log in the spec's format (console formats: stdout is the log)."""
    import keras
    import numpy as np
    import pandas as pd

    keras.backend.clear_session()
    keras.utils.set_random_seed(s.seed)
    p = s.params
    job = make_job(s)
    keras.utils.set_random_seed(s.seed)
    steps = math.ceil(len(job.ytr) / p.get("batch", 32))
    job.model.compile(optimizer=_optimizer(keras, p, steps), loss=job.loss, metrics=job.metrics)
    callbacks = []
    if p.get("reduce_lr"):
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=3, verbose=1))
    if p.get("early_stop"):
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=p["early_stop"], restore_best_weights=True,
                                                       verbose=1 if s.fmt.startswith("console") else 0))
    if p.get("terminate_nan"):
        callbacks.append(keras.callbacks.TerminateOnNaN())
    if p.get("log_lr"):
        callbacks.append(LRLogger(p["log_lr"]))
    path = LOGS / f"{s.id}.{ext(s.fmt)}"
    if s.fmt.startswith("csvlogger"):
        callbacks.append(keras.callbacks.CSVLogger(str(path)))
    class_weight = None
    if p.get("class_weight"):
        from sklearn.utils.class_weight import compute_class_weight

        w = compute_class_weight("balanced", classes=np.unique(job.ytr), y=job.ytr)
        class_weight = {int(c): float(v) for c, v in zip(np.unique(job.ytr), w)}
    start = time.time()
    history = job.model.fit(job.xtr, job.ytr, validation_data=None if p.get("no_val") else (job.xva, job.yva),
                            epochs=p["epochs"], batch_size=p.get("batch", 32), callbacks=callbacks,
                            class_weight=class_weight, verbose=verbose, shuffle=True)
    seconds = time.time() - start
    h = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    if s.fmt == "csvlogger_crlf2":  # what CSVLogger writes on Windows: csv's \r\n through a text-mode file
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\r\r\n"))
    elif s.fmt == "csv_noepoch":
        pd.DataFrame(h).to_csv(path, index=False)
    elif s.fmt == "csv_epochlast":
        df = pd.DataFrame(h)
        df["epoch"] = np.arange(1, len(df) + 1)
        df.to_csv(path, index=False)
    elif s.fmt == "json":
        with open(path, "w") as f:
            json.dump(h, f)
    out = _outcome(job, job.model)
    meta = {"id": s.id, "family": s.family, "fmt": s.fmt, "seed": s.seed, "params": p, "task": job.task,
            "n_classes": job.n_classes, "fit_seconds": round(seconds, 2), "epochs_run": len(h.get("loss", [])),
            "history": h, "note": job.note, **out}
    return meta


def ext(fmt: str) -> str:
    return "json" if fmt == "json" else ("txt" if fmt.startswith("console") else "csv")


# ----------------------------------------------------------------------------------------
# Processes
# ----------------------------------------------------------------------------------------


def _setup_tf():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def worker(ids: list[str]) -> None:
    """Run non-console fits one after another in this process; write their meta."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    _setup_tf()
    by_id = {s.id: s for s in SPECS}
    for i in ids:
        meta = run_fit(by_id[i], verbose=0)
        (META / f"{i}.json").write_text(json.dumps(meta, indent=1))
        print(f"  {i}: {meta['epochs_run']} epochs, {meta['fit_seconds']} s, {meta['main_metric']}={meta['main']}", flush=True)


def console_child(i: str) -> None:
    """A console fit: stdout/stderr are the log (a pty or a file the parent set up)."""
    s = {s.id: s for s in SPECS}[i]
    _setup_tf()
    meta = run_fit(s, verbose=2 if "v2" in s.fmt else 1)
    (META / f"{i}.json").write_text(json.dumps(meta, indent=1))


def launch_console(s: Spec) -> subprocess.Popen | tuple:
    path = LOGS / f"{s.id}.txt"
    env = dict(os.environ)
    # a user's terminal: TensorFlow's start-up lines and Python warnings stay in the log
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    cmd = [sys.executable, str(SCRIPT), "console-child", s.id]
    if s.fmt == "console_v1_pty":
        import pty

        master, slave = pty.openpty()
        proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, close_fds=True)
        os.close(slave)
        return (proc, master, path)
    f = open(path, "wb")
    proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    f.close()
    return (proc, None, path)


def build(only: list[str] | None, jobs: int) -> None:
    import select

    LOGS.mkdir(parents=True, exist_ok=True)
    META.mkdir(parents=True, exist_ok=True)
    todo = [s for s in SPECS if not only or s.id in only]
    console = [s for s in todo if s.fmt.startswith("console")]
    plain = [s.id for s in todo if not s.fmt.startswith("console")]
    # transfer fits share one frozen base per process: keep each family in one chunk
    chunks: list[list[str]] = []
    fam = {s.id: s.family for s in SPECS}
    for f in dict.fromkeys(fam[i] for i in plain):
        ids = [i for i in plain if fam[i] == f]
        size = 100 if f.startswith("transfer") else 4
        chunks += [ids[k: k + size] for k in range(0, len(ids), size)]
    queue: list = [("console", s) for s in console] + [("chunk", c) for c in chunks]
    running: list = []
    start = time.time()
    while queue or running:
        while queue and len(running) < jobs:
            kind, item = queue.pop(0)
            if kind == "console":
                proc, master, path = launch_console(item)
                running.append((proc, master, path, bytearray(), item.id))
            else:
                env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
                proc = subprocess.Popen([sys.executable, str(SCRIPT), "worker", *item], env=env, cwd=ROOT)
                running.append((proc, None, None, None, ",".join(item)))
            print(f"[{time.time() - start:6.0f}s] start {running[-1][4]}", flush=True)
        masters = [r[1] for r in running if r[1] is not None]
        if masters:
            ready, _, _ = select.select(masters, [], [], 0.2)
            for r in running:
                if r[1] in ready:
                    try:
                        chunk = os.read(r[1], 65536)
                    except OSError:
                        chunk = b""
                    r[3].extend(chunk)
        else:
            time.sleep(0.2)
        for r in list(running):
            proc, master, path, buf, name = r
            if proc.poll() is None:
                continue
            if master is not None:
                while True:  # drain what the pty still holds
                    try:
                        chunk = os.read(master, 65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    buf.extend(chunk)
                os.close(master)
                path.write_bytes(bytes(buf))
            running.remove(r)
            print(f"[{time.time() - start:6.0f}s] done  {name} rc={proc.returncode}", flush=True)
    total = time.time() - start
    (META.parent / "build_time.json").write_text(json.dumps(
        {"seconds": round(total, 1), "fits": len(todo), "jobs": jobs, "only": only or None,
         "when": time.strftime("%Y-%m-%d %H:%M:%S %Z")}, indent=1))
    print(f"built {len(todo)} fits in {total:.0f} s")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--only", nargs="*")
    b.add_argument("--jobs", type=int, default=2)
    sub.add_parser("list")
    w = sub.add_parser("worker")
    w.add_argument("ids", nargs="+")
    c = sub.add_parser("console-child")
    c.add_argument("id")
    a = ap.parse_args(argv)
    if a.cmd == "build":
        build(a.only, max(1, min(a.jobs, 2)))
    elif a.cmd == "worker":
        worker(a.ids)
    elif a.cmd == "console-child":
        console_child(a.id)
    else:
        for s in SPECS:
            print(f"{s.id:45s} {s.family:20s} {s.fmt:16s} {s.intent:8s} {','.join(s.causes)}")
        print(len(SPECS), "fits")


if __name__ == "__main__":
    main()

"""Build the own half of the seventh held-out corpus (corpus/heldout7/): new seeds, data and variants.

    .venv/bin/python harness/corpus_build7.py build [--only ID ...] [--jobs 2]   # -> corpus/heldout7/logs, build/meta
    .venv/bin/python harness/corpus_build7.py list
    HELDOUT7_OUT=/tmp/h7 .venv/bin/python harness/corpus_build7.py build --jobs 2   # rebuild elsewhere, to compare

Same machinery as ``harness/corpus_build.py`` (imported: its ``Spec``, ``run_fit``, log writers,
process pool, frozen-base trainer and helpers), ``harness/corpus_build2.py`` (its MLP builder) and
``harness/corpus_build6.py`` (imported for its writers: it chains corpus_build5's Keras 2 CSV,
pretty JSON and semicolon table, and adds the pandas index-column table), pointed at
``corpus/heldout7/`` and given its own ``SPECS``: new generators (1-D heartbeat-like signals whose
class is the rhythm: regular, irregular, with early wide ectopic beats, for Conv1D nets; an hourly
electricity-load series in megawatts for GRU / Conv1D forecasters six hours ahead; 16x16 "bar count"
images, stored as 0..255 pixels the way image files give them; "review" token sequences whose
sentiment flips after a negation token; a 4x4 checkerboard with distractor features; pendulum
periods from length and amplitude), scikit-learn data with settings no earlier corpus used
(make_classification with 8 classes; make_sparse_uncorrelated; load_breast_cancer on a new split),
a frozen conv base trained on bar count x orientation with an 'exactly two bars' head on new images, Huber and MAE
losses, the Lion optimizer (new here), Adadelta/Adagrad at their Keras defaults, Nadam, Nesterov
SGD, gradient clipping and warmup / exponential schedules. No new writer.
Nothing here imports or runs the doctor; labels come from ``corpus/make_labels7.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_build as cb  # noqa: E402
import corpus_build2 as cb2  # noqa: E402  (its MLP builder)
import corpus_build6 as cb6  # noqa: E402,F401  (patches cb's writers and optimizers for heldout6; re-pointed below)

ROOT = cb.ROOT
# HELDOUT7_OUT: build somewhere else (e.g. to check that a rebuild repeats the logs); default the corpus itself
H7 = Path(os.environ["HELDOUT7_OUT"]).resolve() if os.environ.get("HELDOUT7_OUT") else ROOT / "corpus" / "heldout7"
cb.point_at(H7, __file__)

SPECS: list = []
spec, pair = cb.spec_writers(SPECS, "h7_")

MLP = dict(hidden=[64, 32], act="relu", opt="adam", lr=1e-3, batch=32, epochs=30)
BEAT = dict(opt="adam", lr=2e-3, batch=32, epochs=20)
LOAD = dict(model="conv", opt="adam", lr=1e-3, batch=32, epochs=25)
BARS = dict(aug=True, opt="adam", lr=1e-3, batch=32, epochs=12)
REV = dict(opt="adam", lr=2e-3, batch=32, epochs=15, emb=16, filters=32)

# --- Conv1D on heartbeat-like signals (3 rhythms: regular, irregular, ectopic) -------------------
pair("beats_nadam_lr_high", "beats", 7001,
     "Conv1D(16,7)-Conv1D(32,5)-Conv1D(32,5)-GAP net on 128-sample heartbeat-like signals (regular / irregular / ectopic rhythm), "
     "Nadam lr 0.5, 20 epochs", "same, Nadam lr 2e-3", ["learning_rate_too_high"], "Nadam lr 0.5 -> 2e-3",
     "csvlogger", "json", dict(BEAT, opt="nadam"), dict(lr=0.5), dict(lr=2e-3))
pair("beats_mse_int_labels", "beats", 7002,
     "the Conv1D rhythm net with a softmax output compiled with loss='mse' on integer labels 0..2 given as an (n, 1) "
     "column (broadcast against the 3 probabilities), Adam 2e-3, 20 epochs", "same with sparse_categorical_crossentropy",
     ["loss_mismatch"], "loss mse -> sparse_categorical_crossentropy", "csv_epochlast", "csvlogger_crlf2",
     dict(BEAT, col_labels=True), dict(loss="mse"), dict(loss=None))
pair("beats_rare_ectopic", "beats_rare", 7003,
     "the Conv1D net on regular vs ectopic rhythms where 4% are ectopic, no class weights, 20 epochs (balanced accuracy)",
     "same with class_weight balanced", ["class_imbalance"], "class_weight none -> balanced", "console_v1_pipe",
     "keras2_csv", BEAT, dict(class_weight=False), dict(class_weight=True))
spec("h7_beats_tiny_val_nadam", "beats", "json", "healthy", 7020,
     "the Conv1D rhythm net, Nadam 2e-3, 1500 training rows and only 45 validation rows, 20 epochs",
     **dict(BEAT, opt="nadam", n_val=45))

# --- forecasters on an hourly load series in MW (6 hours ahead from the last 24) -----------------
pair("load_huber_raw_target", "load", 7004,
     "Conv1D forecaster (inputs standardized) with Huber loss (delta 1) on the target left in megawatts (about "
     "3000-6500), Adam 1e-3, 25 epochs", "same with the target standardized (R2 read in MW)", ["unscaled_target"],
     "target MW -> standardized", "csvlogger", "csv_noepoch", dict(LOAD, loss="huber"), dict(scale_y=False),
     dict(scale_y=True))
pair("load_gru_adadelta", "load", 7005,
     "GRU(16) forecaster, optimizer='adadelta' (the Keras default lr 1e-3), MSE, 20 epochs, verbose=2",
     "same with Adam 1e-3", ["optimizer_choice"], "Adadelta (default) -> Adam 1e-3", "console_v2_pipe", "json_pretty",
     dict(LOAD, model="gru", epochs=20), dict(opt="adadelta", lr=1e-3), dict(opt="adam", lr=1e-3))
spec("h7_load_gru_huber_warmup", "load", "console_v2_pipe", "healthy", 7021,
     "GRU(16) forecaster, Huber loss on the standardized target, Adam 2e-3 with 3 warmup epochs then cosine decay, "
     "20 epochs, verbose=2", **dict(LOAD, model="gru", loss="huber", lr=2e-3, schedule="warmup_cosine", epochs=20))
spec("h7_load_conv_rmsprop_clip", "load", "console_v1_pipe", "healthy", 7022,
     "Conv1D forecaster, RMSprop 1e-3 with clipnorm 1.0, MSE, 25 epochs, verbose=1 to a file",
     **dict(LOAD, opt="rmsprop", clipnorm=1.0))

# --- CNN on 16x16 bar-count images (pixels 0..255 as loaded from image files) -----------------
pair("bars_uint8_pixels", "bars", 7006,
     "conv net (no BN) on 16x16 images of 1-3 bars (class = count), pixels fed as 0..255, flip/translate aug, "
     "SGD lr 0.01 momentum 0.9, 12 epochs", "same with pixels / 255", ["unscaled_features"], "pixels 0..255 -> /255",
     "console_v1_pty", "csvlogger", dict(BARS, opt="sgd", momentum=0.9, lr=0.01), dict(raw=True), dict(raw=False))
spec("h7_bars_bn_nesterov_exp", "bars", "console_v1_pty", "healthy", 7023,
     "conv net with BN and dropout 0.3 on bar counts (pixels / 255, aug), SGD Nesterov momentum 0.9 lr 0.02 with "
     "ExponentialDecay, lr logged as `learning_rate`, 12 epochs, verbose=1 through a pty",
     **dict(BARS, bn=True, dropout=0.3, opt="sgd", momentum=0.9, nesterov=True, lr=0.02, schedule="exp",
            log_lr="learning_rate"))
spec("h7_transfer_bars_orient", "transfer_bars", "csvlogger", "healthy", 7024,
     "frozen conv base trained on bar count x orientation (6 classes); a Dense(1, sigmoid) head on 'exactly two bars' "
     "300 training rows, Adam 1e-3, 20 epochs", **dict(opt="adam", lr=1e-3, batch=32, epochs=20))

# --- "review" tokens: sentiment that flips after a negation token --------------------------------
pair("reviews_overfit_small", "reviews", 7007,
     "Embedding(64) + Conv1D(128,3) + GlobalMaxPool + Dense(128) on 150 training reviews (600 validation), no "
     "regularization, Adam 2e-3, 60 epochs", "same, EarlyStopping(val_loss, patience 5, restore_best_weights)",
     ["overfitting"], "added EarlyStopping(patience 5, restore best)", "csvlogger", "csv_semicolon",
     dict(REV, emb=64, filters=128, dense=128, n_train=150, epochs=60), {}, dict(early_stop=5))
spec("h7_reviews_conv_early_stop", "reviews", "csv_semicolon", "healthy", 7025,
     "Embedding(16) + Conv1D(32,3) + GlobalMaxPool on 2000 reviews with negation, Adam 2e-3, up to 40 epochs, "
     "EarlyStopping(patience 4, restore_best_weights), pandas table with ';'", **dict(REV, epochs=40, early_stop=4))
spec("h7_reviews_bigru_nadam", "reviews", "json", "healthy", 7026,
     "Embedding(16) + Bidirectional(GRU(16)) on the reviews, Nadam 2e-3, 12 epochs",
     **dict(REV, rnn=True, opt="nadam", epochs=12))

# --- tabular: checkerboard, 8-class make_classification, breast cancer ----------------------------
pair("checker_single_dense", "checker", 7008,
     "one Dense(1, sigmoid) layer (logistic regression in Keras) on a 4x4 checkerboard in 2 features + 6 distractors, "
     "Adam 1e-2, 30 epochs", "MLP 64-64", ["insufficient_capacity"], "no hidden layer -> 64-64",
     "csv_index", "csvlogger", dict(MLP, lr=1e-2), dict(hidden=[]), dict(hidden=[64, 64]))
pair("checker_l2_heavy", "checker", 7009,
     "MLP 64-64 on the checkerboard with kernel L2 0.1 on every hidden layer, Adam 1e-2, 30 epochs",
     "same, L2 1e-5", ["too_strong_regularization"], "L2 0.1 -> 1e-5", "keras2_csv", "csv_index",
     dict(MLP, hidden=[64, 64], lr=1e-2), dict(l2=0.1), dict(l2=1e-5))
pair("cls8_zeros_init", "cls8", 7010,
     "MLP 64-32 with kernel_initializer='zeros' on 8-class make_classification (20 features), Adam 1e-3, 30 epochs",
     "same with glorot_uniform", ["bad_initialization"], "kernel init zeros -> glorot_uniform", "json", "csvlogger",
     MLP, dict(init="zeros"), dict(init="glorot_uniform"))
pair("cls8_full_batch", "cls8", 7011,
     "MLP 64-32 on the 8-class data with batch_size = the whole training set (2400 rows: one update per epoch), "
     "Adam 1e-3, 30 epochs", "same with batch 32", ["too_few_updates"], "batch 2400 -> 32", "csvlogger_crlf2",
     "console_v2_pipe", MLP, dict(batch=2400), dict(batch=32))
spec("h7_cls8_lion_large_val", "cls8", "keras2_csv", "healthy", 7027,
     "MLP 64-32 on the 8-class data, 2400 training / 4000 validation rows, Lion 3e-4, 30 epochs, batch 64",
     **dict(MLP, opt="lion", lr=3e-4, batch=64, n_val=4000))
pair("cancer_softmax_one_unit", "cancer7", 7012,
     "MLP 32-16 on load_breast_cancer (standardized) with a Dense(1, softmax) output (always 1.0) and binary "
     "cross-entropy, Adam 1e-3, 30 epochs", "Dense(1, sigmoid)", ["output_activation_mismatch"],
     "output softmax -> sigmoid", "csv_noepoch", "json", dict(MLP, hidden=[32, 16]), dict(out="softmax"),
     dict(out=None))

# --- regression: pendulum periods, make_sparse_uncorrelated --------------------------------------
pair("pendulum_deep_sgd_no_clip", "pendulum", 7013,
     "8 x Dense(64, relu, he_normal) on pendulum periods (length, amplitude, 4 distractors), SGD lr 0.05 momentum "
     "0.9, MSE, 30 epochs, no gradient clipping", "same with clipnorm 1.0", ["exploding_gradients"],
     "added clipnorm=1.0", "csvlogger", "csv_epochlast",
     dict(MLP, hidden=[64] * 8, init="he_normal", opt="sgd", momentum=0.9, lr=0.05), dict(clipnorm=None),
     dict(clipnorm=1.0))
spec("h7_pendulum_mae_adam", "pendulum", "csv_index", "healthy", 7028,
     "MLP 64-32 on pendulum periods with MAE loss, Adam 1e-3, 40 epochs, pandas table with its index column",
     **dict(MLP, loss="mae", epochs=40))
pair("sparse_adagrad_default", "sparse", 7014,
     "MLP 64-32 on make_sparse_uncorrelated (4 of 12 features matter), optimizer='adagrad' (Keras default lr 1e-3), "
     "MSE, 30 epochs", "same, Adagrad lr 0.05", ["learning_rate_too_low"], "Adagrad lr 1e-3 -> 0.05",
     "json_pretty", "csvlogger", dict(MLP, opt="adagrad"), dict(lr=1e-3), dict(lr=0.05))
spec("h7_sparse_huber_sgd_nesterov", "sparse", "csv_epochlast", "healthy", 7029,
     "MLP 64-32 on make_sparse_uncorrelated with Huber loss, SGD Nesterov momentum 0.9 lr 0.01, 30 epochs",
     **dict(MLP, loss="huber", opt="sgd", momentum=0.9, nesterov=True, lr=0.01))


# ----------------------------------------------------------------------------------------
# New data
# ----------------------------------------------------------------------------------------


def _beats(n, seed, length=128, rare=None):
    """Heartbeat-like signals: a narrow spike (QRS) and a wider T wave per beat, baseline wander and noise. Class 0:
    regular period 18-30 samples; 1: irregular (intervals 0.5-1.5 periods); 2: regular with 1-2 early, wide, inverted
    (ectopic) beats. With ``rare`` (a fraction): binary, 0 regular vs 1 ectopic."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < rare).astype(int) if rare else rng.integers(0, 3, n)
    t = np.arange(length)
    x = np.zeros((n, length), "float32")
    for i in range(n):
        c = (2 if y[i] else 0) if rare else y[i]
        period = rng.uniform(18, 30)
        pos, beats = rng.uniform(0, period), []
        while pos < length + 10:
            beats.append(pos)
            pos += period * (rng.uniform(0.5, 1.5) if c == 1 else rng.uniform(0.95, 1.05))
        sig = np.zeros(length)
        ectopic = set(rng.choice(len(beats), rng.integers(1, 3), replace=False)) if c == 2 else set()
        for j, b in enumerate(beats):
            if j in ectopic:
                b = b - 0.3 * period
                sig += -0.7 * np.exp(-0.5 * ((t - b) / 3.0) ** 2)
            else:
                sig += np.exp(-0.5 * ((t - b) / 1.2) ** 2) + 0.3 * np.exp(-0.5 * ((t - b - 7) / 3.0) ** 2)
        wander = 0.3 * np.sin(2 * np.pi * t / rng.uniform(80, 200) + rng.uniform(0, 6.3))
        x[i] = rng.uniform(0.7, 1.3) * sig + wander + rng.normal(0, 0.2, length)
    return x[..., None], y


def _load_series(n_hours, seed):
    """Hourly electricity load in MW: 4600 + daily (900) and weekly (350) cycles + a slow trend + AR(1) noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(n_hours)
    e = np.zeros(n_hours)
    for i in range(1, n_hours):
        e[i] = 0.85 * e[i - 1] + rng.normal(0, 110)
    return (4600 + 900 * np.sin(2 * np.pi * (t - 7) / 24) + 350 * np.sin(2 * np.pi * t / 168) + 0.05 * t + e)


def _bars(n, seed):
    """16x16 images with 1-3 bars (all horizontal or all vertical, length 6-12, on distinct rows/columns); pixels
    0..255 (dark noisy background, bright bars). Returns images, count - 1, orientation (0 horizontal, 1 vertical)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cnt, ori = rng.integers(0, 3, n), rng.integers(0, 2, n)
    x = rng.uniform(0, 40, (n, 16, 16))
    for i in range(n):
        rows = rng.choice(np.arange(1, 15, 2), cnt[i] + 1, replace=False)
        for r in rows:
            ln = rng.integers(6, 13)
            s = rng.integers(0, 16 - ln + 1)
            v = rng.uniform(170, 255)
            if ori[i]:
                x[i, s:s + ln, r] = v
            else:
                x[i, r, s:s + ln] = v
    x = np.clip(x + rng.normal(0, 20, x.shape), 0, 255).round()
    return x[..., None].astype("float32"), cnt, ori


POS, NEG = list(range(2, 12)), list(range(12, 22))  # token 1 is "not"; 22..59 neutral; 0 padding


def _reviews(n, seed, length=40, noise=0.03):
    """Token 'reviews' of 15-40 tokens with 2-5 polar words; a polar word right after 'not' (token 1) flips; class =
    sign of the summed polarity (ties resolved at random); ``noise`` of the labels flipped."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.zeros((n, length), int)
    y = np.zeros(n, int)
    for i in range(n):
        m = rng.integers(15, length + 1)
        row = rng.integers(22, 60, m)
        for s in rng.choice(np.arange(1, m), rng.integers(2, 6), replace=False):
            row[s] = rng.choice(POS if rng.random() < 0.5 else NEG)
            if rng.random() < 0.35:
                row[s - 1] = 1
        # counted after planting: a 'not' may have overwritten an earlier polar word
        score = sum((1 if row[s] in POS else -1 if row[s] in NEG else 0) * (-1 if row[s - 1] == 1 else 1)
                    for s in range(1, m))
        y[i] = int(score > 0 or (score == 0 and rng.random() < 0.5))
        x[i, :m] = row
    flip = rng.random(n) < noise
    return x, np.where(flip, 1 - y, y)


def _checker(n, seed):
    """Two features uniform in [-2, 2), class = colour of its cell on a 4x4 checkerboard (3% flipped); 6 N(0, 1)
    distractors."""
    import numpy as np

    rng = np.random.default_rng(seed)
    a = rng.uniform(-2, 2, (n, 2))
    y = ((np.floor(a[:, 0]) + np.floor(a[:, 1])) % 2).astype(int)
    y = np.where(rng.random(n) < 0.03, 1 - y, y)
    return np.column_stack([a, rng.normal(0, 1, (n, 6))]), y


def _pendulum(n, seed):
    """Period (s) of a pendulum from length L (0.2-3 m) and amplitude (5-80 degrees), large-angle series, 1% noise;
    4 distractors (mass, damping, temperature, a batch number)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    L, th = rng.uniform(0.2, 3.0, n), np.radians(rng.uniform(5, 80, n))
    T = 2 * np.pi * np.sqrt(L / 9.81) * (1 + th ** 2 / 16 + 11 * th ** 4 / 3072) * rng.normal(1, 0.01, n)
    x = np.column_stack([L, np.degrees(th), rng.uniform(0.1, 5, n), rng.uniform(0, 0.2, n), rng.normal(20, 5, n),
                         rng.integers(1, 30, n)])
    return x, T


# ----------------------------------------------------------------------------------------
# Models and the family dispatch
# ----------------------------------------------------------------------------------------


def _conv1d(keras, length, k, p):
    L = keras.layers
    out = L.Dense(1, activation="sigmoid") if k == 2 else L.Dense(k, activation="softmax")
    # three conv/pool stages: a receptive field of about 31 samples, more than one beat interval
    return keras.Sequential([keras.Input((length, 1)), L.Conv1D(16, 7, padding="same", activation="relu"),
                             L.MaxPooling1D(2), L.Conv1D(32, 5, padding="same", activation="relu"), L.MaxPooling1D(2),
                             L.Conv1D(32, 5, padding="same", activation="relu"), L.GlobalAveragePooling1D(),
                             L.Dense(32, activation="relu"), out])


def _bars_cnn(keras, p, head):
    L = keras.layers
    layers = [keras.Input((16, 16, 1))]
    if p.get("aug"):  # a flip or a shift keeps the count and the orientation
        layers += [L.RandomFlip("horizontal_and_vertical"), L.RandomTranslation(0.1, 0.1)]
    for f in (16, 32):
        layers.append(L.Conv2D(f, 3, padding="same", activation="relu"))
        if p.get("bn"):
            layers.append(L.BatchNormalization())
        layers.append(L.MaxPooling2D(2))
    layers += [L.Flatten(), L.Dense(64, activation="relu")]
    if p.get("dropout"):
        layers.append(L.Dropout(p["dropout"]))
    return keras.Sequential(layers + [head])


def make_job(s):
    import keras
    import numpy as np
    from sklearn import datasets

    p, fam = s.params, s.family
    L = keras.layers
    if fam in ("beats", "beats_rare"):
        x, y = _beats(1500 + 600, 7801) if fam == "beats" else _beats(2400, 7802, rare=0.04)
        k = 3 if fam == "beats" else 2
        tr, va = cb._split(len(y), p.get("n_val", 600), 71, 1500, stratify=y)
        loss = cb._default_loss("binary" if k == 2 else "multiclass", p)
        if p.get("col_labels"):  # labels as an (n, 1) column (df[["rhythm"]].values): mse broadcasts them over k
            y = y.reshape(-1, 1)
        return cb.Job(_conv1d(keras, 128, k, p), x[tr], y[tr], x[va], y[va], "binary" if k == 2 else "multiclass", k,
                      loss, ["accuracy"])
    if fam == "load":
        series = _load_series(2600, 7803)
        w, h = 24, 6  # the last 24 hours -> the load 6 hours after the last one
        idx = np.arange(w, len(series) - h + 1)
        x = np.stack([series[i - w:i] for i in idx])
        y = series[idx + h - 1]
        cut = int(0.8 * len(y))  # chronological split: the last fifth validates
        mx, sx = float(x[:cut].mean()), float(x[:cut].std())
        x = ((x - mx) / sx)[..., None].astype("float32")
        m, sd = (float(y[:cut].mean()), float(y[:cut].std())) if p.get("scale_y", True) else (0.0, 1.0)
        yy = ((y - m) / sd).astype("float32")
        if p.get("model") == "gru":
            layers = [keras.Input((w, 1)), L.GRU(16), L.Dense(1)]
        else:
            layers = [keras.Input((w, 1)), L.Conv1D(32, 5, activation="relu"), L.Conv1D(32, 5, activation="relu"),
                      L.GlobalAveragePooling1D(), L.Dense(32, activation="relu"), L.Dense(1)]
        return cb.Job(keras.Sequential(layers), x[:cut], yy[:cut], x[cut:], yy[cut:], "regression", None,
                      p.get("loss") or "mse", ["mae"], y_mean=m, y_std=sd)
    if fam == "bars":
        x, cnt, _ = _bars(1600, 7804)
        if not p.get("raw"):
            x = x / 255.0
        model = _bars_cnn(keras, p, L.Dense(3, activation="softmax"))
        return cb.Job(model, x[:1200], cnt[:1200], x[1200:], cnt[1200:], "multiclass", 3,
                      "sparse_categorical_crossentropy", ["accuracy"])
    if fam == "transfer_bars":
        xs, cs, os_ = _bars(1500, 7805)  # the source task: count x orientation (6 classes)
        base = cb._train_base(keras, "bars_count_orient", xs / 255.0, cs + 3 * os_, 6, 7806)
        x, cnt, _ = _bars(700, 7807)  # the target task, on new images: exactly two bars or not
        two = (cnt == 1).astype(int)
        model = keras.Sequential([base, L.Dense(1, activation="sigmoid")])
        return cb.Job(model, x[:300] / 255.0, two[:300], x[300:] / 255.0, two[300:], "binary", 2, "binary_crossentropy",
                      ["accuracy"])
    if fam == "reviews":
        x, y = _reviews(2800, 7808)
        n_tr = p.get("n_train", 2000)
        layers = [keras.Input((40,)), L.Embedding(60, p["emb"])]
        if p.get("rnn"):
            layers.append(L.Bidirectional(L.GRU(16)))
        else:
            layers += [L.Conv1D(p["filters"], 3, activation="relu"), L.GlobalMaxPooling1D()]
            if p.get("dense"):
                layers.append(L.Dense(p["dense"], activation="relu"))
        layers.append(L.Dense(1, activation="sigmoid"))
        return cb.Job(keras.Sequential(layers), x[:n_tr], y[:n_tr], x[2200:], y[2200:], "binary", 2,
                      "binary_crossentropy", ["accuracy"])
    if fam in ("checker", "cls8", "cancer7"):
        n_val = p.get("n_val", 800)
        if fam == "checker":
            x, y = _checker(3200, 7809)
        elif fam == "cls8":
            x, y = datasets.make_classification(n_samples=2400 + n_val, n_features=20, n_informative=12, n_redundant=4,
                                                n_classes=8, n_clusters_per_class=1, class_sep=1.3, flip_y=0.02,
                                                random_state=7810)
        else:
            d = datasets.load_breast_cancer()
            x, y, n_val = d.data, d.target, 170
        k = int(len(np.unique(y)))
        task = "binary" if k == 2 else "multiclass"
        tr, va = cb._split(len(y), n_val, 72, stratify=y)
        xtr, xva = cb._scale(x[tr], x[va])
        model = cb2._dense_mlp(keras, x.shape[1], task, k, p)
        return cb.Job(model, xtr, y[tr], xva, y[va], task, k, cb._default_loss(task, p), ["accuracy"])
    if fam in ("pendulum", "sparse"):
        if fam == "pendulum":
            x, y = _pendulum(2500, 7811)
        else:
            x, y = datasets.make_sparse_uncorrelated(n_samples=2500, n_features=12, random_state=7812)
        tr, va = cb._split(len(y), 500, 73)
        xtr, xva = cb._scale(x[tr], x[va])
        m, sd = float(y[tr].mean()), float(y[tr].std())
        model = cb2._dense_mlp(keras, x.shape[1], "regression", None, p)
        return cb.Job(model, xtr, ((y[tr] - m) / sd).astype("float32"), xva, ((y[va] - m) / sd).astype("float32"),
                      "regression", None, p.get("loss") or "mse", ["mae"], y_mean=m, y_std=sd)
    raise ValueError(fam)


# ----------------------------------------------------------------------------------------
# Lion (new in this corpus); everything else goes to the earlier builds' optimizers
# ----------------------------------------------------------------------------------------

_PREVIOUS_OPTIMIZER = cb._optimizer  # corpus_build6's (Adamax, SGDR, step decay), itself wrapping corpus_build's


def _optimizer(keras, p, steps_per_epoch):
    if p.get("opt") == "lion":
        return keras.optimizers.Lion(learning_rate=p.get("lr", 1e-4))
    return _PREVIOUS_OPTIMIZER(keras, p, steps_per_epoch)


cb.make_job = make_job
cb._optimizer = _optimizer
cb.SPECS[:] = SPECS  # the imported build/worker/console machinery reads cb.SPECS


if __name__ == "__main__":
    cb.main()

"""Build the own half of the fourth held-out corpus (corpus/heldout4/): new seeds, data and variants.

    .venv/bin/python harness/corpus_build4.py build [--only ID ...] [--jobs 1]   # -> corpus/heldout4/logs, build/meta
    .venv/bin/python harness/corpus_build4.py list
    HELDOUT4_OUT=/tmp/h4 .venv/bin/python harness/corpus_build4.py build --jobs 1   # rebuild elsewhere, to compare

Same machinery as ``harness/corpus_build.py`` (imported: its ``Spec``, ``run_fit``, log writers,
process pool and helpers), ``harness/corpus_build2.py`` (its MLP builder) and
``harness/corpus_build3.py`` (its family dispatch and its (n, 1)-label outcome), pointed at
``corpus/heldout4/`` and given its own ``SPECS``: new generators (12x12 line-segment images whose
class is the orientation; 1-D "pulse" signals for Conv1D; a sinusoid-product regression; a
polynomial regression; a two-arm spiral with distractors; "how many marker tokens" sequences),
scikit-learn data or settings the earlier corpora did not use (make_moons with noise 0.3 and 8
distractors, a 6-class make_classification with redundant features, a 3-class 90:7:3
make_classification with two clusters per class, wine with 45 validation rows, a frozen conv base trained on all ten digits
of one half of the 8x8 digits and a "prime digit" head on the other half), new optimizers
(AdamW, Nadam, Adagrad, SGD with Nesterov momentum) and a warmup + cosine schedule, and two
custom losses whose values go negative (Gaussian NLL with a learned variance; mse - 1.0).
Nothing here imports or runs the doctor; labels come from ``corpus/make_labels4.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_build as cb  # noqa: E402
import corpus_build2 as cb2  # noqa: E402  (patches cb for heldout2 on import; re-pointed below)
import corpus_build3 as cb3  # noqa: E402  (patches cb for heldout3 on import; re-pointed below)

ROOT = cb.ROOT
# HELDOUT4_OUT: build somewhere else (e.g. to check that a rebuild repeats the frozen logs); default the corpus itself
H4 = Path(os.environ["HELDOUT4_OUT"]).resolve() if os.environ.get("HELDOUT4_OUT") else ROOT / "corpus" / "heldout4"
cb.point_at(H4, __file__)

SPECS: list = []
spec, pair = cb.spec_writers(SPECS, "h4_")


MLP = dict(hidden=[64, 32], act="relu", opt="adam", lr=1e-3, batch=32, epochs=40)
LIN = dict(aug=True, bn=True, dropout=0.25, opt="adam", lr=1e-3, epochs=20, batch=32, n_train=1500, n_val=500)
BIGN = {"class_name": "RandomNormal", "config": {"stddev": 1.0, "seed": 7}}

# --- CNNs: generated 12x12 "lines" images (class = orientation of one segment, 4 classes) ------
pair("cnn_lines_adam_lr_high", "lines", 4101,
     "conv net (no BN) on 12x12 noisy line-segment images (4 orientations; translate/rotate aug, dropout 0.25, global average pooling), Adam lr 0.5",
     "same, Adam lr 1e-3", ["learning_rate_too_high"], "Adam lr 0.5 -> 1e-3", "csvlogger", "csv_noepoch",
     dict(LIN, bn=False), dict(lr=0.5), dict(lr=1e-3))
pair("cnn_lines_dropout_l2", "lines", 4102,
     "conv net on lines (aug, no BN) with Dropout(0.9) before the output and L2 0.5 on every kernel",
     "same with Dropout(0.25), no L2", ["too_strong_regularization"], "dropout 0.9 + L2 0.5 -> dropout 0.25",
     "csvlogger_crlf2", "csvlogger_crlf2", dict(LIN, bn=False), dict(dropout=0.9, l2=0.5), dict(dropout=0.25))
spec("h4_cnn_lines_warmup_adamw", "lines", "csvlogger", "healthy", 4103,
     "conv net on lines (aug, BN, dropout 0.25), AdamW (weight decay 1e-4) with 3 warmup epochs to 3e-3 then CosineDecay, "
     "lr logged as `learning_rate`",
     **dict(LIN, opt="adamw", lr=3e-3, schedule="warmup_cosine", log_lr="learning_rate", epochs=24))
spec("h4_cnn_lines_nadam_reduce_lr", "lines", "console_v2_pipe", "healthy", 4104,
     "conv net on lines (aug, BN, dropout 0.3), Nadam 2e-3, ReduceLROnPlateau(verbose=1), 25 epochs, verbose=2 to a file",
     **dict(LIN, opt="nadam", lr=2e-3, dropout=0.3, reduce_lr=True, epochs=25))

# --- Conv1D on generated 1-D pulse signals (box / triangle / two spikes) -------------------
PUL = dict(opt="adam", lr=1e-3, batch=32, epochs=25, n_train=1500, n_val=500)
pair("conv1d_pulses_plain_sgd", "pulses", 4201,
     "Conv1D(16,5)-Conv1D(32,5)-GlobalMaxPool on noisy 1-D pulses (3 shapes), plain SGD lr 1e-3 (no momentum), verbose=1",
     "same with Adam 1e-3", ["optimizer_choice", "learning_rate_too_low"], "SGD 1e-3 -> Adam 1e-3",
     "console_v1_pipe", "csvlogger", PUL, dict(opt="sgd"), dict(opt="adam"))
pair("conv1d_pulses_overfit", "pulses", 4202,
     "Conv1D(64,5)-Conv1D(64,5)-Flatten-Dense(256) on 300 training pulses, no dropout, Adam 1e-3, 80 epochs",
     "same, EarlyStopping(patience=4, restore_best_weights=True)",
     ["overfitting"], "added EarlyStopping(val_loss, patience 4, restore best)", "json", "csv_epochlast",
     dict(PUL, big=True, n_train=300, epochs=80), {}, dict(early_stop=4))
spec("h4_conv1d_pulses_rmsprop_exp", "pulses", "csvlogger_crlf2", "healthy", 4203,
     "Conv1D pulse classifier with dropout 0.3, RMSprop 2e-3 with ExponentialDecay (x0.7 every 5 epochs), lr logged as `lr`",
     **dict(PUL, opt="rmsprop", lr=2e-3, dropout=0.3, schedule="exp", log_lr="lr", epochs=25))

# --- regression (R2 on the original scale) ------------------------------------------------
pair("sinus_raw_target", "sinus", 4301,
     "MLP 64-32 on a sinusoid-product target (inputs standardized) given in raw units (y*250+12000, about 11k-13k), "
     "MSE, Adam 1e-3, batch 64, 40 epochs",
     "same with the target standardized (R2 read on the original scale)", ["unscaled_target", "learning_rate_too_low"],
     "target raw -> standardized", "csvlogger", "csvlogger", dict(MLP, epochs=40, batch=64, y_affine=True),
     dict(scale_y=False), dict(scale_y=True))
pair("sinus_relu_out", "sinus", 4302,
     "MLP 64-32 on the standardized sinusoid-product target with a Dense(1, relu) output (cannot go below 0)",
     "same with a linear output", ["output_activation_mismatch"], "output relu -> linear", "csv_noepoch", "json",
     dict(MLP, epochs=50), dict(out="relu"), dict(out="linear"))
pair("sinus_offset_loss_sgd_low", "sinus", 4303,
     "MLP 64-32 on the standardized sinusoid target, custom loss mse - 1.0 (negative once mse < 1), "
     "SGD lr 1e-4 momentum 0.9, 40 epochs",
     "same, SGD lr 0.02 momentum 0.9", ["learning_rate_too_low"], "SGD lr 1e-4 -> 0.02", "csv_epochlast", "csvlogger",
     dict(MLP, opt="sgd", momentum=0.9, epochs=40, loss_kind="offset"), dict(lr=1e-4), dict(lr=2e-2))
spec("h4_sinus_nll_nadam", "sinus", "json", "healthy", 4304,
     "Gaussian negative log-likelihood (mean and learned log-variance; custom loss, negative values), MLP 64-32, "
     "Nadam 1e-3, 28 epochs", **dict(MLP, opt="nadam", epochs=28, loss_kind="nll"))
pair("poly_deep_big_init", "poly", 4305,
     "6 Dense(64, relu) layers with RandomNormal(stddev=1) kernels on a polynomial target, SGD lr 0.01, no clipping, "
     "verbose=2", "same depth with he_normal kernels", ["exploding_gradients", "bad_initialization"],
     "init N(0,1) -> he_normal", "console_v2_pipe", "csvlogger",
     dict(MLP, hidden=[64] * 6, opt="sgd", lr=0.01, epochs=30), dict(init=BIGN), dict(init="he_normal"))
spec("h4_poly_small_val_adamw", "poly", "console_v1_pty", "healthy", 4306,
     "MLP 64-32 on the polynomial target, 80 validation rows, AdamW 3e-3, 60 epochs, verbose=1 through a pty",
     **dict(MLP, opt="adamw", lr=3e-3, epochs=60, n_val=80))

# --- tabular classification ---------------------------------------------------------------
pair("moons_deep_sigmoid", "moons8", 4401,
     "8 Dense(16, sigmoid) layers on make_moons (noise 0.3) with 8 distractor features, SGD lr 0.05, 12 epochs",
     "same depth with relu and he_normal init", ["vanishing_gradients"], "sigmoid -> relu + he_normal",
     "csvlogger", "csvlogger", dict(MLP, hidden=[16] * 8, opt="sgd", lr=0.05, epochs=12), dict(act="sigmoid"),
     dict(act="relu", init="he_normal"))
pair("moons_dead_bias", "moons8", 4402,
     "MLP 32-32 relu on moons with distractors, every hidden bias initialised to -5 (dead units), Nadam 3e-3, 16 epochs",
     "same with zero biases", ["dead_relu", "bad_initialization"], "bias init -5 -> 0", "json", "json",
     dict(MLP, hidden=[32, 32], opt="nadam", lr=3e-3, epochs=16), dict(bias=-5.0), dict(bias=0.0))
pair("cls6_mse_int_labels", "cls6", 4403,
     "MLP 64-32 with a 6-unit softmax output on 6-class make_classification trained with mse against the integer labels "
     "(an (n, 1) column, which mse broadcasts over the 6 outputs)", "same with sparse_categorical_crossentropy",
     ["loss_mismatch"], "loss mse -> sparse_categorical_crossentropy (the same (n, 1) labels)", "csvlogger", "csvlogger",
     dict(MLP, epochs=25, y_column=True), dict(loss="mse"), dict(loss=None))
pair("cls6_full_batch", "cls6", 4404,
     "MLP 64-32 on 6-class make_classification, full batch (2400 rows = 1 update per epoch), Adam 1e-3, 30 epochs",
     "same, batch 32", ["too_few_updates", "learning_rate_too_low", "too_few_epochs"], "batch 2400 -> 32",
     "csv_noepoch", "csv_noepoch", dict(MLP, epochs=30), dict(batch=2400), dict(batch=32))
pair("cls6_constant_init", "cls6", 4405,
     "MLP 64-32 relu on 6-class make_classification with every hidden kernel initialised to the constant 0.05 "
     "(all units of a layer identical)", "same with glorot_uniform", ["bad_initialization"],
     "init constant 0.05 -> glorot_uniform", "csv_epochlast", "csv_epochlast", dict(MLP, epochs=25),
     dict(init={"class_name": "Constant", "config": {"value": 0.05}}), dict(init="glorot_uniform"))
spec("h4_cls6_large_val_nesterov", "cls6", "csvlogger", "healthy", 4406,
     "MLP 64-32 on 6-class make_classification, 3000 train / 20000 validation rows, SGD Nesterov momentum 0.9 with "
     "ExponentialDecay from 0.02, lr logged as `lr`",
     **dict(MLP, opt="sgd", momentum=0.9, nesterov=True, lr=0.02, schedule="exp", log_lr="lr", epochs=30, batch=64,
            n=23000, n_val=20000))
pair("wine_raw_sgd", "wine4", 4407,
     "MLP 32-16 on raw wine features (proline ~1000), SGD lr 0.01 momentum 0.9, 45 validation rows, verbose=1 through a pty",
     "same with StandardScaler inputs", ["unscaled_features", "learning_rate_too_high", "exploding_gradients"],
     "inputs raw -> standardized", "console_v1_pty", "csvlogger",
     dict(MLP, hidden=[32, 16], opt="sgd", lr=0.01, momentum=0.9, epochs=40, batch=16), dict(raw=True), dict(raw=False))
spec("h4_wine_small_val_adagrad", "wine4", "console_v2_pipe", "healthy", 4408,
     "MLP 32 on standardized wine, 45 validation rows, Adagrad 0.05, dropout 0.2, 50 epochs, verbose=2 to a file",
     **dict(MLP, hidden=[32], opt="adagrad", lr=0.05, dropout=0.2, epochs=50, batch=16))
pair("imbalance_3class", "imb3c", 4409,
     "MLP 32 on a 3-class 90:7:3 make_classification (2 clusters per class, class_sep 0.5), no class weights, "
     "RMSprop 3e-3, 30 epochs "
     "(balanced accuracy)", "same with class_weight balanced", ["class_imbalance"], "class_weight none -> balanced",
     "csvlogger", "json", dict(MLP, hidden=[32], opt="rmsprop", lr=3e-3, epochs=30), dict(class_weight=False), dict(class_weight=True))
pair("spiral_three_units", "spiral", 4410,
     "MLP with one hidden layer of 3 relu units on a two-arm spiral with 4 distractor features, Adam 3e-3",
     "same with 64-64 relu", ["insufficient_capacity"], "hidden [3] -> [64, 64]", "csvlogger_crlf2", "csvlogger_crlf2",
     dict(MLP, lr=3e-3, epochs=40), dict(hidden=[3]), dict(hidden=[64, 64]))

# --- frozen-base transfer: conv base trained on one half of the digits, "prime" head on the other
pair("transfer_prime_rmsprop_low", "transfer_prime", 4501,
     "frozen conv base (trained on all ten digits of one half of the 8x8 digits), sigmoid head 'is the digit prime' "
     "on the other half, RMSprop lr 1e-6, 30 epochs", "same head, RMSprop lr 1e-3", ["learning_rate_too_low"],
     "RMSprop lr 1e-6 -> 1e-3", "csvlogger", "csv_noepoch", dict(opt="rmsprop", epochs=30, batch=32),
     dict(lr=1e-6), dict(lr=1e-3))
spec("h4_transfer_prime_head_l2", "transfer_prime", "json", "healthy", 4502,
     "frozen conv base (all digits, one half), prime head with L2 1e-3 on its kernel, Adam 3e-3, 30 epochs",
     opt="adam", lr=3e-3, head_l2=1e-3, epochs=30, batch=32)

# --- token sequences: how many marker tokens ------------------------------------------------
TOK = dict(opt="adam", lr=1e-3, batch=64, epochs=40)
pair("tokens_count_lstm_few_epochs", "tokens_count4", 4601,
     "Embedding(16)+LSTM(24) counting the marker token (0-3 copies in 30 tokens, 4 classes), Adam 2e-4, batch 128, "
     "stopped after 5 epochs", "same, 80 epochs", ["too_few_epochs"], "epochs 5 -> 80", "json", "csvlogger",
     dict(TOK, model="lstm", lr=2e-4, batch=128), dict(epochs=5), dict(epochs=80))
spec("h4_tokens_count_gap_sgd", "tokens_count4", "console_v1_pipe", "healthy", 4602,
     "Embedding(16)+GlobalAveragePooling marker counter, SGD lr 0.05 momentum 0.9, batch 32, 40 epochs, verbose=1 to a file",
     **dict(TOK, model="gap", opt="sgd", lr=0.05, momentum=0.9, batch=32, epochs=40))


# ----------------------------------------------------------------------------------------
# New data
# ----------------------------------------------------------------------------------------


def _lines(n, seed, size=12):
    """Noisy 12x12 images of one line segment: horizontal, vertical, diagonal or anti-diagonal (the class), random
    place, length 4-9 pixels and brightness."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cls = rng.integers(0, 4, n)
    x = np.zeros((n, size, size), "float32")
    step = [(0, 1), (1, 0), (1, 1), (1, -1)]
    for i in range(n):
        ln = int(rng.integers(4, 10))
        dy, dx = step[cls[i]]
        ys = np.arange(ln) * dy
        xs = np.arange(ln) * dx
        y0 = rng.integers(0, size - ys.max())
        x0 = rng.integers(-xs.min(), size - xs.max())
        x[i, y0 + ys, x0 + xs] = rng.uniform(0.8, 1.2)
    x = x + rng.normal(0, 0.35, x.shape)
    return x[..., None].astype("float32"), cls


def _pulses(n, seed, length=64):
    """1-D signals: a box, a triangle or two narrow spikes at a random place, on a random linear drift plus noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(length)
    cls = rng.integers(0, 3, n)
    x = np.zeros((n, length), "float32")
    for i in range(n):
        w = rng.uniform(6, 12)
        c = rng.uniform(w, length - w)
        a = rng.uniform(0.8, 1.5)
        if cls[i] == 0:
            x[i] = a * (np.abs(t - c) < w / 2)
        elif cls[i] == 1:
            x[i] = a * np.clip(1 - np.abs(t - c) / (w / 2 + 2), 0, None)
        else:
            d = rng.uniform(3, 8)
            x[i] = a * 1.5 * ((np.abs(t - (c - d)) < 1) + (np.abs(t - (c + d)) < 1))
        x[i] += rng.uniform(-0.5, 0.5) * (t - length / 2) / length + rng.uniform(-0.3, 0.3)
    x = x + rng.normal(0, 0.35, x.shape)
    return x[..., None].astype("float32"), cls


def _sinus(n, seed):
    """y = sin(2 x0) (1 + 0.5 x1) + 0.5 x2^2 - 0.3 x3 + N(0, 0.1); x0..x3 ~ U(-2, 2), plus 4 distractor inputs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.uniform(-2, 2, (n, 4)), rng.normal(0, 1, (n, 4))])
    y = np.sin(2 * x[:, 0]) * (1 + 0.5 * x[:, 1]) + 0.5 * x[:, 2] ** 2 - 0.3 * x[:, 3] + rng.normal(0, 0.1, n)
    return x, y


def _poly(n, seed):
    """y = x0^3 - 2 x0 x1 + x2^2 + 0.5 x1 x2 + N(0, 0.3); x0..x2 ~ U(-2, 2), plus 3 distractor inputs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.uniform(-2, 2, (n, 3)), rng.uniform(-5, 5, (n, 3))])
    y = x[:, 0] ** 3 - 2 * x[:, 0] * x[:, 1] + x[:, 2] ** 2 + 0.5 * x[:, 1] * x[:, 2] + rng.normal(0, 0.3, n)
    return x, y


def _spiral(n, seed):
    """Two interleaved spiral arms (1.5 turns, noise 0.15) in the first two inputs, plus 4 distractor inputs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    r = rng.uniform(0.2, 1.0, n)
    th = 3 * np.pi * r + np.pi * y
    x = np.column_stack([r * np.cos(th), r * np.sin(th)]) + rng.normal(0, 0.04, (n, 2))
    return np.column_stack([x, rng.normal(0, 0.5, (n, 4))]), y


def _moons8(n, seed):
    """make_moons (noise 0.3) plus 8 gaussian distractor inputs."""
    import numpy as np
    from sklearn import datasets

    x, y = datasets.make_moons(n_samples=n, noise=0.3, random_state=seed)
    rng = np.random.default_rng(seed)
    return np.column_stack([x, rng.normal(0, 1, (n, 8))]), y


def _tokens_count4(n, seed, length=30, vocab=40):
    """Random tokens 2..39 with 0-3 copies of marker token 1 at random places; y = the number of copies."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(2, vocab, (n, length))
    y = rng.integers(0, 4, n)
    for i in range(n):
        x[i, rng.choice(length, y[i], replace=False)] = 1
    return x, y


def _cnn4(keras, shape, head, p):
    """Conv blocks (filters, BN, pool) and a global-average-pooling head; augmentation that keeps the class: small
    translation / rotation filling with zeros (no flips: a flip turns a diagonal into an anti-diagonal)."""
    L = keras.layers
    reg = cb._reg(keras, p)
    layers = [keras.Input(shape)]
    if p.get("aug"):
        sh = p.get("shift", 0.05)
        layers.append(L.RandomTranslation(sh, sh, fill_mode="constant"))
        layers.append(L.RandomRotation(p.get("rot", 0.02), fill_mode="constant"))
    for f in p.get("filters", [16, 32]):
        layers.append(L.Conv2D(f, 3, padding="same", activation="relu", kernel_regularizer=reg))
        if p.get("bn"):
            layers.append(L.BatchNormalization())
        layers.append(L.MaxPooling2D(2))
    layers.append(L.GlobalAveragePooling2D())
    layers.append(L.Dense(p.get("head", 64), activation="relu", kernel_regularizer=reg))
    if p.get("dropout"):
        layers.append(L.Dropout(p["dropout"]))
    layers.append(head)
    return keras.Sequential(layers)


def mse_minus_one(y_true, y_pred):
    """A custom loss: the mean squared error minus 1 (so it goes negative once the mse is below 1)."""
    import keras.ops as ops

    y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 1))
    return ops.mean(ops.square(y_true - y_pred), axis=-1) - 1.0


def gaussian_nll(y_true, y_pred):
    """Gaussian negative log-likelihood with a learned log variance (no 0.5 log 2pi): negative once the variance is small."""
    import keras.ops as ops

    mu, log_var = y_pred[:, :1], y_pred[:, 1:]
    y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 1))
    return ops.mean(0.5 * (log_var + ops.square(y_true - mu) / ops.exp(log_var)), axis=-1)


def make_job(s):
    import keras
    import numpy as np
    from sklearn import datasets

    p, fam, seed = s.params, s.family, s.seed
    L = keras.layers
    if fam == "lines":
        x, y = _lines(2000, 4701)
        # the same 2000 images for every lines fit: validation = the last n_val, training = the first n_train
        xva, yva = x[-p["n_val"]:], y[-p["n_val"]:]
        xtr, ytr = x[: p["n_train"]], y[: p["n_train"]]
        model = _cnn4(keras, (12, 12, 1), cb._head(keras, "multiclass", 4, p), p)
        return cb.Job(model, xtr, ytr, xva, yva, "multiclass", 4, cb._default_loss("multiclass", p), ["accuracy"])
    if fam == "pulses":
        x, y = _pulses(2000, 4702)
        xva, yva = x[-p["n_val"]:], y[-p["n_val"]:]
        xtr, ytr = x[: p["n_train"]], y[: p["n_train"]]
        if p.get("big"):
            layers = [keras.Input((64, 1)), L.Conv1D(64, 5, activation="relu"), L.Conv1D(64, 5, activation="relu"),
                      L.Flatten(), L.Dense(256, activation="relu")]
        else:
            layers = [keras.Input((64, 1)), L.Conv1D(16, 5, activation="relu"), L.MaxPooling1D(2),
                      L.Conv1D(32, 5, activation="relu"), L.GlobalMaxPooling1D(), L.Dense(32, activation="relu")]
        if p.get("dropout"):
            layers.append(L.Dropout(p["dropout"]))
        layers.append(L.Dense(3, activation="softmax"))
        return cb.Job(keras.Sequential(layers), xtr, ytr, xva, yva, "multiclass", 3, "sparse_categorical_crossentropy",
                      ["accuracy"])
    if fam == "transfer_prime":
        d = datasets.load_digits()
        x, y = (d.images[..., None] / 16.0).astype("float32"), d.target
        src = np.arange(len(y)) % 2 == 0
        base = cb._train_base(keras, "digits_even_rows", x[src], y[src], 10, 4801)
        xt, yt = x[~src], np.isin(y[~src], [2, 3, 5, 7]).astype(int)
        tr, va = cb._split(len(yt), 0.3, 12, stratify=yt)
        keras.utils.set_random_seed(seed)
        reg = keras.regularizers.l2(p["head_l2"]) if p.get("head_l2") else None
        model = keras.Sequential([keras.Input((8, 8, 1)), base, L.Dense(1, activation="sigmoid", kernel_regularizer=reg)])
        return cb.Job(model, xt[tr], yt[tr], xt[va], yt[va], "binary", 2, "binary_crossentropy", ["accuracy"],
                      note="base trained 12 epochs on all ten digits of the even-numbered rows (seed 4801), frozen; "
                           "head on the odd-numbered rows, label = digit in {2, 3, 5, 7}")
    if fam in ("sinus", "poly"):
        x, y = _sinus(3000, 4703) if fam == "sinus" else _poly(2000, 4704)
        tr, va = cb._split(len(y), p.get("n_val", 600 if fam == "sinus" else 400), 13, p.get("n_train"))
        xtr, xva = cb._scale(x[tr], x[va])
        if p.get("y_affine"):  # the target in raw units, far from 0 and unit scale
            y = y * 250.0 + 12000.0
        ytr, yva = y[tr].astype("float32"), y[va].astype("float32")
        m, sd = (float(ytr.mean()), float(ytr.std())) if p.get("scale_y", True) else (0.0, 1.0)
        kind = p.get("loss_kind")
        if kind == "nll":
            layers = [keras.Input((x.shape[1],))] + [L.Dense(u, activation="relu") for u in p["hidden"]] + [L.Dense(2)]
            model, loss, note = keras.Sequential(layers), gaussian_nll, \
                "custom Gaussian NLL loss (no 0.5 log 2pi constant): negative once the predicted variance is small"
        else:
            model = cb2._dense_mlp(keras, x.shape[1], "regression", None, p)
            loss = mse_minus_one if kind == "offset" else cb._default_loss("regression", p)
            note = "custom loss mse - 1.0 (negative once the mse is below 1)" if kind == "offset" else ""
        return cb.Job(model, xtr, (ytr - m) / sd, xva, (yva - m) / sd, "regression", None, loss,
                      [] if kind == "nll" else ["mae"], y_mean=m, y_std=sd, note=note)
    if fam in ("moons8", "cls6", "wine4", "imb3c", "spiral"):
        n_val = p.get("n_val", 0.2)
        if fam == "moons8":
            x, y = _moons8(3000, 41)
        elif fam == "cls6":
            x, y = datasets.make_classification(n_samples=p.get("n", 3000), n_features=30, n_informative=12, n_redundant=10,
                                                n_classes=6, n_clusters_per_class=2, class_sep=1.5, random_state=43)
        elif fam == "wine4":
            x, y = datasets.load_wine(return_X_y=True)
            n_val = 45
        elif fam == "imb3c":
            x, y = datasets.make_classification(n_samples=6000, n_features=15, n_informative=5, n_classes=3,
                                                n_clusters_per_class=2, weights=[0.90, 0.07, 0.03], class_sep=0.5,
                                                flip_y=0, random_state=44)
        else:
            x, y = _spiral(3000, 45)
        k = int(len(np.unique(y)))
        task = "binary" if k == 2 else "multiclass"
        tr, va = cb._split(len(y), n_val, 14, p.get("n_train"), stratify=y)
        if p.get("raw"):  # the features in their raw units
            xtr, xva = x[tr].astype("float32"), x[va].astype("float32")
        else:
            xtr, xva = cb._scale(x[tr], x[va])
        model = cb2._dense_mlp(keras, x.shape[1], task, k, p)
        ytr, yva = y[tr], y[va]
        if p.get("y_column"):  # the labels as an (n, 1) column, as a DataFrame's df[["label"]].values gives them
            ytr, yva = ytr.reshape(-1, 1), yva.reshape(-1, 1)
        return cb.Job(model, xtr, ytr, xva, yva, task, k, cb._default_loss(task, p), ["accuracy"])
    if fam == "tokens_count4":
        x, y = _tokens_count4(3000, 4705)
        if p.get("model") == "lstm":
            layers = [keras.Input((30,)), L.Embedding(40, 16), L.LSTM(24)]
        else:
            layers = [keras.Input((30,)), L.Embedding(40, 16), L.GlobalAveragePooling1D(), L.Dense(16, activation="relu")]
        layers.append(L.Dense(4, activation="softmax"))
        return cb.Job(keras.Sequential(layers), x[:2400], y[:2400], x[2400:], y[2400:], "multiclass", 4,
                      "sparse_categorical_crossentropy", ["accuracy"])
    return cb3.make_job(s)


cb.make_job = make_job
cb.SPECS[:] = SPECS  # the imported build/worker/console machinery reads cb.SPECS


if __name__ == "__main__":
    cb.main()

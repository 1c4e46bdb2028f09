"""Build the own half of the sixth held-out corpus (corpus/heldout6/): new seeds, data and variants.

    .venv/bin/python harness/corpus_build6.py build [--only ID ...] [--jobs 1]   # -> corpus/heldout6/logs, build/meta
    .venv/bin/python harness/corpus_build6.py list
    HELDOUT6_OUT=/tmp/h6 .venv/bin/python harness/corpus_build6.py build --jobs 1   # rebuild elsewhere, to compare

Same machinery as ``harness/corpus_build.py`` (imported: its ``Spec``, ``run_fit``, log writers,
process pool and helpers), ``harness/corpus_build2.py`` (its MLP builder with a bias initializer)
and ``harness/corpus_build5.py`` (its three writers: Keras 2 era CSVLogger, pretty-printed JSON,
semicolon table), pointed at ``corpus/heldout6/`` and given its own ``SPECS``: new generators
(16x16 texture images whose class is the texture: checkerboard, dot grid, smooth noise, diagonal
hatching; 80-step sequences whose class is the sign of the first value (a long-range dependency);
"which of three marker tokens comes first" sequences for an Embedding + Bidirectional LSTM; a
denoising regression with 16 outputs (an autoencoder-like bottleneck net); a machine-sensor
failure table in raw units (kelvin, pascal, rpm, volts, hours); a linear regression with
Student-t (df 3) noise), scikit-learn data with settings no earlier corpus used (make_classification
with flip_y 0.15; 6 classes with 2 clusters each), new optimizers and schedules
(Adamax, CosineDecayRestarts (SGDR), step decay), a label-smoothing cross-entropy, a Student-t NLL
(negative values), a sigmoid unit under binary cross-entropy on 6-class integer labels, and one
more writer (pandas ``to_csv`` with its index column).
Nothing here imports or runs the doctor; labels come from ``corpus/make_labels6.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_build as cb  # noqa: E402
import corpus_build2 as cb2  # noqa: E402  (patches cb for heldout2 on import; re-pointed below)
import corpus_build5 as cb5  # noqa: E402  (patches cb for heldout5 (and 4, 3) on import; re-pointed below)

ROOT = cb.ROOT
# HELDOUT6_OUT: build somewhere else (e.g. to check that a rebuild repeats the logs); default the corpus itself
H6 = Path(os.environ["HELDOUT6_OUT"]).resolve() if os.environ.get("HELDOUT6_OUT") else ROOT / "corpus" / "heldout6"
cb.point_at(H6, __file__)

SPECS: list = []
spec, pair = cb.spec_writers(SPECS, "h6_")


MLP = dict(hidden=[32, 16], act="relu", opt="adam", lr=1e-3, batch=32, epochs=30)
TEX = dict(aug=True, bn=True, dropout=0.2, opt="adam", lr=1e-3, epochs=16, batch=32, n_train=1200, n_val=400)
SEQ = dict(opt="adam", lr=3e-3, batch=32, epochs=16, n_train=1200, n_val=400)
TOK = dict(opt="adam", lr=3e-3, batch=32, epochs=20)

# --- CNNs: generated 16x16 textures (checkerboard, dot grid, smooth noise, diagonal hatching) ----
pair("cnn_textures_sgd_momentum_lr_high", "textures", 6101,
     "conv net (no BN) on 16x16 noisy textures (4 classes; flip/translate aug, dropout 0.2, global average pooling), "
     "SGD lr 1.0 momentum 0.9, 16 epochs", "same, SGD lr 0.02 momentum 0.9", ["learning_rate_too_high"],
     "SGD lr 1.0 -> 0.02 (momentum 0.9)", "csvlogger_crlf2", "json",
     dict(TEX, bn=False, opt="sgd", momentum=0.9), dict(lr=1.0), dict(lr=0.02))
spec("h6_cnn_textures_dropout_aug", "textures", "console_v1_pipe", "healthy", 6116,
     "conv net on textures with heavy augmentation (shift 0.2, GaussianNoise 0.4), BN and dropout 0.5, Adam 2e-3, 16 epochs, "
     "built with the legacy `input_shape=` keyword (Keras warns), verbose=1 to a file: the training loss stays above the "
     "validation loss", **dict(TEX, shift=0.2, noise=0.4, dropout=0.5, lr=2e-3, legacy_input=True))
spec("h6_cnn_textures_sgdr", "textures", "csvlogger", "healthy", 6117,
     "conv net on textures (BN), SGD momentum 0.9 with CosineDecayRestarts (SGDR: 3e-2, first period 3 epochs, t_mul 2), "
     "lr logged as `learning_rate` (it jumps back up at epochs 4 and 10), 21 epochs",
     **dict(TEX, opt="sgd", momentum=0.9, lr=3e-2, schedule="sgdr", log_lr="learning_rate", epochs=21))

# --- sequences whose class is the sign of the first value (60 steps later) ----------------------
spec("h6_seqlong_rnn_reduce_lr", "seqlong", "console_v2_pipe", "healthy", 6119,
     "SimpleRNN(32) (legacy `input_shape=`, Keras warns) on 80-step sequences whose class is the sign of the first value, "
     "Adam 3e-3, ReduceLROnPlateau(verbose=1), 20 epochs, verbose=2 to a file",
     **dict(SEQ, rnn="simple", reduce_lr=True, legacy_input=True, epochs=20))

# --- tokens: which of three marker tokens comes first (Embedding + Bidirectional LSTM) ----------
pair("tokens_first_sgd_plain", "tokens_first", 6115,
     "Embedding(16) + Bidirectional(LSTM(12)) on 'which of tokens 3, 4, 5 comes first' sequences, plain SGD lr 0.01 "
     "(no momentum), 20 epochs", "same with Adam 3e-3", ["optimizer_choice"], "SGD (no momentum) -> Adam",
     "csv_noepoch", "csvlogger", TOK, dict(opt="sgd", lr=0.01), dict(opt="adam", lr=3e-3))
spec("h6_tokens_first_early_stop", "tokens_first", "json", "healthy", 6120,
     "Embedding(16) + Bidirectional(LSTM(12)) first-marker classifier (5% label noise), Adam 3e-3, up to 50 epochs, "
     "EarlyStopping(val_loss, patience 4, restore_best_weights=True)", **dict(TOK, epochs=50, early_stop=4, noise=0.05))

# --- denoising regression (16 outputs, bottleneck net) -----------------------------------------
DEN = dict(hidden=[64, 8, 64], act="relu", opt="adam", lr=1e-3, batch=32, epochs=30)
pair("denoise_few_epochs", "denoise", 6103,
     "autoencoder-like MLP 64-8-64 reconstructing 16 clean signals from noisy ones, Adam 3e-4, stopped after 4 epochs",
     "same, 40 epochs", ["too_few_epochs"], "epochs 4 -> 40", "json", "csv_noepoch", dict(DEN, lr=3e-4), dict(epochs=4),
     dict(epochs=40))
pair("denoise_dead_relu_bias", "denoise", 6108,
     "autoencoder-like MLP 64-8-64 with bias_initializer=Constant(-6) on its relu layers (every unit starts dead), Adam 1e-3, "
     "30 epochs", "same with zero biases", ["dead_relu", "bad_initialization"], "bias init -6 -> 0", "csvlogger", "json",
     DEN, dict(bias=-6.0), dict(bias=0.0))

# --- tabular classification ------------------------------------------------------------------
pair("flipcls_rmsprop_lr_low", "flipcls", 6102,
     "MLP 32-16 on 3-class make_classification with 15% flipped labels, RMSprop lr 1e-5, 30 epochs, verbose=2",
     "same, RMSprop lr 1e-3", ["learning_rate_too_low"], "RMSprop lr 1e-5 -> 1e-3", "console_v2_pipe", "csvlogger",
     dict(MLP, opt="rmsprop", dropout=0.2), dict(lr=1e-5), dict(lr=1e-3))
spec("h6_flipcls_large_val_adamax", "flipcls", "csvlogger", "healthy", 6122,
     "MLP 32-16 on the flipped-label classes, 3000 train / 20000 validation rows, Adamax 2e-3 with ExponentialDecay, "
     "lr logged as `lr`, 25 epochs, batch 64",
     **dict(MLP, opt="adamax", lr=2e-3, schedule="exp", log_lr="lr", epochs=25, batch=64, n_train=3000, n_val=20000))
pair("flipcls_overfit_small_val", "flipcls", 6105,
     "MLP 256-256 on 150 training rows of the flipped-label classes (15% flipped), 40 validation rows, no regularization, "
     "Adam 1e-3, 150 epochs, batch 16", "same, EarlyStopping(patience=10, restore_best_weights=True)", ["overfitting"],
     "added EarlyStopping(val_loss, patience 10, restore best)", "json_pretty", "keras2_csv",
     dict(MLP, hidden=[256, 256], n_train=150, n_val=40, batch=16, epochs=150), {}, dict(early_stop=10))
pair("sensors_raw_features", "sensors", 6107,
     "MLP 32-16 on a machine-failure table in raw units (temperature in kelvin, pressure in pascal, rpm, torque, voltage, "
     "hours since service), Adam 1e-3, 30 epochs, verbose=1 through a pty", "same with StandardScaler inputs",
     ["unscaled_features"], "inputs raw -> standardized", "console_v1_pty", "csvlogger", MLP, dict(raw=True), dict(raw=False))
pair("sensors_rare_imbalance", "sensors_rare", 6112,
     "MLP 32-16 on the sensor table where 3% fail, no class weights, 30 epochs (balanced accuracy)",
     "same with class_weight balanced", ["class_imbalance"], "class_weight none -> balanced", "keras2_csv", "csvlogger_crlf2",
     MLP, dict(class_weight=False), dict(class_weight=True))
spec("h6_sensors_step_decay", "sensors", "csv_index", "healthy", 6118,
     "MLP 32-16 on the standardized sensor table, Adam 3e-3 halved every 6 epochs (step decay), lr logged as `lr`, 30 epochs, "
     "pandas to_csv with its index column", **dict(MLP, lr=3e-3, schedule="step", log_lr="lr"))
CL6 = dict(MLP, hidden=[64, 32], epochs=30)
pair("cls6_bce_sigmoid_int_labels", "cls6", 6111,
     "MLP 64-32 with one Dense(1, sigmoid) output trained with binary_crossentropy on 6-class integer labels (0..5), "
     "Adam 1e-3, 30 epochs", "Dense(6, softmax) with sparse_categorical_crossentropy", ["loss_mismatch",
                                                                                      "output_activation_mismatch"],
     "Dense(1, sigmoid) + binary_crossentropy -> Dense(6, softmax) + sparse_categorical_crossentropy", "csvlogger", "json",
     CL6, dict(one_sigmoid=True, loss="binary_crossentropy"), dict(one_sigmoid=False, loss=None))
pair("cls6_adamw_heavy_decay", "cls6", 6113,
     "MLP 64-32 on 6-class make_classification (2 clusters per class), AdamW 1e-3 with weight_decay 30, 30 epochs",
     "same, AdamW weight_decay 1e-4", ["too_strong_regularization"], "weight_decay 30 -> 1e-4", "csvlogger",
     "csv_epochlast", dict(CL6, opt="adamw"), dict(weight_decay=30.0), dict(weight_decay=1e-4))
pair("cls6_bottleneck2", "cls6", 6114,
     "MLP 64-2-64 (a 2-unit bottleneck) on the 6-class data, Adam 1e-3, 18 epochs", "MLP 64-32-64",
     ["insufficient_capacity"], "bottleneck 2 -> 32 units", "json", "csvlogger", dict(CL6, epochs=18), dict(hidden=[64, 2, 64]),
     dict(hidden=[64, 32, 64]))
pair("cls6_deep_sigmoid", "cls6", 6109,
     "10 Dense(32, sigmoid) layers on the 6-class data, plain SGD lr 0.05, 20 epochs", "same depth with relu and he_normal init",
     ["vanishing_gradients"], "sigmoid -> relu + he_normal", "csvlogger", "csv_noepoch",
     dict(CL6, hidden=[32] * 10, opt="sgd", lr=0.05, epochs=20), dict(act="sigmoid"), dict(act="relu", init="he_normal"))
spec("h6_cls6_label_smoothing", "cls6", "csvlogger_crlf2", "healthy", 6124,
     "MLP 64-32 (dropout 0.2) on the 6-class data, cross-entropy with label_smoothing 0.1 (the loss cannot go below about 0.4), "
     "Adam 1e-3, 30 epochs", **dict(CL6, dropout=0.2, smoothing=0.1))

# --- regression with Student-t noise ------------------------------------------------------------
REG = dict(hidden=[64, 32], act="relu", opt="adam", lr=1e-3, batch=32, epochs=30)
pair("tregress_raw_target", "tregress", 6106,
     "MLP 64-32 on a linear make_regression problem with Student-t (df 3) noise, target in raw units (4000 + 40 y, about "
     "-4000..12000), MSE, Adam 1e-3, 30 epochs", "same with the target standardized (R2 read in raw units)",
     ["unscaled_target"], "target raw -> standardized", "csvlogger", "csv_epochlast", dict(REG, y_affine=True),
     dict(scale_y=False), dict(scale_y=True))
pair("tregress_relu_out", "tregress", 6110,
     "MLP 64-32 with a Dense(1, relu) output on the standardized (signed) target", "same with a linear output",
     ["output_activation_mismatch"], "output relu -> linear", "csv_semicolon", "csvlogger", REG, dict(out="relu"),
     dict(out="linear"))
spec("h6_tregress_early_flat", "tregress", "csvlogger", "healthy", 6121,
     "MLP 16 with L2 1e-3 on the Student-t regression, Adam 1e-2, 45 epochs: converged within 3 epochs, then flat",
     **dict(REG, hidden=[16], l2=1e-3, lr=1e-2, epochs=45))
spec("h6_tregress_student_t_nll", "tregress", "json_pretty", "healthy", 6123,
     "Student-t (df 3) negative log-likelihood with a learned log scale (custom loss, negative values), MLP 64-32, Adam 1e-3, "
     "30 epochs, pretty-printed History JSON", **dict(REG, loss_kind="student_t"))


# ----------------------------------------------------------------------------------------
# New data
# ----------------------------------------------------------------------------------------


def _textures(n, seed, size=16):
    """Noisy 16x16 textures; class 0 checkerboard (period 2-4), 1 dot grid (spacing 3-5), 2 smooth noise (a blurred random
    field), 3 diagonal hatching (either diagonal, spacing 3-5); random phase, contrast and offset."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    cls = rng.integers(0, 4, n)
    yy, xx = np.mgrid[0:size, 0:size]
    x = np.zeros((n, size, size), "float32")
    for i in range(n):
        c = cls[i]
        oy, ox = rng.integers(0, 6, 2)
        if c == 0:
            p = rng.integers(2, 5)
            img = (((yy + oy) // p + (xx + ox) // p) % 2).astype(float)
        elif c == 1:
            p = rng.integers(3, 6)
            img = (((yy + oy) % p == 0) & ((xx + ox) % p == 0)).astype(float)
        elif c == 2:
            img = gaussian_filter(rng.normal(0, 1, (size, size)), rng.uniform(1.2, 2.2))
            img = (img - img.min()) / (img.max() - img.min() + 1e-9)
        else:
            p = rng.integers(3, 6)
            d = (xx + yy) if rng.random() < 0.5 else (xx - yy + size)
            img = ((d + oy) % p == 0).astype(float)
        x[i] = rng.uniform(0.6, 1.4) * img + rng.uniform(-0.2, 0.2)
    x = x + rng.normal(0, 0.4, x.shape)
    return x[..., None].astype("float32"), cls


def _seqlong(n, seed, length=80):
    """Two channels over 100 steps: channel 0 is noise N(0, 1) except step 0, which is +-U(0.5, 1.5); channel 1 flags
    step 0. Class = the sign of the first value (a dependency 99 steps long)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = np.zeros((n, length, 2), "float32")
    x[:, :, 0] = rng.normal(0, 1, (n, length))
    x[:, 0, 0] = (2 * y - 1) * rng.uniform(0.5, 1.5, n)
    x[:, 0, 1] = 1.0
    return x, y


def _tokens_first(n, seed, length=24, vocab=30, noise=0.0):
    """Random tokens 6..29 with tokens 3, 4 and 5 each planted once or twice at random places; class = which of 3, 4, 5
    comes first (a bag of tokens cannot tell); ``noise`` of the labels replaced at random."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(6, vocab, (n, length))
    y = np.zeros(n, int)
    for i in range(n):
        pos = rng.choice(length, 6, replace=False)
        marks = [3, 4, 5] + list(rng.integers(3, 6, 3))
        keep = 3 + rng.integers(0, 4)
        x[i, pos[:keep]] = marks[:keep]
        first = sorted(zip(pos[:keep], marks[:keep]))[0][1]
        y[i] = first - 3
    if noise:
        flip = rng.random(n) < noise
        y = np.where(flip, rng.integers(0, 3, n), y)
    return x, y


def _denoise(n, seed):
    """16 clean signals from 3 latent factors (through a fixed nonlinear map), inputs = clean + N(0, 0.5) noise; the
    target is the clean 16-vector."""
    import numpy as np

    rng = np.random.default_rng(seed)
    z = rng.normal(0, 1, (n, 3))
    a = rng.normal(0, 1, (3, 16))
    clean = np.tanh(z @ a / 1.5) + 0.3 * np.sin(z[:, :1] * 2)
    noisy = clean + rng.normal(0, 0.5, clean.shape)
    return noisy.astype("float32"), clean.astype("float32")


def _sensors(n, seed, rare=False):
    """A machine-failure table in raw units: temperature (K), pressure (Pa), rpm, torque (N m), vibration (mm/s), supply
    voltage (V, about 0.01), hours since service, plus 2 irrelevant columns; failure from a logistic model (about 30%
    fail, or 3% with ``rare``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    temp = rng.normal(318, 6, n)
    pres = rng.normal(101325, 2500, n)
    rpm = rng.uniform(1000, 4000, n)
    torque = rng.normal(40, 12, n).clip(3, 90)
    vib = rng.gamma(2.0, 1.2, n)
    volt = rng.normal(0.012, 0.0015, n)
    hours = rng.uniform(0, 20000, n)
    power = torque * rpm * 2 * np.pi / 60 / 1000  # kW
    z = (0.25 * (temp - 318) + 0.6 * (vib - 2.4) + 0.00018 * hours + 0.35 * np.abs(power - 10.5)
         - 1200 * (volt - 0.012) + 0.0004 * (pres - 101325))
    z = z - np.quantile(z, 0.97 if rare else 0.70)
    y = (rng.random(n) < 1 / (1 + np.exp(-1.6 * z))).astype(int)
    x = np.column_stack([temp, pres, rpm, torque, vib, volt, hours, rng.integers(1, 40, n), rng.normal(50, 20, n)])
    return x, y


def _tregress(n, seed):
    """make_regression (12 features, 7 informative, no noise) plus Student-t (df 3) noise at about a third of the signal's
    spread."""
    import numpy as np
    from sklearn import datasets

    x, y = datasets.make_regression(n_samples=n, n_features=12, n_informative=7, noise=0.0, random_state=seed)
    rng = np.random.default_rng(seed)
    y = y + rng.standard_t(3, n) * 0.3 * y.std()
    return x, y


def student_t_nll(y_true, y_pred):
    """Student-t (df 3) negative log-likelihood with a learned log scale, without its constant: negative once the scale
    is small."""
    import keras.ops as ops

    mu, log_s = y_pred[:, :1], y_pred[:, 1:]
    y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 1))
    z = (y_true - mu) / ops.exp(log_s)
    return ops.mean(log_s + 2.0 * ops.log1p(ops.square(z) / 3.0), axis=-1)


def smoothed_cce(y_true, y_pred):
    """Categorical cross-entropy with label_smoothing 0.1 on integer labels (a user's
    ``CategoricalCrossentropy(label_smoothing=0.1)`` with ``to_categorical`` labels; the labels stay integers here so the
    outcome reads them as the other fits do)."""
    import keras
    import keras.ops as ops

    k = y_pred.shape[-1]
    y_true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), k)
    return keras.losses.categorical_crossentropy(y_true, y_pred, label_smoothing=0.1)


def _cnn6(keras, p, k=4, shape=(16, 16, 1)):
    """Flip/translate augmentation, optional GaussianNoise, three 3x3 conv layers (optional BN) and a global-average-pooling
    head; ``legacy_input`` gives the first layer ``input_shape=`` (Keras 3 warns) instead of an Input."""
    L = keras.layers
    first = {"input_shape": shape} if p.get("legacy_input") else {}
    layers = [] if first else [keras.Input(shape)]
    if p.get("aug"):
        sh = p.get("shift", 0.1)
        layers.append(L.RandomFlip("horizontal_and_vertical", **first))
        first = {}
        layers.append(L.RandomTranslation(sh, sh, fill_mode="reflect"))
    if p.get("noise"):
        layers.append(L.GaussianNoise(p["noise"], **first))
        first = {}
    for f in (16, 32):
        layers.append(L.Conv2D(f, 3, padding="same", activation="relu", **first))
        first = {}
        if p.get("bn"):
            layers.append(L.BatchNormalization())
    layers.append(L.MaxPooling2D(2))
    layers.append(L.Conv2D(32, 3, padding="same", activation="relu"))
    layers.append(L.GlobalAveragePooling2D())
    if p.get("dropout"):
        layers.append(L.Dropout(p["dropout"]))
    layers.append(L.Dense(k, activation="softmax"))
    return keras.Sequential(layers)


def make_job(s):
    import keras
    import numpy as np
    from sklearn import datasets

    p, fam = s.params, s.family
    L = keras.layers
    if fam == "textures":
        x, y = _textures(1600, 6801)
        # the same 1600 images for every texture fit: validation = the last n_val, training = the first n_train
        xva, yva = x[-p["n_val"]:], y[-p["n_val"]:]
        xtr, ytr = x[: p["n_train"]], y[: p["n_train"]]
        return cb.Job(_cnn6(keras, p), xtr, ytr, xva, yva, "multiclass", 4, "sparse_categorical_crossentropy", ["accuracy"])
    if fam == "seqlong":
        x, y = _seqlong(2000, 6807)
        xva, yva = x[-p["n_val"]:], y[-p["n_val"]:]
        xtr, ytr = x[: p["n_train"]], y[: p["n_train"]]
        kw = {"input_shape": (80, 2)} if p.get("legacy_input") else {}
        core = {"simple": L.SimpleRNN, "gru": L.GRU}.get(p.get("rnn"), L.LSTM)(32, **kw)
        layers = ([] if kw else [keras.Input((80, 2))]) + [core, L.Dense(1, activation="sigmoid")]
        return cb.Job(keras.Sequential(layers), xtr, ytr, xva, yva, "binary", 2, "binary_crossentropy", ["accuracy"])
    if fam == "tokens_first":
        x, y = _tokens_first(2500, 6809, noise=p.get("noise", 0.0))
        layers = [keras.Input((24,)), L.Embedding(30, 16), L.Bidirectional(L.LSTM(12)), L.Dense(3, activation="softmax")]
        return cb.Job(keras.Sequential(layers), x[:2000], y[:2000], x[2000:], y[2000:], "multiclass", 3,
                      "sparse_categorical_crossentropy", ["accuracy"])
    if fam == "denoise":
        x, y = _denoise(2500, 6803)
        tr, va = cb._split(len(y), 500, 61)
        model = cb2._dense_mlp(keras, 16, "regression", None, p)
        model.pop()
        model.add(L.Dense(16))
        return cb.Job(model, x[tr], y[tr], x[va], y[va], "regression", None, "mse", ["mae"],
                      note="16 outputs: R2 is the uniform average over them")
    if fam == "tregress":
        x, y = _tregress(2500, 6804)
        tr, va = cb._split(len(y), 500, 62)
        xtr, xva = cb._scale(x[tr], x[va])
        if p.get("y_affine"):  # the target in raw units, far from 0 and unit scale
            y = 4000.0 + 40.0 * y
        ytr, yva = y[tr].astype("float32"), y[va].astype("float32")
        m, sd = (float(ytr.mean()), float(ytr.std())) if p.get("scale_y", True) else (0.0, 1.0)
        if p.get("loss_kind") == "student_t":
            layers = [keras.Input((12,))] + [L.Dense(u, activation="relu") for u in p["hidden"]] + [L.Dense(2)]
            return cb.Job(keras.Sequential(layers), xtr, (ytr - m) / sd, xva, (yva - m) / sd, "regression", None,
                          student_t_nll, [], y_mean=m, y_std=sd,
                          note="custom Student-t (df 3) NLL with a learned log scale: negative once the scale is small")
        model = cb2._dense_mlp(keras, 12, "regression", None, p)
        return cb.Job(model, xtr, (ytr - m) / sd, xva, (yva - m) / sd, "regression", None, "mse", ["mae"], y_mean=m, y_std=sd)
    if fam in ("flipcls", "sensors", "sensors_rare", "cls6"):
        n_val = p.get("n_val", 600)
        if fam == "flipcls":
            x, y = datasets.make_classification(n_samples=p.get("n_train", 2400) + n_val, n_features=12, n_informative=6,
                                                n_redundant=2, n_classes=3, flip_y=0.15, class_sep=1.2, random_state=6802)
        elif fam in ("sensors", "sensors_rare"):
            x, y = _sensors(4000, 6805 if fam == "sensors" else 6806, rare=fam == "sensors_rare")
            n_val = 800
        else:
            x, y = datasets.make_classification(n_samples=3000, n_features=16, n_informative=10, n_redundant=2, n_classes=6,
                                                n_clusters_per_class=2, flip_y=0.02, class_sep=1.5, random_state=6808)
        k = int(len(np.unique(y)))
        task = "binary" if k == 2 else "multiclass"
        tr, va = cb._split(len(y), n_val, 63, p.get("n_train"), stratify=y)
        if p.get("raw"):  # the features in their raw units
            xtr, xva = x[tr].astype("float32"), x[va].astype("float32")
        else:
            xtr, xva = cb._scale(x[tr], x[va])
        model = cb2._dense_mlp(keras, x.shape[1], task, k, p)
        loss = cb._default_loss(task, p)
        if p.get("one_sigmoid"):  # one sigmoid unit for k integer classes
            model.pop()
            model.add(L.Dense(1, activation="sigmoid"))
        if p.get("smoothing"):
            loss = smoothed_cce
        return cb.Job(model, xtr, y[tr], xva, y[va], task, k, loss, ["accuracy"])
    raise ValueError(fam)


# ----------------------------------------------------------------------------------------
# Optimizers and schedules the earlier builds lack (Adamax, SGDR, step decay); the rest is corpus_build's
# ----------------------------------------------------------------------------------------

_ORIGINAL_OPTIMIZER = cb._optimizer


def _optimizer(keras, p, steps_per_epoch):
    sched = p.get("schedule")
    if sched not in ("sgdr", "step") and p.get("opt") != "adamax":
        return _ORIGINAL_OPTIMIZER(keras, p, steps_per_epoch)
    lr = p.get("lr", 1e-3)
    if sched == "sgdr":
        lr = keras.optimizers.schedules.CosineDecayRestarts(lr, first_decay_steps=steps_per_epoch * 3, t_mul=2.0, m_mul=0.8,
                                                            alpha=0.01)
    elif sched == "step":  # halve every 6 epochs
        n = p["epochs"] // 6
        lr = keras.optimizers.schedules.PiecewiseConstantDecay([steps_per_epoch * 6 * (i + 1) for i in range(n)],
                                                               [lr / 2 ** i for i in range(n + 1)])
    elif sched == "exp":
        lr = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=steps_per_epoch * 5, decay_rate=0.7)
    if p.get("opt") == "adamax":
        return keras.optimizers.Adamax(learning_rate=lr)
    if p.get("opt") == "sgd":
        return keras.optimizers.SGD(learning_rate=lr, momentum=p.get("momentum", 0.0))
    return keras.optimizers.Adam(learning_rate=lr)


_ORIGINAL_OUTCOME = cb._outcome


def _outcome(job, model):
    """corpus_build's outcome; for a multi-output regression (the denoising fits) R2 is the uniform average over the
    outputs, on the original scale."""
    import numpy as np
    from sklearn.metrics import r2_score

    if not (job.task == "regression" and np.asarray(job.yva).ndim == 2 and np.asarray(job.yva).shape[1] > 1):
        return _ORIGINAL_OUTCOME(job, model)
    pred = np.asarray(model.predict(job.xva, verbose=0, batch_size=1024), dtype="float64")
    finite = bool(np.isfinite(pred).all())
    y = np.asarray(job.yva, "float64") * job.y_std + job.y_mean
    out = {"finite_predictions": finite, "n_val": int(len(job.yva)), "n_train": int(len(job.ytr)),
           "val_r2": float(r2_score(y, pred * job.y_std + job.y_mean)) if finite else None, "main_metric": "val_r2"}
    out["main"] = out["val_r2"]
    ev = model.evaluate(job.xva, job.yva, verbose=0, batch_size=1024, return_dict=True)
    out["final_val_loss"] = float(ev["loss"])
    return out


# ----------------------------------------------------------------------------------------
# One more log writer: pandas to_csv with its index column
# ----------------------------------------------------------------------------------------

_PREVIOUS_RUN_FIT = cb.run_fit  # corpus_build5's (its three writers), itself wrapping corpus_build's


def run_fit(s, verbose: int = 0) -> dict:
    import pandas as pd

    meta = _PREVIOUS_RUN_FIT(s, verbose)
    if s.fmt == "csv_index":  # pd.DataFrame(history.history).to_csv(path): a leading unnamed index column
        pd.DataFrame(meta["history"]).to_csv(cb.LOGS / f"{s.id}.csv")
    return meta


cb.make_job = make_job
cb._optimizer = _optimizer
cb._outcome = _outcome
cb.run_fit = run_fit
cb.SPECS[:] = SPECS  # the imported build/worker/console machinery reads cb.SPECS


if __name__ == "__main__":
    cb.main()

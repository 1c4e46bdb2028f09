"""Build the own half of the fifth held-out corpus (corpus/heldout5/): new seeds, data and variants.

    .venv/bin/python harness/corpus_build5.py build [--only ID ...] [--jobs 1]   # -> corpus/heldout5/logs, build/meta
    .venv/bin/python harness/corpus_build5.py list
    HELDOUT5_OUT=/tmp/h5 .venv/bin/python harness/corpus_build5.py build --jobs 1   # rebuild elsewhere, to compare

Same machinery as ``harness/corpus_build.py`` (imported: its ``Spec``, ``run_fit``, log writers,
process pool and helpers), ``harness/corpus_build2.py`` (its MLP builder),
``harness/corpus_build3.py`` ((n, 1)-label outcome) and ``harness/corpus_build4.py`` (its family
dispatch, conv net with a global-average-pooling head, optimizers and schedules), pointed at
``corpus/heldout5/`` and given its own ``SPECS``: new generators (12x12 "corner" images whose
class is the direction an L-shaped corner opens to; 1-D chirps whose class is rising, falling or
constant frequency; a loan-default table in raw units (incomes in dollars, ages in years); house
prices in dollars; the position along a make_s_curve manifold; "which trigram motif" token
sequences), scikit-learn data with settings no earlier corpus used (make_blobs with 5 overlapping
centres in 10 dimensions; 4-class make_gaussian_quantiles in 6 dimensions; make_circles with 10
distractors; a frozen conv base trained on two thirds of the 8x8 digits and a "digit mod 3" head on
the last third), and three log writers the earlier builds lacked: a Keras 2 era CSVLogger file
(``acc``/``val_acc`` names, keys sorted), a pretty-printed History JSON and a semicolon-separated
pandas table. One custom loss goes negative (Laplace NLL with a learned scale).
Nothing here imports or runs the doctor; labels come from ``corpus/make_labels5.py``.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_build as cb  # noqa: E402
import corpus_build2 as cb2  # noqa: E402  (patches cb for heldout2 on import; re-pointed below)
import corpus_build4 as cb4  # noqa: E402  (patches cb for heldout4 (and 3) on import; re-pointed below)

ROOT = cb.ROOT
# HELDOUT5_OUT: build somewhere else (e.g. to check that a rebuild repeats the frozen logs); default the corpus itself
H5 = Path(os.environ["HELDOUT5_OUT"]).resolve() if os.environ.get("HELDOUT5_OUT") else ROOT / "corpus" / "heldout5"
cb.point_at(H5, __file__)

SPECS: list = []
spec, pair = cb.spec_writers(SPECS, "h5_")


MLP = dict(hidden=[64, 32], act="relu", opt="adam", lr=1e-3, batch=32, epochs=40)
COR = dict(aug=True, bn=False, dropout=0.25, opt="adam", lr=1e-3, epochs=20, batch=32, n_train=1500, n_val=500)
CHI = dict(opt="adam", lr=2e-3, batch=32, epochs=25, n_train=1500, n_val=500)
TINY = {"class_name": "RandomNormal", "config": {"stddev": 1e-3, "seed": 5}}

# --- CNNs: generated 12x12 "corner" images (class = the direction an L-shaped corner opens to) ---
pair("cnn_corners_rmsprop_lr_high", "corners", 5101,
     "conv net (no BN) on 12x12 noisy L-shaped corners (4 directions; translate/rotate aug, dropout 0.25, global average "
     "pooling), RMSprop lr 0.05, 35 epochs", "same, RMSprop lr 1e-3", ["learning_rate_too_high"], "RMSprop lr 0.05 -> 1e-3",
     "keras2_csv", "csvlogger", dict(COR, epochs=35), dict(opt="rmsprop", lr=0.05), dict(opt="rmsprop", lr=1e-3))
spec("h5_cnn_corners_heavy_aug", "corners", "console_v1_pipe", "healthy", 5102,
     "conv net on corners with heavy augmentation (shift 0.15, rotation 0.03, GaussianNoise 0.3) and dropout 0.5, Adam 2e-3, "
     "30 epochs, verbose=1 to a file: the training loss stays above the validation loss",
     **dict(COR, shift=0.15, rot=0.03, noise=0.3, dropout=0.5, bn=True, lr=2e-3, epochs=30))

# --- 1-D chirps (rising / falling / constant frequency): Conv1D, GRU, a dense layer ------------
pair("chirps_gru_few_epochs", "chirps", 5201,
     "GRU(16) on noisy 1-D chirps (3 classes: frequency rising, falling, constant), Adam 2e-3, batch 64, stopped after 6 epochs",
     "same, 45 epochs", ["too_few_epochs"], "epochs 6 -> 45", "json", "csvlogger",
     dict(CHI, model="gru", batch=64), dict(epochs=6), dict(epochs=45))
pair("chirps_dense_linear", "chirps", 5202,
     "one Dense(3, softmax) layer on the flattened chirp signal (a linear model: cannot see a frequency trend at a random phase), "
     "Adam 2e-3, 25 epochs", "Conv1D(16,7)-Conv1D(32,5)-Flatten-Dense(32) on the same signals",
     ["insufficient_capacity"], "Dense on the raw signal -> Conv1D net", "csv_noepoch", "csvlogger_crlf2",
     CHI, dict(model="dense"), dict(model="conv"))
spec("h5_chirps_conv_reduce_lr", "chirps", "console_v2_pipe", "healthy", 5203,
     "Conv1D chirp classifier with dropout 0.3, Nadam 3e-3, ReduceLROnPlateau(verbose=1), 30 epochs, verbose=2 to a file",
     **dict(CHI, model="conv", opt="nadam", lr=3e-3, dropout=0.3, reduce_lr=True, epochs=30))

# --- loan default table (raw units: dollars, years, months, counts) ---------------------------
LOAN = dict(MLP, hidden=[32, 16], epochs=30)
pair("loans_raw_features", "loans", 5301,
     "MLP 32-16 on a loan-default table in raw units (income 15k-400k dollars, loan 1k-60k, age, months, counts), Adam 1e-3, "
     "verbose=1 through a pty", "same with StandardScaler inputs", ["unscaled_features"], "inputs raw -> standardized",
     "console_v1_pty", "json", LOAN, dict(raw=True), dict(raw=False))
pair("loans_adam_lr_low", "loans", 5302,
     "MLP 32-16 on the standardized loan table, Adam lr 1e-5, 30 epochs, verbose=2", "same, Adam lr 1e-3",
     ["learning_rate_too_low"], "Adam lr 1e-5 -> 1e-3", "console_v2_pipe", "csvlogger", LOAN, dict(lr=1e-5), dict(lr=1e-3))
pair("loans_imbalance", "loans_rare", 5303,
     "MLP 32-16 on a loan table where 4% default, no class weights, 30 epochs (balanced accuracy)",
     "same with class_weight balanced", ["class_imbalance"], "class_weight none -> balanced", "csvlogger", "keras2_csv",
     LOAN, dict(class_weight=False), dict(class_weight=True))
spec("h5_loans_small_val", "loans", "csvlogger_crlf2", "healthy", 5304,
     "MLP 32 on the standardized loan table, 40 validation rows (the validation loss wobbles), dropout 0.2, Adam 1e-3, 30 epochs",
     **dict(LOAN, hidden=[32], dropout=0.2, n_val=40))

# --- regression (R2 on the original scale) ------------------------------------------------
pair("houses_raw_target", "houses", 5401,
     "MLP 64-32 on generated house prices (inputs standardized) with the target in dollars (about 60k-1.2M), MSE, Adam 1e-3, "
     "batch 32, 40 epochs", "same with the target standardized (R2 read in dollars)", ["unscaled_target"],
     "target dollars -> standardized", "csvlogger", "csvlogger", MLP, dict(scale_y=False), dict(scale_y=True))
pair("scurve_sigmoid_out", "scurve", 5402,
     "MLP 64-32 on the standardized position along an S-curve (3 coordinates + 4 distractors) with a Dense(1, sigmoid) output "
     "(cannot leave 0..1)", "same with a linear output", ["output_activation_mismatch"], "output sigmoid -> linear",
     "csvlogger_crlf2", "json", dict(MLP, epochs=40), dict(out="sigmoid"), dict(out="linear"))
spec("h5_scurve_piecewise_small_loss", "scurve", "csv_epochlast", "healthy", 5403,
     "MLP 64-32 on the S-curve position, Adam with PiecewiseConstantDecay (3e-3, /3 at epoch 10, /10 at 18), lr logged as "
     "`learning_rate`, 30 epochs: the loss ends small (about 0.01) and noisy", **dict(MLP, lr=3e-3, schedule="piecewise",
                                                                                        log_lr="learning_rate", epochs=30))
spec("h5_scurve_laplace_nll", "scurve", "csv_semicolon", "healthy", 5404,
     "Laplace negative log-likelihood with a learned log scale (custom loss, negative values), MLP 64-32, Adam 1e-3, 30 epochs, "
     "semicolon-separated pandas table", **dict(MLP, epochs=30, loss_kind="laplace"))

# --- tabular classification ---------------------------------------------------------------
pair("circles_overfit", "circles10", 5501,
     "MLP 256-256 on 250 training rows of make_circles (noise 0.15) with 10 distractor features, no regularization, Adam 5e-4, "
     "150 epochs, batch 16", "same, EarlyStopping(patience=4, restore_best_weights=True)",
     ["overfitting"], "added EarlyStopping(val_loss, patience 4, restore best)", "json_pretty", "csv_noepoch",
     dict(MLP, hidden=[256, 256], n_train=250, lr=5e-4, batch=16, epochs=150), {}, dict(early_stop=4))
pair("blobs_tiny_init", "blobs5", 5502,
     "6 Dense(32, relu) layers on 5 overlapping make_blobs centres (10-D) with RandomNormal(stddev=1e-3) kernels "
     "(the signal dies out layer by layer), Adam 1e-3, 10 epochs", "same depth with he_normal kernels",
     ["bad_initialization", "vanishing_gradients"], "init N(0, 1e-3) -> he_normal", "csvlogger", "csvlogger",
     dict(MLP, hidden=[32] * 6, epochs=10), dict(init=TINY), dict(init="he_normal"))
pair("quant_mse_onehot", "quant6", 5503,
     "MLP 64-32 with a 4-unit softmax on gaussian quantiles trained with mse between the softmax and the one-hot labels, "
     "plain SGD lr 0.05, 30 epochs", "same with sparse_categorical_crossentropy", ["loss_mismatch"],
     "loss mse on one-hot -> (sparse) categorical crossentropy", "csvlogger", "csv_noepoch",
     dict(MLP, opt="sgd", lr=0.05, epochs=30), dict(loss="mse_onehot"), dict(loss=None))
spec("h5_blobs_early_flat", "blobs5", "keras2_csv", "healthy", 5504,
     "MLP 16 with L2 1e-2 on overlapping blobs, Adam 1e-2, 60 epochs: converged within a few epochs, then flat; "
     "Keras 2 style CSVLogger (`acc`, `val_acc`)", **dict(MLP, hidden=[16], l2=1e-2, lr=1e-2, epochs=60))
pair("quant_deep_sigmoid", "quant6", 5505,
     "10 Dense(32, sigmoid) layers on 4-class make_gaussian_quantiles (6-D shells), SGD lr 0.05, 20 epochs",
     "same depth with relu and he_normal init", ["vanishing_gradients"], "sigmoid -> relu + he_normal",
     "csv_epochlast", "csv_epochlast", dict(MLP, hidden=[32] * 10, opt="sgd", lr=0.05, epochs=20), dict(act="sigmoid"),
     dict(act="relu", init="he_normal"))
spec("h5_quant_large_val_nadam", "quant6", "csvlogger", "healthy", 5506,
     "MLP 64-32 on gaussian quantiles, 4000 train / 20000 validation rows, Nadam 2e-3 with ExponentialDecay, lr logged as `lr`",
     **dict(MLP, opt="nadam", lr=2e-3, schedule="exp", log_lr="lr", epochs=30, batch=64, n_train=4000, n_val=20000))

# --- token sequences: which trigram motif is planted -------------------------------------------
TOK = dict(opt="adam", lr=2e-3, batch=32, epochs=20)
pair("motif_conv_l1", "tokens_motif5", 5601,
     "Embedding(16)+Conv1D(32,3)+GlobalMaxPool on 'which trigram motif' sequences (4 classes, 2 are the same tokens in reverse "
     "order) with L1 0.02 on the embeddings and every kernel", "same with no L1", ["too_strong_regularization"],
     "L1 0.02 -> none", "json_pretty", "csvlogger", TOK, dict(l1=0.02), dict(l1=None))
spec("h5_motif_early_stop", "tokens_motif5", "json", "healthy", 5602,
     "Embedding(16)+Conv1D(64,3)+GlobalMaxPool motif classifier (5% label noise), Adam 2e-3, up to 60 epochs, "
     "EarlyStopping(val_loss, patience 4, restore_best_weights=True): the log ends 4 epochs past the minimum",
     **dict(TOK, filters=64, epochs=60, early_stop=4))

# --- frozen-base transfer: conv base on two thirds of the digits, "digit mod 3" head on the rest -
spec("h5_transfer_mod3_head", "transfer_mod3", "keras2_csv", "healthy", 5701,
     "frozen conv base (trained on all ten digits of the rows whose index is not a multiple of 3), softmax head 'digit mod 3' on "
     "the other rows, Adam 3e-3, 30 epochs, Keras 2 style CSVLogger (`acc`, `val_acc`)", opt="adam", lr=3e-3, epochs=30, batch=32)


# ----------------------------------------------------------------------------------------
# New data
# ----------------------------------------------------------------------------------------


def _corners(n, seed, size=12):
    """Noisy 12x12 images of one L-shaped corner (two arms of 3-6 pixels at a right angle); the class is the direction
    the corner opens to (down-right, down-left, up-left, up-right); random place and brightness."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cls = rng.integers(0, 4, n)
    arms = [(1, 1), (1, -1), (-1, -1), (-1, 1)]  # (vertical, horizontal) direction of the two arms
    x = np.zeros((n, size, size), "float32")
    for i in range(n):
        dy, dx = arms[cls[i]]
        a, b = rng.integers(3, 7, 2)
        ys = np.concatenate([np.arange(a + 1) * dy, np.zeros(b, int)])
        xs = np.concatenate([np.zeros(a + 1, int), np.arange(1, b + 1) * dx])
        y0 = rng.integers(-ys.min(), size - ys.max())
        x0 = rng.integers(-xs.min(), size - xs.max())
        x[i, y0 + ys, x0 + xs] = rng.uniform(0.8, 1.2)
    x = x + rng.normal(0, 0.35, x.shape)
    return x[..., None].astype("float32"), cls


def _chirps(n, seed, length=48):
    """Noisy 1-D chirps: the frequency rises, falls or stays constant over the window (the class); random start frequency,
    phase, amplitude and offset."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(length)
    cls = rng.integers(0, 3, n)
    f0 = rng.uniform(0.06, 0.14, n)
    df = np.array([0.12, -0.12, 0.0])[cls] * rng.uniform(0.7, 1.3, n)
    start = np.where(cls == 1, f0 + np.abs(df) / 2 + 0.03, np.where(cls == 0, f0 - 0.03, f0))
    freq = np.clip(start[:, None] + df[:, None] * t[None] / length, 0.02, 0.45)
    phase = 2 * np.pi * np.cumsum(freq, axis=1) + rng.uniform(0, 2 * np.pi, n)[:, None]
    x = rng.uniform(0.7, 1.3, n)[:, None] * np.sin(phase) + rng.uniform(-0.3, 0.3, n)[:, None]
    x = x + rng.normal(0, 0.3, x.shape)
    return x[..., None].astype("float32"), cls


def _loans(n, seed, rare=False):
    """A loan-default table in raw units: income (dollars), loan amount (dollars), age (years), credit history (months),
    late payments (count), debt ratio, open accounts, plus 3 irrelevant columns; default drawn from a logistic model
    (about 30% default, or 4% with ``rare``)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    income = np.exp(rng.normal(11.0, 0.55, n)).clip(15000, 400000)
    loan = np.exp(rng.normal(9.4, 0.7, n)).clip(1000, 60000)
    age = rng.uniform(21, 75, n).round()
    history = (rng.uniform(0, 1, n) * (age - 18) * 12).round()
    late = rng.poisson(0.8, n)
    debt = rng.beta(2, 4, n)
    accounts = rng.poisson(4, n)
    z = (4.0 * loan / income + 0.9 * late + 3.0 * debt - 0.006 * history - 0.15 * np.abs(accounts - 4)
         + 1.5 * (late >= 3) * (debt > 0.4))
    z = z - np.quantile(z, 0.96 if rare else 0.70)
    y = (rng.random(n) < 1 / (1 + np.exp(-2.2 * z))).astype(int)
    x = np.column_stack([income, loan, age, history, late, debt, accounts,
                         rng.uniform(0, 99999, n).round(), rng.integers(1, 13, n), rng.normal(650, 80, n).round()])
    return x, y


def _houses(n, seed):
    """House prices in dollars: area (m2), rooms, age (years), distance to the centre (km), floor, garden (0/1), plus 2
    irrelevant columns; price = a nonlinear function of them times log-normal noise (about 8%)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    area = rng.uniform(35, 260, n)
    rooms = np.clip((area / 30 + rng.normal(0, 1, n)).round(), 1, 8)
    age = rng.uniform(0, 110, n)
    dist = rng.gamma(2.0, 5.0, n)
    floor = rng.integers(0, 20, n)
    garden = (rng.random(n) < 0.3).astype(float)
    price = (3200 * area * np.exp(-dist / 18) * (1 - 0.25 * np.tanh((age - 40) / 25)) + 9000 * rooms + 40000 * garden
             + 1500 * np.minimum(floor, 8)) * np.exp(rng.normal(0, 0.08, n))
    x = np.column_stack([area, rooms, age, dist, floor, garden, rng.normal(0, 1, n), rng.uniform(0, 1, n)])
    return x, price


def _scurve(n, seed):
    """The position t along make_s_curve (noise 0.05) from the 3 coordinates, plus 4 distractor inputs."""
    import numpy as np
    from sklearn import datasets

    x, t = datasets.make_s_curve(n_samples=n, noise=0.05, random_state=seed)
    rng = np.random.default_rng(seed)
    return np.column_stack([x, rng.normal(0, 1, (n, 4))]), t


def _circles10(n, seed):
    """make_circles (noise 0.15, factor 0.55) plus 10 gaussian distractor inputs."""
    import numpy as np
    from sklearn import datasets

    x, y = datasets.make_circles(n_samples=n, noise=0.15, factor=0.55, random_state=seed)
    rng = np.random.default_rng(seed)
    return np.column_stack([x, rng.normal(0, 1, (n, 10))]), y


def _tokens_motif5(n, seed, length=36, vocab=40, noise=0.0):
    """Random tokens 2..39 with one planted trigram: (5, 9, 13) -> class 0, (13, 9, 5) -> class 1 (the same tokens in
    reverse: invisible to a bag of tokens), (7, 7, 21) -> class 2, none -> class 3; accidental motifs removed; ``noise``
    of the labels replaced at random."""
    import numpy as np

    rng = np.random.default_rng(seed)
    motifs = [(5, 9, 13), (13, 9, 5), (7, 7, 21)]
    x = rng.integers(2, vocab, (n, length))
    y = rng.integers(0, 4, n)
    for i in range(n):
        for j in range(length - 2):  # break accidental motifs
            if tuple(x[i, j: j + 3]) in motifs:
                x[i, j + 1] = 30
        if y[i] < 3:
            j = rng.integers(0, length - 2)
            x[i, j: j + 3] = motifs[y[i]]
    if noise:
        flip = rng.random(n) < noise
        y = np.where(flip, rng.integers(0, 4, n), y)
    return x, y


def laplace_nll(y_true, y_pred):
    """Laplace negative log-likelihood with a learned log scale (no log 2 constant): negative once the scale is small."""
    import keras.ops as ops

    mu, log_b = y_pred[:, :1], y_pred[:, 1:]
    y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 1))
    return ops.mean(log_b + ops.abs(y_true - mu) / ops.exp(log_b), axis=-1)


def mse_onehot(y_true, y_pred):
    """The mean squared error between the softmax output and the one-hot labels (a user's ``loss='mse'`` with
    ``to_categorical`` labels; the labels stay integers here so the outcome reads them as the other fits do)."""
    import keras.ops as ops

    k = y_pred.shape[-1]
    y_true = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), k)
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def make_job(s):
    import keras
    import numpy as np
    from sklearn import datasets

    p, fam, seed = s.params, s.family, s.seed
    L = keras.layers
    if fam == "corners":
        x, y = _corners(2000, 5801)
        # the same 2000 images for every corner fit: validation = the last n_val, training = the first n_train
        xva, yva = x[-p["n_val"]:], y[-p["n_val"]:]
        xtr, ytr = x[: p["n_train"]], y[: p["n_train"]]
        model = cb4._cnn4(keras, (12, 12, 1), cb._head(keras, "multiclass", 4, p), p)
        if p.get("noise"):  # GaussianNoise right after the input (active in training only)
            model = keras.Sequential([keras.Input((12, 12, 1)), L.GaussianNoise(p["noise"])] + model.layers)
        return cb.Job(model, xtr, ytr, xva, yva, "multiclass", 4, cb._default_loss("multiclass", p), ["accuracy"])
    if fam == "chirps":
        x, y = _chirps(2000, 5802)
        xva, yva = x[-p["n_val"]:], y[-p["n_val"]:]
        xtr, ytr = x[: p["n_train"]], y[: p["n_train"]]
        m = p.get("model", "conv")
        if m == "gru":
            layers = [keras.Input((48, 1)), L.GRU(16)]
        elif m == "dense":
            layers = [keras.Input((48, 1)), L.Flatten()]
        else:
            layers = [keras.Input((48, 1)), L.Conv1D(16, 7, activation="relu"), L.MaxPooling1D(2),
                      L.Conv1D(32, 5, activation="relu"), L.MaxPooling1D(2), L.Flatten(), L.Dense(32, activation="relu")]
        if p.get("dropout"):
            layers.append(L.Dropout(p["dropout"]))
        layers.append(L.Dense(3, activation="softmax"))
        return cb.Job(keras.Sequential(layers), xtr, ytr, xva, yva, "multiclass", 3, "sparse_categorical_crossentropy",
                      ["accuracy"])
    if fam in ("houses", "scurve"):
        x, y = _houses(2500, 5803) if fam == "houses" else _scurve(2500, 5804)
        tr, va = cb._split(len(y), p.get("n_val", 500), 51, p.get("n_train"))
        xtr, xva = cb._scale(x[tr], x[va])
        ytr, yva = y[tr].astype("float32"), y[va].astype("float32")
        m, sd = (float(ytr.mean()), float(ytr.std())) if p.get("scale_y", True) else (0.0, 1.0)
        if p.get("loss_kind") == "laplace":
            layers = [keras.Input((x.shape[1],))] + [L.Dense(u, activation="relu") for u in p["hidden"]] + [L.Dense(2)]
            return cb.Job(keras.Sequential(layers), xtr, (ytr - m) / sd, xva, (yva - m) / sd, "regression", None, laplace_nll,
                          [], y_mean=m, y_std=sd,
                          note="custom Laplace NLL loss (no log 2 constant): negative once the predicted scale is small")
        model = cb2._dense_mlp(keras, x.shape[1], "regression", None, p)
        return cb.Job(model, xtr, (ytr - m) / sd, xva, (yva - m) / sd, "regression", None, cb._default_loss("regression", p),
                      ["mae"], y_mean=m, y_std=sd)
    if fam in ("loans", "loans_rare", "circles10", "blobs5", "quant6"):
        n_val = p.get("n_val", 0.2)
        if fam in ("loans", "loans_rare"):
            x, y = _loans(4000, 5805 if fam == "loans" else 5806, rare=fam == "loans_rare")
            n_val = p.get("n_val", 800)
        elif fam == "circles10":
            x, y = _circles10(2000, 5001)
            n_val = 600
        elif fam == "blobs5":
            x, y = datasets.make_blobs(n_samples=3000, centers=5, n_features=10, cluster_std=4.5, random_state=5002)
        else:
            n_val = p.get("n_val", 600)
            x, y = datasets.make_gaussian_quantiles(n_samples=p.get("n_train", 2400) + n_val, n_features=6, n_classes=4,
                                                    random_state=5003)
        k = int(len(np.unique(y)))
        task = "binary" if k == 2 else "multiclass"
        tr, va = cb._split(len(y), n_val, 52, p.get("n_train"), stratify=y)
        if p.get("raw"):  # the features in their raw units
            xtr, xva = x[tr].astype("float32"), x[va].astype("float32")
        else:
            xtr, xva = cb._scale(x[tr], x[va])
        model = cb2._dense_mlp(keras, x.shape[1], task, k, p)
        loss = mse_onehot if p.get("loss") == "mse_onehot" else cb._default_loss(task, p)
        return cb.Job(model, xtr, y[tr], xva, y[va], task, k, loss, ["accuracy"])
    if fam == "tokens_motif5":
        x, y = _tokens_motif5(3000, 5807, noise=0.05 if p.get("early_stop") else 0.0)
        reg = keras.regularizers.l1(p["l1"]) if p.get("l1") else None
        layers = [keras.Input((36,)), L.Embedding(40, 16, embeddings_regularizer=reg),
                  L.Conv1D(p.get("filters", 32), 3, activation="relu", kernel_regularizer=reg), L.GlobalMaxPooling1D(),
                  L.Dense(4, activation="softmax", kernel_regularizer=reg)]
        return cb.Job(keras.Sequential(layers), x[:2400], y[:2400], x[2400:], y[2400:], "multiclass", 4,
                      "sparse_categorical_crossentropy", ["accuracy"])
    if fam == "transfer_mod3":
        d = datasets.load_digits()
        x, y = (d.images[..., None] / 16.0).astype("float32"), d.target
        src = np.arange(len(y)) % 3 != 0
        base = cb._train_base(keras, "digits_rows_not_mod3", x[src], y[src], 10, 5901)
        xt, yt = x[~src], y[~src] % 3
        tr, va = cb._split(len(yt), 0.3, 53, stratify=yt)
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((8, 8, 1)), base, L.Dense(3, activation="softmax")])
        return cb.Job(model, xt[tr], yt[tr], xt[va], yt[va], "multiclass", 3, "sparse_categorical_crossentropy", ["accuracy"],
                      note="base trained 12 epochs on all ten digits of the rows whose index is not a multiple of 3 "
                           "(seed 5901), frozen; head on the other rows, label = digit mod 3")
    return cb4.make_job(s)


# ----------------------------------------------------------------------------------------
# Three more log writers (the fit itself runs in corpus_build.run_fit, which writes nothing for these formats)
# ----------------------------------------------------------------------------------------

NEW_FORMATS = ("keras2_csv", "json_pretty", "csv_semicolon")
KERAS2_NAMES = {"accuracy": "acc", "val_accuracy": "val_acc"}
_ORIGINAL_RUN_FIT = cb.run_fit
_ORIGINAL_EXT = cb.ext


def ext(fmt: str) -> str:
    return "json" if fmt == "json_pretty" else _ORIGINAL_EXT(fmt)


def write_log(path: Path, fmt: str, h: dict) -> None:
    """keras2_csv: what Keras 2.x's CSVLogger wrote (TF 1 era): an ``epoch`` column (0-based) then the keys sorted, with
    ``acc``/``val_acc`` (and ``lr``) names, csv's \\r\\n line ends; json_pretty: ``json.dump(history.history, f, indent=4)``;
    csv_semicolon: ``pd.DataFrame(history.history).to_csv(path, sep=";", index=False)``."""
    import pandas as pd

    if fmt == "keras2_csv":
        h2 = {KERAS2_NAMES.get(k, "lr" if k == "learning_rate" else k): v for k, v in h.items()}
        keys = sorted(h2)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["epoch"] + keys)
            for e in range(len(h2["loss"])):
                w.writerow([e] + [repr(h2[k][e]) for k in keys])
    elif fmt == "json_pretty":
        with open(path, "w") as f:
            json.dump(h, f, indent=4)
    elif fmt == "csv_semicolon":
        pd.DataFrame(h).to_csv(path, sep=";", index=False)


def run_fit(s, verbose: int = 0) -> dict:
    meta = _ORIGINAL_RUN_FIT(s, verbose)
    if s.fmt in NEW_FORMATS:
        write_log(cb.LOGS / f"{s.id}.{ext(s.fmt)}", s.fmt, meta["history"])
    return meta


cb.make_job = make_job
cb.run_fit = run_fit
cb.ext = ext
cb.SPECS[:] = SPECS  # the imported build/worker/console machinery reads cb.SPECS


if __name__ == "__main__":
    cb.main()

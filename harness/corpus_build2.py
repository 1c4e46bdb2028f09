"""Build the own half of the second held-out corpus (corpus/heldout2/): new seeds, data and variants.

    .venv/bin/python harness/corpus_build2.py build [--only ID ...] [--jobs 1]   # -> corpus/heldout2/logs, build/meta
    .venv/bin/python harness/corpus_build2.py list
    HELDOUT2_OUT=/tmp/h2 .venv/bin/python harness/corpus_build2.py build --jobs 1   # rebuild elsewhere, to compare

Same machinery as ``harness/corpus_build.py`` (imported: its ``Spec``, ``run_fit``, log writers,
process pool and helpers), pointed at ``corpus/heldout2/`` and given its own ``SPECS``: new
generators (oriented-stripe images, waveform sequences, "vote" token sequences), scikit-learn
data the first corpus did not use (make_circles, make_blobs, make_friedman2/3, a 4-class
make_classification) and new seeds/optimizers on families it did use (digits CNN, wine, flat
digits, docstring text, a frozen base trained on digits 5-9). Nothing here imports or runs
the doctor; labels come from ``corpus/make_labels2.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_build as cb  # noqa: E402

ROOT = cb.ROOT
# HELDOUT2_OUT: build somewhere else (e.g. to check that a rebuild repeats the frozen logs); default the corpus itself
H2 = Path(os.environ["HELDOUT2_OUT"]).resolve() if os.environ.get("HELDOUT2_OUT") else ROOT / "corpus" / "heldout2"
cb.point_at(H2, __file__)

SPECS: list = []
spec, pair = cb.spec_writers(SPECS, "h2_")


MLP = dict(hidden=[64, 32], act="relu", opt="adam", lr=1e-3, batch=32, epochs=40)
STR = dict(aug=True, bn=True, dropout=0.25, opt="adam", lr=1e-3, epochs=20, batch=32, n_train=1200, n_val=400)

# --- CNNs: generated oriented stripes (12x12, 4 orientations), 8x8 digits ----------------
pair("cnn_stripes_lr_high", "stripes", 1101,
     "conv net on 12x12 noisy oriented stripes (translate/rotate aug, BN, dropout), Adam at lr 0.5", "same, Adam lr 1e-3",
     ["learning_rate_too_high"], "lr 0.5 -> 1e-3", "csvlogger", "csvlogger", STR, dict(lr=0.5), dict(lr=1e-3))
spec("h2_cnn_stripes_reduce_lr", "stripes", "console_v2_pipe", "healthy", 1102,
     "conv net on oriented stripes (aug, BN, dropout 0.25), Adam 2e-3, ReduceLROnPlateau(verbose=1), verbose=2 to a file",
     **dict(STR, lr=2e-3, reduce_lr=True, epochs=20))
pair("cnn_digits_rmsprop_lr_low", "cnn_digits", 1103,
     "conv net on digits (aug, BN, dropout), RMSprop at lr 1e-6, 30 epochs", "same, RMSprop lr 1e-3",
     ["learning_rate_too_low"], "RMSprop lr 1e-6 -> 1e-3", "json", "csv_epochlast",
     dict(aug=True, bn=True, dropout=0.3, opt="rmsprop", epochs=30, batch=64), dict(lr=1e-6), dict(lr=1e-3))

# --- frozen-base transfer: conv base trained on digits 5-9, head on digits 0-4 ------------
pair("transfer59_head_lr_low", "transfer_digits59", 1201,
     "frozen conv base (trained on digits 5-9), softmax head on digits 0-4, Adam lr 1e-6", "same head, Adam lr 3e-3",
     ["learning_rate_too_low"], "Adam lr 1e-6 -> 3e-3", "json", "json", dict(opt="adam", epochs=40, batch=32),
     dict(lr=1e-6), dict(lr=3e-3))
spec("h2_transfer59_head_sgd", "transfer_digits59", "csv_noepoch", "healthy", 1202,
     "frozen conv base (digits 5-9), head on digits 0-4 with SGD lr 0.02 momentum 0.9, batch 16, pandas table",
     opt="sgd", lr=0.02, momentum=0.9, epochs=30, batch=16)

# --- regression ---------------------------------------------------------------------------
pair("friedman2_raw_target", "friedman2", 1301,
     "MLP 64-32 on friedman2 (inputs standardized) with the target in raw units (y*10+20000, about 20k-37k), MSE, Adam 1e-3",
     "same with the target standardized (R2 read on the original scale)", ["unscaled_target", "learning_rate_too_low"],
     "target raw -> standardized", "csvlogger_crlf2", "csvlogger_crlf2", dict(MLP, epochs=40, y_affine=True), dict(scale_y=False), dict(scale_y=True))
pair("friedman3_overfit", "friedman3", 1302,
     "MLP 256-256 on 60 friedman3 training rows (noise 0.3), 300 epochs, batch 16", "same, EarlyStopping(patience=5, restore)",
     ["overfitting"], "added EarlyStopping(val_loss, patience 5, restore best)", "csv_noepoch", "csv_noepoch",
     dict(MLP, hidden=[256, 256], n_train=60, batch=16, epochs=300, noise=0.3), {}, dict(early_stop=5))
pair("regression_relu_out", "make_regression2", 1303,
     "MLP 64-32 on a standardized make_regression target with a ReLU output (cannot go below 0)", "same, linear output",
     ["output_activation_mismatch"], "output relu -> linear", "csvlogger", "csvlogger", dict(MLP, epochs=30),
     dict(out="relu"), dict(out="linear"))

# --- tabular classification ---------------------------------------------------------------
pair("digits_flat_overfit", "digits_flat2", 1401,
     "MLP 512-512 on 100 flat-digit training rows, Adam 3e-3, 300 epochs, batch 16", "same, EarlyStopping(patience=3, restore)",
     ["overfitting"], "added EarlyStopping(val_loss, patience 3, restore best)", "console_v2_pipe", "csvlogger",
     dict(MLP, hidden=[512, 512], n_train=100, batch=16, epochs=300, lr=3e-3), {}, dict(early_stop=3))
pair("circles_l2_strong", "circles", 1402,
     "MLP 32-32 on make_circles with L2 0.3 on every kernel", "same with L2 1e-4",
     ["too_strong_regularization"], "L2 0.3 -> 1e-4", "csvlogger", "json", dict(MLP, hidden=[32, 32], epochs=30, lr=3e-3),
     dict(l2=0.3), dict(l2=1e-4))
pair("circles_logistic", "circles", 1403,
     "a single sigmoid unit (logistic regression) on make_circles", "same with two hidden layers 32-32 relu",
     ["insufficient_capacity"], "no hidden layer -> 32-32", "json", "json", dict(MLP, epochs=20, lr=3e-3),
     dict(hidden=[]), dict(hidden=[32, 32]))
pair("cls4_dead_bias", "cls4", 1404,
     "MLP 64-32 relu on 4-class make_classification with every hidden bias initialised to -10 (dead units)",
     "same with zero biases", ["dead_relu", "bad_initialization"], "bias init -10 -> 0", "csv_epochlast", "csv_epochlast",
     dict(MLP, epochs=25), dict(bias=-10.0), dict(bias=0.0))
pair("wine_adam_lr_high", "wine", 1405,
     "MLP 64-32 on standardized wine, Adam lr 3.0, 36 validation rows, verbose=2", "same, Adam lr 3e-3",
     ["learning_rate_too_high"], "lr 3.0 -> 3e-3", "console_v2_pipe", "console_v1_pipe",
     dict(MLP, epochs=40, n_val=36), dict(lr=3.0), dict(lr=3e-3))
spec("h2_wine_small_val", "wine", "csvlogger_crlf2", "healthy", 1406,
     "MLP 32 on standardized wine, 30 validation rows, Adam 3e-3, dropout 0.2", **dict(MLP, hidden=[32], dropout=0.2,
                                                                                       lr=3e-3, epochs=40, n_val=30))
spec("h2_blobs_large_val_cosine", "blobs", "csvlogger", "healthy", 1407,
     "MLP 64-32 on 6 overlapping make_blobs clusters, 2000 train / 20000 validation rows, CosineDecay, lr logged as `learning_rate`",
     **dict(MLP, lr=3e-3, schedule="cosine", log_lr="learning_rate", epochs=20, batch=64))

pair("blobs_unscaled_sgd", "blobs_small", 1408,
     "MLP 64-32 on make_blobs with raw features x*1000 (unscaled), SGD lr 0.01", "same with StandardScaler inputs",
     ["unscaled_features", "learning_rate_too_high", "exploding_gradients"], "inputs x*1000 -> standardized", "csv_noepoch",
     "csv_noepoch", dict(MLP, opt="sgd", lr=0.01, epochs=20), dict(raw_scale=1000.0), dict(raw_scale=None))
pair("cls4_deep_sigmoid", "cls4", 1409,
     "15 Dense(16, sigmoid) layers on 4-class make_classification, SGD lr 0.05", "same depth with relu and he_normal init",
     ["vanishing_gradients"], "sigmoid -> relu + he_normal", "json", "json",
     dict(MLP, hidden=[16] * 15, opt="sgd", lr=0.05, epochs=25), dict(act="sigmoid"), dict(act="relu", init="he_normal"))
pair("imbalance_95_5", "imb", 1410,
     "MLP 32 on a 95:5 make_classification (class_sep 0.5), no class weights, 15 epochs (balanced accuracy)",
     "same with class_weight balanced", ["class_imbalance"], "class_weight none -> balanced", "csvlogger", "csvlogger",
     dict(MLP, hidden=[32], epochs=15), dict(class_weight=False), dict(class_weight=True))
pair("circles_full_batch", "circles", 1411,
     "MLP 32-32 on make_circles, full batch (1600 rows = 1 update per epoch), Adam 1e-3, 30 epochs", "same, batch 32",
     ["too_few_updates", "learning_rate_too_low", "too_few_epochs"], "batch 1600 -> 32", "csvlogger_crlf2", "csvlogger_crlf2",
     dict(MLP, hidden=[32, 32], epochs=30), dict(batch=1600), dict(batch=32))

# --- sequences and tokens -----------------------------------------------------------------
SEQ = dict(opt="adam", lr=3e-3, batch=32, n_train=1200, n_val=300)
pair("waves_gru_few_epochs", "waves", 1501,
     "GRU(24) classifying a noisy waveform (sine/square/sawtooth/triangle), stopped after 5 epochs", "same, 40 epochs",
     ["too_few_epochs"], "epochs 5 -> 40", "csvlogger", "csvlogger", dict(SEQ, rnn="gru", lr=2e-3), dict(epochs=5), dict(epochs=40))
spec("h2_waves_lstm", "waves", "console_v1_pty", "healthy", 1502,
     "LSTM(24) waveform classifier, Adam 3e-3, 40 epochs, verbose=1 through a pty", **dict(SEQ, rnn="lstm", epochs=40))
pair("tokens_vote_sgd", "tokens_vote", 1601,
     "Embedding+GlobalAveragePooling: more 'positive' than 'negative' tokens, plain SGD lr 1e-3 (no momentum)",
     "same with Adam lr 1e-3", ["optimizer_choice", "learning_rate_too_low"], "SGD 1e-3 -> Adam 1e-3",
     "csvlogger_crlf2", "csv_noepoch", dict(lr=1e-3, epochs=20, batch=32), dict(opt="sgd"), dict(opt="adam"))
spec("h2_text_doc_gap_expdecay", "text_doc", "json", "healthy", 1602,
     "Embedding(48)+GAP on stdlib docstring sentences, dropout 0.5, Adam 3e-3 with ExponentialDecay",
     model="gap", emb=48, opt="adam", lr=3e-3, schedule="exp", epochs=15, batch=64, dropout=0.5)


# ----------------------------------------------------------------------------------------
# New data
# ----------------------------------------------------------------------------------------


def _stripes(n, seed, size=12):
    """Noisy sinusoidal stripes at 0/45/90/135 degrees (+-10), random frequency and phase."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    cls = rng.integers(0, 4, n)
    th = np.deg2rad(np.array([0, 45, 90, 135])[cls] + rng.uniform(-10, 10, n))
    freq, phase = rng.uniform(0.12, 0.3, n), rng.uniform(0, 2 * np.pi, n)
    proj = xx[None] * np.cos(th)[:, None, None] + yy[None] * np.sin(th)[:, None, None]
    img = np.sin(2 * np.pi * freq[:, None, None] * proj + phase[:, None, None]) + rng.normal(0, 0.9, (n, size, size))
    return img[..., None].astype("float32"), cls


def _waves(n, seed, length=40):
    """Noisy sine / square / sawtooth / triangle waves, random frequency, phase and amplitude."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cls = rng.integers(0, 4, n)
    t = np.arange(length)[None]
    ph = (rng.uniform(0.04, 0.1, n)[:, None] * t + rng.uniform(0, 1, n)[:, None]) % 1.0
    sine, square = np.sin(2 * np.pi * ph), np.where(ph < 0.5, 1.0, -1.0)
    saw, tri = 2 * ph - 1, 1 - 4 * np.abs(ph - 0.5)
    x = np.choose(cls[:, None], [sine, square, saw, tri]) * rng.uniform(0.7, 1.3, n)[:, None]
    x = x + rng.normal(0, 0.3, x.shape)
    return x[..., None].astype("float32"), cls


def _tokens_vote(n, seed, length=30, vocab=50):
    """y = more tokens from 2..11 ('positive') than from 12..21 ('negative'); ties dropped."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(2, vocab, (n * 2, length))
    pos, neg = ((x >= 2) & (x < 12)).sum(1), ((x >= 12) & (x < 22)).sum(1)
    keep = pos != neg
    return x[keep][:n], (pos > neg)[keep][:n].astype(int)


def _dense_mlp(keras, n_in, task, k, p):
    L = keras.layers
    bias = keras.initializers.Constant(p.get("bias", 0.0))
    layers = [keras.Input((n_in,))]
    for units in p.get("hidden", [64, 32]):
        layers.append(L.Dense(units, activation=p.get("act", "relu"), kernel_initializer=p.get("init", "glorot_uniform"),
                              bias_initializer=bias, kernel_regularizer=cb._reg(keras, p)))
        if p.get("dropout"):
            layers.append(L.Dropout(p["dropout"]))
    layers.append(cb._head(keras, task, k, p))
    return keras.Sequential(layers)


_ORIGINAL_MAKE_JOB = cb.make_job


def make_job(s):
    import keras
    import numpy as np
    from sklearn import datasets

    p, fam, seed = s.params, s.family, s.seed
    if fam == "stripes":
        x, y = _stripes(p["n_train"] + p["n_val"], 41)
        a = p["n_train"]
        model = cb._cnn(keras, (12, 12, 1), cb._head(keras, "multiclass", 4, p), p, flip=False)
        return cb.Job(model, x[:a], y[:a], x[a:], y[a:], "multiclass", 4, "sparse_categorical_crossentropy", ["accuracy"])
    if fam == "transfer_digits59":
        d = datasets.load_digits()
        x, y = (d.images[..., None] / 16.0).astype("float32"), d.target
        src = y >= 5
        base = cb._train_base(keras, "digits59", x[src], y[src] - 5, 5, 3101)
        xt, yt = x[~src], y[~src]
        tr, va = cb._split(len(yt), 0.3, 1, stratify=yt)
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((8, 8, 1)), base, keras.layers.Dense(5, activation="softmax")])
        return cb.Job(model, xt[tr], yt[tr], xt[va], yt[va], "multiclass", 5, "sparse_categorical_crossentropy", ["accuracy"],
                      note="base trained 12 epochs on digits 5-9 (seed 3101), frozen")
    if fam in ("friedman2", "friedman3", "make_regression2"):
        if fam == "friedman2":
            x, y = datasets.make_friedman2(n_samples=2500, noise=20.0, random_state=17)
        elif fam == "friedman3":
            x, y = datasets.make_friedman3(n_samples=2500, noise=p.get("noise", 0.05), random_state=18)
        else:
            x, y = datasets.make_regression(n_samples=2000, n_features=12, n_informative=8, noise=10.0, random_state=19)
        tr, va = cb._split(len(y), 500, 2, p.get("n_train"))
        xtr, xva = cb._scale(x[tr], x[va])
        if p.get("y_affine"):  # the target in raw units, far from 0 and unit scale
            y = y * 10.0 + 20000.0
        ytr, yva = y[tr].astype("float32"), y[va].astype("float32")
        m, sd = (float(ytr.mean()), float(ytr.std())) if p.get("scale_y", True) else (0.0, 1.0)
        model = _dense_mlp(keras, x.shape[1], "regression", None, p)
        return cb.Job(model, xtr, (ytr - m) / sd, xva, (yva - m) / sd, "regression", None, "mse", ["mae"], y_mean=m, y_std=sd)
    if fam in ("circles", "cls4", "blobs", "blobs_small", "imb", "digits_flat2", "wine"):
        n_val = p.get("n_val", 0.2)
        if fam == "circles":
            x, y = datasets.make_circles(n_samples=2000, noise=0.12, factor=0.5, random_state=13)
        elif fam == "cls4":
            x, y = datasets.make_classification(n_samples=3000, n_features=16, n_informative=8, n_classes=4, random_state=15)
        elif fam == "blobs":
            x, y = datasets.make_blobs(n_samples=22000, centers=6, n_features=8, cluster_std=4.0, random_state=14)
            n_val = 20000
        elif fam == "blobs_small":
            x, y = datasets.make_blobs(n_samples=2000, centers=4, n_features=6, cluster_std=3.0, random_state=20)
        elif fam == "imb":
            x, y = datasets.make_classification(n_samples=4000, n_features=10, n_informative=4, weights=[0.95],
                                                class_sep=0.5, flip_y=0, random_state=16)
        elif fam == "wine":
            x, y = datasets.load_wine(return_X_y=True)
        else:
            d = datasets.load_digits()
            x, y = d.data, d.target
        k = int(len(np.unique(y)))
        task = "binary" if k == 2 else "multiclass"
        tr, va = cb._split(len(y), n_val, 3, p.get("n_train"), stratify=y)
        if p.get("raw_scale"):  # the features in raw units, far from unit scale
            xtr, xva = (x[tr] * p["raw_scale"]).astype("float32"), (x[va] * p["raw_scale"]).astype("float32")
        else:
            xtr, xva = cb._scale(x[tr], x[va])
        model = _dense_mlp(keras, x.shape[1], task, k, p)
        return cb.Job(model, xtr, y[tr], xva, y[va], task, k, cb._default_loss(task, p), ["accuracy"])
    if fam == "waves":
        x, y = _waves(p["n_train"] + p["n_val"], 51)
        a, L = p["n_train"], keras.layers
        core = L.GRU(24) if p.get("rnn") == "gru" else L.LSTM(24)
        model = keras.Sequential([keras.Input((40, 1)), core, L.Dense(4, activation="softmax")])
        return cb.Job(model, x[:a], y[:a], x[a:], y[a:], "multiclass", 4, "sparse_categorical_crossentropy", ["accuracy"])
    if fam == "tokens_vote":
        x, y = _tokens_vote(3000, 61)
        L = keras.layers
        model = keras.Sequential([keras.Input((30,)), L.Embedding(50, 16), L.GlobalAveragePooling1D(),
                                  L.Dense(16, activation="relu"), L.Dense(1, activation="sigmoid")])
        return cb.Job(model, x[:2400], y[:2400], x[2400:], y[2400:], "binary", 2, "binary_crossentropy", ["accuracy"])
    return _ORIGINAL_MAKE_JOB(s)  # cnn_digits, text_doc: the first corpus's families, new seeds and settings


cb.make_job = make_job
cb.SPECS[:] = SPECS  # the imported build/worker/console machinery reads cb.SPECS


if __name__ == "__main__":
    cb.main()

"""Build the own half of the third held-out corpus (corpus/heldout3/): new seeds, data and variants.

    .venv/bin/python harness/corpus_build3.py build [--only ID ...] [--jobs 1]   # -> corpus/heldout3/logs, build/meta
    .venv/bin/python harness/corpus_build3.py list
    HELDOUT3_OUT=/tmp/h3 .venv/bin/python harness/corpus_build3.py build --jobs 1   # rebuild elsewhere, to compare

Same machinery as ``harness/corpus_build.py`` (imported: its ``Spec``, ``run_fit``, log writers,
process pool and helpers) and ``harness/corpus_build2.py`` (imported: its MLP builder and its
families, which stay reachable), pointed at ``corpus/heldout3/`` and given its own ``SPECS``:
new generators (14x14 "glyph" images: ring, X, plus, disk, hollow square; mechanical-energy
regression in joules; 2-D XOR with distractor features; "topic" token sequences; "which marker
token comes first" sequences), scikit-learn data the earlier corpora did not use
(make_gaussian_quantiles, make_hastie_10_2, make_friedman1 with a new generator seed) or used
with other splits, seeds and settings (diabetes, breast cancer, flat digits, iris, 8x8 digits
CNN, a frozen conv base trained on the odd digits and a head on the even ones, docstring text).
Nothing here imports or runs the doctor; labels come from ``corpus/make_labels3.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_build as cb  # noqa: E402
import corpus_build2 as cb2  # noqa: E402  (patches cb for heldout2 on import; re-pointed below)

ROOT = cb.ROOT
# HELDOUT3_OUT: build somewhere else (e.g. to check that a rebuild repeats the frozen logs); default the corpus itself
H3 = Path(os.environ["HELDOUT3_OUT"]).resolve() if os.environ.get("HELDOUT3_OUT") else ROOT / "corpus" / "heldout3"
cb.point_at(H3, __file__)

SPECS: list = []
spec, pair = cb.spec_writers(SPECS, "h3_")


MLP = dict(hidden=[64, 32], act="relu", opt="adam", lr=1e-3, batch=32, epochs=40)
GLY = dict(aug=True, flip=True, bn=True, dropout=0.25, opt="adam", lr=1e-3, epochs=20, batch=32, n_train=1500, n_val=500)

# --- CNNs: generated 14x14 glyphs (5 classes), 8x8 digits ---------------------------------
pair("cnn_glyphs_sgd_lr_high", "glyphs", 2101,
     "conv net on 14x14 noisy glyphs (flip/translate/rotate aug, no BN, dropout 0.25), SGD lr 1.5 momentum 0.9",
     "same, SGD lr 0.02 momentum 0.9", ["learning_rate_too_high", "exploding_gradients"], "SGD lr 1.5 -> 0.02",
     "csvlogger", "csvlogger", dict(GLY, bn=False, opt="sgd", momentum=0.9, epochs=20), dict(lr=1.5), dict(lr=0.02))
pair("cnn_glyphs_overfit", "glyphs", 2102,
     "conv net (32-64 filters, Dense(256) head) on 120 training glyphs, no aug/BN/dropout, Adam 1e-3, 120 epochs, batch 16",
     "same, EarlyStopping(patience=4, restore_best_weights=True)",
     ["overfitting"], "added EarlyStopping(val_loss, patience 4, restore best)", "json", "csv_noepoch",
     dict(GLY, aug=False, bn=False, dropout=0.0, filters=[32, 64], head=256, n_train=120, batch=16, epochs=120), {},
     dict(early_stop=4))
spec("h3_cnn_glyphs_reduce_lr", "glyphs", "console_v2_pipe", "healthy", 2103,
     "conv net on glyphs (aug, BN, dropout 0.25), Adam 3e-3, ReduceLROnPlateau(verbose=1), 25 epochs, verbose=2 to a file",
     **dict(GLY, lr=3e-3, reduce_lr=True, epochs=25))
spec("h3_cnn_glyphs_heavy_aug", "glyphs", "csvlogger_crlf2", "healthy", 2104,
     "conv net on glyphs with heavy augmentation (shift 0.15, rotation 0.05, GaussianNoise 0.4) and dropout 0.5, Adam 2e-3, "
     "40 epochs: training loss stays above validation loss",
     **dict(GLY, shift=0.15, noise=0.4, dropout=0.5, lr=2e-3, epochs=40))
pair("cnn_digits_mse_labels", "cnn_digits", 2105,
     "conv net on 8x8 digits (aug, BN, dropout) with a 10-unit softmax output trained with mse against the integer labels "
     "(given as an (n, 1) column, which mse broadcasts over the 10 outputs)",
     "same with sparse_categorical_crossentropy", ["loss_mismatch"],
     "loss mse -> sparse_categorical_crossentropy (the same labels as a flat vector)",
     "csv_epochlast", "csv_epochlast", dict(aug=True, bn=True, dropout=0.3, opt="adam", lr=1e-3, epochs=25, batch=32),
     dict(loss="mse", y_column=True), dict(loss=None))
spec("h3_cnn_digits_piecewise", "cnn_digits", "csvlogger", "healthy", 2106,
     "conv net on 8x8 digits (aug, BN, dropout 0.3), SGD momentum 0.9 with PiecewiseConstantDecay (0.03, /3 at epoch 10, /10 at 18), "
     "lr logged as `lr`",
     aug=True, bn=True, dropout=0.3, opt="sgd", momentum=0.9, lr=0.03, schedule="piecewise", log_lr="lr", epochs=24, batch=32)

# --- frozen-base transfer: conv base trained on the odd digits, head on the even ones -----
pair("transfer_oddeven_sgd_lr_low", "transfer_oddeven", 2201,
     "frozen conv base (trained on digits 1,3,5,7,9), softmax head on digits 0,2,4,6,8, SGD lr 1e-5 (no momentum), 50 epochs",
     "same head, SGD lr 0.2", ["learning_rate_too_low"], "SGD lr 1e-5 -> 0.2", "csvlogger", "json",
     dict(opt="sgd", epochs=50, batch=32), dict(lr=1e-5), dict(lr=0.2))
spec("h3_transfer_oddeven_reduce_lr", "transfer_oddeven", "console_v1_pty", "healthy", 2202,
     "frozen conv base (odd digits), head on even digits with L2 1e-3 on its kernel, Adam 1e-2, ReduceLROnPlateau(verbose=1) "
     "(never fired: the validation loss kept falling), "
     "40 epochs, verbose=1 through a pty", opt="adam", lr=1e-2, head_l2=1e-3, reduce_lr=True, epochs=40, batch=32)

# --- regression (R2 on the original scale) ------------------------------------------------
pair("energy_raw_target", "energy", 2301,
     "MLP 64-32 on mechanical energy (0.5 m v^2 + m g h, inputs standardized) with the target in joules (0 to ~70,000), MSE, "
     "Adam 1e-3, batch 64, 20 epochs",
     "same with the target standardized (R2 read in joules)", ["unscaled_target", "learning_rate_too_low"],
     "target joules -> standardized", "csvlogger", "csvlogger", dict(MLP, epochs=20, batch=64), dict(scale_y=False),
     dict(scale_y=True))
spec("h3_energy_slow_sgd", "energy", "csv_noepoch", "healthy", 2302,
     "MLP 64-32 on mechanical energy (standardized target), SGD lr 0.01 momentum 0.9, 80 epochs: slow but settled at the end",
     **dict(MLP, opt="sgd", lr=0.01, momentum=0.9, epochs=80, batch=64))
pair("diabetes_dead_bias", "diabetes3", 2303,
     "MLP 32-16 relu on diabetes (standardized target, 89 validation rows) with every hidden bias initialised to -8 (dead units)",
     "same with zero biases", ["dead_relu", "bad_initialization"], "bias init -8 -> 0", "json", "json",
     dict(MLP, hidden=[32, 16], lr=3e-3, epochs=40, l2=1e-3), dict(bias=-8.0), dict(bias=0.0))
spec("h3_diabetes_small_val", "diabetes3", "csvlogger_crlf2", "healthy", 2304,
     "MLP 16 on diabetes, 89 validation rows (validation loss wobbles), L2 1e-3, Adam 3e-3, 40 epochs",
     **dict(MLP, hidden=[16], l2=1e-3, lr=3e-3, epochs=40, batch=16))
pair("friedman1_softmax_out", "friedman1c", 2305,
     "MLP 64-32 on a standardized friedman1 target (new generator seed) with a Dense(1, softmax) output (always 1)",
     "same with a linear output", ["output_activation_mismatch"], "output softmax -> linear", "console_v1_pipe", "csvlogger",
     dict(MLP, epochs=30), dict(out="softmax"), dict(out="linear"))

# --- tabular classification ---------------------------------------------------------------
pair("breast_raw_sgd", "breast3", 2401,
     "MLP 32-16 on raw breast-cancer features (areas up to ~4,000), SGD lr 0.01 momentum 0.9, 60 validation rows",
     "same with StandardScaler inputs", ["unscaled_features", "learning_rate_too_high", "exploding_gradients"],
     "inputs raw -> standardized", "json", "csvlogger", dict(MLP, hidden=[32, 16], opt="sgd", lr=0.01, momentum=0.9, epochs=30,
                                                             n_val=60), dict(raw=True), dict(raw=False))
spec("h3_breast_small_val_dropout", "breast3", "json", "healthy", 2402,
     "MLP 64 with dropout 0.3 on breast cancer, 60 validation rows, Adam 1e-3, 30 epochs",
     **dict(MLP, hidden=[64], dropout=0.3, epochs=30, n_val=60))
pair("digits_zeros_init", "digits_flat3", 2403,
     "MLP 128-64 relu on flat digits with every kernel initialised to zeros", "same with glorot_uniform",
     ["bad_initialization"], "init zeros -> glorot_uniform", "csv_noepoch", "csv_noepoch",
     dict(MLP, hidden=[128, 64], epochs=25), dict(init="zeros"), dict(init="glorot_uniform"))
pair("quantiles_two_units", "quantiles", 2404,
     "MLP with one hidden layer of 2 relu units on 3-class gaussian quantiles (4-D shells)", "same with 64-32 relu",
     ["insufficient_capacity"], "hidden [2] -> [64, 32]", "csvlogger", "csvlogger",
     dict(MLP, lr=3e-3, epochs=22), dict(hidden=[2]), dict(hidden=[64, 32]))
spec("h3_quantiles_large_val_cosine", "quantiles", "csvlogger", "healthy", 2405,
     "MLP 64-32 on gaussian quantiles, 3000 train / 20000 validation rows, CosineDecay from 3e-3, lr logged as `learning_rate`",
     **dict(MLP, lr=3e-3, schedule="cosine", log_lr="learning_rate", epochs=30, batch=64, n_train=3000, n_val=20000))
pair("hastie_deep_sigmoid", "hastie", 2406,
     "12 Dense(24, sigmoid) layers on make_hastie_10_2, SGD lr 0.05, 18 epochs", "same depth with relu and he_normal init",
     ["vanishing_gradients"], "sigmoid -> relu + he_normal", "csvlogger_crlf2", "csvlogger_crlf2",
     dict(MLP, hidden=[24] * 12, opt="sgd", lr=0.05, epochs=18), dict(act="sigmoid"), dict(act="relu", init="he_normal"))
pair("xor_full_batch_sgd", "xor", 2407,
     "MLP 32-32 on 2-D XOR with 6 distractor features, SGD lr 0.05, full batch (2400 rows = 1 update per epoch), 40 epochs",
     "same, batch 32", ["too_few_updates", "learning_rate_too_low", "too_few_epochs"], "batch 2400 -> 32",
     "csv_epochlast", "csv_epochlast", dict(MLP, hidden=[32, 32], opt="sgd", lr=0.05, epochs=40), dict(batch=2400), dict(batch=32))
spec("h3_xor_long_flat", "xor", "console_v1_pipe", "healthy", 2408,
     "MLP 16 on XOR with distractors, 12000 rows, Adam 3e-3, batch 128, 100 epochs (long flat floor), verbose=1 to a file",
     **dict(MLP, hidden=[16], lr=3e-3, epochs=100, batch=128, n=12000))
pair("imbalance_92_8", "imb3", 2409,
     "MLP 32 on a 92:8 make_classification (class_sep 0.4), no class weights, 60 epochs (balanced accuracy)",
     "same with class_weight balanced", ["class_imbalance"], "class_weight none -> balanced", "csvlogger", "csvlogger",
     dict(MLP, hidden=[32], epochs=60), dict(class_weight=False), dict(class_weight=True))
spec("h3_iris_small_val", "iris3", "console_v2_pipe", "healthy", 2410,
     "MLP 16-8 on iris, 60 validation rows, L2 1e-2, Adam 1e-2, 40 epochs, verbose=2 to a file",
     **dict(MLP, hidden=[16, 8], l2=1e-2, lr=1e-2, epochs=40, batch=16, n_val=60))

# --- token sequences and text -------------------------------------------------------------
TOK = dict(opt="adam", lr=3e-3, batch=32, epochs=20)
pair("tokens_topic_l2_huge", "tokens_topic", 2501,
     "Embedding(16)+GlobalAveragePooling on 4-topic token sequences with L2 1.0 on the embeddings and every kernel",
     "same with L2 1e-4", ["too_strong_regularization"], "L2 1.0 -> 1e-4", "json", "csvlogger_crlf2",
     TOK, dict(l2=1.0), dict(l2=1e-4))
spec("h3_tokens_topic_reduce_lr", "tokens_topic", "csvlogger", "healthy", 2502,
     "Embedding(16)+GAP topic classifier, dropout 0.3, Adam 3e-3 with ReduceLROnPlateau (its `learning_rate` column in the CSV)",
     **dict(TOK, dropout=0.3, reduce_lr=True, epochs=30))
pair("tokens_order_few_epochs", "tokens_order", 2503,
     "Embedding(16)+GRU(24), Adam 1e-3, batch 64: which of marker tokens 1 and 2 (3 of each) comes first; stopped after 5 epochs",
     "same, 40 epochs", ["too_few_epochs"], "epochs 5 -> 40", "csvlogger", "json", dict(TOK, lr=1e-3, batch=64),
     dict(epochs=5), dict(epochs=40))
spec("h3_text_doc_gap_rmsprop", "text_doc", "csv_noepoch", "healthy", 2504,
     "Embedding(64)+GAP on stdlib docstring sentences, dropout 0.4, RMSprop 1e-3, 20 epochs",
     model="gap", emb=64, opt="rmsprop", lr=1e-3, epochs=20, batch=32, dropout=0.4)


# ----------------------------------------------------------------------------------------
# New data
# ----------------------------------------------------------------------------------------


def _glyphs(n, seed, size=14):
    """Noisy 14x14 glyphs: ring, X, plus, filled disk, hollow square; random centre, size, stroke, contrast."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype("float32")
    cls = rng.integers(0, 5, n)
    x = np.zeros((n, size, size), "float32")
    for i in range(n):
        r = rng.uniform(2.5, 5.0)
        cy, cx = rng.uniform(r + 0.5, size - 1.5 - r, 2)
        w = rng.uniform(0.6, 1.0)
        dy, dx = yy - cy, xx - cx
        rad = np.sqrt(dy ** 2 + dx ** 2)
        if cls[i] == 0:
            m = np.abs(rad - r) < w
        elif cls[i] == 1:
            m = ((np.abs(dx - dy) < w) | (np.abs(dx + dy) < w)) & (np.abs(dx) <= r * 0.8) & (np.abs(dy) <= r * 0.8)
        elif cls[i] == 2:
            m = ((np.abs(dx) < w) & (np.abs(dy) <= r)) | ((np.abs(dy) < w) & (np.abs(dx) <= r))
        elif cls[i] == 3:
            m = rad <= r * 0.85
        else:
            m = np.abs(np.maximum(np.abs(dx), np.abs(dy)) - r * 0.85) < w
        x[i] = m * rng.uniform(0.7, 1.3)
    x = x + rng.normal(0, 0.45, x.shape)
    return x[..., None].astype("float32"), cls


def _energy(n, seed):
    """Mechanical energy E = 0.5 m v^2 + m g h in joules (3% noise), plus three irrelevant inputs."""
    import numpy as np

    rng = np.random.default_rng(seed)
    m, v, h = rng.uniform(0.5, 50, n), rng.uniform(0, 30, n), rng.uniform(0, 100, n)
    e = (0.5 * m * v ** 2 + m * 9.81 * h) * (1 + rng.normal(0, 0.03, n))
    x = np.column_stack([m, v, h, rng.uniform(-20, 40, n), rng.uniform(0, 360, n), rng.normal(0, 1, n)])
    return x, e


def _xor(n, seed):
    """2-D XOR (sign of x0*x1) with label noise 3%, plus 6 distractor features."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, 8))
    y = (x[:, 0] * x[:, 1] > 0).astype(int)
    flip = rng.random(n) < 0.03
    return x, np.where(flip, 1 - y, y)


def _tokens_topic(n, seed, length=40, vocab=200, k=4, share=0.12):
    """Each sequence from one of 4 topics: tokens uniform over 2..199, except ~12% drawn from the topic's 15 tokens."""
    import numpy as np

    rng = np.random.default_rng(seed)
    topic_words = rng.permutation(np.arange(2, vocab))[: 15 * k].reshape(k, 15)
    y = rng.integers(0, k, n)
    x = rng.integers(2, vocab, (n, length))
    pick = rng.random((n, length)) < share
    x = np.where(pick, topic_words[y][np.arange(n)[:, None], rng.integers(0, 15, (n, length))], x)
    return x, y


def _tokens_order(n, seed, length=40, vocab=30, reps=3):
    """Random tokens 3..29 with markers 1 and 2 placed 3 times each; y = the first marker is 1 (invisible to a bag of tokens)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(3, vocab, (n, length))
    y = np.zeros(n, int)
    for i in range(n):
        pos = np.sort(rng.choice(length, 2 * reps, replace=False))
        marks = np.array([1, 2] * reps)
        rng.shuffle(marks)
        x[i, pos] = marks
        y[i] = int(marks[0] == 1)
    return x, y


def _cnn3(keras, shape, head, p):
    """Conv blocks (filters, BN, pool), Dense head; augmentation strength, noise and flips set by the spec."""
    L = keras.layers
    reg = cb._reg(keras, p)
    layers = [keras.Input(shape)]
    if p.get("aug"):
        if p.get("flip"):
            layers.append(L.RandomFlip("horizontal"))
        sh = p.get("shift", 0.1)
        layers.append(L.RandomTranslation(sh, sh))
        layers.append(L.RandomRotation(p.get("rot", 0.05)))
        if p.get("noise"):
            layers.append(L.GaussianNoise(p["noise"]))
    for f in p.get("filters", [16, 32]):
        layers.append(L.Conv2D(f, 3, padding="same", activation="relu", kernel_regularizer=reg))
        if p.get("bn"):
            layers.append(L.BatchNormalization())
        layers.append(L.MaxPooling2D(2))
    layers.append(L.Flatten())
    layers.append(L.Dense(p.get("head", 64), activation="relu", kernel_regularizer=reg))
    if p.get("dropout"):
        layers.append(L.Dropout(p["dropout"]))
    layers.append(head)
    return keras.Sequential(layers)


def make_job(s):
    import keras
    import numpy as np
    from sklearn import datasets

    p, fam, seed = s.params, s.family, s.seed
    if fam == "glyphs":
        x, y = _glyphs(2000, 71)
        # the same 2000 images for every glyph fit: validation = the last n_val, training = the first n_train
        xva, yva = x[-p["n_val"]:], y[-p["n_val"]:]
        xtr, ytr = x[: p["n_train"]], y[: p["n_train"]]
        model = _cnn3(keras, (14, 14, 1), cb._head(keras, "multiclass", 5, p), p)
        return cb.Job(model, xtr, ytr, xva, yva, "multiclass", 5, cb._default_loss("multiclass", p), ["accuracy"])
    if fam == "transfer_oddeven":
        d = datasets.load_digits()
        x, y = (d.images[..., None] / 16.0).astype("float32"), d.target
        src = y % 2 == 1
        base = cb._train_base(keras, "digits_odd", x[src], y[src] // 2, 5, 3201)
        xt, yt = x[~src], y[~src] // 2
        tr, va = cb._split(len(yt), 0.3, 7, stratify=yt)
        keras.utils.set_random_seed(seed)
        reg = keras.regularizers.l2(p["head_l2"]) if p.get("head_l2") else None
        model = keras.Sequential([keras.Input((8, 8, 1)), base, keras.layers.Dense(5, activation="softmax", kernel_regularizer=reg)])
        return cb.Job(model, xt[tr], yt[tr], xt[va], yt[va], "multiclass", 5, "sparse_categorical_crossentropy", ["accuracy"],
                      note="base trained 12 epochs on digits 1,3,5,7,9 (seed 3201), frozen; head on 0,2,4,6,8 (label = digit // 2)")
    if fam in ("energy", "diabetes3", "friedman1c"):
        if fam == "energy":
            x, y = _energy(2500, 81)
            n_val = 500
        elif fam == "diabetes3":
            x, y = datasets.load_diabetes(return_X_y=True)
            n_val = 89
        else:
            x, y = datasets.make_friedman1(n_samples=2500, noise=1.0, random_state=27)
            n_val = 500
        tr, va = cb._split(len(y), n_val, 8, p.get("n_train"))
        xtr, xva = cb._scale(x[tr], x[va])
        ytr, yva = y[tr].astype("float32"), y[va].astype("float32")
        m, sd = (float(ytr.mean()), float(ytr.std())) if p.get("scale_y", True) else (0.0, 1.0)
        model = cb2._dense_mlp(keras, x.shape[1], "regression", None, p)
        return cb.Job(model, xtr, (ytr - m) / sd, xva, (yva - m) / sd, "regression", None, cb._default_loss("regression", p),
                      ["mae"], y_mean=m, y_std=sd)
    if fam in ("breast3", "digits_flat3", "quantiles", "hastie", "xor", "imb3", "iris3"):
        n_val = p.get("n_val", 0.2)
        if fam == "breast3":
            x, y = datasets.load_breast_cancer(return_X_y=True)
        elif fam == "digits_flat3":
            x, y = datasets.load_digits(return_X_y=True)
        elif fam == "quantiles":
            n_val = p.get("n_val", 600)
            x, y = datasets.make_gaussian_quantiles(n_samples=p.get("n_train", 2400) + n_val, n_features=4, n_classes=3,
                                                    random_state=23)
        elif fam == "hastie":
            x, y = datasets.make_hastie_10_2(n_samples=4000, random_state=24)
            y = (y > 0).astype(int)
        elif fam == "xor":
            x, y = _xor(p.get("n", 3000), 25)
        elif fam == "imb3":
            x, y = datasets.make_classification(n_samples=5000, n_features=12, n_informative=4, weights=[0.92],
                                                class_sep=0.4, flip_y=0, random_state=26)
        else:
            x, y = datasets.load_iris(return_X_y=True)
        k = int(len(np.unique(y)))
        task = "binary" if k == 2 else "multiclass"
        tr, va = cb._split(len(y), n_val, 5, p.get("n_train"), stratify=y)
        if p.get("raw"):  # the features in their raw units
            xtr, xva = x[tr].astype("float32"), x[va].astype("float32")
        else:
            xtr, xva = cb._scale(x[tr], x[va])
        model = cb2._dense_mlp(keras, x.shape[1], task, k, p)
        return cb.Job(model, xtr, y[tr], xva, y[va], task, k, cb._default_loss(task, p), ["accuracy"])
    if fam == "tokens_topic":
        x, y = _tokens_topic(8000, 91)
        L = keras.layers
        reg = cb._reg(keras, p)
        layers = [keras.Input((40,)), L.Embedding(200, 16, embeddings_regularizer=reg), L.GlobalAveragePooling1D(),
                  L.Dense(16, activation="relu", kernel_regularizer=reg)]
        if p.get("dropout"):
            layers.append(L.Dropout(p["dropout"]))
        layers.append(L.Dense(4, activation="softmax", kernel_regularizer=reg))
        return cb.Job(keras.Sequential(layers), x[:7000], y[:7000], x[7000:], y[7000:], "multiclass", 4,
                      "sparse_categorical_crossentropy", ["accuracy"])
    if fam == "tokens_order":
        x, y = _tokens_order(3000, 92)
        L = keras.layers
        model = keras.Sequential([keras.Input((40,)), L.Embedding(30, 16), L.GRU(24), L.Dense(1, activation="sigmoid")])
        return cb.Job(model, x[:2400], y[:2400], x[2400:], y[2400:], "binary", 2, "binary_crossentropy", ["accuracy"])
    job = cb2.make_job(s)  # cnn_digits, text_doc: the earlier corpora's families, new seeds and settings
    if p.get("y_column"):  # the labels as an (n, 1) column, as a DataFrame's df[["label"]].values gives them
        job.ytr, job.yva = np.asarray(job.ytr).reshape(-1, 1), np.asarray(job.yva).reshape(-1, 1)
    return job


_ORIGINAL_OUTCOME = cb._outcome


def _outcome(job, model):
    """corpus_build's outcome; with (n, 1) column labels, val_accuracy is recomputed on the flat labels."""
    import numpy as np

    out = _ORIGINAL_OUTCOME(job, model)
    if job.task != "regression" and np.asarray(job.yva).ndim == 2:
        pred = np.nan_to_num(np.asarray(model.predict(job.xva, verbose=0, batch_size=1024), dtype="float64"), nan=0.0)
        cls = (pred[:, 0] > 0.5).astype(int) if pred.shape[1] == 1 else pred.argmax(1)
        out["val_accuracy"] = float((cls == np.asarray(job.yva).ravel()).mean())
    return out


cb.make_job = make_job
cb._outcome = _outcome
cb.SPECS[:] = SPECS  # the imported build/worker/console machinery reads cb.SPECS


if __name__ == "__main__":
    cb.main()

"""Build the own half of the ninth held-out corpus (corpus/heldout9/): new seeds, splits and faults.

    .venv/bin/python harness/corpus_build9.py build [--only ID ...] [--jobs 2]   # -> corpus/heldout9/logs, build/meta
    .venv/bin/python harness/corpus_build9.py list
    HELDOUT9_OUT=/tmp/h9 .venv/bin/python harness/corpus_build9.py build --jobs 2   # rebuild elsewhere, to compare

Same machinery as ``harness/corpus_build.py`` (imported: its ``Spec``, ``run_fit``, log writers,
process pool, frozen-base trainer and helpers), with heldout8's generators and models
(``harness/corpus_build8.py``, imported: it chains the earlier builds' writers and optimizers),
pointed at ``corpus/heldout9/`` and given its own ``SPECS``. Every family draws new data (new
generator seeds and splits) and pairs it with a fault no earlier corpus built on that data:
SGD that blows up a conv net on RGB emblems, zero-initialised conv kernels, a GRU at Adam 1e-5,
a ticket GRU stopped after 5 epochs, a conv net memorising 150 tickets,
concrete mixes fed in raw kg/m3 to SGD, a linear model for a nonlinear law, PV power left in watts
under Adam 1e-4, a linear 3-class output under a probability loss on scikit-learn's wine, ten sigmoid
layers on its breast-cancer table, a heavy L2 penalty and permuted targets on its diabetes table,
one update per epoch on its digits, a 96:4 class split, and Adadelta at its default rate on a
frozen base. Healthy fits use the same data with the set-ups users run: batch norm, augmentation,
cosine and exponential schedules, ReduceLROnPlateau, EarlyStopping, AdamW, Nadam, small and
large validation splits. No new writer.
Nothing here imports or runs the doctor; labels come from ``corpus/make_labels9.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_build as cb  # noqa: E402
import corpus_build8 as cb8  # noqa: E402  (heldout8's generators and models; patches cb's writers and optimizers)

ROOT = cb.ROOT
# HELDOUT9_OUT: build somewhere else (e.g. to check that a rebuild repeats the logs); default the corpus itself
H9 = Path(os.environ["HELDOUT9_OUT"]).resolve() if os.environ.get("HELDOUT9_OUT") else ROOT / "corpus" / "heldout9"
cb.point_at(H9, __file__)

SPECS: list = []
spec, pair = cb.spec_writers(SPECS, "h9_")

EMB, IMU, TIX, RES = cb8.EMB, cb8.IMU, cb8.TIX, cb8.RES  # heldout8's base settings for the same families
MLP = dict(cb8.MLP, epochs=40)
CNN = dict(aug=True, bn=True, dropout=0.3, opt="adam", lr=1e-3, epochs=25, batch=32)

# --- conv nets on new RGB emblems ------------------------------------------------------------------
pair("emblems_sgd_blowup", "emblems9", 9001,
     "conv net (no BN) on 16x16 RGB emblems, SGD lr 0.5 momentum 0.9, 15 epochs", "same, SGD lr 0.01 momentum 0.9",
     ["learning_rate_too_high", "exploding_gradients"], "SGD lr 0.5 -> 0.01", "csvlogger", "json",
     dict(EMB, opt="sgd", momentum=0.9), dict(lr=0.5), dict(lr=0.01))
pair("emblems_zeros_init", "emblems9", 9002,
     "conv net on emblems with kernel_initializer='zeros' on every conv layer, Adam 1e-3, 15 epochs",
     "same with glorot_uniform", ["bad_initialization"], "conv kernel init zeros -> glorot_uniform",
     "console_v2_pipe", "csvlogger", EMB, dict(init="zeros"), dict(init="glorot_uniform"))
spec("h9_emblems_bn_aug_cosine", "emblems9", "csvlogger_crlf2", "healthy", 9020,
     "conv net with BatchNormalization, flip/rotate augmentation and dropout 0.3 on the emblems, Adam 2e-3 with "
     "CosineDecay (lr logged as `lr`), 20 epochs", **dict(EMB, aug=True, bn=True, dropout=0.3, lr=2e-3,
                                                          schedule="cosine", log_lr="lr", epochs=20))

# --- frozen conv base (trained on 4 emblem shapes), head on 4 new shapes ---------------------------
pair("transfer_emblems_adadelta", "transfer_emblems9", 9003,
     "frozen emblem base, softmax head on 4 new shapes, Adadelta at its Keras default rate (1e-3), 25 epochs",
     "same head with Adam 3e-3", ["optimizer_choice", "learning_rate_too_low"], "Adadelta (default) -> Adam 3e-3",
     "json_pretty", "csvlogger", dict(epochs=25, batch=16), dict(opt="adadelta", lr=1e-3), dict(opt="adam", lr=3e-3))
spec("h9_transfer_emblems_nadam", "transfer_emblems9", "csv_noepoch", "healthy", 9021,
     "frozen emblem base, softmax head on the 4 new shapes, Nadam 2e-3, 30 epochs, batch 16",
     **dict(opt="nadam", lr=2e-3, epochs=30, batch=16))

# --- accelerometer windows ---------------------------------------------------------------------------
pair("imu_gru_lr_tiny", "imu9", 9004,
     "GRU(32) on standardized accelerometer windows, Adam lr 1e-5, 20 epochs", "same, Adam 2e-3",
     ["learning_rate_too_low"], "lr 1e-5 -> 2e-3", "csvlogger", "console_v1_pipe", IMU, dict(lr=1e-5), dict(lr=2e-3))
spec("h9_imu_conv_reduce_lr", "imu9", "console_v1_pty", "healthy", 9022,
     "Conv1D(32,5)-Conv1D(64,5)-GAP net on the accelerometer windows, Adam 1e-3, ReduceLROnPlateau(verbose=1), "
     "25 epochs", **dict(IMU, rnn="conv", lr=1e-3, reduce_lr=True, epochs=25))

# --- support tickets -----------------------------------------------------------------------------------
pair("tickets_gru_few_epochs", "tickets9", 9005,
     "Embedding(16) + GRU(16) on tickets (4 departments), Adam 1e-3, stopped after 5 epochs", "same, 40 epochs",
     ["too_few_epochs"], "epochs 5 -> 40", "csv_epochlast", "csvlogger", dict(TIX, model="gru", lr=1e-3),
     dict(epochs=5), dict(epochs=40))
pair("tickets_conv_overfit_150", "tickets9", 9006,
     "Embedding(64) + Conv1D(64,3) + GlobalMaxPool + Dense(128) on 150 training tickets (800 validation), Adam 3e-3, "
     "60 epochs", "same, EarlyStopping(val_loss, patience 5, restore_best_weights)", ["overfitting"],
     "added EarlyStopping(patience 5, restore best)", "json", "csvlogger",
     dict(TIX, model="conv", n_train=150, lr=3e-3, epochs=60), {}, dict(early_stop=5))
spec("h9_tickets_gru_adam", "tickets9", "keras2_csv", "healthy", 9023,
     "Embedding(16) + GRU(16) on tickets, Adam 3e-3, 15 epochs", **dict(TIX, model="gru", lr=3e-3))

# --- concrete strength (MPa) -------------------------------------------------------------------------
pair("concrete_raw_inputs_sgd", "concrete9", 9007,
     "MLP 64-64 on concrete mixes fed in raw kg/m3 and days (values up to about 1150), standardized target, SGD lr 1e-3 "
     "momentum 0.9, 40 epochs", "same with the inputs standardized",
     ["unscaled_features", "learning_rate_too_high", "exploding_gradients"], "inputs raw -> standardized",
     "csvlogger", "csv_semicolon", dict(MLP, opt="sgd", momentum=0.9), dict(scale_x=False), dict(scale_x=True))
pair("concrete_linear", "concrete9", 9008,
     "one Dense(1) layer (linear regression in Keras) on standardized concrete mixes, Adam 1e-2, 40 epochs",
     "MLP 64-64", ["insufficient_capacity"], "no hidden layer -> 64-64", "json", "csvlogger",
     dict(MLP, lr=1e-2), dict(hidden=[]), dict(hidden=[64, 64]))
spec("h9_concrete_large_val", "concrete9", "csv_index", "healthy", 9024,
     "MLP 64-64 on concrete, 2000 training / 6000 validation rows, Adam 1e-3, batch 64, 40 epochs",
     **dict(MLP, n_val=6000, batch=64))

# --- PV power (W) ------------------------------------------------------------------------------------
pair("solar_watts_adam_1e4", "solar9", 9009,
     "residual MLP on the PV table (inputs standardized), MSE on the power left in watts (0 to about 8000), Adam 1e-4, "
     "30 epochs", "same with the target standardized (R2 read in W)", ["unscaled_target", "learning_rate_too_low"],
     "target W -> standardized", "csvlogger_crlf2", "csvlogger", dict(RES, lr=1e-4), dict(scale_y=False),
     dict(scale_y=True))
spec("h9_solar_adamw_early_stop", "solar9", "json", "healthy", 9025,
     "residual MLP on the PV table, AdamW 2e-3, up to 60 epochs with EarlyStopping(patience 5, restore_best_weights)",
     **dict(RES, opt="adamw", lr=2e-3, epochs=60, early_stop=5))

# --- scikit-learn's wine, breast cancer, diabetes and digits on new splits ------------------------------
pair("wine_linear_out", "wine9", 9010,
     "MLP 32-16 on standardized wine with a linear Dense(3) output under sparse_categorical_crossentropy "
     "(from_logits=False), Adam 1e-2, 60 epochs", "same with a softmax output",
     ["output_activation_mismatch", "loss_mismatch"], "output linear -> softmax", "csvlogger", "json",
     dict(MLP, hidden=[32, 16], lr=1e-2, epochs=60), dict(out="linear"), dict(out="softmax"))
spec("h9_wine_small_val", "wine9", "console_v2_pipe", "healthy", 9026,
     "MLP 16 on standardized wine, 36 validation rows, Adam 1e-2, 60 epochs",
     **dict(MLP, hidden=[16], lr=1e-2, epochs=60))
pair("breast_deep_sigmoid", "breast9", 9011,
     "10 Dense(32, sigmoid) layers on standardized breast cancer, SGD lr 0.01, 30 epochs",
     "same depth with relu and he_normal init", ["vanishing_gradients"], "sigmoid -> relu + he_normal",
     "csv_noepoch", "csvlogger", dict(MLP, hidden=[32] * 10, opt="sgd", lr=0.01, epochs=30),
     dict(act="sigmoid"), dict(act="relu", init="he_normal"))
pair("diabetes_l2_heavy", "diabetes9", 9012,
     "MLP 64-64 on diabetes (standardized target) with L2 3.0 on every kernel, Adam 1e-3, 60 epochs",
     "same with L2 1e-4", ["too_strong_regularization"], "L2 3.0 -> 1e-4", "keras2_csv", "csvlogger",
     dict(MLP, epochs=60), dict(l2=3.0), dict(l2=1e-4))
pair("diabetes_permuted_target", "diabetes9", 9013,
     "MLP 64-64 on diabetes with the targets randomly permuted (train and validation), Adam 1e-3, 40 epochs",
     "same with the true targets", ["no_learnable_signal"], "permuted targets -> true targets", "csvlogger",
     "csv_epochlast", MLP, dict(shuffle_labels=True), dict(shuffle_labels=False))
pair("digits_full_batch", "digits9", 9014,
     "conv net (aug, BN, dropout) on the 8x8 digits, batch = all 1347 training images (one update per epoch), "
     "Adam 1e-3, 20 epochs", "same, batch 32", ["too_few_updates", "learning_rate_too_low", "too_few_epochs"],
     "batch 1347 -> 32", "csvlogger", "csv_noepoch", dict(CNN, epochs=20), dict(batch=1347), dict(batch=32))
spec("h9_digits_cnn_expdecay", "digits9", "json_pretty", "healthy", 9027,
     "conv net (aug, BN, dropout) on the 8x8 digits, Adam 3e-3 with ExponentialDecay (lr logged as `lr`), 25 epochs",
     **dict(CNN, lr=3e-3, schedule="exp", log_lr="lr"))
pair("imbalance_96_4", "imb9", 9015,
     "MLP 16 on a 96:4 imbalanced make_classification (12 features), no class weights, 12 epochs "
     "(balanced accuracy)", "same with class_weight balanced", ["class_imbalance"], "class_weight none -> balanced",
     "csvlogger", "csvlogger", dict(MLP, hidden=[16], epochs=12), dict(class_weight=False), dict(class_weight=True))


# ----------------------------------------------------------------------------------------
# The family dispatch
# ----------------------------------------------------------------------------------------


def make_job(s):
    import keras
    import numpy as np
    from sklearn import datasets

    p, fam = s.params, s.family
    L = keras.layers
    if fam == "emblems9":
        x, y = cb8._emblems(2000, 9801)
        model = cb8._emblem_cnn(keras, p, cb._head(keras, "multiclass", 4, p))
        return cb.Job(model, x[:1400], y[:1400], x[-600:], y[-600:], "multiclass", 4,
                      cb._default_loss("multiclass", p), ["accuracy"])
    if fam == "transfer_emblems9":
        xs, ys = cb8._emblems(1500, 9802)
        base = cb._train_base(keras, "emblems4_9", xs, ys, 4, 9803)
        x, yy = cb8._emblems(200 + 250, 9804, shapes=(4, 5, 6, 7))
        keras.utils.set_random_seed(s.seed)  # the head's init must not depend on whether the base was cached
        model = keras.Sequential([base, L.Dense(4, activation="softmax")])
        return cb.Job(model, x[:200], yy[:200], x[-250:], yy[-250:], "multiclass", 4,
                      "sparse_categorical_crossentropy", ["accuracy"],
                      note="base trained 12 epochs on the 4 emblem shapes (seed 9803), frozen")
    if fam == "imu9":
        return cb8.imu_job(keras, p, 9805, 91)
    if fam == "tickets9":
        x, y = cb8._tickets(3000, 9807)
        tr, va = cb._split(len(y), 800, 92, p.get("n_train"), stratify=y)
        model = p.get("model", "gap")
        layers = [keras.Input((50,)), L.Embedding(200, 64 if model == "conv" else 16)]
        if model == "gru":
            layers.append(L.GRU(16))
        elif model == "conv":
            layers += [L.Conv1D(64, 3, activation="relu"), L.GlobalMaxPooling1D(), L.Dense(128, activation="relu")]
        else:
            layers += [L.GlobalAveragePooling1D(), L.Dense(16, activation="relu")]
        model = keras.Sequential(layers + [L.Dense(4, activation="softmax")])
        return cb.Job(model, x[tr], y[tr], x[va], y[va], "multiclass", 4, "sparse_categorical_crossentropy", ["accuracy"])
    if fam in ("concrete9", "solar9", "diabetes9"):
        n_val = p.get("n_val", 600)
        if fam == "concrete9":
            x, y = cb8._concrete(2000 + n_val, 9810)
        elif fam == "solar9":
            x, y = cb8._solar(2000 + n_val, 9809)
        else:
            d = datasets.load_diabetes()
            x, y, n_val = d.data, d.target.astype("float64"), 110
        tr, va = cb._split(len(y), n_val, 93, 2000)
        if p.get("scale_x", True):
            xtr, xva = cb._scale(x[tr], x[va])
        else:
            xtr, xva = x[tr].astype("float32"), x[va].astype("float32")
        ytr, yva = y[tr], y[va]
        if p.get("shuffle_labels"):
            rng = np.random.default_rng(9813)
            ytr, yva = rng.permutation(ytr), rng.permutation(yva)
        return cb8.regression_job(keras, x.shape[1], xtr, xva, ytr, yva, p, residual=fam == "solar9")
    if fam in ("wine9", "breast9", "imb9"):
        if fam == "wine9":
            d = datasets.load_wine()
            x, y, k, n_val = d.data, d.target, 3, 36
        elif fam == "breast9":
            d = datasets.load_breast_cancer()
            x, y, k, n_val = d.data, d.target, 2, 140
        else:
            x, y = datasets.make_classification(n_samples=4000, n_features=12, n_informative=6, weights=[0.96, 0.04],
                                                flip_y=0.0, class_sep=1.0, random_state=9815)
            k, n_val = 2, 1000
        return cb8.tabular_job(keras, x, y, k, n_val, 94, p)
    if fam == "digits9":
        d = datasets.load_digits()
        x = (d.images[..., None] / 16.0).astype("float32")
        tr, va = cb._split(len(d.target), 450, 95, stratify=d.target)
        model = cb._cnn(keras, (8, 8, 1), cb._head(keras, "multiclass", 10, p), p, flip=False)
        return cb.Job(model, x[tr], d.target[tr], x[va], d.target[va], "multiclass", 10,
                      cb._default_loss("multiclass", p), ["accuracy"])
    raise ValueError(fam)


cb.make_job = make_job
cb.SPECS[:] = SPECS  # the imported build/worker/console machinery reads cb.SPECS


if __name__ == "__main__":
    cb.main()

"""Build the own half of the tenth held-out corpus (corpus/heldout10/): new seeds, splits and faults.

    .venv/bin/python harness/corpus_build10.py build [--only ID ...] [--jobs 2]   # -> corpus/heldout10/logs, build/meta
    .venv/bin/python harness/corpus_build10.py list
    HELDOUT10_OUT=/tmp/h10 .venv/bin/python harness/corpus_build10.py build --jobs 2   # rebuild elsewhere, to compare

Same machinery as ``harness/corpus_build.py`` (imported: its ``Spec``, ``run_fit``, log writers,
process pool, frozen-base trainer and helpers), with heldout8's generators and models
(``harness/corpus_build8.py``, imported: it chains the earlier builds' writers and optimizers) and
heldout9's base settings (``harness/corpus_build9.py``, imported for its ``CNN`` and ``MLP``; its
import points the machinery at heldout9, so this script re-points it right after), pointed at
``corpus/heldout10/`` and given its own ``SPECS``. Every family draws new data (new generator seeds
and splits; a frozen base trained on four emblem shapes no earlier base saw together, a head on the
other four) and pairs it with a fault no earlier corpus built on that data: RMSprop at 1e-6 on a
batch-normalised, augmented emblem CNN, emblem pixels left at 0..255 under SGD, a frozen-base head
stopped after 6 epochs, a GRU under RMSprop 0.1, L2 1.0 on a ticket embedding model, hidden biases
initialised to -8 on concrete mixes, one update per epoch on the PV table, zero-initialised kernels on
scikit-learn's wine, permuted labels on its digits (conv net), 10 sigmoid layers on the flat digits,
an iris net stopped after 6 epochs, a big net on 100 diabetes rows and the diabetes target left in
its raw units, plain SGD on the spectra, a relu output on the swiss-roll position, and a 90:7:3
three-class split. Healthy fits use the same data with the set-ups users run: batch norm,
augmentation, warmup + cosine, cosine and exponential schedules, ReduceLROnPlateau, EarlyStopping,
AdamW, Nadam, RMSprop, Nesterov SGD, small (60 rows) and large (6000 rows) validation splits.
No new writer. Nothing here imports or runs the doctor; labels come from ``corpus/make_labels10.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_build as cb  # noqa: E402
import corpus_build8 as cb8  # noqa: E402  (heldout8's generators and models; patches cb's writers and optimizers)
import corpus_build9 as cb9  # noqa: E402  (heldout9's base settings; it points cb at heldout9: re-pointed below)

ROOT = cb.ROOT
# HELDOUT10_OUT: build somewhere else (e.g. to check that a rebuild repeats the logs); default the corpus itself
H10 = Path(os.environ["HELDOUT10_OUT"]).resolve() if os.environ.get("HELDOUT10_OUT") else ROOT / "corpus" / "heldout10"
cb.point_at(H10, __file__)

SPECS: list = []
spec, pair = cb.spec_writers(SPECS, "h10_")

EMB, IMU, TIX, RES = cb8.EMB, cb8.IMU, cb8.TIX, cb8.RES  # heldout8's base settings for the same families
CNN, MLP = cb9.CNN, cb9.MLP  # heldout9's conv net (aug, BN, dropout 0.3, Adam 1e-3, 25 epochs) and MLP 64-64 (40 epochs)
EMB_BN = dict(EMB, aug=True, bn=True, dropout=0.3)

# --- conv nets on new RGB emblems ------------------------------------------------------------------
pair("emblems_rmsprop_lr_tiny", "emblems10", 10001,
     "conv net with BatchNormalization, flip/rotate augmentation and dropout 0.3 on 16x16 RGB emblems, RMSprop lr 1e-6, "
     "ReduceLROnPlateau(verbose=1), 20 epochs, verbose=1 through a pty", "same, RMSprop lr 1e-3",
     ["learning_rate_too_low"], "RMSprop lr 1e-6 -> 1e-3", "console_v1_pty", "csvlogger",
     dict(EMB_BN, opt="rmsprop", reduce_lr=True, epochs=20), dict(lr=1e-6), dict(lr=1e-3))
pair("emblems_raw_pixels_sgd", "emblems10", 10002,
     "conv net (no BN) on the emblems with the pixels left at 0..255, SGD lr 0.01 momentum 0.9, up to 20 epochs with "
     "EarlyStopping(val_loss, patience 3, restore_best_weights)", "same with the pixels divided by 255",
     ["unscaled_features", "learning_rate_too_high", "exploding_gradients"], "pixels 0..255 -> /255",
     "csvlogger", "json", dict(EMB, opt="sgd", momentum=0.9, lr=0.01, epochs=20, early_stop=3),
     dict(raw_pixels=True), dict(raw_pixels=False))
spec("h10_emblems_bn_aug_warmup_cosine", "emblems10", "csvlogger_crlf2", "healthy", 10020,
     "conv net with BatchNormalization, flip/rotate augmentation and dropout 0.3 on the emblems, AdamW 2e-3 with a "
     "3-epoch warmup then CosineDecay (lr logged as `learning_rate`), 20 epochs",
     **dict(EMB_BN, opt="adamw", lr=2e-3, schedule="warmup_cosine", warmup_epochs=3, log_lr="learning_rate", epochs=20))

# --- frozen conv base (trained on cross, ring, square, diamond), head on triangle, X, bars, L ------------
pair("transfer_emblems_few_epochs", "transfer_emblems10", 10003,
     "frozen emblem base, softmax head on 4 other shapes, Adam 1e-3, batch 16, stopped after 6 epochs "
     "(EarlyStopping(patience 4, restore best) never fires)", "same, up to 100 epochs", ["too_few_epochs"],
     "epochs 6 -> 100", "csv_epochlast", "csvlogger_crlf2", dict(opt="adam", lr=1e-3, batch=16, early_stop=4),
     dict(epochs=6), dict(epochs=100))

# --- accelerometer windows ---------------------------------------------------------------------------
pair("imu_gru_rmsprop_lr_high", "imu10", 10004,
     "GRU(32) on standardized accelerometer windows, RMSprop lr 0.1, up to 25 epochs with EarlyStopping(patience 3, "
     "restore best)", "same, RMSprop lr 1e-3", ["learning_rate_too_high"], "RMSprop lr 0.1 -> 1e-3",
     "json_pretty", "csvlogger", dict(IMU, opt="rmsprop", epochs=25, early_stop=3), dict(lr=0.1), dict(lr=1e-3))
spec("h10_imu_conv_nadam_small_val", "imu10", "console_v1_pty", "healthy", 10021,
     "Conv1D(32,5)-Conv1D(64,5)-GAP net on the accelerometer windows, 60 validation rows, Nadam 1e-3, up to 30 epochs "
     "with EarlyStopping(patience 4, restore best), verbose=1 through a pty",
     **dict(IMU, rnn="conv", opt="nadam", lr=1e-3, n_val=60, epochs=30, early_stop=4))

# --- support tickets -----------------------------------------------------------------------------------
pair("tickets_l2_heavy", "tickets10", 10005,
     "Embedding(16) + GlobalAveragePooling + Dense(16) on tickets (4 departments) with L2 1.0 on the embedding and every "
     "kernel, Adam 2e-3, up to 40 epochs with EarlyStopping(patience 4, restore best)", "same with L2 1e-4",
     ["too_strong_regularization"], "L2 1.0 -> 1e-4", "csvlogger", "console_v2_pipe",
     dict(TIX, epochs=40, early_stop=4), dict(l2=1.0), dict(l2=1e-4))
spec("h10_tickets_conv_rmsprop_reduce_lr", "tickets10", "console_v2_pipe", "healthy", 10022,
     "Embedding(32) + Conv1D(32,3) + GlobalMaxPool on tickets, RMSprop 1e-3, ReduceLROnPlateau(verbose=1), 15 epochs, "
     "verbose=2 to a file", **dict(TIX, model="conv", opt="rmsprop", lr=1e-3, reduce_lr=True))

# --- concrete strength (MPa) -------------------------------------------------------------------------
pair("concrete_dead_relu_bias", "concrete10", 10006,
     "MLP 64-64 relu on standardized concrete mixes with bias_initializer=Constant(-8) on the hidden layers (every unit "
     "dead from the start), Adam 1e-3, up to 80 epochs with EarlyStopping(patience 4, restore best)", "same, bias 0",
     ["dead_relu", "bad_initialization"], "hidden bias init -8 -> 0", "csv_semicolon", "csvlogger",
     dict(MLP, epochs=80, early_stop=4), dict(bias=-8.0), dict(bias=0.0))
spec("h10_concrete_sgd_nesterov_large_val", "concrete10", "keras2_csv", "healthy", 10023,
     "MLP 64-64 on concrete, 2000 training / 6000 validation rows, Nesterov SGD lr 0.01 momentum 0.9 with "
     "ExponentialDecay (lr logged), batch 64, 40 epochs",
     **dict(MLP, opt="sgd", momentum=0.9, nesterov=True, lr=0.01, schedule="exp", log_lr="lr", n_val=6000, batch=64))

# --- PV power (W) ------------------------------------------------------------------------------------
pair("solar_full_batch", "solar10", 10007,
     "residual MLP on the PV table (standardized), batch 2000 = every training row (one update per epoch), Adam 1e-3 "
     "with CosineDecay over the run (lr logged as `lr`), 30 epochs", "same, batch 32",
     ["too_few_updates", "learning_rate_too_low", "too_few_epochs"], "batch 2000 -> 32", "csvlogger", "csv_noepoch",
     dict(RES, schedule="cosine", log_lr="lr"), dict(batch=2000), dict(batch=32))

# --- scikit-learn's wine, breast cancer, iris, diabetes and digits on new splits -------------------------
pair("wine_zeros_init", "wine10", 10008,
     "MLP 32-16 relu on standardized wine (36 validation rows) with kernel_initializer='zeros' on the hidden layers, "
     "Adam 3e-3, up to 80 epochs with EarlyStopping(patience 4, restore best)", "same with glorot_uniform",
     ["bad_initialization"], "hidden kernel init zeros -> glorot_uniform", "keras2_csv", "csvlogger",
     dict(MLP, hidden=[32, 16], lr=3e-3, epochs=80, early_stop=4), dict(init="zeros"), dict(init="glorot_uniform"))
spec("h10_breast_dropout_early_stop", "breast10", "json_pretty", "healthy", 10024,
     "MLP 32-16 with Dropout(0.2) on standardized breast cancer, 60 validation rows, Adam 1e-3, up to 100 epochs with "
     "EarlyStopping(patience 4, restore best)", **dict(MLP, hidden=[32, 16], dropout=0.2, epochs=100, early_stop=4))
pair("iris_few_epochs", "iris10", 10009,
     "MLP 16-16 on standardized iris (30 validation rows), Adam 1e-3, batch 16, stopped after 6 epochs, verbose=1 to a "
     "file (EarlyStopping(patience 4, restore best) never fires)", "same, up to 200 epochs", ["too_few_epochs"],
     "epochs 6 -> 200", "console_v1_pipe", "csvlogger", dict(MLP, hidden=[16, 16], batch=16, early_stop=4),
     dict(epochs=6), dict(epochs=200))
pair("diabetes_overfit_100", "diabetes10", 10010,
     "MLP 256-256 on 100 diabetes training rows (110 validation, standardized target), no regularization, Adam 1e-3, "
     "batch 16, 300 epochs", "same, EarlyStopping(val_loss, patience 4, restore_best_weights)", ["overfitting"],
     "added EarlyStopping(patience 4, restore best)", "csv_index", "csvlogger",
     dict(MLP, hidden=[256, 256], n_train=100, batch=16, epochs=300), {}, dict(early_stop=4))
pair("diabetes_raw_target", "diabetes10", 10011,
     "MLP 32 on standardized diabetes features with MSE on the target left in its raw units (25 to 346), Adam 1e-3, up to "
     "60 epochs with EarlyStopping(patience 4, restore best)", "same with the target standardized (R2 read in raw units)",
     ["unscaled_target", "learning_rate_too_low"], "target raw -> standardized", "csvlogger_crlf2", "json_pretty",
     dict(MLP, hidden=[32], epochs=60, early_stop=4), dict(scale_y=False), dict(scale_y=True))
pair("digits_permuted_labels", "digits10", 10012,
     "conv net (aug, BN, dropout 0.3) on the 8x8 digits with the labels randomly permuted (train and validation), "
     "Adam 1e-3, 20 epochs", "same with the true labels", ["no_learnable_signal"], "permuted labels -> true labels",
     "csvlogger", "json", dict(CNN, epochs=20), dict(shuffle_labels=True), dict(shuffle_labels=False))
spec("h10_digits_cnn_sgd_cosine", "digits10", "csv_index", "healthy", 10025,
     "conv net (aug, BN, dropout 0.3) on the 8x8 digits, SGD lr 0.05 momentum 0.9 with CosineDecay, 20 epochs, "
     "pandas table with its index column", **dict(CNN, opt="sgd", momentum=0.9, lr=0.05, schedule="cosine", epochs=20))
pair("digits_deep_sigmoid", "digits_flat10", 10013,
     "10 Dense(32, sigmoid) layers on the flat, standardized digits, SGD lr 0.05, up to 60 epochs with "
     "EarlyStopping(patience 4, restore best)", "same depth with relu and he_normal init", ["vanishing_gradients"],
     "sigmoid -> relu + he_normal", "csv_noepoch", "csvlogger",
     dict(MLP, hidden=[32] * 10, opt="sgd", lr=0.05, epochs=60, early_stop=4), dict(act="sigmoid"),
     dict(act="relu", init="he_normal"))

# --- 1-D spectra, swiss roll, a 90:7:3 table -----------------------------------------------------------
pair("spectra_plain_sgd", "spectra10", 10014,
     "the Conv1D spectra net (5 compounds), plain SGD lr 1e-3 (no momentum), up to 30 epochs with "
     "EarlyStopping(patience 3, restore best)", "same with Adam 1e-3", ["optimizer_choice", "learning_rate_too_low"],
     "SGD 1e-3 -> Adam 1e-3", "csvlogger", "csv_epochlast", dict(cb8.SPEC, epochs=30, early_stop=3),
     dict(opt="sgd"), dict(opt="adam"))
pair("swissroll_relu_out", "swissroll10", 10015,
     "MLP 64-64 on make_swiss_roll's position t (standardized) with a Dense(1, relu) output (the lower half "
     "unreachable), Adam 3e-3, ReduceLROnPlateau, 40 epochs", "same, linear output", ["output_activation_mismatch"],
     "output relu -> linear", "json", "csvlogger", dict(MLP, lr=3e-3, reduce_lr=True), dict(out="relu"), dict(out=None))
pair("imbalance_90_7_3", "imb10", 10016,
     "MLP 32 on a 3-class make_classification split 90:7:3 (12 features), no class weights, Adam 3e-3 with "
     "CosineDecay, 25 epochs (balanced accuracy)", "same with class_weight balanced", ["class_imbalance"],
     "class_weight none -> balanced", "csvlogger", "keras2_csv",
     dict(MLP, hidden=[32], lr=3e-3, schedule="cosine", epochs=25), dict(class_weight=False), dict(class_weight=True))


# ----------------------------------------------------------------------------------------
# The family dispatch
# ----------------------------------------------------------------------------------------


def _spectra_net(keras, p):
    """heldout8's Conv1D spectra net (corpus_build8.make_job["spectra"])."""
    L = keras.layers
    return keras.Sequential([
        keras.Input((160, 1)), L.Conv1D(16, 9, activation="relu"), L.MaxPooling1D(2),
        L.Conv1D(32, 7, activation="relu"), L.MaxPooling1D(2), L.Conv1D(32, 5, activation="relu"), L.MaxPooling1D(2),
        L.Flatten(), L.Dense(32, activation="relu"), L.Dense(5, activation="softmax")])


def make_job(s):
    import keras
    import numpy as np
    from sklearn import datasets

    p, fam = s.params, s.family
    L = keras.layers
    if fam == "emblems10":
        x, y = cb8._emblems(2000, 10801)
        tr, va = cb._split(len(y), 500, 101, stratify=y)
        if p.get("raw_pixels"):  # the images as 8-bit pixel values, never divided by 255
            x = np.round(x * 255.0).astype("float32")
        model = cb8._emblem_cnn(keras, p, cb._head(keras, "multiclass", 4, p))
        return cb.Job(model, x[tr], y[tr], x[va], y[va], "multiclass", 4, cb._default_loss("multiclass", p), ["accuracy"])
    if fam == "transfer_emblems10":
        xs, ys = cb8._emblems(1500, 10802, shapes=(0, 1, 4, 5))  # source: cross, ring, filled square, diamond
        base = cb._train_base(keras, "emblems4_10", xs, ys, 4, 10803)
        x, yy = cb8._emblems(450, 10804, shapes=(2, 3, 6, 7))  # target: triangle, X, two bars, L
        tr, va = cb._split(len(yy), 250, 102, stratify=yy)
        keras.utils.set_random_seed(s.seed)  # the head's init must not depend on whether the base was cached
        model = keras.Sequential([base, L.Dense(4, activation="softmax")])
        return cb.Job(model, x[tr], yy[tr], x[va], yy[va], "multiclass", 4, "sparse_categorical_crossentropy",
                      ["accuracy"], note="base trained 12 epochs on cross/ring/square/diamond (seed 10803), frozen")
    if fam == "imu10":
        return cb8.imu_job(keras, p, 10805, 103)
    if fam == "tickets10":
        x, y = cb8._tickets(3000, 10807)
        tr, va = cb._split(len(y), 800, 104, stratify=y)
        reg = cb._reg(keras, p)
        if p.get("model") == "conv":
            layers = [keras.Input((50,)), L.Embedding(200, 32), L.Conv1D(32, 3, activation="relu"),
                      L.GlobalMaxPooling1D()]
        else:
            layers = [keras.Input((50,)), L.Embedding(200, 16, embeddings_regularizer=reg), L.GlobalAveragePooling1D(),
                      L.Dense(16, activation="relu", kernel_regularizer=reg)]
        model = keras.Sequential(layers + [L.Dense(4, activation="softmax", kernel_regularizer=reg)])
        return cb.Job(model, x[tr], y[tr], x[va], y[va], "multiclass", 4, "sparse_categorical_crossentropy", ["accuracy"])
    if fam in ("concrete10", "solar10", "diabetes10", "swissroll10"):
        n_val = p.get("n_val", 600)
        if fam == "concrete10":
            x, y = cb8._concrete(2000 + n_val, 10810)
        elif fam == "solar10":
            x, y = cb8._solar(2000 + n_val, 10809)
        elif fam == "swissroll10":
            x, y = cb8._swissroll(2000 + n_val, 10811)
        else:
            d = datasets.load_diabetes()
            x, y, n_val = d.data, d.target.astype("float64"), 110
        tr, va = cb._split(len(y), n_val, 105, p.get("n_train", 2000))
        xtr, xva = cb._scale(x[tr], x[va])
        return cb8.regression_job(keras, x.shape[1], xtr, xva, y[tr], y[va], p, residual=fam == "solar10")
    if fam in ("wine10", "breast10", "iris10", "imb10", "digits_flat10"):
        if fam == "wine10":
            d = datasets.load_wine()
            x, y, k, n_val = d.data, d.target, 3, 36
        elif fam == "breast10":
            d = datasets.load_breast_cancer()
            x, y, k, n_val = d.data, d.target, 2, 60
        elif fam == "iris10":
            d = datasets.load_iris()
            x, y, k, n_val = d.data, d.target, 3, 30
        elif fam == "digits_flat10":
            d = datasets.load_digits()
            x, y, k, n_val = d.data / 16.0, d.target, 10, 450
        else:
            x, y = datasets.make_classification(n_samples=4000, n_features=12, n_informative=6, n_classes=3,
                                                weights=[0.90, 0.07, 0.03], flip_y=0.0, class_sep=1.0,
                                                random_state=10815)
            k, n_val = 3, 1000
        return cb8.tabular_job(keras, x, y, k, n_val, 106, p)
    if fam == "digits10":
        d = datasets.load_digits()
        x = (d.images[..., None] / 16.0).astype("float32")
        tr, va = cb._split(len(d.target), 450, 107, stratify=d.target)
        ytr, yva = d.target[tr], d.target[va]
        if p.get("shuffle_labels"):
            rng = np.random.default_rng(10812)
            ytr, yva = rng.permutation(ytr), rng.permutation(yva)
        model = cb._cnn(keras, (8, 8, 1), cb._head(keras, "multiclass", 10, p), p, flip=False)
        return cb.Job(model, x[tr], ytr, x[va], yva, "multiclass", 10, cb._default_loss("multiclass", p), ["accuracy"])
    if fam == "spectra10":
        x, y = cb8._spectra(2000, 10806)
        tr, va = cb._split(len(y), 500, 108, stratify=y)
        return cb.Job(_spectra_net(keras, p), x[tr], y[tr], x[va], y[va], "multiclass", 5,
                      "sparse_categorical_crossentropy", ["accuracy"])
    raise ValueError(fam)


cb.make_job = make_job
cb.SPECS[:] = SPECS  # the imported build/worker/console machinery reads cb.SPECS


if __name__ == "__main__":
    cb.main()

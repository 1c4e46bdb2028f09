"""Build the own half of the eighth held-out corpus (corpus/heldout8/): new seeds, data and variants.

    .venv/bin/python harness/corpus_build8.py build [--only ID ...] [--jobs 1]   # -> corpus/heldout8/logs, build/meta
    .venv/bin/python harness/corpus_build8.py list
    HELDOUT8_OUT=/tmp/h8 .venv/bin/python harness/corpus_build8.py build --jobs 1   # rebuild elsewhere, to compare

Same machinery as ``harness/corpus_build.py`` (imported: its ``Spec``, ``run_fit``, log writers,
process pool, frozen-base trainer and helpers), ``harness/corpus_build2.py`` (its MLP builder),
``harness/corpus_build6.py`` (imported for its writers: it chains corpus_build5's Keras 2 CSV,
pretty JSON and semicolon table, and adds the pandas index-column table; and its label-smoothing
cross-entropy) and ``harness/corpus_build7.py`` (imported for its optimizer chain, Lion included),
pointed at ``corpus/heldout8/`` and given its own ``SPECS``. New generators: 16x16 RGB "emblem"
images (a cross, ring, triangle or X in a random colour on a random dark background; two more
shapes for a frozen-base transfer), 3-axis accelerometer windows in milli-g (sitting, walking,
running, climbing stairs; the device held at a random tilt) for GRU / LSTM / Conv1D nets, 1-D
"spectra" whose class is the compound (3-4 characteristic peaks, shifted, on a sloping baseline),
"support ticket" token sequences (4 departments by their keywords; a rare "urgent" flag whose
words may be negated), a photovoltaic power table in raw physical units (irradiance W/m2, degC,
m/s, m2, degrees; power in W) for residual functional-API nets, concrete compressive strength
(Abrams' law with age, MPa from kg/m3 and days), and scikit-learn's make_swiss_roll (no earlier
corpus used it: the position along the roll as a regression, its quarter as a 4-class task).
New in the fits: functional-API residual MLPs with BatchNormalization, GaussianNoise input
layers, a user's ``LearningRateScheduler`` (a step decay, and a fault: halving every epoch),
``EarlyStopping`` with patience 1, RMSprop with momentum, Ftrl at its default rate, kernels
initialised to ones, an MSLE loss on a standardized target, a tanh output, label smoothing.
No new writer. Nothing here imports or runs the doctor; labels come from ``corpus/make_labels8.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_build as cb  # noqa: E402
import corpus_build2 as cb2  # noqa: E402  (its MLP builder)
import corpus_build6 as cb6  # noqa: E402,F401  (patches cb's writers and optimizers; its smoothed_cce)
import corpus_build7 as cb7  # noqa: E402,F401  (patches cb's optimizers with Lion; re-pointed below)

ROOT = cb.ROOT
# HELDOUT8_OUT: build somewhere else (e.g. to check that a rebuild repeats the logs); default the corpus itself
H8 = Path(os.environ["HELDOUT8_OUT"]).resolve() if os.environ.get("HELDOUT8_OUT") else ROOT / "corpus" / "heldout8"
cb.point_at(H8, __file__)

SPECS: list = []
spec, pair = cb.spec_writers(SPECS, "h8_")

EMB = dict(aug=False, bn=False, opt="adam", lr=1e-3, batch=32, epochs=15)
IMU = dict(rnn="gru", opt="adam", lr=2e-3, batch=32, epochs=20)
SPEC = dict(opt="adam", lr=1e-3, batch=32, epochs=15)
TIX = dict(opt="adam", lr=2e-3, batch=32, epochs=15)
RES = dict(width=64, blocks=3, opt="adam", lr=1e-3, batch=32, epochs=30)
MLP = dict(hidden=[64, 64], act="relu", opt="adam", lr=1e-3, batch=32, epochs=30)

# --- CNN on 16x16 RGB emblems (cross / ring / triangle / X in a random colour) --------------------
pair("emblems_adamw_lr_high", "emblems", 8001,
     "conv net (no BN) on 16x16 RGB emblems (4 shapes in random colours on random dark backgrounds), AdamW lr 0.05 "
     "(weight decay 1e-4), 15 epochs", "same, AdamW lr 1e-3", ["learning_rate_too_high"], "AdamW lr 0.05 -> 1e-3",
     "csvlogger", "console_v1_pipe", dict(EMB, opt="adamw"), dict(lr=0.05), dict(lr=1e-3))
pair("emblems_overfit_small", "emblems", 8002,
     "conv net (no BN, no augmentation) with a Dense(512) head on 120 training emblems (600 validation), Adam 3e-3, "
     "60 epochs", "same, EarlyStopping(val_loss, patience 5, restore_best_weights)", ["overfitting"],
     "added EarlyStopping(patience 5, restore best)", "json", "csvlogger",
     dict(EMB, n_train=120, head=512, lr=3e-3, epochs=60), {}, dict(early_stop=5))
spec("h8_emblems_bn_reduce_lr", "emblems", "console_v2_pipe", "healthy", 8020,
     "conv net with BatchNormalization, flip/rotate augmentation and dropout 0.3 on the emblems, Adam 2e-3, "
     "ReduceLROnPlateau(verbose=1), 20 epochs, verbose=2 to a file",
     **dict(EMB, aug=True, bn=True, dropout=0.3, lr=2e-3, reduce_lr=True, epochs=20))

# --- frozen conv base trained on four emblem shapes; a head on two new ones ------------------------
pair("transfer_emblems_full_batch", "transfer_emblems", 8003,
     "frozen conv base (trained on the 4 emblem shapes), softmax head on 4 new shapes (square, diamond, bars, L) with "
     "batch 200 = all 200 training rows (one update per epoch), Adam 3e-3, 25 epochs", "same, batch 16",
     ["too_few_updates"], "batch 200 -> 16", "csv_noepoch", "csvlogger_crlf2", dict(opt="adam", lr=3e-3, epochs=25),
     dict(batch=200),
     dict(batch=16))
spec("h8_transfer_emblems_small_val", "transfer_emblems", "keras2_csv", "healthy", 8021,
     "frozen emblem base, softmax head on the 4 new shapes, 200 training / 50 validation rows, "
     "Nadam 3e-3, 40 epochs, batch 16", **dict(opt="nadam", lr=3e-3, epochs=40, batch=16, n_val=50))

# --- accelerometer windows (64 steps x 3 axes in milli-g; sit / walk / run / stairs) ----------------
pair("imu_gru_raw_millig", "imu", 8004,
     "GRU(32) on 3-axis accelerometer windows fed in raw milli-g (gravity about 1000), Adam 2e-3, 20 epochs",
     "same with the channels standardized", ["unscaled_features"], "raw milli-g -> standardized",
     "csvlogger", "csv_epochlast", IMU, dict(raw=True), dict(raw=False))
pair("imu_lstm_patience1", "imu", 8005,
     "LSTM(32) on the standardized accelerometer windows, Adam 1e-3, up to 40 epochs with "
     "EarlyStopping(val_loss, patience 1, restore best) on 50 validation rows", "same, patience 10",
     ["too_few_epochs"], "EarlyStopping patience 1 -> 10", "console_v1_pty", "json_pretty",
     dict(IMU, rnn="lstm", lr=1e-3, epochs=40, n_val=50), dict(early_stop=1), dict(early_stop=10))
spec("h8_imu_conv1d_nadam_early_stop", "imu", "console_v1_pty", "healthy", 8022,
     "Conv1D(32,5)-Conv1D(64,5)-GAP net on the standardized accelerometer windows, Nadam 1e-3, up to 30 epochs, "
     "EarlyStopping(patience 4, restore_best_weights), verbose=1 through a pty",
     **dict(IMU, rnn="conv", opt="nadam", lr=1e-3, epochs=30, early_stop=4))

# --- 1-D spectra (5 compounds by their peaks) -------------------------------------------------------
pair("spectra_ones_init", "spectra", 8006,
     "Conv1D(16,9)-Conv1D(32,7)-Conv1D(32,5)-Flatten-Dense(32) net on 160-point spectra (5 compounds) with "
     "kernel_initializer='ones' on every layer, Adam 1e-3, 15 epochs", "same with glorot_uniform",
     ["bad_initialization"], "kernel init ones -> glorot_uniform",
     "csv_semicolon", "csvlogger", SPEC, dict(init="ones"), dict(init="glorot_uniform"))
pair("spectra_lr_halving", "spectra", 8007,
     "the Conv1D spectra net, SGD lr 1e-3 momentum 0.9 with LearningRateScheduler(lambda epoch, lr: lr * 0.5) "
     "(the rate halves every epoch), 25 epochs", "same, lr * 0.95 per epoch", ["learning_rate_too_low"],
     "schedule lr*0.5 -> lr*0.95 per epoch", "csvlogger", "csv_index",
     dict(SPEC, opt="sgd", momentum=0.9, lr=1e-3, epochs=25), dict(lr_factor=0.5), dict(lr_factor=0.95))
spec("h8_spectra_rmsprop_momentum", "spectra", "csv_index", "healthy", 8023,
     "the Conv1D spectra net, RMSprop lr 1e-3 momentum 0.9, 15 epochs, pandas table with its index column",
     **dict(SPEC, opt="rmsprop", momentum=0.9))

# --- "support tickets": department by keywords; a rare urgent flag ------------------------------------
pair("tickets_urgent_rare", "tickets_urgent", 8008,
     "Embedding(16) + GlobalAveragePooling + Dense(16) on tickets, 5% urgent (urgent words may be negated), no class "
     "weights, Adam 2e-3, 20 epochs (balanced accuracy)", "same with class_weight balanced", ["class_imbalance"],
     "class_weight none -> balanced", "csvlogger", "json", dict(TIX, epochs=20), dict(class_weight=False),
     dict(class_weight=True))
pair("tickets_ftrl_default", "tickets", 8009,
     "Embedding(16) + GRU(16) on tickets (4 departments), optimizer='ftrl' (Keras default lr 1e-3), 20 epochs",
     "same with Adam 3e-3", ["optimizer_choice"], "Ftrl (default) -> Adam 3e-3", "console_v2_pipe", "csvlogger",
     dict(TIX, rnn=True, epochs=20), dict(opt="ftrl", lr=1e-3), dict(opt="adam", lr=3e-3))
spec("h8_tickets_conv_label_smoothing", "tickets", "csv_noepoch", "healthy", 8024,
     "Embedding(16) + Conv1D(32,3) + GlobalMaxPool on tickets, categorical cross-entropy with label_smoothing 0.1, "
     "SGD lr 0.05 momentum 0.9, 20 epochs", **dict(TIX, opt="sgd", momentum=0.9, lr=0.05, smoothing=True, epochs=20))

# --- photovoltaic power in W (raw physical units), residual functional-API MLPs -----------------------
pair("solar_raw_watts", "solar", 8010,
     "residual MLP (Dense(64) + 3 residual blocks, functional API) on a PV table (inputs standardized), MSE on the power "
     "left in watts (0 to about 8000), SGD lr 0.01 momentum 0.9, 30 epochs",
     "same with the target standardized (R2 read in W)", ["unscaled_target"], "target W -> standardized",
     "csvlogger_crlf2", "csvlogger", dict(RES, opt="sgd", momentum=0.9, lr=0.01), dict(scale_y=False),
     dict(scale_y=True))
pair("solar_tanh_out", "solar", 8011,
     "the residual MLP with a Dense(1, tanh) output on the standardized power (values above 1 standard deviation "
     "unreachable), Adam 1e-3, 30 epochs", "same, linear output", ["output_activation_mismatch"], "output tanh -> linear",
     "json", "keras2_csv", RES, dict(out="tanh"), dict(out=None))
spec("h8_solar_resnet_adamw_large_val", "solar", "csvlogger", "healthy", 8025,
     "the residual MLP with BatchNormalization, AdamW 2e-3 (weight decay 1e-4) with a LearningRateScheduler step decay "
     "(x0.5 every 8 epochs, logged as `learning_rate`), 2000 training / 8000 validation rows, batch 64, 30 epochs",
     **dict(RES, bn=True, opt="adamw", lr=2e-3, lr_step=8, n_val=8000, batch=64))

# --- concrete compressive strength (MPa) -------------------------------------------------------------
pair("concrete_msle_std_target", "concrete", 8012,
     "MLP 64-64 on concrete mixes (inputs standardized) with loss='mean_squared_logarithmic_error' on the standardized "
     "strength (half the targets are negative, which MSLE clips to 0), Adam 1e-3, 50 epochs", "same with loss='mse'",
     ["loss_mismatch"], "loss msle -> mse", "csv_epochlast", "json_pretty", dict(MLP, epochs=50), dict(loss="msle"),
     dict(loss=None))
spec("h8_concrete_huber_nadam", "concrete", "json_pretty", "healthy", 8026,
     "residual MLP (functional API) on concrete strength with Huber loss on the standardized target, Nadam 1e-3, "
     "30 epochs", **dict(RES, model="res", loss="huber", opt="nadam"))

# --- make_swiss_roll: position along the roll (regression) and its quarter (4 classes) -----------------
pair("swissroll_linear", "swissroll", 8013,
     "one Dense(1) layer (linear regression in Keras) on make_swiss_roll's position t from (x, y, z) and 3 distractors, "
     "Adam 1e-2, 30 epochs", "MLP 64-64", ["insufficient_capacity"], "no hidden layer -> 64-64", "csvlogger",
     "csv_semicolon", dict(MLP, lr=1e-2), dict(hidden=[]), dict(hidden=[64, 64]))
pair("swissroll_gaussian_noise_heavy", "swissroll", 8015,
     "MLP 64-64 with a GaussianNoise(1.0) input layer (the noise as large as the standardized coordinates) on the "
     "swiss-roll position, Adam 1e-2, 30 epochs", "same, GaussianNoise(0.05)", ["too_strong_regularization"],
     "GaussianNoise 1.0 -> 0.05", "csv_index", "console_v1_pipe", dict(MLP, lr=1e-2), dict(noise=1.0), dict(noise=0.05))
spec("h8_swissroll_sgd_momentum", "swissroll", "csv_epochlast", "healthy", 8027,
     "MLP 64-64 on the swiss-roll position, SGD lr 0.01 momentum 0.9, 40 epochs, 60 validation rows",
     **dict(MLP, opt="sgd", momentum=0.9, lr=0.01, epochs=40, n_val=60))
pair("roll4_deep_sigmoid_plain", "roll4", 8014,
     "12 Dense(32, sigmoid) layers stacked plainly (functional API) on the swiss roll's quarter (4 classes), SGD lr 0.05 "
     "momentum 0.9, 30 epochs", "same 12 sigmoid layers with residual (identity) skip connections",
     ["vanishing_gradients"], "plain -> residual skips", "keras2_csv", "csvlogger",
     dict(RES, model="res", width=32, blocks=12, act="sigmoid", opt="sgd", momentum=0.9, lr=0.05),
     dict(residual=False), dict(residual=True))
spec("h8_roll4_bn_adamax", "roll4", "json", "healthy", 8028,
     "residual MLP with BatchNormalization on the swiss-roll quarter task, Adamax 2e-3, 20 epochs",
     **dict(RES, model="res", bn=True, opt="adamax", lr=2e-3, epochs=20))


# ----------------------------------------------------------------------------------------
# New data
# ----------------------------------------------------------------------------------------


def _emblems(n, seed, shapes=(0, 1, 2, 3), size=16):
    """16x16x3 images in [0, 1]: one shape (0 cross, 1 ring, 2 filled triangle, 3 X, 4 filled square, 5 diamond
    outline, 6 two parallel bars, 7 an L) of radius 3-6 in a random bright colour at a random place, on a random dark
    background with noise.
    Returns images and the index of the shape in ``shapes``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    y = rng.integers(0, len(shapes), n)
    x = np.zeros((n, size, size, 3), "float32")
    for i in range(n):
        s = shapes[y[i]]
        r = rng.uniform(3.5, 6.5)
        cy, cx = rng.uniform(r - 1, size - r, 2)
        dy, dx = yy - cy, xx - cx
        ay, ax = np.abs(dy), np.abs(dx)
        if s == 0:
            m = ((ay <= 1) & (ax <= r)) | ((ax <= 1) & (ay <= r))
        elif s == 1:
            d = np.hypot(dy, dx)
            m = (d <= r) & (d >= r - 1.6)
        elif s == 2:
            m = (dy >= -r) & (dy <= r * 0.8) & (ax <= (dy + r) * 0.55)
        elif s == 3:
            m = (np.abs(ay - ax) <= 0.9) & (np.maximum(ay, ax) <= r * 0.8)
        elif s == 4:
            m = np.maximum(ay, ax) <= r * 0.7
        elif s == 5:
            m = (ay + ax <= r) & (ay + ax >= r - 1.6)
        elif s == 6:
            m = (np.abs(ay - r * 0.45) <= 0.8) & (ax <= r * 0.8)
        else:
            k = r * 0.7
            m = (((dx >= -k) & (dx <= -k + 1.6) & (ay <= k)) | ((dy >= k - 1.6) & (dy <= k) & (ax <= k)))
        bg = rng.uniform(0.0, 0.35, 3)
        fg = rng.uniform(0.3, 1.0, 3)
        fg[rng.integers(0, 3)] = rng.uniform(0.85, 1.0)  # one bright channel
        img = np.where(m[..., None], fg, bg)
        x[i] = img + rng.normal(0, 0.08, img.shape)
    return np.clip(x, 0, 1).astype("float32"), y


def _imu(n, seed, length=64, hz=20.0):
    """3-axis accelerometer windows (64 steps at 20 Hz) in milli-g, the device at a random tilt (gravity spread over the
    axes). 0 sitting (small sway), 1 walking (1.6-2.1 Hz steps, 150-300 mg), 2 running (2.4-3.2 Hz, 500-900 mg, sharp
    peaks), 3 climbing stairs (1.3-1.7 Hz, 250-400 mg, a forward tilt that grows and a second harmonic)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(length) / hz
    y = rng.integers(0, 4, n)
    x = np.zeros((n, length, 3), "float32")
    for i in range(n):
        c = y[i]
        ph = rng.uniform(0, 2 * np.pi)
        if c == 0:
            f, a = rng.uniform(0.2, 0.5), rng.uniform(10, 40)
            body = np.stack([0.3 * a * np.sin(2 * np.pi * f * t + ph), 0.3 * a * np.cos(2 * np.pi * f * t),
                             a * np.sin(2 * np.pi * 0.7 * f * t)], 1)
        elif c == 1:
            f, a = rng.uniform(1.6, 2.1), rng.uniform(150, 300)
            s = np.sin(2 * np.pi * f * t + ph)
            body = np.stack([0.35 * a * np.sin(np.pi * f * t + ph), 0.25 * a * np.cos(2 * np.pi * f * t + ph), a * s], 1)
        elif c == 2:
            f, a = rng.uniform(2.4, 3.2), rng.uniform(500, 900)
            s = np.sin(2 * np.pi * f * t + ph)
            s = np.sign(s) * np.abs(s) ** 0.5
            body = np.stack([0.4 * a * np.sin(np.pi * f * t + ph), 0.3 * a * np.cos(2 * np.pi * f * t + ph), a * s], 1)
        else:
            f, a = rng.uniform(1.3, 1.7), rng.uniform(250, 400)
            s = np.sin(2 * np.pi * f * t + ph) + 0.5 * np.sin(4 * np.pi * f * t + 2 * ph)
            body = np.stack([0.3 * a * np.sin(np.pi * f * t + ph) + 120 * t / t[-1], 0.2 * a * np.cos(2 * np.pi * f * t),
                             a * s], 1)
        # gravity (1000 mg) along a random tilt of the device, plus the body motion rotated the same way
        th, phi = rng.uniform(0, 0.6), rng.uniform(0, 2 * np.pi)
        g = 1000 * np.array([np.sin(th) * np.cos(phi), np.sin(th) * np.sin(phi), np.cos(th)])
        ang = rng.uniform(-0.5, 0.5)
        rot = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
        x[i] = g + body @ rot.T + rng.normal(0, 40, (length, 3))
    return x, y


PEAKS = [(30, 62, 118), (34, 80, 101, 140), (45, 70, 125), (30, 88, 118, 150), (52, 62, 96)]


def _spectra(n, seed, length=160):
    """Spectra of 5 compounds: each has 3-4 Gaussian peaks at fixed positions (shared positions between compounds),
    shifted together by +-4 points, widths 2-4, heights 0.4-1; a sloping baseline, 0-2 impurity peaks and noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(length, dtype=float)
    y = rng.integers(0, len(PEAKS), n)
    x = np.zeros((n, length), "float32")
    for i in range(n):
        sh = rng.uniform(-4, 4)
        sig = sum(rng.uniform(0.4, 1.0) * np.exp(-0.5 * ((t - p - sh) / rng.uniform(2, 4)) ** 2) for p in PEAKS[y[i]])
        for _ in range(rng.integers(0, 3)):
            sig = sig + rng.uniform(0.2, 0.6) * np.exp(-0.5 * ((t - rng.uniform(10, 150)) / rng.uniform(2, 5)) ** 2)
        base = rng.uniform(-0.3, 0.3) + rng.uniform(-0.4, 0.4) * t / length
        x[i] = sig + base + rng.normal(0, 0.08, length)
    return x[..., None], y


DEPTS = 4
KEYS = [list(range(2 + 12 * d, 14 + 12 * d)) for d in range(DEPTS)]  # 2..49: 12 keywords per department
URGENT = list(range(50, 58))  # "urgent" words; token 1 is "not"/"no"; 58..199 neutral words; 0 padding


def _tickets(n, seed, length=50, urgent_share=None):
    """Support tickets of 20-50 tokens: 2-4 keywords of their department, 0-1 of another one, neutral words.
    ``urgent_share``: binary, class 1 (that share of tickets) holds two urgent words not preceded by 'not'; the others
    hold an urgent word after 'not' in 40% of tickets. Otherwise class = department (4), 6% of labels random."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.zeros((n, length), int)
    y = np.zeros(n, int)
    for i in range(n):
        m = rng.integers(20, length + 1)
        row = rng.integers(58, 200, m)
        d = rng.integers(0, DEPTS)
        pos = rng.choice(np.arange(2, m, 2), 7, replace=False)  # even places: a 'not' before one never hits another
        k = rng.integers(2, 5)
        row[pos[:k]] = rng.choice(KEYS[d], k)
        other = rng.integers(0, 2)
        row[pos[k:k + other]] = rng.choice(KEYS[(d + rng.integers(1, DEPTS)) % DEPTS], other)
        if urgent_share is not None:
            urgent = rng.random() < urgent_share
            if urgent:
                row[pos[5:7]] = rng.choice(URGENT, 2)
            elif rng.random() < 0.4:
                row[pos[5]], row[pos[5] - 1] = rng.choice(URGENT), 1
            y[i] = int(urgent)
        else:
            y[i] = d if rng.random() > 0.06 else rng.integers(0, DEPTS)
        x[i, :m] = row
    return x, y


def _solar(n, seed):
    """A photovoltaic table in raw units: plane-of-array irradiance (W/m2), ambient temperature (degC), wind (m/s),
    module area (m2), tilt (deg), hour of day, a site id; power (W) = area x 0.19 x irradiance x (1 - 0.0045 (T_cell -
    25)) with T_cell = T_amb + irradiance (0.034 - 0.0025 wind), clipped by an inverter rated 0.85 x the peak, 2% noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    hour = rng.uniform(6, 20, n)
    clear = 1050 * np.clip(np.sin(np.pi * (hour - 6) / 14), 0, None)
    irr = clear * rng.beta(4, 1.5, n)
    tamb = rng.uniform(-5, 38, n)
    wind = rng.gamma(2, 1.5, n)
    area = rng.uniform(8, 40, n)
    tilt = rng.uniform(10, 45, n)
    eff = 0.19 * (1 - 0.0045 * (tamb + irr * (0.034 - 0.0025 * wind) - 25)) * (1 - 0.002 * np.abs(tilt - 30))
    p = np.minimum(area * irr * eff, 0.85 * area * 0.19 * 1000) * rng.normal(1, 0.02, n)
    x = np.column_stack([irr, tamb, wind, area, tilt, hour, rng.integers(1, 60, n)])
    return x, p


def _concrete(n, seed):
    """Concrete mixes in kg/m3 (cement, slag, fly ash, water, superplasticizer, coarse and fine aggregate) and age
    (days); strength (MPa) by Abrams' law on the water / binder ratio times an age factor, 6% noise."""
    import numpy as np

    rng = np.random.default_rng(seed)
    cement = rng.uniform(100, 540, n)
    slag = np.where(rng.random(n) < 0.5, rng.uniform(0, 300, n), 0)
    ash = np.where(rng.random(n) < 0.4, rng.uniform(0, 200, n), 0)
    water = rng.uniform(120, 240, n)
    sp = np.where(rng.random(n) < 0.6, rng.uniform(1, 30, n), 0)
    coarse, fine = rng.uniform(800, 1150, n), rng.uniform(590, 990, n)
    age = rng.choice([1, 3, 7, 14, 28, 56, 90, 180, 365], n)
    binder = cement + 0.7 * slag + 0.35 * ash
    wb = water * (1 - 0.008 * sp) / binder
    s28 = 105 * np.exp(-2.0 * wb)
    strength = s28 * age / (3.5 + 0.88 * age) * rng.normal(1, 0.06, n)
    return np.column_stack([cement, slag, ash, water, sp, coarse, fine, age]), strength


def _swissroll(n, seed):
    """make_swiss_roll (noise 0.4): the 3 coordinates and 3 N(0, 1) distractors; the position t (about 4.7 to 14.1)."""
    import numpy as np
    from sklearn import datasets

    x, t = datasets.make_swiss_roll(n_samples=n, noise=0.4, random_state=seed)
    rng = np.random.default_rng(seed)
    return np.column_stack([x, rng.normal(0, 1, (n, 3))]), t


# ----------------------------------------------------------------------------------------
# Models and the family dispatch
# ----------------------------------------------------------------------------------------


def _emblem_cnn(keras, p, head):
    L = keras.layers
    init = p.get("init", "glorot_uniform")
    layers = [keras.Input((16, 16, 3))]
    if p.get("aug"):  # a flip or a right-angle turn keeps every shape's class
        layers += [L.RandomFlip("horizontal_and_vertical"), L.RandomRotation(0.25, fill_mode="constant")]
    for f in (16, 32):
        layers.append(L.Conv2D(f, 3, padding="same", activation="relu", kernel_initializer=init))
        if p.get("bn"):
            layers.append(L.BatchNormalization())
        layers.append(L.MaxPooling2D(2))
    layers.append(L.Conv2D(64, 3, padding="same", activation="relu", kernel_initializer=init))
    if p.get("head"):
        layers += [L.Flatten(), L.Dense(p["head"], activation="relu")]
    else:
        layers.append(L.GlobalAveragePooling2D())
    if p.get("dropout"):
        layers.append(L.Dropout(p["dropout"]))
    return keras.Sequential(layers + [head])


def _resmlp(keras, n_in, task, k, p):
    """Functional-API MLP: Dense(width) then ``blocks`` blocks Dense(width) (+ BatchNormalization), each added to its
    input when ``residual`` (the default), then the task's head."""
    L = keras.layers
    act, init = p.get("act", "relu"), p.get("init", "glorot_uniform")
    inp = keras.Input((n_in,))
    h = L.GaussianNoise(p["noise"])(inp) if p.get("noise") else inp
    h = L.Dense(p["width"], activation=act, kernel_initializer=init)(h)
    for _ in range(p["blocks"]):
        z = L.Dense(p["width"], activation=None if p.get("bn") else act, kernel_initializer=init)(h)
        if p.get("bn"):
            z = L.Activation(act)(L.BatchNormalization()(z))
        h = L.Add()([h, z]) if p.get("residual", True) else z
    return keras.Model(inp, cb._head(keras, task, k, p)(h))


def _mlp(keras, n_in, task, k, p):
    """corpus_build2's MLP, with an optional GaussianNoise input layer."""
    model = cb2._dense_mlp(keras, n_in, task, k, p)
    if p.get("noise"):
        L = keras.layers
        model = keras.Sequential([keras.Input((n_in,)), L.GaussianNoise(p["noise"])] + model.layers)
    return model


def _with_callbacks(keras, model, p):
    """A user's LearningRateScheduler, placed before the run's other callbacks (so CSVLogger and History see its
    ``learning_rate``): ``lr_factor`` multiplies the rate every epoch, ``lr_step`` halves it every that many epochs."""
    cbs = []
    if p.get("lr_factor"):
        f = p["lr_factor"]
        cbs.append(keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * f if epoch > 0 else lr))
    if p.get("lr_step"):
        n = p["lr_step"]
        cbs.append(keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 and epoch % n == 0 else lr))
    if cbs:
        fit = model.fit

        def fit_with(*args, callbacks=None, **kw):
            return fit(*args, callbacks=cbs + list(callbacks or []), **kw)

        object.__setattr__(model, "fit", fit_with)
    return model


def make_job(s):
    import keras
    import numpy as np

    p, fam = s.params, s.family
    L = keras.layers
    if fam == "emblems":
        x, y = _emblems(2000, 8801)
        # the same 2000 images for every emblem fit: validation = the last 600, training = the first n_train
        n_tr = p.get("n_train", 1400)
        model = _emblem_cnn(keras, p, cb._head(keras, "multiclass", 4, p))
        return cb.Job(model, x[:n_tr], y[:n_tr], x[-600:], y[-600:], "multiclass", 4,
                      cb._default_loss("multiclass", p), ["accuracy"])
    if fam == "transfer_emblems":
        xs, ys = _emblems(1500, 8802)  # the source task: the 4 shapes
        base = cb._train_base(keras, "emblems4", xs, ys, 4, 8803)
        x, yy = _emblems(200 + 250, 8804, shapes=(4, 5, 6, 7))  # the target task on new images: 4 new shapes
        n_val = p.get("n_val", 250)
        keras.utils.set_random_seed(s.seed)  # the head's init must not depend on whether the base was cached
        model = keras.Sequential([base, L.Dense(4, activation="softmax")])
        return cb.Job(model, x[:200], yy[:200], x[-n_val:], yy[-n_val:], "multiclass", 4,
                      "sparse_categorical_crossentropy", ["accuracy"],
                      note="base trained 12 epochs on the 4 emblem shapes (seed 8803), frozen")
    if fam == "imu":
        return imu_job(keras, p, 8805, 81)
    if fam == "spectra":
        x, y = _spectra(2000, 8806)
        init = p.get("init", "glorot_uniform")
        model = _with_callbacks(keras, keras.Sequential([
            keras.Input((160, 1)), L.Conv1D(16, 9, activation="relu", kernel_initializer=init), L.MaxPooling1D(2),
            L.Conv1D(32, 7, activation="relu", kernel_initializer=init), L.MaxPooling1D(2),
            L.Conv1D(32, 5, activation="relu", kernel_initializer=init), L.MaxPooling1D(2), L.Flatten(),
            L.Dense(32, activation="relu", kernel_initializer=init),
            L.Dense(5, activation="softmax", kernel_initializer=init)]), p)
        return cb.Job(model, x[:1500], y[:1500], x[1500:], y[1500:], "multiclass", 5, "sparse_categorical_crossentropy",
                      ["accuracy"])
    if fam in ("tickets", "tickets_urgent"):
        x, y = _tickets(3000, 8807) if fam == "tickets" else _tickets(4000, 8808, urgent_share=0.05)
        k = 4 if fam == "tickets" else 2
        layers = [keras.Input((50,)), L.Embedding(200, 16)]
        if p.get("rnn"):
            layers.append(L.GRU(16))
        elif fam == "tickets":
            layers += [L.Conv1D(32, 3, activation="relu"), L.GlobalMaxPooling1D()]
        else:
            layers += [L.GlobalAveragePooling1D(), L.Dense(16, activation="relu")]
        layers.append(L.Dense(1, activation="sigmoid") if k == 2 else L.Dense(k, activation="softmax"))
        loss = cb6.smoothed_cce if p.get("smoothing") else ("binary_crossentropy" if k == 2 else
                                                            "sparse_categorical_crossentropy")
        tr, va = cb._split(len(y), 800, 82, stratify=y)
        return cb.Job(keras.Sequential(layers), x[tr], y[tr], x[va], y[va], "binary" if k == 2 else "multiclass", k,
                      loss, ["accuracy"])
    if fam in ("solar", "concrete", "swissroll"):
        n_val = p.get("n_val", 600)
        if fam == "solar":
            x, y = _solar(2000 + n_val, 8809)
        elif fam == "concrete":
            x, y = _concrete(2400, 8810)
        else:
            x, y = _swissroll(2000 + n_val, 8811)
        tr, va = cb._split(len(y), n_val, 83, 2000)
        xtr, xva = cb._scale(x[tr], x[va])
        m, sd = (float(y[tr].mean()), float(y[tr].std())) if p.get("scale_y", True) else (0.0, 1.0)
        if p.get("model", "res" if fam == "solar" else "mlp") == "res":
            model = _resmlp(keras, x.shape[1], "regression", None, p)
        else:
            model = _mlp(keras, x.shape[1], "regression", None, p)
        return cb.Job(_with_callbacks(keras, model, p), xtr, ((y[tr] - m) / sd).astype("float32"), xva,
                      ((y[va] - m) / sd).astype("float32"), "regression", None, p.get("loss") or "mse", ["mae"],
                      y_mean=m, y_std=sd)
    if fam == "roll4":
        x, t = _swissroll(2800, 8812)
        y = np.digitize(t, np.quantile(t, [0.25, 0.5, 0.75]))  # the quarter of the roll
        tr, va = cb._split(len(y), 800, 84, stratify=y)
        xtr, xva = cb._scale(x[tr], x[va])
        model = (_resmlp if p.get("model") == "res" else _mlp)(keras, x.shape[1], "multiclass", 4, p)
        return cb.Job(model, xtr, y[tr], xva, y[va], "multiclass", 4, "sparse_categorical_crossentropy", ["accuracy"])
    raise ValueError(fam)


def imu_job(keras, p, data_seed, split_seed):
    """The accelerometer task as every corpus from heldout8 on fits it: 1900 windows, ``n_val`` (500)
    validation rows, at most 1400 training rows, channels standardized on the training rows
    (unless ``raw``), a Conv1D stack (``rnn="conv"``), a GRU or an LSTM, and a softmax over 4 activities."""
    L = keras.layers
    x, y = _imu(1900, data_seed)
    tr, va = cb._split(len(y), p.get("n_val", 500), split_seed, 1400, stratify=y)
    xtr, xva = x[tr], x[va]
    if not p.get("raw"):
        m, sd = xtr.reshape(-1, 3).mean(0), xtr.reshape(-1, 3).std(0)
        xtr, xva = ((xtr - m) / sd).astype("float32"), ((xva - m) / sd).astype("float32")
    if p["rnn"] == "conv":
        layers = [keras.Input((64, 3)), L.Conv1D(32, 5, activation="relu"), L.MaxPooling1D(2),
                  L.Conv1D(64, 5, activation="relu"), L.GlobalAveragePooling1D()]
    else:
        layers = [keras.Input((64, 3)), (L.GRU if p["rnn"] == "gru" else L.LSTM)(32)]
    model = keras.Sequential(layers + [L.Dense(4, activation="softmax")])
    return cb.Job(model, xtr, y[tr], xva, y[va], "multiclass", 4, "sparse_categorical_crossentropy", ["accuracy"])


def tabular_job(keras, x, y, k, n_val, split_seed, p):
    """A table's classes as heldout9 and heldout10 fit them: a stratified split, features standardized
    on the training rows, the MLP of ``p`` with the task's output."""
    tr, va = cb._split(len(y), n_val, split_seed, stratify=y)
    xtr, xva = cb._scale(x[tr], x[va])
    task = "binary" if k == 2 else "multiclass"
    return cb.Job(_mlp(keras, x.shape[1], task, k, p), xtr, y[tr], xva, y[va], task, k, cb._default_loss(task, p),
                  ["accuracy"])


def regression_job(keras, n_in, xtr, xva, ytr, yva, p, residual):
    """A regression as heldout9 and heldout10 fit it: the target standardized on the training rows
    (unless ``scale_y`` is false), the residual MLP or the MLP of ``p``, MSE unless ``loss`` says."""
    m, sd = (float(ytr.mean()), float(ytr.std())) if p.get("scale_y", True) else (0.0, 1.0)
    model = (_resmlp if residual else _mlp)(keras, n_in, "regression", None, p)
    return cb.Job(model, xtr, ((ytr - m) / sd).astype("float32"), xva, ((yva - m) / sd).astype("float32"),
                  "regression", None, p.get("loss") or "mse", ["mae"], y_mean=m, y_std=sd)


# ----------------------------------------------------------------------------------------
# Ftrl and RMSprop with momentum (new in this corpus); everything else goes to the earlier builds' optimizers
# ----------------------------------------------------------------------------------------

_PREVIOUS_OPTIMIZER = cb._optimizer  # corpus_build7's (Lion), itself wrapping corpus_build6's and corpus_build's


def _optimizer(keras, p, steps_per_epoch):
    if p.get("opt") == "ftrl":
        return keras.optimizers.Ftrl(learning_rate=p.get("lr", 1e-3))
    if p.get("opt") == "rmsprop" and p.get("momentum"):
        return keras.optimizers.RMSprop(learning_rate=p.get("lr", 1e-3), momentum=p["momentum"])
    return _PREVIOUS_OPTIMIZER(keras, p, steps_per_epoch)


cb.make_job = make_job
cb._optimizer = _optimizer
cb.SPECS[:] = SPECS  # the imported build/worker/console machinery reads cb.SPECS


if __name__ == "__main__":
    cb.main()

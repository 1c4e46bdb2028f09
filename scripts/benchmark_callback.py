"""What DoctorCallback costs per epoch: the same fit with it and without it, side by side.

A Dense 64-32 network on a 50,000-row synthetic table (20 features, batch 32), fitted for a
few epochs in this process, alternately without and with the callback (after a warm-up
fit, so graph tracing is paid once). Prints seconds per epoch for both and their ratio;
issue 10 asks for a ratio of at most 1.10. The one-time cost at train end (diagnosis,
report with plots, Parquet) is measured apart: it is paid once per fit, not per epoch.

    .venv/bin/python scripts/benchmark_callback.py [--rows 50000] [--epochs 3] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def make_model(keras, features: int):
    model = keras.Sequential([
        keras.Input((features,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def fit_seconds(keras, data, epochs: int, callback=None) -> float:
    x, y, xv, yv = data
    keras.utils.set_random_seed(0)
    model = make_model(keras, x.shape[1])
    started = time.perf_counter()
    model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=32, verbose=0,
              callbacks=[callback] if callback is not None else [])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import keras
    from sklearn.datasets import make_classification

    from plateau_doctor.keras import DoctorCallback

    class TimedDoctor(DoctorCallback):
        """Also sums the time spent inside the doctor's per-epoch hook: on a shared, loaded machine
        the two fits' wall times wander by more than the doctor costs, this does not."""

        inside = 0.0

        def on_epoch_end(self, epoch, logs=None):
            started = time.perf_counter()
            super().on_epoch_end(epoch, logs)
            TimedDoctor.inside += time.perf_counter() - started

    x, y = make_classification(n_samples=args.rows + 10_000, n_features=20, random_state=0)
    x, y = x.astype("float32"), y.astype("float32")
    data = (x[: args.rows], y[: args.rows], x[args.rows :], y[args.rows :])
    fit_seconds(keras, data, 1)  # warm-up: tracing and start-up costs paid once
    plain, doctored = [], []
    for _ in range(args.repeats):
        plain.append(fit_seconds(keras, data, args.epochs) / args.epochs)
        callback = TimedDoctor(write=False, verbose=False)
        doctored.append(fit_seconds(keras, data, args.epochs, callback) / args.epochs)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        callback = DoctorCallback(out=out, verbose=False)
        total = fit_seconds(keras, data, args.epochs, callback)
        end_cost = total - args.epochs * min(doctored)
    best_plain, best_doctored = min(plain), min(doctored)
    print(f"fit: {args.rows} training rows, 20 features, Dense 64-32-1, batch 32, {args.epochs} epochs, "
          f"best of {args.repeats}")
    print(f"{'':<34}{'s/epoch':>10}")
    print(f"{'without DoctorCallback':<34}{best_plain:>10.3f}")
    print(f"{'with DoctorCallback':<34}{best_doctored:>10.3f}")
    print(f"{'ratio (with / without)':<34}{best_doctored / best_plain:>10.3f}")
    inside = TimedDoctor.inside / (args.repeats * args.epochs)
    print(f"{'inside the doctor per epoch':<34}{inside:>10.3f}")
    print(f"{'ratio (plain + inside) / plain':<34}{(best_plain + inside) / best_plain:>10.3f}")
    print(f"one-time cost at train end (diagnosis, report, Parquet): {max(end_cost, 0.0):.2f} s "
          f"({time.perf_counter() - started:.1f} s for that whole fit)")


if __name__ == "__main__":
    main()

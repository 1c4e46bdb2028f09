"""What DoctorCallback costs per epoch: the same fit with it and without it, side by side.

A Dense 64-32 network on a 50,000-row synthetic table (20 features, batch 32), fitted for a
few epochs in this process, alternately without and with the callback (after a warm-up
fit, so graph tracing is paid once). Prints seconds per epoch for both (from one epoch's
start to the next's: the doctor's work at each epoch end included) and their ratio, which
issue 10 asks to be at most 1.10, and the whole fits' ratio beside it (the callback's
once-per-fit work at train begin and end included). The one-time cost at train end (diagnosis,
report with plots, Parquet) is measured apart: it is paid once per fit, not per epoch.

    .venv/bin/python harness/benchmark_callback.py [--rows 50000] [--epochs 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
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


def fit_seconds(keras, data, epochs: int, callback=None) -> tuple[float, float]:
    """The whole fit's seconds, and the fastest epoch measured from one epoch's start to the next's.

    Start to start, an epoch includes every callback's work at its end (the doctor's
    recording and live detection), but not the once-per-fit work at train begin and end.
    """
    x, y, xv, yv = data
    keras.utils.set_random_seed(0)
    model = make_model(keras, x.shape[1])
    starts: list[float] = []
    clock = keras.callbacks.LambdaCallback(on_epoch_begin=lambda epoch, logs: starts.append(time.perf_counter()))
    started = time.perf_counter()
    model.fit(x, y, validation_data=(xv, yv), epochs=epochs, batch_size=32, verbose=0,
              callbacks=[clock] + ([callback] if callback is not None else []))
    whole = time.perf_counter() - started
    return whole, min(b - a for a, b in zip(starts, starts[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import keras
    from sklearn.datasets import make_classification

    from plateau_doctor.training.callback import DoctorCallback

    class TimedDoctor(DoctorCallback):
        """Also sums the time spent inside the doctor's per-epoch hook: on a shared, loaded machine
        the two fits' wall times wander by more than the doctor costs, this does not."""

        inside: list[tuple[int, float]] = []

        def on_epoch_end(self, epoch, logs=None):
            started = time.perf_counter()
            super().on_epoch_end(epoch, logs)
            TimedDoctor.inside.append((epoch, time.perf_counter() - started))

    x, y = make_classification(n_samples=args.rows + 10_000, n_features=20, random_state=0)
    x, y = x.astype("float32"), y.astype("float32")
    data = (x[: args.rows], y[: args.rows], x[args.rows :], y[args.rows :])
    fit_seconds(keras, data, 2)  # warm-up: tracing and start-up costs paid once
    plain, doctored, plain_fit, doctored_fit = [], [], [], []
    for _ in range(args.repeats):
        whole, epoch = fit_seconds(keras, data, args.epochs)
        plain.append(epoch)
        plain_fit.append(whole)
        callback = TimedDoctor(write=False, verbose=False)
        whole, epoch = fit_seconds(keras, data, args.epochs, callback)
        doctored.append(epoch)
        doctored_fit.append(whole)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        callback = DoctorCallback(out=out, verbose=False)
        total, _ = fit_seconds(keras, data, args.epochs, callback)
        end_cost = total - min(doctored_fit)
    best_plain, best_doctored = min(plain), min(doctored)
    print(f"fit: {args.rows} training rows, 20 features, Dense 64-32-1, batch 32, {args.epochs} epochs, "
          f"best of {args.repeats}")
    print(f"{'':<44}{'without':>10}{'with':>10}{'ratio':>8}")
    print(f"{'seconds per epoch (start to next start)':<44}{best_plain:>10.3f}{best_doctored:>10.3f}"
          f"{best_doctored / best_plain:>8.3f}   (issue 10: <= 1.10)")
    print(f"{'seconds per fit (train begin and end too)':<44}{min(plain_fit):>10.3f}{min(doctored_fit):>10.3f}"
          f"{min(doctored_fit) / min(plain_fit):>8.3f}")
    # The first epoch of each fit compiles the doctor's per-epoch program: once per fit, told apart.
    later = statistics.median(seconds for epoch, seconds in TimedDoctor.inside if epoch > 0)
    first = statistics.mean(seconds for epoch, seconds in TimedDoctor.inside if epoch == 0)
    print(f"inside the doctor's epoch-end hook: {later:.3f} s per epoch (median after the first;"
          f" {later / best_plain:.1%} of an epoch), {first:.2f} s at the first epoch (compiling, once per fit)")
    print(f"writing the run at train end (diagnosis, report with plots, Parquet): {max(end_cost, 0.0):.2f} s "
          f"({time.perf_counter() - started:.1f} s for that whole fit)")


if __name__ == "__main__":
    main()

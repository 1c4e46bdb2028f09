"""The streamed data stage at scale: pass-1 throughput, peak memory, a streamed epoch vs model.fit.

Generates a seeded synthetic binary task (known linear signal, 20 features) as a folder of
Parquet files, written in chunks, then:

1. times passes 0+1 of the streamed stage (the checks, the statistics, the split written
   to row files on disk) and prints rows/s (goal: >= 1M rows/s);
2. prints the process's peak RSS over the whole run (goal: <= 2 GB);
3. trains the seed's model (Dense 64-32-1) for one epoch on the first ``--train-rows``
   training rows, streamed through ``keras.utils.PyDataset`` from the split on disk,
   and with a bare ``model.fit`` on the same rows held in memory, and prints the ratio
   (goal: <= 1.3x). Each is timed on its fastest epoch after the first (compilation).

    .venv/bin/python harness/benchmark_stream.py [--rows 10000000] [--dir /tmp/plateau-doctor-stream]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def make_table(folder: Path, rows: int, features: int, chunk: int, seed: int) -> float:
    """A seeded synthetic task: y = 1 when a sparse linear score plus noise is positive."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    weights = np.random.default_rng(seed).normal(size=features) * (np.arange(features) < features // 2)
    started = time.perf_counter()
    for index, start in enumerate(range(0, rows, chunk)):
        rng = np.random.default_rng([seed, index])
        n = min(chunk, rows - start)
        x = rng.normal(size=(n, features)).astype(np.float32)
        x[:, 0] = x[:, 0] * 1000 + 5000  # one unscaled feature, as users' tables have
        score = (x[:, 1:] @ weights[1:]) + rng.normal(scale=0.5, size=n)
        columns = {f"x{j}": x[:, j] for j in range(features)}
        columns["target"] = (score > 0).astype(np.int8)
        pq.write_table(pa.table(columns), folder / f"part-{index:05d}.parquet", row_group_size=256 * 1024)
    return time.perf_counter() - started


def epoch_seconds(model, fit_kwargs: dict, epochs: int = 3) -> float:
    """The fastest epoch after the first (which compiles): the least disturbed by other load."""
    import keras

    stamps: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            stamps.append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            stamps.append(time.perf_counter())

    model.fit(**fit_kwargs, epochs=epochs, verbose=0, callbacks=[Clock()])
    return min(stamps[i + 1] - stamps[i] for i in range(2, len(stamps), 2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--chunk", type=int, default=500_000, help="rows per generated Parquet file")
    parser.add_argument("--train-rows", type=int, default=1_000_000, help="rows of the epoch comparison")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--dir", default="/tmp/plateau-doctor-stream", help="where the table and split go")
    parser.add_argument("--keep", action="store_true", help="keep the generated table and split")
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--skip-pass", action="store_true", help="reuse the split a --keep run left")
    parser.add_argument("--skip-audit", action="store_true", help="skip the reference models (minutes on 2 cores)")
    args = parser.parse_args()

    from plateau_doctor.config import validate_config
    from plateau_doctor.data import prepared as streaming
    from plateau_doctor.data.preprocess import StreamedData
    from plateau_doctor.data.stream import write_streamed_split
    from plateau_doctor.training.inputs import train_batches

    root = Path(args.dir)
    table = root / "table"
    marker = table / f".complete-{args.rows}x{args.features}"  # pyarrow skips dot files
    if marker.exists():
        print(f"reusing the {args.rows:,}-row table in {table}", flush=True)
    else:
        print(f"generating {args.rows:,} rows x {args.features} features in {table} ...", flush=True)
        generated = make_table(table, args.rows, args.features, args.chunk, seed=0)
        marker.touch()
        print(f"  {generated:.1f} s; peak RSS so far {peak_rss_mb():.0f} MB", flush=True)
    size = sum(p.stat().st_size for p in table.glob("*.parquet"))
    print(f"table: {size / 1e9:.2f} GB of Parquet in {len(list(table.glob('*.parquet')))} files", flush=True)

    config = validate_config({"data": {"path": str(table), "stream": True}, "output": {"dir": str(root / "out")}})
    folder = streaming.prepared_dir(config)
    if not args.skip_pass:
        shutil.rmtree(folder, ignore_errors=True)
    import pyarrow.dataset  # noqa: F401  (imports are not the pass's cost)
    import sklearn.preprocessing  # noqa: F401

    started, cpu_started = time.perf_counter(), time.process_time()
    meta = write_streamed_split(config.data, folder) if not args.skip_pass else json.loads((folder / "split.json").read_text())
    passes, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    print(
        f"reusing the split in {folder}" if args.skip_pass else
        f"pass 0+1 (checks, statistics, split written): {passes:.1f} s wall, {args.rows / passes / 1e6:.2f}M rows/s "
        f"(goal >= 1M rows/s); {cpu:.1f} s CPU, {args.rows / cpu / 1e6:.2f}M rows per CPU-second; "
        f"{meta['n_train']:,} training / {meta['n_val']:,} validation rows "
        f"({meta['n_val_kept']:,} kept for the metrics); peak RSS so far {peak_rss_mb():.0f} MB",
        flush=True,
    )
    started = time.perf_counter()
    prepared = streaming.load_split(folder, config.data, config.preprocessing, audit=not args.skip_audit)
    print(f"open the split + audit (reference models on a {min(meta['n_train'], 20000):,}-row sample): "
          f"{time.perf_counter() - started:.1f} s; peak RSS so far {peak_rss_mb():.0f} MB", flush=True)

    if not args.skip_training:
        import keras

        from plateau_doctor.training.model import build_model, compile_model, labels_for_loss, resolve_setup

        rows = min(args.train_rows, len(prepared.y_train))
        subset = StreamedData(**{**prepared.__dict__, "train_index": np.arange(rows)})

        def fresh_model():
            keras.utils.set_random_seed(0)
            setup = resolve_setup(config, prepared.task, prepared.n_classes, args.features)
            model = build_model(config, setup, args.features)
            compile_model(model, config, setup)
            return model, setup

        model, setup = fresh_model()
        batches = train_batches(subset, setup, args.batch_size, seed=0)
        streamed = epoch_seconds(model, {"x": batches})
        x_memory = prepared.x_train[:rows]
        y_memory = labels_for_loss(np.asarray(prepared.y_train[:rows]), setup)
        model, setup = fresh_model()
        in_memory = epoch_seconds(model, {"x": x_memory, "y": y_memory, "batch_size": args.batch_size, "shuffle": True})
        print(
            f"one epoch, {rows:,} rows, batch {args.batch_size}, {keras.backend.backend()}: streamed PyDataset "
            f"{streamed:.2f} s vs in-memory model.fit {in_memory:.2f} s: ratio {streamed / in_memory:.2f}x (goal <= 1.3x)",
            flush=True,
        )
    print(f"peak RSS of the whole run: {peak_rss_mb():.0f} MB (goal <= 2048 MB)")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

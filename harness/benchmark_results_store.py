"""The results store at scale: read the history of 1,000 runs with pandas.read_parquet.

Writes ``--runs`` small runs with ``results.RunWriter`` (a baseline and three branches
of ``--epochs`` epochs each in ``history/``, a few ``diagnosis/`` and ``remedies/`` rows,
a summary), then times, each the best of ``--repeat``:

* ``pandas.read_parquet("<out>/history")``: the contract's way, every run partition;
* ``pyarrow.dataset`` over the same folder (hive partitioning), then ``to_pandas``;
* the same rows read file by file: ``pandas.read_parquet`` on each run's file in turn;
* the same rows compacted into one Parquet file, read once (the floor).

and prints each as a ratio to the single file. The store's layout is not changed.

    .venv/bin/python harness/benchmark_results_store.py [--runs 1000] [--dir /tmp/plateau-doctor-store]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BRANCHES = ("baseline", "learning_rate", "preprocessing", "capacity")


def history_frame(rng: np.random.Generator, epochs: int) -> pd.DataFrame:
    from plateau_doctor.schema import HISTORY_SIGNALS

    parts = []
    for branch in BRANCHES:
        frame = pd.DataFrame({name: rng.random(epochs) for name in HISTORY_SIGNALS})
        frame.insert(0, "epoch", np.arange(1, epochs + 1, dtype=np.int64))
        frame.insert(0, "branch", branch)
        parts.append(frame)
    return pd.concat(parts, ignore_index=True)


def write_runs(out: Path, runs: int, epochs: int) -> float:
    from plateau_doctor.results.store import METRIC_COLUMNS, RunWriter, new_run_id

    rng = np.random.default_rng(0)
    started = time.perf_counter()
    for index in range(runs):
        writer = RunWriter(out, new_run_id(f"bench{index % 10}"))
        writer.add_dataset("history", history_frame(rng, epochs))
        writer.add_dataset("diagnosis", pd.DataFrame({
            "round": [0, 0, 0], "kind": ["symptom", "cause", "cause"],
            "name": ["stuck_at_trivial", "unscaled_features", "dead_relu"],
            "confidence": rng.random(3), "evidence": ["loss 0.66 at the trivial level"] * 3,
        }))
        remedies = pd.DataFrame({
            "round": [1, 1, 1], "remedy": list(BRANCHES[1:]), "params": ["{}"] * 3, "epochs": [epochs] * 3,
            **{metric: rng.random(3) for metric in METRIC_COLUMNS},
            "improved": [True, False, False], "chosen": [True, False, False], "status": ["ok"] * 3,
            "error": [None] * 3, "reason": ["because"] * 3, "wall_seconds": rng.random(3),
        })
        writer.add_dataset("remedies", remedies)
        writer.path("summary.json").write_text(json.dumps({"status": "repaired"}))
        writer.publish()
    return time.perf_counter() - started


def best_of(repeat: int, read) -> tuple[float, pd.DataFrame]:
    times, frame = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        frame = read()
        times.append(time.perf_counter() - started)
    return min(times), frame


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=50, help="epochs per branch (4 branches per run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default="/tmp/plateau-doctor-store")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    import pyarrow.dataset as ds

    out = Path(args.dir)
    shutil.rmtree(out, ignore_errors=True)
    written = write_runs(out, args.runs, args.epochs)
    history = out / "history"
    files = sorted(history.glob("run_id=*/*.parquet"))
    print(f"wrote {args.runs} runs in {written:.1f} s ({written / args.runs * 1000:.1f} ms a run); "
          f"{len(files)} history files, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB")

    contract, frame = best_of(args.repeat, lambda: pd.read_parquet(history))
    dataset, _ = best_of(args.repeat, lambda: ds.dataset(history, format="parquet", partitioning="hive").to_table().to_pandas())

    def file_by_file():
        return pd.concat([pd.read_parquet(f).assign(run_id=f.parent.name[len("run_id="):]) for f in files], ignore_index=True)

    one_by_one, _ = best_of(1, file_by_file)
    single = out.parent / f"{out.name}-single.parquet"
    frame.to_parquet(single, index=False)
    floor, again = best_of(args.repeat, lambda: pd.read_parquet(single))
    single.unlink()
    assert len(again) == len(frame) == len(files) * len(BRANCHES) * args.epochs

    print(f"{len(frame):,} history rows of {args.runs} runs; best of {args.repeat}:")
    print(f"  pandas.read_parquet('<out>/history')   {contract:7.3f} s  {contract / floor:6.1f}x the single file")
    print(f"  pyarrow.dataset(hive).to_pandas()       {dataset:7.3f} s  {dataset / floor:6.1f}x")
    print(f"  read_parquet file by file ({len(files)})      {one_by_one:7.3f} s  {one_by_one / floor:6.1f}x")
    print(f"  one compacted Parquet file              {floor:7.3f} s     1.0x")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

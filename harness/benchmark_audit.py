"""What the data audit costs on a wide table: the bounded reference against the unbounded one.

Builds a 500-row table with 2,000 columns (10 informative), then times ``audit_data`` with
the default ``ReferenceBudget`` and with ``ReferenceBudget.unbounded()`` (every column to
gradient boosting, default threads: the audit before the bound), in the same run, and
prints both, their ratio, and both references' validation metric, so that what the bound
costs in quality shows beside what it saves in time.

    .venv/bin/python harness/benchmark_audit.py [--rows 500] [--columns 2000] [--task binary|regression]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd


def _table(rows: int, columns: int, task: str) -> pd.DataFrame:
    from sklearn.datasets import make_classification, make_regression

    if task == "regression":
        x, y = make_regression(n_samples=rows, n_features=columns, n_informative=10, noise=5.0, random_state=0)
    else:
        x, y = make_classification(
            n_samples=rows, n_features=columns, n_informative=10, n_redundant=0, random_state=0
        )
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(columns)])
    frame["target"] = y
    return frame


def _audit_seconds(frame: pd.DataFrame, task: str, budget) -> tuple[float, dict]:
    """Seconds of ``audit_data`` alone on the split the pipeline makes, and the reference it found."""
    from plateau_doctor.config import DataConfig, PreprocessingConfig
    from plateau_doctor.data.audit import audit_data
    from plateau_doctor.data.prepared import prepare_data
    from plateau_doctor.data.checks import select_columns
    from plateau_doctor.data.split import split_rows

    config = DataConfig(path="wide.csv", task=task)
    prep = prepare_data(frame, config, PreprocessingConfig(), audit=False).preprocessor
    x, y = select_columns(frame, config)
    x_train, x_val, y_train, y_val = split_rows(x, y, task, config)
    started = time.perf_counter()
    audit = audit_data(
        x_train, prep.transform_target(y_train), x_val, prep.transform_target(y_val), prep,
        seed=0, n_rows=len(frame), budget=budget,
    )
    return time.perf_counter() - started, {**audit.reference_metrics, "model": audit.reference_model}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--columns", type=int, default=2000)
    parser.add_argument("--task", choices=["binary", "regression"], default="binary")
    args = parser.parse_args()

    from plateau_doctor.data.references import ReferenceBudget

    frame = _table(args.rows, args.columns, args.task)
    bounded, bounded_ref = _audit_seconds(frame, args.task, ReferenceBudget())
    unbounded, unbounded_ref = _audit_seconds(frame, args.task, ReferenceBudget.unbounded())
    metric = "val_r2" if args.task == "regression" else "val_balanced_accuracy"
    print(f"audit at {args.columns} columns x {args.rows} rows ({args.task}):")
    print(f"  bounded reference:   {bounded:7.2f} s  {metric} {bounded_ref[metric]:.4f} ({bounded_ref['model']})")
    print(f"  unbounded reference: {unbounded:7.2f} s  {metric} {unbounded_ref[metric]:.4f} ({unbounded_ref['model']})")
    print(f"  ratio unbounded/bounded: {unbounded / bounded:.1f}x; target: bounded under 10 s")


if __name__ == "__main__":
    main()

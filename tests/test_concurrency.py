"""Concurrent CLI runs into one results folder: each exits 0 and its run is complete and visible."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from conftest import make_classification_frame
from plateau_doctor.results.store import DATASETS

CLI = [sys.executable, "-m", "plateau_doctor.cli"]


@pytest.mark.slow
def test_three_rounds_of_two_concurrent_runs_into_one_folder(tmp_path):
    make_classification_frame(300).to_csv(tmp_path / "table.csv", index=False)
    # A set-up that trains to health in 6 epochs: what is under test is the shared results
    # folder, and a run that repairs would spend the test's time in remedy branches.
    (tmp_path / "config.yaml").write_text(
        "data: {path: table.csv, target: target}\nmodel: {hidden_units: [8]}\n"
        "training: {epochs: 6, learning_rate: 0.03}\n"
    )
    out = tmp_path / "results"
    # One Prefect home per slot (each migrated once): the shared thing under test is the results folder.
    homes = [tmp_path / f"prefect-home-{slot}" for slot in range(2)]
    for round_ in range(3):
        runs = []
        for home in homes:
            env = {**os.environ, "PREFECT_HOME": str(home)}
            env.pop("PREFECT_API_URL", None)
            runs.append(subprocess.Popen(
                CLI + ["run", "--config", "config.yaml", "--out", str(out)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
            ))
        results = [(run.communicate(timeout=600), run.returncode) for run in runs]
        for (stdout, stderr), code in results:
            assert code == 0, f"round {round_}: exit {code}\n{stderr[-3000:]}"
            assert "verdict: " in stdout
    run_dirs = sorted((out / "runs").iterdir())
    assert len(run_dirs) == 6
    for run_dir in run_dirs:
        summary = json.loads((run_dir / "summary.json").read_text())
        assert summary["run_id"] == run_dir.name
        assert summary["config"]["data"]["path"] == str(tmp_path / "table.csv")  # relative in the YAML, absolute here
        assert (run_dir / "model.keras").is_file() and (run_dir / "report.html").is_file()
    for name in DATASETS:
        frame = pd.read_parquet(out / name)
        if name != "remedies":  # a healthy run tries no remedy: it has no rows there
            assert set(frame["run_id"].astype(str)) == {d.name for d in run_dirs}
    # No staging left behind; the prepared split is the table's, shared by the runs, not a run's.
    assert sorted(p.name for p in out.iterdir()) == sorted(["runs", ".prepared", *DATASETS])
    assert len(list((out / ".prepared").iterdir())) == 1  # six runs of one table, split once

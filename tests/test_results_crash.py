"""The visibility rule under crashes and concurrency: a run's rows are visible iff its run folder is complete."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from plateau_doctor.results import store as results
from plateau_doctor.results.store import DATASETS, RunWriter, clean_stale_staging, new_run_id

STEPS = [*(f"hidden:{d}" for d in DATASETS), "run", *(f"shown:{d}" for d in DATASETS), "cleaned"]
RUN_FILES = ("summary.json", "report.md")

# A writer that stages a full run and publishes it, crashing hard (os._exit) at one step.
CHILD = textwrap.dedent(
    """
    import os, sys
    import pandas as pd
    from plateau_doctor.results import store as results
    sys.path.insert(0, {tests!r})
    from test_results_crash import stage_full_run

    out, run_id, crash_at = sys.argv[1], sys.argv[2], sys.argv[3]
    def crash(step):
        if step == crash_at:
            os._exit(17)
    results._fault_point = crash
    writer = stage_full_run(out, run_id)
    if crash_at == "staged":
        os._exit(17)
    writer.publish()
    """
).format(tests=str(Path(__file__).parent))


def _frame(name: str, run_id: str) -> pd.DataFrame:
    schema = results.dataset_schema(name)
    row = {}
    for field in schema:
        kind = str(field.type)
        row[field.name] = {"string": run_id, "double": 0.5, "int64": 1, "bool": True}[kind]
    return pd.DataFrame([row, row])


def stage_full_run(out, run_id) -> RunWriter:
    writer = RunWriter(out, run_id)
    for name in DATASETS:
        writer.add_dataset(name, _frame(name, run_id))
    writer.write_text("report.md", "# report\n")
    writer.write_json("summary.json", {"run_id": run_id})
    return writer


def visible_run_ids(out: Path, name: str) -> set[str]:
    if not (out / name).exists():
        return set()
    frame = pd.read_parquet(out / name)
    return set(frame["run_id"].astype(str)) if "run_id" in frame.columns else set()


def complete_run_ids(out: Path) -> set[str]:
    runs = out / "runs"
    if not runs.exists():
        return set()
    return {d.name for d in runs.iterdir() if all((d / f).is_file() for f in RUN_FILES)}


def assert_rule(out: Path, settled: bool) -> None:
    """No incomplete run is visible; once settled, every complete run is visible in every dataset."""
    complete = complete_run_ids(out)
    assert {d.name for d in (out / "runs").iterdir()} <= complete if (out / "runs").exists() else True
    for name in DATASETS:
        visible = visible_run_ids(out, name)
        assert visible <= complete, f"{name}: rows of incomplete runs {visible - complete} are visible"
        if settled:
            assert visible == complete, f"{name}: complete runs {complete - visible} have no visible rows"


@pytest.mark.parametrize("crash_at", ["staged", *STEPS])
def test_a_hard_crash_at_each_publish_step_never_shows_an_incomplete_run(tmp_path, crash_at):
    out = tmp_path / "results"
    stage_full_run(out, "earlier").publish()
    run_id = new_run_id("crash")
    done = subprocess.run([sys.executable, "-c", CHILD, str(out), run_id, crash_at], capture_output=True, text=True)
    assert done.returncode == 17, done.stderr[-2000:]
    assert_rule(out, settled=False)
    committed = (out / "runs" / run_id).is_dir()
    assert committed == (STEPS.index(crash_at) >= STEPS.index("run") if crash_at != "staged" else False)

    # A reader through read_dataset settles first: a committed run is never missing there.
    assert (run_id in set(results.read_dataset(out, "history")["run_id"].astype(str))) == committed
    # The next writer's start settles what the dead one left: shown if committed, gone if not.
    RunWriter(out, new_run_id("next")).abort()
    assert_rule(out, settled=True)
    assert (run_id in visible_run_ids(out, "history")) == committed
    assert not [p for p in out.iterdir() if p.name.startswith((".staging-", ".pending-"))]
    assert not list(out.glob("*/.run_id=*"))


@pytest.mark.parametrize("fail_at", STEPS[:-1])
def test_an_exception_at_each_publish_step_then_abort_keeps_the_rule(tmp_path, monkeypatch, fail_at):
    out = tmp_path / "results"

    def fail(step):
        if step == fail_at:
            raise OSError(f"injected at {step}")

    monkeypatch.setattr(results, "_fault_point", fail)
    writer = stage_full_run(out, "r1")
    with pytest.raises(OSError, match="injected"):
        writer.publish()
    writer.abort()  # what the pipeline does on any exception
    assert_rule(out, settled=True)
    assert ("r1" in complete_run_ids(out)) == (STEPS.index(fail_at) >= STEPS.index("run"))


def test_a_live_writers_staging_is_never_cleaned(tmp_path):
    out = tmp_path / "results"
    alive = stage_full_run(out, "alive")
    assert clean_stale_staging(out) == []
    RunWriter(out, "other").abort()
    assert (out / ".staging-alive" / "run" / "summary.json").is_file()
    alive.publish()
    assert_rule(out, settled=True)


def test_a_dead_writers_staging_is_cleaned_on_the_next_start(tmp_path):
    out = tmp_path / "results"
    done = subprocess.run([sys.executable, "-c", CHILD, str(out), "dead", "staged"], capture_output=True, text=True)
    assert done.returncode == 17, done.stderr[-2000:]
    assert (out / ".staging-dead").is_dir()
    writer = RunWriter(out, "next")
    assert not (out / ".staging-dead").exists()
    writer.abort()


# Hundreds of publish cycles from two processes into one folder: every run complete and visible.
STRESS = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_results_crash import stage_full_run
    out, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for i in range(n):
        writer = stage_full_run(out, f"{{tag}}-{{i:04d}}")
        if i % 7 == 3:
            writer.abort()  # some runs fail: their abort must not disturb the other process
        else:
            writer.publish()
    """
).format(tests=str(Path(__file__).parent))


@pytest.mark.slow
def test_two_processes_publishing_hundreds_of_runs_into_one_folder(tmp_path):
    out = tmp_path / "results"
    n = 150
    procs = [
        subprocess.Popen([sys.executable, "-c", STRESS, str(out), tag, str(n)], stderr=subprocess.PIPE, text=True)
        for tag in ("a", "b")
    ]
    errors = [p.communicate(timeout=600)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    expected = {f"{tag}-{i:04d}" for tag in ("a", "b") for i in range(n) if i % 7 != 3}
    assert complete_run_ids(out) == expected
    assert_rule(out, settled=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(["runs", *DATASETS])
    summary = json.loads((out / "runs" / "a-0000" / "summary.json").read_text())
    assert summary == {"run_id": "a-0000"}

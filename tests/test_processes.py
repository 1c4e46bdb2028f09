"""Children die with the CLI: SIGKILL to the CLI process alone leaves no process it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from plateau_doctor.orchestration import processes
from plateau_doctor.results.store import clean_stale_staging

CLI = [sys.executable, "-m", "plateau_doctor.cli"]


def _alive(pids: dict[int, str]) -> dict[int, str]:
    """Those of ``pids`` still running, the same process (start time), not a zombie."""
    alive = {}
    for pid, started in pids.items():
        if processes.start_time(pid) != started:
            continue
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if state != "Z":
            alive[pid] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:120]
    return alive


def _snapshot(pid: int) -> dict[int, str]:
    return {child: started for child in processes.descendants(pid) if (started := processes.start_time(child))}


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def test_descendants_and_marks_are_read_from_proc():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"],
                             env={**os.environ, processes.OWNER_ENV: "test-mark"})
    try:
        assert child.pid in processes.descendants(os.getpid())
        assert processes.carries_mark(child.pid, "test-mark")
        assert child.pid in processes.marked_processes("test-mark")
        assert processes.reap("test-mark") == [child.pid]
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        child.kill()


def test_the_reaper_ends_marked_processes_when_the_owner_dies_even_after_reparenting(tmp_path):
    # The owner starts a grandchild and dies at once: the grandchild is re-parented to init.
    owner = subprocess.Popen(
        [sys.executable, "-c", (
            "import subprocess, sys, time\n"
            "from plateau_doctor.orchestration.processes import start_reaper\n"
            "start_reaper()\n"
            "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
            f"open({str(tmp_path / 'pid')!r}, 'w').write(str(grandchild.pid))\n"
            "time.sleep(60)\n"
        )],
    )
    pid_file = tmp_path / "pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    grandchild = int(pid_file.read_text())
    started = processes.start_time(grandchild)
    owner.kill()  # not waited for yet: a zombie until then, which the reaper counts as dead
    deadline = time.monotonic() + 20
    while _alive({grandchild: started}) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive({grandchild: started})
    owner.wait()


@pytest.mark.slow
def test_sigkill_to_the_cli_alone_ends_every_process_it_started(tmp_path):
    """The demo runs remedy branches in worker processes beside Prefect's temporary server; kill the CLI only."""
    out = tmp_path / "results"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect-home")}
    env.pop("PREFECT_API_URL", None)
    cli = subprocess.Popen(
        CLI + ["demo", "--out", str(out), "--set", "training.epochs=40", "--set", "remedies.max_rounds=1",
               "--set", "remedies.worker_start_seconds=0"],  # the demo's small rungs would run in the CLI's process
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
        start_new_session=True,  # its own group, so that nothing here signals it but the test's kill
    )
    log: list[str] = []
    reader = threading.Thread(target=lambda: log.extend(cli.stdout), daemon=True)
    reader.start()
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 400
    workers = []
    try:
        # Wait until the branches run in their worker processes (spawned by ProcessPoolTaskRunner).
        while time.monotonic() < deadline and cli.poll() is None:
            seen.update(_snapshot(cli.pid))
            workers = [pid for pid in seen if "multiprocessing" in _cmdline(pid) and "spawn_main" in _cmdline(pid)]
            if workers and any("stage 4/6" in line for line in log):
                break
            time.sleep(0.5)
        assert cli.poll() is None, "the CLI ended before its branches ran:\n" + "".join(log[-40:])
        assert workers, "no branch worker process appeared:\n" + "".join(log[-40:])
        time.sleep(2)
        seen.update(_snapshot(cli.pid))
        assert any("uvicorn" in _cmdline(pid) for pid in seen), "Prefect's temporary server is not among the children"
        os.kill(cli.pid, signal.SIGKILL)
        cli.wait()
        deadline = time.monotonic() + 20
        while _alive(seen) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _alive(seen), f"still alive 20 s after SIGKILL to the CLI: {_alive(seen)}"
    finally:
        for pid in _alive(seen):
            os.kill(pid, signal.SIGKILL)
        if cli.poll() is None:
            cli.kill()
    # What the killed run staged is cleaned on the next start; no run of it is visible.
    staged = [p for p in out.iterdir() if p.name.startswith(".staging-")] if out.exists() else []
    assert staged, "the killed run had staged nothing"
    clean_stale_staging(out)
    assert not [p for p in out.iterdir() if p.name.startswith(".staging-")]
    assert not (out / "runs").exists() or not any((out / "runs").iterdir())

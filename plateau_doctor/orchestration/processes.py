"""Children die with the CLI: a tiny reaper process ends every process a CLI run started.

The CLI starts processes it does not spawn itself: Prefect's temporary API server
(``subprocess.Popen`` of uvicorn, in the CLI's own session and process group) and the
remedy branches' workers (``ProcessPoolExecutor`` with the spawn method, plus its resource
tracker). When the CLI is killed with SIGKILL (a closed terminal, a scheduler's timeout)
none of its cleanup runs, and those children, ~900 MB each, would live on.

So the CLI marks its environment with ``PLATEAU_DOCTOR_OWNER=<pid>:<start time>``, which
every child inherits (Prefect passes ``os.environ`` to both), and starts a reaper: a
separate Python process in its own session that waits for the CLI to end (a pidfd on
Linux), then sends SIGTERM and, after a grace period, SIGKILL to every process that carries
the mark or was seen as the CLI's descendant. The mark survives re-parenting to init,
which a parent-death signal or a snapshot of the process tree would miss. A
parent-death signal is not used in workers: it fires when the *thread* that started
them exits, and Prefect submits from short-lived threads.

Linux only (``/proc``); elsewhere :func:`start_reaper` does nothing.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

OWNER_ENV = "PLATEAU_DOCTOR_OWNER"
GRACE_SECONDS = 3.0
POLL_SECONDS = 0.25


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return stat[stat.rindex(")") + 2 :].split()[19]


def is_running(pid: int, started: str) -> bool:
    """The same process (by start time) still exists and is not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[19] == started and fields[0] not in ("Z", "X")


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(pid: int) -> list[int]:
    """Every live process below ``pid`` in the process tree."""
    children: dict[int, list[int]] = {}
    for candidate in all_pids():
        parent = parent_of(candidate)
        if parent is not None:
            children.setdefault(parent, []).append(candidate)
    found, todo = [], list(children.get(pid, []))
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def carries_mark(pid: int, mark: str) -> bool:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return f"{OWNER_ENV}={mark}".encode() in environ.split(b"\0")


def marked_processes(mark: str) -> list[int]:
    me = os.getpid()
    return [pid for pid in all_pids() if pid != me and carries_mark(pid, mark)]


def owner_mark(pid: int | None = None) -> str | None:
    pid = os.getpid() if pid is None else pid
    started = start_time(pid)
    return None if started is None else f"{pid}:{started}"


def start_reaper() -> subprocess.Popen | None:
    """Mark this process's environment and start the reaper watching it; None where /proc is missing."""
    if not sys.platform.startswith("linux") or not Path("/proc/self/stat").exists():
        return None
    mark = owner_mark()
    if mark is None:
        return None
    os.environ[OWNER_ENV] = mark
    env = {key: value for key, value in os.environ.items() if key != OWNER_ENV}
    return subprocess.Popen(
        [sys.executable, "-m", "plateau_doctor.orchestration.processes", mark],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # not in the CLI's group: a signal to that group leaves the reaper to clean up
        close_fds=True,
    )


def _wait_for_exit(pid: int, started: str, seen: dict[int, str]) -> None:
    """Block until ``pid`` (with that start time) is gone; meanwhile remember its descendants."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):
        handle = None
    try:
        while is_running(pid, started):
            for child in descendants(pid):
                child_started = start_time(child)
                if child_started is not None:
                    seen[child] = child_started
            if handle is not None:
                select.select([handle], [], [], POLL_SECONDS * 4)
            else:
                time.sleep(POLL_SECONDS)
    finally:
        if handle is not None:
            os.close(handle)


def reap(mark: str, seen: dict[int, str] | None = None) -> list[int]:
    """End every process that carries ``mark`` or was seen below the owner; returns their pids."""
    seen = dict(seen or {})

    def targets() -> list[int]:
        alive = {pid for pid, started in seen.items() if start_time(pid) == started}
        alive.update(marked_processes(mark))
        for pid in list(alive):
            alive.update(descendants(pid))
        alive.discard(os.getpid())
        return sorted(alive)

    victims = targets()
    for pid in victims:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    while time.monotonic() < deadline and targets():
        time.sleep(0.1)
    for pid in targets():
        _signal(pid, signal.SIGKILL)
    return victims


def _signal(pid: int, number: int) -> None:
    try:
        os.kill(pid, number)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str]) -> int:
    mark = argv[0]
    pid_text, _, started = mark.partition(":")
    seen: dict[int, str] = {}
    # A terminal's hang-up or Ctrl-C must not end the reaper before the CLI is gone.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _wait_for_exit(int(pid_text), started, seen)
    reap(mark, seen)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Prefect's temporary API server, booted while the CLI imports TensorFlow.

Without an API URL, the first flow call starts Prefect's ephemeral server (uvicorn in a
child process, ``SubprocessASGIServer``) and waits for its health check: 7 s or more on
two cores that nothing else uses. The CLI knows much earlier that it will need a server.
Once the checks that need no Keras have passed, :meth:`EarlyServer.start` spawns the same
uvicorn command Prefect runs (same app, same settings, UI off) on a free port of
127.0.0.1, so that it boots on the other core while the main thread imports TensorFlow
for the Keras checks. The spawn imports nothing of Prefect (``prefect.server.api.server`` cost 1.8 s that the
main thread would pay, Prefect's settings 1.3 s); whether a server is configured already
(``PREFECT_API_URL`` in the environment or the active profile) is read from the
environment and ``profiles.toml`` directly.

The CLI points Prefect at it with ``PREFECT_API_URL``, as a user points it at a real
server, and runs the flow without flow-run heartbeats (:meth:`EarlyServer.settings`:
nobody reads them on a server that dies with the CLI). The CLI stops it at the end; an exit 2
from the Keras checks stops it at once. Its process carries the CLI's owner mark, so the
reaper (``plateau_doctor.orchestration.processes``) ends it even when the CLI is killed outright. A
server that does not come up is an error the flow's client reports (exit 1).
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import nullcontext
from pathlib import Path

log = logging.getLogger("plateau_doctor")

def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prefect_app_dir() -> str:
    """The folder holding the ``prefect`` package, found without importing it."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or spec.origin is None:
        raise RuntimeError("prefect is not installed")
    return str(Path(spec.origin).parent.parent)


def _startup_timeout() -> float:
    return float(os.environ.get("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS") or 20)


_FALSE = {"0", "false", "no", "off"}


def _server_configured() -> bool:
    """Whether Prefect already has an API to talk to, or may not start a temporary one.

    Read from the environment and the active profile (``profiles.toml``), as Prefect reads
    them, without importing Prefect (1.3 s the TensorFlow import would wait for).
    """
    settings = dict(_active_profile())
    settings.update(os.environ)
    if settings.get("PREFECT_API_URL"):
        return True
    for key in ("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "PREFECT_SERVER_EPHEMERAL_ENABLED"):
        if str(settings.get(key, "")).strip().lower() in _FALSE:
            return True
    return False


def _prefect_home() -> Path:
    return Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()


def _active_profile() -> dict[str, str]:
    import tomllib

    path = Path(os.environ.get("PREFECT_PROFILES_PATH") or _prefect_home() / "profiles.toml").expanduser()
    try:
        document = tomllib.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    name = os.environ.get("PREFECT_PROFILE") or document.get("active") or "ephemeral"
    profile = document.get("profiles", {}).get(name, {})
    return {str(k): str(v) for k, v in profile.items()} if isinstance(profile, dict) else {}


class EarlyServer:
    """A temporary Prefect server of the CLI's own, started ahead of the flow when the flow would start one."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._stderr: int | None = None
        self._port = 0
        self._home_made: Path | None = None
        self._env_set = False
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ start
    def start(self) -> None:
        """Spawn the server now (it boots in its own process); a thread waits for it to answer.

        ``PREFECT_API_URL`` is set in this process's environment at once, before Prefect is
        imported: Prefect's own threads read their settings from it, not from a flow's
        settings context (with the URL only in ``temporary_settings``, one of them started a
        second temporary server mid-run), and the branch processes inherit it.
        """
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._boot, name="plateau-doctor-early-server", daemon=True)
        if _server_configured():
            return  # a real server, or none allowed: Prefect's client decides (the thread is never started)
        # The CLI silences descriptor 2 while TensorFlow is imported; the server keeps the real one.
        self._stderr = os.dup(2)
        home = _prefect_home()
        self._home_made = None if home.exists() else home  # the server creates it and its database
        atexit.register(self.stop)
        self._port = _free_port()
        if self._spawn(self._port):
            os.environ["PREFECT_API_URL"] = f"http://127.0.0.1:{self._port}/api"
            self._env_set = True
            self._thread.start()

    def _boot(self) -> None:
        try:
            deadline = time.monotonic() + _startup_timeout()
            if self._wait_healthy(self._port, deadline):
                return
            code = self._process.poll() if self._process is not None else None
            raise RuntimeError(f"Prefect's temporary server did not answer its health check (exit status {code})")
        except BaseException as error:  # the flow's client then fails to connect and says so
            self.error = error
            log.debug("early start of the Prefect server failed", exc_info=True)
            self._terminate()

    def _spawn(self, port: int) -> bool:
        """The command Prefect's ``SubprocessASGIServer`` runs, with the variables it adds.

        The server reads the rest of its settings (profile, ``PREFECT_HOME``) itself, as
        Prefect's own temporary server does: the CLI overrides none in-process.
        """
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
        command = [
            sys.executable, "-m", "uvicorn", "--app-dir", _prefect_app_dir(), "--factory",
            "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
            "--log-level", "error", "--lifespan", "on",
        ]
        with self._lock:
            if self._stopped:
                return False
            self._process = subprocess.Popen(command, env=env, stderr=self._stderr)
        return True

    def _wait_healthy(self, port: int, deadline: float) -> bool:
        url = f"http://127.0.0.1:{port}/api/health"
        while time.monotonic() < deadline and not self._stopped:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    # ------------------------------------------------------------------ use
    def wait(self) -> None:
        """Until the server answers (or its start gave up): the flow must not find it half-started."""
        if self._thread is not None and self._thread.ident is not None:  # started
            self._thread.join()

    def settings(self):
        """Settings for the flow: no flow-run heartbeats on a temporary server.

        Heartbeats let a long-lived server notice a crashed run; a temporary server (this
        one, or Prefect's own when none is configured) dies with the CLI, so nobody reads
        them, and every flow run (the doctor and each rung's branch subflow) waits up to a
        second at its end for the heartbeat thread. A run against a real server keeps them.
        """
        from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        if self._env_set or not PREFECT_API_URL.value():
            return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})
        return nullcontext()

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Stop the server, at once if it is still booting; safe to call twice."""
        self._stopped = True
        self._terminate()

    def abandon(self) -> None:
        """Stop the server for a run that ends on bad input: a Prefect home it created goes too.

        Bad input writes nothing; a user's existing Prefect home is left as it is.
        """
        self.stop()
        if self._home_made is not None:
            shutil.rmtree(self._home_made, ignore_errors=True)
            self._home_made = None

    def _terminate(self) -> None:
        with self._lock:
            process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._stderr is not None:
            try:
                os.close(self._stderr)
            except OSError:
                pass
            self._stderr = None
        if self._env_set:
            os.environ.pop("PREFECT_API_URL", None)
            self._env_set = False


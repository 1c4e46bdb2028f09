"""Start Prefect's temporary API server while the CLI is still busy with TensorFlow.

Without an API URL, the first flow call starts Prefect's ephemeral server
(``SubprocessASGIServer``: uvicorn in a child process) and waits for its health check,
several seconds that nothing else uses. The CLI knows much earlier that it will need the
server: :class:`EarlyServer` starts the same singleton from a background thread as soon
as the data has passed its checks, so that the server comes up while Keras is imported
and the set-up is checked. The flow then finds it running (Prefect's client asks the
same singleton) and its ``atexit`` hook stops it as before.

When the CLI gives up before the flow (exit 2), :meth:`EarlyServer.stop` ends the server
at once, without waiting for it to answer; the thread (a daemon) is left to give up on its
health check. The server's process carries the CLI's owner mark, so the reaper
(``plateau_doctor.processes``) ends it even when the CLI is killed outright.
"""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("plateau_doctor")


class EarlyServer:
    """The ephemeral Prefect server, started ahead of the flow when the flow would start one."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._server = None  # the SubprocessASGIServer this object started, if any
        self._starting = None  # the same, from just before its start
        self._cancelled = False
        self.error: BaseException | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._start, name="plateau-doctor-early-server", daemon=True)
            self._thread.start()

    def _start(self) -> None:
        try:
            from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

            if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
                return  # a real server, or none allowed: the flow's own client decides
            from prefect.server.api.server import SubprocessASGIServer

            server = SubprocessASGIServer()
            if server.running or self._cancelled:
                return  # someone else's (a test harness's): not ours to stop; or no longer wanted
            self._starting = server
            server.start()
            self._server = server
        except BaseException as error:  # the flow's client will try again and report its own error
            self.error = error
            log.debug("early start of the Prefect server failed", exc_info=True)

    def wait_spawned(self, timeout: float = 60.0) -> None:
        """Until the server's process exists (or the start gave up), not until it answers.

        The CLI silences file descriptor 2 while TensorFlow is imported; a server spawned in
        that window would inherit the silence for its whole life, and its errors with it.
        """
        deadline = time.monotonic() + timeout
        while self._thread is not None and self._thread.is_alive() and time.monotonic() < deadline:
            if self._starting is not None and self._starting.server_process is not None:
                return
            time.sleep(0.02)

    def wait(self) -> None:
        """Until the start under way has finished (the flow would otherwise start the server itself)."""
        if self._thread is not None:
            self._thread.join()

    def stop(self) -> None:
        """Stop a server this object started, at once; for runs that end before the flow."""
        self._cancelled = True
        server = self._server or self._starting  # started, starting, or timed out with its process running
        if server is not None and server.server_process is not None:
            server.stop()  # terminates (kills after 5 s) and forgets the singleton, so a later flow starts afresh
        self._server = self._starting = None


def ephemeral_run_settings():
    """Settings for a flow on the temporary server: no flow-run heartbeats.

    Heartbeats let a long-lived server notice a crashed run; the temporary server dies with
    the CLI, so nobody reads them, and every flow run (the doctor and each rung's branch
    subflow) waits up to a second at its end for the heartbeat thread. A run against a
    real server (``PREFECT_API_URL``) keeps them.
    """
    from contextlib import nullcontext

    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if PREFECT_API_URL.value():
        return nullcontext()
    return temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None})

"""The CLI's embedded Prefect: the reaper, the early server, and the doctor flow on it.

Once the data has passed its checks, the reaper starts (``processes``), so that what a run
starts dies with the CLI even on SIGKILL, and then Prefect's temporary server
(``early_server``), which boots on the other core while Keras is imported and the split is
audited; an exit 2 from the Keras checks abandons it at once.
"""

from __future__ import annotations

import logging

from plateau_doctor.orchestration.early_server import EarlyServer
from plateau_doctor.orchestration.processes import start_reaper

EARLY_SERVER = EarlyServer()  # Prefect's temporary server, started while Keras is imported


def start_server() -> None:
    """The reaper first, so that the server carries its mark; then the server, booting in the background."""
    start_reaper()
    EARLY_SERVER.start()


def abandon() -> None:
    """Bad input: stop a booting server at once (and remove a Prefect home it created)."""
    EARLY_SERVER.abandon()


def stop() -> None:
    EARLY_SERVER.stop()


def run_flow(config, marks=None) -> dict:
    """The doctor flow on the early server (or the one ``PREFECT_API_URL`` names); returns its summary."""
    from plateau_doctor.orchestration.flows import doctor

    _one_console_line_per_record()
    if marks is not None:
        marks.mark("prefect_imported")
    EARLY_SERVER.wait()  # the flow must not find the server half-started
    if marks is not None:
        marks.mark("server_ready")
    with EARLY_SERVER.settings():
        # The server stops at exit (its handler runs after Prefect's log and event workers have delivered).
        return doctor(config)


def _one_console_line_per_record() -> None:
    """Prefect's logging, set up when Prefect is imported, gives the root logger its console
    handler, and our records propagate there: every progress line was printed twice. From
    here on Prefect's handler prints them (ours was for the checks before Prefect)."""
    from prefect.logging.handlers import PrefectConsoleHandler

    if any(isinstance(handler, PrefectConsoleHandler) for handler in logging.getLogger().handlers):
        logger = logging.getLogger("plateau_doctor")
        for handler in [h for h in logger.handlers if getattr(h, "_plateau_doctor_console", False)]:
            logger.removeHandler(handler)

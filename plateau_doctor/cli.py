"""``plateau-doctor``: run the doctor flow on embedded Prefect (no server needed).

Exit status: 0 the run finished (whatever it diagnosed); 2 bad config or bad data (one
clear message on stderr, nothing written); 1 any other failure.

Every check of the user's input runs before Prefect starts: the config, ``--out``, the
data (without TensorFlow), then what needs Keras (identifiers, ``model.path``, whether the
loss can train the task), with TensorFlow's start-up noise silenced. Once the data has
passed, the CLI starts its reaper (``plateau_doctor.orchestration.processes``), so that the processes a
run starts die with the CLI even when it is killed with SIGKILL, and then Prefect's
temporary server (``plateau_doctor.orchestration.early_server``), which boots on the other core while
Keras is imported and the table's prepared split is audited (the flow reads both from disk);
an exit 2 from the Keras checks stops it at once.
"""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import sys
from pathlib import Path

from plateau_doctor.run.checks import check_inputs, check_output_dir
from plateau_doctor.errors import UserInputError
from plateau_doctor.run.timing import Marks

MARKS = Marks()  # the CLI's own stage times, for harness/benchmark_fixed_costs.py (PLATEAU_DOCTOR_TIMINGS)
MARKS.mark("cli_imported")

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "data" / "demo.yaml"

# Embedded Prefect: a first start on a fresh PREFECT_HOME migrates its database, which can
# outlast the 20 s default; telemetry only produces offline noise. Users may override.
_PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "plateau_doctor",
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    # TensorFlow's C++ INFO and WARNING lines say nothing a user of the doctor can act on.
    "TF_CPP_MIN_LOG_LEVEL": "2",
}


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's error contract: one line on stderr, exit 2 (not a usage block)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} -h)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="plateau-doctor",
        description="Diagnose why a Keras model's training loss stalls, and repair it.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="diagnose and repair the set-up described by a config file")
    run.add_argument("--config", required=True, help="YAML config (see shared/CONTRACT.md)")
    run.add_argument("--out", help="results folder (overrides output.dir)")
    run.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one config field, e.g. --set training.learning_rate=0.01 (repeatable)",
    )
    demo = commands.add_parser("demo", help="run the bundled demo: a stalled model on breast-cancer data")
    demo.add_argument("--out", help="results folder (default: results)")
    demo.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                      help="override one demo config field (repeatable)")
    diagnose = commands.add_parser(
        "diagnose", help="diagnose a finished training from its log (CSVLogger CSV, History JSON, model.fit's console"
                         " output, Parquet, TensorBoard folder)"
    )
    diagnose.add_argument("history", metavar="HISTORY", help="the training log: a file, or a TensorBoard log folder")
    diagnose.add_argument("--out", default="results", help="results folder (default: results)")
    diagnose.add_argument("--task", choices=["binary", "multiclass", "regression"],
                          help="the task, when the log's column names do not tell (default: guessed from them)")
    return parser


def _show_progress() -> None:
    """Epoch lines on the terminal; Prefect forwards the same records to the UI (extra logger)."""
    logger = logging.getLogger("plateau_doctor")
    if not any(getattr(h, "_plateau_doctor_console", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        # Prefect's console format, so that its lines and ours read as one log.
        handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d | %(levelname)-7s | %(name)s - %(message)s",
                                               datefmt="%H:%M:%S"))
        handler._plateau_doctor_console = True
        logger.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # -h (0) or a usage error (2): a status to return, as entry() exits with it
        return 0 if stop.code is None else stop.code if isinstance(stop.code, int) else 2
    if args.command == "diagnose":
        return diagnose_log(args)
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # the entry point chooses; importing the package does not
    for key, value in _PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    _show_progress()
    from plateau_doctor.orchestration import launch  # Prefect itself is imported only once the input passed

    try:
        config = _load(args)
        MARKS.mark("checked")
        summary = launch.run_flow(config, MARKS)
        MARKS.mark("flow_returned")
    except UserInputError as error:
        print(f"plateau-doctor: error: {error}", file=sys.stderr)
        launch.abandon()
        return 2
    except KeyboardInterrupt:
        print("plateau-doctor: interrupted", file=sys.stderr)
        launch.stop()
        return 1
    except Exception as error:  # anything else is ours or the environment's: say so, exit 1
        logging.getLogger("plateau_doctor").debug("run failed", exc_info=True)
        print(f"plateau-doctor: failed: {error.__class__.__name__}: {error}", file=sys.stderr)
        launch.stop()
        return 1
    _print_verdict(summary)
    MARKS.mark("main_end")
    MARKS.write({"timings": summary.get("timings"), "run_dir": summary.get("run_dir")})
    return 0


def diagnose_log(args) -> int:
    """``plateau-doctor diagnose``: the curves alone, no Prefect, no TensorFlow (but for TensorBoard folders)."""
    from plateau_doctor.api import diagnose
    from plateau_doctor.results.observed import verdict_lines

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # a TensorBoard folder imports TensorFlow: no C++ start-up lines
    try:
        check_output_dir(args.out, "--out")
        result = diagnose(args.history, out=args.out, task=args.task)
    except UserInputError as error:
        print(f"plateau-doctor: error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # ours or the environment's: one line, exit 1
        print(f"plateau-doctor: failed: {error.__class__.__name__}: {error}", file=sys.stderr)
        return 1
    print(verdict_lines(result.summary))
    return 0


def _load(args):
    """The validated config, after every check of the user's input that can run before Prefect."""
    from plateau_doctor.training.backends import select_backend
    from plateau_doctor.config import load_config
    from plateau_doctor.data.prepared import prepare_from_config

    overrides = list(args.overrides)
    if args.out is not None:
        check_output_dir(args.out, "--out")
        overrides.append(f"output.dir={args.out}")
    if args.command == "demo":
        config = load_config(DEMO_CONFIG, overrides)
        if args.out is None and not any(o.startswith("output.dir=") for o in overrides):
            config.output.dir = "results"
    else:
        config = load_config(args.config, overrides)
    check_output_dir(config.output.dir, "--out" if args.out is not None else "output.dir")
    select_backend(config.training.backend)  # Keras reads KERAS_BACKEND at its first import, in the checks

    # Bad input is the user's to fix: say so in one line, before Prefect logs a failed run.
    check_inputs(config, "--out" if args.out is not None else "output.dir", before_keras=_start_server)
    MARKS.mark("checked_inputs")
    prepare_from_config(config, audit=True)  # the audit, while the server boots; kept beside the split for the flow
    return config


def _start_server() -> None:
    """The data passed its checks: boot Prefect's server while TensorFlow is imported for the Keras checks.

    A bad config or table (exit 2 within a second) starts nothing; a failed Keras check stops
    the booting server.
    """
    from plateau_doctor.orchestration import launch

    MARKS.mark("data_checked")
    launch.start_server()
    MARKS.mark("server_spawned")


def _print_verdict(summary: dict) -> None:
    causes = ", ".join(f"{c['cause']} ({c['confidence']:.2f})" for c in summary["causes"]) or "none"
    metric = summary.get("main_metric", "")
    before = summary["baseline"]["metrics"].get(metric)
    after = (summary.get("final") or {}).get("metrics", {}).get(metric)
    lines = [
        "",
        f"verdict: {summary['status']}",
        f"  symptoms: {', '.join(summary['symptoms']) or 'none'}",
        f"  causes:   {causes}",
        f"  remedy:   {summary['chosen_remedy'] or 'none'}",
        f"  {metric}: baseline {_fmt(before)} -> final {_fmt(after)}",
        f"  epochs trained: {summary['epochs_trained_total']}, wall time {summary['wall_seconds']:.1f} s",
        f"report: {Path(summary['run_dir']) / 'report.html'}",
    ]
    print("\n".join(lines))


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def entry() -> None:
    """The ``plateau-doctor`` command: :func:`main`, then an exit without the interpreter's teardown.

    Finalizing TensorFlow's and Prefect's modules took 2.2 s after the last exit handler on
    two cores, with nothing left to write. Every ``atexit`` handler still runs (Prefect's log
    and event workers deliver, the server stops); the last one ends the process.
    """
    status = [1]  # an exception escaping main() is a failure
    atexit.register(_exit_now, status)  # registered first, so it runs after every other handler
    try:
        status[0] = main()
    except BrokenPipeError:
        # The reader of our output stopped reading (`| head`): what was written stands, and a
        # traceback about it would be noise. Later flushes go nowhere (Python's SIGPIPE advice).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status[0] = 1
    sys.exit(status[0])


def _exit_now(status: list[int]) -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status[0])


if __name__ == "__main__":
    entry()

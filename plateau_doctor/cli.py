"""``plateau-doctor``: run the doctor flow on embedded Prefect (no server needed).

Exit status: 0 the run finished (whatever it diagnosed); 2 bad config or bad data (one
clear message on stderr, nothing written); 1 any other failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from plateau_doctor.errors import UserInputError

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "data" / "demo.yaml"

# Embedded Prefect: a first start on a fresh PREFECT_HOME migrates its database, which can
# outlast the 20 s default; telemetry only produces offline noise. Users may override.
_PREFECT_DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "plateau_doctor",
    "PREFECT_LOGGING_LEVEL": "INFO",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    return parser


def _show_progress() -> None:
    """Epoch lines on the terminal; Prefect forwards the same records to the UI (extra logger)."""
    logger = logging.getLogger("plateau_doctor")
    if not any(getattr(h, "_plateau_doctor_console", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s | %(message)s", datefmt="%H:%M:%S"))
        handler._plateau_doctor_console = True
        logger.addHandler(handler)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for key, value in _PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    _show_progress()
    try:
        config = _load(args)
        summary = _run(config)
    except UserInputError as error:
        print(f"plateau-doctor: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("plateau-doctor: interrupted", file=sys.stderr)
        return 1
    except Exception as error:  # anything else is ours or the environment's: say so, exit 1
        logging.getLogger("plateau_doctor").debug("run failed", exc_info=True)
        print(f"plateau-doctor: failed: {error.__class__.__name__}: {error}", file=sys.stderr)
        return 1
    _print_verdict(summary)
    return 0


def _load(args):
    from plateau_doctor.backends import select_backend
    from plateau_doctor.config import load_config
    from plateau_doctor.data import prepare_from_config
    from plateau_doctor.modeling import check_identifiers, check_model_file

    overrides = list(args.overrides)
    if args.out:
        overrides.append(f"output.dir={args.out}")
    if args.command == "demo":
        config = load_config(DEMO_CONFIG, overrides)
        if not args.out and not any(o.startswith("output.dir=") for o in overrides):
            config.output.dir = "results"
    else:
        config = load_config(args.config, overrides)
    select_backend(config.training.backend)  # Keras reads KERAS_BACKEND at its first import, just below
    check_identifiers(config)
    check_model_file(config)
    # Bad data is the user's to fix: say so in one line, before Prefect starts and logs a failed run.
    prepare_from_config(config, audit=False)
    return config


def _run(config) -> dict:
    from flows.doctor import doctor

    return doctor(config)


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


if __name__ == "__main__":
    sys.exit(main())

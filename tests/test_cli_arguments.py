"""The command line's own arguments: a usage error is bad input like any other, one line and exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from plateau_doctor.cli import main


@pytest.mark.parametrize(
    "argv, names",
    [
        (["run"], "--config"),
        (["run", "--config"], "--config"),
        (["diagnose"], "HISTORY"),
        (["diagnose", "log.csv", "--task", "ranking"], "--task"),
        (["cure"], "'cure'"),
    ],
)
def test_a_usage_error_exits_2_with_one_line_naming_the_argument(capsys, argv, names):
    assert main(argv) == 2
    printed = capsys.readouterr()
    assert printed.err.count("\n") == 1 and names in printed.err and "usage:" not in printed.err
    assert printed.err.startswith("plateau-doctor") and printed.out == ""


def test_help_still_exits_0(capsys):
    assert main(["run", "-h"]) == 0
    assert "--config" in capsys.readouterr().out


def test_run_without_config_exits_2_through_the_installed_command():
    """``entry`` ends the process itself: the status must reach the shell as 2, not as an exception's 1."""
    code = "import sys; from plateau_doctor.cli import entry; sys.argv = ['plateau-doctor', 'run']; entry()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr == (
        "plateau-doctor run: error: the following arguments are required: --config (see plateau-doctor run -h)\n"
    )

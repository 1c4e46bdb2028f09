"""Errors that the user can fix. Each says what is wrong and what to do instead.

The CLI maps every ``UserInputError`` to exit status 2 with its message on stderr;
anything else is a bug or an environment failure and exits 1.
"""

from __future__ import annotations


class UserInputError(Exception):
    """Bad input that the user can fix: a config value or the data."""

    exit_code = 2


class ConfigError(UserInputError, ValueError):
    """A config field has a value that cannot work; the message names the field."""


class DataError(UserInputError, ValueError):
    """The table cannot be used as it is; the message names the column or file."""


class ArgumentError(UserInputError, ValueError):
    """An argument of a Python call (``plateau_doctor.repair``) cannot work; the message names the argument."""

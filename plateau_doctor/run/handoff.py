"""The CLI's prepared table, handed to the flow it runs in the same process.

The CLI reads and checks the table before Prefect starts (a bad table is exit 2, nothing
logged as a failed run); the flow's first stage used to read, split and audit it again.
The CLI now finishes the preparation, audit included, from the frame it already read,
while Prefect's server boots, and leaves it here; the load stage takes it when its config
asks for exactly the same data and preprocessing, and prepares the table itself otherwise
(a direct flow call, a deployment, another config). Only the process that prepared it
can take it: branch processes prepare their own, with their own preprocessing.
"""

from __future__ import annotations

from plateau_doctor.data.prepare import PreparedData

_offered: tuple[str, PreparedData] | None = None


def _key(config) -> str:
    return config.data.model_dump_json() + config.preprocessing.model_dump_json()


def offer(config, data: PreparedData) -> None:
    """Leave ``data`` (prepared as ``config`` says, audit included) for this process's flow."""
    global _offered
    if data.audit is None:
        raise ValueError("only a fully prepared table (with its audit) can stand in for the load stage")
    _offered = (_key(config), data)


def take(config) -> PreparedData | None:
    """The offered table if ``config`` asks for the same data and preprocessing; it is handed over once."""
    global _offered
    if _offered is None or _offered[0] != _key(config):
        return None
    data, _offered = _offered[1], None
    return data


def check_table(config):
    """Read and check the table without the audit (the CLI's fast exit 2); returns (data, the frame read).

    The frame is None when the table streams (larger than memory): it is not kept, and the
    flow prepares it itself.
    """
    from plateau_doctor.data import stream as streaming
    from plateau_doctor.data.prepare import load_table, prepare_data, prepare_from_config

    if streaming.should_stream(config.data):
        return prepare_from_config(config, audit=False), None
    frame = load_table(config.data.path)
    return prepare_data(frame, config.data, config.preprocessing, audit=False), frame


def prepare_for_flow(config, frame) -> None:
    """Split, scale and audit the frame already read, and offer the result to the flow."""
    from plateau_doctor.data.prepare import prepare_data

    if frame is not None:
        offer(config, prepare_data(frame, config.data, config.preprocessing, audit=True))

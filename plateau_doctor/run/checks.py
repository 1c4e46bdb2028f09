"""Every check of the user's input that can run before a run starts, in one place.

The CLI and ``plateau_doctor.run`` call :func:`check_inputs` before Prefect starts or any
result is written, so bad input ends in one ``UserInputError`` (exit 2 at the CLI) that
names the field or column and the fix. The order keeps the common mistakes cheap:

1. the results folder (``output.dir`` / ``--out``): a folder this user can make or write;
2. ``model.path`` as a file (exists, is a Keras archive) and the data: no TensorFlow yet;
3. what needs Keras, with TensorFlow's start-up lines silenced: the identifiers, the saved
   model's input width and layers, and whether the loss can train the task at all.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from plateau_doctor.config import DoctorConfig, _resolve_relative_paths
from plateau_doctor.errors import ConfigError, UserInputError


def check_inputs(config: DoctorConfig, out_field: str = "output.dir", before_keras=None):
    """Check ``config`` and its data; returns the prepared data (without the audit). Makes paths absolute.

    The table is read once, checked and written as the run's prepared split (``data.prepared``),
    which the flow then reads by path. ``before_keras`` runs once the checks that need no Keras
    have passed (the CLI starts Prefect's server there, to boot while Keras is imported). On bad
    input the split this check wrote is removed again: nothing is left under the results folder.
    """
    from plateau_doctor.data.prepared import ensure_split, load_split, prepared_dir
    from plateau_doctor.training.model import check_model_path

    _resolve_relative_paths(config, None)  # a config given as a dict: summary.json must name absolute paths
    check_extras(config)
    check_output_dir(config.output.dir, out_field)
    check_model_path(config)
    made: list[Path] = []
    try:
        made = _not_yet_there(prepared_dir(config))
        data = load_split(ensure_split(config), config.data, config.preprocessing, audit=False)
        if before_keras is not None:
            before_keras()
        check_with_keras(config, data)
    except UserInputError:
        _remove_made(made)
        raise
    return data


EXTRAS: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("remedies.runner", "dask"): ("dask", ("prefect_dask", "dask", "distributed")),
    ("training.backend", "jax"): ("jax", ("jax",)),
    ("training.backend", "torch"): ("torch", ("torch",)),
}
"""What a config value needs beyond the plain install: (field, value) -> (the extra, its modules)."""


def check_extras(config: DoctorConfig) -> None:
    """A runner or backend whose extra is not installed: one ConfigError naming the extra to install."""
    for (field, value), (extra, modules) in EXTRAS.items():
        section, name = field.split(".")
        if getattr(getattr(config, section), name, None) != value:
            continue
        missing = [module for module in modules if not _installed(module)]
        if missing:
            raise ConfigError(
                f"{field}: {value} needs the [{extra}] extra ({', '.join(missing)} not installed); "
                f"pip install 'plateau-doctor[{extra}]', or choose another {name}"
            )


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _not_yet_there(folder: Path) -> list[Path]:
    """``folder`` and its parents that do not exist yet, innermost first."""
    made = []
    for path in [folder, *folder.parents]:
        if path.exists():
            break
        made.append(path)
    return made


def _remove_made(made: list[Path]) -> None:
    import shutil

    if made:
        shutil.rmtree(made[0], ignore_errors=True)  # the split this check wrote, keyed to this table
    for path in made[1:]:
        try:
            path.rmdir()  # only if empty: another run may have started writing here meanwhile
        except OSError:
            break


def check_with_keras(config: DoctorConfig, data) -> None:
    """The checks that need Keras: identifiers, model.path's contents, and whether the loss can train the task."""
    from plateau_doctor.training.model import check_identifiers, check_loss_fits_task, check_model_file

    with quiet_native_stderr():
        import keras  # noqa: F401  (TensorFlow prints its start-up lines here, once)
    check_identifiers(config)
    model = check_model_file(config, n_features=len(data.feature_names))
    output_units = None
    if model is not None and getattr(model, "outputs", None):
        output_units = model.outputs[0].shape[-1]
    check_loss_fits_task(config, data.task, data.n_classes, output_units=output_units)


class quiet_native_stderr:
    """Send file descriptor 2 to /dev/null for the block: C++ libraries write there, past ``sys.stderr``."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        return False


def check_output_dir(value: str, field: str) -> None:
    """The results folder must be a folder this user can create or write; raise ConfigError naming ``field``."""
    if not value or not str(value).strip():
        raise ConfigError(f"{field}: is empty; give a results folder, e.g. results")
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{field}: {value} is a file, not a folder; give a folder (new or existing) for the results")
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(
            f"{field}: {value} lies under the file {ancestor}, so no folder can be made there; give a folder elsewhere"
        )
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{field}: {value} cannot be written ({ancestor} is not writable); give a folder you can write")

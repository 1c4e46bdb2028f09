"""Every cause the doctor can name, one registered unit each (see :mod:`.registry`).

Importing this package imports every family module, which registers its causes. Read the
registry through :data:`REGISTRY`, :func:`cause_words`, :func:`cause_remedies` and
:func:`specificity`; write a new cause with :func:`register` in its family's module.
"""

from plateau_doctor.engine.causes import (  # noqa: F401  (imported to register their causes)
    architecture,
    capacity,
    data,
    learning_rate,
    mismatch,
    optimizer,
    scaling,
)
from plateau_doctor.engine.causes.mismatch import check_setup
from plateau_doctor.engine.causes.readings import REPORT_CONFIDENCE, Case
from plateau_doctor.engine.causes.registry import REGISTRY, Cause, CauseRule, cause_remedies, cause_words, register, specificity

__all__ = [
    "REGISTRY",
    "REPORT_CONFIDENCE",
    "Case",
    "Cause",
    "CauseRule",
    "cause_remedies",
    "cause_words",
    "check_setup",
    "register",
    "specificity",
]

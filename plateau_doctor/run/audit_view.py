"""The data audit as a branch with its own preprocessing sees it."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from plateau_doctor.config import DoctorConfig
from plateau_doctor.schema import DataAudit


def audit_for(config: DoctorConfig, audit: DataAudit) -> DataAudit:
    """The audit as a branch trained with ``config`` sees the data: its own scaling, its losses in its target's scale.

    The raw statistics and the references do not change; whether the features and the
    target are scaled does, and so does the scale of the regression losses (MSE on the
    standardized target is the raw MSE over the target's variance).
    """
    scaled_target = config.preprocessing.scale_target and audit.task == "regression"
    changes: dict[str, Any] = {"scaled_features": config.preprocessing.scale_features, "scaled_target": scaled_target}
    variance = audit.target_std**2
    if audit.task == "regression" and scaled_target != audit.scaled_target and math.isfinite(variance) and variance > 0:
        factor = 1 / variance if scaled_target else variance
        changes["trivial_val_loss"] = audit.trivial_val_loss * factor
        changes["reference_val_loss"] = audit.reference_val_loss * factor
    return dataclasses.replace(audit, **changes)

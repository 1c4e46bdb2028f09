"""``from plateau_doctor.keras import DoctorCallback``: the callback's public home (it lives in ``training.callback``)."""

from plateau_doctor.training.callback import DoctorCallback

__all__ = ["DoctorCallback"]

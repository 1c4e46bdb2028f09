"""Prefect entry points named by prefect.yaml; the flows live in ``plateau_doctor.orchestration``."""

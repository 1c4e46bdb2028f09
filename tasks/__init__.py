"""Prefect tasks: thin wrappers over ``plateau_doctor``, one module per pipeline stage."""

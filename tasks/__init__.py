"""The Prefect tasks live in ``plateau_doctor.orchestration.tasks``, installed with the package.

This folder is kept for the layout that prefect.yaml and older checkouts know; nothing is
installed from it (a top-level ``tasks`` package would shadow any user module of that name).
"""

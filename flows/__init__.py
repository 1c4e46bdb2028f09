"""Prefect flows: they compose the tasks, nothing more."""

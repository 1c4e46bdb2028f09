"""The Prefect layer: tasks that wrap the core's stages, and the flows that compose them.

The core (``plateau_doctor`` outside this package) never imports it. ``flows/doctor.py``
and ``flows/retrain.py`` at the top of the repository are the entry points that
``prefect.yaml`` names; they import the flows from here.
"""

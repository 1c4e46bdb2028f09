"""Stage 1-2: load the table, check it, split and scale it, audit it."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from plateau_doctor import pipeline

load_and_prepare = task(pipeline.load_stage, name="load-and-prepare-data", cache_policy=NO_CACHE)

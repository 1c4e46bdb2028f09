"""Stage 3: fit the user's baseline model while recording the training signals."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from plateau_doctor import pipeline

fit_baseline = task(pipeline.baseline_stage, name="fit-baseline", cache_policy=NO_CACHE)

"""Stage 4: what the curves show (symptoms) and why (causes), with evidence."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from plateau_doctor import pipeline

check_setup_before_training = task(pipeline.check_setup_stage, name="check-setup", cache_policy=NO_CACHE)
diagnose_run = task(pipeline.diagnose_stage, name="diagnose", cache_policy=NO_CACHE)

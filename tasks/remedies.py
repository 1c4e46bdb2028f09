"""Stage 5-6: plan the remedy branches the evidence points to, run them, retrain the winner."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from plateau_doctor import pipeline
from plateau_doctor.remedies import run_branch

plan = task(pipeline.plan_stage, name="plan-remedies", cache_policy=NO_CACHE)
# A failing branch is recorded in its outcome (status "failed", the error), never raised.
remedy_branch = task(run_branch, name="remedy-branch", cache_policy=NO_CACHE)
retrain_winner = task(pipeline.retrain_stage, name="retrain-winner", cache_policy=NO_CACHE)
# The fallback search trains its trials one after another in this process (Keras' seed is process-global).
guided_search = task(pipeline.search_stage, name="guided-search", cache_policy=NO_CACHE)

"""The scheduler: runs each scheduled policy's release on its cron schedule, once across replicas.

``_cron`` says when a schedule fires (pure, DST-aware); ``service`` claims due runs
in the database and releases each run in the claim's transaction.
"""

from broker.scheduler._cron import LOOKBACK, fire_times, next_fire, previous_fire
from broker.scheduler.models import SchedulerRun
from broker.scheduler.service import (
    FIRST_RUN_WINDOW,
    RETRY_FIRST,
    RETRY_MOST,
    WAKE_EVERY,
    Scheduler,
    claim,
    default_identity,
    due_runs,
    run_forever,
)

__all__ = [
    "FIRST_RUN_WINDOW",
    "LOOKBACK",
    "RETRY_FIRST",
    "RETRY_MOST",
    "WAKE_EVERY",
    "Scheduler",
    "SchedulerRun",
    "claim",
    "default_identity",
    "due_runs",
    "fire_times",
    "next_fire",
    "previous_fire",
    "run_forever",
]

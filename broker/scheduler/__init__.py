"""The scheduler: runs each scheduled policy's release on its cron schedule, once across replicas.

``_cron`` parses a policy's schedule (a cron expression in a time zone) and says when
it fires (pure, DST-aware); ``service`` claims due runs in the database and releases
each run in the claim's transaction. The policy engine takes :class:`Schedule` from here.
"""

from broker.scheduler._cron import LOOKBACK, Schedule, fire_times, next_fire, previous_fire
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
    stand_in,
)

__all__ = [
    "FIRST_RUN_WINDOW",
    "LOOKBACK",
    "RETRY_FIRST",
    "RETRY_MOST",
    "WAKE_EVERY",
    "Schedule",
    "Scheduler",
    "SchedulerRun",
    "claim",
    "default_identity",
    "due_runs",
    "fire_times",
    "next_fire",
    "previous_fire",
    "run_forever",
    "stand_in",
]

"""ORM model of the scheduled runs claimed: one row per run, so that each run fires once."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base, UtcDateTime

__all__ = ["SchedulerRun"]


class SchedulerRun(Base):
    """One scheduled run of one policy, claimed by one broker process.

    The primary key is the run itself: a second replica's claim of the same run
    conflicts, so every replica on one database fires it once in total.
    ``claimed_by`` names a process (``host:pid``), never a person.
    """

    __tablename__ = "scheduler_runs"

    policy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    due_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, primary_key=True)
    claimed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str] = mapped_column(String(64))

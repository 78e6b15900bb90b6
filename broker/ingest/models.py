"""Uploads waiting for the rehousing officer's confirmation, as stored.

An upload checked on the pages is kept here, as the validated schedule (the
personal columns already dropped: only catalogue fields), until the officer
confirms or discards it, or it expires. A rejected upload keeps only its problems
(row, column and rule: never a value), for the problem sheet.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base, UtcDateTime

__all__ = ["StagedUpload"]


class StagedUpload(Base):
    """One checked upload: its schedule (or its problems) and who may confirm it, until when."""

    __tablename__ = "staged_uploads"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    org: Mapped[str] = mapped_column(String(40))
    staged_by: Mapped[str] = mapped_column(String(64))
    """The principal's id (a web user's): only they see or confirm it."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    source_format: Mapped[str] = mapped_column(String(8))
    rows: Mapped[int] = mapped_column(Integer)
    dropped_columns: Mapped[list[str]] = mapped_column(JSON)
    schedule: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The validated :class:`schemas.ScheduleUpload` as JSON; None when rejected."""
    problems: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """When rejected: ``count``, the ``groups`` (rule, column, count, first rows) and the
    first problems ``kept`` (rule, row, column); None when accepted."""

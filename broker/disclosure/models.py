"""ORM models of the disclosure log's indexes: whom each entry concerns, what it is about.

And which dwellings (by keyed reference) it names.

Both are written with each entry, in its transaction, and like the log itself
they are append-only: the database refuses UPDATE and DELETE (migration 0013),
and so do the broker's sessions (``broker.db``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Date, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base

__all__ = ["LOG_WIDE", "EntryDwelling", "EntryFacts", "EntryOrg"]

LOG_WIDE = "*"
"""The ``org`` of an entry about the whole log (a key rotation, a purge): every auditor's."""


class EntryOrg(Base):
    """One organisation an entry concerns; written with the entry, in its transaction.

    An auditor token of an organisation reads the entries indexed under it, and the
    log-wide ones (``LOG_WIDE``). An entry with no row concerns no organisation an
    auditor token can hold (e.g. an operator's read): only the CLI shows it.
    """

    __tablename__ = "log_entry_orgs"

    org: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class EntryFacts(Base):
    """What the entry list filters by, one row per entry: its event, recipient, policy, day.

    Only these facts, copied from the entry's own fields (None where the entry names
    none), never a dwelling or a value about a person. Each index leads with the
    fact and ends with ``seq``, so a page of a sparse filter reads that page's rows.
    """

    __tablename__ = "log_entry_facts"
    __table_args__ = (
        Index("ix_log_entry_facts_event_seq", "event", "seq"),
        Index("ix_log_entry_facts_recipient_seq", "recipient", "seq"),
        Index("ix_log_entry_facts_policy_id_seq", "policy_id", "seq"),
        Index("ix_log_entry_facts_day_seq", "day", "seq"),
    )

    # No foreign key to ``log_entries``: that table is ``audit``'s, which knows nothing
    # of the broker's indexes (as ``log_entry_orgs``, written in the same transaction).
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    event: Mapped[str | None] = mapped_column(String)
    recipient: Mapped[str | None] = mapped_column(String)
    policy_id: Mapped[str | None] = mapped_column(String)
    day: Mapped[dt.date | None] = mapped_column(Date)
    """The UTC day of the entry's ``time``: what ``since`` and ``until`` compare."""


class EntryDwelling(Base):
    """One dwelling an entry names, by the keyed reference the entry holds (never an address).

    Written with the entry, in its transaction (migration 0017 for those before):
    the entry list's dwelling filter and the access request select by it.
    """

    __tablename__ = "log_entry_dwellings"

    reference: Mapped[str] = mapped_column(String, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)

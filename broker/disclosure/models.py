"""ORM model of which organisations each disclosure-log entry concerns: the auditors' index."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base

__all__ = ["LOG_WIDE", "EntryOrg"]

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

"""log_entry_orgs: which organisations each log entry concerns; policy_versions names its parties

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-25

An auditor token reads only the entries of its own organisation. The index is
written with each entry from now on; this migration fills it for the entries
before, by the rule of ``broker.disclosure._orgs`` (copied here, as a migration
must not change when that module does), and reads the discloser and recipient of
every stored policy text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
import yaml
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_LOG_WIDE = "*"
_LOG_WIDE_EVENTS = frozenset({"key-rotated", "retention-purge"})
_ORG = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
_RECIPIENT = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}/[a-z0-9][a-z0-9-]{1,39}$")
_BATCH = 1000

_policy_versions = sa.table(
    "policy_versions",
    sa.column("content_hash", sa.String),
    sa.column("text", sa.Text),
    sa.column("discloser", sa.String),
    sa.column("recipient", sa.String),
)
_entries = sa.table("log_entries", sa.column("seq", sa.BigInteger), sa.column("entry"))
_tokens = sa.table("tokens", sa.column("id", sa.String), sa.column("org", sa.String))
_orgs = sa.table("log_entry_orgs", sa.column("org", sa.String), sa.column("seq", sa.BigInteger))


def _parties(text: str) -> tuple[str | None, str | None]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None, None
    if not isinstance(document, dict):
        return None, None
    discloser, recipient = document.get("discloser"), document.get("recipient")
    return (
        discloser if isinstance(discloser, str) and _ORG.match(discloser) else None,
        recipient if isinstance(recipient, str) and _RECIPIENT.match(recipient) else None,
    )


def _fill_policy_parties(bind: sa.Connection) -> dict[str, str]:
    disclosers: dict[str, str] = {}
    rows = bind.execute(sa.select(_policy_versions.c.content_hash, _policy_versions.c.text)).all()
    for content_hash, text in rows:
        discloser, recipient = _parties(text)
        bind.execute(
            _policy_versions.update()
            .where(_policy_versions.c.content_hash == content_hash)
            .values(discloser=discloser, recipient=recipient)
        )
        if discloser is not None:
            disclosers[content_hash] = discloser
    return disclosers


def _party(value: object) -> str | None:
    return value.split("/", 1)[0] if isinstance(value, str) and value else None


def _stored_entries(bind: sa.Connection) -> Iterator[tuple[int, bytes]]:
    # Page by sequence number: the log may hold millions, and inserts run between pages.
    last = -1
    while True:
        page = bind.execute(
            sa.select(_entries.c.seq, _entries.c.entry)
            .where(_entries.c.seq > last)
            .order_by(_entries.c.seq)
            .limit(_BATCH)
        ).all()
        if not page:
            return
        for seq, raw in page:
            yield int(seq), bytes(raw)
        last = int(page[-1][0])


def _entry_orgs(
    bind: sa.Connection, disclosers: dict[str, str], readers: dict[str, str]
) -> Iterator[dict[str, Any]]:
    made_by_release: dict[str, set[str]] = {}
    made_by_check: dict[str, set[str]] = {}
    for seq, raw in _stored_entries(bind):
        entry = json.loads(raw)
        event = entry.get("event")
        orgs: set[str] = set()
        if event in _LOG_WIDE_EVENTS:
            orgs.add(_LOG_WIDE)
        else:
            orgs |= {org for key in ("discloser", "recipient") if (org := _party(entry.get(key)))}
            if "discloser" not in entry and entry.get("policy_hash") in disclosers:
                orgs.add(disclosers[entry["policy_hash"]])
            release_id, check_id = entry.get("release_id"), entry.get("check_id")
            orgs |= made_by_release.get(str(release_id), set())
            orgs |= made_by_check.get(str(check_id), set())
            if "policy_hash" in entry and isinstance(release_id, str):
                made_by_release.setdefault(release_id, set()).update(orgs)
                if isinstance(check_id, str):
                    made_by_check.setdefault(check_id, set()).update(orgs)
            actor = str(entry.get("actor", ""))
            if event == "audit-read" and actor.startswith("token:"):
                reader = readers.get(actor.removeprefix("token:"))
                if reader is not None:
                    orgs.add(reader)
        for org in sorted(orgs):
            yield {"org": org, "seq": seq}


def upgrade() -> None:
    with op.batch_alter_table("policy_versions") as batch_op:
        batch_op.add_column(sa.Column("discloser", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("recipient", sa.String(length=81), nullable=True))
        batch_op.create_index(batch_op.f("ix_policy_versions_discloser"), ["discloser"])
        batch_op.create_index(batch_op.f("ix_policy_versions_recipient"), ["recipient"])
    op.create_table(
        "log_entry_orgs",
        sa.Column("org", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("org", "seq", name=op.f("pk_log_entry_orgs")),
    )
    bind = op.get_bind()
    disclosers = _fill_policy_parties(bind)
    readers = {str(i): str(org) for i, org in bind.execute(sa.select(_tokens.c.id, _tokens.c.org))}
    batch: list[dict[str, Any]] = []
    for row in _entry_orgs(bind, disclosers, readers):
        batch.append(row)
        if len(batch) == _BATCH:
            bind.execute(sa.insert(_orgs), batch)
            batch = []
    if batch:
        bind.execute(sa.insert(_orgs), batch)


def downgrade() -> None:
    op.drop_table("log_entry_orgs")
    with op.batch_alter_table("policy_versions") as batch_op:
        batch_op.drop_index(batch_op.f("ix_policy_versions_recipient"))
        batch_op.drop_index(batch_op.f("ix_policy_versions_discloser"))
        batch_op.drop_column("recipient")
        batch_op.drop_column("discloser")

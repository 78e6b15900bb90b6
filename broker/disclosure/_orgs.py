"""Which organisations a disclosure-log entry concerns: what an auditor token may read.

The rule, applied when an entry is recorded (and by migration 0012 to the entries
before it):

1. A key rotation or a retention purge is about the whole log (``LOG_WIDE``): it
   names no dwelling and no party, and every auditor needs it to verify.
2. An entry concerns the parties it names: its ``discloser``, and the organisation
   part of its ``recipient`` (``albertslund`` of ``albertslund/visitation``).
3. An entry about a release (``release_id``) or a contact check (``check_id``) also
   concerns the parties of the entry that made that release: a delivery names only
   the recipient, a closed check and a reply name no policy.
4. An ``audit-read`` concerns the organisation of the token, or of the user signed in
   to the pages, that read. A read by the operator's CLI concerns none.

An entry that concerns no organisation (a read by the CLI, an objection recorded
before objections named their discloser) is shown by the operator's CLI only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from sqlalchemy import exists, insert, select
from sqlalchemy.orm import Session

from audit import EntryValue
from broker.disclosure.models import LOG_WIDE, EntryOrg

if TYPE_CHECKING:
    from broker.policy import Policy

__all__ = ["LOG_WIDE_EVENTS", "audience", "entry_orgs", "index_orgs", "is_party", "party_of"]

LOG_WIDE_EVENTS = frozenset({"key-rotated", "retention-purge"})


def party_of(value: EntryValue) -> str | None:
    """Return the organisation in a ``discloser`` or ``recipient`` value, or None."""
    if not isinstance(value, str) or not value:
        return None
    return value.split("/", 1)[0]


def _release_orgs(session: Session, release_id: str) -> set[str]:
    from broker.release.models import Release  # noqa: PLC0415 - release imports this package

    query = (
        select(EntryOrg.org)
        .join(Release, Release.log_seq == EntryOrg.seq)
        .where(Release.id == release_id)
    )
    return set(session.scalars(query))


def _check_orgs(session: Session, check_id: str) -> set[str]:
    from broker.contact.models import ContactCheck  # noqa: PLC0415 - contact imports this package

    release_id = session.scalar(select(ContactCheck.release_id).where(ContactCheck.id == check_id))
    return _release_orgs(session, release_id) if release_id is not None else set()


def _reader_org(session: Session, actor: EntryValue) -> str | None:
    from broker.access.models import Token  # noqa: PLC0415 - kept beside its siblings' imports
    from broker.accounts.models import User  # noqa: PLC0415 - the same

    if not isinstance(actor, str):
        return None
    if actor.startswith("token:"):
        return session.scalar(select(Token.org).where(Token.id == actor.removeprefix("token:")))
    if actor.startswith("user:"):
        return session.scalar(select(User.org).where(User.id == actor.removeprefix("user:")))
    return None


def entry_orgs(session: Session, fields: Mapping[str, EntryValue]) -> frozenset[str]:
    """Return the organisations the entry with ``fields`` concerns (``LOG_WIDE`` for all)."""
    # 1. Log-wide events.
    if fields.get("event") in LOG_WIDE_EVENTS:
        return frozenset({LOG_WIDE})
    # 2. The parties the entry names.
    orgs = {org for key in ("discloser", "recipient") if (org := party_of(fields.get(key)))}
    # 3. The parties of the release or check it is about.
    release_id, check_id = fields.get("release_id"), fields.get("check_id")
    if isinstance(release_id, str):
        orgs |= _release_orgs(session, release_id)
    if isinstance(check_id, str):
        orgs |= _check_orgs(session, check_id)
    # 4. Whose token read the log.
    if fields.get("event") == "audit-read":
        reader = _reader_org(session, fields.get("actor"))
        orgs |= {reader} if reader is not None else set()
    return frozenset(orgs)


def index_orgs(
    session: Session, first_seq: int, entries: Sequence[Mapping[str, EntryValue]]
) -> None:
    """Index the entries appended from ``first_seq`` under the organisations they concern."""
    rows: list[dict[str, object]] = [
        {"org": org, "seq": first_seq + offset}
        for offset, fields in enumerate(entries)
        for org in sorted(entry_orgs(session, fields))
    ]
    if rows:
        session.execute(insert(EntryOrg), rows)


def audience(org: str) -> Iterable[str]:
    """Return the index keys an auditor of ``org`` reads: its own and the log-wide ones."""
    return (org, LOG_WIDE)


def is_party(session: Session, org: str, policies: Iterable[Policy]) -> bool:
    """Return whether ``org`` is a party of this broker's disclosures.

    A party is the discloser or recipient of a policy in force, or of a release
    on record (a scheduled release or a contact check, past policies included).
    """
    if any(org in (p.discloser, party_of(p.recipient)) for p in policies):
        return True
    from broker.release.models import Release  # noqa: PLC0415 - release imports this package

    on_record = (
        select(Release.id)
        .join(EntryOrg, EntryOrg.seq == Release.log_seq)
        .where(EntryOrg.org == org)
    )
    return bool(session.scalar(select(exists(on_record))))

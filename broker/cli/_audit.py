"""``broker audit``: verify, review, export and purge the disclosure log."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from audit import RECEIPT_HEADER, Verified, sequenced_size
from broker.cli._common import CommandFailed, now, open_session, publish_log, settings_of
from broker.config import Settings
from broker.disclosure import (
    EntryFilter,
    Reader,
    dwelling_count,
    export_log,
    purge,
    review_entries,
    verify_log,
)
from broker.errors import InputError, LogVerificationError, NotFound
from broker.keys import KeyRing, load_keys
from broker.policy import duration_days, load_policies
from broker.release import forget_purged
from broker.renovation.service import find_dwelling

if TYPE_CHECKING:
    from broker.rights import Disclosed

__all__ = ["audit"]

_DATE = click.DateTime(formats=["%Y-%m-%d"])
_OPERATOR = Reader(actor="cli")
"""The operator's CLI reads every entry; its reads name the actor ``cli``."""


def _date(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value is not None else None


def _ring(settings: Settings) -> KeyRing:
    return load_keys(settings)


@click.group()
def audit() -> None:
    """The disclosure log: verify, list, per-dwelling review, export, purge."""


def _held(paths: tuple[Path, ...]) -> list[tuple[str, str]]:
    """Checkpoints kept outside the database: receipts or bare checkpoint notes."""
    held = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        note = text.partition("\n\n")[2] if text.startswith(RECEIPT_HEADER) else text
        held.append((f"checkpoint held in {path.name}", note))
    return held


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoints",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A receipt or signed checkpoint kept elsewhere; the log must extend it. Repeatable.",
)
@click.pass_context
def audit_verify(ctx: click.Context, checkpoints: tuple[Path, ...]) -> None:
    """Recompute every leaf and root; check every signature, cosignature and content."""
    settings = settings_of(ctx)
    ring = _ring(settings)
    with open_session(settings) as session:
        if not checkpoints and sequenced_size(session.connection()) == 0:
            click.echo("the log is empty: nothing has been recorded yet")
            return
        try:
            result, cosignatures, contents = verify_log(
                session, ring, settings, None, at=now(), held=_held(checkpoints)
            )
        except LogVerificationError as error:
            click.echo(f"FAILED: {error}")
            raise CommandFailed from error
    click.echo(_verified(result, cosignatures, contents))


def _verified(result: Verified, cosignatures: int, contents: int) -> str:
    import base64  # noqa: PLC0415

    if result.size == 0:
        return (
            f"{result.pending} entries wait for the log's first checkpoint (broker serve "
            f"signs it); {contents} stored contents checked"
        )
    root = base64.b64encode(result.root).decode()
    waiting = (
        f"; {result.pending} newer entries wait for their checkpoint" if result.pending else ""
    )
    return (
        f"verified: size {result.size}, root {root} ({result.checkpoints} checkpoints, "
        f"{cosignatures} cosignatures, {contents} stored contents){waiting}"
    )


@audit.command("export")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "since", type=_DATE, default=None, help="First day (YYYY-MM-DD).")
@click.option("--to", "until", type=_DATE, default=None, help="Last day (YYYY-MM-DD).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv"]),
    default="jsonl",
    show_default=True,
    help="jsonl: a verifiable bundle; csv: a table for a spreadsheet.",
)
@click.pass_context
def audit_export(
    ctx: click.Context,
    out: Path,
    since: dt.datetime | None,
    until: dt.datetime | None,
    fmt: str,
) -> None:
    """Write the log (or a period of it) for an auditor; the export is itself recorded."""
    settings = settings_of(ctx)
    ring = _ring(settings)
    with open_session(settings) as session, out.open("w", encoding="utf-8", newline="") as file:
        counts = export_log(
            session,
            ring,
            settings,
            _OPERATOR,
            file,
            at=now(),
            since=_date(since),
            until=_date(until),
            fmt="csv" if fmt == "csv" else "jsonl",
        )
    if fmt == "csv":
        click.echo(f"wrote {counts['entries']} entries to {out}")
        return
    click.echo(
        f"wrote {counts['entries']} entries, {counts['leaves']} leaf hashes and "
        f"{counts['checkpoints']} checkpoints (log size {counts['size']}) to {out}"
    )
    publish_log(settings)


def _line(entry: dict[str, Any]) -> str:
    parts = [f"{entry['seq']:>6}", str(entry["time"]), f"{entry['event']:<19}"]
    parts += [f"{key}={entry[key]}" for key in ("recipient", "policy_id") if entry.get(key)]
    if dwelling_count(entry):
        parts.append(f"dwellings={dwelling_count(entry)}")
    if entry.get("fields"):
        parts.append("fields=" + ",".join(entry["fields"]))
    return "  ".join(parts)


@audit.command("list")
@click.option("--event", default=None, help="Only this event, e.g. release.")
@click.option("--recipient", default=None, help="Only this recipient, e.g. albertslund/visitation.")
@click.option("--policy", "policy_id", default=None, help="Only this policy id.")
@click.option("--from", "since", type=_DATE, default=None, help="First day (YYYY-MM-DD).")
@click.option("--to", "until", type=_DATE, default=None, help="Last day (YYYY-MM-DD).")
@click.option("--json", "as_json", is_flag=True, help="One JSON entry per line.")
@click.pass_context
def audit_list(  # noqa: PLR0913, PLR0917 - click passes one argument per option
    ctx: click.Context,
    event: str | None,
    recipient: str | None,
    policy_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    as_json: bool,
) -> None:
    """List entries, oldest first, narrowed by the filters given."""
    settings = settings_of(ctx)
    ring = _ring(settings)
    where = EntryFilter(event, recipient, policy_id, _date(since), _date(until))
    with open_session(settings) as session:
        found = review_entries(session, ring, _OPERATOR, where, at=now(), query="list").entries
    for entry in found:
        click.echo(json.dumps(entry, ensure_ascii=False) if as_json else _line(entry))
    click.echo(f"{len(found)} entries", err=True)
    publish_log(settings)


def _dwelling_ref(session: Any, text: str) -> str:
    """Return the dwelling a reference, a whole address or the start of one names.

    Raises:
        CommandFailed: several dwellings match the start typed (they are listed).
        NotFound: none does.
    """
    from broker.contact.service import find_dwellings  # noqa: PLC0415 - keeps --help fast

    try:
        return find_dwelling(session, text)
    except NotFound:
        if text.strip().startswith("dw-"):
            raise
    try:
        found = find_dwellings(session, None, text, limit=20)
    except InputError as exc:
        raise NotFound("no dwelling with that address") from exc
    if len(found.dwellings) == 1 and not found.more:
        return found.dwellings[0].ref
    if not found.dwellings:
        raise NotFound("no dwelling with that address")
    for dwelling in found.dwellings:
        click.echo(f"  {dwelling.ref}  {dwelling.address}", err=True)
    more = " (and more)" if found.more else ""
    raise CommandFailed(f"several dwellings match{more}: give more of the address, or the id")


def _describe(item: Disclosed) -> list[str]:
    """The lines of one disclosure after its entry line: the agreement, the data, delivery."""
    lines = []
    for name in (
        "policy_version",
        "policy_hash",
        "purpose",
        "legal_basis_gdpr",
        "legal_basis_national",
    ):
        value = getattr(item, name)
        if value:
            lines.append(f"        {name}: {value}")
    if item.policy_id and item.retention_known:
        lines.append(f"        retention: {item.retention or 'not set'}")
    if item.delivery:
        when = f" {item.delivered_at.isoformat()}" if item.delivered_at else ""
        lines.append(f"        delivery: {item.delivery}{when}")
    if item.values is not None:
        shown = {k: v for k, v in item.values.items() if k != "phases"}
        lines.append("        released: " + ", ".join(f"{k}={v}" for k, v in shown.items()))
        lines.extend(
            "        released phase: " + ", ".join(f"{k}={v}" for k, v in phase.items())
            for phase in item.values.get("phases") or []
        )
    if item.purged_at is not None:
        lines.append(f"        content purged: {item.purged_at.isoformat()}")
    if item.withdrawn:
        lines.append("        withdrawn from the recipient's list")
    if item.outcome:
        lines.append(f"        outcome: {item.outcome}")
    return lines


@audit.command("dwelling")
@click.argument("dwelling")
@click.option(
    "--receipts",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=(
        "Write each disclosure's receipt (tlog-proof) into this directory, and the"
        " dwelling's proof where the entry commits to its dwellings through a root."
    ),
)
@click.pass_context
def audit_dwelling(ctx: click.Context, dwelling: str, receipts: Path | None) -> None:
    """Every disclosure that concerned one dwelling: GDPR Art. 15.

    DWELLING is its id (dw-...), its address, or the start of it as typed
    (`prøvevej 1 st`): several matches are listed. Each disclosure shows both legal
    bases, the retention, the values as released (or when they were purged) and
    whether it was delivered.
    """
    from broker.rights import access_request  # noqa: PLC0415 - keeps --help fast

    settings = settings_of(ctx)
    ring = _ring(settings)
    loaded, _problems = load_policies([settings.policies_dir])
    with open_session(settings) as session:
        ref = _dwelling_ref(session, dwelling)
        answer = access_request(
            session, ring, _OPERATOR, ref, policies=[i.policy for i in loaded], at=now()
        )
    click.echo(f"dwelling {ref}: log reference {answer.reference}")
    for item in answer.disclosures:
        click.echo(_line_of(item))
        for line in _describe(item):
            click.echo(line)
        if receipts is not None:
            receipts.mkdir(parents=True, exist_ok=True)
            (receipts / f"entry-{item.seq}.tlog-proof").write_text(item.receipt)
            if item.dwelling_proof is not None:
                proof = receipts / f"entry-{item.seq}.dwelling-proof.json"
                proof.write_text(item.dwelling_proof)
    click.echo(f"{len(answer.disclosures)} disclosures, each with an inclusion proof", err=True)
    publish_log(settings)


def _line_of(item: Disclosed) -> str:
    parts = [f"{item.seq:>6}", item.time.isoformat().replace("+00:00", "Z"), f"{item.event:<19}"]
    parts += [
        f"{k}={v}" for k, v in (("recipient", item.recipient), ("policy_id", item.policy_id)) if v
    ]
    if item.dwellings:
        parts.append(f"dwellings={item.dwellings}")
    if item.fields:
        parts.append("fields=" + ",".join(item.fields))
    return "  ".join(parts)


@audit.command("policy-text")
@click.argument("content_hash")
@click.pass_context
def audit_policy_text(ctx: click.Context, content_hash: str) -> None:
    """Print the exact text of the agreement version with this hash, as it was put in force."""
    from broker.policy.service import policy_text  # noqa: PLC0415 - keeps --help fast

    settings = settings_of(ctx)
    with open_session(settings) as session:
        found = policy_text(session, content_hash.removeprefix("sha256:"))
        text, first_seen = found.text, found.first_seen_at
        click.echo(
            f"# {found.policy_id} version {found.version}, first in force {first_seen.isoformat()}",
            err=True,
        )
    click.echo(text, nl=not text.endswith("\n"))


@audit.command("purge")
@click.option(
    "--before",
    type=_DATE,
    default=None,
    help="Also purge every content recorded before this day (YYYY-MM-DD).",
)
@click.pass_context
def audit_purge(ctx: click.Context, before: dt.datetime | None) -> None:
    """Delete released contents past each policy's retention (and before --before).

    Entries stay and the log still verifies; the purge is itself an entry.
    """
    settings = settings_of(ctx)
    ring = _ring(settings)
    loaded, _problems = load_policies([settings.policies_dir])
    retention = {
        item.policy.id: duration_days(item.policy.retention)
        for item in loaded
        if item.policy.retention
    }
    with open_session(settings) as session:
        purged = purge(session, ring, at=now(), before=_date(before), retention_days=retention)
        # The outbox's copies of those releases go in the same transaction.
        forget_purged(session)
    click.echo(f"purged {purged} stored contents; the entries and their commitments remain")
    publish_log(settings)


@audit.command("witness")
@click.pass_context
def audit_witness(ctx: click.Context) -> None:
    """Send the newest checkpoint to the configured witnesses now."""
    settings = settings_of(ctx)
    if not settings.witnesses:
        click.echo("no witnesses configured (BROKER_WITNESSES or [[witnesses]] in broker.toml)")
        return
    publish_log(settings, witness_anyway=True)

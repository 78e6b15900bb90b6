"""Sending each new checkpoint to the configured witnesses, keeping their cosignatures.

Runs after an append has committed (never inside the transaction: a witness is
a network peer). A witness that cannot be reached is retried with the next
checkpoint; one that refuses because it saw a longer or different log is
reported loudly, because that means this log was rolled back or rewritten.

A receipt that goes out with a release is cut here, at delivery time, from the
newest checkpoint that covers the entry and that the configured witnesses
cosigned. Only when no witness is configured, or none has cosigned a covering
checkpoint even when asked, is it cut from the newest checkpoint without a
cosignature, and it says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import Connection, Engine, func, select

from audit import (
    NoteError,
    StoredTree,
    WitnessError,
    add_cosignature,
    make_receipt,
    parse_cosigner_key,
    submit_checkpoint,
    verify_cosignatures,
)
from audit._storage import log_checkpoints, log_cosignatures
from broker.config import Settings, WitnessSettings

__all__ = [
    "NOT_WITNESSED",
    "NO_WITNESS",
    "CutReceipt",
    "ReceiptCutter",
    "WitnessOutcome",
    "receipt_now",
    "witness_latest",
]

NO_WITNESS = "no witness is configured"
NOT_WITNESSED = "no configured witness has cosigned a checkpoint that covers the entry"

log = structlog.get_logger(__name__)

_CONFLICT = 409
_UNPROCESSABLE = 422


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    """What one witness said about the newest checkpoint."""

    witness: str
    size: int
    cosigned: bool
    problem: str = ""


def _submit(engine: Engine, witness: WitnessSettings, size: int, note: str) -> WitnessOutcome:
    cosigner = parse_cosigner_key(witness.key)
    name = cosigner.name
    with engine.connect() as connection:
        old = connection.scalar(
            select(func.max(log_cosignatures.c.size)).where(log_cosignatures.c.witness == name)
        )
        tree = StoredTree(connection)
        old = int(old or 0)
        for _attempt in range(2):
            proof = tree.consistency_proof(old, size) if 0 < old < size else []
            reply = submit_checkpoint(str(witness.url).rstrip("/"), old, proof, note)
            if reply.status != _CONFLICT or reply.known_size is None:
                break
            # The witness knows another size: retry once from what it knows.
            if reply.known_size > size:
                return WitnessOutcome(
                    name,
                    size,
                    cosigned=False,
                    problem=f"the witness saw a log of {reply.known_size} entries, this one "
                    f"has {size}: it was rolled back or restored from an old backup",
                )
            old = reply.known_size
    if reply.status == _UNPROCESSABLE or (reply.status == _CONFLICT and reply.known_size is None):
        return WitnessOutcome(
            name,
            size,
            cosigned=False,
            problem="the witness refuses: this log does not extend the one it saw "
            f"(forked or rewritten): {reply.reason}",
        )
    if not reply.ok:
        return WitnessOutcome(name, size, cosigned=False, problem=f"HTTP {reply.status}")
    # Keep only a cosignature that verifies under the configured key.
    for line in reply.cosignatures:
        try:
            if name in verify_cosignatures(note + line, [cosigner]):
                with engine.begin() as connection:
                    add_cosignature(connection, size, name, line)
                return WitnessOutcome(name, size, cosigned=True)
        except NoteError:
            continue
    return WitnessOutcome(name, size, cosigned=False, problem="no valid cosignature came back")


def witness_latest(engine: Engine, settings: Settings) -> list[WitnessOutcome]:
    """Send the newest checkpoint to every configured witness; store their cosignatures."""
    with engine.connect() as connection:
        row = connection.execute(
            select(log_checkpoints.c.size, log_checkpoints.c.note)
            .order_by(log_checkpoints.c.size.desc())
            .limit(1)
        ).one_or_none()
    if row is None:
        return []
    size, note = int(row.size), str(row.note)
    outcomes = []
    for witness in settings.witnesses:
        try:
            outcome = _submit(engine, witness, size, note)
        except WitnessError as error:
            outcome = WitnessOutcome(
                str(witness.url), size, cosigned=False, problem=f"unreachable: {error}"
            )
        if outcome.problem:
            log.error(
                "witness.refused", witness=outcome.witness, size=size, problem=outcome.problem
            )
        else:
            log.info("witness.cosigned", witness=outcome.witness, size=size)
        outcomes.append(outcome)
    return outcomes


@dataclass(frozen=True, slots=True)
class CutReceipt:
    """An entry's receipt: its text, its checkpoint's size, who cosigned that, or why none did."""

    text: str
    size: int
    cosigned_by: tuple[str, ...]
    uncosigned: str | None = None


def _witness_names(settings: Settings) -> list[str]:
    return [parse_cosigner_key(w.key).name for w in settings.witnesses]


def receipt_now(connection: Connection, settings: Settings, seq: int) -> CutReceipt:
    """Return entry ``seq``'s receipt as it would go out now, asking no witness.

    The checkpoint is the one, of those covering the entry, cosigned by the most
    configured witnesses (the newest of those); with none, the newest checkpoint,
    and ``uncosigned`` says why.

    Raises:
        ReceiptError: no checkpoint covers the entry.
    """
    names = _witness_names(settings)
    count = func.count(log_cosignatures.c.witness)
    best = connection.execute(
        select(log_cosignatures.c.size)
        .where(log_cosignatures.c.size > seq, log_cosignatures.c.witness.in_(names))
        .group_by(log_cosignatures.c.size)
        .order_by(count.desc(), log_cosignatures.c.size.desc())
        .limit(1)
    ).scalar_one_or_none()
    if best is None:
        newest = int(connection.scalar(select(func.max(log_checkpoints.c.size))) or 0)
        text = make_receipt(connection, seq, newest)
        return CutReceipt(text, newest, (), NOT_WITNESSED if names else NO_WITNESS)
    signed = connection.scalars(
        select(log_cosignatures.c.witness)
        .where(log_cosignatures.c.size == best, log_cosignatures.c.witness.in_(names))
        .order_by(log_cosignatures.c.witness)
    )
    return CutReceipt(make_receipt(connection, seq, int(best)), int(best), tuple(signed))


class ReceiptCutter:
    """Cuts receipts at delivery time, asking the witnesses at most once (per cutter).

    One cutter serves one delivery round: when a release's entry has no cosigned
    checkpoint yet, the witnesses are sent the newest one (which covers every entry
    committed so far) and the receipt is cut again; a witness that is down or
    refuses costs the round one wait, not one per release.
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        """Cut from ``engine``'s log, trusting the witnesses in ``settings``."""
        self._engine = engine
        self._settings = settings
        self._asked = False

    def cut(self, seq: int) -> CutReceipt:
        """Return entry ``seq``'s receipt, cosigned unless no witness is configured or answers.

        Raises:
            ReceiptError: no checkpoint covers the entry.
        """
        with self._engine.connect() as connection:
            found = receipt_now(connection, self._settings, seq)
        if found.uncosigned != NOT_WITNESSED or self._asked:
            return found
        self._asked = True
        witness_latest(self._engine, self._settings)
        with self._engine.connect() as connection:
            return receipt_now(connection, self._settings, seq)

"""Sending each new checkpoint to the configured witnesses and keeping their cosignatures.

Runs after an append has committed (never inside the transaction: a witness is
a network peer). A witness that cannot be reached is retried with the next
checkpoint; one that refuses because it saw a longer or different log is
reported loudly, because that means this log was rolled back or rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import Engine, func, select

from audit import (
    NoteError,
    StoredTree,
    WitnessError,
    add_cosignature,
    parse_cosigner_key,
    submit_checkpoint,
    verify_cosignatures,
)
from audit._storage import log_checkpoints, log_cosignatures
from broker.config import Settings, WitnessSettings

__all__ = ["WitnessOutcome", "witness_latest"]

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

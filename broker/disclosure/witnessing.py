"""Sending each new checkpoint to the configured witnesses, keeping their cosignatures.

Runs after an append has committed (never inside the transaction: a witness is
a network peer). A witness that cannot be reached is retried with the next
checkpoint; one that refuses because it saw a longer or different log is
reported loudly, because that means this log was rolled back or rewritten.

Requests go over one kept-alive ``httpx`` client per witness (``WitnessClients``),
as tlog-witness recommends: a long-running process keeps one set for its life.

A receipt that goes out with a release is cut here, at delivery time, from the
newest checkpoint that covers the entry and that the configured witnesses
cosigned. Only when no witness is configured, or none has cosigned a covering
checkpoint even when asked, is it cut from the newest checkpoint without a
cosignature, and it says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx
import structlog
from sqlalchemy import Connection, Engine

from audit import (
    ADD_CHECKPOINT_TYPE,
    MAX_WITNESS_REPLY,
    NoteError,
    StoredTree,
    WitnessError,
    WitnessReply,
    add_checkpoint_body,
    add_cosignature,
    best_cosigned,
    cosignature_lines,
    cosignature_time,
    cosigned_size,
    latest_checkpoint,
    parse_cosigner_key,
    read_head,
    read_witness_reply,
    verify_cosignatures,
)
from broker.config import Settings, WitnessSettings
from broker.disclosure.service import receipt
from broker.errors import NotYetPublished

__all__ = [
    "NOT_WITNESSED",
    "NO_WITNESS",
    "CutReceipt",
    "ReceiptCutter",
    "WitnessClients",
    "WitnessOutcome",
    "WitnessState",
    "receipt_now",
    "witness_latest",
    "witness_states",
]

NO_WITNESS = "no witness is configured"
NOT_WITNESSED = "no configured witness has cosigned a checkpoint that covers the entry"

log = structlog.get_logger(__name__)

_FORBIDDEN = 403
_NOT_FOUND = 404
_CONFLICT = 409
_UNPROCESSABLE = 422
_TIMEOUT = 5.0


class WitnessClients:
    """One kept-alive HTTP client per witness URL, reused for every request to it.

    Use as a context manager, or call ``close`` when done.
    """

    def __init__(self, timeout: float = _TIMEOUT) -> None:
        """Open clients lazily, each with ``timeout`` seconds per request."""
        self._timeout = timeout
        self._clients: dict[str, httpx.Client] = {}

    def submit(self, url: str, old_size: int, proof: Sequence[bytes], note: str) -> WitnessReply:
        """POST a checkpoint to ``<url>/add-checkpoint`` over this witness's connection.

        Redirects are not followed; the answer is read up to 64 KiB.

        Raises:
            ValueError: a negative old size or more than 63 proof hashes.
            WitnessError: the witness cannot be reached, or its answer is malformed.
        """
        base = url.rstrip("/")
        client = self._clients.get(base)
        if client is None:
            client = httpx.Client(timeout=self._timeout, follow_redirects=False)
            self._clients[base] = client
        body = add_checkpoint_body(old_size, proof, note)
        try:
            with client.stream(
                "POST",
                base + "/add-checkpoint",
                content=body,
                headers={"Content-Type": ADD_CHECKPOINT_TYPE},
            ) as response:
                answer = b""
                for chunk in response.iter_bytes():
                    answer += chunk
                    if len(answer) > MAX_WITNESS_REPLY:
                        break
                content_type = response.headers.get("content-type", "").split(";")[0].strip()
                status = response.status_code
        except httpx.HTTPError as exc:
            host = httpx.URL(base).host
            raise WitnessError(f"cannot reach the witness at {host}: {exc}") from exc
        return read_witness_reply(status, content_type.lower(), answer)

    def close(self) -> None:
        """Close every client and its connections."""
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def __enter__(self) -> Self:
        """Return the clients; they are closed on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close every client."""
        self.close()


@dataclass(frozen=True, slots=True)
class WitnessOutcome:
    """What one witness said about the newest checkpoint."""

    witness: str
    size: int
    cosigned: bool
    problem: str = ""


def _refusal(reply: WitnessReply) -> str | None:
    """What a witness's refusal means for this log (None when it cosigned)."""
    if reply.status == _UNPROCESSABLE or (reply.status == _CONFLICT and reply.known_size is None):
        return (
            "the witness refuses: this log does not extend the one it saw "
            f"(forked or rewritten): {reply.reason}"
        )
    if reply.status == _NOT_FOUND:
        return "the witness does not know this log's origin"
    if reply.status == _FORBIDDEN:
        return "the witness does not trust this log's key"
    return None if reply.ok else f"HTTP {reply.status}"


def _submit(
    engine: Engine, clients: WitnessClients, witness: WitnessSettings, size: int, note: str
) -> WitnessOutcome:
    cosigner = parse_cosigner_key(witness.key)
    name = cosigner.name
    with engine.connect() as connection:
        old = cosigned_size(connection, name)
        tree = StoredTree(connection)
        for _attempt in range(2):
            proof = tree.consistency_proof(old, size) if 0 < old < size else []
            reply = clients.submit(str(witness.url), old, proof, note)
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
    refusal = _refusal(reply)
    if refusal is not None:
        return WitnessOutcome(name, size, cosigned=False, problem=refusal)
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


def witness_latest(
    engine: Engine, settings: Settings, *, clients: WitnessClients | None = None
) -> list[WitnessOutcome]:
    """Send the newest checkpoint to every configured witness; store their cosignatures.

    ``clients`` keeps each witness's connection open across calls; without it, the
    connections of this call are closed at its end.
    """
    with engine.connect() as connection:
        newest = latest_checkpoint(connection, with_cosignatures=False)
    if newest is None:
        return []
    size, note = newest
    if clients is None:
        with WitnessClients() as own:
            return _send_all(engine, settings, own, size, note)
    return _send_all(engine, settings, clients, size, note)


def _send_all(
    engine: Engine, settings: Settings, clients: WitnessClients, size: int, note: str
) -> list[WitnessOutcome]:
    outcomes = []
    for witness in settings.witnesses:
        try:
            outcome = _submit(engine, clients, witness, size, note)
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
        NotYetPublished: the entry waits for the log's next checkpoint.
        AuditError: no checkpoint covers the entry.
    """
    if seq >= read_head(connection)[0]:
        raise NotYetPublished(f"entry {seq} waits for the log's next checkpoint")
    names = _witness_names(settings)
    best = best_cosigned(connection, seq, names)
    if best is None:
        checkpoint = latest_checkpoint(connection, with_cosignatures=False)
        newest = checkpoint[0] if checkpoint is not None else 0
        text = receipt(connection, seq, newest)
        return CutReceipt(text, newest, (), NOT_WITNESSED if names else NO_WITNESS)
    size, signed = best
    return CutReceipt(receipt(connection, seq, size), size, signed)


class ReceiptCutter:
    """Cuts receipts at delivery time, asking the witnesses at most once (per cutter).

    One cutter serves one delivery round: when a release's entry has no cosigned
    checkpoint yet, the witnesses are sent the newest one (which covers every entry
    committed so far) and the receipt is cut again; a witness that is down or
    refuses costs the round one wait, not one per release.
    """

    def __init__(
        self, engine: Engine, settings: Settings, *, clients: WitnessClients | None = None
    ) -> None:
        """Cut from ``engine``'s log, trusting the witnesses in ``settings``.

        ``clients`` keeps the witnesses' connections open across rounds.
        """
        self._engine = engine
        self._settings = settings
        self._clients = clients
        self._asked = False

    def cut(self, seq: int) -> CutReceipt:
        """Return entry ``seq``'s receipt, cosigned unless no witness is configured or answers.

        Raises:
            AuditError: no checkpoint covers the entry.
        """
        with self._engine.connect() as connection:
            found = receipt_now(connection, self._settings, seq)
        if found.uncosigned != NOT_WITNESSED or self._asked:
            return found
        self._asked = True
        witness_latest(self._engine, self._settings, clients=self._clients)
        with self._engine.connect() as connection:
            return receipt_now(connection, self._settings, seq)


@dataclass(frozen=True, slots=True)
class WitnessState:
    """A configured witness as the log holds it: the newest checkpoint it cosigned, and when.

    ``cosigned_size`` is 0 and ``cosigned_at`` None while it has cosigned none. Its
    refusals are logged (``witness.refused``), not stored: they are not here.
    """

    name: str
    url: str
    cosigned_size: int
    cosigned_at: dt.datetime | None


def witness_states(connection: Connection, settings: Settings) -> list[WitnessState]:
    """Return each configured witness's newest cosignature: the checkpoint's size and its time.

    The time is the one the witness put in its cosignature (C2SP tlog-cosignature).
    """
    states = []
    for witness in settings.witnesses:
        name = parse_cosigner_key(witness.key).name
        size = cosigned_size(connection, name)
        moment = None
        if size:
            mark = f"\N{EM DASH} {name} "
            line = next(
                (text for text in cosignature_lines(connection, size) if text.startswith(mark)),
                None,
            )
            if line is not None:
                moment = dt.datetime.fromtimestamp(cosignature_time(line), dt.UTC)
        states.append(WitnessState(name, str(witness.url), size, moment))
    return states

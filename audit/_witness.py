"""A witness, as C2SP tlog-witness defines it: add-checkpoint, and the monitors' checkpoint GET.

The witness cosigns a log's checkpoint only when it is signed by a trusted log key
and consistent with the latest checkpoint it cosigned for that origin. It keeps no
database: its Ed25519 key and one state file per origin live in a store directory,
and every state change is written atomically before it is answered. By this
project's convention a log signs its checkpoints under its origin as key name.

A witness knows the origins it is configured with. Configured with none, it knows
the first origin it cosigns (kept in its store, so a restart keeps it): a log has
one origin, and a second one signed by the same key would let the log show
different histories under different names.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from audit._cosignature import Cosigner, cosign, cosigner_verifier_key
from audit._files import fsync_directory, write_atomic
from audit._merkle import EMPTY_ROOT, HASH_SIZE, ProofError, verify_consistency
from audit._note import (
    _DASH,
    _KEY_ID_SIZE,
    Checkpoint,
    NoteError,
    Verifier,
    open_note,
    parse_checkpoint,
    split_note,
)
from audit._witness_client import WitnessError

__all__ = ["Witness", "make_server", "serve"]

_MAX_REQUEST_BODY = 64 * 1024
"""The largest add-checkpoint request body the witness reads; larger ones get 413."""

_MAX_PROOF_LINES = 63
_MAX_RESPONSE_BODY = 64 * 1024
_DRAIN_LIMIT = 1024 * 1024
_SIZE_TYPE = "text/x.tlog.size"
_TEXT_TYPE = "text/plain; charset=utf-8"
_KEY_FILE = "witness-key.pem"
_STATE_DIR = "checkpoints"
_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")
_CHECKPOINT_PATH = re.compile(r"/([0-9a-f]{64})/checkpoint")
_log = logging.getLogger(__name__)


class _Refused(Exception):  # noqa: N818 - a control-flow signal inside this module, not an error
    """A request the protocol answers with ``status`` and a short fixed text."""

    def __init__(self, status: int, reason: str, content_type: str = _TEXT_TYPE) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.content_type = content_type


@dataclass(frozen=True, slots=True)
class _Request:
    old_size: int
    proof: tuple[bytes, ...]
    note: str
    text: str
    checkpoint: Checkpoint


@dataclass(frozen=True, slots=True)
class _State:
    size: int
    root: bytes
    note: str


def _parse_request(body: bytes) -> _Request:
    """Parse an add-checkpoint body; every failure is a 400 that echoes nothing."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise _Refused(400, "the request body is not UTF-8") from None
    # 1. The old size line and the proof lines end at the first blank line.
    head, sep, note = text.partition("\n\n")
    old_line, *proof_lines = head.split("\n")
    old = _SIZE.fullmatch(old_line.removeprefix("old "))
    if not sep or not old_line.startswith("old ") or old is None:
        raise _Refused(400, "the body starts with 'old <size>', proof lines and a blank line")
    # 2. At most 63 proof lines, each one base64 SHA-256 hash.
    if len(proof_lines) > _MAX_PROOF_LINES:
        raise _Refused(400, "at most 63 consistency proof lines")
    proof: list[bytes] = []
    for line in proof_lines:
        try:
            node = base64.b64decode(line, validate=True)
        except binascii.Error:
            node = b""
        if len(node) != HASH_SIZE:
            raise _Refused(400, "each proof line is one base64 SHA-256 hash")
        proof.append(node)
    # 3. Then a signed note whose text is a checkpoint.
    try:
        checkpoint_text, _ = split_note(note)
        checkpoint = parse_checkpoint(checkpoint_text)
    except ValueError:  # NoteError, and int() on exotic digits in the size line
        raise _Refused(400, "the request does not end in a signed checkpoint") from None
    return _Request(int(old[0]), tuple(proof), note, checkpoint_text, checkpoint)


def _load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """Return the witness key at ``path``, creating it (mode 0600) on first start.

    Raises:
        WitnessError: the file is readable by others, or not an Ed25519 PKCS8 PEM key.
    """
    # 1. Create once: written to a private temporary file, linked into place only if
    #    absent, so a concurrent first start never replaces a key already in use.
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-key-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(pem)
                file.flush()
                os.fsync(file.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            Path(tmp).unlink()
        fsync_directory(path.parent)
    # 2. The private key must be private to the witness's user.
    if path.stat().st_mode & 0o077:
        raise WitnessError(f"{path.name} must be readable by its owner only (mode 0600)")
    # 3. Only an Ed25519 key.
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise WitnessError(f"{path.name} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise WitnessError(f"{path.name} is not an Ed25519 key")
    return key


def _check_consistency(
    known: _State, old_size: int, checkpoint: Checkpoint, proof: Sequence[bytes]
) -> None:
    """Refuse a checkpoint that does not extend the ``known`` tree (the spec's 409 and 422)."""
    # 1. The old size must be the latest cosigned size: 409 with that size.
    if old_size != known.size:
        raise _Refused(409, str(known.size), _SIZE_TYPE)
    # 2. An empty tree has the empty root.
    if checkpoint.size == 0 and checkpoint.root != EMPTY_ROOT:
        raise _Refused(422, "a checkpoint of size 0 must have the empty tree's root hash")
    # 3. From size 0 nothing needs proving: the proof must be empty.
    if old_size == 0:
        if proof:
            raise _Refused(422, "the consistency proof from size 0 must be empty")
        return
    # 4. The same size must have the same root hash.
    if checkpoint.size == old_size and checkpoint.root != known.root:
        raise _Refused(422, "the root hash differs from the cosigned checkpoint of this size")
    # 5. Otherwise a consistency proof from the known tree.
    try:
        verify_consistency(old_size, checkpoint.size, known.root, checkpoint.root, proof)
    except ProofError:
        raise _Refused(422, "the consistency proof does not verify") from None


def _log_signatures(note: str, verifiers: Sequence[Verifier]) -> str:
    """Return the note's text with only the signature lines by ``verifiers`` (verified)."""
    text, lines = split_note(note)
    trusted = {(v.name, v.key_id) for v in verifiers}
    kept = [
        f"{_DASH} {name} {base64.b64encode(raw).decode()}\n"
        for name, raw in lines
        if (name, raw[:_KEY_ID_SIZE]) in trusted
    ]
    return text + "\n" + "".join(kept)


class Witness:
    """Cosigns checkpoints of the logs it trusts; its key and state live under ``store``.

    ``log_keys`` are the trusted log public keys (several, for key rotation); a
    checkpoint verifies when any of them signed it under its origin as key name.
    With ``origins`` the witness knows only those origins; without, it knows the
    first origin it cosigns. Other origins get 404. One process per store: the
    lock orders the requests of this process only.
    """

    def __init__(
        self,
        store: Path,
        name: str,
        log_keys: Sequence[Ed25519PublicKey],
        clock: Callable[[], float] = time.time,
        *,
        origins: Collection[str] | None = None,
    ) -> None:
        """Open the witness in ``store``, creating its key on first start.

        Raises:
            WitnessError: no log key, an unusable key file or state file.
            NoteError: ``name`` is not a valid key name.
        """
        if not log_keys:
            raise WitnessError("a witness needs at least one trusted log key")
        store.mkdir(mode=0o700, parents=True, exist_ok=True)
        (store / _STATE_DIR).mkdir(mode=0o700, exist_ok=True)
        self._key = _load_or_create_key(store / _KEY_FILE)
        self.cosigner = Cosigner.of(name, self._key.public_key())
        self._states_dir = store / _STATE_DIR
        self._log_keys = tuple(log_keys)
        self._configured = origins is not None
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, _State] = {}
        # The known origins: those configured, or else those already cosigned.
        self._origins = set(origins) if origins is not None else self._stored_origins()

    @property
    def name(self) -> str:
        """The witness's key name, as it appears on its cosignature lines."""
        return self.cosigner.name

    @property
    def verifier_key(self) -> str:
        """The witness's public key as a type 0x04 verifier key string, for its users."""
        return cosigner_verifier_key(self.cosigner.name, self.cosigner.key)

    def latest(self, origin: str) -> Checkpoint | None:
        """Return the latest checkpoint cosigned for ``origin``, or None.

        Raises:
            WitnessError: the stored state is unreadable.
        """
        with self._lock:
            state = self._read(origin)
        return None if state is None else Checkpoint(origin, state.size, state.root)

    def checkpoint_of(self, origin_hash: str) -> str | None:
        """Return the latest cosigned checkpoint note of the origin with this SHA-256 hex hash.

        The note carries the log signatures the witness verified and its own
        cosignature, as the spec's monitoring endpoint serves it; None when the
        witness never cosigned a checkpoint of that origin.

        Raises:
            WitnessError: the stored state is unreadable.
        """
        with self._lock:
            origin = next(
                (o for o in self._origins if hashlib.sha256(o.encode()).hexdigest() == origin_hash),
                None,
            )
            state = None if origin is None else self._read(origin)
        return None if state is None else state.note

    def add_checkpoint(self, body: bytes) -> tuple[int, str, bytes]:
        """Answer one add-checkpoint request body: (status, content type, response body).

        200 carries the cosignature line; 409 with ``text/x.tlog.size`` the size
        the witness knows. Other answers carry a short fixed reason.

        Raises:
            WitnessError: the stored state is unreadable.
            OSError: the new state could not be written (nothing was cosigned).
        """
        try:
            line = self._add(body)
        except _Refused as refused:
            _log.info("witness.refused status=%d", refused.status)
            return refused.status, refused.content_type, f"{refused.reason}\n".encode()
        return 200, _TEXT_TYPE, line.encode()

    def _add(self, body: bytes) -> str:
        # 1. A well-formed request (400).
        request = _parse_request(body)
        checkpoint = request.checkpoint
        # 2. An origin this witness knows (404).
        self._check_origin(checkpoint.origin)
        verifiers = self._verifiers(checkpoint.origin)
        # 3. Signed by a trusted log key; signatures by other keys are ignored (403).
        try:
            open_note(request.note, verifiers)
        except NoteError:
            raise _Refused(403, "the checkpoint is not signed by a trusted log key") from None
        # 4. The old size cannot exceed the new one (400).
        if request.old_size > checkpoint.size:
            raise _Refused(400, "the old size is larger than the checkpoint size")
        with self._lock:
            # 5. Check and update as one step, so no request rolls back another's view
            #    (and two first origins cannot both become known).
            self._check_origin(checkpoint.origin)
            state = self._read(checkpoint.origin)
            known = _State(0, EMPTY_ROOT, "") if state is None else state
            _check_consistency(known, request.old_size, checkpoint, request.proof)
            # 6. Cosign, persist, and only then answer.
            line = cosign(request.text, self.cosigner.name, self._key, int(self._clock()))
            self._write(checkpoint, _log_signatures(request.note, verifiers) + line)
            self._origins.add(checkpoint.origin)
        _log.info("witness.cosigned origin=%s size=%d", checkpoint.origin, checkpoint.size)
        return line

    def _check_origin(self, origin: str) -> None:
        # Configured origins, or the one first cosigned; before that, any origin.
        if (self._configured or self._origins) and origin not in self._origins:
            raise _Refused(404, "unknown origin")

    def _verifiers(self, origin: str) -> list[Verifier]:
        try:
            return [Verifier.of(origin, key) for key in self._log_keys]
        except NoteError:
            raise _Refused(404, "no log key can sign for this origin") from None

    def _path(self, origin: str) -> Path:
        return self._states_dir / f"{hashlib.sha256(origin.encode()).hexdigest()}.json"

    def _stored_origins(self) -> set[str]:
        origins: set[str] = set()
        for path in self._states_dir.glob("*.json"):
            try:
                origins.add(str(json.loads(path.read_bytes())["origin"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise WitnessError(f"the state file {path.name} is unreadable") from exc
        return origins

    def _read(self, origin: str) -> _State | None:
        if origin in self._states:
            return self._states[origin]
        path = self._path(origin)
        if not path.exists():
            return None
        try:
            data = json.loads(path.read_bytes())
            if data["origin"] != origin:
                raise WitnessError(f"the state file {path.name} belongs to another origin")
            state = _State(int(data["size"]), base64.b64decode(data["root"]), str(data["note"]))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise WitnessError(f"the state file {path.name} is unreadable") from exc
        self._states[origin] = state
        return state

    def _write(self, checkpoint: Checkpoint, note: str) -> None:
        document = {
            "origin": checkpoint.origin,
            "size": checkpoint.size,
            "root": base64.b64encode(checkpoint.root).decode(),
            "note": note,
        }
        write_atomic(self._path(checkpoint.origin), json.dumps(document, indent=1).encode())
        self._states[checkpoint.origin] = _State(checkpoint.size, checkpoint.root, note)


class _WitnessServer(ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        self.witness = witness
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the protocol recommends
    server_version = "audit-witness"
    sys_version = ""
    timeout = 30

    def do_POST(self) -> None:
        if self.path != "/add-checkpoint":
            self._drain(self._length() or 0)
            self._reply(404, _TEXT_TYPE, b"not found\n")
            return
        length = self._length()
        if length is None:
            self.close_connection = True
            self._reply(411, _TEXT_TYPE, b"a Content-Length is required\n")
            return
        if length > _MAX_REQUEST_BODY:
            # Read what the client sends anyway, so that it sees the 413 and not a reset.
            self._drain(length)
            self.close_connection = True
            self._reply(413, _TEXT_TYPE, b"the request body is larger than 64 KiB\n")
            return
        body = self.rfile.read(length)
        witness = cast("_WitnessServer", self.server).witness
        try:
            status, content_type, reply = witness.add_checkpoint(body)
        except Exception:  # noqa: BLE001 - any failure is a 500, logged with its cause
            _log.exception("witness.failed")
            status, content_type, reply = 500, _TEXT_TYPE, b"internal error\n"
        self._reply(status, content_type, reply)

    def do_GET(self) -> None:
        if self.path == "/add-checkpoint":
            self._reply(405, _TEXT_TYPE, b"use POST\n", allow="POST")
            return
        # The monitors' endpoint: GET /<hex SHA-256 of the origin>/checkpoint.
        match = _CHECKPOINT_PATH.fullmatch(self.path)
        witness = cast("_WitnessServer", self.server).witness
        try:
            note = None if match is None else witness.checkpoint_of(match[1])
        except Exception:  # noqa: BLE001 - any failure is a 500, logged with its cause
            _log.exception("witness.failed")
            self._reply(500, _TEXT_TYPE, b"internal error\n")
            return
        if note is None:
            self._reply(404, _TEXT_TYPE, b"not found\n")
        else:
            self._reply(200, _TEXT_TYPE, note.encode())

    def _length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        return int(raw) if raw is not None and _SIZE.fullmatch(raw.strip()) else None

    def _drain(self, length: int) -> None:
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, _MAX_REQUEST_BODY))
            if not chunk:
                break
            length -= len(chunk)

    def _reply(self, status: int, content_type: str, body: bytes, allow: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if allow:
            self.send_header("Allow", allow)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt: str, *args: Any) -> None:
        # The request line and status only; no client address, no body.
        _log.debug("witness.http " + fmt, *args)


def make_server(witness: Witness, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Return an HTTP server, not yet serving: POST /add-checkpoint, GET /<hash>/checkpoint.

    Port 0 picks a free port; read it from ``server.server_address``.
    """
    return _WitnessServer((host, port), witness)


def serve(witness: Witness, host: str = "127.0.0.1", port: int = 8081) -> None:
    """Serve ``witness`` on ``host:port`` until interrupted."""
    with make_server(witness, host, port) as server:
        server.serve_forever()

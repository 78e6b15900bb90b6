"""The municipality's side: accept a release only when every check passes, store it once.

A delivery is accepted when, in this order:

1. its ``Content-Digest`` matches the body (RFC 9530);
2. its HTTP message signature (RFC 9421, Ed25519) covers the method, the URI, the
   digest, the content type and the idempotency key, is fresh, and verifies under
   one of the broker's public keys;
3. it is not a replay of a request already seen (the same signature);
4. a sealed release (either format of ``broker/delivery/SEALING.md``) opens with
   this receiver's X25519 key;
5. its receipt proves, under the broker's log key, that the release's entry is in
   the disclosure log, and that entry commits to exactly these release bytes.

A release id already stored is answered 200 and stored nothing twice, so retries
are harmless; each release is kept with its receipt, so the municipality can
later prove what it was sent.

Releases of one policy are applied, in log order, to the set the receiver holds for
it (``current/<policy_id>.json``): ``mode: snapshot`` (a resync included) replaces the
set; ``mode: changes`` upserts ``dwellings`` by ``key`` and removes the ``withdrawn``
keys, and is accepted only when its ``base_release`` is the release the set stands at.
A delta on another base, or a release older in the log than the set's, is refused
(409), never applied to the wrong set.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from audit import (
    ReceiptError,
    Verifier,
    canonical_json,
    verify_commitment,
    verify_receipt,
    write_atomic,
)
from broker import bounded_json
from broker.delivery import (
    SealError,
    SignatureError,
    check_content_digest,
    is_sealed,
    key_id,
    open_sealed,
    verify_request,
)
from broker.release import (
    PartError,
    SetRefused,
    apply_release,
    assemble_parts,
    check_part,
    cut_parts,
)

__all__ = ["Receiver", "Reply"]

_JSON = "application/json"
_RELEASING = ("release", "contact-check")
"""The log events whose entry stands for a delivered release."""
_POLICY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,63}$")
_KEPT_WITH_PARTS = ("manifest", "salt", "receipt", "receipt_uncosigned")
"""What a release in parts is kept with, whole: what its parts' bodies carried besides."""
_SETS = ("snapshot", "changes")
"""The release modes that carry a policy's set of dwellings (a contact check does not)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, content type and body."""

    status: int
    content_type: str
    body: bytes


def _answer(code: int, **document: object) -> Reply:
    return Reply(code, _JSON, json.dumps(document).encode())


class _Rejected(Exception):  # noqa: N818 - a control-flow signal inside this module
    def __init__(self, status: int, rule: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.rule, self.detail = status, rule, detail


@dataclass(frozen=True, slots=True)
class _Checked:
    """A release whose receipt and commitment checked: its id, content and log index.

    ``part`` is the part's number when the body is one part of a release in parts.
    """

    release_id: str
    receipt: str
    content: dict[str, Any]
    index: int
    part: int | None = None
    parts: int = 1


def _applied(held: dict[str, Any] | None, checked: _Checked) -> dict[str, Any]:
    """Return the policy's set once ``checked`` is applied to ``held`` (the set it holds).

    Raises:
        _Rejected: a delta on another base (409 ``base``), a release older in the log
            than ``held`` (409 ``order``), or a malformed set (422 ``release``).
    """
    try:
        return apply_release(
            held, checked.content, release_id=checked.release_id, index=checked.index
        )
    except SetRefused as refused:
        status = 422 if refused.rule == "release" else 409
        raise _Rejected(status, refused.rule, refused.detail) from None


class Receiver:
    """Checks and stores deliveries in ``store``: ``releases/``, ``receipts/``, ``current/``.

    ``current/<policy_id>.json`` is the set of dwellings the releases of that policy
    leave the municipality holding, with the release it stands at; ``seen`` lists the
    signatures already taken in.
    """

    def __init__(
        self,
        store: Path,
        public_keys: Sequence[Ed25519PublicKey],
        *,
        origin: str | None = None,
        private_key: X25519PrivateKey | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Trust ``public_keys`` (the broker's log keys); open sealed ones with ``private_key``."""
        self._store = store
        self._keys = {key_id(key): key for key in public_keys}
        self._public = list(public_keys)
        self._origin = origin
        self._private = private_key
        self._clock = clock
        self._lock = threading.Lock()
        for folder in ("releases", "receipts", "current"):
            (store / folder).mkdir(parents=True, exist_ok=True)
        self._seen_path = store / "seen"
        self._seen = set(self._seen_path.read_text().split()) if self._seen_path.exists() else set()

    def accept(
        self, method: str, target_uri: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        """Check one delivery and store it once; return the HTTP answer."""
        try:
            return self._accept(method, target_uri, headers, body)
        except _Rejected as rejected:
            return _answer(rejected.status, error=rejected.rule, detail=rejected.detail)

    def _accept(
        self, method: str, target_uri: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        lower = {name.lower(): value for name, value in headers.items()}
        # 1. The body is the one the digest names.
        try:
            check_content_digest(lower.get("content-digest", ""), body)
        except SignatureError as error:
            raise _Rejected(400, "content-digest", str(error)) from None
        # 2. The signature covers what matters, is fresh, and is the broker's.
        try:
            verify_request(method, target_uri, lower, self._keys, now=int(self._clock()))
        except SignatureError as error:
            raise _Rejected(401, "signature", str(error)) from None
        # 3. A replayed request (the very same signature) is refused.
        fingerprint = hashlib.sha256(lower.get("signature", "").encode()).hexdigest()
        with self._lock:
            if fingerprint in self._seen:
                raise _Rejected(409, "replay", "this exact request was seen before")
            self._remember(fingerprint)
        # 4. A sealed release is opened with this receiver's key.
        body = self._open(body)
        # 5. The release is on record in the broker's disclosure log, byte for byte.
        try:
            checked = self._check_release(body)
        except ReceiptError as error:
            raise _Rejected(422, "receipt", str(error)) from None
        release_id = checked.release_id
        if checked.part is not None:
            return self._take_part(checked, body, lower.get("idempotency-key", ""))
        if release_id != lower.get("idempotency-key", ""):
            raise _Rejected(422, "receipt", "the idempotency key is not the release id")
        # 6. Stored once: a retried release is acknowledged, not stored again.
        with self._lock:
            path = self._store / "releases" / f"{release_id}.json"
            if path.exists():
                return _answer(200, status="duplicate", release_id=release_id)
            # 7. Applied in order to the policy's set, then kept.
            self._keep(checked, path, body)
        return _answer(201, status="stored", release_id=release_id)

    def _keep(self, checked: _Checked, path: Path, kept: bytes) -> None:
        """Apply a whole release to its policy's set, then keep it (``kept``) and its receipt.

        The set is written before the release file: a crash between the two leaves a set
        the retry recognises.
        """
        current = self._current(checked)
        receipt = self._store / "receipts" / f"{checked.release_id}.tlog-proof"
        write_atomic(receipt, checked.receipt.encode())
        if current is not None:
            write_atomic(current[0], current[1])
        write_atomic(path, kept)

    def current(self, policy_id: str) -> dict[str, Any] | None:
        """Return the set held for ``policy_id``: its release id, log index and dwellings."""
        if not _POLICY_ID.match(policy_id):
            return None
        path = self._store / "current" / f"{policy_id}.json"
        if not path.exists():
            return None
        held: dict[str, Any] = json.loads(path.read_bytes())
        return held

    def _current(self, checked: _Checked) -> tuple[Path, bytes] | None:
        """Return where to write the policy's new set, and its bytes; None: nothing to write."""
        content = checked.content
        if content.get("mode") not in _SETS:
            return None  # a contact check: about one dwelling, not a set
        policy_id = content.get("policy_id")
        if not isinstance(policy_id, str) or not _POLICY_ID.match(policy_id):
            raise _Rejected(422, "release", "policy_id must be a policy id")
        held = self.current(policy_id)
        if held is not None and held["release_id"] == checked.release_id:
            return None  # applied already, before a crash kept the release file from disk
        applied = _applied(held, checked)
        return self._store / "current" / f"{policy_id}.json", canonical_json(applied)

    def _open(self, body: bytes) -> bytes:
        if not is_sealed(body):
            return body
        if self._private is None:
            raise _Rejected(422, "sealed", "sealed, and this receiver has no key")
        try:
            return open_sealed(body, self._private)
        except SealError as error:
            raise _Rejected(422, "sealed", str(error)) from None

    def _remember(self, fingerprint: str) -> None:
        self._seen.add(fingerprint)
        with self._seen_path.open("a", encoding="ascii") as file:
            file.write(fingerprint + "\n")

    def _take_part(self, checked: _Checked, body: bytes, idempotency_key: str) -> Reply:
        """Store one part once; apply the release when the last of its parts is here.

        Until every part the manifest lists is held, the policy's set is left as it is:
        an incomplete release is never applied. A part sent again once all are held, the
        release not yet applied (a crash in between), applies it.
        """
        release_id, number = checked.release_id, checked.part
        if idempotency_key != f"{release_id}.{number}":
            raise _Rejected(422, "receipt", "the idempotency key is not <release id>.<part>")
        with self._lock:
            path = self._store / "releases" / f"{release_id}.json"
            folder = self._store / "parts" / release_id
            part_path = folder / f"{number}.json"
            if path.exists():
                return _answer(200, status="duplicate", release_id=release_id, part=number)
            again = part_path.exists()
            if not again:
                folder.mkdir(parents=True, exist_ok=True)
                write_atomic(part_path, body)
            held = sorted(int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit())
            if held != list(range(1, checked.parts + 1)):
                status = "duplicate" if again else "part stored"
                return _answer(
                    200 if again else 202,
                    status=status,
                    release_id=release_id,
                    part=number,
                    parts=checked.parts,
                    held=len(held),
                )
            whole, stored = self._assembled(checked, folder)
            self._keep(whole, path, stored)
        return _answer(201, status="stored", release_id=release_id, parts=checked.parts)

    def _assembled(self, checked: _Checked, folder: Path) -> tuple[_Checked, bytes]:
        """Return the whole release from the parts in ``folder`` (each checked on arrival).

        With it, the bytes to keep: the whole release with its manifest, salt and receipt,
        which checks as a whole (its content cuts into the parts the manifest lists).
        """
        count = checked.parts
        bodies = [json.loads((folder / f"{n}.json").read_bytes()) for n in range(1, count + 1)]
        try:
            content = assemble_parts([b["release"] for b in bodies])
        except PartError as error:
            raise _Rejected(422, "part", str(error)) from None
        last = bodies[-1]
        kept = {key: last[key] for key in _KEPT_WITH_PARTS if key in last}
        kept["release"] = content
        return dataclasses.replace(checked, content=content, part=None), canonical_json(kept)

    def _check_release(self, body: bytes) -> _Checked:
        try:
            document = bounded_json.loads(body)
            content: dict[str, Any] = document["release"]
            salt = bytes.fromhex(document["salt"])
            receipt = str(document["receipt"])
        except bounded_json.NestedTooDeep as error:
            raise ReceiptError(error.msg) from None
        except (ValueError, KeyError, TypeError):
            raise ReceiptError("the body is not a release with its salt and receipt") from None
        origin = self._origin or receipt.partition("\n\n")[2].split("\n", 1)[0]
        try:
            verifiers = [Verifier.of(origin, key) for key in self._public]
        except ValueError:
            raise ReceiptError("the receipt names no valid log") from None
        proven = verify_receipt(receipt, origin, verifiers)
        entry = json.loads(proven.entry)
        release_id = str(content.get("release_id", ""))
        if entry.get("event") not in _RELEASING or entry.get("release_id") != release_id:
            raise ReceiptError("the receipt's entry is not this release")
        listed = document.get("manifest")
        commitment = entry.get("commitment")
        try:
            committed = isinstance(commitment, str) and verify_commitment(
                commitment, salt, canonical_json(content if listed is None else listed)
            )
        except (ValueError, TypeError):
            committed = False
        if not committed:
            raise ReceiptError("the release is not the content the log entry commits to")
        if listed is None:
            return _Checked(release_id, receipt, content, proven.index)
        return self._check_part(_Checked(release_id, receipt, content, proven.index), listed)

    def _check_part(self, checked: _Checked, listed: Any) -> _Checked:
        """Check a body of a release in parts against its manifest (which the log commits to).

        A part must be one the manifest lists, byte for byte; a whole release with its
        manifest must cut into exactly the listed parts.
        """
        content = checked.content
        if not isinstance(listed, dict) or listed.get("release_id") != checked.release_id:
            raise _Rejected(422, "part", "the manifest is of another release")
        try:
            count = len(listed["parts"])
            if "part" not in content:
                cut_parts(canonical_json(content), canonical_json(listed))
                return dataclasses.replace(checked, parts=count)
            number = check_part(listed, content)
        except (PartError, KeyError, TypeError, ValueError) as error:
            detail = str(error) if isinstance(error, PartError) else "the manifest is malformed"
            raise _Rejected(422, "part", detail) from None
        return dataclasses.replace(checked, part=number, parts=count)

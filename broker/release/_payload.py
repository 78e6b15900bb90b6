"""The released document: what a recipient receives, in canonical bytes it can check.

The delivered body is ``{"release": CONTENT, "salt": HEX, "receipt": TLOG-PROOF}``,
with ``"receipt_uncosigned": WHY`` added when the receipt carries no witness's
cosignature. CONTENT's RFC 8785 bytes are what the disclosure-log entry commits to:
``SHA-256(salt || bytes)`` equals the entry's ``commitment``, and the receipt proves
the entry is in the signed log. A recipient can therefore check that what it got is
exactly what the broker put on record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any

from audit import canonical_json
from broker.disclosure import rfc3339
from broker.policy import Policy, ReleasedDwelling

__all__ = [
    "body",
    "canonical",
    "content_header",
    "digest",
    "recipient_key",
    "record",
]


def content_header(
    release_id: str, policy: Policy, *, mode: str, generated_at: dt.datetime
) -> dict[str, Any]:
    """Return what every released document states first: which release, under which policy.

    The release's id, the policy's id, version and content hash, the recipient,
    how the recipient applies it (``mode``) and when it was generated. Each flow
    adds what it releases.
    """
    return {
        "release_id": release_id,
        "policy_id": policy.id,
        "policy_version": policy.version,
        "policy_hash": policy.content_hash,
        "recipient": policy.recipient,
        "mode": mode,
        "generated_at": rfc3339(generated_at),
    }


def recipient_key(reference_key: bytes, recipient: str, dwelling_ref: str) -> str:
    """Return the opaque key a recipient knows a dwelling by.

    Stable for one recipient, so a later ``changes`` release can say which dwelling
    changed or was withdrawn; different per recipient, so two recipients cannot
    join their data on it; not derivable without the broker's reference key.
    """
    message = f"{recipient}\n{dwelling_ref}".encode()
    return hmac.new(reference_key, message, hashlib.sha256).hexdigest()[:32]


def record(key: str, dwelling: ReleasedDwelling) -> dict[str, Any]:
    """Return one dwelling's released record: its key, the named fields, its phases."""
    return {"key": key, **dict(dwelling.values), "phases": [dict(p) for p in dwelling.phases]}


def digest(item: Mapping[str, Any]) -> str:
    """Return the SHA-256 of a record's canonical bytes (to detect a change)."""
    return hashlib.sha256(canonical_json(dict(item))).hexdigest()


def canonical(content: Mapping[str, Any]) -> bytes:
    """Return the RFC 8785 bytes of the release content: what the log commits to."""
    return canonical_json(dict(content))


def body(
    content: bytes,
    salt: bytes,
    receipt: str,
    uncosigned: str | None = None,
    *,
    manifest: bytes | None = None,
) -> bytes:
    """Return the delivered JSON body around ``content``, the content's canonical bytes.

    The bytes go in as they are (they are JSON already), so a large release is not
    parsed and serialised again at each delivery. A part of a release in parts
    (``broker.release._parts``) carries the ``manifest`` the entry commits to.
    """
    parts = [b'{"release":', content]
    if manifest is not None:
        parts += [b',"manifest":', manifest]
    parts += [b',"salt":', _json(salt.hex()), b',"receipt":']
    parts.append(_json(receipt))
    if uncosigned is not None:
        parts += [b',"receipt_uncosigned":', _json(uncosigned)]
    return b"".join([*parts, b"}"])


def _json(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode()


def sorted_records(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return records in a stable order (by key), so equal releases have equal bytes."""
    return sorted(records, key=lambda r: str(r["key"]))

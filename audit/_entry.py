"""Disclosure-log entries: flat, versioned objects in RFC 8785 canonical JSON.

An entry never holds an address or released content. It names dwellings by an
opaque reference (HMAC-SHA256 of the dwelling id under the log key), and commits
to the released bytes with SHA-256 over a random per-entry salt and the bytes;
salt and content are stored apart from the entry, so they can be purged while
the entry, and so the log, still verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from audit._canonical import canonical_json

__all__ = [
    "ENTRY_VERSION",
    "EVENTS",
    "EntryError",
    "EntryValue",
    "canonical_entry",
    "commitment",
    "dwelling_reference",
    "new_salt",
    "verify_commitment",
]

ENTRY_VERSION = 1
EVENTS = frozenset(
    {
        "policy-registered",
        "release",
        "delivery",
        "delivery-failed",
        "contact-check",
        "contact-check-reply",
        "objection",
        "retention-purge",
        "key-rotated",
        "audit-read",
    }
)
REQUIRED = ("v", "seq", "time", "event")
SALT_SIZE = 32

EntryValue = int | str | bool | None | Sequence[str]

_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_CHECKED_KEYS = 1024
_SAFE_INTEGER = 2**53 - 1  # RFC 8785 (I-JSON): beyond it an integer has no exact form
_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z$")
_MAX_TEXT = 500


class EntryError(ValueError):
    """An entry breaks the format: the message names the key and the rule."""


def _check_text(key: str, text: str) -> None:
    # Values are identifiers, hashes and short policy texts, never free text
    # from a person: one printable line of bounded length.
    if len(text) > _MAX_TEXT or not text.isprintable():
        raise EntryError(f"{key}: text must be one printable line of at most {_MAX_TEXT} chars")


def _check_required(entry: Mapping[str, EntryValue]) -> None:
    for key in REQUIRED:
        if key not in entry:
            raise EntryError(f"{key}: required")
    if entry["v"] != ENTRY_VERSION:
        raise EntryError(f"v: must be {ENTRY_VERSION}")
    seq = entry["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise EntryError("seq: must be a non-negative integer")
    if not isinstance(entry["time"], str) or not _TIME.match(entry["time"]):
        raise EntryError("time: must be RFC 3339 UTC, e.g. 2026-11-25T08:00:00Z")
    if entry["event"] not in EVENTS:
        raise EntryError("event: must be one of " + ", ".join(sorted(EVENTS)))


_CHECKED_KEYS: set[str] = set()
"""Keys already matched against ``_KEY``: entries share a small vocabulary of them."""


def _check_key(key: str) -> None:
    if key not in _CHECKED_KEYS:
        if not _KEY.match(key):
            raise EntryError(f"{key!r}: keys are lower-case ASCII letters, digits and _")
        if len(_CHECKED_KEYS) < _MAX_CHECKED_KEYS:
            _CHECKED_KEYS.add(key)


def _json_value(key: str, value: object) -> Any:
    _check_key(key)
    if isinstance(value, str):
        _check_text(key, value)
        return value
    if isinstance(value, float):
        raise EntryError(f"{key}: floats are not allowed")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
            raise EntryError(f"{key}: integers must lie within +-(2**53 - 1)")
        return value
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        for item in value:
            _check_text(key, item)
        return list(value)
    raise EntryError(f"{key}: values are integers, text, booleans, null or lists of text")


def canonical_entry(entry: Mapping[str, EntryValue]) -> bytes:
    """Return the RFC 8785 canonical bytes of a flat, versioned entry.

    Raises:
        EntryError: a missing or malformed required key, a nested or float value,
            or a key that is not lower-case ASCII.
    """
    _check_required(entry)
    document: dict[str, Any] = {key: _json_value(key, value) for key, value in entry.items()}
    # Checked above: ASCII keys, text, booleans, null, safe integers and lists of text
    # are plain; no second walk.
    return canonical_json(document, plain=True)


def new_salt() -> bytes:
    """Return a fresh random salt for one entry's commitment."""
    return secrets.token_bytes(SALT_SIZE)


def commitment(salt: bytes, content: bytes) -> str:
    """Return the hex SHA-256 commitment to ``content`` under ``salt``.

    Raises:
        EntryError: the salt is not 32 bytes (a short salt could be guessed).
    """
    if len(salt) != SALT_SIZE:
        raise EntryError(f"salt: must be {SALT_SIZE} random bytes")
    return hashlib.sha256(salt + content).hexdigest()


def verify_commitment(expected: str, salt: bytes, content: bytes) -> bool:
    """Return whether ``content`` under ``salt`` matches the stored commitment."""
    return hmac.compare_digest(commitment(salt, content), expected)


def dwelling_reference(log_key: bytes, dwelling_id: str) -> str:
    """Return the opaque reference of a dwelling in the log: HMAC-SHA256 under the log key.

    The same dwelling always gets the same reference under one key, so the log
    can answer "everything about this dwelling"; without the key the reference
    cannot be linked to an address by guessing.
    """
    return hmac.new(log_key, dwelling_id.encode(), hashlib.sha256).hexdigest()

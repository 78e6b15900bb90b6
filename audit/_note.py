"""Signed notes and checkpoints, as C2SP signed-note and tlog-checkpoint define them.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> <base64(key id || signature)>``. The text may itself hold blank
lines: it ends at the last blank line of the note. A note holds no control
character but the newline. An Ed25519 key's id is the first four bytes of
SHA-256(name || 0x0A || 0x01 || public key). A checkpoint is a note whose text is
the log's origin, tree size and base64 root hash, one per line.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "Checkpoint",
    "NoteError",
    "Verifier",
    "add_signature",
    "format_checkpoint",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "sign_note",
    "split_note",
    "verifier_key",
]

_ALG_ED25519 = b"\x01"
_DASH = "\u2014"
_KEY_ID_SIZE = 4
_SIGNATURE_SIZE = 64
_MAX_NAME = 256
_MAX_SIGNATURES = 100
"""More signature lines than any real note carries (the spec asks for at least 16)."""
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteError(ValueError):
    """A note or checkpoint is malformed, or no trusted signature verifies."""


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _check_name(name: str) -> None:
    if not name or len(name) > _MAX_NAME or any(c.isspace() or c == "+" for c in name):
        raise NoteError("a key name is 1-256 characters without spaces or '+'")


def _key_id(name: str, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ALG_ED25519 + public).digest()[:_KEY_ID_SIZE]


def _check_text(text: str | bytes, what: str) -> str:
    """Return ``text`` as a string once it is valid UTF-8 without control characters.

    Raises:
        NoteError: invalid UTF-8 (or a lone surrogate), or a control character
            other than the newline.
    """
    try:
        decoded = text.decode() if isinstance(text, bytes) else text
        decoded.encode()  # a str decoded with surrogateescape holds lone surrogates
    except UnicodeError:
        raise NoteError(f"{what} is not valid UTF-8") from None
    if _CONTROL.search(decoded):
        raise NoteError(f"{what} holds a control character other than newline")
    return decoded


def split_note(note: str | bytes) -> tuple[str, list[tuple[str, bytes]]]:
    """Split a signed note into its text and its (key name, decoded signature) pairs.

    The text ends at the note's last blank line and includes its final newline.

    Raises:
        NoteError: invalid UTF-8, a control character, no blank line before the
            signatures, more than 100 signatures, or a malformed signature line.
    """
    # 1. Valid UTF-8 with no control character but the newline, in the whole note.
    checked = _check_text(note, "a note")
    # 2. The signatures follow the last blank line; the text may hold blank lines.
    text, sep, signatures = checked.rpartition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise NoteError("a note is text, a blank line and signature lines")
    raw_lines = signatures[:-1].split("\n")
    if len(raw_lines) > _MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {_MAX_SIGNATURES} signatures")
    # 3. Each line is "— name base64(id || signature)".
    lines: list[tuple[str, bytes]] = []
    for line in raw_lines:
        dash, _, rest = line.partition(" ")
        name, _, blob = rest.partition(" ")
        if dash != _DASH or not name or not blob:
            raise NoteError("a signature line is '— name signature'")
        try:
            raw = base64.b64decode(blob, validate=True)
        except binascii.Error:
            raise NoteError("a signature is not base64") from None
        if len(raw) <= _KEY_ID_SIZE:
            raise NoteError(f"the signature by {name} is no longer than a key id")
        lines.append((name, raw))
    return text + "\n", lines


@dataclass(frozen=True, slots=True)
class Verifier:
    """A trusted public key: its name, its 4-byte id, and the Ed25519 key."""

    name: str
    key_id: bytes
    key: Ed25519PublicKey

    @classmethod
    def of(cls, name: str, key: Ed25519PublicKey) -> Verifier:
        """Return the verifier for ``key`` under ``name``."""
        _check_name(name)
        return cls(name, _key_id(name, _raw_public(key)), key)


def verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """Return the text form ``name+hexid+base64(0x01 || key)`` of a public key."""
    verifier = Verifier.of(name, key)
    encoded = base64.b64encode(_ALG_ED25519 + _raw_public(key)).decode()
    return f"{name}+{verifier.key_id.hex()}+{encoded}"


def _parse_key(text: str, algorithm: bytes, kind: str) -> tuple[str, bytes, Ed25519PublicKey]:
    """Split ``name+hexid+base64(type || key)``; check the type, the length and the id."""
    # 1. Name, hex id and key material; the base64 part may itself hold '+'.
    parts = text.strip().split("+", 2)
    if len(parts) != 3:  # noqa: PLR2004 - name, id, key
        raise NoteError("a verifier key is name+hexid+base64key")
    name, hex_id, encoded = parts
    _check_name(name)
    try:
        raw = base64.b64decode(encoded, validate=True)
        key_id = bytes.fromhex(hex_id)
    except (binascii.Error, ValueError):
        raise NoteError("a verifier key is name+hexid+base64key") from None
    # 2. Only Ed25519 keys of the expected type byte and length.
    if len(raw) != 33 or raw[:1] != algorithm:  # noqa: PLR2004 - type byte + 32
        raise NoteError(f"only {kind} keys are supported")
    # 3. The id must be the one the name, type and key imply.
    digest = hashlib.sha256(name.encode() + b"\n" + algorithm + raw[1:]).digest()
    if key_id != digest[:_KEY_ID_SIZE]:
        raise NoteError("the key id does not match the name and key")
    return name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:])


def parse_verifier_key(text: str) -> Verifier:
    """Parse a verifier key string.

    Raises:
        NoteError: malformed, not Ed25519, or its id does not match its key.
    """
    return Verifier(*_parse_key(text, _ALG_ED25519, "Ed25519 verifier"))


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """Return ``text`` signed by ``key`` as a note with one signature line.

    Raises:
        NoteError: the text does not end in a newline, is not valid UTF-8, or
            holds a control character other than newline.
    """
    _check_text(text, "note text")
    if not text.endswith("\n"):
        raise NoteError("note text must end in a newline")
    verifier = Verifier.of(name, key.public_key())
    signature = key.sign(text.encode())
    blob = base64.b64encode(verifier.key_id + signature).decode()
    return f"{text}\n{_DASH} {name} {blob}\n"


def add_signature(note: str, name: str, key: Ed25519PrivateKey) -> str:
    """Return ``note`` with one more signature line (a cosignature) over the same text.

    Raises:
        NoteError: ``note`` is not a well-formed signed note.
    """
    text, _lines = split_note(note)
    line = sign_note(text, name, key).rpartition("\n\n")[2]
    return note + line


def open_note(note: str | bytes, verifiers: Iterable[Verifier]) -> tuple[str, tuple[str, ...]]:
    """Return the note's text and the names of the trusted keys whose signatures verify.

    Signatures by unknown keys are ignored; a signature claiming a trusted key's
    name and id that does not verify is an error.

    Raises:
        NoteError: malformed, a bad signature by a trusted key, or none verifies.
    """
    text, lines = split_note(note)
    trusted = {(v.name, v.key_id): v for v in verifiers}
    verified: list[str] = []
    for name, raw in lines:
        # 1. Only a line whose name and key id match a trusted key counts.
        verifier = trusted.get((name, raw[:_KEY_ID_SIZE]))
        if verifier is None:
            continue
        # 2. A trusted key's signature must verify over the exact text.
        if len(raw) != _KEY_ID_SIZE + _SIGNATURE_SIZE:
            raise NoteError(f"the signature by {name} has the wrong length")
        try:
            verifier.key.verify(raw[_KEY_ID_SIZE:], text.encode())
        except InvalidSignature:
            raise NoteError(f"the signature by {name} does not verify") from None
        verified.append(name)
    # 3. At least one trusted key must have signed.
    if not verified:
        raise NoteError("no signature by a trusted key")
    return text, tuple(verified)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A log's signed statement of its size and root hash."""

    origin: str
    size: int
    root: bytes


def format_checkpoint(checkpoint: Checkpoint) -> str:
    """Return the checkpoint body: origin, decimal size, base64 root, one per line."""
    if not checkpoint.origin or "\n" in checkpoint.origin:
        raise NoteError("the origin is one non-empty line")
    root = base64.b64encode(checkpoint.root).decode()
    return f"{checkpoint.origin}\n{checkpoint.size}\n{root}\n"


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse a checkpoint body (extension lines after the third are ignored).

    Raises:
        NoteError: fewer than three lines, an empty line, no final newline, a bad
            size or a bad root hash.
    """
    lines = text.split("\n")
    if len(lines) < 4 or not lines[0]:  # noqa: PLR2004 - three lines and the final newline
        raise NoteError("a checkpoint is origin, size and root hash on three lines")
    if lines[-1] or not all(lines[:-1]):
        raise NoteError("a checkpoint's lines are non-empty and each ends in a newline")
    size_text, root_text = lines[1], lines[2]
    if (
        not size_text.isascii()
        or not size_text.isdigit()
        or (size_text.startswith("0") and size_text != "0")
    ):
        raise NoteError("the tree size is a decimal number without leading zeros")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise NoteError("the root hash is not base64") from None
    if len(root) != hashlib.sha256().digest_size:
        raise NoteError("the root hash is not a SHA-256 hash")
    return Checkpoint(lines[0], int(size_text), root)

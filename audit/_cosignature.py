"""Witness cosignatures over checkpoints, as C2SP tlog-cosignature (cosignature/v1) defines them.

A cosignature is a note signature line ``— <name> base64(key id || timestamp || signature)``
with an 8-byte big-endian POSIX timestamp and an Ed25519 signature over the lines
``cosignature/v1`` and ``time <timestamp>`` followed by the checkpoint body. Its key id is
the first four bytes of SHA-256(name || 0x0A || 0x04 || public key): the type byte
differs from a log's note key (0x01), so neither kind of signature passes for the other.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit._note import (
    _DASH,
    _KEY_ID_SIZE,
    _SIGNATURE_SIZE,
    NoteError,
    _check_name,
    _parse_key,
    _raw_public,
    parse_checkpoint,
    split_note,
)

__all__ = [
    "Cosigner",
    "cosign",
    "cosignature_time",
    "cosigner_verifier_key",
    "parse_cosigner_key",
    "verify_cosignatures",
]

_ALG_COSIGNATURE_V1 = b"\x04"
_TIMESTAMP_SIZE = 8
_BLOB_SIZE = _KEY_ID_SIZE + _TIMESTAMP_SIZE + _SIGNATURE_SIZE
_MAX_TIMESTAMP = 2**63 - 1


def _key_id(name: str, public: bytes) -> bytes:
    digest = hashlib.sha256(name.encode() + b"\n" + _ALG_COSIGNATURE_V1 + public).digest()
    return digest[:_KEY_ID_SIZE]


def _message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True, slots=True)
class Cosigner:
    """A trusted witness key: its name, its 4-byte cosignature key id, and the Ed25519 key."""

    name: str
    key_id: bytes
    key: Ed25519PublicKey

    @classmethod
    def of(cls, name: str, key: Ed25519PublicKey) -> Cosigner:
        """Return the cosigner for ``key`` under ``name``.

        Raises:
            NoteError: the name is not a valid key name.
        """
        _check_name(name)
        return cls(name, _key_id(name, _raw_public(key)), key)


def cosigner_verifier_key(name: str, key: Ed25519PublicKey) -> str:
    """Return the text form ``name+hexid+base64(0x04 || key)`` of a witness key."""
    cosigner = Cosigner.of(name, key)
    encoded = base64.b64encode(_ALG_COSIGNATURE_V1 + _raw_public(key)).decode()
    return f"{name}+{cosigner.key_id.hex()}+{encoded}"


def parse_cosigner_key(text: str) -> Cosigner:
    """Parse a witness verifier key string.

    Raises:
        NoteError: malformed, not a cosignature/v1 Ed25519 key, or its id does not match.
    """
    return Cosigner(*_parse_key(text, _ALG_COSIGNATURE_V1, "Ed25519 cosignature/v1 (type 0x04)"))


def _note_text(note: str) -> str:
    """The signed text of a note, or the note itself when it is a bare body.

    Raises:
        NoteError: a malformed note, or a body that does not end in a newline.
    """
    if "\n\n" in note:
        return split_note(note)[0]
    if not note.endswith("\n"):
        raise NoteError("note text must end in a newline")
    return note


def cosign(checkpoint_note: str, name: str, key: Ed25519PrivateKey, timestamp: int) -> str:
    """Return one cosignature/v1 line ``— name base64(...)``, newline-terminated.

    ``checkpoint_note`` is a signed checkpoint or its bare body; existing
    signatures are not part of the signed message.

    Raises:
        NoteError: not a checkpoint, a bad name, or a timestamp outside 0..2^63-1.
    """
    # 1. Only a well-formed checkpoint body is cosigned (extension lines included).
    text = _note_text(checkpoint_note)
    parse_checkpoint(text)
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise NoteError("a cosignature timestamp is between 0 and 2^63-1")
    # 2. Sign the domain-separated, timestamped message.
    cosigner = Cosigner.of(name, key.public_key())
    signature = key.sign(_message(text, timestamp))
    blob = cosigner.key_id + timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature
    return f"{_DASH} {name} {base64.b64encode(blob).decode()}\n"


def cosignature_time(line: str) -> int:
    """Return the POSIX timestamp a cosignature line ``— name base64(...)`` states.

    The line is not verified here: use it on lines kept after :func:`verify_cosignatures`.

    Raises:
        NoteError: not a cosignature/v1 line.
    """
    dash, _, rest = line.strip().partition(" ")
    _name, _, blob = rest.partition(" ")
    try:
        raw = base64.b64decode(blob, validate=True)
    except ValueError:
        raise NoteError("a cosignature line is '— name base64'") from None
    if dash != _DASH or len(raw) != _BLOB_SIZE:
        raise NoteError("not a cosignature/v1 line")
    return int.from_bytes(raw[_KEY_ID_SIZE : _KEY_ID_SIZE + _TIMESTAMP_SIZE], "big")


def verify_cosignatures(note: str, cosigners: Iterable[Cosigner]) -> dict[str, int]:
    """Return the timestamp of each trusted cosigner whose cosignature on ``note`` verifies.

    Lines by unknown names or key ids (log signatures among them) are ignored; when
    a cosigner signed more than once, its latest timestamp is returned. The caller
    decides how many cosignatures are enough.

    Raises:
        NoteError: the note is malformed, or a line with a trusted name and key id
            has the wrong length, an out-of-range timestamp or a bad signature.
    """
    text, lines = split_note(note)
    trusted = {(c.name, c.key_id): c for c in cosigners}
    verified: dict[str, int] = {}
    for name, raw in lines:
        # 1. Only lines whose name and key id match a trusted cosigner count.
        cosigner = trusted.get((name, raw[:_KEY_ID_SIZE]))
        if cosigner is None:
            continue
        # 2. key id || u64 big-endian timestamp || Ed25519 signature, nothing more.
        if len(raw) != _BLOB_SIZE:
            raise NoteError(f"the cosignature by {name} has the wrong length")
        timestamp = int.from_bytes(raw[_KEY_ID_SIZE : _KEY_ID_SIZE + _TIMESTAMP_SIZE], "big")
        if timestamp > _MAX_TIMESTAMP:
            raise NoteError(f"the cosignature by {name} has a timestamp above 2^63-1")
        # 3. The signature covers the header, the timestamp line and the exact text.
        try:
            cosigner.key.verify(raw[_KEY_ID_SIZE + _TIMESTAMP_SIZE :], _message(text, timestamp))
        except InvalidSignature:
            raise NoteError(f"the cosignature by {name} does not verify") from None
        verified[name] = max(timestamp, verified.get(name, 0))
    return verified

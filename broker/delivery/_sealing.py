"""Sealing a release to a recipient's X25519 key with HPKE (RFC 9180), and opening it.

``broker/delivery/SEALING.md`` specifies the format byte for byte, with test
vectors. New releases are sealed with HPKE in base mode, suite
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, so a municipality can
open them with any RFC 9180 library. The sealed body is JSON:
``{"alg", "enc", "ciphertext"}`` (standard base64 with padding); ``info`` binds
it to this use, and HPKE binds it to the recipient's public key. Bodies sealed
in the earlier format (``X25519-HKDF-SHA256-A256GCM``: ephemeral ECDH,
HKDF-SHA256, AES-256-GCM) still open. Only the holder of the recipient's
private key can open either; the signature and digest of the delivery cover the
sealed bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hpke import AEAD, KDF, KEM, Suite
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from broker import bounded_json

__all__ = ["ALG", "INFO", "LEGACY_ALG", "SealError", "is_sealed", "open_sealed", "seal"]

ALG = "HPKE-Base-X25519-HKDF-SHA256-A256GCM"
"""RFC 9180 base mode; KEM 0x0020 DHKEM(X25519, HKDF-SHA256), KDF 0x0001, AEAD 0x0002."""
INFO = b"renovation-broker sealed release v2"
"""The HPKE ``info``: these ASCII bytes, no terminator. The ``aad`` is empty."""
LEGACY_ALG = "X25519-HKDF-SHA256-A256GCM"
"""The format before HPKE: opened, never written."""

_SUITE = Suite(KEM.X25519, KDF.HKDF_SHA256, AEAD.AES_256_GCM)
_ENC = 32
"""Nenc of DHKEM(X25519, HKDF-SHA256): the ephemeral public key, raw."""
_TAG = 16
_LEGACY_INFO = b"renovation-broker release v1"
_LEGACY_NONCE = 12
_MALFORMED = "not a sealed release of this format"
_UNOPENED = "the release was sealed to another key, or altered"


class SealError(ValueError):
    """A sealed body is malformed, for another key, or was altered."""


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _b64(document: dict[str, Any], member: str) -> bytes:
    """Return the bytes of one member: standard base64 with padding, nothing else."""
    value = document[member]
    if not isinstance(value, str):
        raise TypeError(member)
    return base64.b64decode(value, validate=True)


def seal(plaintext: bytes, recipient: X25519PublicKey) -> bytes:
    """Return ``plaintext`` sealed to ``recipient`` as a JSON body (HPKE, a fresh ephemeral key)."""
    sealed = _SUITE.encrypt(plaintext, recipient, info=INFO)
    # The single-shot output is enc || ciphertext; the body carries them as two members.
    document = {
        "alg": ALG,
        "enc": base64.b64encode(sealed[:_ENC]).decode(),
        "ciphertext": base64.b64encode(sealed[_ENC:]).decode(),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def _document(body: bytes) -> dict[str, Any] | None:
    try:
        document = bounded_json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def is_sealed(body: bytes) -> bool:
    """Return whether ``body`` is a sealed release (of either format) rather than a plain one."""
    document = _document(body)
    return document is not None and document.get("alg") in (ALG, LEGACY_ALG)


def open_sealed(body: bytes, private: X25519PrivateKey) -> bytes:
    """Return the plaintext of a sealed body, of the HPKE format or the earlier one.

    Raises:
        SealError: malformed, sealed to another key, or altered. The message never
            carries a value from the body.
    """
    document = _document(body)
    if document is None:
        raise SealError(_MALFORMED)
    if document.get("alg") == LEGACY_ALG:
        return _open_legacy(document, private)
    try:
        if document["alg"] != ALG:
            raise SealError(_MALFORMED)
        enc, ciphertext = _b64(document, "enc"), _b64(document, "ciphertext")
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise SealError(_MALFORMED) from error
    if len(enc) != _ENC or len(ciphertext) < _TAG:
        raise SealError(_MALFORMED)
    try:
        return _SUITE.decrypt(enc + ciphertext, private, info=INFO)
    except InvalidTag:
        raise SealError(_UNOPENED) from None


def _open_legacy(document: dict[str, Any], private: X25519PrivateKey) -> bytes:
    """Open the earlier format (SEALING.md, "The earlier format")."""
    try:
        epk = _b64(document, "epk")
        nonce = _b64(document, "nonce")
        sealed = _b64(document, "ciphertext")
        if len(nonce) != _LEGACY_NONCE:
            raise SealError(_MALFORMED)
        ephemeral = X25519PublicKey.from_public_bytes(epk)
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise SealError(_MALFORMED) from error
    rpk = _raw(private.public_key())
    try:
        shared = private.exchange(ephemeral)
    except ValueError:  # a low-order point: no shared secret, so nothing sealed to this key
        raise SealError(_UNOPENED) from None
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=epk + rpk, info=_LEGACY_INFO)
    try:
        return AESGCM(kdf.derive(shared)).decrypt(nonce, sealed, epk + rpk)
    except InvalidTag:
        raise SealError(_UNOPENED) from None

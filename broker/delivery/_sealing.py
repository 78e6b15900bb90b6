"""Sealing a release to a recipient's X25519 key: ephemeral ECDH, HKDF-SHA256, AES-256-GCM.

The sealed body is JSON: ``{"alg", "epk", "nonce", "ciphertext"}`` (base64). The key
is derived from a fresh ephemeral key's shared secret with the recipient's key,
salted with both public keys; both public keys are also the associated data, so
a body sealed to one recipient cannot be passed off as sealed to another. Only
the holder of the recipient's private key can open it; the signature and digest
of the delivery cover the sealed bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from broker import bounded_json

__all__ = ["ALG", "SealError", "is_sealed", "open_sealed", "seal"]

ALG = "X25519-HKDF-SHA256-A256GCM"
_INFO = b"renovation-broker release v1"
_NONCE = 12


class SealError(ValueError):
    """A sealed body is malformed, for another key, or was altered."""


def _raw(key: X25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=_INFO)
    return kdf.derive(shared)


def seal(plaintext: bytes, recipient: X25519PublicKey) -> bytes:
    """Return ``plaintext`` sealed to ``recipient`` as a JSON body."""
    ephemeral = X25519PrivateKey.generate()
    epk, rpk = _raw(ephemeral.public_key()), _raw(recipient)
    nonce = os.urandom(_NONCE)
    sealed = AESGCM(_key(ephemeral.exchange(recipient), epk, rpk)).encrypt(
        nonce, plaintext, epk + rpk
    )
    document = {
        "alg": ALG,
        "epk": base64.b64encode(epk).decode(),
        "nonce": base64.b64encode(nonce).decode(),
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def is_sealed(body: bytes) -> bool:
    """Return whether ``body`` is a sealed release (rather than a plain one)."""
    try:
        document = bounded_json.loads(body)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("alg") == ALG


def open_sealed(body: bytes, private: X25519PrivateKey) -> bytes:
    """Return the plaintext of a sealed body.

    Raises:
        SealError: malformed, sealed to another key, or altered.
    """
    try:
        document = bounded_json.loads(body)
        epk = base64.b64decode(document["epk"], validate=True)
        nonce = base64.b64decode(document["nonce"], validate=True)
        sealed = base64.b64decode(document["ciphertext"], validate=True)
        if document["alg"] != ALG or len(nonce) != _NONCE:
            raise SealError("not a sealed release of this format")
        ephemeral = X25519PublicKey.from_public_bytes(epk)
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise SealError("not a sealed release of this format") from error
    rpk = _raw(private.public_key())
    try:
        return AESGCM(_key(private.exchange(ephemeral), epk, rpk)).decrypt(nonce, sealed, epk + rpk)
    except InvalidTag:
        raise SealError("the release was sealed to another key, or altered") from None

"""Ed25519 public keys as PEM: one file may hold several (a log's current and earlier keys)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

__all__ = ["PemError", "public_keys_from_pem", "public_keys_to_pem"]

_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


class PemError(ValueError):
    """A PEM file holds no Ed25519 public key, or a block is not one."""


def public_keys_from_pem(data: bytes) -> list[Ed25519PublicKey]:
    """Return every Ed25519 public key in ``data``, in file order.

    Raises:
        PemError: no PUBLIC KEY block, or a block that is not an Ed25519 key.
    """
    keys: list[Ed25519PublicKey] = []
    for number, block in enumerate(_BLOCK.findall(data), start=1):
        try:
            key = load_pem_public_key(block)
        except (ValueError, UnsupportedAlgorithm):
            raise PemError(f"public key {number} is not a valid PEM key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise PemError(f"public key {number} is not an Ed25519 key")
        keys.append(key)
    if not keys:
        raise PemError("no PUBLIC KEY block found")
    return keys


def public_keys_to_pem(keys: Iterable[Ed25519PublicKey]) -> bytes:
    """Return ``keys`` as concatenated PEM blocks."""
    return b"".join(
        key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo) for key in keys
    )

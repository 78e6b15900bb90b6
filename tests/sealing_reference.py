"""Sealed bodies, sealed and opened by code written only from ``broker/delivery/SEALING.md``.

Independent of ``broker.delivery._sealing``: RFC 9180 base mode is built here from
X25519, HMAC-SHA256 and AES-GCM (the RFC's ``LabeledExtract``, ``LabeledExpand``,
``Encap``/``Decap`` and ``KeySchedule``), not from an HPKE library, so a test that
opens a broker-sealed body with it shows that the document is enough. The
document's test vectors are parsed from the document itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOCUMENT = Path(__file__).resolve().parents[1] / "broker" / "delivery" / "SEALING.md"

HPKE_ALG = "HPKE-Base-X25519-HKDF-SHA256-A256GCM"
HPKE_INFO = b"renovation-broker sealed release v2"
LEGACY_ALG = "X25519-HKDF-SHA256-A256GCM"
LEGACY_INFO = b"renovation-broker release v1"

KEM_X25519_SHA256, KDF_HKDF_SHA256, AEAD_AES_128_GCM, AEAD_AES_256_GCM = 0x0020, 0x0001, 1, 2
_NK = {AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 32}
_NN = 12


def raw(key: X25519PublicKey) -> bytes:
    """Return the raw 32 bytes of an X25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _i2osp(value: int, length: int) -> bytes:
    return value.to_bytes(length, "big")


def _extract(salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def _expand(prk: bytes, info: bytes, length: int) -> bytes:
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        output, counter = output + block, counter + 1
    return output[:length]


def _labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return _extract(salt, b"HPKE-v1" + suite_id + label + ikm)


def _labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return _expand(prk, _i2osp(length, 2) + b"HPKE-v1" + suite_id + label + info, length)


@dataclass(frozen=True)
class Context:
    """What RFC 9180 base mode derives: the KEM's shared secret, the AEAD key and base nonce."""

    shared_secret: bytes
    key: bytes
    base_nonce: bytes


def key_schedule(dh: bytes, enc: bytes, pk_r: bytes, info: bytes, aead: int) -> Context:
    """RFC 9180 sections 4.1 and 5.1, mode_base, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256."""
    kem_suite = b"KEM" + _i2osp(KEM_X25519_SHA256, 2)
    eae_prk = _labeled_extract(kem_suite, b"", b"eae_prk", dh)
    shared = _labeled_expand(kem_suite, eae_prk, b"shared_secret", enc + pk_r, 32)
    suite = b"HPKE" + _i2osp(KEM_X25519_SHA256, 2) + _i2osp(KDF_HKDF_SHA256, 2) + _i2osp(aead, 2)
    psk_id_hash = _labeled_extract(suite, b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(suite, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = _labeled_extract(suite, shared, b"secret", b"")
    key = _labeled_expand(suite, secret, b"key", context, _NK[aead])
    base_nonce = _labeled_expand(suite, secret, b"base_nonce", context, _NN)
    return Context(shared, key, base_nonce)


def hpke_seal(
    plaintext: bytes, pk_r: X25519PublicKey, sk_e: X25519PrivateKey, info: bytes, aad: bytes = b""
) -> tuple[bytes, bytes, Context]:
    """Return ``(enc, ciphertext, context)``: one SealBase with the given ephemeral key."""
    enc = raw(sk_e.public_key())
    context = key_schedule(sk_e.exchange(pk_r), enc, raw(pk_r), info, AEAD_AES_256_GCM)
    return enc, AESGCM(context.key).encrypt(context.base_nonce, plaintext, aad), context


def hpke_open(enc: bytes, ciphertext: bytes, sk_r: X25519PrivateKey, info: bytes) -> bytes:
    """Return the plaintext of one OpenBase (AES-256-GCM, empty aad, sequence number 0)."""
    dh = sk_r.exchange(X25519PublicKey.from_public_bytes(enc))
    context = key_schedule(dh, enc, raw(sk_r.public_key()), info, AEAD_AES_256_GCM)
    return AESGCM(context.key).decrypt(context.base_nonce, ciphertext, b"")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal_body(plaintext: bytes, pk_r: X25519PublicKey, sk_e: X25519PrivateKey) -> bytes:
    """Return the sealed body the document describes, with the given ephemeral key."""
    enc, ciphertext, _ = hpke_seal(plaintext, pk_r, sk_e, HPKE_INFO)
    document = {"alg": HPKE_ALG, "enc": _b64(enc), "ciphertext": _b64(ciphertext)}
    return json.dumps(document, separators=(",", ":")).encode()


def legacy_key(shared: bytes, epk: bytes, pk_r: bytes) -> bytes:
    """The earlier format's AES-256 key: HKDF-SHA256, salt ``epk || pkR``."""
    return _expand(_extract(epk + pk_r, shared), LEGACY_INFO, 32)


def seal_legacy_body(
    plaintext: bytes, pk_r: X25519PublicKey, sk_e: X25519PrivateKey, nonce: bytes
) -> bytes:
    """Return a body in the earlier format, with the given ephemeral key and nonce."""
    epk, rpk = raw(sk_e.public_key()), raw(pk_r)
    sealed = AESGCM(legacy_key(sk_e.exchange(pk_r), epk, rpk)).encrypt(nonce, plaintext, epk + rpk)
    document = {
        "alg": LEGACY_ALG,
        "epk": _b64(epk),
        "nonce": _b64(nonce),
        "ciphertext": _b64(sealed),
    }
    return json.dumps(document, separators=(",", ":")).encode()


def open_body(body: bytes, sk_r: X25519PrivateKey) -> bytes:
    """Open a sealed body of either format, as the document says a municipality does."""
    document = json.loads(body)
    members = {
        name: base64.b64decode(value, validate=True)
        for name, value in document.items()
        if name != "alg"
    }
    if document["alg"] == HPKE_ALG:
        return hpke_open(members["enc"], members["ciphertext"], sk_r, HPKE_INFO)
    assert document["alg"] == LEGACY_ALG
    epk, rpk = members["epk"], raw(sk_r.public_key())
    shared = sk_r.exchange(X25519PublicKey.from_public_bytes(epk))
    key = legacy_key(shared, epk, rpk)
    return AESGCM(key).decrypt(members["nonce"], members["ciphertext"], epk + rpk)


def vectors() -> dict[str, dict[str, str]]:
    """Return the document's test vectors: ``{name: {field: value}}``, read from its text.

    A vector is a fenced block whose first line is ``vector: NAME``; each further
    line is ``field = value``.
    """
    found: dict[str, dict[str, str]] = {}
    text = DOCUMENT.read_text("utf-8")
    for block in re.findall(r"^```text\n(.*?)^```", text, re.MULTILINE | re.DOTALL):
        first, _, rest = block.partition("\n")
        if not first.startswith("vector: "):
            continue
        pairs = (line.split(" = ", 1) for line in rest.splitlines() if line.strip())
        found[first.removeprefix("vector: ")] = {name.strip(): value for name, value in pairs}
    return found

"""SEALING.md is enough to open a release: its vectors hold, and code written from it opens ours."""

from __future__ import annotations

import json
import re

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)
from sealing_reference import (
    AEAD_AES_128_GCM,
    DOCUMENT,
    HPKE_ALG,
    HPKE_INFO,
    LEGACY_ALG,
    hpke_seal,
    key_schedule,
    open_body,
    raw,
    seal_body,
    seal_legacy_body,
    vectors,
)

from broker.delivery._sealing import ALG, INFO, open_sealed, seal
from broker.delivery._sealing import LEGACY_ALG as BROKER_LEGACY_ALG

h = bytes.fromhex
VECTORS = vectors()
PLAIN = b'{"release":{"release_id":"rel-7","dwellings":[{"ref":"x"}]},"salt":"ab","receipt":"r"}'


def _private(hex_key: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(h(hex_key))


def test_the_document_has_both_vectors_with_every_field() -> None:
    """The document carries the HPKE and the earlier format's vector, each complete."""
    assert set(VECTORS) == {"hpke", "legacy"}
    assert {"skR", "pkR", "skE", "enc", "info", "shared_secret", "key", "base_nonce"} <= set(
        VECTORS["hpke"]
    )
    assert {"skR", "pkR", "skE", "epk", "nonce"} <= set(VECTORS["legacy"])
    for vector in VECTORS.values():
        assert {"plaintext", "body"} <= set(vector)


def test_the_reference_code_is_rfc9180() -> None:
    """The test's own HPKE reproduces RFC 9180 appendix A.1.1 (the same KEM and KDF, AES-128)."""
    sk_e = _private("52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736")
    sk_r = _private("4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8")
    enc, pk_r = raw(sk_e.public_key()), raw(sk_r.public_key())
    assert enc.hex() == "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"
    assert pk_r.hex() == "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d"
    info = h("4f6465206f6e2061204772656369616e2055726e")
    context = key_schedule(sk_e.exchange(sk_r.public_key()), enc, pk_r, info, AEAD_AES_128_GCM)
    assert context.shared_secret.hex() == (
        "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc"
    )
    assert context.key.hex() == "4531685d41d65f03dc48f6b8302c05b0"
    assert context.base_nonce.hex() == "56d890e5accaaf011cff4b7d"


def test_the_hpke_vector_is_reproduced_byte_for_byte() -> None:
    """From skR, skE and the plaintext, the document's construction gives exactly its body."""
    vector = VECTORS["hpke"]
    sk_r, sk_e = _private(vector["skR"]), _private(vector["skE"])
    assert raw(sk_r.public_key()).hex() == vector["pkR"]
    assert h(vector["info"]) == HPKE_INFO == INFO
    plaintext = vector["plaintext"].encode("ascii")
    enc, ciphertext, context = hpke_seal(plaintext, sk_r.public_key(), sk_e, HPKE_INFO)
    assert enc.hex() == vector["enc"]
    assert context.shared_secret.hex() == vector["shared_secret"]
    assert context.key.hex() == vector["key"]
    assert context.base_nonce.hex() == vector["base_nonce"]
    assert ciphertext.hex() == vector["ciphertext"]
    assert len(ciphertext) == len(plaintext) + 16  # the tag follows the encrypted bytes
    assert seal_body(plaintext, sk_r.public_key(), sk_e) == vector["body"].encode("ascii")
    assert json.loads(vector["body"])["alg"] == HPKE_ALG == ALG


def test_the_legacy_vector_is_reproduced_byte_for_byte() -> None:
    """The earlier format, built as documented, gives exactly the body the old code made."""
    vector = VECTORS["legacy"]
    sk_r, sk_e = _private(vector["skR"]), _private(vector["skE"])
    assert raw(sk_r.public_key()).hex() == vector["pkR"]
    assert raw(sk_e.public_key()).hex() == vector["epk"]
    plaintext = vector["plaintext"].encode("ascii")
    body = seal_legacy_body(plaintext, sk_r.public_key(), sk_e, h(vector["nonce"]))
    assert body == vector["body"].encode("ascii")
    assert json.loads(body)["alg"] == LEGACY_ALG == BROKER_LEGACY_ALG


@pytest.mark.parametrize("name", ["hpke", "legacy"])
def test_the_broker_opens_the_documents_vectors(name: str) -> None:
    """The broker opens both vectors to their plaintext, as does the code written from the text."""
    vector = VECTORS[name]
    body, plaintext = vector["body"].encode("ascii"), vector["plaintext"].encode("ascii")
    assert open_sealed(body, _private(vector["skR"])) == plaintext
    assert open_body(body, _private(vector["skR"])) == plaintext


def test_code_written_from_the_document_opens_a_body_the_broker_sealed() -> None:
    """A body the broker seals now has the documented shape and opens with the independent code."""
    recipient = X25519PrivateKey.generate()
    body = seal(PLAIN, recipient.public_key())
    assert body.startswith(f'{{"alg":"{HPKE_ALG}","enc":"'.encode())
    assert list(json.loads(body)) == ["alg", "enc", "ciphertext"]
    assert open_body(body, recipient) == PLAIN


def test_the_keys_as_openssl_writes_them_end_in_the_raw_bytes() -> None:
    """The document's openssl recipe is right: the raw key is the last 32 bytes of the DER."""
    private = X25519PrivateKey.generate()
    der_private = private.private_bytes(Encoding.DER, PrivateFormat.PKCS8, NoEncryption())
    der_public = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert (
        X25519PrivateKey.from_private_bytes(der_private[-32:]).public_key() == private.public_key()
    )
    assert X25519PublicKey.from_public_bytes(der_public[-32:]) == private.public_key()


def test_the_readme_names_the_format_the_broker_writes() -> None:
    """The README's Sealing bullet names the alg and info the code uses, and links the document."""
    readme = (DOCUMENT.parents[2] / "README.md").read_text("utf-8")
    bullet = readme[readme.index("- **Sealing:**") :].split("\n- **", 1)[0]
    for named in (ALG, INFO.decode(), BROKER_LEGACY_ALG, "broker/delivery/SEALING.md"):
        assert named in " ".join(bullet.split())


def test_the_documents_python_example_opens_the_vector() -> None:
    """The document's Python snippet, run as written, opens the HPKE vector."""
    text = DOCUMENT.read_text("utf-8")
    (snippet,) = re.findall(r"^```python\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    vector = VECTORS["hpke"]
    scope = {"body": vector["body"].encode("ascii"), "private_key": _private(vector["skR"])}
    exec(snippet, scope)  # noqa: S102 - the document's own example, checked as written
    assert scope["plaintext"] == vector["plaintext"].encode("ascii")

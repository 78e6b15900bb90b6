"""Sealed releases: only the recipient's key opens them, and any change is detected."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from sealing_reference import seal_legacy_body

from broker.delivery._sealing import ALG, LEGACY_ALG, SealError, is_sealed, open_sealed, seal

PLAIN = b'{"release":{"release_id":"rel-1"},"salt":"00","receipt":"x"}'
PERSONAL = ("3201901234", "jens.hansen@example.dk", "Jens Hansen")
PLANTED = json.dumps({"release": {"note": " ".join(PERSONAL)}, "salt": "00"}).encode()


def _legacy(plaintext: bytes, key: X25519PrivateKey) -> bytes:
    """A body sealed the earlier way (as the broker did before HPKE)."""
    return seal_legacy_body(plaintext, key.public_key(), X25519PrivateKey.generate(), bytes(12))


def test_the_recipient_opens_what_was_sealed_to_it() -> None:
    """A sealed body opens to the exact plaintext with the recipient's key, and hides it."""
    key = X25519PrivateKey.generate()
    sealed = seal(PLAIN, key.public_key())
    assert json.loads(sealed)["alg"] == ALG
    assert is_sealed(sealed)
    assert not is_sealed(PLAIN)
    assert b"rel-1" not in sealed
    assert open_sealed(sealed, key) == PLAIN
    assert seal(PLAIN, key.public_key()) != sealed  # a fresh ephemeral key every time


def test_a_body_sealed_the_earlier_way_still_opens() -> None:
    """The format before HPKE is recognised as sealed and opens with the recipient's key."""
    key = X25519PrivateKey.generate()
    sealed = _legacy(PLAIN, key)
    assert json.loads(sealed)["alg"] == LEGACY_ALG
    assert is_sealed(sealed)
    assert open_sealed(sealed, key) == PLAIN


@pytest.mark.parametrize("legacy", [False, True])
def test_another_key_cannot_open_it(legacy: bool) -> None:
    """A body sealed to one recipient does not open with another's key."""
    recipient = X25519PrivateKey.generate()
    sealed = _legacy(PLAIN, recipient) if legacy else seal(PLAIN, recipient.public_key())
    with pytest.raises(SealError, match="another key"):
        open_sealed(sealed, X25519PrivateKey.generate())


_MEMBERS = {False: ("ciphertext", "enc"), True: ("ciphertext", "nonce", "epk")}


@settings(max_examples=60)
@given(st.data(), st.booleans())
def test_any_change_to_the_sealed_body_is_detected(data: st.DataObject, legacy: bool) -> None:
    """Changing one character of any member (either format) fails to open."""
    key = X25519PrivateKey.generate()
    sealed = (_legacy(PLAIN, key) if legacy else seal(PLAIN, key.public_key())).decode()
    field = f'"{data.draw(st.sampled_from(_MEMBERS[legacy]))}":"'
    start = sealed.index(field) + len(field)
    end = sealed.index('"', start)
    # The last character before the padding can carry unused bits (4 of them before "=="):
    # leave it and the padding.
    last = start + len(sealed[start:end].rstrip("=")) - 1
    position = data.draw(st.integers(min_value=start, max_value=last - 1))
    replacement = "B" if sealed[position] != "B" else "C"
    altered = sealed[:position] + replacement + sealed[position + 1 :]
    with pytest.raises(SealError):
        open_sealed(altered.encode(), key)


@pytest.mark.parametrize("alg", [ALG, LEGACY_ALG])
def test_a_low_order_ephemeral_key_is_refused_not_raised(alg: str) -> None:
    """An all-zero ephemeral key (no shared secret) is a SealError, not a crash of the receiver."""
    zero = base64.b64encode(bytes(32)).decode()
    members = {"enc": zero} if alg == ALG else {"epk": zero, "nonce": "AAAAAAAAAAAAAAAA"}
    body = json.dumps({"alg": alg, **members, "ciphertext": zero}).encode()
    with pytest.raises(SealError, match="another key"):
        open_sealed(body, X25519PrivateKey.generate())


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"not json",
        b"[]",
        b'{"alg":"X25519-HKDF-SHA256-A256GCM"}',
        b'{"alg":"HPKE-Base-X25519-HKDF-SHA256-A256GCM"}',
        b'{"alg":"HPKE-Base-X25519-HKDF-SHA256-A256GCM","enc":"AAAA","ciphertext":"AAAA"}',
        b'{"alg":"HPKE-Base-X25519-HKDF-SHA256-A256GCM","enc":7,"ciphertext":"AAAA"}',
        b'{"alg":"HPKE-Base-X25519-HKDF-SHA256-A256GCM","enc":"-_-_","ciphertext":"AAAA"}',
        b'{"alg":"HPKE-Base-P256-HKDF-SHA256-A256GCM","enc":"AAAA","ciphertext":"AAAA"}',
    ],
)
def test_malformed_bodies_are_refused(body: bytes) -> None:
    """Something that is not a sealed release is refused with a clear error."""
    with pytest.raises(SealError, match="not a sealed release"):
        open_sealed(body, X25519PrivateKey.generate())


@pytest.mark.parametrize("legacy", [False, True])
def test_personal_data_in_the_plaintext_never_shows_in_the_body_or_its_errors(
    legacy: bool,
) -> None:
    """A planted CPR number, e-mail and name appear neither in the sealed body nor in errors."""
    recipient = X25519PrivateKey.generate()
    sealed = _legacy(PLANTED, recipient) if legacy else seal(PLANTED, recipient.public_key())
    altered = sealed.replace(b'"ciphertext":"', b'"ciphertext":"AAAA', 1)
    messages = []
    for body, key in ((sealed, X25519PrivateKey.generate()), (altered, recipient)):
        with pytest.raises(SealError) as raised:
            open_sealed(body, key)
        messages.append(repr(raised.value) + repr(raised.value.__cause__))
    for value in PERSONAL:
        for encoded in (value.encode(), base64.b64encode(value.encode())):
            assert encoded not in sealed
        assert all(value not in message for message in messages)
    assert open_sealed(sealed, recipient) == PLANTED

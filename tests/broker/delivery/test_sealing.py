"""Sealed releases: only the recipient's key opens them, and any change is detected."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from broker.delivery._sealing import SealError, is_sealed, open_sealed, seal

PLAIN = b'{"release":{"release_id":"rel-1"},"salt":"00","receipt":"x"}'


def test_the_recipient_opens_what_was_sealed_to_it() -> None:
    """A sealed body opens to the exact plaintext with the recipient's key, and hides it."""
    key = X25519PrivateKey.generate()
    sealed = seal(PLAIN, key.public_key())
    assert is_sealed(sealed)
    assert not is_sealed(PLAIN)
    assert b"rel-1" not in sealed
    assert open_sealed(sealed, key) == PLAIN
    assert seal(PLAIN, key.public_key()) != sealed  # a fresh ephemeral key every time


def test_another_key_cannot_open_it() -> None:
    """A body sealed to one recipient does not open with another's key."""
    sealed = seal(PLAIN, X25519PrivateKey.generate().public_key())
    with pytest.raises(SealError, match="another key"):
        open_sealed(sealed, X25519PrivateKey.generate())


@given(st.data())
def test_any_change_to_the_sealed_body_is_detected(data: st.DataObject) -> None:
    """Changing one character of the ciphertext, nonce or ephemeral key fails to open."""
    key = X25519PrivateKey.generate()
    sealed = seal(PLAIN, key.public_key()).decode()
    field = data.draw(st.sampled_from(['"ciphertext":"', '"nonce":"', '"epk":"']))
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


@pytest.mark.parametrize("body", [b"{}", b"not json", b'{"alg":"X25519-HKDF-SHA256-A256GCM"}'])
def test_malformed_bodies_are_refused(body: bytes) -> None:
    """Something that is not a sealed release is refused with a clear error."""
    with pytest.raises(SealError, match="not a sealed release"):
        open_sealed(body, X25519PrivateKey.generate())

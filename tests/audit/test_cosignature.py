"""Witness cosignatures (C2SP cosignature/v1): the spec's message and layout; every tamper fails."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from audit._cosignature import (
    Cosigner,
    cosign,
    cosignature_time,
    cosigner_verifier_key,
    parse_cosigner_key,
    verify_cosignatures,
)
from audit._note import NoteError, Verifier, open_note, parse_verifier_key, sign_note, verifier_key

# The example checkpoint, time and signed message of C2SP tlog-cosignature.
SPEC_ORIGIN = "example.com/behind-the-sofa"
SPEC_BODY = f"{SPEC_ORIGIN}\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_TIME = 1679315147
SPEC_MESSAGE = (
    b"cosignature/v1\n"
    b"time 1679315147\n"
    b"example.com/behind-the-sofa\n"
    b"20852163\n"
    b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
# The spec's example cosignature line; its public key is not published.
SPEC_WITNESS = "witness.example.com/w1"
SPEC_BLOB = (
    "jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
    "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
WITNESS = "witness.example/w1"


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _blob(line: str) -> bytes:
    return base64.b64decode(line.rstrip("\n").split(" ")[2])


def _with_blob(note: str, name: str, blob: bytes) -> str:
    return f"{note}— {name} {base64.b64encode(blob).decode()}\n"


@pytest.fixture
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def witness_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def note(log_key: Ed25519PrivateKey) -> str:
    return sign_note(SPEC_BODY, SPEC_ORIGIN, log_key)


def test_line_layout_and_signed_message_follow_the_spec(witness_key: Ed25519PrivateKey) -> None:
    """The line is key id (type 0x04) || u64 big-endian time || Ed25519 over the spec's message."""
    line = cosign(SPEC_BODY, SPEC_WITNESS, witness_key, SPEC_TIME)
    assert line.startswith(f"— {SPEC_WITNESS} ")
    assert line.endswith("\n")
    assert line.count("\n") == 1
    blob = _blob(line)
    assert len(blob) == 4 + 8 + 64
    public = witness_key.public_key()
    expected_id = hashlib.sha256(SPEC_WITNESS.encode() + b"\n\x04" + _raw(public)).digest()[:4]
    assert blob[:4] == expected_id
    assert blob[4:12] == SPEC_TIME.to_bytes(8, "big")
    public.verify(blob[12:], SPEC_MESSAGE)  # raises InvalidSignature if the message differs


def test_spec_example_line_is_parsed_up_to_its_signature() -> None:
    """The spec's example line has the spec's time; with a key of its id it reaches the check."""
    blob = base64.b64decode(SPEC_BLOB)
    assert len(blob) == 76
    assert int.from_bytes(blob[4:12], "big") == SPEC_TIME
    impostor = Cosigner(SPEC_WITNESS, blob[:4], Ed25519PrivateKey.generate().public_key())
    note = _with_blob(f"{SPEC_BODY}\n", SPEC_WITNESS, blob)
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignatures(note, [impostor])


def test_cosignature_verifies_with_its_time(note: str, witness_key: Ed25519PrivateKey) -> None:
    """A cosigned note verifies and reports the cosigner's timestamp; the log line is skipped."""
    cosigned = note + cosign(note, WITNESS, witness_key, 1_700_000_000)
    cosigner = Cosigner.of(WITNESS, witness_key.public_key())
    assert verify_cosignatures(cosigned, [cosigner]) == {WITNESS: 1_700_000_000}


def test_a_kept_line_states_its_time(note: str, witness_key: Ed25519PrivateKey) -> None:
    """The timestamp is read back from a cosignature line; a log signature line is refused."""
    line = cosign(note, WITNESS, witness_key, 1_700_000_123)
    assert cosignature_time(line) == 1_700_000_123
    log_line = note.rstrip("\n").rsplit("\n", 1)[1]
    with pytest.raises(NoteError):
        cosignature_time(log_line)
    with pytest.raises(NoteError):
        cosignature_time("— name not-base64!")


def test_bare_body_and_signed_note_give_the_same_signature(
    note: str, witness_key: Ed25519PrivateKey
) -> None:
    """Existing signatures are not part of the cosigned message (Ed25519 is deterministic)."""
    assert cosign(note, WITNESS, witness_key, 5) == cosign(SPEC_BODY, WITNESS, witness_key, 5)


@pytest.mark.parametrize(
    "index", [5, 11, 12, 40, 75], ids=["time", "time-low", "sig", "mid", "end"]
)
def test_flipped_bit_fails(note: str, witness_key: Ed25519PrivateKey, index: int) -> None:
    """One flipped bit in the timestamp or signature is refused, not ignored."""
    blob = bytearray(_blob(cosign(note, WITNESS, witness_key, 1_700_000_000)))
    blob[index] ^= 1
    cosigner = Cosigner.of(WITNESS, witness_key.public_key())
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignatures(_with_blob(note, WITNESS, bytes(blob)), [cosigner])


def test_changed_text_fails(note: str, witness_key: Ed25519PrivateKey) -> None:
    """A cosignature does not carry over to a checkpoint with another size."""
    cosigned = note + cosign(note, WITNESS, witness_key, 1)
    forged = cosigned.replace("20852163", "20852164")
    with pytest.raises(NoteError, match="does not verify"):
        verify_cosignatures(forged, [Cosigner.of(WITNESS, witness_key.public_key())])


def test_cosignature_and_note_signature_never_pass_for_each_other(
    witness_key: Ed25519PrivateKey,
) -> None:
    """Same name and key: the ids differ, so each verifier ignores the other kind of line."""
    public = witness_key.public_key()
    assert Cosigner.of(WITNESS, public).key_id != Verifier.of(WITNESS, public).key_id
    only_cosigned = f"{SPEC_BODY}\n" + cosign(SPEC_BODY, WITNESS, witness_key, 1)
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(only_cosigned, [Verifier.of(WITNESS, public)])
    only_signed = sign_note(SPEC_BODY, WITNESS, witness_key)
    assert verify_cosignatures(only_signed, [Cosigner.of(WITNESS, public)]) == {}


def test_unknown_cosigners_are_ignored_and_several_verify(note: str) -> None:
    """Lines by untrusted witnesses are skipped; each trusted witness is reported."""
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    names = ["w1.example", "w2.example", "stranger.example"]
    cosigned = note + "".join(
        cosign(note, name, key, 100 + i)
        for i, (name, key) in enumerate(zip(names, keys, strict=True))
    )
    trusted = [
        Cosigner.of(name, key.public_key()) for name, key in zip(names[:2], keys[:2], strict=True)
    ]
    assert verify_cosignatures(cosigned, trusted) == {"w1.example": 100, "w2.example": 101}


def test_trusted_line_of_wrong_length_or_time_is_refused(
    note: str, witness_key: Ed25519PrivateKey
) -> None:
    """A line with a trusted name and id must be exactly id, u64 time (< 2^63) and signature."""
    cosigner = Cosigner.of(WITNESS, witness_key.public_key())
    blob = _blob(cosign(note, WITNESS, witness_key, 1))
    with pytest.raises(NoteError, match="wrong length"):
        verify_cosignatures(_with_blob(note, WITNESS, blob[:-1]), [cosigner])
    too_late = blob[:4] + (2**63).to_bytes(8, "big") + blob[12:]
    with pytest.raises(NoteError, match="2\\^63-1"):
        verify_cosignatures(_with_blob(note, WITNESS, too_late), [cosigner])


@pytest.mark.parametrize("timestamp", [-1, 2**63])
def test_cosign_refuses_timestamps_out_of_range(
    witness_key: Ed25519PrivateKey, timestamp: int
) -> None:
    """Timestamps are 0..2^63-1."""
    with pytest.raises(NoteError, match="timestamp"):
        cosign(SPEC_BODY, WITNESS, witness_key, timestamp)


def test_largest_timestamp_round_trips(note: str, witness_key: Ed25519PrivateKey) -> None:
    """2^63-1 is the last valid time."""
    cosigned = note + cosign(note, WITNESS, witness_key, 2**63 - 1)
    cosigner = Cosigner.of(WITNESS, witness_key.public_key())
    assert verify_cosignatures(cosigned, [cosigner]) == {WITNESS: 2**63 - 1}


@pytest.mark.parametrize(
    ("text", "rule"),
    [("not a checkpoint\n", "three lines"), (SPEC_BODY.rstrip("\n"), "newline")],
)
def test_cosign_refuses_what_is_not_a_checkpoint(
    witness_key: Ed25519PrivateKey, text: str, rule: str
) -> None:
    """Only checkpoint bodies are cosigned."""
    with pytest.raises(NoteError, match=rule):
        cosign(text, WITNESS, witness_key, 1)


def test_verifier_key_round_trip(witness_key: Ed25519PrivateKey) -> None:
    """The vkey is name+hexid+base64(0x04 || key) and parses back to the same cosigner."""
    public = witness_key.public_key()
    vkey = cosigner_verifier_key(WITNESS, public)
    name, hex_id, encoded = vkey.split("+", 2)
    assert name == WITNESS
    assert base64.b64decode(encoded) == b"\x04" + _raw(public)
    cosigner = parse_cosigner_key(vkey)
    assert hex_id == cosigner.key_id.hex()
    assert (cosigner.name, cosigner.key_id) == (WITNESS, Cosigner.of(WITNESS, public).key_id)
    assert _raw(cosigner.key) == _raw(public)


def test_verifier_key_types_do_not_mix(witness_key: Ed25519PrivateKey) -> None:
    """A cosigner vkey is no note vkey, and the other way round."""
    public = witness_key.public_key()
    with pytest.raises(NoteError, match="only Ed25519 verifier keys"):
        parse_verifier_key(cosigner_verifier_key(WITNESS, public))
    with pytest.raises(NoteError, match="type 0x04"):
        parse_cosigner_key(verifier_key(WITNESS, public))


def test_verifier_key_with_wrong_id_is_refused(witness_key: Ed25519PrivateKey) -> None:
    """The hex id must be the one the name and key imply."""
    name, hex_id, encoded = cosigner_verifier_key(WITNESS, witness_key.public_key()).split("+", 2)
    wrong = f"{int(hex_id, 16) ^ 1:08x}"
    with pytest.raises(NoteError, match="does not match"):
        parse_cosigner_key(f"{name}+{wrong}+{encoded}")

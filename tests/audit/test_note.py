"""Signed notes and checkpoints: byte-exact with the Go reference, and every tamper fails."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit._merkle import leaf_hash, tree_root
from audit._note import (
    Checkpoint,
    NoteError,
    Verifier,
    add_signature,
    format_checkpoint,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
    split_note,
    verifier_key,
)

# The example key and note of golang.org/x/mod/sumdb/note (public test data).
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT + "\n— PeterNeumann "
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def _go_key() -> Ed25519PrivateKey:
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 1
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


def test_matches_the_go_reference_byte_for_byte() -> None:
    """Key id, verifier key and signed note equal the reference implementation's."""
    key = _go_key()
    assert verifier_key("PeterNeumann", key.public_key()) == GO_VKEY
    assert sign_note(GO_TEXT, "PeterNeumann", key) == GO_NOTE
    assert open_note(GO_NOTE, [parse_verifier_key(GO_VKEY)]) == (GO_TEXT, ("PeterNeumann",))


def test_tampered_text_or_signature_fails() -> None:
    """A changed text or a changed signature byte is refused."""
    verifier = parse_verifier_key(GO_VKEY)
    with pytest.raises(NoteError, match="does not verify"):
        open_note(GO_NOTE.replace("answer", "ANSWER"), [verifier])
    line = GO_NOTE.split("\n\n")[1]
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[10] ^= 1
    forged = GO_TEXT + "\n— PeterNeumann " + base64.b64encode(bytes(blob)).decode() + "\n"
    with pytest.raises(NoteError, match="does not verify"):
        open_note(forged, [verifier])


def test_foreign_key_is_not_trusted() -> None:
    """A note signed only by a key the verifier does not trust does not open."""
    foreign = sign_note(GO_TEXT, "PeterNeumann", Ed25519PrivateKey.generate())
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(foreign, [parse_verifier_key(GO_VKEY)])


def test_cosignature_added_and_both_verify() -> None:
    """A witness adds its signature line; both trusted keys verify the same text."""
    witness = Ed25519PrivateKey.generate()
    cosigned = add_signature(GO_NOTE, "witness.example", witness)
    verifiers = [parse_verifier_key(GO_VKEY), Verifier.of("witness.example", witness.public_key())]
    assert open_note(cosigned, verifiers) == (GO_TEXT, ("PeterNeumann", "witness.example"))


@pytest.mark.parametrize(
    ("vkey", "rule"),
    [
        (
            "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
            "the key id does not match",
        ),
        ("PeterNeumann+c74f20a3", "name\\+hexid\\+base64key"),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "only Ed25519"),
    ],
)
def test_bad_verifier_keys(vkey: str, rule: str) -> None:
    """Mangled verifier keys are refused with the rule."""
    with pytest.raises(NoteError, match=rule):
        parse_verifier_key(vkey)


def test_checkpoint_round_trip() -> None:
    """A checkpoint body is origin, size and base64 root; signed, it opens to the same values."""
    root = tree_root([leaf_hash(b"a"), leaf_hash(b"b")])
    checkpoint = Checkpoint("bo-vest.example/disclosure-log", 2, root)
    body = format_checkpoint(checkpoint)
    assert body == f"bo-vest.example/disclosure-log\n2\n{base64.b64encode(root).decode()}\n"
    key = Ed25519PrivateKey.generate()
    note = sign_note(body, "bo-vest.example/disclosure-log", key)
    text, _ = open_note(note, [Verifier.of("bo-vest.example/disclosure-log", key.public_key())])
    assert parse_checkpoint(text) == checkpoint


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ("origin\n2\n", "three lines"),
        ("origin\n02\nAAAA\n", "leading zeros"),
        ("origin\n2\nnot base64!\n", "not base64"),
        ("origin\n2\nAAAA\n", "not a SHA-256 hash"),
    ],
)
def test_bad_checkpoints(body: str, rule: str) -> None:
    """Malformed checkpoint bodies are refused with the rule."""
    with pytest.raises(NoteError, match=rule):
        parse_checkpoint(body)


# The example note of C2SP signed-note: its text holds blank lines, so the
# signatures start after the LAST blank line of the note.
SPEC_TEXT = (
    "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
)
SPEC_NOTE = (
    SPEC_TEXT + "\n— quasimodo.example/salvatore "
    "NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
)


def test_the_text_ends_at_the_last_blank_line() -> None:
    """The spec's example splits into its whole poem and one signature line."""
    text, lines = split_note(SPEC_NOTE)
    assert text == SPEC_TEXT
    assert [(name, len(raw)) for name, raw in lines] == [("quasimodo.example/salvatore", 68)]
    # Its key is not published: with no trusted key the note is well-formed but unverified.
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(SPEC_NOTE, [parse_verifier_key(GO_VKEY)])


def test_a_text_with_blank_lines_signs_opens_and_cosigns() -> None:
    """A signed text with blank lines opens to the same text; a second signature keeps it."""
    key = _go_key()
    note = sign_note(SPEC_TEXT, "PeterNeumann", key)
    assert open_note(note, [parse_verifier_key(GO_VKEY)]) == (SPEC_TEXT, ("PeterNeumann",))
    witness = Ed25519PrivateKey.generate()
    cosigned = add_signature(note, "witness.example", witness)
    verifiers = [parse_verifier_key(GO_VKEY), Verifier.of("witness.example", witness.public_key())]
    assert open_note(cosigned, verifiers) == (SPEC_TEXT, ("PeterNeumann", "witness.example"))


_PETER_SIG = GO_NOTE.rpartition("\n\n")[2]


@pytest.mark.parametrize(
    ("message", "rule"),
    [
        # golang.org/x/mod/sumdb/note TestOpen: the invalid encoded messages.
        (GO_TEXT, "text, a blank line and signature lines"),
        (GO_TEXT + "\n", "text, a blank line and signature lines"),
        (GO_TEXT + "\n" + _PETER_SIG[:-1], "text, a blank line and signature lines"),
        ("\x01" + GO_TEXT + "\n" + _PETER_SIG, "control character"),
        (b"\xff" + (GO_TEXT + "\n" + _PETER_SIG).encode(), "not valid UTF-8"),
        (
            GO_TEXT + "\n" + _PETER_SIG.replace("PeterNeumann", "Bad Name")[:-1],
            "text, a blank line and signature lines",
        ),
        (GO_TEXT + "\n" + _PETER_SIG + "Unexpected line.\n", "signature line"),
        (GO_TEXT + "\n" + _PETER_SIG * 101, "at most 100 signatures"),
        # Control characters anywhere, and a str that is not UTF-8 (a lone surrogate).
        (GO_TEXT.replace(" ", "\t", 1) + "\n" + _PETER_SIG, "control character"),
        (GO_TEXT.replace("\n", "\r\n", 1) + "\n" + _PETER_SIG, "control character"),
        (GO_TEXT + "\n" + _PETER_SIG.replace(" ", "\x00", 1), "control character"),
        ("\udcff" + GO_TEXT + "\n" + _PETER_SIG, "not valid UTF-8"),
    ],
)
def test_malformed_notes_are_refused(message: str | bytes, rule: str) -> None:
    """Each malformed message of the Go reference's tests, and control characters, is refused."""
    with pytest.raises(NoteError, match=rule):
        open_note(message, [parse_verifier_key(GO_VKEY)])


def test_the_go_note_opens_from_bytes() -> None:
    """A note read as bytes opens like its text."""
    verifier = parse_verifier_key(GO_VKEY)
    assert open_note(GO_NOTE.encode(), [verifier]) == (GO_TEXT, ("PeterNeumann",))


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("no final newline", "end in a newline"),
        ("a bell \x07\n", "control character"),
        ("a carriage return\r\n", "control character"),
        ("\ud800 a lone surrogate\n", "not valid UTF-8"),
    ],
)
def test_sign_refuses_text_that_is_no_note(text: str, rule: str) -> None:
    """Signing refuses a text without final newline, with control characters or not UTF-8."""
    with pytest.raises(NoteError, match=rule):
        sign_note(text, "PeterNeumann", _go_key())


def test_a_checkpoint_has_no_empty_line() -> None:
    """A checkpoint body's lines, extension lines included, are non-empty."""
    root = base64.b64encode(bytes(32)).decode()
    assert parse_checkpoint(f"origin\n2\n{root}\next\n").size == 2
    for body in (f"origin\n2\n{root}\n\next\n", f"origin\n2\n{root}\n\n", f"origin\n2\n{root}"):
        with pytest.raises(NoteError):
            parse_checkpoint(body)

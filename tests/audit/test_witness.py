"""The witness (C2SP tlog-witness add-checkpoint) over real HTTP on 127.0.0.1, and its client."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit._cosignature import parse_cosigner_key, verify_cosignatures
from audit._merkle import consistency_proof, leaf_hash, tree_root
from audit._note import (
    Checkpoint,
    Verifier,
    add_signature,
    format_checkpoint,
    open_note,
    parse_checkpoint,
    sign_note,
)
from audit._witness import Witness, make_server
from audit._witness_client import WitnessError, WitnessReply, submit_checkpoint

ORIGIN = "bo-vest.example/disclosure-log"
NAME = "witness.example/w1"
NOW = 1_700_000_000
LEAVES = [leaf_hash(f"entry {i}".encode()) for i in range(16)]


def _checkpoint(size: int, leaves: list[bytes] = LEAVES, origin: str = ORIGIN) -> Checkpoint:
    return Checkpoint(origin, size, tree_root(leaves[:size]))


def _note(key: Ed25519PrivateKey, checkpoint: Checkpoint, name: str | None = None) -> str:
    return sign_note(format_checkpoint(checkpoint), name or checkpoint.origin, key)


def _proof(old: int, new: int, leaves: list[bytes] = LEAVES) -> list[bytes]:
    return consistency_proof(leaves[:new], old)


@contextlib.contextmanager
def _serving(witness: Witness) -> Iterator[str]:
    server = make_server(witness, "127.0.0.1", 0)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def log_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "witness"


@pytest.fixture
def witness(store: Path, log_key: Ed25519PrivateKey) -> Witness:
    return Witness(store, NAME, [log_key.public_key()], clock=lambda: NOW)


@pytest.fixture
def url(witness: Witness) -> Iterator[str]:
    with _serving(witness) as address:
        yield address


@pytest.fixture
def at_four(url: str, log_key: Ed25519PrivateKey) -> str:
    """The witness has cosigned the checkpoint of size 4."""
    assert submit_checkpoint(url, 0, [], _note(log_key, _checkpoint(4))).ok
    return url


def _cosigned(reply: WitnessReply, note: str, witness: Witness) -> dict[str, int]:
    assert reply.status == 200, reply
    return verify_cosignatures(note + "".join(reply.cosignatures), [witness.cosigner])


def test_cosigns_first_checkpoint_then_a_consistent_extension(
    url: str, witness: Witness, log_key: Ed25519PrivateKey
) -> None:
    """Size 0 -> 4 needs no proof; 4 -> 11 needs a consistency proof; both are cosigned."""
    first = _note(log_key, _checkpoint(4))
    reply = submit_checkpoint(url, 0, [], first)
    assert len(reply.cosignatures) == 1
    assert _cosigned(reply, first, witness) == {NAME: NOW}
    second = _note(log_key, _checkpoint(11))
    assert _cosigned(submit_checkpoint(url, 4, _proof(4, 11), second), second, witness) == {
        NAME: NOW
    }
    assert witness.latest(ORIGIN) == _checkpoint(11)


def test_published_verifier_key_checks_the_cosignatures(
    at_four: str, witness: Witness, log_key: Ed25519PrivateKey
) -> None:
    """A user who knows only the witness's vkey string can verify what it returns."""
    note = _note(log_key, _checkpoint(6))
    reply = submit_checkpoint(at_four, 4, _proof(4, 6), note)
    cosigned = note + "".join(reply.cosignatures)
    assert verify_cosignatures(cosigned, [parse_cosigner_key(witness.verifier_key)]) == {NAME: NOW}


def test_resubmitting_the_same_checkpoint_is_cosigned_again(
    at_four: str, log_key: Ed25519PrivateKey
) -> None:
    """Old size equal to the checkpoint size, same root: an empty proof suffices."""
    assert submit_checkpoint(at_four, 4, [], _note(log_key, _checkpoint(4))).ok


def test_wrong_old_size_gets_409_with_the_known_size(
    at_four: str, log_key: Ed25519PrivateKey
) -> None:
    """Old sizes other than the latest cosigned one are answered with that size."""
    note = _note(log_key, _checkpoint(11))
    assert submit_checkpoint(at_four, 0, [], note) == WitnessReply(409, known_size=4)
    assert submit_checkpoint(at_four, 3, _proof(3, 11), note) == WitnessReply(409, known_size=4)


def test_first_submission_must_start_from_zero(url: str, log_key: Ed25519PrivateKey) -> None:
    """A witness that has seen nothing knows size 0."""
    reply = submit_checkpoint(url, 2, _proof(2, 4), _note(log_key, _checkpoint(4)))
    assert reply == WitnessReply(409, known_size=0)


def test_bad_consistency_proof_gets_422(
    at_four: str, witness: Witness, log_key: Ed25519PrivateKey
) -> None:
    """A tampered proof, or a proof from a forked tree, is refused and nothing changes."""
    proof = _proof(4, 11)
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    assert submit_checkpoint(at_four, 4, proof, _note(log_key, _checkpoint(11))).status == 422
    forked = [*LEAVES[:2], leaf_hash(b"rewritten"), *LEAVES[3:]]
    reply = submit_checkpoint(
        at_four, 4, _proof(4, 11, forked), _note(log_key, _checkpoint(11, forked))
    )
    assert reply.status == 422
    assert reply.reason == "the consistency proof does not verify"
    assert witness.latest(ORIGIN) == _checkpoint(4)


def test_same_size_with_another_root_gets_422(
    at_four: str, witness: Witness, log_key: Ed25519PrivateKey
) -> None:
    """The spec answers a different root at the recorded size with 422, and nothing changes."""
    forked = [leaf_hash(b"other"), *LEAVES[1:]]
    reply = submit_checkpoint(at_four, 4, [], _note(log_key, _checkpoint(4, forked)))
    assert reply.status == 422
    assert reply.known_size is None
    assert "root hash differs" in reply.reason
    assert witness.latest(ORIGIN) == _checkpoint(4)


def test_size_zero_needs_the_empty_root(
    url: str, witness: Witness, log_key: Ed25519PrivateKey
) -> None:
    """Size 0 with a root other than the empty tree's is 422; the empty tree is cosigned."""
    wrong = Checkpoint(ORIGIN, 0, LEAVES[0])
    reply = submit_checkpoint(url, 0, [], _note(log_key, wrong))
    assert (reply.status, reply.reason) == (
        422,
        "a checkpoint of size 0 must have the empty tree's root hash",
    )
    assert witness.latest(ORIGIN) is None
    assert submit_checkpoint(url, 0, [], _note(log_key, _checkpoint(0))).ok


def test_a_proof_from_size_zero_gets_422(
    url: str, witness: Witness, log_key: Ed25519PrivateKey
) -> None:
    """From old size 0 the proof must be empty: a non-empty one is 422, nothing is cosigned."""
    reply = submit_checkpoint(url, 0, [bytes(32)], _note(log_key, _checkpoint(4)))
    assert (reply.status, reply.reason) == (422, "the consistency proof from size 0 must be empty")
    assert witness.latest(ORIGIN) is None


def test_checkpoint_going_backwards_is_refused(
    at_four: str, witness: Witness, log_key: Ed25519PrivateKey
) -> None:
    """A smaller checkpoint is 400 (old > size) or 409 (old not the known size)."""
    assert submit_checkpoint(at_four, 4, [], _note(log_key, _checkpoint(3))).status == 400
    assert submit_checkpoint(at_four, 3, [], _note(log_key, _checkpoint(3))).known_size == 4
    assert witness.latest(ORIGIN) == _checkpoint(4)


def test_foreign_key_or_foreign_name_gets_403(url: str, log_key: Ed25519PrivateKey) -> None:
    """Only a trusted log key signing under the origin counts."""
    foreign = Ed25519PrivateKey.generate()
    assert submit_checkpoint(url, 0, [], _note(foreign, _checkpoint(4))).status == 403
    misnamed = _note(log_key, _checkpoint(4), name="someone.else/log")
    assert submit_checkpoint(url, 0, [], misnamed).status == 403


def test_any_of_several_log_keys_is_enough(store: Path) -> None:
    """Key rotation: a checkpoint signed by the second trusted key is cosigned."""
    old, new = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    witness = Witness(store, NAME, [old.public_key(), new.public_key()])
    with _serving(witness) as url:
        assert submit_checkpoint(url, 0, [], _note(new, _checkpoint(4))).ok


def test_unknown_origin_gets_404_when_origins_are_configured(
    store: Path, log_key: Ed25519PrivateKey
) -> None:
    """With an origin list, another origin is 404 even when signed by a trusted key."""
    witness = Witness(store, NAME, [log_key.public_key()], origins={ORIGIN})
    other = _note(log_key, _checkpoint(4, origin="other.example/log"))
    with _serving(witness) as url:
        assert submit_checkpoint(url, 0, [], other).status == 404
        assert submit_checkpoint(url, 0, [], _note(log_key, _checkpoint(4))).ok


def test_without_origins_the_first_cosigned_origin_is_the_only_one_known(
    store: Path, log_key: Ed25519PrivateKey
) -> None:
    """Unconfigured, it knows the first origin it cosigns; others are 404, after a restart too."""
    other = "other.example/log"
    with _serving(Witness(store, NAME, [log_key.public_key()])) as url:
        assert submit_checkpoint(url, 0, [], _note(log_key, _checkpoint(4))).ok
        for key in (log_key, Ed25519PrivateKey.generate()):
            reply = submit_checkpoint(url, 0, [], _note(key, _checkpoint(4, origin=other)))
            assert (reply.status, reply.reason) == (404, "unknown origin")
    with _serving(Witness(store, NAME, [log_key.public_key()])) as url:
        other_note = _note(log_key, _checkpoint(4, origin=other))
        assert submit_checkpoint(url, 0, [], other_note).status == 404
        assert submit_checkpoint(url, 4, _proof(4, 6), _note(log_key, _checkpoint(6))).ok


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - a test URL
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return int(error.code), error.read().decode()


def test_monitors_get_the_latest_cosigned_checkpoint(
    url: str, witness: Witness, log_key: Ed25519PrivateKey
) -> None:
    """GET /<sha256(origin)>/checkpoint serves the log's verified signature and the cosignature."""
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    assert _get(f"{url}/{origin_hash}/checkpoint")[0] == 404  # nothing cosigned yet
    stranger = Ed25519PrivateKey.generate()
    note = add_signature(_note(log_key, _checkpoint(4)), "stranger.example", stranger)
    assert submit_checkpoint(url, 0, [], note).ok
    status, served = _get(f"{url}/{origin_hash}/checkpoint")
    assert status == 200
    text, names = open_note(served, [Verifier.of(ORIGIN, log_key.public_key())])
    assert (parse_checkpoint(text), names) == (_checkpoint(4), (ORIGIN,))
    assert verify_cosignatures(served, [witness.cosigner]) == {NAME: NOW}
    assert "stranger.example" not in served  # only signatures the witness verified
    other = hashlib.sha256(b"other.example/log").hexdigest()
    assert _get(f"{url}/{other}/checkpoint")[0] == 404
    assert _get(f"{url}/{origin_hash.upper()}/checkpoint")[0] == 404


def test_oversize_body_gets_413(url: str, log_key: Ed25519PrivateKey) -> None:
    """Bodies over 64 KiB are not read."""
    body = format_checkpoint(_checkpoint(4)) + "x" * (64 * 1024) + "\n"
    reply = submit_checkpoint(url, 0, [], sign_note(body, ORIGIN, log_key))
    assert reply.status == 413


@pytest.mark.parametrize(
    ("old", "proof", "note"),
    [
        (0, [], "not a note\n"),
        (5, [], None),  # old size above the checkpoint size
    ],
    ids=["not-a-note", "old-above-size"],
)
def test_malformed_requests_get_400(
    url: str, log_key: Ed25519PrivateKey, old: int, proof: list[bytes], note: str | None
) -> None:
    """Requests the protocol does not allow are 400."""
    reply = submit_checkpoint(url, old, proof, note or _note(log_key, _checkpoint(4)))
    assert reply.status == 400


@pytest.mark.parametrize(
    "head",
    [b"old 01\n", b"new 0\n", b"old 4\nnot base64!\n", b"old 4\nAAAA\n", b"old 4\n" * 64],
    ids=["leading-zero", "no-old", "proof-not-base64", "proof-not-a-hash", "64-proof-lines"],
)
def test_malformed_bodies_get_400(
    witness: Witness, log_key: Ed25519PrivateKey, head: bytes
) -> None:
    """Malformed old lines and proof lines are 400, and the reason does not echo the body."""
    body = head + b"\n" + _note(log_key, _checkpoint(4)).encode()
    status, content_type, reply = witness.add_checkpoint(body)
    assert (status, content_type) == (400, "text/plain; charset=utf-8")
    assert head.strip() not in reply


def test_non_utf8_and_exotic_digits_get_400(witness: Witness, log_key: Ed25519PrivateKey) -> None:
    """Bytes that are not UTF-8, and a size line of non-ASCII digits, are 400, not 500."""
    assert witness.add_checkpoint(b"old 0\n\n\xff\xfe")[0] == 400
    body = f"{ORIGIN}\n\u00b2\n{format_checkpoint(_checkpoint(4)).split(chr(10))[2]}\n"
    assert (
        witness.add_checkpoint(b"old 0\n\n" + sign_note(body, ORIGIN, log_key).encode())[0] == 400
    )


def test_state_survives_a_restart(store: Path, log_key: Ed25519PrivateKey) -> None:
    """A new witness on the same store keeps its key and its latest size."""
    first = Witness(store, NAME, [log_key.public_key()])
    with _serving(first) as url:
        assert submit_checkpoint(url, 0, [], _note(log_key, _checkpoint(4))).ok
    second = Witness(store, NAME, [log_key.public_key()], clock=lambda: NOW)
    assert second.latest(ORIGIN) == _checkpoint(4)
    assert second.cosigner == first.cosigner
    with _serving(second) as url:
        note = _note(log_key, _checkpoint(5))
        assert submit_checkpoint(url, 0, [], note) == WitnessReply(409, known_size=4)
        assert _cosigned(submit_checkpoint(url, 4, _proof(4, 5), note), note, second) == {NAME: NOW}


def test_key_file_is_private(store: Path, log_key: Ed25519PrivateKey) -> None:
    """The key is created with mode 0600, and a key readable by others is refused."""
    Witness(store, NAME, [log_key.public_key()])
    key_file = store / "witness-key.pem"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    key_file.chmod(0o644)
    with pytest.raises(WitnessError, match="owner only"):
        Witness(store, NAME, [log_key.public_key()])


def test_concurrent_submissions_never_roll_back(
    at_four: str, witness: Witness, log_key: Ed25519PrivateKey
) -> None:
    """Many requests from size 4 at once: one is cosigned, the rest learn its size."""
    replies: dict[int, WitnessReply] = {}

    def submit(size: int) -> None:
        replies[size] = submit_checkpoint(
            at_four, 4, _proof(4, size), _note(log_key, _checkpoint(size))
        )

    threads = [threading.Thread(target=submit, args=(size,)) for size in range(5, 16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [size for size, reply in replies.items() if reply.ok]
    assert len(winners) == 1
    assert all(
        reply == WitnessReply(409, known_size=winners[0])
        for size, reply in replies.items()
        if size != winners[0]
    )
    assert witness.latest(ORIGIN) == _checkpoint(winners[0])


def test_other_paths_get_404(url: str, log_key: Ed25519PrivateKey) -> None:
    """Only /add-checkpoint is served."""
    reply = submit_checkpoint(url + "/elsewhere", 0, [], _note(log_key, _checkpoint(4)))
    assert reply.status == 404


def test_unreachable_witness_raises(log_key: Ed25519PrivateKey) -> None:
    """A closed port is a WitnessError, not an answer."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(WitnessError, match="cannot reach the witness"):
        submit_checkpoint(f"http://127.0.0.1:{port}", 0, [], _note(log_key, _checkpoint(4)))


def test_client_refuses_other_schemes() -> None:
    """Only http and https URLs are opened."""
    with pytest.raises(WitnessError, match="http"):
        submit_checkpoint("file:///etc/passwd", 0, [], "x\n")


PERSONAL = ("3201901234", "jens.hansen@example.dk", "Jens Hansen")


def test_no_planted_personal_data_comes_back(
    url: str, witness: Witness, log_key: Ed25519PrivateKey, caplog: pytest.LogCaptureFixture
) -> None:
    """Personal data planted in requests is never in an answer, the monitors' GET, or the log."""
    caplog.set_level(logging.DEBUG)
    cpr, email, name = PERSONAL
    planted = add_signature(_note(log_key, _checkpoint(4)), email, Ed25519PrivateKey.generate())
    answers = [
        witness.add_checkpoint(f"old {cpr}\n\n{planted}".encode())[2],
        witness.add_checkpoint(f"old 0\n{name}\n\n{planted}".encode())[2],
        witness.add_checkpoint(b"old 0\n\n" + planted.replace(ORIGIN, cpr).encode())[2],
        witness.add_checkpoint(f"old 0\n\n{planted}".encode())[2],  # cosigned
    ]
    origin_hash = hashlib.sha256(ORIGIN.encode()).hexdigest()
    served = _get(f"{url}/{origin_hash}/checkpoint")[1]
    for value in PERSONAL:
        assert not any(value.encode() in answer for answer in answers)
        assert value not in served
        assert value not in caplog.text

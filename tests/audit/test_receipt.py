"""Receipts (C2SP tlog-proof) from a real log: every entry verifies, every alteration fails.

The log is built on SQLite and PostgreSQL. Tests that commit use the ``database``
fixture; the must-fail matrix appends inside the rolled-back ``session`` instead,
so its many cases share one migrated database per backend.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from databases import Database
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from audit import (
    Checkpoint,
    Cosigner,
    Draft,
    ReceiptError,
    Signer,
    Verifier,
    add_cosignature,
    append,
    cosign,
    cosigner_verifier_key,
    format_checkpoint,
    inclusion_proof,
    latest_checkpoint,
    leaf_hash,
    make_receipt,
    parse_cosigner_key,
    read_head,
    sign_note,
    tree_root,
    verify_receipt,
)
from audit._storage import log_checkpoints, log_entries

HEADER = "c2sp.org/tlog-proof@v1"  # the spec's first line, written out
ORIGIN = "test.example/disclosure-log"
OTHER_ORIGIN = "other.example/disclosure-log"
WITNESS = "witness.example/w1"
BATCHES = (1, 4, 2, 1, 5)  # 13 entries in five appends of uneven size
SIZES = (1, 5, 7, 8, 13)  # the checkpoint each append wrote
SIZE = 13
INDEX_LINE = 2
SEQ = 5  # the entry whose receipt the must-fail cases alter
OLDER = 8
TIMESTAMP = 1_790_000_000


@dataclass(frozen=True, slots=True)
class Log:
    """A filled log as the tests see it: its key, entries and signed checkpoint notes."""

    key: Ed25519PrivateKey
    entries: list[bytes]
    notes: dict[int, str]


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def draft(n: int) -> Draft:
    return Draft({"time": f"2026-11-{n + 1:02d}T08:00:00Z", "event": "release", "actor": f"a{n}"})


def fill(connection: Connection, key: Ed25519PrivateKey) -> Log:
    """Append ``BATCHES`` through ``connection``, one signed checkpoint per batch."""
    signer = Signer(ORIGIN, (key,))
    n = 0
    for batch in BATCHES:
        append(connection, [draft(n + i) for i in range(batch)], signer)
        n += batch
    entries = connection.scalars(select(log_entries.c.entry).order_by(log_entries.c.seq))
    notes = connection.execute(select(log_checkpoints.c.size, log_checkpoints.c.note))
    return Log(key, [bytes(e) for e in entries], {int(s): str(text) for s, text in notes})


def trusted(key: Ed25519PrivateKey, origin: str = ORIGIN) -> list[Verifier]:
    return [Verifier.of(origin, key.public_key())]


def parts(receipt: str) -> tuple[list[str], str]:
    head, _, note = receipt.partition("\n\n")
    return head.split("\n"), note


def joined(lines: list[str], note: str) -> str:
    return "\n".join(lines) + "\n\n" + note


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def flip(data: bytes, bit: int) -> bytes:
    return bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(data))


def test_every_entry_verifies_against_the_newest_checkpoint(
    database: Database, key: Ed25519PrivateKey
) -> None:
    """Each of 13 entries, appended in uneven batches, has a receipt under the head's checkpoint."""
    with database.engine.begin() as connection:
        log = fill(connection, key)
    with database.engine.connect() as connection:
        size, root = read_head(connection)
        receipts = [make_receipt(connection, seq) for seq in range(SIZE)]
    assert size == SIZE
    for seq, receipt in enumerate(receipts):
        verified = verify_receipt(receipt, ORIGIN, trusted(key))
        assert (verified.index, verified.entry) == (seq, log.entries[seq])
        assert verified.checkpoint == Checkpoint(ORIGIN, SIZE, root)
        assert verified.note == log.notes[SIZE]
        assert verified.cosigned_by == ()


def test_every_entry_verifies_against_each_older_checkpoint(
    database: Database, key: Ed25519PrivateKey
) -> None:
    """A receipt under any earlier checkpoint that covers the entry verifies, with that root."""
    with database.engine.begin() as connection:
        log = fill(connection, key)
    assert sorted(log.notes) == list(SIZES)
    leaves = [leaf_hash(entry) for entry in log.entries]
    with database.engine.connect() as connection:
        for size in SIZES:
            for seq in range(size):
                receipt = make_receipt(connection, seq, size)
                verified = verify_receipt(receipt, ORIGIN, trusted(key))
                assert (verified.index, verified.entry) == (seq, log.entries[seq])
                assert verified.checkpoint == Checkpoint(ORIGIN, size, tree_root(leaves[:size]))


def test_receipt_layout_follows_the_tlog_proof_spec(
    database: Database, key: Ed25519PrivateKey
) -> None:
    """Header, extra, index, one base64 hash per line (the RFC 6962 path), blank line, note."""
    with database.engine.begin() as connection:
        log = fill(connection, key)
    with database.engine.connect() as connection:
        receipt = make_receipt(connection, SEQ, OLDER)
        newest = latest_checkpoint(connection)
    lines, note = parts(receipt)
    assert lines[0] == HEADER
    assert lines[1] == "extra " + b64(log.entries[SEQ])
    assert lines[2] == f"index {SEQ}"
    leaves = [leaf_hash(entry) for entry in log.entries[:OLDER]]
    assert lines[3:] == [b64(node) for node in inclusion_proof(leaves, SEQ)]
    assert len(lines) == 3 + 3  # leaf 5 of 8: its sibling, then subtrees of 2 and 4 leaves
    assert all(len(line) == 44 for line in lines[3:])
    assert receipt == joined(lines, note)
    assert note == log.notes[OLDER]
    assert note.startswith(format_checkpoint(Checkpoint(ORIGIN, OLDER, tree_root(leaves))) + "\n")
    assert newest is not None
    assert newest[1] == log.notes[SIZE] != note


@pytest.mark.parametrize(
    ("seq", "size"),
    [
        (SIZE, None),  # the next, unwritten entry
        (100, None),
        (-1, None),
        (OLDER, OLDER),  # in the log, but not under that checkpoint
        (SIZE - 1, OLDER),
        (0, 6),  # no checkpoint was signed at size 6
        (0, SIZE + 1),
        (0, 0),  # the empty tree has no checkpoint; 0 is not "the newest"
    ],
)
def test_no_receipt_for_an_entry_no_checkpoint_covers(
    session: Session, key: Ed25519PrivateKey, seq: int, size: int | None
) -> None:
    """An entry beyond the log, or beyond the requested checkpoint, has no receipt."""
    connection = session.connection()
    fill(connection, key)
    with pytest.raises(ReceiptError, match="no checkpoint covers entry"):
        make_receipt(connection, seq, size)


@dataclass(frozen=True, slots=True)
class Cosigned:
    """A log whose newest checkpoint a witness cosigned, and receipts under it and an older one."""

    log: Log
    witness: Ed25519PrivateKey
    line: str
    receipt: str
    older: str


@pytest.fixture
def cosigned(session: Session, key: Ed25519PrivateKey) -> Cosigned:
    connection = session.connection()
    log = fill(connection, key)
    witness = Ed25519PrivateKey.generate()
    line = cosign(log.notes[SIZE], WITNESS, witness, TIMESTAMP)
    add_cosignature(connection, SIZE, WITNESS, line)
    return Cosigned(
        log, witness, line, make_receipt(connection, SEQ), make_receipt(connection, SEQ, OLDER)
    )


def test_a_cosigned_receipt_meets_a_one_witness_policy(cosigned: Cosigned) -> None:
    """The stored cosignature travels in the receipt and satisfies min_cosignatures=1."""
    assert cosigned.receipt.endswith(cosigned.log.notes[SIZE] + cosigned.line)
    witness = parse_cosigner_key(cosigner_verifier_key(WITNESS, cosigned.witness.public_key()))
    verified = verify_receipt(
        cosigned.receipt, ORIGIN, trusted(cosigned.log.key), [witness], min_cosignatures=1
    )
    assert verified.cosigned_by == (WITNESS,)
    assert verified.note.endswith(cosigned.line)


def _witness(cosigned: Cosigned) -> list[Cosigner]:
    return [Cosigner.of(WITNESS, cosigned.witness.public_key())]


POLICY_FAILURES: dict[str, tuple[Callable[[Cosigned], list[Cosigner]], int, bool]] = {
    "two-required": (_witness, 2, False),
    "no-witness-trusted": (lambda _c: [], 1, False),
    "same-name-other-key": (
        lambda _c: [Cosigner.of(WITNESS, Ed25519PrivateKey.generate().public_key())],
        1,
        False,
    ),
    "same-key-other-name": (
        lambda c: [Cosigner.of("witness.example/w2", c.witness.public_key())],
        1,
        False,
    ),
    "older-checkpoint-not-cosigned": (_witness, 1, True),
}


@pytest.mark.parametrize("case", sorted(POLICY_FAILURES))
def test_too_few_trusted_cosignatures_fail(cosigned: Cosigned, case: str) -> None:
    """Fewer trusted cosignatures than required fails, whatever else the note carries."""
    cosigners, required, older = POLICY_FAILURES[case]
    receipt = cosigned.older if older else cosigned.receipt
    keys = trusted(cosigned.log.key)
    verify_receipt(receipt, ORIGIN, keys)  # without a witness policy it verifies
    with pytest.raises(ReceiptError, match=rf"trusted cosignatures, at least {required} required"):
        verify_receipt(receipt, ORIGIN, keys, cosigners(cosigned), required)


def test_a_forged_cosignature_by_a_trusted_witness_fails(cosigned: Cosigned) -> None:
    """A cosignature line with the trusted name and key id but a bad signature is refused."""
    name_and_blob = cosigned.line.rstrip("\n").rsplit(" ", 1)
    blob = base64.b64decode(name_and_blob[1])
    forged = f"{name_and_blob[0]} {b64(flip(blob, len(blob) * 8 - 1))}\n"
    receipt = cosigned.receipt.replace(cosigned.line, forged)
    assert receipt != cosigned.receipt
    with pytest.raises(ReceiptError, match="does not verify"):
        verify_receipt(receipt, ORIGIN, trusted(cosigned.log.key), _witness(cosigned), 1)


def _line(index: int, value: str) -> Callable[[list[str], str, Log], tuple[list[str], str]]:
    """Replace line ``index`` of the receipt's head."""
    return lambda lines, note, _log: ([*lines[:index], value, *lines[index + 1 :]], note)


def _lines(
    change: Callable[[list[str]], list[str]],
) -> Callable[[list[str], str, Log], tuple[list[str], str]]:
    return lambda lines, note, _log: (change(lines), note)


def _note(
    change: Callable[[str, Log], str],
) -> Callable[[list[str], str, Log], tuple[list[str], str]]:
    return lambda lines, note, log: (lines, change(note, log))


def _resigned(note: str, log: Log) -> str:
    del log
    return sign_note(note.partition("\n\n")[0] + "\n", ORIGIN, Ed25519PrivateKey.generate())


def _other_origin(note: str, log: Log) -> str:
    body = note.partition("\n\n")[0].replace(ORIGIN, OTHER_ORIGIN) + "\n"
    return sign_note(body, ORIGIN, log.key)  # the real key, but a body naming another log


def _altered_root(note: str, log: Log) -> str:
    old_root = log.notes[OLDER].split("\n")[2]
    return note.replace(note.split("\n")[2], old_root)


def _altered_signature(note: str, log: Log) -> str:
    del log
    body, _, signature = note.partition("\n\n")
    dash_name, blob = signature.rstrip("\n").rsplit(" ", 1)
    raw = base64.b64decode(blob)
    return f"{body}\n\n{dash_name} {b64(flip(raw, len(raw) * 8 - 1))}\n"


def _entry(
    seq: int, change: Callable[[bytes], bytes] = lambda entry: entry
) -> Callable[[list[str], str, Log], tuple[list[str], str]]:
    def edit(lines: list[str], note: str, log: Log) -> tuple[list[str], str]:
        return [lines[0], "extra " + b64(change(log.entries[seq])), *lines[2:]], note

    return edit


HASH = b64(bytes(32))
NOT_PROVEN = "the entry is not proven in the log"
MUST_FAIL: dict[str, tuple[Callable[[list[str], str, Log], tuple[list[str], str]], str]] = {
    # The entry (extra) is not trusted: it is proven only by hashing it as the leaf.
    "extra-altered": (_entry(SEQ, lambda e: e.replace(b'"a5"', b'"a6"')), NOT_PROVEN),
    "extra-of-the-next-entry": (_entry(SEQ + 1), NOT_PROVEN),
    "extra-shortened": (_entry(SEQ, lambda e: e[:-1]), NOT_PROVEN),
    "extra-empty": (_line(1, "extra "), NOT_PROVEN),
    "extra-not-base64": (_line(1, "extra {not base64}"), "not base64"),
    "extra-missing": (_lines(lambda lines: [lines[0], *lines[2:]]), "carries no entry"),
    "extra-after-index": (
        _lines(lambda lines: [lines[0], lines[2], lines[1], *lines[3:]]),
        "carries no entry",
    ),
    "index-minus-one": (_line(2, f"index {SEQ - 1}"), NOT_PROVEN),
    "index-plus-one": (_line(2, f"index {SEQ + 1}"), NOT_PROVEN),
    "index-beyond-the-tree": (_line(2, f"index {SIZE}"), NOT_PROVEN),
    "index-leading-zero": (_line(2, f"index 0{SEQ}"), "leading zeros"),
    "index-leading-zeros": (_line(2, f"index 000{SEQ}"), "leading zeros"),
    "index-negative": (_line(2, f"index -{SEQ}"), "decimal number"),
    "index-plus-sign": (_line(2, f"index +{SEQ}"), "decimal number"),
    "index-hex": (_line(2, "index 0x5"), "decimal number"),
    "index-non-ascii-digit": (_line(2, "index \N{FULLWIDTH DIGIT FIVE}"), "decimal number"),
    "index-trailing-space": (_line(2, f"index {SEQ} "), "decimal number"),
    "index-two-spaces": (_line(2, f"index  {SEQ}"), "decimal number"),
    "index-empty": (_line(2, "index "), "decimal number"),
    "index-missing": (_lines(lambda lines: [*lines[:2], *lines[3:]]), "decimal number"),
    "proof-first-dropped": (_lines(lambda lines: [*lines[:3], *lines[4:]]), NOT_PROVEN),
    "proof-last-dropped": (_lines(lambda lines: lines[:-1]), NOT_PROVEN),
    "proof-all-dropped": (_lines(lambda lines: lines[:3]), NOT_PROVEN),
    "proof-line-added": (_lines(lambda lines: [*lines, HASH]), NOT_PROVEN),
    "proof-line-repeated": (_lines(lambda lines: [*lines, lines[-1]]), NOT_PROVEN),
    "proof-line-inserted": (_lines(lambda lines: [*lines[:3], HASH, *lines[3:]]), NOT_PROVEN),
    "proof-lines-swapped": (
        _lines(lambda lines: [*lines[:3], lines[4], lines[3], *lines[5:]]),
        NOT_PROVEN,
    ),
    "proof-line-not-base64": (_line(3, "#" * 44), "not base64"),
    "proof-line-unpadded": (_lines(lambda lines: [*lines[:3], lines[3].rstrip("=")]), "base64"),
    "proof-line-url-safe": (_line(3, "-_" * 22), "not base64"),
    "proof-line-short": (_line(3, b64(bytes(31))), "^a proof line is not a SHA-256 hash"),
    "proof-line-long": (_line(3, b64(bytes(33))), "^a proof line is not a SHA-256 hash"),
    "proof-too-long": (
        _lines(lambda lines: [*lines[:3], *[HASH] * 65]),
        "^the inclusion proof is too long",  # refused before any hashing
    ),
    "header-other-version": (_line(0, "c2sp.org/tlog-proof@v2"), "starts with"),
    "header-trailing-space": (_line(0, "c2sp.org/tlog-proof@v1 "), "starts with"),
    "header-missing": (_lines(lambda lines: lines[1:]), "starts with"),
    "header-other-format": (_line(0, "c2sp.org/tlog-checkpoint"), "starts with"),
    "checkpoint-foreign-key": (_note(_resigned), "the checkpoint: no signature by a trusted key"),
    "checkpoint-signature-altered": (_note(_altered_signature), "does not verify"),
    "checkpoint-root-altered": (_note(_altered_root), "does not verify"),
    "checkpoint-genuine-but-older": (_note(lambda _n, log: log.notes[OLDER]), NOT_PROVEN),
    "checkpoint-of-another-log": (_note(_other_origin), "the checkpoint is of another log"),
    "checkpoint-missing": (_note(lambda _n, _log: ""), "the checkpoint:"),
    "checkpoint-unsigned": (_note(lambda n, _log: n.partition("\n\n")[0] + "\n"), "checkpoint"),
}


@pytest.fixture
def log(session: Session, key: Ed25519PrivateKey) -> Log:
    return fill(session.connection(), key)


@pytest.mark.parametrize("case", sorted(MUST_FAIL))
def test_an_altered_receipt_fails(session: Session, log: Log, case: str) -> None:
    """Each alteration of the entry, index, proof, header or checkpoint is refused."""
    receipt = make_receipt(session.connection(), SEQ)
    verify_receipt(receipt, ORIGIN, trusted(log.key))  # the receipt as issued verifies
    lines, note = parts(receipt)
    assert len(lines) == 3 + 4  # the cases assume a four-hash proof (leaf 5 of 13)
    edit, reason = MUST_FAIL[case]
    altered = joined(*edit(lines, note, log))
    assert altered != receipt
    with pytest.raises(ReceiptError, match=reason):
        verify_receipt(altered, ORIGIN, trusted(log.key))


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", HEADER, HEADER + "\n", "c2sp.org/tlog-proof@v1\r\nextra e30=\r\nindex 0\r\n\r\n"],
)
def test_a_receipt_without_its_parts_fails(log: Log, text: str) -> None:
    """Empty text, a bare header, or CRLF line ends are not a receipt."""
    with pytest.raises(ReceiptError, match="starts with"):
        verify_receipt(text, ORIGIN, trusted(log.key))


def test_a_receipt_checked_for_another_origin_fails(session: Session, log: Log) -> None:
    """The same key trusted under another log's name does not vouch for this log's receipt."""
    receipt = make_receipt(session.connection(), SEQ)
    with pytest.raises(ReceiptError, match="no signature by a trusted key"):
        verify_receipt(receipt, OTHER_ORIGIN, trusted(log.key, OTHER_ORIGIN))
    with pytest.raises(ReceiptError, match="no signature by a trusted key"):
        verify_receipt(receipt, OTHER_ORIGIN, trusted(log.key))  # keys of ORIGIN are not asked
    with pytest.raises(ReceiptError, match="no signature by a trusted key"):
        verify_receipt(receipt, ORIGIN, trusted(Ed25519PrivateKey.generate()))


def test_any_bit_flip_in_entry_index_or_proof_fails(session: Session, log: Log) -> None:
    """Flipping any bit of the entry, the index or any proof hash of any receipt fails."""
    connection = session.connection()
    receipts = [parts(make_receipt(connection, seq)) for seq in range(SIZE)]
    keys = trusted(log.key)

    @settings(max_examples=250, deadline=None)
    @given(st.data())
    def check(data: st.DataObject) -> None:
        seq = data.draw(st.integers(0, SIZE - 1), label="seq")
        lines, note = receipts[seq]
        at = data.draw(st.integers(1, len(lines) - 1), label="line")
        if at == INDEX_LINE:
            bit = data.draw(st.integers(0, 62), label="bit")
            value = f"index {seq ^ (1 << bit)}"
        else:
            word, encoded = lines[at].rsplit(" ", 1) if at == 1 else ("", lines[at])
            raw = base64.b64decode(encoded)
            bit = data.draw(st.integers(0, len(raw) * 8 - 1), label="bit")
            value = f"{word} {b64(flip(raw, bit))}".lstrip()
        altered = [*lines[:at], value, *lines[at + 1 :]]
        with pytest.raises(ReceiptError, match=NOT_PROVEN):
            verify_receipt(joined(altered, note), ORIGIN, keys)

    check()

"""The tamper matrix: each way of altering the log is caught and names the right entry.

Every case runs on SQLite and PostgreSQL. Where the database itself refuses the
change, the attacker drops the triggers first, as someone with full control of
the database could.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from databases import Database
from sqlalchemy import Connection, text

from audit import (
    Draft,
    LogVerifier,
    Signer,
    StoredTree,
    VerificationError,
    Verifier,
    append,
    canonical_entry,
    canonical_json,
    leaf_hash,
    make_receipt,
    purge_contents,
    sign_note,
    verify_bundle,
    verify_database,
    write_bundle,
)

ORIGIN = "test.example/disclosure-log"
SIZE = 10
CONTENT_SEQ = 6


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def draft(n: int) -> Draft:
    content = b'{"adresseid":"x"}' if n == CONTENT_SEQ else None
    return Draft(
        {"time": f"2026-11-{n + 1:02d}T08:00:00Z", "event": "release", "actor": f"a{n}"}, content
    )


def signer(key: Ed25519PrivateKey) -> Signer:
    return Signer(ORIGIN, (key,))


def fill(database: Database, key: Ed25519PrivateKey, size: int = SIZE) -> None:
    """One entry per append transaction, so one checkpoint per entry."""
    for n in range(size):
        with database.engine.begin() as connection:
            append(connection, [draft(n)], signer(key))


def verify(
    database: Database, key: Ed25519PrivateKey, held: list[tuple[str, str]] | None = None
) -> None:
    with database.engine.connect() as connection:
        verify_database(
            connection, ORIGIN, [Verifier.of(ORIGIN, key.public_key())], held=held or []
        )


def unguard(connection: Connection, backend: str, *tables: str) -> None:
    """Drop the append-only triggers, as an attacker in control of the database could."""
    for table in tables:
        if backend == "sqlite":
            for verb in ("update", "delete", "rewind"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
        else:
            for name in ("no_change", "no_delete", "no_rewind"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}"))


def entry_of(connection: Connection, seq: int) -> bytes:
    return bytes(
        connection.execute(
            text("SELECT entry FROM log_entries WHERE seq = :s"), {"s": seq}
        ).scalar_one()
    )


def set_entry(connection: Connection, seq: int, entry: bytes, *, rehash: bool = False) -> None:
    if rehash:
        statement = "UPDATE log_entries SET entry = :e, leaf_hash = :h WHERE seq = :s"
    else:
        statement = "UPDATE log_entries SET entry = :e WHERE seq = :s"
    connection.execute(text(statement), {"e": entry, "s": seq, "h": leaf_hash(entry)})


def change_entry(connection: Connection, backend: str) -> None:
    unguard(connection, backend, "log_entries")
    set_entry(connection, 4, entry_of(connection, 4).replace(b'"a4"', b'"zz"'))


def change_entry_and_its_hashes(connection: Connection, backend: str) -> None:
    unguard(connection, backend, "log_entries")
    set_entry(connection, 4, entry_of(connection, 4).replace(b'"a4"', b'"zz"'), rehash=True)


def change_content(connection: Connection, backend: str) -> None:
    unguard(connection, backend, "log_contents")
    connection.execute(text("UPDATE log_contents SET content = :c"), {"c": b'{"adresseid":"y"}'})


def delete_content(connection: Connection, backend: str) -> None:
    unguard(connection, backend, "log_contents")
    connection.execute(text("DELETE FROM log_contents WHERE seq = :s"), {"s": CONTENT_SEQ})


def delete_entry(connection: Connection, backend: str) -> None:
    unguard(connection, backend, "log_entries")
    connection.execute(text("DELETE FROM log_entries WHERE seq = 3"))


def swap_entries(connection: Connection, backend: str) -> None:
    unguard(connection, backend, "log_entries")
    third, fifth = entry_of(connection, 3), entry_of(connection, 5)
    set_entry(connection, 3, fifth, rehash=True)
    set_entry(connection, 5, third, rehash=True)


def insert_entry(connection: Connection, backend: str) -> None:
    del backend  # INSERT is allowed: appending without advancing the head is caught

    forged = canonical_entry(
        {"v": 1, "seq": SIZE, "time": "2026-11-30T08:00:00Z", "event": "release"}
    )
    connection.execute(
        text("INSERT INTO log_entries (seq, entry, leaf_hash) VALUES (:s, :e, :h)"),
        {"s": SIZE, "e": forged, "h": leaf_hash(forged)},
    )


def foreign_checkpoint(connection: Connection, backend: str) -> None:
    unguard(connection, backend, "log_checkpoints")
    body = connection.execute(
        text("SELECT note FROM log_checkpoints WHERE size = :n"), {"n": SIZE}
    ).scalar_one()
    forged = sign_note(body.split("\n\n")[0] + "\n", ORIGIN, Ed25519PrivateKey.generate())
    connection.execute(
        text("UPDATE log_checkpoints SET note = :n WHERE size = :s"), {"n": forged, "s": SIZE}
    )


CASES: dict[str, tuple[Callable[[Connection, str], None], int | None, str]] = {
    "changed-entry": (change_entry, 4, "stored leaf hash"),
    "changed-entry-and-hashes": (
        change_entry_and_its_hashes,
        4,
        "do not match the signed checkpoint",
    ),
    "changed-content": (change_content, CONTENT_SEQ, "content does not match its commitment"),
    "deleted-content": (
        delete_content,
        CONTENT_SEQ,
        "its committed content is missing and no retention-purge entry lists it",
    ),
    "deleted-entry": (delete_entry, 3, "missing"),
    "swapped-entries": (swap_entries, 3, "sequence number 5"),
    "inserted-entry": (insert_entry, SIZE, "beyond the sequence counter"),
    "foreign-checkpoint": (
        foreign_checkpoint,
        None,
        f"checkpoint of size {SIZE}: no signature by a trusted key",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_database_tampering_is_caught(
    database: Database, key: Ed25519PrivateKey, case: str
) -> None:
    """Each alteration fails verification with the first bad sequence number."""
    fill(database, key)
    verify(database, key)  # the untouched log verifies
    tamper, seq, reason = CASES[case]
    with database.engine.begin() as connection:
        tamper(connection, database.backend)
    with pytest.raises(VerificationError) as excinfo:
        verify(database, key)
    assert excinfo.value.seq == seq
    assert reason in str(excinfo.value)


def truncate_to(connection: Connection, backend: str, size: int) -> None:
    """Cut the log back to ``size`` consistently, as restoring an old backup would."""
    root = StoredTree(connection).root(size)
    unguard(
        connection,
        backend,
        *("log_entries", "log_nodes", "log_checkpoints", "log_contents", "log_sequence"),
    )
    connection.execute(text("DELETE FROM log_entries WHERE seq >= :n"), {"n": size})
    connection.execute(text("DELETE FROM log_checkpoints WHERE size > :n"), {"n": size})
    connection.execute(
        text("DELETE FROM log_nodes WHERE (idx + 1) * (1 << level) > :n"), {"n": size}
    )
    connection.execute(text("DELETE FROM log_contents WHERE seq >= :n"), {"n": size})
    connection.execute(text("UPDATE log_head SET size = :n, root = :r"), {"n": size, "r": root})
    connection.execute(text("UPDATE log_sequence SET size = :n"), {"n": size})


def test_a_truncated_log_or_old_backup_is_caught_by_a_receipt(
    database: Database, key: Ed25519PrivateKey
) -> None:
    """A log cut back consistently verifies alone, but not against a receipt it issued."""
    fill(database, key)
    with database.engine.connect() as connection:
        receipt = make_receipt(connection, SIZE - 1)
    held = [("receipt", receipt.partition("\n\n")[2])]
    with database.engine.begin() as connection:
        truncate_to(connection, database.backend, 7)
    verify(database, key)  # self-consistent: only an outside checkpoint can tell
    with pytest.raises(VerificationError) as excinfo:
        verify(database, key, held)
    assert excinfo.value.seq == 7
    assert "receipt of size 10 was signed but the log holds only 7" in str(excinfo.value)


def test_a_history_rewritten_and_resigned_is_caught_by_a_receipt(
    database: Database, key: Ed25519PrivateKey
) -> None:
    """Rebuilding the log with one entry changed, signed with the real key, breaks receipts."""
    fill(database, key)
    with database.engine.connect() as connection:
        receipt = make_receipt(connection, 8)
    held = [("receipt", receipt.partition("\n\n")[2])]
    with database.engine.begin() as connection:
        truncate_to(connection, database.backend, 2)
    log_signer = signer(key)
    for n in range(2, SIZE):
        with database.engine.begin() as connection:
            rewritten = draft(n)
            if n == 5:
                rewritten = Draft({**rewritten.fields, "actor": "someone-else"})
            append(connection, [rewritten], log_signer)
    verify(database, key)  # signed with the real key: it verifies alone
    with pytest.raises(VerificationError) as excinfo:
        verify(database, key, held)
    assert "do not match the receipt of size 10" in str(excinfo.value)


def export(database: Database) -> list[str]:
    out = io.StringIO()
    with database.engine.connect() as connection:
        write_bundle(connection, out, origin=ORIGIN, log_keys=[])
    return out.getvalue().splitlines(keepends=True)


def edit_entry(lines: list[str]) -> list[str]:
    return [
        line.replace('"actor":"a4"', '"actor":"zz"') if '"seq":4,' in line else line
        for line in lines
    ]


def drop_entry_and_recount(lines: list[str]) -> list[str]:
    kept = [line for line in lines if '"type":"entry","seq":3,' not in line]
    trailer = json.loads(kept[-1])
    trailer["entries"] -= 1
    return [*kept[:-1], json.dumps(trailer) + "\n"]


def say_content_is_gone(lines: list[str]) -> list[str]:
    return [line.replace('"content_stored":true', '"content_stored":false') for line in lines]


def drop_content_flag(lines: list[str]) -> list[str]:
    return [line.replace(',"content_stored":true', "") for line in lines]


BUNDLE_CASES: dict[str, tuple[Callable[[list[str]], list[str]], int | None, str]] = {
    "edited-entry": (edit_entry, 4, "do not match the signed checkpoint"),
    "dropped-entry": (drop_entry_and_recount, 3, "missing"),
    "edited-trailer": (
        lambda lines: [*lines[:-1], lines[-1].replace('"size":10', '"size":11')],
        None,
        "trailer",
    ),
    "cut-off": (lambda lines: lines[: len(lines) // 2], 0, "cut off"),
    "cut-off-after-entries": (lambda lines: lines[:-3], SIZE - 2, "cut off"),
    "no-entries": (
        lambda lines: [line for line in lines if '"type":"entry"' not in line],
        None,
        "trailer",
    ),
    "empty": (lambda _lines: [], None, "empty"),
    "content-said-gone": (say_content_is_gone, CONTENT_SEQ, "no retention-purge entry lists it"),
    "content-flag-dropped": (drop_content_flag, CONTENT_SEQ, "does not say if its content"),
}


@pytest.mark.parametrize("case", sorted(BUNDLE_CASES))
def test_an_edited_or_cut_export_is_refused(
    database: Database, key: Ed25519PrivateKey, case: str
) -> None:
    """The offline check of an export refuses edits, cuts and emptiness."""
    fill(database, key)
    lines = export(database)
    keys = [Verifier.of(ORIGIN, key.public_key())]
    assert verify_bundle(lines, keys).verified.size == SIZE
    edit, seq, reason = BUNDLE_CASES[case]
    with pytest.raises(VerificationError) as excinfo:
        verify_bundle(edit(lines), keys)
    assert excinfo.value.seq == seq
    assert reason in str(excinfo.value)


def test_a_content_deleted_behind_the_log_fails_the_offline_check(
    database: Database, key: Ed25519PrivateKey
) -> None:
    """An export of a log whose content was deleted outside a purge names that entry."""
    fill(database, key)
    with database.engine.begin() as connection:
        delete_content(connection, database.backend)
    keys = [Verifier.of(ORIGIN, key.public_key())]
    with pytest.raises(VerificationError) as excinfo:
        verify_bundle(export(database), keys)
    assert excinfo.value.seq == CONTENT_SEQ
    assert "no retention-purge entry lists it" in str(excinfo.value)


def test_a_legitimate_purge_still_verifies(database: Database, key: Ed25519PrivateKey) -> None:
    """After a retention purge the database and its export verify; the purge entry is exported."""
    fill(database, key)
    with database.engine.begin() as connection:
        purge_contents(connection, [CONTENT_SEQ], {"time": "2026-12-01T08:00:00Z"}, signer(key))
    with database.engine.connect() as connection:
        verified, _cosignatures, contents = verify_database(
            connection, ORIGIN, [Verifier.of(ORIGIN, key.public_key())]
        )
    assert (verified.size, contents) == (SIZE + 1, 0)
    out = io.StringIO()
    with database.engine.connect() as connection:
        write_bundle(
            connection, out, origin=ORIGIN, log_keys=[], since="2026-11-01", until="2026-11-02"
        )
    lines = out.getvalue().splitlines(keepends=True)
    assert any('"event":"retention-purge"' in line for line in lines)  # outside the period
    result = verify_bundle(lines, [Verifier.of(ORIGIN, key.public_key())])
    assert (result.entries, result.leaves) == (3, SIZE - 2)


def test_a_purge_entry_listing_a_stored_content_fails(
    database: Database, key: Ed25519PrivateKey
) -> None:
    """A purge entry that lists a content still stored does not tell the truth: it is reported."""
    fill(database, key)
    fields = {"time": "2026-12-01T08:00:00Z", "event": "retention-purge"}
    with database.engine.begin() as connection:
        append(connection, [Draft({**fields, "purged": 1, "purged_seqs": ["5-7"]})], signer(key))
    with pytest.raises(VerificationError) as excinfo:
        verify(database, key)
    assert excinfo.value.seq == CONTENT_SEQ
    assert f"retention-purge entry {SIZE} lists it as purged" in str(excinfo.value)


@pytest.mark.parametrize("listed", [["7-5"], ["10"], ["3", "2"], ["1-4", "4"], ["01"], "5", [5]])
def test_malformed_purge_ranges_fail(
    database: Database, key: Ed25519PrivateKey, listed: object
) -> None:
    """purged_seqs must be ascending, disjoint ranges of earlier entries."""
    fill(database, key, size=2)
    entry = canonical_entry(
        {"v": 1, "seq": 2, "time": "2026-12-01T08:00:00Z", "event": "retention-purge"}
    )
    document = {**json.loads(entry), "purged_seqs": listed}
    verifier = LogVerifier(ORIGIN, [Verifier.of(ORIGIN, key.public_key())], [])
    with database.engine.connect() as connection:
        for seq in range(2):
            verifier.add_entry(seq, entry_of(connection, seq))
    with pytest.raises(VerificationError, match="purged_seqs are not ascending ranges") as excinfo:
        verifier.add_entry(2, canonical_json(document))
    assert excinfo.value.seq == 2


def test_a_first_format_bundle_still_verifies(database: Database, key: Ed25519PrivateKey) -> None:
    """A v1 export (no content flags) verifies as before; its contents are not checked."""
    fill(database, key)
    lines = [
        line.replace("bundle/v2", "bundle/v1").replace(',"content_stored":true', "")
        for line in export(database)
    ]
    assert verify_bundle(lines, [Verifier.of(ORIGIN, key.public_key())]).verified.size == SIZE

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
    Signer,
    StoredTree,
    VerificationError,
    Verifier,
    append,
    canonical_entry,
    leaf_hash,
    make_receipt,
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


def fill(database: Database, key: Ed25519PrivateKey, size: int = SIZE) -> None:
    """One entry per append transaction, so one checkpoint per entry."""
    signer = Signer(ORIGIN, (key,))
    for n in range(size):
        with database.engine.begin() as connection:
            append(connection, [draft(n)], signer)


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
            for verb in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
        else:
            connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}"))


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
    "deleted-entry": (delete_entry, 3, "missing"),
    "swapped-entries": (swap_entries, 3, "sequence number 5"),
    "inserted-entry": (insert_entry, SIZE, "no signed checkpoint covers"),
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
    unguard(connection, backend, "log_entries", "log_nodes", "log_checkpoints")
    connection.execute(text("DELETE FROM log_entries WHERE seq >= :n"), {"n": size})
    connection.execute(text("DELETE FROM log_checkpoints WHERE size > :n"), {"n": size})
    connection.execute(
        text("DELETE FROM log_nodes WHERE (idx + 1) * (1 << level) > :n"), {"n": size}
    )
    connection.execute(text("DELETE FROM log_contents WHERE seq >= :n"), {"n": size})
    connection.execute(text("UPDATE log_head SET size = :n, root = :r"), {"n": size, "r": root})


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
    signer = Signer(ORIGIN, (key,))
    for n in range(2, SIZE):
        with database.engine.begin() as connection:
            rewritten = draft(n)
            if n == 5:
                rewritten = Draft({**rewritten.fields, "actor": "someone-else"})
            append(connection, [rewritten], signer)
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

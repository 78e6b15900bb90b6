"""Benchmark: the disclosure log (``audit``) against bare SQL, hashing and JSON lines.

What is measured. Synthetic release entries (each committing to five dwellings'
keyed references through their root, as the broker writes them, with about 800
bytes of released content stored apart under a salted commitment) are appended
to a freshly migrated SQLite file and, with ``--postgres URL``, to a throw-away
PostgreSQL schema that is dropped afterwards. Each figure is printed with its
ratio to a bare baseline measured in the same run, in the same database:

1. Append: a log of ``--entries`` entries (default 10,000) whose last
   ``--one-by-one`` entries (default 2,000) are appended one per transaction,
   each transaction ending in a signed checkpoint (``append``: what key rotations
   and exports still do; other writers now only sequence, see below);
   the first ones are filled in batches of 100 beforehand, untimed, so that the
   timed appends meet the log at its final size. Appending one by one costs a
   few milliseconds per entry, so all 10,000 (``--one-by-one 10000``) would take
   most of two minutes. Then, into a second fresh log, all ``--entries`` in
   batches of 100 (one checkpoint per batch). Baseline: inserting the same
   canonical entry bytes into a bare table ``(seq, entry)`` with the column
   types of ``log_entries``, in the same database, one row per transaction and
   100 rows per transaction.
   Then sequencing alone, as a writer's transaction now does (entry, leaf hash and
   content, no tree node, no signature): all ``--entries`` in batches of 100 and
   ``--one-by-one`` more one per transaction, into a third fresh log, each against
   the bare inserts measured again there, with the aims (<= 1.5x and <= 2x) and
   whether they are met; integrating the whole batch under one signed checkpoint
   (the publisher's share); and on SQLite the same one-row transactions through the
   bare ``sqlite3`` driver, to show what SQLAlchemy itself costs.
2. Receipts: ``make_receipt`` for 1,000 random sequence numbers at the final
   size, on one connection, then ``verify_receipt`` of each (offline). The
   in-memory ``audit._merkle.inclusion_proof`` over the list of leaf hashes is
   no fair baseline: it rehashes every leaf for each proof (O(n) per proof), so
   its cost per proof is printed for a small sample only. Baselines instead: one
   SELECT by primary key from the bare table per receipt (making), and one
   Ed25519 signature check over a checkpoint per receipt (verifying).
3. Full verification: ``verify_database`` over the whole first log (one signed
   checkpoint per batch of the fill and per entry after it: each costs an
   Ed25519 check, so the count is printed).
   Baseline: reading every row of the bare table and SHA-256 hashing each entry.
4. Export: ``write_bundle`` of that log to a temporary file, then
   ``verify_bundle`` of the file. Baseline: writing the same rows as plain JSON
   lines (``{"seq": ..., "entry": {...}}``) and reading them back with ``json.loads``.

With ``--national`` the reads (2 to 4) are measured instead over a log of
1,000,000 entries, sequenced and integrated as writers and the publisher now do
(one signed checkpoint per 10,000).

The audit operations run once; read-only baselines are the best of three runs.
This is a measurement, not a test: nothing fails on a slow figure.

Run ``make bench`` or
``.venv/bin/python bench/disclosure_log.py [--entries N] [--one-by-one N] [--national]
[--postgres URL]``.
Figures go to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from _common import best_of, note, postgres_schemas, sqlite_files, timed
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    MetaData,
    Table,
    insert,
    select,
)

from audit import (
    Draft,
    EntryValue,
    Signer,
    Verifier,
    append,
    dwelling_reference,
    inclusion_proof,
    integrate,
    leaf_hash,
    make_receipt,
    references_root,
    sequence,
    verifier_key,
    verify_bundle,
    verify_database,
    verify_receipt,
    write_bundle,
)

T = TypeVar("T")

ORIGIN = "bench.example/disclosure-log"
DEFAULT_ENTRIES = 10_000
DEFAULT_ONE_BY_ONE = 2_000
NATIONAL_ENTRIES = 1_000_000
NATIONAL_CHUNK = 10_000
VERIFY_RATE_AIM = 100_000
BATCH = 100
RECEIPTS = 1_000
IN_MEMORY_SAMPLE = 20
DWELLINGS_PER_ENTRY = 5
BASELINE_RUNS = 3
SEED = 20261125
FIRST_TIME = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)
FIELDS = (
    "afdeling",
    "vejnavn",
    "husnr",
    "etage",
    "doer",
    "postnr",
    "fase",
    "startdato",
    "slutdato",
)

bare_metadata = MetaData()
bare_entries = Table(
    "bench_bare_entries",
    bare_metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),
)
"""The baseline's table: the entry bytes under their number, nothing else."""


@dataclass(frozen=True, slots=True)
class Keys:
    """The log's signing key, as the appender and the verifiers see it."""

    private: Ed25519PrivateKey
    signer: Signer
    verifiers: tuple[Verifier, ...]
    vkeys: tuple[str, ...]

    @classmethod
    def generate(cls) -> Keys:
        """Return a fresh Ed25519 log key under ``ORIGIN``."""
        private = Ed25519PrivateKey.generate()
        public = private.public_key()
        return cls(
            private,
            Signer(ORIGIN, (private,)),
            (Verifier.of(ORIGIN, public),),
            (verifier_key(ORIGIN, public),),
        )


LOG_KEY = secrets.token_bytes(32)


def release_drafts(count: int, start: int = 0) -> list[Draft]:
    """Return ``count`` release entries from number ``start``, five dwellings each, with content.

    As the broker writes them: the dwellings' keyed references through one root.
    """
    drafts = []
    for n in range(start, start + count):
        moment = FIRST_TIME + dt.timedelta(minutes=n)
        dwellings = [f"dw-{(n * DWELLINGS_PER_ENTRY + i):09d}" for i in range(DWELLINGS_PER_ENTRY)]
        records = [
            {
                "afdeling": f"afd-{n % 250:03d}",
                "vejnavn": f"Demovej {n % 97}",
                "husnr": str(1 + i),
                "etage": str(i % 5) if i % 5 else "st",
                "doer": ("tv", "mf", "th")[i % 3],
                "postnr": "2620",
                "fase": "genhusning",
                "startdato": (moment.date() + dt.timedelta(days=91)).isoformat(),
                "slutdato": (moment.date() + dt.timedelta(days=210)).isoformat(),
            }
            for i in range(DWELLINGS_PER_ENTRY)
        ]
        content = json.dumps(records, ensure_ascii=False, separators=(",", ":")).encode()
        fields: dict[str, EntryValue] = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "event": "release",
            "actor": "broker",
            "recipient": "albertslund-kommune",
            "policy_id": "albertslund-visitation-weekly",
            "policy_hash": hashlib.sha256(b"policy").hexdigest(),
            "purpose": "Visitation af genhusning under renoveringen",
            "legal_basis": "GDPR art. 6(1)(e)",
            "dwellings_root": references_root(
                sorted(dwelling_reference(LOG_KEY, d) for d in dwellings)
            ),
            "dwellings_count": len(dwellings),
            "fields": sorted(FIELDS),
        }
        drafts.append(Draft(fields, content))
    return drafts


def append_log(engine: Engine, drafts: Sequence[Draft], signer: Signer, batch: int) -> list[bytes]:
    """Append ``drafts``, ``batch`` per committed transaction; return the entries' bytes."""
    entries: list[bytes] = []
    for start in range(0, len(drafts), batch):
        with engine.begin() as connection:
            appended = append(connection, drafts[start : start + batch], signer)
        entries.extend(appended.entries)
    return entries


def sequence_log(engine: Engine, drafts: Sequence[Draft], batch: int) -> list[bytes]:
    """Sequence ``drafts``, ``batch`` per committed transaction, as a writer now does."""
    entries: list[bytes] = []
    for start in range(0, len(drafts), batch):
        with engine.begin() as connection:
            entries.extend(sequence(connection, drafts[start : start + batch]).entries)
    return entries


def raw_sqlite_inserts(engine: Engine, entries: Sequence[bytes]) -> float:
    """Insert ``entries`` one per transaction with the bare ``sqlite3`` driver; return seconds.

    Same file, same pragmas as the broker's engine (WAL, synchronous NORMAL): what a
    transaction costs below SQLAlchemy.
    """
    database = engine.url.database
    if database is None:
        raise ValueError("not an SQLite file")
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("CREATE TABLE bench_raw (seq INTEGER PRIMARY KEY, entry BLOB NOT NULL)")
        began = time.perf_counter()
        for seq, entry in enumerate(entries):
            connection.execute("BEGIN")
            connection.execute("INSERT INTO bench_raw VALUES (?, ?)", (seq, entry))
            connection.execute("COMMIT")
        return time.perf_counter() - began
    finally:
        connection.close()


def integrate_log(engine: Engine, signer: Signer) -> int:
    """Integrate every sequenced entry under one signed checkpoint; return the new size."""
    with engine.begin() as connection:
        integrated = integrate(connection, signer)
    return 0 if integrated is None else integrated.size


def insert_bare(
    engine: Engine, entries: Sequence[bytes], batch: int, start: int = 0, first_seq: int = 0
) -> None:
    """The append baseline: insert the entries from ``start``, ``batch`` rows per transaction.

    ``entries[0]`` is numbered ``first_seq``.
    """
    for low in range(start, len(entries), batch):
        high = min(low + batch, len(entries))
        rows = [{"seq": first_seq + n, "entry": entries[n]} for n in range(low, high)]
        with engine.begin() as connection:
            connection.execute(insert(bare_entries), rows)


def make_receipts(engine: Engine, seqs: Sequence[int]) -> list[str]:
    """Make the receipt of each of ``seqs`` under the newest checkpoint, on one connection."""
    with engine.begin() as connection:
        return [make_receipt(connection, seq) for seq in seqs]


def select_bare(engine: Engine, seqs: Sequence[int]) -> int:
    """The receipt baseline: one SELECT by primary key per receipt; return the bytes read."""
    total = 0
    query = select(bare_entries.c.entry)
    with engine.begin() as connection:
        for seq in seqs:
            row = connection.execute(query.where(bare_entries.c.seq == seq))
            total += len(row.scalar_one())
    return total


def verify_receipts(receipts: Sequence[str], keys: Keys) -> int:
    """Verify every receipt offline against the log key; return how many verified."""
    for receipt in receipts:
        verify_receipt(receipt, ORIGIN, keys.verifiers)
    return len(receipts)


def check_signatures(keys: Keys, count: int) -> int:
    """The verification baseline: ``count`` Ed25519 checks of one signed checkpoint body."""
    body = f"{ORIGIN}\n{count}\n{base64.b64encode(bytes(32)).decode()}\n".encode()
    signature = keys.private.sign(body)
    public = keys.private.public_key()
    for _ in range(count):
        public.verify(signature, body)
    return count


def hash_bare(engine: Engine) -> int:
    """The full-verification baseline: read every bare row and SHA-256 its entry."""
    count = 0
    query = select(bare_entries.c.seq, bare_entries.c.entry).order_by(bare_entries.c.seq)
    with engine.begin() as connection:
        for _seq, entry in connection.execute(query):
            hashlib.sha256(entry).digest()
            count += 1
    return count


def export_bundle(engine: Engine, path: Path, keys: Keys) -> dict[str, int]:
    """Write the log as a bundle to ``path``; return the trailer's counts."""
    with engine.begin() as connection, path.open("w", encoding="utf-8") as out:
        return write_bundle(connection, out, origin=ORIGIN, log_keys=keys.vkeys)


def import_bundle(path: Path, keys: Keys) -> int:
    """Verify the bundle at ``path``; return the number of entries it held."""
    with path.open(encoding="utf-8") as lines:
        return verify_bundle(lines, keys.verifiers, origin=ORIGIN).entries


def write_lines(engine: Engine, path: Path) -> int:
    """The export baseline: write the bare rows as plain JSON lines; return the count."""
    count = 0
    query = select(bare_entries.c.seq, bare_entries.c.entry).order_by(bare_entries.c.seq)
    with engine.begin() as connection, path.open("w", encoding="utf-8") as out:
        for seq, entry in connection.execute(query):
            document = {"seq": seq, "entry": json.loads(entry)}
            out.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count


def read_lines(path: Path) -> int:
    """The import baseline: read the JSON lines back; return the count."""
    count = 0
    with path.open(encoding="utf-8") as lines:
        for raw in lines:
            json.loads(raw)
            count += 1
    return count


def line(label: str, seconds: float, count: int, unit: str, baseline: float | None) -> None:
    """Print one figure with its rate and, unless it is a baseline, its ratio."""
    rate = f"{count / seconds:,.0f} {unit}/s"
    ratio = "  (baseline)" if baseline is None else f"  ratio {seconds / baseline:.1f}x"
    print(f"  {label}: {seconds:.3f} s  ({rate}){ratio}", flush=True)


def aimed(  # noqa: PLR0913 - a figure, its baseline and its aims
    label: str,
    seconds: float,
    count: int,
    unit: str,
    baseline: float,
    *,
    aim: float,
    rate_aim: float | None = None,
) -> None:
    """Print one figure with its ratio to ``baseline`` and whether it meets ``aim``.

    ``rate_aim`` is a rate (``unit`` per second) the figure must reach as well.
    """
    ratio = seconds / baseline
    rate = count / seconds
    met = ratio <= aim and (rate_aim is None or rate >= rate_aim)
    aims = f"aim <= {aim:g}x" + ("" if rate_aim is None else f" and >= {rate_aim:,.0f}/s")
    verdict = "met" if met else "missed"
    figure = f"{seconds:.3f} s  ({rate:,.0f} {unit}/s)  ratio {ratio:.1f}x"
    print(f"  {label}: {figure}  {aims}: {verdict}", flush=True)


def measure_sequencing(
    database: str, new_engine: Callable[[], Engine], drafts: Sequence[Draft], single: int
) -> None:
    """Sequencing (the writer's transaction) and integration (apart), against bare inserts."""
    engine = new_engine()
    try:
        bare_metadata.create_all(engine)
        count = len(drafts)
        note(f"{database}: sequencing {count:,} entries, {BATCH} per transaction")
        batched, entries = timed(lambda: sequence_log(engine, drafts, BATCH))
        note(f"{database}: integrating them under one checkpoint")
        integrated, size = timed(lambda: integrate_log(engine, Keys.generate().signer))
        if size != count:
            raise RuntimeError(f"integrated {size} of {count} entries")
        note(f"{database}: bare inserts, {BATCH} rows per transaction")
        bare_batched, _ = timed(lambda: insert_bare(engine, entries, BATCH))
        note(f"{database}: sequencing {single:,} more, one per transaction")
        one, more = timed(lambda: sequence_log(engine, drafts[:single], 1))
        note(f"{database}: bare inserts, one row per transaction")
        bare_one, _ = timed(lambda: insert_bare(engine, [*entries, *more], 1, start=count))
        raw = raw_sqlite_inserts(engine, more) if engine.dialect.name == "sqlite" else None
    finally:
        engine.dispose()
    line(f"bare insert, {BATCH} rows per transaction (again)", bare_batched, count, "entries", None)
    aimed(
        f"sequence, {BATCH} entries per transaction (the writer's share)",
        batched,
        count,
        "entries",
        bare_batched,
        aim=1.5,
    )
    line(f"integrate {count:,} entries + 1 signed checkpoint", integrated, count, "entries", None)
    line("bare insert, 1 row per transaction (again)", bare_one, single, "entries", None)
    if raw is not None:
        line("raw sqlite3 INSERT, 1 row per transaction", raw, single, "entries", None)
    aimed(
        "sequence, 1 entry per transaction (the writer's share)",
        one,
        single,
        "entries",
        bare_one,
        aim=2.0,
    )


def measure(database: str, new_engine: Callable[[], Engine], count: int, single: int) -> None:
    """Run the four measurements on fresh databases from ``new_engine`` and print them."""
    keys = Keys.generate()
    drafts = release_drafts(count)
    first = count - single
    print(f"{database}:", flush=True)

    # 1. The log the later sections read: its first entries in batches (not timed), then
    #    the last ``single`` one per transaction, so that each append meets the final size.
    engine = new_engine()
    bare_metadata.create_all(engine)
    note(f"{database}: filling the first {first:,} entries, {BATCH} per transaction")
    entries = append_log(engine, drafts[:first], keys.signer, BATCH)
    insert_bare(engine, entries, BATCH)
    note(f"{database}: appending the last {single:,} entries, one per transaction")
    appended, tail = timed(lambda: append_log(engine, drafts[first:], keys.signer, 1))
    entries += tail
    note(f"{database}: bare inserts, one row per transaction")
    bare_single, _ = timed(lambda: insert_bare(engine, entries, 1, start=first))
    size = sum(map(len, entries)) / count
    content = sum(len(d.content or b"") for d in drafts) / count
    print(f"  log: {count:,} entries, {size:,.0f} bytes each, {content:,.0f} bytes of content each")
    last = f"the last {single:,} of {count:,}"
    line(f"bare insert, 1 row per transaction ({last})", bare_single, single, "entries", None)
    line(
        f"append, 1 entry + signed checkpoint per transaction ({last})",
        appended,
        single,
        "entries",
        bare_single,
    )

    # 1b. All entries in batches, into a second fresh log.
    batched_engine = new_engine()
    try:
        bare_metadata.create_all(batched_engine)
        note(f"{database}: appending {count:,} entries, {BATCH} per transaction")
        batched, batch_entries = timed(
            lambda: append_log(batched_engine, drafts, keys.signer, BATCH)
        )
        note(f"{database}: bare inserts, {BATCH} rows per transaction")
        bare_batched, _ = timed(lambda: insert_bare(batched_engine, batch_entries, BATCH))
    finally:
        batched_engine.dispose()
    line(f"bare insert, {BATCH} rows per transaction", bare_batched, count, "entries", None)
    line(
        f"append, {BATCH} entries + signed checkpoint per transaction",
        batched,
        count,
        "entries",
        bare_batched,
    )

    measure_sequencing(database, new_engine, drafts, single)
    try:
        measure_reads(database, engine, keys, count, entries)
    finally:
        engine.dispose()


def measure_reads(
    database: str, engine: Engine, keys: Keys, count: int, entries: list[bytes] | None = None
) -> None:
    """Receipts, full verification and export over a log of ``count`` entries.

    ``entries``, when given, are the log's entries: a sample of in-memory proofs over
    them is timed for comparison (not at the national size: O(n) each).
    """
    # 2. Receipts at the final size.
    seqs = random.Random(SEED).sample(range(count), min(RECEIPTS, count))
    note(f"{database}: {len(seqs):,} receipts")
    made, receipts = timed(lambda: make_receipts(engine, seqs))
    checked, _ = timed(lambda: verify_receipts(receipts, keys))
    bare_select, _ = best_of(BASELINE_RUNS, lambda: select_bare(engine, seqs))
    bare_check, _ = best_of(BASELINE_RUNS, lambda: check_signatures(keys, len(seqs)))
    n = len(seqs)
    print(f"  receipts: {n:,} random entries at size {count:,}")
    line("bare SELECT by primary key, 1 per receipt", bare_select, n, "receipts", None)
    aimed("make_receipt", made, n, "receipts", bare_select, aim=3)
    line("bare Ed25519 check of a checkpoint, 1 per receipt", bare_check, n, "receipts", None)
    line("verify_receipt", checked, n, "receipts", bare_check)
    if entries is not None:
        leaves = [leaf_hash(entry) for entry in entries]
        sample = seqs[:IN_MEMORY_SAMPLE]
        in_memory, _ = timed(lambda: [inclusion_proof(leaves, seq) for seq in sample])
        print(
            f"  (not a baseline: in-memory audit._merkle.inclusion_proof over {count:,} leaf"
            f" hashes takes {1000 * in_memory / len(sample):.1f} ms per proof, O(n),"
            f" sample of {len(sample)})",
            flush=True,
        )

    # 3. Full verification of the stored log.
    note(f"{database}: verify_database")
    with engine.begin() as connection:
        verified, (result, _, contents) = timed(
            lambda: verify_database(connection, ORIGIN, keys.verifiers)
        )
    bare_hash, _ = best_of(BASELINE_RUNS, lambda: hash_bare(engine))
    print(
        f"  full verification: {result.size:,} entries, {result.checkpoints:,} signed"
        f" checkpoints, {contents:,} contents",
        flush=True,
    )
    line("bare read of every row + SHA-256", bare_hash, count, "entries", None)
    aimed("verify_database", verified, count, "entries", bare_hash, aim=3, rate_aim=VERIFY_RATE_AIM)

    # 4. Export and offline verification.
    with tempfile.TemporaryDirectory(prefix="bench-audit-export-") as name:
        directory = Path(name)
        note(f"{database}: write_bundle and verify_bundle")
        written, counts = timed(lambda: export_bundle(engine, directory / "log.jsonl", keys))
        read, held = timed(lambda: import_bundle(directory / "log.jsonl", keys))
        if held != count or counts["entries"] != count:
            raise SystemExit(f"the bundle held {held:,} entries, expected {count:,}")
        bundle_size = (directory / "log.jsonl").stat().st_size / 1e6
        bare_write, _ = best_of(
            BASELINE_RUNS, lambda: write_lines(engine, directory / "plain.jsonl")
        )
        bare_read, _ = best_of(BASELINE_RUNS, lambda: read_lines(directory / "plain.jsonl"))
        plain_size = (directory / "plain.jsonl").stat().st_size / 1e6
    print(f"  export: bundle {bundle_size:.1f} MB, plain JSON lines {plain_size:.1f} MB")
    line("bare write of the rows as JSON lines", bare_write, count, "entries", None)
    line("write_bundle", written, count, "entries", bare_write)
    line("bare read of the JSON lines (json.loads)", bare_read, count, "entries", None)
    aimed("verify_bundle", read, count, "entries", bare_read, aim=3, rate_aim=VERIFY_RATE_AIM)


def measure_national(database: str, new_engine: Callable[[], Engine], count: int) -> None:
    """The reads at the national size: a log of ``count`` entries, built as writers build it.

    The entries are sequenced and integrated a chunk at a time (one signed checkpoint
    per chunk; the drafts are made per chunk, not held), the bare table filled beside
    them; then receipts, full verification and export as at the default size.
    """
    keys = Keys.generate()
    engine = new_engine()
    try:
        bare_metadata.create_all(engine)
        print(f"{database}, national size:", flush=True)
        for start in range(0, count, NATIONAL_CHUNK):
            chunk = release_drafts(min(NATIONAL_CHUNK, count - start), start)
            entries = sequence_log(engine, chunk, BATCH * 10)
            integrate_log(engine, keys.signer)
            insert_bare(engine, entries, BATCH * 10, start=0, first_seq=start)
            note(f"{database}: {start + len(chunk):,} of {count:,} entries on record")
        print(f"  log: {count:,} entries, one signed checkpoint per {NATIONAL_CHUNK:,}")
        measure_reads(database, engine, keys, count)
    finally:
        engine.dispose()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--entries",
        type=int,
        default=DEFAULT_ENTRIES,
        help=f"entries to append (default {DEFAULT_ENTRIES:,})",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also measure on this PostgreSQL database (in throw-away schemas)",
    )
    parser.add_argument(
        "--one-by-one",
        type=int,
        metavar="N",
        help=(
            "how many of the entries, the last ones, are appended one per transaction"
            f" (default {DEFAULT_ONE_BY_ONE:,}, or all if fewer; the others first go in"
            " batches, untimed)"
        ),
    )
    parser.add_argument(
        "--national",
        action="store_true",
        help=(
            f"measure the reads (receipts, verification, export) over a log of"
            f" {NATIONAL_ENTRIES:,} entries instead; the appends are measured at"
            " the default size"
        ),
    )
    args = parser.parse_args(argv)
    if args.entries < 1:
        parser.error("--entries must be at least 1")
    if args.one_by_one is None:
        args.one_by_one = min(DEFAULT_ONE_BY_ONE, args.entries)
    if not 1 <= args.one_by_one <= args.entries:
        parser.error("--one-by-one must be between 1 and --entries")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every measurement on SQLite and, if asked, on PostgreSQL; print the figures."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as name:
        if args.national:
            measure_national("SQLite", sqlite_files(Path(name), "log"), NATIONAL_ENTRIES)
        else:
            measure("SQLite", sqlite_files(Path(name), "log"), args.entries, args.one_by_one)
    if args.postgres:
        with postgres_schemas(args.postgres) as fresh:
            if args.national:
                measure_national("PostgreSQL", fresh, NATIONAL_ENTRIES)
            else:
                measure("PostgreSQL", fresh, args.entries, args.one_by_one)
    return 0


if __name__ == "__main__":
    sys.exit(main())

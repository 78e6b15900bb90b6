"""Benchmark: ingest of a national-scale schedule export against bare CSV parsing.

What is measured. A synthetic export of 600,000 dwelling-phase rows (75,000
dwellings x 8 phases, 250 departments of 300 dwellings) is written once, as
Danish Excel writes it: UTF-8 with BOM, ``;`` between cells, ``dd-mm-yyyy``
dates, and the tenant's personal columns that ingest must drop. Then, in the
same run and on the same file:

* the baseline: reading the bytes and iterating every row with the standard
  library's ``csv.reader`` (best of three runs);
* the broker's full ingest (``ingest_file``: read, validate and store in one
  transaction, with commit) on a freshly migrated SQLite file, first into an
  empty database (every dwelling new) and then again with the identical file
  (the replacement path: every dwelling known);
* the split: parse and validate only (``read_upload``), and store only
  (``store_upload`` plus commit on a second fresh database, new and replacement);
* optionally (``--postgres URL``) the store part on PostgreSQL, in a throw-away
  schema that is dropped afterwards.

Why. The issue's aim is that ingest stays within 4x of merely parsing the CSV,
so a national export is accepted in seconds rather than minutes. The ratio to a
baseline taken on the same machine in the same run makes figures comparable
across machines. A missed aim is reported, never turned into a failure: this is
a measurement, not a test.

Run ``make bench`` or ``.venv/bin/python bench/ingest.py [--rows N] [--postgres URL]``.
Figures go to stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import secrets
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from _common import DOORS, FLOORS, PHASES, note, timed
from sqlalchemy import Engine, make_url, text

from broker.db import make_engine, make_session_factory, session_scope, upgrade
from broker.errors import InputError
from broker.ingest import IngestReport, ParsedUpload, ingest_file, read_upload, store_upload
from broker.logging import configure_logging

T = TypeVar("T")

ORG = "bench-org"
AIM = 4.0
DEFAULT_ROWS = 600_000
DWELLINGS_PER_DEPARTMENT = 300
BASELINE_RUNS = 3

HEADINGS = (
    "Afdeling",
    "Lejemålsnr",
    "AdresseID",
    "Vejnavn",
    "Husnr",
    "Etage",
    "Dør",
    "Postnr",
    "By",
    "Kommunekode",
    "Fase",
    "Startdato",
    "Slutdato",
    "Lejer navn",
    "CPR",
    "Telefon",
    "E-mail",
)
# Postcode, postal district and municipality code of real places with social housing.
PLACES = (
    ("2620", "Albertslund", "0165"),
    ("2600", "Glostrup", "0161"),
    ("2650", "Hvidovre", "0167"),
    ("2635", "Ishøj", "0183"),
    ("2605", "Brøndby", "0153"),
    ("2630", "Taastrup", "0169"),
    ("2750", "Ballerup", "0151"),
    ("2860", "Søborg", "0159"),
    ("2300", "København S", "0101"),
    ("2400", "København NV", "0101"),
    ("4000", "Roskilde", "0265"),
    ("5000", "Odense C", "0461"),
    ("5220", "Odense SØ", "0461"),
    ("6700", "Esbjerg", "0561"),
    ("7100", "Vejle", "0630"),
    ("8200", "Aarhus N", "0751"),
    ("8210", "Aarhus V", "0751"),
    ("9000", "Aalborg", "0851"),
    ("9220", "Aalborg Øst", "0851"),
)
DEPARTMENT_NAMES = (
    "Vestparken",
    "Hyldespjældet",
    "Gadekæret",
    "Bispehaven",
    "Gellerup",
    "Tingbjerg",
    "Mjølnerparken",
    "Vollsmose",
    "Solbakken",
    "Rosenhøj",
)
STREET_STEMS = (
    "Birke",
    "Ege",
    "Hassel",
    "Pile",
    "Elme",
    "Lærke",
    "Bøge",
    "Ahorn",
    "Kastanje",
    "Hyld",
    "Rønne",
    "Tjørne",
    "Valmue",
    "Kløver",
    "Syren",
    "Lupin",
    "Hvede",
    "Rug",
    "Byg",
    "Havre",
    "Skovsnegl",
    "Solsort",
    "Musvit",
    "Vibe",
    "Stær",
)
STREET_ENDINGS = (
    "vej",
    "parken",
    "haven",
    "gården",
    "stien",
    "toften",
    "vænget",
    "bakken",
    "lunden",
    "engen",
)
ADDRESS_NAMESPACE = uuid.UUID("5f0c6e2a-3b1d-4c8e-9a7f-2d4b6c8e0a1f")
FIRST_NOTICE = dt.date(2026, 9, 7)


@dataclass(frozen=True, slots=True)
class Export:
    """The generated export file and what it holds."""

    path: Path
    rows: int
    dwellings: int
    departments: int


def street_name(department: int) -> str:
    """Return a street name that no other department (of the first 250) uses."""
    stem = STREET_STEMS[department % len(STREET_STEMS)]
    ending = STREET_ENDINGS[(department // len(STREET_STEMS)) % len(STREET_ENDINGS)]
    return stem + ending


def department_rows(department: int, dwellings: int) -> Iterator[list[str]]:
    """Yield the export rows of one department: every phase of every dwelling."""
    name = f"{DEPARTMENT_NAMES[department % len(DEPARTMENT_NAMES)]} {department + 1}"
    street = street_name(department)
    postnr, by, kommunekode = PLACES[department % len(PLACES)]
    first_notice = FIRST_NOTICE + dt.timedelta(days=7 * (department % 52))
    per_house = len(FLOORS) * len(DOORS)
    for number in range(dwellings):
        house, unit = divmod(number, per_house)
        floor, door = divmod(unit, len(DOORS))
        tenant = department * DWELLINGS_PER_DEPARTMENT + number + 1
        adresseid = (
            str(uuid.uuid5(ADDRESS_NAMESPACE, f"{department}/{number}")) if number % 2 == 0 else ""
        )
        address = [
            name,
            f"{department + 100:04d}-{house + 1:04d}-{unit + 1:03d}",
            adresseid,
            street,
            str(2 * house + 1),
            FLOORS[floor],
            DOORS[door],
            postnr,
            by,
            kommunekode,
        ]
        personal = [f"DEMO-Lejer {tenant:06d}", f"999999-{tenant % 10_000:04d}", ""]
        personal.append(f"demo{tenant}@example.org")
        notice = first_notice + dt.timedelta(days=14 * house)
        for kind, first, last in PHASES:
            start = (notice + dt.timedelta(days=first)).strftime("%d-%m-%Y")
            end = (notice + dt.timedelta(days=last)).strftime("%d-%m-%Y")
            yield [*address, kind, start, end, *personal]


def write_export(directory: Path, rows: int) -> Export:
    """Write an export of about ``rows`` rows (whole dwellings) and describe it."""
    dwellings = max(1, rows // len(PHASES))
    departments = -(-dwellings // DWELLINGS_PER_DEPARTMENT)
    path = directory / "national-export.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADINGS)
        for department in range(departments):
            first = department * DWELLINGS_PER_DEPARTMENT
            count = min(DWELLINGS_PER_DEPARTMENT, dwellings - first)
            writer.writerows(department_rows(department, count))
    return Export(path, dwellings * len(PHASES), dwellings, departments)


def count_csv_rows(path: Path) -> int:
    """The baseline: read the bytes and iterate every row with the stdlib csv module."""
    data = path.read_bytes()
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";")
    count = 0
    for _row in reader:
        count += 1
    return count - 1  # the heading row


def now() -> dt.datetime:
    """The upload time passed to the broker."""
    return dt.datetime.now(dt.UTC)


def progress_printer(label: str) -> Callable[[int, int], None]:
    """Return an ingest progress callback that notes every 100,000 rows."""

    def progress(done: int, total: int) -> None:
        if done % 100_000 == 0 or done == total:
            note(f"  {label}: validated {done:,} of {total:,} rows")

    return progress


def sqlite_engine(path: Path) -> Engine:
    """Return an engine on a new SQLite file, migrated to the head revision."""
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return engine


def ingest(engine: Engine, export: Export, label: str) -> float:
    """Run the broker's full ingest in one committed transaction; return its seconds."""
    factory = make_session_factory(engine)

    def run() -> IngestReport:
        with session_scope(factory) as session:
            return ingest_file(
                session, export.path, org=ORG, now=now(), progress=progress_printer(label)
            )

    seconds, report = timed(run)
    note(
        f"  {label}: {report.stats.added:,} added, {report.stats.updated:,} updated,"
        f" {report.stats.phases:,} phases"
    )
    return seconds


def store(engine: Engine, parsed: ParsedUpload) -> float:
    """Store an already validated upload in one committed transaction; return its seconds."""
    factory = make_session_factory(engine)

    def run() -> None:
        with session_scope(factory) as session:
            store_upload(session, parsed, org=ORG, now=now())

    seconds, _ = timed(run)
    return seconds


@contextmanager
def postgres_schema(url: str) -> Iterator[Engine]:
    """Yield an engine on a fresh, migrated schema ``bench_<hex>``; drop the schema after."""
    admin = make_engine(url)
    schema = "bench_" + secrets.token_hex(6)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = make_engine(scoped.render_as_string(hide_password=False))
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Report:
    """Prints figures against the csv baseline."""

    def __init__(self, rows: int, baseline: float) -> None:
        """Remember the row count and the baseline seconds."""
        self.rows = rows
        self.baseline = baseline

    def rate(self, seconds: float) -> str:
        """Rows per second, rounded to a thousand."""
        return f"{round(self.rows / seconds, -3):,.0f} rows/s"

    def line(self, label: str, seconds: float, *, aim: bool = False) -> bool:
        """Print one figure with its ratio; return whether it is within the aim."""
        ratio = seconds / self.baseline
        met = ratio <= AIM
        verdict = f"  (aim <= {AIM:g}x: {'met' if met else 'missed'})" if aim else ""
        print(
            f"{label}: {seconds:.2f} s  ({self.rate(seconds)})  ratio {ratio:.1f}x{verdict}",
            flush=True,
        )
        return met


def measure_baseline(export: Export) -> float:
    """Best of three runs of the csv baseline, checking that it sees every row."""
    best = float("inf")
    for run in range(1, BASELINE_RUNS + 1):
        seconds, count = timed(lambda: count_csv_rows(export.path))
        if count != export.rows:
            raise SystemExit(f"csv baseline counted {count:,} rows, expected {export.rows:,}")
        note(f"csv.reader run {run}: {seconds:.2f} s")
        best = min(best, seconds)
    return best


def measure_sqlite(export: Export, directory: Path, report: Report) -> ParsedUpload:
    """Full ingest (new, then replacement) and its split on SQLite; return the parsed upload."""
    engine = sqlite_engine(directory / "ingest.db")
    try:
        note("full ingest into an empty SQLite database")
        new = ingest(engine, export, "ingest new")
        note("full ingest of the same file again (replacement)")
        again = ingest(engine, export, "ingest replacement")
    finally:
        engine.dispose()
    note("parse+validate only (read_upload)")
    parse_seconds, parsed = timed(lambda: read_upload(export.path))
    engine = sqlite_engine(directory / "store.db")
    try:
        note("store only into a second empty SQLite database")
        store_new = store(engine, parsed)
        note("store only again (replacement)")
        store_again = store(engine, parsed)
    finally:
        engine.dispose()
    report.line("ingest (parse+validate+store, SQLite, new)", new, aim=True)
    report.line("ingest (parse+validate+store, SQLite, replacement)", again, aim=True)
    report.line("  parse+validate only (read_upload)", parse_seconds)
    report.line("  store only (store_upload + commit, SQLite, new)", store_new)
    report.line("  store only (store_upload + commit, SQLite, replacement)", store_again)
    return parsed


def measure_postgres(url: str, parsed: ParsedUpload, report: Report) -> None:
    """Store only (new, then replacement) on PostgreSQL in a throw-away schema."""
    with postgres_schema(url) as engine:
        note("store only into an empty PostgreSQL schema")
        store_new = store(engine, parsed)
        note("store only again (replacement)")
        store_again = store(engine, parsed)
    report.line("  store only (store_upload + commit, PostgreSQL, new)", store_new)
    report.line("  store only (store_upload + commit, PostgreSQL, replacement)", store_again)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--rows",
        type=int,
        default=DEFAULT_ROWS,
        help=f"export rows, 8 per dwelling (default {DEFAULT_ROWS:,})",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="also time the store part on this PostgreSQL database (in a throw-away schema)",
    )
    args = parser.parse_args(argv)
    if args.rows < len(PHASES):
        parser.error(f"--rows must be at least {len(PHASES)}")
    return args


def main(argv: list[str] | None = None) -> int:
    """Generate the export, run every measurement and print the figures."""
    args = parse_args(argv)
    configure_logging(log_format="console", level="warning", stream=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as name:
        directory = Path(name)
        note(f"writing an export of {args.rows:,} rows to {directory}")
        seconds, export = timed(lambda: write_export(directory, args.rows))
        size = export.path.stat().st_size / 1e6
        note(f"written in {seconds:.1f} s")
        print(
            f"export: {export.rows:,} rows ({export.dwellings:,} dwellings x {len(PHASES)} phases"
            f" in {export.departments:,} departments), {size:.1f} MB CSV",
            flush=True,
        )
        baseline = measure_baseline(export)
        report = Report(export.rows, baseline)
        print(
            f"csv.reader baseline: {baseline:.2f} s  ({report.rate(baseline)})  best of 3",
            flush=True,
        )
        try:
            parsed = measure_sqlite(export, directory, report)
            if args.postgres:
                measure_postgres(args.postgres, parsed, report)
        except InputError as exc:
            for problem in exc.problems[:10]:
                note(f"  {problem}")
            note(f"the generated export was rejected: {exc}")
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

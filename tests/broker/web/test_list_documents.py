"""The weekly list as shown, as XLSX and as PDF: Danish, traceable, only what was released."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from databases import Database
from listings import LATER, NOTICE, ListWorld, rows, weekly
from openpyxl import load_workbook
from pypdf import PdfReader
from weasyprint import HTML

from broker.db import session_scope
from broker.disclosure import purge
from broker.policy import Mode, Transform
from broker.release import Listing
from broker.web._listing_view import list_view
from broker.web._pdf import local_fetcher, render_pdf, render_print_html
from broker.web._xlsx import render_xlsx
from tests.broker.test_privacy import _assert_absent

MOVED = "ændret: genhusning flyttet fra uge 9 til uge 11"
HEADINGS = [
    "Adresse-id (DAR)",
    "Vejnavn",
    "Husnr.",
    "Etage",
    "Dør",
    "Postnr.",
    "By",
    "Fase",
    "Periode",
    "Startuge (mandag)",
    "Ændring siden forrige liste",
]


@pytest.fixture
def changed(database: Database, tmp_path: Path) -> tuple[ListWorld, Listing]:
    """A second list under a changes policy: one new, one moved a fortnight, one withdrawn."""
    world = ListWorld(database, tmp_path, weekly(Mode.CHANGES))
    world.upload(rows(6))
    world.release()
    world.upload(rows(1, first=2, phases=(NOTICE, LATER)) + rows(4, first=3) + rows(1, first=8))
    return world, world.listing(world.release())


def _allowed(found: Listing, lang: str = "da") -> set[str]:
    """Every text a document may hold: released values, their labels, texts about the release."""
    view = list_view(found, lang)
    allowed = {view.title, view.phase_heading, *view.headings, *view.texts.values(), *view.notes}
    allowed |= {text for pair in view.trace for text in pair}
    for row in view.rows:
        allowed |= {*row.cells, row.change}
        allowed |= {text for line in row.phases for text in (line.label, line.period)}
    return allowed - {""}


def _day(year: int, month: int, day: int) -> dt.datetime:
    """Return the day as openpyxl reads a date cell back: a naive midnight."""
    return dt.datetime.combine(dt.date(year, month, day), dt.time())


def _unzipped(document: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(document)) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())


def test_the_view_says_what_changed_in_danish(changed: tuple[ListWorld, Listing]) -> None:
    """The change column: `ny`, `ændret: genhusning flyttet fra uge 9 til uge 11`, `udgået`."""
    _world, found = changed
    danish = sorted(row.change for row in list_view(found).rows)
    assert danish == ["", "", "", "", "ny", "udgået", MOVED]
    english = {row.change for row in list_view(found, "en").rows}
    assert "changed: rehousing moved from week 9 to week 11" in english
    assert {"new", "withdrawn"} <= english
    periods = {line.period for row in list_view(found).rows for line in row.phases}
    assert periods == {"uge 8 2027", "uge 9-26 2027", "uge 11-26 2027"}


def test_the_xlsx_is_a_filterable_danish_sheet(changed: tuple[ListWorld, Listing]) -> None:
    """Sheet `Liste`: Danish headings, one row per phase, real Monday dates, frozen, filtered."""
    world, found = changed
    book = load_workbook(io.BytesIO(render_xlsx(found)))
    assert book.sheetnames == ["Liste", "Om listen"]
    sheet = book["Liste"]
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0] == HEADINGS
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:K{len(table)}"
    assert all(sheet.column_dimensions[c].width > 0 for c in "ABCDEFGHIJK")
    assert len(table) - 1 == sum(len(row.phases) for row in found.rows) == 14
    mondays = {row[9] for row in table[1:]}
    assert mondays == {_day(2027, 2, 22), _day(2027, 3, 1), _day(2027, 3, 15)}
    assert sheet.cell(row=2, column=10).number_format == "dd-mm-yyyy"
    assert MOVED in {row[10] for row in table}
    about = {row[0]: row[1] for row in book["Om listen"].iter_rows(values_only=True)}
    release = found.release
    assert about["Aftale (politik)"] == release.policy_id == world.policy.id
    assert about["Aftalens version"] == str(world.policy.version)
    assert about["Aftalens hash (SHA-256)"] == world.policy.content_hash
    assert about["Udleverings-id"] == release.id
    assert about["Modtager"] == "albertslund/visitation"
    assert about["Indeks i videregivelsesloggen"] == str(release.log_index)
    assert about["Dannet"] == release.created_at.isoformat(timespec="seconds")


def test_the_xlsx_holds_only_what_was_released(changed: tuple[ListWorld, Listing]) -> None:
    """Every text cell is a released value, its label or a text about the release."""
    _world, found = changed
    document = render_xlsx(found)
    book = load_workbook(io.BytesIO(document))
    allowed = _allowed(found)
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            for value in row:
                assert value is None or isinstance(value, dt.datetime) or value in allowed
    # And every released field of every row is there.
    cells = {value for row in book["Liste"].iter_rows(values_only=True) for value in row}
    for listed in found.rows:
        assert {str(v) for v in listed.fields.values() if v is not None} <= cells
    _assert_absent(_unzipped(document), "the XLSX")
    assert b"0412-" not in _unzipped(document)


def test_a_policy_keeping_dates_writes_real_date_cells(database: Database, tmp_path: Path) -> None:
    """Where the policy keeps dates, start and end are date cells; fewer fields, fewer columns."""
    fields = {
        "vejnavn": Transform.KEEP,
        "husnr": Transform.KEEP,
        "fase": Transform.KEEP,
        "startdato": Transform.KEEP,
        "slutdato": Transform.KEEP,
    }
    world = ListWorld(database, tmp_path, weekly(fields=fields))
    world.upload(rows(6))
    found = world.listing(world.release())
    sheet = load_workbook(io.BytesIO(render_xlsx(found)))["Liste"]
    table = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert table[0] == [
        "Vejnavn",
        "Husnr.",
        "Fase",
        "Periode",
        "Startdato",
        "Slutdato",
        table[0][-1],
    ]
    assert {row[3] for row in table[1:]} == {"24. februar 2027", "1. marts - 30. juni 2027"}
    assert {row[5] for row in table[1:]} == {_day(2027, 2, 24), _day(2027, 6, 30)}


def _pdf_text(document: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(document)).pages]


def test_the_pdf_names_the_release_on_every_page(database: Database, tmp_path: Path) -> None:
    """A long list prints on several pages, each naming the policy, its hash and the release."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(rows(60))
    found = world.listing(world.release())
    pages = _pdf_text(render_pdf(found))
    assert len(pages) > 1
    for number, text in enumerate(pages, start=1):
        flat = "".join(text.split())
        assert found.release.id in flat
        assert world.policy.id in flat
        assert world.policy.content_hash in flat
        assert f"Side {number} af {len(pages)}" in text
        assert "Vejnavn" in text  # the heading row repeats


def test_the_pdf_shows_addresses_phases_and_periods(changed: tuple[ListWorld, Listing]) -> None:
    """The PDF holds the addresses, the phases, the Danish periods and the changes."""
    _world, found = changed
    document = render_pdf(found)
    text = "\n".join(_pdf_text(document))
    for expected in ("Prøvevej", "2620", "varsling", "genhusning", "uge 9-26 2027", "udgået"):
        assert expected in text
    assert "genhusning flyttet fra uge 9 til uge 11" in " ".join(text.split())
    _assert_absent(text.encode(), "the PDF text")
    _assert_absent(document, "the PDF bytes")
    html = render_print_html(found)
    _assert_absent(html.encode(), "the print HTML")
    assert "0412-" not in html
    assert 'lang="da"' in html


def test_a_purged_list_prints_as_purged(database: Database, tmp_path: Path) -> None:
    """After the retention purge the documents say so and hold no rows."""
    world = ListWorld(database, tmp_path, weekly())
    world.upload(rows(6))
    release_id = world.release()
    world.now += dt.timedelta(days=400)
    with session_scope(world.factory) as session:
        purge(session, world.ring, at=world.now, before=world.now.date())
    found = world.listing(release_id)
    text = " ".join(" ".join(_pdf_text(render_pdf(found))).split())
    assert "Denne liste er slettet ved udløbet af opbevaringsperioden." in text
    assert "Prøvevej" not in text
    sheet = load_workbook(io.BytesIO(render_xlsx(found)))["Liste"]
    assert sheet.max_row == 1


def test_the_pdf_fetches_nothing_over_the_network() -> None:
    """The fetcher WeasyPrint gets refuses http: a local server sees no request."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        html = f'<link rel="stylesheet" href="{url}/x.css"><img src="{url}/x.png"><p>x</p>'
        assert HTML(string=html, url_fetcher=local_fetcher()).write_pdf()
        assert HTML(string=f'<img src="{url}/y.png">').write_pdf()  # the control: fetched
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["/y.png"]


def test_the_app_is_built_without_importing_weasyprint(tmp_path: Path) -> None:
    """`broker serve`'s app (with the list pages and their PDF) loads WeasyPrint only for a PDF.

    In a fresh interpreter: this one has imported it already. Its import (Pango through
    cffi, fontTools) would cost every start about a second.
    """
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from broker.api import create_app\n"
        "from broker.config import Settings\n"
        "from broker.policy import PolicyRegistry\n"
        "home = Path(sys.argv[1])\n"
        "app = create_app(Settings(home=home, scheduler=False), policies=PolicyRegistry(home))\n"
        "assert 'broker.web._pdf' in sys.modules  # the PDF's module is there\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'weasyprint'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"  # after the log's line on the missing keys

"""The contact-check pages, in process: find, ask, receive, consent; scope; nothing more shown.

A site of two departments of bo-vest (``blokland``, the coordinator's, and
``andenblok``), every export row holding the planted personal values, a real
receiver for ``albertslund/bostoette`` on 127.0.0.1 and the pages' clock frozen.
A check's release is delivered by the real delivery run with the broker's hooks.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from databases import Database
from factories import dwelling_rows, with_personal, write_csv
from fastapi import FastAPI
from publishing import deliver_published
from sqlalchemy import select, text
from webclient import WebUser, page_client, sign_in, web_app

from broker.access import Role
from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.ingest.service import ingest_file
from broker.keys import init_keys, load_keys
from broker.receiver import Receiver, make_receiver_server
from broker.renovation import Department, Dwelling
from broker.wiring import delivery_hooks
from tests.broker.test_privacy import PLANTED, _assert_absent

pytestmark = pytest.mark.anyio

# The receiver checks a signature's time against its own clock: the pages and the delivery
# run on the real clock (a module-level "now" is minutes old by the time a long run gets here).
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
START, END = NOW.date() + dt.timedelta(days=10), NOW.date() + dt.timedelta(days=60)
REHOUSING = (("genhusning", START, END),)
LONG_AGO = (("genhusning", dt.date(2025, 3, 1), dt.date(2025, 6, 30)),)
MONTHS = ("januar", "februar", "marts", "april", "maj", "juni", "juli", "august")
MONTHS += ("september", "oktober", "november", "december")


def _weeks() -> str:
    """The rehousing's period as a Danish reader writes it: ``uge 9-26 2027``."""
    (first_year, first, _), (last_year, last, _) = START.isocalendar(), END.isocalendar()
    if first_year == last_year:
        return f"uge {first}-{last} {last_year}"
    return f"uge {first} {first_year} - uge {last} {last_year}"


def _today() -> str:
    """Today in Copenhagen as a Danish reader writes it: ``2. december 2026``."""
    day = dt.datetime.now(dt.UTC).astimezone(ZoneInfo("Europe/Copenhagen")).date()
    return f"{day.day}. {MONTHS[day.month - 1]} {day.year}"


CHECK_PATH = re.compile(r"^/kontakttjek/(cc-[0-9a-f]{24})\?besked=(sendt|aaben)$")


@dataclass
class Site:
    """The broker, its receiver's settings, and the dwellings by department."""

    app: FastAPI
    settings: Settings
    refs: dict[str, list[str]]

    def deliver(self) -> None:
        """Deliver what is due, as the server's delivery run does (with its hooks)."""
        factory = self.app.state.session_factory
        ring = load_keys(self.settings)
        with httpx.Client() as http:
            attempts = deliver_published(
                factory,
                self.settings,
                ring,
                http,
                lambda: dt.datetime.now(dt.UTC),
                hooks=delivery_hooks(self.settings),
            )
        assert attempts, "nothing was due"
        assert all(a.delivered for a in attempts), attempts

    def log_size(self) -> int:
        """How many entries the disclosure log holds."""
        with session_scope(self.app.state.session_factory) as session:
            return int(session.scalar(text("SELECT count(*) FROM log_entries")) or 0)


@pytest.fixture
def site(database: Database, tmp_path: Path) -> Iterator[Site]:
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    ring = load_keys(Settings(home=home))
    rows = dwelling_rows(4, phases=REHOUSING)
    rows += dwelling_rows(2, first=5, department="Andenblok", phases=REHOUSING)
    rows += dwelling_rows(1, first=7, phases=LONG_AGO)
    with session_scope(make_session_factory(database.engine)) as session:
        export = write_csv(tmp_path / "export.csv", with_personal(rows, PLANTED))
        ingest_file(session, export, org="bo-vest", now=NOW)
        # By tenancy number: dwelling 1 (Prøvevej 1, st. tv) first, dwelling 7 (long past) last.
        found = session.execute(
            select(Department.code, Dwelling.ref)
            .join(Dwelling.department)
            .order_by(Dwelling.lejemaalsnr)
        )
        refs: dict[str, list[str]] = {}
        for code, ref in found:
            refs.setdefault(code, []).append(ref)
    server = make_receiver_server(Receiver(tmp_path / "received", ring.public_keys), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/releases"
    recipient = RecipientSettings(id="albertslund/bostoette", webhook=url)  # type: ignore[arg-type]
    app = web_app(database, home, recipients=(recipient,))
    try:
        yield Site(app, app.state.settings, refs)
    finally:
        server.shutdown()
        server.server_close()


async def _coordinator(client: httpx.AsyncClient, site: Site) -> WebUser:
    return await sign_in(
        client, site.app.state.session_factory, role=Role.COORDINATOR, org="bo-vest"
    )


async def _visitator(client: httpx.AsyncClient, site: Site, org: str = "albertslund") -> WebUser:
    return await sign_in(client, site.app.state.session_factory, role=Role.VISITATOR, org=org)


def _affected(site: Site) -> str:
    """A dwelling of the coordinator's department with a coming rehousing."""
    return site.refs["blokland"][0]


async def _request(client: httpx.AsyncClient, user: WebUser, ref: str) -> tuple[str, str]:
    """Press the dwelling page's button; return the check's id and the note it is shown with."""
    answer = await client.post(f"/opslag/{ref}", data=user.form())
    assert answer.status_code == 303, answer.text
    found = CHECK_PATH.match(answer.headers["location"])
    assert found is not None, answer.headers["location"]
    return found.group(1), found.group(2)


async def test_a_coordinator_finds_a_dwelling_asks_and_sees_the_answer(site: Site) -> None:
    """Search, the dwelling's phases, one button, modtaget once delivered, then the consent."""
    async with page_client(site.app) as coordinator, page_client(site.app) as visitator:
        user = await _coordinator(coordinator, site)
        # 1. A partial address, in another case and with aa for ø's neighbour å-spelling.
        search = await coordinator.get("/opslag", params={"q": "proevevej 1 st"})
        assert search.status_code == 200
        assert f'href="/opslag/{_affected(site)}"' in search.text
        assert "Prøvevej 1, st. tv, 2620 Albertslund" in search.text

        # 2. The dwelling: its coming phase as the contact-check policy releases it.
        page = await coordinator.get(f"/opslag/{_affected(site)}")
        assert page.status_code == 200
        assert _weeks() in page.text
        assert "Anmod om kontakttjek" in page.text
        assert "koordinator@bo-vest.example" in page.text

        # 3. One button; pressed again, the open check is shown and nothing is sent again.
        check_id, note = await _request(coordinator, user, _affected(site))
        assert note == "sendt"
        size = site.log_size()
        again, note = await _request(coordinator, user, _affected(site))
        assert (again, note) == (check_id, "aaben")
        assert site.log_size() == size
        shown = await coordinator.get(f"/kontakttjek/{check_id}?besked=aaben")
        assert "Der er allerede et åbent tjek på boligen" in shown.text
        assert "anmodet" in shown.text
        dwelling = await coordinator.get(f"/opslag/{_affected(site)}")
        assert "Der er et åbent kontakttjek" in dwelling.text
        assert "Anmod om kontakttjek" not in dwelling.text

        # 4. Delivered: modtaget on both of the coordinator's pages.
        site.deliver()
        assert "modtaget" in (await coordinator.get(f"/kontakttjek/{check_id}")).text
        listed = await coordinator.get("/kontakttjek")
        assert "Prøvevej 1, st. tv, 2620 Albertslund" in listed.text
        assert "modtaget" in listed.text
        assert _today() in listed.text

        # 5. The visitator sees the address as released and records the consent.
        municipality = await _visitator(visitator, site)
        open_checks = await visitator.get("/kontakttjek")
        assert f'href="/kontakttjek/{check_id}"' in open_checks.text
        assert "Prøvevej 1, st. tv, 2620 Albertslund" in open_checks.text
        form = await visitator.get(f"/kontakttjek/{check_id}")
        assert "Registrér samtykke" in form.text
        answered = await visitator.post(
            f"/kontakttjek/{check_id}", data=municipality.form(samtykkereference="SAG-2027-0042")
        )
        assert answered.status_code == 303
        assert answered.headers["location"] == f"/kontakttjek/{check_id}?besked=besvaret"

        final = await coordinator.get("/kontakttjek")
        assert "borgeren giver samtykke" in final.text
        assert "SAG-2027-0042" in final.text


async def test_consent_is_refused_until_the_check_is_received(site: Site) -> None:
    """Before delivery the form is not offered, and a posted consent changes nothing (409)."""
    async with page_client(site.app) as coordinator, page_client(site.app) as visitator:
        user = await _coordinator(coordinator, site)
        check_id, _ = await _request(coordinator, user, _affected(site))
        municipality = await _visitator(visitator, site)
        page = await visitator.get(f"/kontakttjek/{check_id}")
        assert "Registrér samtykke" not in page.text
        assert "ikke nået frem til kommunen endnu" in page.text
        size = site.log_size()
        early = await visitator.post(
            f"/kontakttjek/{check_id}", data=municipality.form(samtykkereference="SAG-2027-0042")
        )
        assert early.status_code == 409
        assert "Samtykket blev ikke registreret" in early.text
        assert site.log_size() == size
        assert "anmodet" in (await coordinator.get(f"/kontakttjek/{check_id}")).text


async def test_a_consent_reference_with_personal_data_is_refused_and_not_repeated(
    site: Site,
) -> None:
    """A CPR number or a name as the reference: 422, the rule shown, the value nowhere."""
    async with page_client(site.app) as coordinator, page_client(site.app) as visitator:
        user = await _coordinator(coordinator, site)
        check_id, _ = await _request(coordinator, user, _affected(site))
        site.deliver()
        municipality = await _visitator(visitator, site)
        size = site.log_size()
        for typed in (PLANTED["CPR"], PLANTED["Lejer navn"] + " og mere", "Zq#"):
            refused = await visitator.post(
                f"/kontakttjek/{check_id}", data=municipality.form(samtykkereference=typed)
            )
            assert refused.status_code == 422
            assert "4-40 bogstaver, tal og bindestreger" in refused.text
            assert typed not in refused.text
        assert site.log_size() == size
        assert "modtaget" in (await coordinator.get(f"/kontakttjek/{check_id}")).text


async def test_the_search_finds_only_the_coordinators_departments(site: Site) -> None:
    """Another department's dwelling is not found; bad or personal input is refused unrepeated."""
    async with page_client(site.app) as coordinator:
        await _coordinator(coordinator, site)
        empty = await coordinator.get("/opslag")
        assert empty.status_code == 200
        assert "Fundne boliger" not in empty.text
        everything = await coordinator.get("/opslag", params={"q": "Prøvevej"})
        for ref in site.refs["blokland"]:
            assert f"/opslag/{ref}" in everything.text
        for ref in site.refs["andenblok"]:
            assert f"/opslag/{ref}" not in everything.text
        nothing = await coordinator.get("/opslag", params={"q": "Ukendtvej 9"})
        assert "Ingen bolig i dine afdelinger har den adresse." in nothing.text
        short = await coordinator.get("/opslag", params={"q": "P"})
        assert short.status_code == 422
        assert "Skriv en adresse på 2-100 tegn" in short.text
        for typed in (PLANTED["CPR"], PLANTED["Telefon"], PLANTED["E-mail"]):
            personal = await coordinator.get("/opslag", params={"q": typed})
            assert personal.status_code == 422
            assert "aldrig på et navn, et CPR-nummer" in personal.text
            assert typed not in personal.text


async def test_out_of_scope_is_not_found_and_the_wrong_role_is_refused(site: Site) -> None:
    """Another department's dwelling or municipality's check: 404; a coordinator's consent: 403."""
    async with (
        page_client(site.app) as coordinator,
        page_client(site.app) as other,
        page_client(site.app) as visitator,
    ):
        user = await _coordinator(coordinator, site)
        foreign = site.refs["andenblok"][0]
        size = site.log_size()
        assert (await coordinator.get(f"/opslag/{foreign}")).status_code == 404
        refused = await coordinator.post(f"/opslag/{foreign}", data=user.form())
        assert refused.status_code == 404
        assert site.log_size() == size
        check_id, _ = await _request(coordinator, user, _affected(site))
        site.deliver()
        elsewhere = await _visitator(other, site, org="ishoej")
        assert (await other.get(f"/kontakttjek/{check_id}")).status_code == 404
        assert check_id not in (await other.get("/kontakttjek")).text
        not_theirs = await other.post(
            f"/kontakttjek/{check_id}", data=elsewhere.form(samtykkereference="SAG-2027-0042")
        )
        assert not_theirs.status_code == 404
        wrong_role = await coordinator.post(
            f"/kontakttjek/{check_id}", data=user.form(samtykkereference="SAG-2027-0042")
        )
        assert wrong_role.status_code == 403
        await _visitator(visitator, site)
        assert "modtaget" in (await visitator.get(f"/kontakttjek/{check_id}")).text


async def test_a_dwelling_not_affected_now_cannot_be_asked_about(site: Site) -> None:
    """A rehousing long past: the page says why, and a posted request records nothing (422)."""
    past = site.refs["blokland"][-1]
    async with page_client(site.app) as coordinator:
        user = await _coordinator(coordinator, site)
        page = await coordinator.get(f"/opslag/{past}")
        assert page.status_code == 200
        assert "ikke berørt inden for aftalen lige nu" in page.text
        assert "Anmod om kontakttjek" not in page.text
        size = site.log_size()
        refused = await coordinator.post(f"/opslag/{past}", data=user.form())
        assert refused.status_code == 422
        assert site.log_size() == size


async def test_the_coordinators_pages_are_identical_whatever_the_visitator_does(
    site: Site,
) -> None:
    """Reading the list, the check, or doing nothing: the coordinator's pages are the same bytes."""
    async with page_client(site.app) as coordinator, page_client(site.app) as visitator:
        user = await _coordinator(coordinator, site)
        check_id, _ = await _request(coordinator, user, _affected(site))
        site.deliver()
        pages = ("/kontakttjek", f"/kontakttjek/{check_id}", f"/opslag/{_affected(site)}")
        before = [(await coordinator.get(path)).content for path in pages]
        await _visitator(visitator, site)
        await visitator.get("/kontakttjek")
        await visitator.get(f"/kontakttjek/{check_id}")
        after = [(await coordinator.get(path)).content for path in pages]
    assert before == after


async def test_no_planted_personal_value_reaches_a_contact_page(site: Site) -> None:
    """Every contact page of both sides, in both languages, holds none of the planted values."""
    async with page_client(site.app) as coordinator, page_client(site.app) as visitator:
        user = await _coordinator(coordinator, site)
        check_id, _ = await _request(coordinator, user, _affected(site))
        site.deliver()
        await _visitator(visitator, site)
        seen = 0
        for lang in ("da", "en"):
            for path in (
                "/opslag?q=pr",
                f"/opslag/{_affected(site)}",
                f"/opslag/{site.refs['blokland'][-1]}",
                "/kontakttjek",
                f"/kontakttjek/{check_id}",
            ):
                answer = await coordinator.get(path, params={"lang": lang})
                assert answer.status_code == 200, path
                _assert_absent(answer.content, f"{path} ({lang}, coordinator)")
                seen += 1
            for path in ("/kontakttjek", f"/kontakttjek/{check_id}"):
                answer = await visitator.get(path, params={"lang": lang})
                assert answer.status_code == 200, path
                assert "Prøvevej" in answer.text
                _assert_absent(answer.content, f"{path} ({lang}, visitator)")
                seen += 1
    assert seen == 14

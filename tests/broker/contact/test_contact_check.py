"""The contact check over the whole flow: request, delivery, `received`, consent, closing."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from databases import Database
from factories import dwelling_rows, with_personal, write_csv
from publishing import deliver_published
from sqlalchemy import select

from broker.access import create_token
from broker.api import create_app
from broker.config import RecipientSettings, Settings
from broker.contact.models import ContactCheck
from broker.contact.service import close_unanswered
from broker.db import make_session_factory, session_scope
from broker.disclosure import EntryFilter, entries
from broker.ingest.service import ingest_file
from broker.keys import init_keys, load_keys
from broker.receiver import Receiver, make_receiver_server
from broker.renovation import Dwelling
from broker.wiring import delivery_hooks
from tests.broker.test_privacy import PLANTED, _assert_absent

POLICIES = Path(__file__).resolve().parents[3] / "policies"
TODAY = dt.datetime.now(dt.UTC)
SOON = (("genhusning", TODAY.date() + dt.timedelta(days=10), TODAY.date() + dt.timedelta(days=60)),)
CONTACT = "koordinator@bo-vest.example"


@pytest.fixture
def world(database: Database, tmp_path: Path) -> Iterator[dict[str, object]]:
    """Keys, a schedule, tokens, a receiver for albertslund/bostoette, and the app."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    ring = load_keys(Settings(home=home))
    factory = make_session_factory(database.engine)
    # Every personal column of the export holds a planted value: none may come out.
    rows = dwelling_rows(4, phases=SOON)
    rows += dwelling_rows(2, first=5, department="Andenblok", phases=SOON)
    rows = with_personal(rows, PLANTED)
    with session_scope(factory) as session:
        ingest_file(session, write_csv(tmp_path / "export.csv", rows), org="bo-vest", now=TODAY)
        refs = {
            code: sorted(
                session.scalars(
                    select(Dwelling.ref)
                    .join(Dwelling.department)
                    .where(Dwelling.department.has(code=code))
                )
            )
            for code in ("blokland", "andenblok")
        }
        _, coordinator = create_token(
            session,
            role="coordinator",
            org="bo-vest",
            departments=("blokland",),
            contact=CONTACT,
            now=TODAY,
        )
        _, visitator = create_token(session, role="visitator", org="albertslund", now=TODAY)
        _, other = create_token(session, role="visitator", org="ishoej", now=TODAY)
    store = tmp_path / "received"
    server = make_receiver_server(Receiver(store, ring.public_keys), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/releases"
    recipient = RecipientSettings(id="albertslund/bostoette", webhook=url)  # type: ignore[arg-type]
    settings = Settings(home=home, policies_dir=POLICIES, scheduler=False, recipients=(recipient,))
    app = create_app(settings, engine=database.engine)
    try:
        yield {
            "app": app,
            "refs": refs,
            "factory": factory,
            "settings": settings,
            "ring": ring,
            "coordinator": coordinator,
            "visitator": visitator,
            "other": other,
            "store": store,
        }
    finally:
        server.shutdown()
        server.server_close()


def client(world: dict[str, object], who: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {world[who]}"}
    transport = httpx.ASGITransport(app=world["app"])  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


def deliver(world: dict[str, object]) -> None:
    with httpx.Client() as http:
        attempts = deliver_published(
            world["factory"],
            world["settings"],
            world["ring"],
            http,
            lambda: dt.datetime.now(dt.UTC),  # type: ignore[arg-type]
            hooks=delivery_hooks(world["settings"]),  # type: ignore[arg-type]
        )
    assert attempts, "nothing was due"
    assert all(a.delivered for a in attempts), attempts


@pytest.mark.anyio
async def test_the_whole_flow(world: dict[str, object]) -> None:
    """Request, delivery (received), consent: each on record; only the policy's fields leave."""
    ref = world["refs"]["blokland"][0]  # type: ignore[index]
    async with client(world, "coordinator") as coordinator, client(world, "visitator") as visitator:
        created = await coordinator.post("/v1/contact-checks", json={"dwelling": ref})
        assert created.status_code == 201, created.text
        check = created.json()
        assert (check["status"], check["dwelling"], check["release_id"]) == ("requested", ref, None)
        deliver(world)
        seen = await coordinator.get(f"/v1/contact-checks/{check['id']}")
        assert seen.json()["status"] == "received"

        listed = await visitator.get("/v1/contact-checks")
        assert [c["id"] for c in listed.json()] == [check["id"]]
        replied = await visitator.post(
            f"/v1/contact-checks/{check['id']}/reply",
            json={"outcome": "resident-consents-to-contact", "consent_reference": "SAG-2026-0042"},
        )
        assert replied.status_code == 200, replied.text
        final = (await coordinator.get(f"/v1/contact-checks/{check['id']}")).json()
    assert (final["status"], final["consent_reference"]) == (
        "resident-consents-to-contact",
        "SAG-2026-0042",
    )

    stored = json.loads(next((world["store"] / "releases").iterdir()).read_bytes())  # type: ignore[operator]
    content = stored["release"]
    assert content["coordinator_contact"] == CONTACT
    assert set(content["dwelling"]) == {
        "key",
        "adresseid",
        "vejnavn",
        "husnr",
        "etage",
        "doer",
        "postnr",
        "postnrnavn",
        "phases",
    }
    with world["factory"]() as session:  # type: ignore[operator]
        events = [
            (e["event"], e.get("outcome")) for e in entries(session.connection(), EntryFilter())
        ]
    assert ("contact-check", None) in events
    assert ("contact-check-reply", "received") in events
    assert ("contact-check-reply", "resident-consents-to-contact") in events


@pytest.mark.anyio
async def test_the_coordinators_view_is_identical_whatever_the_visitator_does(
    world: dict[str, object],
) -> None:
    """Reading, listing, fetching or doing nothing: the coordinator sees the same bytes."""
    ref = world["refs"]["blokland"][1]  # type: ignore[index]
    async with client(world, "coordinator") as coordinator, client(world, "visitator") as visitator:
        check = (await coordinator.post("/v1/contact-checks", json={"dwelling": ref})).json()
        deliver(world)
        before = (await coordinator.get(f"/v1/contact-checks/{check['id']}")).content
        listing_before = (await coordinator.get("/v1/contact-checks")).content
        await visitator.get("/v1/contact-checks")
        await visitator.get(f"/v1/contact-checks/{check['id']}")
        await visitator.get(f"/v1/contact-checks/{check['id']}")
        after = (await coordinator.get(f"/v1/contact-checks/{check['id']}")).content
        listing_after = (await coordinator.get("/v1/contact-checks")).content
    assert before == after
    assert listing_before == listing_after


@pytest.mark.anyio
async def test_scope_and_input_are_enforced(world: dict[str, object]) -> None:
    """Another department's dwelling or another municipality's check is 404; free text is 422."""
    refs = world["refs"]
    async with (
        client(world, "coordinator") as coordinator,
        client(world, "other") as other,
        client(world, "visitator") as visitator,
    ):
        foreign = await coordinator.post(
            "/v1/contact-checks", json={"dwelling": refs["andenblok"][0]}
        )  # type: ignore[index]
        assert foreign.status_code == 404
        assert foreign.headers["content-type"] == "application/problem+json"
        note = await coordinator.post(
            "/v1/contact-checks",
            json={"dwelling": refs["blokland"][2], "note": "hun er syg"},  # type: ignore[index]
        )
        assert note.status_code == 422
        assert "syg" not in note.text
        check = (
            await coordinator.post("/v1/contact-checks", json={"dwelling": refs["blokland"][2]})
        ).json()  # type: ignore[index]
        assert (await other.get(f"/v1/contact-checks/{check['id']}")).status_code == 404
        assert (await other.get("/v1/contact-checks")).json() == []
        by_coordinator = await coordinator.post(
            f"/v1/contact-checks/{check['id']}/reply",
            json={"outcome": "resident-consents-to-contact", "consent_reference": "SAG-1"},
        )
        assert by_coordinator.status_code == 403
        bad_reference = await visitator.post(
            f"/v1/contact-checks/{check['id']}/reply",
            json={"outcome": "resident-consents-to-contact", "consent_reference": "010203-1234"},
        )
        assert bad_reference.status_code == 422
        assert "010203" not in bad_reference.text
        other_outcome = await visitator.post(
            f"/v1/contact-checks/{check['id']}/reply", json={"outcome": "declined"}
        )
        assert other_outcome.status_code == 422


@pytest.mark.anyio
async def test_unanswered_checks_close_alike(world: dict[str, object]) -> None:
    """After the set time every open check closes with the same outcome, on record."""
    refs = world["refs"]["blokland"]  # type: ignore[index]
    async with client(world, "coordinator") as coordinator:
        ids = [
            (await coordinator.post("/v1/contact-checks", json={"dwelling": ref})).json()["id"]
            for ref in refs[:2]
        ]
        deliver(world)  # one received, ...
        ids.append(
            (await coordinator.post("/v1/contact-checks", json={"dwelling": refs[2]})).json()["id"]
        )
        with session_scope(world["factory"]) as session:  # type: ignore[arg-type]
            closed = close_unanswered(
                session,
                world["ring"],
                older_than=dt.timedelta(0),
                now=dt.datetime.now(dt.UTC),  # type: ignore[arg-type]
            )
        views = [(await coordinator.get(f"/v1/contact-checks/{i}")).json() for i in ids]
    assert closed == 3
    assert {v["status"] for v in views} == {"closed"}
    with world["factory"]() as session:  # type: ignore[operator]
        assert {c.status for c in session.scalars(select(ContactCheck))} == {"closed"}


def _week(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _log_size(world: dict[str, object]) -> int:
    with world["factory"]() as session:  # type: ignore[operator]
        return len(list(entries(session.connection(), EntryFilter())))


@pytest.mark.anyio
async def test_a_coordinator_finds_a_dwelling_and_previews_the_check(
    world: dict[str, object],
) -> None:
    """Search by partial address (own departments only); the preview is the policy's, unsent."""
    refs = world["refs"]
    async with client(world, "coordinator") as coordinator:
        found = await coordinator.get("/v1/dwellings", params={"q": "prøvevej 1"})
        tiny = await coordinator.get("/v1/dwellings", params={"q": "p"})
        before = _log_size(world)
        preview = await coordinator.get(f"/v1/dwellings/{refs['blokland'][0]}/contact-preview")  # type: ignore[index]
        foreign = await coordinator.get(f"/v1/dwellings/{refs['andenblok'][0]}/contact-preview")  # type: ignore[index]
        after = _log_size(world)
    assert found.status_code == 200, found.text
    rows = found.json()["dwellings"]
    assert {d["dwelling"] for d in rows} == set(refs["blokland"])  # type: ignore[index]
    assert [d["address"] for d in rows] == [
        f"Prøvevej 1, {unit}, 2620 Albertslund" for unit in ("st. tv", "st. mf", "st. th", "1. tv")
    ]
    assert {key for d in rows for key in d} == {"dwelling", "address"}
    address = {d["dwelling"]: d["address"] for d in rows}
    assert (tiny.status_code, tiny.json()["errors"][0]["field"]) == (422, "q")
    assert preview.status_code == 200, preview.text
    start, end = SOON[0][1], SOON[0][2]
    assert preview.json() == {
        "dwelling": refs["blokland"][0],  # type: ignore[index]
        "address": address[refs["blokland"][0]],  # type: ignore[index]
        "sendable": True,
        "phases": [{"fase": "genhusning", "startdato": _week(start), "slutdato": _week(end)}],
        "open_check": None,
    }
    assert foreign.status_code == 404
    assert after == before, "a preview put something on record"


@pytest.mark.anyio
async def test_a_second_request_returns_the_open_check(world: dict[str, object]) -> None:
    """While a check is open, a request answers 200 with it and sends nothing again."""
    ref = world["refs"]["blokland"][0]  # type: ignore[index]
    async with client(world, "coordinator") as coordinator:
        first = await coordinator.post("/v1/contact-checks", json={"dwelling": ref})
        size = _log_size(world)
        again = await coordinator.post("/v1/contact-checks", json={"dwelling": ref})
        unchanged = _log_size(world)
        preview = await coordinator.get(f"/v1/dwellings/{ref}/contact-preview")
        with session_scope(world["factory"]) as session:  # type: ignore[arg-type]
            close_unanswered(
                session, world["ring"], older_than=dt.timedelta(0), now=dt.datetime.now(dt.UTC)
            )  # type: ignore[arg-type]
        anew = await coordinator.post("/v1/contact-checks", json={"dwelling": ref})
    assert (first.status_code, again.status_code, anew.status_code) == (201, 200, 201)
    assert again.json() == first.json()
    assert unchanged == size
    assert preview.json()["open_check"] == first.json()
    assert anew.json()["id"] != first.json()["id"]
    with world["factory"]() as session:  # type: ignore[operator]
        checks = session.scalars(select(ContactCheck).where(ContactCheck.dwelling_ref == ref))
        assert sorted(c.status for c in checks) == ["closed", "requested"]


@pytest.mark.anyio
async def test_consent_is_refused_until_the_check_is_delivered(world: dict[str, object]) -> None:
    """Before its release is delivered a reply is 409 and changes nothing; then it is recorded."""
    ref = world["refs"]["blokland"][3]  # type: ignore[index]
    consent = {"outcome": "resident-consents-to-contact", "consent_reference": "SAG-2026-0042"}
    async with client(world, "coordinator") as coordinator, client(world, "visitator") as visitator:
        check = (await coordinator.post("/v1/contact-checks", json={"dwelling": ref})).json()
        early = await visitator.post(f"/v1/contact-checks/{check['id']}/reply", json=consent)
        still = (await coordinator.get(f"/v1/contact-checks/{check['id']}")).json()
        deliver(world)
        listed = (await visitator.get("/v1/contact-checks")).json()
        replied = await visitator.post(f"/v1/contact-checks/{check['id']}/reply", json=consent)
        twice = await visitator.post(f"/v1/contact-checks/{check['id']}/reply", json=consent)
    assert early.status_code == 409
    assert early.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in early.json()["errors"]] == ["check"]
    assert still["status"] == "requested"
    assert [(c["id"], c["status"]) for c in listed] == [(check["id"], "received")]
    # The municipality sees the address as the release carried it (all its fields).
    assert listed[0]["address"] == check["address"]
    assert check["address"].startswith("Prøvevej 1, ")
    assert replied.status_code == 200, replied.text
    assert replied.json()["consent_reference"] == "SAG-2026-0042"
    assert twice.status_code == 409


@pytest.mark.anyio
async def test_no_new_answer_holds_a_planted_value(world: dict[str, object]) -> None:
    """Search, preview, a repeated request and both sides' lists: none holds personal data."""
    ref = world["refs"]["blokland"][2]  # type: ignore[index]
    async with client(world, "coordinator") as coordinator, client(world, "visitator") as visitator:
        answers = [
            await coordinator.get("/v1/dwellings", params={"q": "Prøvevej"}),
            await coordinator.get("/v1/dwellings", params={"q": PLANTED["CPR"]}),
            await coordinator.get("/v1/dwellings", params={"q": PLANTED["Lejer navn"]}),
            await coordinator.get(f"/v1/dwellings/{ref}/contact-preview"),
            await coordinator.post("/v1/contact-checks", json={"dwelling": ref}),
            await coordinator.post("/v1/contact-checks", json={"dwelling": ref}),
            await coordinator.get(f"/v1/dwellings/{ref}/contact-preview"),
        ]
        deliver(world)
        answers += [
            await coordinator.get("/v1/contact-checks"),
            await visitator.get("/v1/contact-checks"),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 201, 200, 200, 200, 200]
    assert answers[1].json()["dwellings"] == answers[2].json()["dwellings"] == []
    for answer in answers:
        assert b"Albertslund" in answer.content or answer.json() == {"dwellings": [], "more": False}
        _assert_absent(answer.content, f"{answer.request.method} {answer.request.url}")

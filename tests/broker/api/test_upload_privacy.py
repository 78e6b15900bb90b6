"""Privacy over HTTP: planted personal values in an upload never reach a response or a log line."""

from __future__ import annotations

import pytest
from databases import Database
from factories import (
    csv_bytes,
    dwelling_rows,
    export_row,
    upload_document,
    with_personal,
    xlsx_bytes,
)
from structlog.testing import capture_logs

from broker.access import Role
from broker.db import make_session_factory, session_scope
from broker.disclosure.publishing import integrate_pending
from broker.keys import load_keys
from broker.release import release
from tests.broker.api.conftest import SOON, TODAY, World, policy
from tests.broker.test_privacy import (
    DROPPED,
    PLANTED,
    PLANTED_HEADINGS,
    _assert_absent,
    _stored_bytes,
    personal_heading_rows,
)

H, V, U = Role.HOUSING, Role.VISITATOR, Role.AUDITOR
KEPT_STREET = "Kontrolvej"
# Each upload here replaces the one before: the withdrawal guard is not what is tested.
ALLOW = {"allow_withdraw": 1000}


def _release(world: World) -> None:
    ring = load_keys(world.settings)
    with session_scope(make_session_factory(world.app.state.engine)) as session:
        made = release(
            session, ring, policy("albertslund-visitation-weekly"), run_at=TODAY, now=TODAY
        )
        assert made.release is not None
    integrate_pending(world.app.state.engine, ring)  # as the server's publisher does


@pytest.mark.anyio
async def test_planted_values_never_reach_a_response_header_or_log(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Accepted and rejected uploads, and every read after them, hold no planted value."""
    rows = [{**row, "Vejnavn": KEPT_STREET} for row in dwelling_rows(6, phases=SOON)]
    export = csv_bytes(with_personal(rows, PLANTED))
    assert PLANTED["CPR"].encode() in export  # the input really holds them
    document = upload_document(3, lejer=PLANTED["Lejer navn"], telefon=PLANTED["Telefon"])
    typed_in = upload_document(1)
    typed_in["departments"][0]["dwellings"][0]["vejnavn"] = PLANTED["CPR"]
    misplaced = csv_bytes(
        [export_row(Vejnavn=PLANTED["E-mail"]), export_row(Lejemålsnr="2", By=PLANTED["CPR"])]
    )
    named = f"{PLANTED['Lejer navn']}.csv"
    with capture_logs() as events:
        async with world.client() as client:
            answers = [
                await client.post(
                    "/v1/schedules",
                    params=ALLOW,
                    files={"file": (named, export, "text/csv")},
                    headers=world.auth(H),
                ),
                await client.post(
                    "/v1/schedules", json=document, headers=world.auth(H), params=ALLOW
                ),
                await client.post(
                    "/v1/schedules", json=typed_in, headers=world.auth(H), params=ALLOW
                ),
                await client.post(
                    "/v1/schedules",
                    params=ALLOW,
                    files={"file": (named, misplaced, "text/csv")},
                    headers=world.auth(H),
                ),
                await client.post(
                    "/v1/schedules",
                    params=ALLOW,
                    files={"file": (f"{PLANTED['Bemærkning']}.pdf", export, "application/pdf")},
                    headers=world.auth(H),
                ),
            ]
            # Put the uploaded blokland back, release it, and read everything there is.
            answers.append(
                await client.post(
                    "/v1/schedules",
                    params=ALLOW,
                    files={"file": (named, export, "text/csv")},
                    headers=world.auth(H),
                )
            )
            _release(world)
            listed = await client.get("/v1/releases", headers=world.auth(V))
            newest = listed.json()["releases"][0]["id"]
            answers += [
                listed,
                await client.get(f"/v1/releases/{newest}", headers=world.auth(V)),
                await client.get("/v1/departments", headers=world.auth(H)),
                await client.get("/v1/departments/blokland/dwellings", headers=world.auth(H)),
                await client.get("/v1/log/entries", headers=world.auth(U)),
                await client.get("/v1/log/export", headers=world.auth(U)),
            ]
    assert [a.status_code for a in answers] == [201, 201, 422, 422, 422, 201] + [200] * 6
    assert KEPT_STREET in answers[-3].text  # the scan does see what is served
    assert answers[0].json()["dropped_columns"] == list(PLANTED)
    assert answers[1].json()["dropped_columns"] == ["lejer_navn", "telefon"]
    assert answers[3].json()["errors"][0] == {
        "field": "Vejnavn",
        "row": 2,
        "rule": "looks like an e-mail address: remove personal data",
    }
    for answer in answers:
        where = f"{answer.request.method} {answer.request.url.path} -> {answer.status_code}"
        _assert_absent(answer.content, where)
        _assert_absent(str(answer.headers).encode(), f"headers of {where}")
    assert any(event["event"] == "ingest.stored" for event in events)
    _assert_absent(repr(events).encode(), "the structlog events")
    _assert_absent(caplog.text.encode(), "the standard library's log records")


@pytest.mark.anyio
async def test_planted_headings_keys_and_sheet_names_never_answered_logged_or_stored(
    world: World, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """Personal text as headings, keys or a sheet name reaches no answer, log line or table."""
    rows = personal_heading_rows()
    export = csv_bytes(rows)
    workbook = xlsx_bytes(list(rows), sheet_title=PLANTED_HEADINGS[0])
    keyed = upload_document(3, **dict.fromkeys(PLANTED_HEADINGS, "x"))
    keyed[PLANTED_HEADINGS[1]] = "x"
    rejected = upload_document(1, **dict.fromkeys(PLANTED_HEADINGS, "x"))
    rejected["departments"][0]["dwellings"][0]["etage"] = "x"
    sheet = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    with capture_logs() as events:
        async with world.client() as client:
            answers = [
                await client.post(
                    "/v1/schedules",
                    params=ALLOW,
                    files={"file": ("export.csv", export, "text/csv")},
                    headers=world.auth(H),
                ),
                await client.post(
                    "/v1/schedules",
                    params=ALLOW,
                    files={"file": ("export.xlsx", workbook, sheet)},
                    headers=world.auth(H),
                ),
                await client.post("/v1/schedules", json=keyed, headers=world.auth(H), params=ALLOW),
                await client.post(
                    "/v1/schedules", json=rejected, headers=world.auth(H), params=ALLOW
                ),
            ]
    assert [a.status_code for a in answers] == [201, 201, 201, 422]
    assert answers[0].json()["dropped_columns"] == DROPPED
    assert answers[1].json()["dropped_columns"] == DROPPED
    assert answers[2].json()["dropped_columns"] == [
        f"key {n} of departments[0].dwellings[0] (unknown key)" for n in (10, 11, 12)
    ]
    for answer in answers:
        _assert_absent(answer.content, f"the answer {answer.status_code}")
        _assert_absent(str(answer.headers).encode(), "the answer's headers")
    stored_events = [e for e in events if e["event"] == "ingest.stored"]
    assert [e["dropped_columns"] for e in stored_events][:2] == [DROPPED, DROPPED]
    _assert_absent(repr(events).encode(), "the structlog events")
    _assert_absent(caplog.text.encode(), "the standard library's log records")
    database.dispose()
    stored = _stored_bytes(database)
    assert b"unknown heading" in stored  # the scan does see the stored upload records
    _assert_absent(stored, f"the {database.backend} database")

"""Housing routes: the organisation's departments and dwellings, and schedule uploads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from factories import (
    PERSONAL_HEADINGS,
    csv_bytes,
    dwelling_rows,
    upload_document,
    with_personal,
    write_xlsx,
)
from sqlalchemy import func, select

from broker.access import Role
from broker.api._problems import PROBLEM
from broker.renovation import Upload
from tests.broker.api.conftest import OUT, SOON, World

H = Role.HOUSING
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _csv(rows: list[dict[str, str]], name: str = "export.csv") -> dict[str, Any]:
    return {"files": {"file": (name, csv_bytes(rows), "text/csv")}}


def _uploads(world: World) -> int:
    with world.app.state.engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Upload)) or 0)


@pytest.mark.anyio
async def test_departments_with_dwelling_counts(world: World) -> None:
    """An organisation lists its own departments with counts; another sees none of them."""
    async with world.client() as client:
        ours = await client.get("/v1/departments", headers=world.auth(H))
        theirs = await client.get("/v1/departments", headers=world.auth(H, OUT))
    assert [(d["code"], d["dwellings"], d["affected"]) for d in ours.json()] == [
        ("andenblok", 2, 2),
        ("blokland", 6, 6),
    ]
    assert theirs.json() == []


@pytest.mark.anyio
async def test_dwellings_with_address_affected_and_phases(world: World) -> None:
    """Each dwelling shows its reference, address, affected flag and phases; no tenancy number."""
    async with world.client() as client:
        response = await client.get("/v1/departments/blokland/dwellings", headers=world.auth(H))
    dwellings = response.json()
    assert [d["ref"] for d in dwellings] == world.dwellings["blokland"]
    first = dwellings[0]
    assert set(first) == {
        "ref",
        "adresseid",
        "vejnavn",
        "husnr",
        "etage",
        "doer",
        "postnr",
        "postnrnavn",
        "kommunekode",
        "disposition",
        "affected",
        "phases",
        "address",
    }
    assert first["address"] == "Prøvevej 1, st. tv, 2620 Albertslund"
    assert first["affected"] is True
    ((kind, start, end),) = SOON
    assert first["phases"] == [{"kind": kind, "start": start.isoformat(), "end": end.isoformat()}]


@pytest.mark.anyio
async def test_another_organisations_department_is_not_found(world: World) -> None:
    """Another organisation's department answers exactly like one that does not exist."""
    async with world.client() as client:
        hidden = await client.get("/v1/departments/blokland/dwellings", headers=world.auth(H, OUT))
        missing = await client.get("/v1/departments/ingen/dwellings", headers=world.auth(H, OUT))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.headers["content-type"] == PROBLEM
    assert hidden.json() == missing.json()


@pytest.mark.anyio
async def test_json_upload_replaces_the_department(world: World) -> None:
    """A JSON document replaces blokland: new dwellings added, the old ones no longer affected."""
    document = upload_document(3, beboer="x")
    async with world.client() as client:
        # All six known dwellings would be withdrawn: refused until the count is confirmed.
        guarded = await client.post("/v1/schedules", json=document, headers=world.auth(H))
        before = await client.get("/v1/departments", headers=world.auth(H))
        stored = await client.post(
            "/v1/schedules", json=document, headers=world.auth(H), params={"allow_withdraw": 6}
        )
        departments = await client.get("/v1/departments", headers=world.auth(H))
    assert guarded.status_code == 409
    assert guarded.headers["content-type"] == PROBLEM
    assert "confirm the count 6" in guarded.json()["detail"]
    assert ("blokland", 6, 6) in [(d["code"], d["dwellings"], d["affected"]) for d in before.json()]
    assert stored.status_code == 201
    assert stored.json() == {
        "org": "bo-vest",
        "source_format": "json",
        "rows": 3,
        "departments": ["blokland"],
        "dwellings": 3,
        "added": 3,
        "known": 0,
        "no_longer_affected": 6,
        "phases": 3,
        "dropped_columns": ["key 10 of departments[0].dwellings[0] (unknown key)"],
    }
    assert ("blokland", 9, 3) in [
        (d["code"], d["dwellings"], d["affected"]) for d in departments.json()
    ]


@pytest.mark.anyio
async def test_csv_upload_drops_personal_columns_by_name(world: World) -> None:
    """A CSV file in a form is read as `broker ingest` reads it; personal columns are named."""
    rows = with_personal(dwelling_rows(5, phases=SOON), dict.fromkeys(PERSONAL_HEADINGS, ""))
    async with world.client() as client:
        stored = await client.post("/v1/schedules", headers=world.auth(H), **_csv(rows))
    assert stored.status_code == 201
    summary = stored.json()
    assert (summary["source_format"], summary["rows"], summary["phases"]) == ("csv", 5, 5)
    assert (summary["added"], summary["known"], summary["no_longer_affected"]) == (0, 5, 1)
    assert summary["dropped_columns"] == list(PERSONAL_HEADINGS)


@pytest.mark.anyio
async def test_xlsx_upload(world: World, tmp_path: Path) -> None:
    """An XLSX workbook in a form is read from memory like a file."""
    workbook = write_xlsx(tmp_path / "export.xlsx", list(dwelling_rows(6, phases=SOON)))
    files = {"file": ("plan.xlsx", workbook.read_bytes(), XLSX)}
    async with world.client() as client:
        stored = await client.post("/v1/schedules", files=files, headers=world.auth(H))
    assert stored.status_code == 201
    assert (stored.json()["source_format"], stored.json()["known"]) == ("xlsx", 6)


@pytest.mark.anyio
async def test_a_bad_row_rejects_the_upload_and_changes_nothing(world: World) -> None:
    """A bad CSV row or JSON field answers 422 naming row, column and rule; nothing is stored."""
    rows = dwelling_rows(3, phases=SOON)
    rows[1]["Dør"] = "venstre"
    bad_json = upload_document(2)
    bad_json["departments"][0]["dwellings"][1]["postnr"] = "26200"
    before = _uploads(world)
    async with world.client() as client:
        listed = await client.get("/v1/departments/blokland/dwellings", headers=world.auth(H))
        csv = await client.post("/v1/schedules", headers=world.auth(H), **_csv(rows))
        json = await client.post("/v1/schedules", json=bad_json, headers=world.auth(H))
        after = await client.get("/v1/departments/blokland/dwellings", headers=world.auth(H))
    assert (csv.status_code, csv.headers["content-type"]) == (422, PROBLEM)
    assert csv.json()["errors"] == [
        {
            "field": "Dør",
            "row": 3,
            "rule": "must be tv, th, mf or a door number of up to 4 characters",
        }
    ]
    assert "nothing was changed" in csv.json()["detail"]
    assert json.status_code == 422
    (error,) = json.json()["errors"]
    assert error["field"] == "departments.0.dwellings.1.postnr"
    assert "26200" not in json.text
    assert after.json() == listed.json()
    assert _uploads(world) == before


@pytest.mark.anyio
async def test_an_upload_needs_one_file_of_a_known_type(world: World) -> None:
    """No `file` field, an unknown file type or another media type is refused, naming why."""
    async with world.client() as client:
        no_file = await client.post(
            "/v1/schedules",
            files={"attachment": ("export.csv", b"x", "text/csv")},
            headers=world.auth(H),
        )
        pdf = await client.post(
            "/v1/schedules",
            files={"file": ("export.pdf", b"%PDF", "application/pdf")},
            headers=world.auth(H),
        )
        text = await client.post(
            "/v1/schedules",
            content=b"Afdeling;Vejnavn",
            headers={**world.auth(H), "content-type": "text/plain"},
        )
    assert (no_file.status_code, no_file.json()["errors"][0]["field"]) == (422, "file")
    assert pdf.status_code == 422
    assert pdf.json()["errors"][0]["rule"] == "file type must be .csv, .xlsx or .json"
    assert (text.status_code, text.headers["content-type"]) == (415, PROBLEM)

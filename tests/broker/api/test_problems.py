"""Errors over HTTP: RFC 9457 problems naming field and rule, body limits, rates per token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from factories import csv_bytes, dwelling_rows

from broker.access import Role
from broker.api._problems import PROBLEM
from tests.broker.api.conftest import EXPIRED, SOON, World

H, V = Role.HOUSING, Role.VISITATOR


@pytest.mark.anyio
async def test_every_error_is_a_problem_document(world: World) -> None:
    """401, 403, 404, 413, 415 and 422 answers are problem+json; each 422 names field and rule."""
    async with world.client() as client:
        answers = [
            await client.get("/v1/departments"),
            await client.get("/v1/departments", headers=world.auth(H, EXPIRED)),
            await client.get("/v1/departments", headers=world.auth(V)),
            await client.get("/v1/departments/ingen/dwellings", headers=world.auth(H)),
            await client.get("/v1/releases/rel-0", headers=world.auth(V)),
            await client.post(
                "/v1/schedules", content=b"{}", headers={**world.auth(H), "content-type": "a/b"}
            ),
            await client.get("/v1/releases", params={"limit": "0"}, headers=world.auth(V)),
            await client.get("/v1/releases", params={"after": "rel-0"}, headers=world.auth(V)),
            await client.post("/v1/schedules", json={"departments": []}, headers=world.auth(H)),
            await client.post("/v1/schedules", content=b"{", headers=_json(world)),
        ]
    assert [a.status_code for a in answers] == [401, 401, 403, 404, 404, 415, 422, 422, 422, 422]
    for answer in answers:
        assert answer.headers["content-type"] == PROBLEM
        assert answer.headers["x-content-type-options"] == "nosniff"
        problem = answer.json()
        assert problem["status"] == answer.status_code
        assert problem["title"]
        if answer.status_code == 422:
            assert problem["errors"]
            assert all(error["field"] and error["rule"] for error in problem["errors"])
    assert answers[6].json()["errors"][0]["field"] == "limit"


@pytest.mark.anyio
async def test_every_answer_says_nosniff(world: World) -> None:
    """JSON, the health answers and the OpenAPI document: each with X-Content-Type-Options."""
    async with world.client() as client:
        answers = [
            await client.get("/v1/departments", headers=world.auth(H)),
            await client.get("/healthz"),
            await client.get("/readyz"),
            await client.get("/openapi.json"),
        ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200]
    assert {a.headers.get("x-content-type-options") for a in answers} == {"nosniff"}
    assert all(a.headers.get_list("x-content-type-options") == ["nosniff"] for a in answers)


def _json(world: World) -> dict[str, str]:
    return {**world.auth(H), "content-type": "application/json"}


@pytest.mark.anyio
async def test_a_body_over_the_limit_is_refused_and_changes_nothing(
    make_world: Callable[..., World],
) -> None:
    """Over the limit: 413 whether the length is declared or the body is streamed in chunks."""
    world = make_world(api_max_body=2048)
    data = b'{"departments": [' + b" " * 4096 + b"]}"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(data), 512):
            yield data[start : start + 512]

    async with world.client() as client:
        before = (await client.get("/v1/departments", headers=world.auth(H))).json()
        declared = await client.post("/v1/schedules", content=data, headers=_json(world))
        streamed = await client.post("/v1/schedules", content=chunks(), headers=_json(world))
        after = (await client.get("/v1/departments", headers=world.auth(H))).json()
    assert "content-length" not in streamed.request.headers
    for refused in (declared, streamed):
        assert (refused.status_code, refused.headers["content-type"]) == (413, PROBLEM)
        assert refused.headers["x-content-type-options"] == "nosniff"
    assert after == before


@pytest.mark.anyio
async def test_a_burst_over_the_rate_gets_429_with_retry_after(
    make_world: Callable[..., World],
) -> None:
    """Past its rate a token gets 429 and Retry-After in whole seconds; other tokens go on."""
    world = make_world(api_rate_per_minute=3)
    async with world.client() as client:
        burst = [
            (await client.get("/v1/departments", headers=world.auth(H))).status_code
            for _ in range(4)
        ]
        limited = await client.get("/v1/departments", headers=world.auth(H))
        other = await client.get("/v1/releases", headers=world.auth(V))
    assert burst == [200, 200, 200, 429]
    assert limited.status_code == 429
    assert limited.headers["content-type"] == PROBLEM
    assert int(limited.headers["retry-after"]) >= 1
    assert other.status_code == 200


@pytest.mark.anyio
async def test_a_limited_upload_stores_nothing(make_world: Callable[..., World]) -> None:
    """An upload refused for the rate is not read or stored."""
    world = make_world(api_rate_per_minute=1)
    rows = dwelling_rows(2, department="Nordparken", phases=SOON)
    files = {"file": ("export.csv", csv_bytes(rows), "text/csv")}
    async with world.client() as client:
        first = await client.get("/v1/departments", headers=world.auth(H))
        refused = await client.post("/v1/schedules", files=files, headers=world.auth(H))
    assert (first.status_code, refused.status_code) == (200, 429)
    with world.app.state.engine.connect() as connection:
        codes = connection.exec_driver_sql("SELECT code FROM departments").scalars().all()
    assert "nordparken" not in codes

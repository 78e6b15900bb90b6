"""Privacy over HTTP: every route, for every role it admits, with personal data planted.

The site's export was ingested with every personal column filled with a planted
value. Then each /v1 route of the authorization matrix is called by each role it
admits, in scope, and succeeds; the auditor and visitator routes are called by
tokens of an organisation that is no party here; and hostile requests put the planted values where
a caller could: in path parameters, query parameters, bodies, a body that is not
JSON, and the bearer token. No answer's body or headers, and no log line or
structlog event, holds a planted value.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from broker.access import Role
from tests.broker.api.conftest import ELSEWHERE, World
from tests.broker.api.test_authorization import MATRIX, _body, expected
from tests.broker.test_privacy import PLANTED, _assert_absent

A, U, V, H, C = Role.ADMIN, Role.AUDITOR, Role.VISITATOR, Role.HOUSING, Role.COORDINATOR
CPR, EMAIL, PHONE, NAME = (PLANTED[k] for k in ("CPR", "E-mail", "Telefon", "Lejer navn"))


@pytest.fixture
def planted(make_world: Any) -> World:
    """The API site, its export ingested with every personal column planted."""
    return make_world(personal=PLANTED)  # type: ignore[no-any-return]


async def _every_route(world: World, client: httpx.AsyncClient) -> list[httpx.Response]:
    """Each matrix route called by each role it admits, in scope, with a body that succeeds."""
    return [
        await client.request(
            method,
            path.format(**world.params),
            headers=world.auth(role),
            **_body(world, method, path),
        )
        for (method, path), row in MATRIX.items()
        for role in sorted(row.roles)
    ]


async def _elsewhere(world: World, client: httpx.AsyncClient) -> list[httpx.Response]:
    """Each auditor and visitator route called by a token of an organisation that is no party."""
    return [
        await client.request(
            method,
            path.format(**world.params),
            headers=world.auth(role, ELSEWHERE),
            **_body(world, method, path),
        )
        for (method, path), row in MATRIX.items()
        for role in sorted(row.roles & {U, V})
    ]


async def _hostile(world: World, client: httpx.AsyncClient) -> list[httpx.Response]:
    """Requests that carry planted values where a caller can put them."""
    reply = f"/v1/contact-checks/{world.check_id}/reply"
    consent = {"outcome": "resident-consents-to-contact"}
    calls: list[tuple[str, str, Role, dict[str, Any]]] = [
        ("GET", f"/v1/log/dwellings/{CPR}", U, {}),
        ("GET", f"/v1/log/policy-versions/{EMAIL}", U, {}),
        ("GET", f"/v1/releases/{PHONE}", V, {}),
        ("GET", f"/v1/departments/{NAME}/dwellings", H, {}),
        ("GET", f"/v1/contact-checks/{CPR}", C, {}),
        ("GET", "/v1/log/entries", U, {"params": {"event": CPR, "recipient": EMAIL}}),
        ("GET", "/v1/log/entries", U, {"params": {"from": CPR, "limit": PHONE}}),
        ("GET", "/v1/releases", V, {"params": {"after": NAME}}),
        ("POST", "/v1/contact-checks", C, {"json": {"dwelling": CPR}}),
        (
            "POST",
            "/v1/contact-checks",
            C,
            {"json": {"dwelling": world.params["reference"], "note": PLANTED["Bemærkning"]}},
        ),
        ("POST", "/v1/contact-checks", C, {"content": f'{{"dwelling": "{EMAIL}"'}),
        ("POST", reply, V, {"json": {**consent, "consent_reference": CPR}}),
        ("POST", reply, V, {"json": {**consent, "consent_reference": EMAIL}}),
        ("POST", reply, V, {"json": {**consent, "consent_reference": NAME}}),
        ("POST", reply, V, {"json": {"outcome": PLANTED["Særlige behov"]}}),
        ("GET", "/v1/dwellings", C, {"params": {"q": CPR}}),
        ("GET", "/v1/dwellings", C, {"params": {"q": NAME}}),
        ("GET", "/v1/dwellings", C, {"params": {"q": PHONE, "limit": EMAIL}}),
        ("GET", f"/v1/dwellings/{CPR}/contact-preview", C, {}),
        ("GET", f"/v1/dwellings/{NAME}/contact-preview", C, {}),
    ]
    answers = [
        await client.request(method, url, headers=world.auth(role), **extra)
        for method, url, role, extra in calls
    ]
    answers.append(await client.get("/v1/departments", headers={"Authorization": f"Bearer {CPR}"}))
    return answers


@pytest.mark.anyio
async def test_no_route_answers_or_logs_a_planted_value(
    planted: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Successes, refusals and errors of every route hold no personal value."""
    with capture_logs() as events:
        async with planted.client() as client:
            served = await _every_route(planted, client)
            outsiders = await _elsewhere(planted, client)
            refused = await _hostile(planted, client)
            fetched = await client.get(
                f"/v1/releases/{planted.params['release_id']}", headers=planted.auth(V)
            )
    assert [a.status_code for a in served if a.status_code >= 400] == []
    assert [a.status_code for a in outsiders] == [
        expected(row, role, ELSEWHERE)
        for row in MATRIX.values()
        for role in sorted(row.roles & {U, V})
    ]
    # A malformed dwelling id; unknown objects; a filter that matches nothing; then
    # malformed queries, bodies and consent references (a well-formed one to the check
    # already answered: 409); address searches that find nothing, a malformed limit,
    # previews of no dwelling; a token that is not one.
    statuses = [422] + [404] * 4 + [200] + [422] * 7 + [409, 422] + [200, 200, 422, 404, 404]
    assert [a.status_code for a in refused] == [*statuses, 401]
    # The scan sees what is served: the search found the site's addresses.
    found = next(a for a in served if a.request.url.path == "/v1/dwellings")
    assert "Prøvevej 1, st. tv, 2620 Albertslund" in found.text
    # The scan sees what is served: the released address is there.
    assert b"Albertslund" in fetched.content
    for answer in [*served, *outsiders, *refused, fetched]:
        where = f"{answer.request.method} {answer.request.url.path} -> {answer.status_code}"
        _assert_absent(answer.content, where)
        _assert_absent(str(answer.headers).encode(), f"headers of {where}")
    assert events, "no structlog event was captured"
    _assert_absent(repr(events).encode(), "the structlog events")
    _assert_absent(caplog.text.encode(), "the standard library's log records")

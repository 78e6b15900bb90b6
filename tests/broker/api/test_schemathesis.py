"""The app against its own OpenAPI document: no 5xx, and every answer is the one documented.

Schemathesis reads /openapi.json from the app in process and generates requests
for each operation: valid ones, valid ones naming the site's in-scope objects
(so the success answers are checked too), and invalid ones. Every response is
checked: no server error, a documented status code, content type and headers, a
body that matches its schema, invalid input refused, valid input accepted, the
route guarded by its token. Each role calls, with its in-scope token, the routes
it is admitted to; the 401 and 403 answers of everyone else are the
authorization matrix's.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from schemathesis import Case, GenerationMode
from schemathesis.checks import CheckFunction

from broker.access import Role
from broker.api._problems import PROBLEM
from tests.broker.api.conftest import World
from tests.broker.api.test_authorization import MATRIX

# Every (role, route) the role is admitted to; the routes outside /v1 need no token.
ROUTES = [
    (role, method, path) for (method, path), row in MATRIX.items() for role in sorted(row.roles)
] + [(None, "GET", "/healthz"), (None, "GET", "/readyz")]
# Schema-valid input that a rule the schema cannot state refuses with a 422 naming the
# field and the rule: what the route is meant to do, so "valid input accepted" is not
# checked there. Every other check still is.
BEYOND_THE_SCHEMA = {
    ("GET", "/v1/releases"): "a cursor must be the id of a release in the caller's list",
    ("POST", "/v1/schedules"): "the ingest rules: file format, dates, no personal data",
    ("POST", "/v1/contact-checks/{check_id}/reply"): "a check takes one reply; then it is not open",
    ("GET", "/v1/dwellings"): "an address query must hold a word, not only spaces and commas",
}
# A rate no run reaches: a 429 would hide the route behind it.
_RATE = 100_000
_EXAMPLES = 20


@pytest.fixture
def site(make_world: Callable[..., World]) -> World:
    """The API test site, with a rate no run reaches."""
    return make_world(api_rate_per_minute=_RATE)


def _strategies(
    site: World, role: Role | None, method: str, path: str
) -> list[SearchStrategy[Case[Any]]]:
    operation = schemathesis.openapi.from_asgi("/openapi.json", site.app)[path][method]
    # The token goes in as an explicit header: generated, not overridden when sent, so
    # an invalid case stays invalid only where it was made so.
    auth = site.auth(role) if role is not None else {}
    in_scope = {name: site.params[name] for name in re.findall(r"{(\w+)}", path)}
    strategies = [operation.as_strategy(GenerationMode.POSITIVE, headers=auth)]
    if in_scope:
        strategies.append(
            operation.as_strategy(GenerationMode.POSITIVE, headers=auth, path_parameters=in_scope)
        )
    # Every path parameter here is any string: only a query or a body can be made invalid.
    if operation.query or operation.body:
        strategies.append(operation.as_strategy(GenerationMode.NEGATIVE, headers=auth))
    return strategies


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("role", "method", "path"), ROUTES, ids=[f"{r or 'anyone'} {m} {p}" for r, m, p in ROUTES]
)
def test_every_answer_is_documented(site: World, role: Role | None, method: str, path: str) -> None:
    """Generated requests, valid and invalid, get no 5xx and only documented answers."""
    excluded: list[CheckFunction] = []
    if (method, path) in BEYOND_THE_SCHEMA:
        excluded.append(schemathesis.checks.positive_data_acceptance)
    for strategy in _strategies(site, role, method, path):

        @settings(
            max_examples=_EXAMPLES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        @given(case=strategy)
        def check(case: Case[Any]) -> None:
            case.call_and_validate(excluded_checks=excluded)

        check()


# What the run above found, pinned by name.


@pytest.mark.anyio
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_a_log_date_filter_takes_only_a_calendar_date(world: World) -> None:
    """`from` and `to` take YYYY-MM-DD only: a number is no longer read as a Unix time."""
    async with world.client() as client:
        answers = [
            await client.get(route, params={name: value}, headers=world.auth(Role.AUDITOR))
            for route in ("/v1/log/entries", "/v1/log/export")
            for name in ("from", "to")
            for value in ("1700000000", "2.5e-10", "2024-01-01T00:00:00", "2024-01-01")
        ]
    assert [a.status_code for a in answers] == [422, 422, 422, 200] * 4
    refused = [a.json()["errors"][0]["field"] for a in answers if a.status_code == 422]
    assert set(refused) == {"from", "to"}


@pytest.mark.anyio
@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
async def test_answers_found_undocumented_are_documented(world: World) -> None:
    """The export's media type, and 400 for a body that is not UTF-8, are in the document."""
    async with world.client() as client:
        document = (await client.get("/openapi.json")).json()
        exported = await client.get("/v1/log/export", headers=world.auth(Role.AUDITOR))
        undecodable = await client.post(
            "/v1/contact-checks",
            content=b'{"dwelling": "\xff"}',
            headers={**world.auth(Role.COORDINATOR), "content-type": "application/json"},
        )
    paths = document["paths"]
    assert exported.headers["content-type"] == "application/jsonl"
    assert list(paths["/v1/log/export"]["get"]["responses"]["200"]["content"]) == [
        "application/jsonl"
    ]
    assert (undecodable.status_code, undecodable.headers["content-type"]) == (400, PROBLEM)
    assert "400" in paths["/v1/contact-checks"]["post"]["responses"]
    assert "400" in paths["/v1/contact-checks/{check_id}/reply"]["post"]["responses"]
    assert "415" in paths["/v1/schedules"]["post"]["responses"]
    assert "503" in paths["/readyz"]["get"]["responses"]

"""JSON bodies over HTTP: parsed with the nesting bounded, a 422 naming the rule past it."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from structlog.testing import capture_logs

from broker.access import Role
from broker.api._problems import PROBLEM
from broker.api._routing import BoundedJsonRoute
from tests.broker.api.conftest import World
from tests.broker.test_privacy import PLANTED, _assert_absent

C, H, V = Role.COORDINATOR, Role.HOUSING, Role.VISITATOR
CPR = PLANTED["CPR"]
DEPTH_RULE = "JSON nested deeper than 32 levels"


def _json(world: World, role: Role, condition: str = "in scope") -> dict[str, str]:
    return {**world.auth(role, condition), "content-type": "application/json"}


def test_every_api_route_parses_its_json_bounded(world: World) -> None:
    """Each route of the app uses the bounded JSON parse (a router without it fails here)."""
    routes = [route for route in world.app.routes if isinstance(route, APIRoute)]
    unbounded = [route.path for route in routes if not isinstance(route, BoundedJsonRoute)]
    assert routes
    assert [path for path in unbounded if path.startswith("/v1")] == []


@pytest.mark.anyio
async def test_json_nested_too_deep_is_a_422_naming_the_rule(world: World) -> None:
    """`[` x 100,000 (or deep objects) to a JSON route or the upload: 422 naming the depth rule."""
    deep = b"[" * 100_000
    deep_object = (f'{{"dwelling": "{CPR}", "x": '.encode() * 40) + b"1" + b"}" * 40
    calls = [
        ("/v1/contact-checks", C, deep),
        ("/v1/contact-checks", C, deep_object),
        (f"/v1/contact-checks/{world.check_id}/reply", V, deep),
        ("/v1/schedules", H, deep),
        ("/v1/schedules", H, b'{"departments": ' + deep_object + b"}"),
    ]
    with capture_logs() as events:
        async with world.client() as client:
            answers = [
                await client.post(path, content=body, headers=_json(world, role))
                for path, role, body in calls
            ]
    for (path, _, _), answer in zip(calls, answers, strict=True):
        assert (answer.status_code, answer.headers["content-type"]) == (422, PROBLEM), path
        rules = [error["rule"] for error in answer.json()["errors"]]
        assert rules == [DEPTH_RULE], path
        _assert_absent(answer.content, f"the 422 of {path}")
    _assert_absent(repr(events).encode(), "the structlog events")


@pytest.mark.anyio
async def test_json_within_the_depth_still_gets_its_own_errors(world: World) -> None:
    """A body that is not JSON names the parser's rule; a shallow wrong body, its fields."""
    async with world.client() as client:
        broken = await client.post(
            "/v1/contact-checks", content=b'{"a": [1', headers=_json(world, C)
        )
        wrong = await client.post(
            "/v1/contact-checks", json={"x": [[[1]]]}, headers=_json(world, C)
        )
    assert broken.status_code == wrong.status_code == 422
    assert broken.json()["errors"] == [{"field": "body", "rule": "Expecting ',' delimiter"}]
    assert {error["field"] for error in wrong.json()["errors"]} == {"dwelling", "x"}

"""Limits before the route: the token before the body, the body counted as it streams, JSON depth.

In process: the client's body is an async generator, so the test sees how much of
it the app pulled. `tests/broker/test_serve_limits.py` does the same against the
real `broker serve` over a socket, and watches its memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from fastapi.routing import APIRoute
from structlog.testing import capture_logs

from broker.access import Role
from broker.api._problems import PROBLEM
from broker.api._routing import BoundedJsonRoute
from tests.broker.api.conftest import EXPIRED, NO_TOKEN, REVOKED, World
from tests.broker.test_privacy import PLANTED, _assert_absent

C, H, V = Role.COORDINATOR, Role.HOUSING, Role.VISITATOR
CPR, EMAIL = PLANTED["CPR"], PLANTED["E-mail"]
LIMIT = 4096
DEPTH_RULE = "JSON nested deeper than 32 levels"


class Body:
    """A request body of ``chunks`` pieces that counts how many of them the app pulled."""

    def __init__(self, chunks: int, piece: bytes = b"[" * 1024) -> None:
        """Send ``chunks`` times ``piece``."""
        self.chunks, self.piece, self.pulled = chunks, piece, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        """Yield the pieces, counting each one pulled."""
        for _ in range(self.chunks):
            self.pulled += 1
            yield self.piece


@pytest.fixture
def limited(make_world: Callable[..., World]) -> World:
    """The API site with a body limit of 4 KiB."""
    return make_world(api_max_body=LIMIT)


def _json(world: World, role: Role, condition: str = "in scope") -> dict[str, str]:
    return {**world.auth(role, condition), "content-type": "application/json"}


@pytest.mark.anyio
async def test_a_request_without_a_valid_token_is_refused_before_its_body_is_read(
    limited: World,
) -> None:
    """No token, a bad, an expired or a revoked one: 401 problem+json, and no byte pulled."""
    bodies = {condition: Body(1000) for condition in (NO_TOKEN, EXPIRED, REVOKED, "bad")}
    async with limited.client() as client:
        answers = {
            condition: await client.post(
                "/v1/contact-checks",
                content=body,
                headers=(
                    {"Authorization": f"Bearer {CPR}", "content-type": "application/json"}
                    if condition == "bad"
                    else _json(limited, C, condition)
                ),
            )
            for condition, body in bodies.items()
        }
    for condition, answer in answers.items():
        assert (answer.status_code, answer.headers["content-type"]) == (401, PROBLEM), condition
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert bodies[condition].pulled == 0, condition
        _assert_absent(answer.content, f"the 401 for {condition}")


@pytest.mark.anyio
async def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit_on_every_route(
    limited: World,
) -> None:
    """Chunked, no Content-Length: 413 problem+json once 4 KiB have come in, the rest unread."""
    routes = [
        ("/v1/contact-checks", C),  # FastAPI reads the JSON body
        (f"/v1/contact-checks/{limited.check_id}/reply", V),
        ("/v1/schedules", H),  # the upload reads its own body
        ("/v1/policies/reload", Role.ADMIN),  # a route that takes no body
    ]
    with capture_logs() as events:
        async with limited.client() as client:
            for path, role in routes:
                body = Body(1000, f'["{CPR}", "{EMAIL}", '.encode() * 20)
                answer = await client.post(path, content=body, headers=_json(limited, role))
                assert "content-length" not in answer.request.headers
                if path.endswith("reload"):  # never reads its body: none is counted
                    assert answer.status_code == 200
                    continue
                assert (answer.status_code, answer.headers["content-type"]) == (413, PROBLEM)
                assert answer.json()["title"] == "request body too large"
                assert answer.headers["connection"] == "close"
                # 900-byte pieces: the fifth passes 4 KiB; the 995 after it stay unread.
                assert body.pulled == 5, path
                _assert_absent(answer.content, f"the 413 of {path}")
    _assert_absent(repr(events).encode(), "the structlog events")


@pytest.mark.anyio
async def test_a_declared_length_over_the_limit_is_refused_unread(limited: World) -> None:
    """A Content-Length over the limit: 413 before the token is even looked up."""
    body = Body(5)
    async with limited.client() as client:
        answer = await client.post(
            "/v1/contact-checks",
            content=body,
            headers={**_json(limited, C, NO_TOKEN), "content-length": str(LIMIT + 1)},
        )
    assert (answer.status_code, answer.headers["content-type"], body.pulled) == (413, PROBLEM, 0)


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

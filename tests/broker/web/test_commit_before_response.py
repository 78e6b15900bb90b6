"""A request's transaction commits before its response is sent, on the pages and the API.

A browser follows a redirect at once, and an API client acts on its 201: the page it
is sent to, or its next call, must find what the request changed. FastAPI runs a
request-scoped dependency's exit after the response has gone out, so the sign-in's
session row could still be uncommitted when the browser asked for the next page (it
was sent back to sign in, now and then, in the browser tests). Recorded here: each
commit and each response start, in the order they happen, against the real app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from databases import Database
from fastapi import FastAPI
from sqlalchemy import event
from sqlalchemy.orm import Session
from starlette.types import Message, Receive, Scope, Send
from webclient import create_user, form_token, web_app

from broker.access import Role, create_token
from broker.db import make_session_factory, session_scope

pytestmark = pytest.mark.anyio


class Order:
    """What happened, in order: ``commit`` and ``response <status>``."""

    def __init__(self, app: FastAPI) -> None:
        """Record ``app``'s responses; commits are recorded by :func:`commits`."""
        self.app = app
        self.events: list[str] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``scope``, noting when the response starts."""

        async def noted(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.events.append(f"response {message['status']}")
            await send(message)

        await self.app(scope, receive, noted)


@pytest.fixture
def order(database: Database, tmp_path: Path) -> Iterator[Order]:
    recorded = Order(web_app(database, tmp_path))

    def committed(_session: Session) -> None:
        recorded.events.append("commit")

    event.listen(Session, "after_commit", committed)
    try:
        yield recorded
    finally:
        event.remove(Session, "after_commit", committed)


def _client(order: Order) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=order), base_url="http://test")


async def test_a_sign_in_is_committed_before_its_redirect_is_sent(
    database: Database, order: Order
) -> None:
    user = create_user(
        make_session_factory(database.engine), role=Role.VISITATOR, org="albertslund"
    )
    async with _client(order) as client:
        page = await client.get("/log-ind")
        order.events.clear()
        answer = await client.post(
            "/log-ind",
            data={
                "csrf_token": form_token(page.text),
                "org": user.org,
                "username": user.username,
                "password": user.password,
            },
        )
    assert answer.status_code == 303
    assert order.events[-2:] == ["commit", "response 303"], order.events


async def test_an_api_write_is_committed_before_its_answer_is_sent(
    database: Database, order: Order
) -> None:
    factory = make_session_factory(database.engine)
    with session_scope(factory) as session:
        _token, secret = create_token(
            session, role=Role.HOUSING.value, org="bo-vest", days=1, now=dt.datetime.now(dt.UTC)
        )
    body = {
        "departments": [
            {
                "afdeling": "blokland",
                "dwellings": [
                    {
                        "lejemaalsnr": "1-1",
                        "vejnavn": "Prøvevej",
                        "husnr": "1",
                        "postnr": "2620",
                        "postnrnavn": "Albertslund",
                        "kommunekode": "0165",
                        "phases": [
                            {"kind": "genhusning", "start": "2027-03-01", "end": "2027-06-30"}
                        ],
                    }
                ],
            }
        ]
    }
    async with _client(order) as client:
        order.events.clear()
        answer = await client.post(
            "/v1/schedules", json=body, headers={"Authorization": f"Bearer {secret}"}
        )
    assert answer.status_code == 201, answer.text
    assert order.events[-2:] == ["commit", "response 201"], order.events

"""The database out of reach: every route answers 503 problem+json with Retry-After, then recovers.

PostgreSQL is cut off realistically without stopping the shared server: the app's
engine connects through a TCP proxy on 127.0.0.1, and the test closes the proxy
(its port then refuses connections, and the pooled connections are cut) and opens
it again. A pooled connection killed by the server itself (`pg_terminate_backend`)
is replaced on its next use.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from clirun import run_broker
from databases import Database
from factories import upload_document
from fastapi import FastAPI
from peers import free_port
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs

from broker.access import Role
from broker.api import create_app
from broker.api._problems import PROBLEM
from broker.db import make_engine
from tests.broker.api.conftest import World
from tests.broker.api.test_authorization import MATRIX
from tests.broker.api.test_response_privacy import _every_route
from tests.broker.test_privacy import PLANTED, _assert_absent

pytestmark = pytest.mark.parametrize("database", ["postgresql"], indirect=True)
CPR, EMAIL = PLANTED["CPR"], PLANTED["E-mail"]


class TcpProxy:
    """127.0.0.1:``port`` forwarded to ``target``; ``cut`` refuses and drops, ``mend`` mends."""

    def __init__(self, target: tuple[str, int]) -> None:
        """Listen on a free port."""
        self.target = target
        self.port = free_port()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.mend()

    def mend(self) -> None:
        """Accept connections again, on the same port."""
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Stop listening (new connections are refused) and drop every open connection."""
        assert self._listener is not None
        # A shutdown first: a bare close would not wake the thread blocked in accept().
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._listener = None
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.target)
                with self._lock:
                    self._sockets |= {client, upstream}
                for source, sink in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def proxy(database: Database) -> Iterator[TcpProxy]:
    """A proxy to the test database's PostgreSQL server."""
    url = make_url(database.url)
    tcp = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    yield tcp
    with contextlib.suppress(AssertionError):
        tcp.cut()


def _engine(database: Database, *, port: int | None = None, name: str = "") -> Engine:
    url = make_url(database.url)
    if port is not None:
        url = url.set(port=port)
    connect_args = {"application_name": name} if name else {}
    return make_engine(url.render_as_string(hide_password=False), connect_args=connect_args)


def _app(world: World, engine: Engine) -> FastAPI:
    return create_app(world.settings, engine=engine, policies=world.app.state.policies)


def _client(app: FastAPI) -> httpx.AsyncClient:
    # An unexpected error is still raised after its answer, for the server's log; the
    # client here gets the answer, as over HTTP.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.mark.anyio
async def test_every_route_answers_503_while_the_database_is_unreachable_then_recovers(
    make_world: Any, database: Database, proxy: TcpProxy, caplog: pytest.LogCaptureFixture
) -> None:
    """Cut off: 503 problem+json and Retry-After on every route, /readyz its JSON 503; then 200s."""
    world: World = make_world(api_rate_per_minute=100_000)
    engine = _engine(database, port=proxy.port)
    try:
        async with _client(_app(world, engine)) as client:
            before = await _every_route(world, client)
            proxy.cut()
            with capture_logs() as events:
                during = await _every_route(world, client)
                hostile = await client.post(
                    f"/v1/contact-checks?q={EMAIL}",
                    json={"dwelling": CPR},
                    headers=world.auth(Role.COORDINATOR),
                )
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
            proxy.mend()
            after = await _every_route(world, client)
    finally:
        engine.dispose()
    assert [a.status_code for a in before if a.status_code >= 400] == []
    for answer in [*during, hostile]:
        where = f"{answer.request.method} {answer.request.url.path}"
        assert (answer.status_code, answer.headers["content-type"]) == (503, PROBLEM), where
        assert answer.json() == {
            "type": "about:blank",
            "title": "unavailable",
            "status": 503,
            "detail": "the database is unavailable",
            "errors": [],
        }
        assert int(answer.headers["retry-after"]) >= 1
        _assert_absent(answer.content, where)
    assert (ready.status_code, ready.json()["database"]) == (503, "unreachable")
    assert alive.status_code == 200
    # Back: the first request succeeds (dead pooled connections are replaced), and every
    # route answers as before; but the check got its reply, which it takes only once (then
    # it is no longer open: 409), so a request on its dwelling makes a new check (201).
    again = {
        ("POST", "/v1/contact-checks"): 201,
        ("POST", f"/v1/contact-checks/{world.check_id}/reply"): 409,
    }
    once = [again.get((a.request.method, a.request.url.path), a.status_code) for a in before]
    assert [a.status_code for a in after] == once
    assert any(e["event"] == "api.database_unavailable" for e in events)
    _assert_absent(repr(events).encode(), "the structlog events")
    _assert_absent(caplog.text.encode(), "the standard library's log records")


@pytest.mark.anyio
async def test_a_database_lost_in_the_middle_of_a_request_answers_503(
    make_world: Any, database: Database, proxy: TcpProxy
) -> None:
    """The token checked, then the database gone while the upload streams in: 503, not 500."""
    world: World = make_world()
    engine = _engine(database, port=proxy.port)

    async def body() -> AsyncIterator[bytes]:
        proxy.cut()  # pulled only after the token was checked
        yield json.dumps(upload_document(3)).encode()

    try:
        async with _client(_app(world, engine)) as client:
            answer = await client.post(
                "/v1/schedules",
                content=body(),
                headers={**world.auth(Role.HOUSING), "content-type": "application/json"},
            )
    finally:
        engine.dispose()
    assert (answer.status_code, answer.headers["content-type"]) == (503, PROBLEM)
    assert answer.headers["retry-after"]


@pytest.mark.anyio
async def test_a_pooled_connection_killed_by_the_server_is_replaced(
    make_world: Any, database: Database, postgres_admin: Engine
) -> None:
    """pg_terminate_backend on the app's pooled connections: the next request still succeeds."""
    world: World = make_world()
    name = "broker-test-" + secrets.token_hex(4)  # only this test's connections are killed
    engine = _engine(database, name=name)
    try:
        async with _client(_app(world, engine)) as client:
            first = await client.get("/v1/departments", headers=world.auth(Role.HOUSING))
            with postgres_admin.begin() as connection:
                killed = connection.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE application_name = :name"
                    ),
                    {"name": name},
                ).scalar_one()
            second = await client.get("/v1/departments", headers=world.auth(Role.HOUSING))
    finally:
        engine.dispose()
    assert killed >= 1
    assert (first.status_code, second.status_code) == (200, 200)


@pytest.mark.anyio
async def test_every_v1_route_documents_the_503(world: World) -> None:
    """The OpenAPI document lists 503 with its Retry-After for every /v1 operation."""
    async with world.client() as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    operations = [
        (path, method, operation)
        for path, item in paths.items()
        if path.startswith("/v1")
        for method, operation in item.items()
    ]
    assert len(operations) == len(MATRIX)
    for path, method, operation in operations:
        documented = operation["responses"].get("503", {})
        assert PROBLEM in documented.get("content", {}), (method, path)
        assert "Retry-After" in documented.get("headers", {}), (method, path)


def test_the_cli_says_the_database_is_unreachable_without_a_traceback(
    database: Database, tmp_path: Path
) -> None:
    """A command against a database nobody answers for: a clear message and exit 1."""
    dead = make_url(database.url).set(port=free_port()).render_as_string(hide_password=False)
    for command in (("db", "upgrade"), ("token", "list")):
        result = run_broker(database, tmp_path, *command, env={"BROKER_DATABASE_URL": dead})
        assert result.returncode == 1, command
        assert "Traceback" not in result.stderr, command
        assert "error: the database is unavailable (OperationalError)" in result.stderr, command

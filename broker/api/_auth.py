"""Who is calling: bearer tokens checked per request, roles per route, a rate per token.

FastAPI reads and parses a request's body before it resolves the route's
dependencies, so the token is checked earlier, by :class:`Authenticate`, a layer
around the app: a /v1 request without a valid token, or over its rate, is
answered before one byte of its body is read. The route's dependency takes the
principal found there; the token is not looked up twice.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from broker.access import Principal, Role, look_up_token, record_use
from broker.api._problems import ApiProblem, problem_for
from broker.config import Settings
from broker.db import session_scope
from broker.errors import BrokerError
from broker.keys import KeyRing, KeyStore

__all__ = [
    "API_PREFIX",
    "Admin",
    "AdminOrAuditor",
    "Auditor",
    "AuditorOrVisitator",
    "Authenticate",
    "Coordinator",
    "DbSession",
    "Housing",
    "KeysDep",
    "RateLimiter",
    "ReadSession",
    "SettingsDep",
    "Visitator",
    "app_settings",
    "db_session",
    "key_ring",
    "read_session",
    "requires",
]

log = structlog.get_logger(__name__)
_bearer = HTTPBearer(auto_error=False, description="A token from `broker token create`.")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="renovation-broker"'}
API_PREFIX = "/v1"
"""Every route under it needs a bearer token."""


class RateLimiter:
    """A token bucket per API token: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        """Allow ``per_minute`` requests per token, with bursts up to that many."""
        self._rate = per_minute / 60.0
        self._capacity = float(per_minute)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one request for ``key``; return 0, or the seconds to wait before retrying."""
        with self._lock:
            now = self._clock()
            tokens, since = self._buckets.get(key, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - since) * self._rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / self._rate
            self._buckets[key] = (tokens - 1, now)
            return 0.0


def db_session(request: Request) -> Iterator[Session]:
    """One session per request: committed when the route succeeds, rolled back otherwise.

    Used with ``scope="function"`` (:data:`DbSession`): the commit runs when the route
    returns, before the response is sent, so a client that has its answer (a 201, a
    redirect it follows at once) finds the change, and a failed commit is its answer.
    """
    with session_scope(request.app.state.session_factory) as session:
        yield session


def read_session(request: Request) -> Iterator[Session]:
    """A read-only session for a route that writes nothing (the database refuses writes)."""
    with session_scope(request.app.state.read_session_factory) as session:
        yield session


def app_settings(request: Request) -> Settings:
    """The settings the app was built with (once, by ``create_app``)."""
    settings: Settings = request.app.state.settings
    return settings


def key_ring(request: Request) -> KeyRing:
    """The process's log keys, held by the app and loaded again only after a rotation.

    Raises:
        ConfigError: no keys yet, or a key cannot be opened.
    """
    store: KeyStore = request.app.state.keys
    return store.ring()


def _lookup(request: Request, presented: str) -> Principal | None:
    # 1. Its own short read: the route's session, perhaps a writer's, opens after it closes.
    now = dt.datetime.now(dt.UTC)
    with session_scope(request.app.state.read_session_factory) as session:
        found = look_up_token(session, presented, now=now)
    # 2. The token's last use, written once a minute in a write of its own that waits
    #    for no other writer: while one holds the lock, the next request writes it.
    if found.principal is not None and found.use_due:
        try:
            with session_scope(request.app.state.use_session_factory) as session:
                record_use(session, found.principal.token_id, now=now)
        except SQLAlchemyError as exc:
            kind = type(exc).__name__
            log.info("token.use_not_recorded", token=found.principal.token_id, error=kind)
    return found.principal


async def _authenticated(request: Request) -> Principal:
    # 1. A bearer token must be present and valid now (not expired, not revoked).
    credentials = await _bearer(request)
    if credentials is None:
        raise ApiProblem(401, "authentication required", headers=_CHALLENGE)
    principal = await run_in_threadpool(_lookup, request, credentials.credentials)
    if principal is None:
        raise ApiProblem(401, "invalid, expired or revoked token", headers=_CHALLENGE)
    # 2. Each token has its own rate.
    wait = request.app.state.rate_limiter.take(principal.token_id)
    if wait:
        retry = str(max(1, math.ceil(wait)))
        raise ApiProblem(429, "too many requests", headers={"Retry-After": retry})
    return principal


class Authenticate:
    """Check the token of every request under :data:`API_PREFIX` before its body is read."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 401 or 429 unread, or pass the request on with its principal."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            request.state.principal = await _authenticated(request)
        except (ApiProblem, BrokerError, SQLAlchemyError) as exc:
            await problem_for(exc)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _principal(
    request: Request,
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # Found by Authenticate before the body was read (the bearer dependency documents the
    # scheme in OpenAPI). Without that layer no request is let in.
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise ApiProblem(401, "authentication required", headers=_CHALLENGE)
    return principal


def requires(*roles: Role) -> Callable[..., Principal]:
    """Return a dependency that admits only ``roles`` (403 for any other role)."""

    def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if principal.role not in roles:
            raise ApiProblem(403, "not allowed for this role")
        return principal

    return check


DbSession = Annotated[Session, Depends(db_session, scope="function")]
"""A route parameter: the request's database session."""
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
"""A route parameter: the request's read-only database session."""
KeysDep = Annotated[KeyRing, Depends(key_ring)]
"""A route parameter: the process's log key ring (see :class:`broker.keys.KeyStore`)."""
SettingsDep = Annotated[Settings, Depends(app_settings)]
"""A route parameter: the app's settings."""
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]
Auditor = Annotated[Principal, Depends(requires(Role.AUDITOR))]
AdminOrAuditor = Annotated[Principal, Depends(requires(Role.ADMIN, Role.AUDITOR))]
AuditorOrVisitator = Annotated[Principal, Depends(requires(Role.AUDITOR, Role.VISITATOR))]
Visitator = Annotated[Principal, Depends(requires(Role.VISITATOR))]
Housing = Annotated[Principal, Depends(requires(Role.HOUSING))]
Coordinator = Annotated[Principal, Depends(requires(Role.COORDINATOR))]

"""Who is calling: bearer tokens checked per request, roles per route, a rate per token."""

from __future__ import annotations

import datetime as dt
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from broker.access import Principal, Role, authenticate
from broker.api._problems import ApiProblem
from broker.db import session_scope

__all__ = [
    "Admin",
    "AdminOrAuditor",
    "Auditor",
    "AuditorOrVisitator",
    "Coordinator",
    "DbSession",
    "Housing",
    "RateLimiter",
    "ReadSession",
    "Visitator",
    "db_session",
    "read_session",
    "requires",
]

_bearer = HTTPBearer(auto_error=False, description="A token from `broker token create`.")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="renovation-broker"'}


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
    """One session per request: committed when the route succeeds, rolled back otherwise."""
    with session_scope(request.app.state.session_factory) as session:
        yield session


def read_session(request: Request) -> Iterator[Session]:
    """A read-only session for a route that writes nothing (the database refuses writes)."""
    with session_scope(request.app.state.read_session_factory) as session:
        yield session


def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # 1. A bearer token must be present and valid now (not expired, not revoked). Its
    #    own short read: the route's session, perhaps a writer's, opens after it closes.
    if credentials is None:
        raise ApiProblem(401, "authentication required", headers=_CHALLENGE)
    with session_scope(request.app.state.read_session_factory) as session:
        principal = authenticate(session, credentials.credentials, now=dt.datetime.now(dt.UTC))
    if principal is None:
        raise ApiProblem(401, "invalid, expired or revoked token", headers=_CHALLENGE)
    # 2. Each token has its own rate.
    wait = request.app.state.rate_limiter.take(principal.token_id)
    if wait:
        retry = str(max(1, math.ceil(wait)))
        raise ApiProblem(429, "too many requests", headers={"Retry-After": retry})
    return principal


def requires(*roles: Role) -> Callable[..., Principal]:
    """Return a dependency that admits only ``roles`` (403 for any other role)."""

    def check(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
        if principal.role not in roles:
            raise ApiProblem(403, "not allowed for this role")
        return principal

    return check


DbSession = Annotated[Session, Depends(db_session)]
"""A route parameter: the request's database session."""
ReadSession = Annotated[Session, Depends(read_session)]
"""A route parameter: the request's read-only database session."""
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]
Auditor = Annotated[Principal, Depends(requires(Role.AUDITOR))]
AdminOrAuditor = Annotated[Principal, Depends(requires(Role.ADMIN, Role.AUDITOR))]
AuditorOrVisitator = Annotated[Principal, Depends(requires(Role.AUDITOR, Role.VISITATOR))]
Visitator = Annotated[Principal, Depends(requires(Role.VISITATOR))]
Housing = Annotated[Principal, Depends(requires(Role.HOUSING))]
Coordinator = Annotated[Principal, Depends(requires(Role.COORDINATOR))]

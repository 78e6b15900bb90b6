"""The layers every request passes, outermost first: its id, admission, the body limit.

Pure ASGI, not ``@app.middleware("http")``: a request's body streams through them
as the route reads it, and nothing is copied.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import structlog
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broker.api._problems import problem_for
from broker.logging import new_run_id

__all__ = ["Admission", "BodyLimit", "RequestId"]

_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


class RequestId:
    """Bind a run id to every log line of the request and return it as ``X-Request-ID``.

    Every response leaves with ``X-Content-Type-Options: nosniff`` (those of the API, the
    pages, the files and every refusal, the outer layers' too): a browser uses a body only
    as the type it is sent as.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request under its run id."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # A client's id is used only if it is a plain token: it goes into every log line.
        offered = Headers(scope=scope).get("x-request-id", "")
        run_id = offered if _REQUEST_ID.fullmatch(offered) else new_run_id()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = run_id
                headers.setdefault("x-content-type-options", "nosniff")
            await send(message)

        with structlog.contextvars.bound_contextvars(run_id=run_id):
            await self.app(scope, receive, send_with_id)


class Admission:
    """Serve at most ``limit`` requests at once; the others wait their turn on the event loop."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self._admitted = asyncio.Semaphore(limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request when its turn comes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Beyond the limit a request waits here, holding no thread.
        async with self._admitted:
            await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` the moment the body passes the limit.

    An ``HTTPException``, so that FastAPI's own body reading passes it on to the
    problem handler unchanged, and the route never runs.
    """

    def __init__(self) -> None:
        """A 413 that closes the connection: the rest of the body is never read."""
        super().__init__(413, "request body too large", headers={"Connection": "close"})


class BodyLimit:
    """Refuse a body over ``limit`` bytes, counted as it streams, with 413 problem+json.

    Outside the API (a page's form), with the Danish error page ``page`` gives instead.

    A declared ``Content-Length`` over the limit is refused before anything is read;
    a body sent without one (chunked), or longer than it said, is refused as soon as
    its bytes pass the limit. Either way the route never sees it, so it changes nothing.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        page: Callable[[Scope], Awaitable[ASGIApp | None]] | None = None,
    ) -> None:
        """Wrap ``app``; ``page(scope)`` gives the refusal outside the API (None: the problem)."""
        self.app = app
        self.limit = limit
        self.page = page

    async def _refuse(self, exc: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self.page(scope) if self.page is not None else None
        await (answer if answer is not None else problem_for(exc))(scope, receive, send)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request with its body counted."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(BodyTooLarge(), scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:
            # Read outside a route (no handler answered it): answered here, if still possible.
            if started:
                raise
            await self._refuse(exc, scope, receive, send)

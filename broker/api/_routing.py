"""The route class of every API router: its JSON body is parsed with the nesting bounded."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from broker import bounded_json

__all__ = ["BoundedJsonRoute"]


class _BoundedJsonRequest(Request):
    async def json(self) -> Any:
        # FastAPI turns a JSONDecodeError (NestedTooDeep is one) into a 422 naming the rule.
        if not hasattr(self, "_json"):
            self._json = bounded_json.loads(await self.body())
        return self._json


class BoundedJsonRoute(APIRoute):
    """A route whose JSON body nested deeper than ``bounded_json.MAX_DEPTH`` is refused (422).

    Give it to every router: ``APIRouter(..., route_class=BoundedJsonRoute)``.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Return FastAPI's handler, given the request whose JSON is parsed bounded."""
        handler = super().get_route_handler()

        async def bounded(request: Request) -> Response:
            return await handler(_BoundedJsonRequest(request.scope, request.receive))

        return bounded

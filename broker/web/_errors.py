"""Error pages: a Danish page in the layout for every path outside the API.

The API's handlers stay the one mapping of errors to statuses: for a page, the
handler the API registered decides the status (and ``Retry-After``), and the page
says it in the reader's language. Under ``/v1`` (and the operational routes) the
answer is the API's problem+json, unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import WebSocketRequestValidationError
from fastapi.responses import Response
from starlette.types import Scope

from broker.web._i18n import N_, gettext_for
from broker.web._shell import (
    PageRefused,
    SignInRequired,
    is_api_path,
    language,
    redirect_to_sign_in,
    render,
)

__all__ = ["error_page", "install_error_pages", "too_large_page"]

log = structlog.get_logger("broker.web")

PAGES: Mapping[int, tuple[str, str]] = {
    400: (N_("The request could not be read"), N_("Go back and try again.")),
    403: (N_("Not for your role"), N_("Your role does not give access to this page.")),
    404: (
        N_("The page was not found"),
        N_("Check the address, or go to the start page and find the page from there."),
    ),
    405: (N_("The page was not found"), N_("This page cannot be used that way.")),
    413: (N_("Too much was sent"), N_("The form or file is larger than the broker accepts.")),
    422: (N_("The request could not be read"), N_("Go back and try again.")),
    500: (
        N_("Sorry, something went wrong"),
        N_("Nothing was changed. Try again later; if it goes on, tell your administrator."),
    ),
    503: (
        N_("The service is unavailable"),
        N_("Nothing was changed. Try again in a few minutes."),
    ),
}
"""The heading and text of each error page; other statuses use the one of their class."""

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def _texts(status: int) -> tuple[str, str]:
    if status in PAGES:
        return PAGES[status]
    return PAGES[500] if status >= 500 else PAGES[400]  # noqa: PLR2004 - the server's errors


def error_page(
    request: Request,
    status: int,
    title: str,
    text: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """Return the error page with the msgids ``title`` and ``text`` (a sync call: may read)."""
    gettext = gettext_for(language(request))
    # A server error may be the database's: the page then renders without the session.
    response = render(
        request,
        "error.html",
        {"title": gettext(title), "text": gettext(text)},
        status=status,
        with_account=status < 500,  # noqa: PLR2004 - the server's errors
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _for_pages(previous: Handler) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = previous(request, exc)
        response = await answer if inspect.isawaitable(answer) else answer
        if is_api_path(request.url.path):
            return response
        status = response.status_code
        headers = {k: v for k, v in response.headers.items() if k.lower() == "retry-after"}
        return await run_in_threadpool(error_page, request, status, *_texts(status), headers)

    return handle


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageRefused)  # noqa: S101 - registered for this kind
    return await run_in_threadpool(error_page, request, exc.status, exc.title, exc.text)


async def _sign_in(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)  # noqa: S101 - registered for this kind
    return redirect_to_sign_in(exc.next_path)


async def too_large_page(scope: Scope) -> Response | None:
    """The error page for a form over the body limit (None on the API's paths: its problem)."""
    if is_api_path(str(scope.get("path", ""))):
        return None
    return await run_in_threadpool(error_page, Request(scope), 413, *PAGES[413])


def install_error_pages(app: FastAPI) -> None:
    """Answer errors outside the API with error pages; call after the API's handlers."""
    registered: dict[Any, Handler] = dict(app.exception_handlers)
    for kind, previous in registered.items():
        if kind is not WebSocketRequestValidationError:  # no page for a websocket
            app.add_exception_handler(kind, _for_pages(previous))
    app.add_exception_handler(PageRefused, _refused)
    app.add_exception_handler(SignInRequired, _sign_in)

"""The pages' shell: templates in the reader's language, the signed-in user, CSRF, cookies.

Every page handler is a few lines on top of this module:

- ``SignedIn`` / ``Annotated[Principal, SignedInAs(Role.X, ...)]``: the signed-in
  user as the same :class:`~broker.access.Principal` a token gives (kind ``user``).
  Signed out, the browser is sent to ``/log-ind?next=<this page>``; in another role
  the answer is 403 (a Danish page).
- :func:`page_router`: the router every page module uses. Its dependency checks the
  CSRF token of every POST before the handler runs (synchronizer token: the session's
  secret; before sign-in, a cookie of its own, double-submitted).
- :func:`render`: one template, in Danish unless ``?lang=en`` or the language cookie
  says English, with the layout's header (who is signed in, sign-out) filled in.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from broker.access import Principal, Role
from broker.accounts import SignedIn as Account
from broker.accounts import look_up_session, resume_session
from broker.config import Settings
from broker.db import session_scope, storage_error
from broker.errors import StorageError
from broker.keys import KeyRing, KeyStore
from broker.web._i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, translations
from broker.web._static import static_url
from schemas import looks_personal, scrub_personal

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "LANG_COOKIE",
    "SESSION_COOKIE",
    "XLSX",
    "PageDb",
    "PageKeys",
    "PageReadDb",
    "PageRefused",
    "SignInRequired",
    "SignedIn",
    "SignedInAs",
    "WebSessions",
    "current_account",
    "download",
    "environment",
    "form_token",
    "is_api_path",
    "language",
    "local_path",
    "page_router",
    "redirect_to_sign_in",
    "render",
    "set_cookie",
    "web_now",
]

log = structlog.get_logger("broker.web")

SESSION_COOKIE = "broker_session"
CSRF_COOKIE = "broker_csrf"
LANG_COOKIE = "broker_lang"
CSRF_FIELD = "csrf_token"
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")
"""A cookie value we issued (``secrets.token_urlsafe(32)``); anything else is ignored."""
_LANG_NAMES = {"da": "Dansk", "en": "English"}
_STATIC = "/static/"
"""Static files need no session: their requests are never looked up."""
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
"""Every page's policy: this site's scripts, styles, images and fonts only; no framing."""
_API_PATHS = ("/v1", "/healthz", "/readyz", "/docs", "/redoc", "/openapi.json")


def is_api_path(path: str) -> bool:
    """Return whether ``path`` belongs to the API (problem+json answers), not the pages."""
    return any(path == p or path.startswith(p + "/") for p in _API_PATHS)


class SignInRequired(Exception):  # noqa: N818 - a state, answered by a redirect
    """The page needs a signed-in user: answered by a redirect to ``/log-ind?next=...``."""

    def __init__(self, next_path: str) -> None:
        """Carry the local path to return to after sign-in."""
        super().__init__("sign-in required")
        self.next_path = next_path


class PageRefused(Exception):  # noqa: N818 - the page's answer, as HTTP names it
    """A page's refusal with its status and texts (msgids), answered by the error page."""

    def __init__(self, status: int, title: str, text: str) -> None:
        """Carry the status and the msgids of the page's heading and text."""
        super().__init__(title)
        self.status, self.title, self.text = status, title, text


FORBIDDEN = (N_("Not for your role"), N_("Your role does not give access to this page."))
CSRF_REFUSED = (
    N_("The form has expired"),
    N_(
        "The form could not be checked, so nothing was changed. Go back, reload the page"
        " and try again."
    ),
)


@functools.cache
def environment(lang: str) -> Environment:
    """Return the Jinja2 environment of ``lang``, its gettext bound to the one catalogue."""
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(("html",)),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.globals["static_url"] = static_url
    return env


def web_now(request: Request) -> dt.datetime:
    """The time now, by the app's clock (``app.state.web_clock``; tests freeze it)."""
    clock: Callable[[], dt.datetime] = request.app.state.web_clock
    return clock()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _limits(settings: Settings) -> tuple[dt.timedelta, dt.timedelta]:
    return (
        dt.timedelta(minutes=settings.session_idle_minutes),
        dt.timedelta(hours=settings.session_lifetime_hours),
    )


def _look_up(app: Any, secret: str) -> Account | None:
    idle, lifetime = _limits(app.state.settings)
    now = app.state.web_clock()
    with session_scope(app.state.read_session_factory) as session:
        lookup = look_up_session(session, secret, now=now, idle=idle, lifetime=lifetime)
    if not lookup.write_due:
        return lookup.signed_in
    with session_scope(app.state.session_factory) as session:
        return resume_session(session, secret, now=now, idle=idle, lifetime=lifetime)


class WebSessions:
    """Find who each page request's session cookie signs in, before the page runs.

    A read, unless the session has expired (its row is deleted) or its last-seen time
    is due (written once a minute): then a short write, done here, before any session of
    the page's own is open, so the two never wait on each other. API paths pass untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Put the request's account (or None) in its state, then serve it."""
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path or is_api_path(path) or path.startswith(_STATIC):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["account"], state["account_error"] = None, None
        secret = Request(scope).cookies.get(SESSION_COOKIE, "")
        if _SECRET.match(secret):
            try:
                state["account"] = await run_in_threadpool(_look_up, scope["app"], secret)
            except SQLAlchemyError as exc:
                state["account_error"] = storage_error(exc)
        await self.app(scope, receive, send)


def current_account(request: Request) -> Account | None:
    """Return who is signed in (found by :class:`WebSessions`), or None."""
    account: Account | None = getattr(request.state, "account", None)
    return account


def local_path(candidate: str | None) -> str:
    """Return ``candidate`` if it is a path on this site, else ``/`` (no open redirect)."""
    if not candidate or not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return "/"
    if any(ord(ch) < 0x21 or ch == "\\" for ch in candidate):  # noqa: PLR2004 - controls, space
        return "/"
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return "/"
    return candidate


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _signed_in(request: Request) -> Principal:
    failed: StorageError | None = getattr(request.state, "account_error", None)
    if failed is not None:
        raise failed
    account = current_account(request)
    if account is None:
        raise SignInRequired(local_path(_here(request)))
    return account.principal


SignedIn = Annotated[Principal, Depends(_signed_in)]
"""A page parameter: the signed-in user as a principal (signed out: sent to sign in)."""


def SignedInAs(*roles: Role) -> Any:  # noqa: N802 - reads as the type it annotates
    """Return the dependency of a page for ``roles`` only.

    Used as ``Annotated[Principal, SignedInAs(Role.VISITATOR)]``. Signed out: a redirect
    to sign in; signed in with another role: 403.
    """

    def check(principal: SignedIn) -> Principal:
        if principal.role not in roles:
            raise PageRefused(403, *FORBIDDEN)
        return principal

    return Depends(check)


def _page_db(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.session_factory) as session:
        yield session


def _page_read_db(request: Request) -> Iterator[Session]:
    with session_scope(request.app.state.read_session_factory) as session:
        yield session


PageDb = Annotated[Session, Depends(_page_db, scope="function")]
"""A page parameter: the request's database session, committed when the page returns.

Before its response is sent (``scope="function"``): the browser follows a redirect at
once, and the page it is sent to must find what the form changed.
"""
PageReadDb = Annotated[Session, Depends(_page_read_db, scope="function")]
"""A page parameter: a read-only database session."""


def _page_keys(request: Request) -> KeyRing:
    store: KeyStore = request.app.state.keys
    return store.ring()


PageKeys = Annotated[KeyRing, Depends(_page_keys)]
"""A page parameter: the process's log key ring (for a page that puts something on record)."""


def language(request: Request) -> str:
    """Return the reader's language: ``?lang=``, else the language cookie, else Danish."""
    asked = request.query_params.get("lang")
    if asked in LANGUAGES:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in LANGUAGES else DEFAULT_LANGUAGE


def form_token(request: Request) -> str:
    """Return the CSRF token the request's forms carry (the session's, or a new cookie's)."""
    account = current_account(request)
    if account is not None:
        return account.csrf
    kept = request.cookies.get(CSRF_COOKIE, "")
    if _SECRET.match(kept):
        return kept
    issued: str | None = getattr(request.state, "issued_csrf", None)
    if issued is None:
        issued = secrets.token_urlsafe(32)
        request.state.issued_csrf = issued
    return issued


def _expected_token(request: Request) -> str | None:
    account = current_account(request)
    if account is not None:
        return account.csrf
    kept = request.cookies.get(CSRF_COOKIE, "")
    return kept if _SECRET.match(kept) else None


async def _check_csrf(request: Request) -> None:
    # 1. Only a POST changes anything; each must carry the token of its session.
    if request.method != "POST":
        return
    form = await request.form()
    presented = form.get(CSRF_FIELD)
    # 2. Expected: the session's secret, or before sign-in the cookie set with the form.
    expected = _expected_token(request)
    # 3. Compared in constant time; a missing or wrong token changes nothing.
    if not (
        isinstance(presented, str)
        and expected is not None
        and hmac.compare_digest(presented.encode(), expected.encode())
    ):
        # The route's pattern, not the path: a path can hold a one-time link or typed data.
        route = getattr(request.scope.get("route"), "path", None)
        log.warning("web.csrf_refused", route=route)
        raise PageRefused(403, *CSRF_REFUSED)


def page_router() -> APIRouter:
    """Return a router for pages: HTML answers, out of the API's schema, CSRF on every POST."""
    return APIRouter(
        dependencies=[Depends(_check_csrf)],
        include_in_schema=False,
        default_response_class=HTMLResponse,
    )


def set_cookie(request: Request, response: Response, name: str, value: str, **extra: Any) -> None:
    """Set a cookie of the pages: HttpOnly, SameSite=Lax, Path=/, Secure behind https."""
    secure = _settings(request).public_url.scheme == "https"
    response.set_cookie(
        name, value, httponly=True, samesite="lax", secure=secure, path="/", **extra
    )


@dataclass(frozen=True, slots=True)
class _Layout:
    lang: str
    other_lang: str
    other_lang_name: str
    language_link: str


def _layout(request: Request, lang: str) -> _Layout:
    other = "en" if lang == "da" else "da"
    # The same page in the other language, with its query, unless a value looks personal.
    query = [
        (k, v)
        for k, v in request.query_params.multi_items()
        if k != "lang" and looks_personal(k) is None and looks_personal(v) is None
    ]
    query.append(("lang", other))
    # The path is what was asked for (on a 404 page, anything typed): a link to it must
    # not leave the site ("//evil.example", "/\\evil.example") nor repeat personal data.
    path: str = request.scope["path"]  # decoded, so quoted once below
    if local_path(path) != path or scrub_personal(path) != path:
        path = "/"
    link = quote(path) + "?" + "&".join(f"{quote(k)}={quote(v)}" for k, v in query)
    return _Layout(lang, other, _LANG_NAMES[other], link)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    with_account: bool = True,
) -> HTMLResponse:
    """Render one page in the reader's language, in the layout; set the cookies it needs.

    ``with_account=False`` renders without looking up the session (an error page while
    the database is down).
    """
    lang = language(request)
    account = current_account(request) if with_account else None
    layout = _layout(request, lang)
    page = environment(lang).get_template(template)
    html = page.render(
        {
            "lang": lang,
            "other_lang": layout.other_lang,
            "other_lang_name": layout.other_lang_name,
            "language_link": layout.language_link,
            "account": account,
            "csrf_token": form_token(request) if with_account else "",
            **(context or {}),
        }
    )
    response = HTMLResponse(html, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    if request.query_params.get("lang") in LANGUAGES:
        set_cookie(request, response, LANG_COOKIE, lang, max_age=365 * 24 * 3600)
    issued = getattr(request.state, "issued_csrf", None)
    if issued is not None:
        set_cookie(request, response, CSRF_COOKIE, issued)
    return response


def redirect_to_sign_in(next_path: str) -> Response:
    """Return the redirect to the sign-in page, coming back to ``next_path`` afterwards."""
    target = "/log-ind" if next_path == "/" else f"/log-ind?next={quote(next_path, safe='')}"
    return RedirectResponse(target, status_code=303)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
"""The media type of a spreadsheet download (``download(body, XLSX, name)``)."""


def download(body: bytes, media_type: str, filename: str) -> Response:
    """Return a file to save (``filename``): never cached, its type never sniffed."""
    headers = {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    return Response(body, media_type=media_type, headers=headers)

"""Signing in and out with a local account, and setting a password from a one-time link.

Other ways to sign in (an organisation's OpenID Connect provider) plug in here:
:func:`add_sign_in_option` puts a button on ``/log-ind`` and :func:`begin_session`
opens the session once the other way has found the user. Each sign-in and
sign-out is recorded in the application log (never a password, username or link).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from broker.accounts import (
    MIN_PASSWORD,
    PASSWORD_MISMATCH,
    PASSWORD_TOO_LONG,
    PASSWORD_TOO_SHORT,
    Attempt,
    Throttle,
    User,
    check_password,
    clear_failures,
    end_session,
    link_user,
    record_failure,
    set_password,
    sign_in_wait,
    start_session,
)
from broker.errors import InputError, NotFound
from broker.web._i18n import N_, gettext_for
from broker.web._shell import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    PageDb,
    PageReadDb,
    PageRefused,
    current_account,
    language,
    local_path,
    page_router,
    render,
    set_cookie,
    web_now,
)
from schemas import scrub_personal

__all__ = ["SignInOption", "add_sign_in_option", "begin_session", "router"]

log = structlog.get_logger("broker.web")
router = page_router()

_ORG = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
_LINK = re.compile(r"^[A-Za-z0-9_-]{43}$")

MISSING = {
    "org": N_("Enter your organisation"),
    "username": N_("Enter your username"),
    "password": N_("Enter your password"),
}
WRONG = N_("The organisation, username or password is wrong.")
LIMITED = N_("Too many failed attempts. Try again in %(minutes)s minutes.")
NOTICES = {
    "gemt": N_("Your password is saved. Sign in with it."),
    "ud": N_("You are signed out."),
}
PASSWORD_RULES = {
    PASSWORD_TOO_SHORT: N_("The password must be at least %(count)s characters"),
    PASSWORD_TOO_LONG: N_("The password is too long"),
    PASSWORD_MISMATCH: N_("The two passwords are not the same"),
}
"""The Danish of each rule a new password can break (``broker.accounts.PASSWORD_*``)."""
LINK_INVALID = (
    N_("The link does not work"),
    N_("The link has been used, has expired or is unknown. Ask your administrator for a new one."),
)


@dataclass(frozen=True, slots=True)
class SignInOption:
    """Another way to sign in, offered on ``/log-ind``: a button's text and where it goes."""

    label: str
    """In the reader's language (``broker.web.language`` and ``gettext_for``)."""
    href: str


SignInOptions = Callable[[Request], Sequence[SignInOption]]


def add_sign_in_option(app: FastAPI, options: SignInOptions) -> None:
    """Offer on the sign-in page the ways to sign in that ``options`` returns per request."""
    app.state.sign_in_options.append(options)


def _options(request: Request) -> list[SignInOption]:
    providers: list[SignInOptions] = request.app.state.sign_in_options
    return [option for provider in providers for option in provider(request)]


def begin_session(
    request: Request, session: Session, user: User, *, method: str, next_path: str = "/"
) -> Response:
    """Sign ``user`` in: open a session in ``session``, set its cookie, go on to ``next_path``.

    ``next_path`` is followed only when it is local. ``method`` names the way the user
    signed in, for the log (``password``, ``oidc``). The caller's request commits it.
    Signed in another way, the user row comes from ``broker.accounts.external_user``.
    """
    settings = request.app.state.settings
    # A session this browser already had ends: one browser, one session (no old one
    # left valid behind the new cookie).
    earlier = request.cookies.get(SESSION_COOKIE, "")
    if earlier:
        end_session(session, earlier)
    secret = start_session(
        session,
        user,
        now=web_now(request),
        idle=dt.timedelta(minutes=settings.session_idle_minutes),
        lifetime=dt.timedelta(hours=settings.session_lifetime_hours),
    )
    log.info("web.signed_in", user=user.id, org=user.org, role=user.role, method=method)
    response = RedirectResponse(local_path(next_path), status_code=303)
    set_cookie(request, response, SESSION_COOKIE, secret)
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


def _next(raw: str | None) -> str:
    # Only a local path; and not one that carries what looks like personal data.
    path = local_path(raw)
    return path if scrub_personal(path) == path else "/"


def _shown(value: str) -> str:
    # What was typed is shown again only if it cannot be personal data typed into the
    # wrong field (a CPR number as a username, say).
    value = value.strip()[:64]
    return value if scrub_personal(value) == value else ""


def _sign_in_page(  # noqa: PLR0913 - the form's whole state, all named
    request: Request,
    *,
    org: str = "",
    username: str = "",
    next_path: str = "/",
    errors: Sequence[tuple[str | None, str]] = (),
    notice: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "signin/log_ind.html",
        {
            "org": _shown(org),
            "username": _shown(username),
            "next": _next(next_path),
            "errors": list(errors),
            "field_errors": {field: message for field, message in errors if field},
            "notice": notice,
            "sign_in_options": _options(request),
        },
        status=status,
    )


@router.get("/log-ind")
def sign_in_form(request: Request, next: str = "/") -> Response:  # noqa: A002 - the query's name
    """The sign-in form (signed in already: on to ``next``)."""
    if current_account(request) is not None:
        return RedirectResponse(_next(next), status_code=303)
    gettext = gettext_for(language(request))
    notice = None
    for key, message in NOTICES.items():
        if request.query_params.get("besked") == key:
            notice = gettext(message)
    return _sign_in_page(request, next_path=next, notice=notice)


@router.post("/log-ind")
def sign_in(  # noqa: PLR0913, PLR0917 - one argument per form field
    request: Request,
    db: PageDb,
    org: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",  # noqa: A002 - the form field's name
) -> Response:
    """Check the organisation, username and password; open a session or say it failed."""
    gettext = gettext_for(language(request))
    org = org.strip().lower()
    typed = {"org": org, "username": username.strip(), "password": password}
    missing = [(field, gettext(MISSING[field])) for field, value in typed.items() if not value]
    if missing:
        return _sign_in_page(
            request, org=org, username=username, next_path=next, errors=missing, status=422
        )
    settings = request.app.state.settings
    throttle = Throttle(
        per_account=settings.sign_in_failures_per_account,
        per_address=settings.sign_in_failures_per_address,
        window=dt.timedelta(minutes=settings.sign_in_window_minutes),
    )
    attempt = Attempt(org, username, request.client.host if request.client else "")
    now = web_now(request)
    # 1. At the limit, the password is not even checked.
    limited = sign_in_wait(db, attempt, now=now, throttle=throttle)
    if limited is not None:
        _kind, wait = limited
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        page = _sign_in_page(
            request,
            org=org,
            username=username,
            next_path=next,
            errors=[("org", gettext(LIMITED) % {"minutes": minutes})],
            status=429,
        )
        page.headers["Retry-After"] = str(max(1, math.ceil(wait.total_seconds())))
        return page
    # 2. The password, checked as long for an unknown user as for a known one.
    user = check_password(db, org, username, password) if _ORG.match(org) else None
    if user is None:
        # One message whatever was wrong: it does not tell which accounts exist.
        # An organisation's name is logged; a CPR or phone number typed in its place is not.
        shown_org = org if _ORG.match(org) and scrub_personal(org) == org else None
        log.info("web.sign_in_failed", org=shown_org, method="password")
        for kind in record_failure(db, attempt, now=now, throttle=throttle):
            log.warning("web.sign_in_limited", by=kind, org=shown_org)
        return _sign_in_page(
            request,
            org=org,
            username=username,
            next_path=next,
            errors=[("org", gettext(WRONG))],
            status=401,
        )
    clear_failures(db, org, username)
    return begin_session(request, db, user, method="password", next_path=_next(next))


@router.post("/log-ud")
def sign_out(request: Request, db: PageDb) -> Response:
    """End the session (its row is deleted) and go to the sign-in page."""
    account = current_account(request)
    secret = request.cookies.get(SESSION_COOKIE, "")
    if secret and end_session(db, secret) and account is not None:
        principal = account.principal
        log.info("web.signed_out", user=principal.token_id, org=principal.org)
    response = RedirectResponse("/log-ind?besked=ud", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _password_page(
    request: Request,
    user: User,
    token: str,
    errors: Sequence[tuple[str | None, str]] = (),
    status: int = 200,
) -> Response:
    return render(
        request,
        "signin/adgangskode.html",
        {
            "username": user.username,
            "org": user.org,
            "action": f"/adgangskode/{token}",
            "min_length": MIN_PASSWORD,
            "errors": list(errors),
            "field_errors": {field: message for field, message in errors if field},
        },
        status=status,
    )


@router.get("/adgangskode/{token}")
def password_form(request: Request, token: str, db: PageReadDb) -> Response:
    """The form to choose a password, from a one-time link (a spent link: a Danish 404)."""
    user = link_user(db, token, now=web_now(request)) if _LINK.match(token) else None
    if user is None:
        raise PageRefused(404, *LINK_INVALID)
    return _password_page(request, user, token)


@router.post("/adgangskode/{token}")
def choose_password(
    request: Request,
    token: str,
    db: PageDb,
    password: Annotated[str, Form()] = "",
    repeated: Annotated[str, Form()] = "",
) -> Response:
    """Set the password and spend the link; a refused password keeps the link valid."""
    if not _LINK.match(token):
        raise PageRefused(404, *LINK_INVALID)
    gettext = gettext_for(language(request))
    try:
        user = set_password(db, token, password, repeated, now=web_now(request))
    except NotFound:
        raise PageRefused(404, *LINK_INVALID) from None
    except InputError as exc:
        found = link_user(db, token, now=web_now(request))
        if found is None:  # pragma: no cover - set_password found it a moment ago
            raise PageRefused(404, *LINK_INVALID) from None
        errors = [
            (p.column, gettext(PASSWORD_RULES[p.rule]) % {"count": MIN_PASSWORD})
            for p in exc.problems
        ]
        return _password_page(request, found, token, errors, status=422)
    log.info("web.password_set", user=user.id, org=user.org)
    return RedirectResponse("/log-ind?besked=gemt", status_code=303)

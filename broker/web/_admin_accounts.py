"""The operator's pages of who may use the broker (role ``admin``): users and API tokens.

- ``/drift/brugere``: the local users of the pages (username, organisation, role and
  scope, created, last signed in, disabled or not), a form to create one (as ``broker
  user create``: the answer shows its one-time set-password link) and a button per
  user to disable it (as ``broker user disable``: its sessions end at once).
- ``/drift/noegler``: the API tokens (label, id, organisation, role, created, last
  used, expiry, revoked or not), a form to create one (as ``broker token create``: the
  answer shows its secret) and a button per token to revoke it (``broker token revoke``).

The two create forms are the pages' one departure from POST-redirect-GET: the link and
the secret exist only in that answer (only their hashes are stored, and neither is
ever logged), so the answer shows them once, as the CLI prints them once, rather than
redirect to a page that could not (a new POST makes another user or token, never shows
this one again). Disabling and revoking redirect back with a note. Bad input answers
422 with the form as filled in, except a value that looks like personal data.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel

from broker import accounts
from broker.access import (
    CONTACT_NEEDED,
    DEPARTMENT_NEEDED,
    EXPIRY_RULE,
    LABEL_PERSONAL,
    LABEL_RULE,
    NAME_RULE,
    ROLE_RULE,
    Role,
    Token,
    create_token,
    list_tokens,
    revoke_token,
    token_state,
)
from broker.accounts import USERNAME_RULE, USERNAME_TAKEN, User, user_state
from broker.errors import InputError, Problem
from broker.web._admin import Operator, OperatorPage
from broker.web._i18n import N_, Gettext
from broker.web._periods import moment_text
from broker.web._shell import (
    PageDb,
    PageReadDb,
    current_account,
    page_router,
    render,
    web_now,
)
from schemas import looks_personal

__all__ = ["ROLE_LABELS", "router"]

log = structlog.get_logger("broker.web")
router = page_router()

ROLE_LABELS = {
    Role.HOUSING: N_("renovation team (housing)"),
    Role.COORDINATOR: N_("coordinator"),
    Role.VISITATOR: N_("visitator"),
    Role.AUDITOR: N_("auditor (DPO)"),
    Role.ADMIN: N_("operator (admin)"),
}
"""Each role as the pages name it."""
_USER_STATES = {
    "active": N_("active"),
    "no password": N_("no password yet"),
    "external": N_("signs in through the organisation"),
}
_TOKEN_STATES = {"active": N_("active"), "expired": N_("expired")}
_RULES = {
    ("role", ROLE_RULE): N_("Choose a role"),
    ("org", NAME_RULE): N_("Write the organisation as lower-case letters, digits and -"),
    ("department", NAME_RULE): N_(
        "Write each department as lower-case letters, digits and -, separated by spaces"
    ),
    ("department", DEPARTMENT_NEEDED): N_("A coordinator needs at least one department"),
    ("contact", CONTACT_NEEDED): N_("A coordinator needs a work e-mail address"),
    ("expires", EXPIRY_RULE): N_("Write a number of days from 1 to 366"),
    ("label", LABEL_RULE): N_("Write at most 60 characters on one line"),
    ("label", LABEL_PERSONAL): N_(
        "The label must not hold a CPR number, an e-mail address or a phone number"
    ),
    ("username", USERNAME_RULE): N_(
        "Write 1-64 lower-case letters, digits, '.', '_' or '-', beginning with a letter or digit"
    ),
    ("username", USERNAME_TAKEN): N_("The username is already taken in this organisation"),
}
"""What the form says of each rule a profile breaks (``broker.access``, ``broker.accounts``)."""
_CHECK_FIELD = N_("Check this field")
_NOT_REPEATED = N_("What was written here looked like personal data, so it is not shown again")
_NOTES = {
    "deaktiveret": N_("The user is disabled: its sessions have ended and it cannot sign in."),
    "allerede-deaktiveret": N_("The user was already disabled."),
    "egen-bruger": N_(
        "You cannot disable the user you are signed in as: another operator can, or"
        " broker user disable."
    ),
    "tilbagekaldt": N_("The token is revoked: the API refuses it from now on."),
    "allerede-tilbagekaldt": N_("The token was already revoked."),
}
_DAYS = re.compile(r"^[0-9]{1,4}$")
_DEFAULT_DAYS = 90
_REFILLED = ("org", "username", "role", "department", "contact", "label", "expires")


def _role_options(gettext: Gettext) -> list[tuple[str, str]]:
    return [("", gettext(N_("Choose a role"))), *((r.value, gettext(ROLE_LABELS[r])) for r in Role)]


def _departments(raw: str) -> tuple[str, ...]:
    return tuple(raw.replace(",", " ").split())


def _when(moment: dt.datetime | None, lang: str) -> str:
    return moment_text(moment, lang) if moment is not None else ""


def _role_text(role: str, departments: str, gettext: Gettext) -> str:
    label = gettext(ROLE_LABELS[Role(role)]) if role in Role.__members__.values() else role
    return f"{label} ({departments.replace(' ', ', ')})" if departments else label


def _errors(problems: tuple[Problem, ...], gettext: Gettext) -> list[tuple[str, str]]:
    return [
        (p.column or "", gettext(_RULES.get((p.column or "", p.rule), _CHECK_FIELD)))
        for p in problems
    ]


def _refill(
    typed: dict[str, str], errors: list[tuple[str, str]], gettext: Gettext
) -> dict[str, str]:
    # The form as filled in, but never a value that looks personal (the contact field
    # asks for a work e-mail address, so it is the one kept).
    values = {}
    for name in _REFILLED:
        value = typed.get(name, "")
        if name != "contact" and looks_personal(value) is not None:
            value = ""
            if not any(field == name for field, _ in errors):
                errors.append((name, gettext(_NOT_REPEATED)))
        values[name] = value
    return values


@dataclass(frozen=True, slots=True)
class _UserLine:
    user: User
    role: str
    created: str
    signed_in: str
    state: str
    disabled: bool


def _user_line(user: User, gettext: Gettext, lang: str) -> _UserLine:
    state = user_state(user)
    text = (
        gettext(N_("disabled %(at)s")) % {"at": _when(user.disabled_at, lang)}
        if state == "disabled"
        else gettext(_USER_STATES[state])
    )
    return _UserLine(
        user,
        _role_text(user.role, user.departments, gettext),
        _when(user.created_at, lang),
        _when(user.last_signed_in_at, lang),
        text,
        disabled=state == "disabled",
    )


def _users_page(
    request: Request,
    operator: OperatorPage,
    session: PageReadDb,
    *,
    typed: dict[str, str] | None = None,
    errors: list[tuple[str, str]] | None = None,
) -> Response:
    gettext, lang = operator.gettext, operator.lang
    errors = list(errors or [])
    values = _refill(typed or {}, errors, gettext)
    note = request.query_params.get("besked", "")
    context = operator.context(
        users=[_user_line(u, gettext, lang) for u in accounts.list_users(session)],
        roles=_role_options(gettext),
        values=values,
        errors=errors,
        field_errors=dict(errors),
        note=gettext(_NOTES[note]) if note in _NOTES else None,
    )
    return render(request, "admin/users.html", context, status=422 if errors else 200)


@router.get("/drift/brugere")
def users(request: Request, operator: Operator, session: PageReadDb) -> Response:
    """The local users of the pages, a form to create one, and a button to disable each."""
    return _users_page(request, operator, session)


class _UserForm(BaseModel):
    """The create-user form as posted (every field may be missing or empty)."""

    org: str = ""
    username: str = ""
    role: str = ""
    department: str = ""
    contact: str = ""


@router.post("/drift/brugere")
def create_user(
    request: Request, operator: Operator, session: PageDb, form: Annotated[_UserForm, Form()]
) -> Response:
    """Create a user (as ``broker user create``); the answer shows its one-time link once."""
    try:
        user, link = accounts.create_user(
            session,
            org=form.org.strip(),
            username=form.username,
            role=form.role,
            departments=_departments(form.department),
            contact=form.contact.strip() or None,
            now=web_now(request),
        )
    except InputError as exc:
        errors = _errors(exc.problems, operator.gettext)
        return _users_page(request, operator, session, typed=form.model_dump(), errors=errors)
    by = operator.principal.token_id
    log.info("web.user_created", user=user.id, org=user.org, role=user.role, by=by)
    public = str(request.app.state.settings.public_url).rstrip("/")
    line = _user_line(user, operator.gettext, operator.lang)
    context = operator.context(user=line, link=f"{public}/adgangskode/{link}")
    return render(request, "admin/user_created.html", context)


@router.post("/drift/brugere/deaktiver")
def disable_user(
    request: Request,
    operator: Operator,
    session: PageDb,
    org: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
) -> Response:
    """Disable a user at once (as ``broker user disable``), then back to the users.

    Not the operator's own: the last operator would lock the pages' operations out.
    """
    account = current_account(request)
    if account is not None and (org, username) == (account.principal.org, account.username):
        return RedirectResponse("/drift/brugere?besked=egen-bruger", status_code=303)
    changed = accounts.disable_user(session, org, username, now=web_now(request))
    if changed:
        # The username is not logged (it may be a person's name): the organisation and who.
        log.info("web.user_disabled", org=org, by=operator.principal.token_id)
    note = "deaktiveret" if changed else "allerede-deaktiveret"
    return RedirectResponse(f"/drift/brugere?besked={note}", status_code=303)


@dataclass(frozen=True, slots=True)
class _TokenLine:
    token: Token
    role: str
    created: str
    last_used: str
    expires: str
    state: str
    revoked: bool


def _token_line(token: Token, gettext: Gettext, lang: str, now: dt.datetime) -> _TokenLine:
    state = token_state(token, now=now)
    text = (
        gettext(N_("revoked %(at)s")) % {"at": _when(token.revoked_at, lang)}
        if state == "revoked"
        else gettext(_TOKEN_STATES[state])
    )
    return _TokenLine(
        token,
        _role_text(token.role, token.departments, gettext),
        _when(token.created_at, lang),
        _when(token.last_used_at, lang),
        _when(token.expires_at, lang),
        text,
        revoked=state == "revoked",
    )


def _tokens_page(
    request: Request,
    operator: OperatorPage,
    session: PageReadDb,
    *,
    typed: dict[str, str] | None = None,
    errors: list[tuple[str, str]] | None = None,
) -> Response:
    gettext, lang, now = operator.gettext, operator.lang, web_now(request)
    errors = list(errors or [])
    values = _refill({"expires": str(_DEFAULT_DAYS), **(typed or {})}, errors, gettext)
    note = request.query_params.get("besked", "")
    context = operator.context(
        tokens=[_token_line(t, gettext, lang, now) for t in list_tokens(session)],
        roles=_role_options(gettext),
        values=values,
        errors=errors,
        field_errors=dict(errors),
        note=gettext(_NOTES[note]) if note in _NOTES else None,
    )
    return render(request, "admin/tokens.html", context, status=422 if errors else 200)


@router.get("/drift/noegler")
def tokens(request: Request, operator: Operator, session: PageReadDb) -> Response:
    """The API tokens, a form to create one, and a button to revoke each."""
    return _tokens_page(request, operator, session)


class _TokenForm(BaseModel):
    """The create-token form as posted (every field may be missing or empty)."""

    label: str = ""
    org: str = ""
    role: str = ""
    department: str = ""
    contact: str = ""
    expires: str = ""


@router.post("/drift/noegler")
def create_api_token(
    request: Request, operator: Operator, session: PageDb, form: Annotated[_TokenForm, Form()]
) -> Response:
    """Create a token (as ``broker token create``); the answer shows its secret, once."""
    # A whole number of days, which the service checks; anything else is out of its range.
    expires = form.expires.strip()
    days = int(expires) if _DAYS.match(expires) else 0
    now = web_now(request)
    try:
        token, secret = create_token(
            session,
            role=form.role,
            org=form.org.strip(),
            departments=_departments(form.department),
            contact=form.contact.strip() or None,
            days=days,
            label=form.label,
            now=now,
        )
    except InputError as exc:
        errors = _errors(exc.problems, operator.gettext)
        return _tokens_page(request, operator, session, typed=form.model_dump(), errors=errors)
    by = operator.principal.token_id
    log.info("web.token_created", token=token.id, org=token.org, role=token.role, by=by)
    line = _token_line(token, operator.gettext, operator.lang, now)
    return render(request, "admin/token_created.html", operator.context(token=line, secret=secret))


@router.post("/drift/noegler/{token_id}/tilbagekald")
def revoke_api_token(
    request: Request, operator: Operator, session: PageDb, token_id: str
) -> Response:
    """Revoke a token at once (as ``broker token revoke``), then back to the tokens."""
    changed = revoke_token(session, token_id, now=web_now(request))
    if changed:
        log.info("web.token_revoked", token=token_id, by=operator.principal.token_id)
    note = "tilbagekaldt" if changed else "allerede-tilbagekaldt"
    return RedirectResponse(f"/drift/noegler?besked={note}#{token_id}", status_code=303)

"""Signed-in clients of the pages, for any test that drives them in process.

The user is created through the accounts service (``broker.accounts``), its password
set through its one-time link, and the browser signs in through the real form at
``/log-ind``: the cookie jar of the ``httpx`` client then holds the session, and the
returned :class:`WebUser` holds the session's CSRF token for the forms it posts.

    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.VISITATOR,
                             org="albertslund")
        page = await client.get("/")
        await client.post("/some-form", data=user.form(field="value"))

- :func:`web_app`: the broker's app on a test database (the shipped policies, no
  scheduler), its page clock set to ``clock`` when given (a frozen time).
- :func:`page_client`: an ``httpx.AsyncClient`` on the app in process
  (``httpx.ASGITransport``), base URL ``http://test``, no redirects followed.
- :func:`sign_in`: create a user with that role and scope (``departments`` and
  ``contact`` for a coordinator; a default contact is filled in) and sign it in;
  ``username`` and ``password`` may be chosen, else fresh ones are made.
- :func:`create_user`: the same user, not signed in (returns its password).
- :func:`form_token`: the CSRF token of the first form of a page (``csrf_token``).
- :func:`sign_in_with`: sign an existing user in through the form (no user is made).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from databases import Database
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from broker import accounts
from broker.access import Role
from broker.api import create_app
from broker.config import Settings
from broker.db import session_scope

__all__ = [
    "POLICIES",
    "WebUser",
    "create_user",
    "form_token",
    "page_client",
    "sign_in",
    "sign_in_with",
    "web_app",
]

POLICIES = Path(__file__).resolve().parent.parent / "policies"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
DEFAULT_CONTACT = "koordinator@bo-vest.example"


def form_token(html: str) -> str:
    """Return the CSRF token of the first form in ``html`` (AssertionError if none)."""
    found = _TOKEN.search(html)
    assert found is not None, "no csrf_token field in the page"
    return found.group(1)


@dataclass
class WebUser:
    """A user of the pages: who it is, its password, and (signed in) its session's CSRF token."""

    user_id: str
    org: str
    username: str
    role: Role
    password: str
    csrf: str = ""

    def form(self, **fields: str) -> dict[str, str]:
        """Return a form body with ``fields`` and this session's CSRF token."""
        return {"csrf_token": self.csrf, **fields}


def web_app(
    database: Database,
    home: Path,
    *,
    clock: Callable[[], dt.datetime] | None = None,
    **settings: Any,
) -> FastAPI:
    """Return the broker's app on ``database`` with ``settings``; its pages' clock ``clock``."""
    chosen = {"policies_dir": POLICIES, "scheduler": False, **settings}
    app = create_app(Settings(home=home, **chosen), engine=database.engine)
    if clock is not None:
        app.state.web_clock = clock
    return app


@asynccontextmanager
async def page_client(
    app: FastAPI, base_url: str = "http://test"
) -> AsyncIterator[httpx.AsyncClient]:
    """Yield an in-process client of ``app`` that keeps cookies and follows no redirects."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def create_user(  # noqa: PLR0913 - a user's whole profile, all named
    session_factory: sessionmaker[Session],
    *,
    role: Role,
    org: str,
    departments: tuple[str, ...] = (),
    contact: str | None = None,
    username: str | None = None,
    password: str | None = None,
) -> WebUser:
    """Create a user with a password through the accounts service (committed)."""
    now = dt.datetime.now(dt.UTC)
    chosen = password or "pw-" + secrets.token_urlsafe(12)
    if role == Role.COORDINATOR:
        departments = departments or ("blokland",)
        contact = contact or DEFAULT_CONTACT
    with session_scope(session_factory) as session:
        user, link = accounts.create_user(
            session,
            org=org,
            username=username or f"{role.value}-{secrets.token_hex(3)}",
            role=role.value,
            departments=departments,
            contact=contact,
            now=now,
        )
        accounts.set_password(session, link, chosen, chosen, now=now)
        return WebUser(user.id, user.org, user.username, role, chosen)


async def sign_in_with(
    client: httpx.AsyncClient, user: WebUser, *, password: str | None = None
) -> httpx.Response:
    """Post the sign-in form for ``user``; on success keep the session's CSRF token on it."""
    page = await client.get("/log-ind")
    answer = await client.post(
        "/log-ind",
        data={
            "csrf_token": form_token(page.text),
            "org": user.org,
            "username": user.username,
            "password": user.password if password is None else password,
        },
    )
    if answer.status_code == 303:
        start = await client.get("/")
        user.csrf = form_token(start.text)
    return answer


async def sign_in(
    client: httpx.AsyncClient, session_factory: sessionmaker[Session], **profile: Any
) -> WebUser:
    """Create a user (``role``, ``org``, ...: as :func:`create_user`) and sign it in."""
    user = create_user(session_factory, **profile)
    answer = await sign_in_with(client, user)
    assert answer.status_code == 303, answer.text
    return user

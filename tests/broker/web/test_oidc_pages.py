"""Signing in to the pages through an organisation's identity provider, through the real routes.

The broker's app runs in process on SQLite and PostgreSQL; the provider is
pytest-iam's real OpenID Connect server on 127.0.0.1, and the user goes through its
login and consent pages. Only the pages' clock is frozen (near the real time, as the
provider stamps its tokens with it), and moved for the expired ID token.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from databases import Database
from fastapi import FastAPI
from oidc_provider import (
    COORDINATOR,
    SECRET_ENV,
    VISITATOR,
    add_user,
    cpr_like,
    issuer,
    log_in,
    providers_file,
    register_client,
)
from sqlalchemy import func, select
from structlog.testing import capture_logs
from webclient import page_client, web_app

from broker.access import Role
from broker.accounts import User, WebSession, disable_user
from broker.db import session_scope
from broker.errors import ConfigError
from broker.oidc import OidcFlow

pytestmark = pytest.mark.anyio

CALLBACK_PATH = "/log-ind/oidc/albertslund/callback"
NO_ROLE = (
    "Din organisation har ikke givet dig en rolle i mæglerens sider. Kontakt din administrator."
)


class Clock:
    """The pages' clock: frozen at the real time when made, moved by hand."""

    def __init__(self) -> None:
        """Start now."""
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        """The time now, as the pages see it."""
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(
    database: Database,
    tmp_path: Path,
    clock: Clock,
    iam_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., FastAPI]:
    """An app whose one provider is the test provider, for a new client (or ``client``)."""

    def make(client: tuple[str, str] | None = None, **extra: str) -> FastAPI:
        client_id, secret = client or register_client(iam_server)
        monkeypatch.setenv(SECRET_ENV, secret)
        path = providers_file(tmp_path, iam_server, client_id, **extra)
        return web_app(database, tmp_path / "home", clock=clock, oidc_file=path)

    return make


async def _start(browser: httpx.AsyncClient, next_path: str = "/") -> httpx.Response:
    """Open the sign-in page and press the provider's button; return the broker's redirect."""
    page = await browser.get("/log-ind" + ("" if next_path == "/" else f"?next={next_path}"))
    found = re.search(r'href="(/log-ind/oidc/albertslund[^"]*)"', page.text)
    assert found is not None, page.text
    return await browser.get(html.unescape(found.group(1)))


async def _through_provider(
    browser: httpx.AsyncClient, user: tuple[str, str], next_path: str = "/"
) -> httpx.Response:
    """Sign in with the provider's button and its pages; return the broker's callback answer."""
    start = await _start(browser, next_path)
    assert start.status_code == 303, start.text
    params = log_in(start.headers["location"], *user)
    return await browser.get(CALLBACK_PATH, params=params)


def _count(app: FastAPI, model: Any) -> int:
    with session_scope(app.state.session_factory) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _text(page: httpx.Response) -> str:
    return html.unescape(re.sub(r"\s+", " ", page.text))


async def test_the_sign_in_page_offers_the_organisations_button(
    make_app: Callable[..., FastAPI],
) -> None:
    """A button per provider, in Danish, carrying the page to come back to."""
    async with page_client(make_app()) as browser:
        page = await browser.get("/log-ind?next=/lister")
    assert 'href="/log-ind/oidc/albertslund?next=%2Flister"' in page.text
    assert "Log ind med Albertslund Kommune" in page.text


async def test_a_visitator_signs_in_through_the_organisation(
    make_app: Callable[..., FastAPI], iam_server: Any
) -> None:
    """Provider, callback, the same session a local sign-in opens, then on to the page asked for."""
    app = make_app()
    user = add_user(iam_server, groups=(VISITATOR,), emails=["visitation@albertslund.dk"])
    async with page_client(app) as browser:
        start = await _start(browser, "/lister")
        assert start.headers["location"].startswith(f"{issuer(iam_server)}/oauth/authorize?")
        cookie = start.headers["set-cookie"].lower()
        assert cookie.startswith("broker_oidc=")
        assert all(part in cookie for part in ("httponly", "samesite=lax", "max-age=600"))
        assert "secure" not in cookie  # http here; Secure behind https
        assert _count(app, OidcFlow) == 1
        with capture_logs() as events:
            answer = await browser.get(
                CALLBACK_PATH, params=log_in(start.headers["location"], *user)
            )
        assert (answer.status_code, answer.headers["location"]) == (303, "/lister")
        assert 'broker_oidc=""' in answer.headers["set-cookie"]
        start_page = await browser.get("/")
    assert start_page.status_code == 200
    assert "oidc-albertslund:" in start_page.text
    assert (_count(app, OidcFlow), _count(app, WebSession)) == (0, 1)
    signed_in = [e for e in events if e["event"] == "web.signed_in"]
    assert [(e["method"], e["role"], e["org"]) for e in signed_in] == [
        ("oidc", "visitator", "albertslund")
    ]


async def test_the_providers_claims_update_the_user_at_each_sign_in(
    make_app: Callable[..., FastAPI], iam_server: Any
) -> None:
    """The same user row each time, its role and departments as the provider says today."""
    app = make_app()
    models, backend = iam_server.models, iam_server.backend
    user = add_user(iam_server, groups=(VISITATOR,), emails=["k@albertslund.dk"])
    async with page_client(app) as browser:
        assert (await _through_provider(browser, user)).status_code == 303
    visitator = backend.get(models.Group, display_name=VISITATOR)
    visitator.members = [m for m in visitator.members if m.user_name != user[0]]
    backend.save(visitator)
    provider_user = backend.get(models.User, user_name=user[0])
    for name in (COORDINATOR, "afdeling:blokland"):
        group = backend.get(models.Group, display_name=name) or models.Group(display_name=name)
        group.members = [*group.members, provider_user]
        backend.save(group)
    async with page_client(app) as browser:
        assert (await _through_provider(browser, user)).status_code == 303
    with session_scope(app.state.session_factory) as session:
        rows = [(u.role, u.departments, u.contact) for u in session.scalars(select(User))]
    assert rows == [(Role.COORDINATOR, "blokland", "k@albertslund.dk")]


@pytest.mark.parametrize(
    ("groups", "title", "text"),
    [
        ((), "Du har ingen rolle i mæglerens sider", NO_ROLE),
        ((VISITATOR, COORDINATOR), "Du har mere end én rolle", "du kan kun have én"),
        ((COORDINATOR,), "Din rolle mangler oplysninger", "mindst én afdeling"),
    ],
)
async def test_claims_that_give_no_single_role_are_refused_with_a_clear_page(
    make_app: Callable[..., FastAPI],
    iam_server: Any,
    groups: tuple[str, ...],
    title: str,
    text: str,
) -> None:
    """No role, two roles, a coordinator without departments: a Danish page, no session."""
    app = make_app()
    async with page_client(app) as browser:
        answer = await _through_provider(browser, add_user(iam_server, groups=groups))
    assert answer.status_code == 403
    assert f"<h1>{title}</h1>" in _text(answer)
    assert text in _text(answer)
    assert "broker_session=" not in answer.headers.get("set-cookie", "")
    assert (_count(app, User), _count(app, WebSession), _count(app, OidcFlow)) == (0, 0, 0)


async def test_an_id_token_for_another_client_is_refused_with_a_clear_page(
    make_app: Callable[..., FastAPI], iam_server: Any
) -> None:
    """The provider issues the broker's tokens to another audience: refused, said in Danish."""
    other, _ = register_client(iam_server)
    app = make_app(register_client(iam_server, issued_to_self=False, audience=(other,)))
    async with page_client(app) as browser:
        answer = await _through_provider(browser, add_user(iam_server, groups=(VISITATOR,)))
    assert answer.status_code == 403
    assert "<h1>Log ind var beregnet til en anden tjeneste</h1>" in _text(answer)
    assert "Årsag, til din administrator: wrong_audience" in _text(answer)
    assert _count(app, WebSession) == 0


async def test_an_expired_id_token_is_refused_with_a_clear_page(
    make_app: Callable[..., FastAPI], iam_server: Any, clock: Clock
) -> None:
    """The pages' clock past the ID token's hour (and the leeway): refused, said in Danish."""
    app = make_app()
    clock.now += dt.timedelta(hours=1, seconds=70)
    async with page_client(app) as browser:
        answer = await _through_provider(browser, add_user(iam_server, groups=(VISITATOR,)))
    assert answer.status_code == 403
    assert "<h1>Beviset for dit log ind er udløbet</h1>" in _text(answer)
    assert _count(app, WebSession) == 0


async def test_an_answer_reaching_another_browser_is_refused(
    make_app: Callable[..., FastAPI], iam_server: Any
) -> None:
    """The provider's answer completes only the sign-in of the browser that started it."""
    app = make_app()
    user = add_user(iam_server, groups=(VISITATOR,))
    async with page_client(app) as browser:
        start = await _start(browser)
        params = log_in(start.headers["location"], *user)
    async with page_client(app) as other_browser:
        answer = await other_browser.get(CALLBACK_PATH, params=params)
    assert answer.status_code == 400
    assert "Svaret fra din organisation hørte ikke til et log ind" in _text(answer)
    assert _count(app, WebSession) == 0


async def test_an_answer_completes_its_sign_in_once(
    make_app: Callable[..., FastAPI], iam_server: Any
) -> None:
    """The same answer with the same flow cookie again: the flow was taken, refused."""
    app = make_app()
    user = add_user(iam_server, groups=(VISITATOR,))
    async with page_client(app) as browser:
        start = await _start(browser)
        kept = browser.cookies["broker_oidc"]
        params = log_in(start.headers["location"], *user)
        assert (await browser.get(CALLBACK_PATH, params=params)).status_code == 303
        browser.cookies.set("broker_oidc", kept)
        again = await browser.get(CALLBACK_PATH, params=params)
    assert again.status_code == 400
    assert _count(app, WebSession) == 1


async def test_a_sign_in_left_too_long_is_refused(
    make_app: Callable[..., FastAPI], iam_server: Any, clock: Clock
) -> None:
    """Eleven minutes at the provider: the flow has expired, and is gone."""
    app = make_app()
    user = add_user(iam_server, groups=(VISITATOR,))
    async with page_client(app) as browser:
        start = await _start(browser)
        params = log_in(start.headers["location"], *user)
        clock.now += dt.timedelta(minutes=11)
        answer = await browser.get(CALLBACK_PATH, params=params)
    assert answer.status_code == 400
    assert "<h1>Log ind tog for lang tid</h1>" in _text(answer)
    assert _count(app, OidcFlow) == 0


async def test_a_user_an_administrator_disabled_is_refused(
    make_app: Callable[..., FastAPI], iam_server: Any, clock: Clock
) -> None:
    """Disabled in the broker, the provider's word is not enough."""
    app = make_app()
    user = add_user(iam_server, groups=(VISITATOR,))
    async with page_client(app) as browser:
        assert (await _through_provider(browser, user)).status_code == 303
    with session_scope(app.state.session_factory) as session:
        (row,) = session.scalars(select(User))
        assert disable_user(session, row.org, row.username, now=clock())
    async with page_client(app) as browser:
        answer = await _through_provider(browser, user)
    assert answer.status_code == 403
    assert "<h1>Din adgang er lukket</h1>" in _text(answer)


async def test_a_user_who_declines_at_the_provider_gets_a_clear_page(
    make_app: Callable[..., FastAPI], iam_server: Any
) -> None:
    """Declining the provider's consent page: the provider's refusal, in Danish."""
    app = make_app()
    user = add_user(iam_server, groups=(VISITATOR,))
    async with page_client(app) as browser:
        start = await _start(browser)
        params = log_in(start.headers["location"], *user, answer="deny")
        answer = await browser.get(CALLBACK_PATH, params=params)
    assert answer.status_code == 502
    assert "<h1>Log ind hos din organisation lykkedes ikke</h1>" in _text(answer)


async def test_an_unknown_organisation_is_refused_without_repeating_it(
    make_app: Callable[..., FastAPI],
) -> None:
    """A path naming no provider: a Danish 404, the name neither logged nor shown."""
    planted = "0102031234"
    async with page_client(make_app()) as browser:
        with capture_logs() as events:
            pages = [
                await browser.get(f"/log-ind/oidc/{planted}"),
                await browser.get(f"/log-ind/oidc/{planted}/callback?state=x&code=y"),
            ]
    assert [page.status_code for page in pages] == [404, 404]
    assert all("Din organisation kan ikke logge dig ind her" in _text(p) for p in pages)
    assert not [p for p in pages if planted in p.text]
    assert planted not in json.dumps(events, default=str)


async def test_only_a_local_page_without_personal_data_is_gone_on_to(
    make_app: Callable[..., FastAPI], iam_server: Any
) -> None:
    """Another site, or a path holding a CPR number, as next: the start page instead."""
    app = make_app()
    user = add_user(iam_server, groups=(VISITATOR,))
    for asked in ("https://evil.example/", "/find?cpr=010190-1234"):
        async with page_client(app) as browser:
            start = await browser.get("/log-ind/oidc/albertslund?" + urlencode({"next": asked}))
            params = log_in(start.headers["location"], *user)
            answer = await browser.get(CALLBACK_PATH, params=params)
        assert answer.headers["location"] == "/"


async def test_no_claim_value_reaches_a_page_the_log_or_the_database(
    make_app: Callable[..., FastAPI], iam_server: Any
) -> None:
    """A CPR number as user id, a name, a phone number: never shown, logged or stored."""
    app = make_app()
    cpr, other_cpr = cpr_like(), cpr_like()
    planted = {
        "user_name": cpr,
        "formatted_name": "Jens Hansen",
        "phone_numbers": ["+45 20 30 40 50"],
    }
    values = (cpr, other_cpr, "Jens Hansen", "+45 20 30 40 50", "45 20 30 40 50")
    with capture_logs() as events:
        async with page_client(app) as browser:
            user = add_user(iam_server, groups=(VISITATOR,), **planted)
            signed_in = await _through_provider(browser, user)
            pages = [signed_in, await browser.get("/"), await browser.get("/log-ind?lang=en")]
        async with page_client(app) as browser:
            refused_user = add_user(iam_server, **{**planted, "user_name": other_cpr})
            pages.append(await _through_provider(browser, refused_user))
    assert [page.status_code for page in pages] == [303, 200, 303, 403]
    shown = " ".join(_text(page) + json.dumps(dict(page.headers)) for page in pages)
    logged = json.dumps(events, default=str)
    with session_scope(app.state.session_factory) as session:
        stored = json.dumps(
            [
                [u.id, u.org, u.username, u.role, u.departments, u.contact]
                for u in session.scalars(select(User))
            ]
        )
    for value in values:
        assert value not in shown
        assert value not in logged
        assert value not in stored
    assert urlsplit(pages[0].headers["location"]).path == "/"


async def test_without_a_providers_file_there_is_no_button_and_no_route(
    database: Database, tmp_path: Path
) -> None:
    """Sign-in through an organisation is offered only when configured."""
    app = web_app(database, tmp_path)
    async with page_client(app) as browser:
        page = await browser.get("/log-ind")
        route = await browser.get("/log-ind/oidc/albertslund")
    assert "/log-ind/oidc/" not in page.text
    assert route.status_code == 404


def test_a_broken_providers_file_stops_the_broker_from_starting(
    database: Database, tmp_path: Path
) -> None:
    """The file is checked at start, the rule named."""
    path = tmp_path / "oidc.toml"
    path.write_text('[providers.albertslund]\nname = "Albertslund"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"providers\.albertslund\.issuer: Field required"):
        web_app(database, tmp_path, oidc_file=path)

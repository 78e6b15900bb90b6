"""Signing in to the pages: the form, sessions, CSRF, timeouts, redirects, logs and privacy.

Against the real app in process on SQLite and PostgreSQL; only the pages' clock is
frozen where a timeout is tested.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from databases import Database
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select
from structlog.testing import capture_logs
from webclient import WebUser, create_user, form_token, page_client, sign_in, sign_in_with, web_app

from broker.access import Principal, Role
from broker.accounts import WebSession, disable_user
from broker.db import session_scope
from broker.web import SignedInAs, page_router
from broker.web._shell import local_path

pytestmark = pytest.mark.anyio

CPR, PHONE = "010190-1234", "+45 20 30 40 50"


class Clock:
    """A frozen clock the test moves by hand."""

    def __init__(self) -> None:
        """Start at a fixed moment."""
        self.now = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        """The time now."""
        return self.now

    def advance(self, **delta: float) -> None:
        """Move on by ``delta`` (``minutes=...``)."""
        self.now += dt.timedelta(**delta)


def _add_test_pages(app: FastAPI) -> None:
    router = page_router()

    @router.get("/test/visitator")
    def visitator_only(
        principal: Annotated[Principal, SignedInAs(Role.VISITATOR)],
    ) -> HTMLResponse:
        return HTMLResponse(f"<p>{principal.role.value} {principal.kind}</p>")

    @router.get("/test/boom")
    def boom() -> HTMLResponse:
        raise RuntimeError("a bug")

    app.include_router(router)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_app(database: Database, tmp_path: Path, clock: Clock) -> Callable[..., FastAPI]:
    def make(**settings: object) -> FastAPI:
        app = web_app(database, tmp_path, clock=clock, **settings)
        _add_test_pages(app)
        return app

    return make


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


def _sessions(app: FastAPI) -> int:
    with session_scope(app.state.session_factory) as session:
        return session.scalar(select(func.count()).select_from(WebSession)) or 0


async def test_signed_out_pages_send_the_browser_to_sign_in(app: FastAPI) -> None:
    """A page that needs a user redirects to /log-ind, with the page to come back to."""
    async with page_client(app) as client:
        start = await client.get("/")
        deep = await client.get("/test/visitator?uge=3")
    assert (start.status_code, start.headers["location"]) == (303, "/log-ind")
    assert deep.status_code == 303
    assert deep.headers["location"] == "/log-ind?next=%2Ftest%2Fvisitator%3Fuge%3D3"


async def test_sign_in_sets_a_strict_session_cookie_and_goes_on(app: FastAPI) -> None:
    """Signed in: an HttpOnly, SameSite=Lax, Path=/ cookie, then the page asked for."""
    user = create_user(app.state.session_factory, role=Role.VISITATOR, org="albertslund")
    async with page_client(app) as client:
        form = await client.get("/log-ind?next=/test/visitator")
        assert 'name="next" value="/test/visitator"' in form.text
        answer = await client.post(
            "/log-ind",
            data={
                "csrf_token": form_token(form.text),
                "org": user.org,
                "username": user.username.upper(),
                "password": user.password,
                "next": "/test/visitator",
            },
        )
        assert (answer.status_code, answer.headers["location"]) == (303, "/test/visitator")
        cookie = next(c for c in answer.headers.get_list("set-cookie") if "broker_session=" in c)
        attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert attributes == {"httponly", "path=/", "samesite=lax"}
        page = await client.get("/test/visitator")
    assert (page.status_code, page.text) == (200, "<p>visitator user</p>")


async def test_the_cookie_is_secure_behind_https(make_app: Callable[..., FastAPI]) -> None:
    """With an https public URL the session cookie carries Secure."""
    app = make_app(public_url="https://broker.example.dk")
    user = create_user(app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
    async with page_client(app, base_url="https://broker.example.dk") as client:
        answer = await sign_in_with(client, user)
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "broker_session=" in c)
    assert "secure" in {part.strip().lower() for part in cookie.split(";")}


async def test_a_failed_sign_in_does_not_say_which_part_was_wrong(app: FastAPI) -> None:
    """Wrong password, unknown user, unknown organisation: one message, no session."""
    user = create_user(app.state.session_factory, role=Role.VISITATOR, org="albertslund")
    pages = []
    async with page_client(app) as client:
        for org, username, password in (
            (user.org, user.username, user.password + "x"),
            (user.org, "nobody", user.password),
            ("hvidovre", user.username, user.password),
        ):
            form = await client.get("/log-ind")
            pages.append(
                await client.post(
                    "/log-ind",
                    data={
                        "csrf_token": form_token(form.text),
                        "org": org,
                        "username": username,
                        "password": password,
                    },
                )
            )
        assert (await client.get("/")).status_code == 303
    message = "Organisation, brugernavn eller adgangskode er forkert."
    for page in pages:
        assert page.status_code == 401
        assert f'<a class="function-link" href="#org">{message}</a>' in page.text
        assert "broker_session" not in page.headers.get("set-cookie", "")
        assert user.password not in page.text


async def test_missing_fields_are_named_in_the_error_summary(app: FastAPI) -> None:
    """An empty form names each missing field, in Danish, linked to the field."""
    async with page_client(app) as client:
        form = await client.get("/log-ind")
        page = await client.post("/log-ind", data={"csrf_token": form_token(form.text)})
    assert page.status_code == 422
    links = re.findall(r'<a class="function-link" href="#(\w+)">([^<]+)</a>', page.text)
    assert links == [
        ("org", "Indtast din organisation"),
        ("username", "Indtast dit brugernavn"),
        ("password", "Indtast din adgangskode"),
    ]
    assert 'aria-invalid="true"' in page.text


async def test_sign_out_deletes_the_session(app: FastAPI) -> None:
    """POST /log-ud ends the session: the same cookie, replayed, signs nobody in."""
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        cookie = client.cookies["broker_session"]
        before = _sessions(app)
        out = await client.post("/log-ud", data=user.form())
        assert (out.status_code, out.headers["location"]) == (303, "/log-ind?besked=ud")
        assert _sessions(app) == before - 1
        notice = await client.get(out.headers["location"])
        assert "Du er logget ud." in notice.text
    async with page_client(app) as replay:
        replay.cookies.set("broker_session", cookie)
        assert (await replay.get("/")).status_code == 303


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    app: FastAPI,
) -> None:
    """No token, a wrong one, or another session's: 403 with a Danish page; still signed in."""
    factory = app.state.session_factory
    async with page_client(app) as other:
        theirs = await sign_in(other, factory, role=Role.HOUSING, org="bo-vest")
    async with page_client(app) as client:
        user = await sign_in(client, factory, role=Role.HOUSING, org="bo-vest")
        before = _sessions(app)
        for body in ({}, {"csrf_token": "x" * 43}, {"csrf_token": theirs.csrf}):
            refused = await client.post("/log-ud", data=body)
            assert refused.status_code == 403
            assert "<h1>Formularen er udløbet</h1>" in refused.text
            assert 'lang="da"' in refused.text
        assert _sessions(app) == before
        assert (await client.get("/")).status_code == 200
        assert user.csrf != theirs.csrf


async def test_the_sign_in_form_needs_its_token_too(app: FastAPI) -> None:
    """Before sign-in the form's token is double-submitted: without the cookie's, refused."""
    user = create_user(app.state.session_factory, role=Role.VISITATOR, org="albertslund")
    fields = {"org": user.org, "username": user.username, "password": user.password}
    async with page_client(app) as client:
        refused = await client.post("/log-ind", data=fields)
        form = await client.get("/log-ind")
        token = form_token(form.text)
        assert client.cookies["broker_csrf"] == token
        client.cookies.delete("broker_csrf")
        still = await client.post("/log-ind", data={"csrf_token": token, **fields})
    assert (refused.status_code, still.status_code) == (403, 403)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/x",
        "/\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/ok\r\nSet-Cookie: x=1",
        f"/test/{CPR}",
    ],
)
async def test_next_goes_only_to_a_local_path(app: FastAPI, target: str) -> None:
    """An absolute, scheme-relative or odd ``next`` is replaced by the start page."""
    user = create_user(app.state.session_factory, role=Role.VISITATOR, org="albertslund")
    async with page_client(app) as client:
        form = await client.get("/log-ind", params={"next": target})
        assert 'name="next" value="/"' in form.text
        assert CPR not in form.text
        answer = await client.post(
            "/log-ind",
            data={
                "csrf_token": form_token(form.text),
                "org": user.org,
                "username": user.username,
                "password": user.password,
                "next": target,
            },
        )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/"


def test_local_paths_are_kept() -> None:
    """A path on this site, with its query, is followed as it is."""
    assert local_path("/test/visitator?uge=3&gade=Demovej") == "/test/visitator?uge=3&gade=Demovej"
    assert local_path(None) == "/"


async def test_a_session_ends_after_the_idle_time(app: FastAPI, clock: Clock) -> None:
    """Used within 30 minutes it lives on; 30 minutes unused, the browser must sign in again."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        clock.advance(minutes=29)
        assert (await client.get("/")).status_code == 200
        clock.advance(minutes=29)
        assert (await client.get("/")).status_code == 200
        clock.advance(minutes=30)
        expired = await client.get("/test/visitator")
    assert expired.status_code == 303
    assert expired.headers["location"].startswith("/log-ind?next=")


async def test_a_session_ends_at_its_lifetime(
    make_app: Callable[..., FastAPI], clock: Clock
) -> None:
    """However busy, a session ends when its lifetime (a setting) has passed."""
    app = make_app(session_lifetime_hours=1)
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        for _ in range(5):
            clock.advance(minutes=11)
            assert (await client.get("/")).status_code == 200
        clock.advance(minutes=6)
        assert (await client.get("/")).status_code == 303


async def test_a_disabled_user_is_signed_out_at_once(app: FastAPI) -> None:
    """Disabling a user ends its open session: the next page asks to sign in."""
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        with session_scope(app.state.session_factory) as session:
            disable_user(session, user.org, user.username, now=dt.datetime.now(dt.UTC))
        assert (await client.get("/")).status_code == 303


async def test_another_role_gets_a_danish_403(app: FastAPI) -> None:
    """A page for visitators answers a coordinator 403 with a page saying so."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.COORDINATOR, org="bo-vest")
        refused = await client.get("/test/visitator")
        english = await client.get("/test/visitator?lang=en")
    assert refused.status_code == 403
    assert "<h1>Ikke for din rolle</h1>" in refused.text
    assert (english.status_code, "<h1>Not for your role</h1>" in english.text) == (403, True)


async def test_sign_in_and_out_are_logged_without_secrets(app: FastAPI) -> None:
    """The log has a line per sign-in, failure and sign-out: user id and organisation only."""
    factory = app.state.session_factory
    user = create_user(factory, role=Role.VISITATOR, org="albertslund", username="mette")
    with capture_logs() as logs:
        async with page_client(app) as client:
            failed = await sign_in_with(client, user, password="forkert-kodeord-1")  # noqa: S106
            await sign_in_with(client, user)
            await client.post("/log-ud", data=user.form())
    assert failed.status_code == 401
    web = [entry for entry in logs if entry["event"].startswith("web.")]
    assert [entry["event"] for entry in web] == [
        "web.sign_in_failed",
        "web.signed_in",
        "web.signed_out",
    ]
    assert web[1] == {
        "event": "web.signed_in",
        "log_level": "info",
        "user": user.user_id,
        "org": "albertslund",
        "role": "visitator",
        "method": "password",
    }
    text = repr(logs)
    for secret in (user.password, "forkert-kodeord-1", "mette"):
        assert secret not in text


async def test_personal_data_typed_into_the_form_is_never_shown_or_logged(app: FastAPI) -> None:
    """A CPR number as username and a phone number as organisation: not echoed, not logged."""
    with capture_logs() as logs:
        async with page_client(app) as client:
            form = await client.get("/log-ind")
            page = await client.post(
                "/log-ind",
                data={
                    "csrf_token": form_token(form.text),
                    "org": PHONE,
                    "username": CPR,
                    "password": CPR,
                },
            )
            missing = await client.post(
                "/log-ind",
                data={"csrf_token": form_token(form.text), "org": "", "username": CPR},
            )
            lost = await client.get(f"/{CPR}")
    assert page.status_code == 401
    for answer in (page, missing, lost):
        assert CPR not in answer.text
        assert PHONE not in answer.text
    assert CPR not in repr(logs)
    assert PHONE not in repr(logs)


async def test_error_pages_are_danish_outside_v1_and_problems_inside(app: FastAPI) -> None:
    """404 and 500 outside /v1 are pages in the layout; /v1 keeps problem+json."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        missing = await client.get("/findes-ikke")
        broken = await client.get("/test/boom")
        api = await client.get("/v1/findes-ikke")
        api_missing = await client.get("/readyz/findes-ikke")
        english = await client.get("/findes-ikke?lang=en")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "<h1>Siden blev ikke fundet</h1>" in missing.text
    assert '<main class="container page-container" id="main-content"' in missing.text
    assert "<h1>The page was not found</h1>" in english.text
    assert broken.status_code == 500
    assert "<h1>Beklager, der gik noget galt</h1>" in broken.text
    assert "a bug" not in broken.text
    assert (api.status_code, api.headers["content-type"]) == (401, "application/problem+json")
    assert api_missing.headers["content-type"] == "application/problem+json"


async def test_the_language_follows_the_link_and_stays(app: FastAPI) -> None:
    """``?lang=en`` shows English and sets a cookie; later pages stay English until ``da``."""
    async with page_client(app) as client:
        danish = await client.get("/log-ind")
        english = await client.get("/log-ind?lang=en")
        kept = await client.get("/log-ind")
        back = await client.get("/log-ind?lang=da")
    assert "<h1>Log ind</h1>" in danish.text
    assert 'href="/log-ind?lang=en"' in danish.text
    assert "<h1>Sign in</h1>" in english.text
    assert 'lang="en"' in english.text
    assert "<h1>Sign in</h1>" in kept.text
    assert "<h1>Log ind</h1>" in back.text


async def test_the_layout_names_who_is_signed_in(app: FastAPI) -> None:
    """The header (DKFDS 11) names the user and organisation, with a sign-out button and token.

    Twice, as DKFDS has it: row 1's ``portal-user`` on a wide screen, ``portal-info-mobile``
    (the CSS shows one or the other) on a narrow one, which here needs no JavaScript.
    """
    async with page_client(app) as client:
        user = await sign_in(
            client, app.state.session_factory, role=Role.VISITATOR, org="albertslund"
        )
        start = await client.get("/")
    page = re.sub(r">\s+<", "><", start.text)
    wide = re.search(r'<div class="portal-user">(.*?)</div>', page, re.DOTALL)
    narrow = re.search(r'<div class="portal-info-mobile">(.*?)</div>', page, re.DOTALL)
    assert wide is not None
    assert narrow is not None
    assert f'<p class="user">{user.username}, albertslund</p>' in wide.group(1)
    assert f'<span class="mb-3">{user.username}</span><span>albertslund</span>' in narrow.group(1)
    for block in (wide.group(1), narrow.group(1)):
        assert '<form method="post" action="/log-ud">' in block
        assert f'<input type="hidden" name="csrf_token" value="{user.csrf}">' in block
        assert '<button type="submit" class="function-link d-print-none log-off">' in block
        assert "Log ud</button>" in block
    assert '<div class="portal-info"><div class="portal-info-inner container">' in page
    assert '<div class="solution-heading"><a href="/">Renoveringsbroker</a></div>' in page
    assert 'class="skipnav" href="#main-content"' in page
    assert "/static/dkfds/css/dkfds-virkdk.min.css" in page


async def test_signed_out_the_header_has_no_user_but_the_language_link(app: FastAPI) -> None:
    """Before sign-in: no user block nor sign-out; the other language, wide and narrow."""
    async with page_client(app) as client:
        page = (await client.get("/log-ind")).text
    assert 'class="portal-user"' not in page
    assert 'action="/log-ud"' not in page
    links = re.findall(r'<a class="function-link[^"]*" href="([^"]*)" lang="en"', page)
    assert links == ["/log-ind?lang=en", "/log-ind?lang=en"]


async def test_a_set_password_link_works_once(app: FastAPI) -> None:
    """The link's form sets the password (Danish refusals first); then it is spent."""
    from broker.accounts import create_user as make_user  # noqa: PLC0415

    with session_scope(app.state.session_factory) as session:
        _, token = make_user(
            session, org="hvidovre", username="ida", role="visitator", now=dt.datetime.now(dt.UTC)
        )
    async with page_client(app) as client:
        form = await client.get(f"/adgangskode/{token}")
        assert form.status_code == 200
        assert "Du logger ind som ida hos hvidovre." in form.text
        short = await client.post(
            f"/adgangskode/{token}",
            data={"csrf_token": form_token(form.text), "password": "kort", "repeated": "kort"},
        )
        assert short.status_code == 422
        assert "Adgangskoden skal være på mindst 12 tegn" in short.text
        good = "lang-nok-adgangskode"
        done = await client.post(
            f"/adgangskode/{token}",
            data={"csrf_token": form_token(short.text), "password": good, "repeated": good},
        )
        assert (done.status_code, done.headers["location"]) == (303, "/log-ind?besked=gemt")
        spent = await client.get(f"/adgangskode/{token}")
        bogus = await client.get("/adgangskode/nope")
        user = WebUser("", "hvidovre", "ida", Role.VISITATOR, good)
        signed = await sign_in_with(client, user)
    assert spent.status_code == 404
    assert "<h1>Linket virker ikke</h1>" in spent.text
    assert bogus.status_code == 404
    assert signed.status_code == 303


async def test_failed_sign_ins_are_limited_per_account(
    make_app: Callable[..., FastAPI], clock: Clock
) -> None:
    """After 3 failures (the setting) even the right password waits; logged once; then it passes."""
    app = make_app(sign_in_failures_per_account=3, sign_in_window_minutes=15)
    user = create_user(app.state.session_factory, role=Role.VISITATOR, org="albertslund")
    with capture_logs() as logs:
        async with page_client(app) as client:
            for _ in range(3):
                wrong = await sign_in_with(client, user, password="forkert-kodeord-1")  # noqa: S106
                assert wrong.status_code == 401
                clock.advance(minutes=1)
            blocked = [await sign_in_with(client, user) for _ in range(2)]
            clock.advance(minutes=12)
            passed = await sign_in_with(client, user)
    for answer in blocked:
        assert answer.status_code == 429
        assert "For mange mislykkede forsøg. Prøv igen om 12 minutter." in answer.text
        assert answer.headers["retry-after"] == str(12 * 60)
    assert passed.status_code == 303
    limited = [entry for entry in logs if entry["event"] == "web.sign_in_limited"]
    assert limited == [
        {"event": "web.sign_in_limited", "log_level": "warning", "by": "account", "org": user.org}
    ]


async def test_the_limit_holds_across_processes_and_per_address(
    make_app: Callable[..., FastAPI],
) -> None:
    """Two apps on one database share the count; many accounts from one address are limited too."""
    settings = {"sign_in_failures_per_account": 2, "sign_in_failures_per_address": 3}
    first, second = make_app(**settings), make_app(**settings)
    factory = first.state.session_factory
    user = create_user(factory, role=Role.HOUSING, org="bo-vest")
    others = [create_user(factory, role=Role.HOUSING, org="bo-vest") for _ in range(2)]
    async with page_client(first) as one, page_client(second) as two:
        assert (await sign_in_with(one, user, password="x" * 12)).status_code == 401
        assert (await sign_in_with(two, user, password="y" * 12)).status_code == 401
        assert (await sign_in_with(one, user)).status_code == 429
        # The address has 2 failures; one more (another account) brings it to its limit.
        assert (await sign_in_with(two, others[0], password="z" * 12)).status_code == 401
        assert (await sign_in_with(one, others[1])).status_code == 429


async def test_a_success_clears_the_accounts_failures(make_app: Callable[..., FastAPI]) -> None:
    """Failures before a successful sign-in no longer count against the account."""
    app = make_app(sign_in_failures_per_account=2)
    user = create_user(app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
    async with page_client(app) as client:
        assert (await sign_in_with(client, user, password="x" * 12)).status_code == 401
        assert (await sign_in_with(client, user)).status_code == 303
        await client.post("/log-ud", data=user.form())
        assert (await sign_in_with(client, user, password="x" * 12)).status_code == 401
        assert (await sign_in_with(client, user)).status_code == 303

"""The web edge attacked from outside: links that leave the site, headers, logged secrets.

Against the real app in process (``httpx`` on ``create_app``), on SQLite and PostgreSQL.
Each test here failed before the defect it names was fixed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from databases import Database
from fastapi import FastAPI
from structlog.testing import capture_logs
from webclient import create_user, form_token, page_client, sign_in, web_app

from broker.access import Role
from broker.web._shell import local_path

pytestmark = pytest.mark.anyio

CPR = "010190-1234"
_LANGUAGE_LINK = re.compile(r'<a class="function-link[^"]*" href="([^"]*)" lang=')
"""The layout's link to the other language (the header has it twice: wide and narrow)."""


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    return web_app(database, tmp_path)


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example/x",  # a scheme-relative link to another site
        "/%5Cevil.example",  # "/\evil.example": browsers read "\" as "/"
        "/%5C%5Cevil.example",
        "/%09/evil.example",  # a tab, which browsers drop from a link
    ],
)
async def test_the_language_link_of_any_page_stays_on_this_site(app: FastAPI, path: str) -> None:
    """The layout's link to the other language never points at another site.

    The link repeats the request's path, which on a 404 page is whatever was typed:
    ``https://broker//evil.example`` must not offer a link to ``//evil.example``.
    """
    async with page_client(app) as client:
        page = await client.get("http://test" + path)
    assert page.status_code == 404
    found = _LANGUAGE_LINK.findall(page.text)
    assert len(found) == 2  # the wide screen's and the narrow screen's
    for link in (href.replace("&amp;", "&") for href in found):
        assert link.startswith("/")
        assert local_path(link) == link, link
        assert "evil.example" not in link


async def test_every_page_carries_a_content_security_policy(app: FastAPI) -> None:
    """Pages, forms and error pages forbid framing, plugins, other origins' scripts."""
    async with page_client(app) as client:
        answers = [await client.get("/log-ind"), await client.get("/no-such-page")]
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        answers.append(await client.get("/"))
    for answer in answers:
        policy = answer.headers.get("content-security-policy", "")
        directives = {d.strip().split(" ", 1)[0]: d.strip() for d in policy.split(";") if d}
        assert directives.get("default-src") == "default-src 'self'", policy
        assert directives.get("frame-ancestors") == "frame-ancestors 'none'"
        assert directives.get("object-src") == "object-src 'none'"
        assert directives.get("base-uri") == "base-uri 'none'"
        assert directives.get("form-action") == "form-action 'self'"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["referrer-policy"] == "no-referrer"


async def test_the_pages_have_no_inline_script_or_style_the_policy_would_block(
    app: FastAPI,
) -> None:
    """The policy allows only this site's files: the pages must not need more."""
    async with page_client(app) as client:
        pages = [await client.get("/log-ind"), await client.get("/no-such-page")]
        await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        pages.append(await client.get("/"))
    for page in pages:
        assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", page.text)


async def test_a_refused_form_logs_the_route_not_the_link_or_data_in_its_path(
    app: FastAPI,
) -> None:
    """A POST refused for its CSRF token logs the route's pattern, not the path sent.

    The path of ``/adgangskode/<token>`` is a one-time link (a credential) and a path
    can carry what a user typed; neither belongs in the application log.
    """
    from broker.accounts import create_user as create_account  # noqa: PLC0415
    from broker.db import session_scope  # noqa: PLC0415

    with session_scope(app.state.session_factory) as session:
        _user, link = create_account(
            session,
            org="bo-vest",
            username="ny-bruger",
            role="housing",
            now=app.state.web_clock(),
        )
    async with page_client(app) as client:
        with capture_logs() as logs:
            for path in (f"/adgangskode/{link}", f"/adgangskode/{CPR}"):
                refused = await client.post(path, data={"password": "x", "repeated": "x"})
                assert refused.status_code == 403
    refusals = [entry for entry in logs if entry["event"] == "web.csrf_refused"]
    assert [entry["route"] for entry in refusals] == ["/adgangskode/{token}"] * 2
    assert link not in repr(logs)
    assert CPR not in repr(logs)


async def test_a_planted_session_cookie_is_not_kept_at_sign_in(app: FastAPI) -> None:
    """Session fixation: a cookie set before sign-in is replaced by a fresh one."""
    user = create_user(app.state.session_factory, role=Role.VISITATOR, org="albertslund")
    planted = "A" * 43
    async with page_client(app) as client:
        client.cookies.set("broker_session", planted)
        form = await client.get("/log-ind")
        answer = await client.post(
            "/log-ind",
            data={
                "csrf_token": form_token(form.text),
                "org": user.org,
                "username": user.username,
                "password": user.password,
            },
        )
        assert answer.status_code == 303
    issued = next(c for c in answer.headers.get_list("set-cookie") if "broker_session=" in c)
    assert issued.startswith("broker_session=")
    assert planted not in issued
    async with page_client(app) as attacker:
        attacker.cookies.set("broker_session", planted)
        assert (await attacker.get("/")).status_code == 303


@pytest.mark.parametrize("typed", [CPR, "0101901234", "20304050"])
async def test_a_cpr_or_phone_number_typed_as_the_organisation_is_not_logged(
    database: Database, tmp_path: Path, typed: str
) -> None:
    """It has the shape of an organisation's name, so it was logged with the failure.

    Also once it reaches the limit (``web.sign_in_limited``). The log processor would
    redact it at the end; the event must not carry it in the first place.
    """
    app = web_app(database, tmp_path, sign_in_failures_per_account=2)
    with capture_logs() as logs:
        async with page_client(app) as client:
            for _ in range(2):
                form = await client.get("/log-ind")
                answer = await client.post(
                    "/log-ind",
                    data={
                        "csrf_token": form_token(form.text),
                        "org": typed,
                        "username": "someone",
                        "password": "not-the-password",
                    },
                )
                assert answer.status_code == 401
                assert typed not in answer.text
    events = [entry["event"] for entry in logs]
    assert events.count("web.sign_in_failed") == 2
    assert "web.sign_in_limited" in events
    assert typed not in repr(logs)


async def test_signing_in_again_ends_the_browsers_earlier_session(app: FastAPI) -> None:
    """A second sign-in in the same browser does not leave the first session valid."""
    factory = app.state.session_factory
    other = create_user(factory, role=Role.AUDITOR, org="bo-vest")
    async with page_client(app) as client:
        first = await sign_in(client, factory, role=Role.VISITATOR, org="albertslund")
        earlier = client.cookies["broker_session"]
        answer = await client.post(
            "/log-ind",
            data=first.form(org=other.org, username=other.username, password=other.password),
        )
        assert answer.status_code == 303
        assert "bo-vest" in (await client.get("/")).text
    async with page_client(app) as replay:
        replay.cookies.set("broker_session", earlier)
        assert (await replay.get("/")).status_code == 303

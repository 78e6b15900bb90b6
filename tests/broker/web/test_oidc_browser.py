"""Signing in through an organisation in Debian's Chromium, against the real `broker serve`.

The broker runs with a providers' file for ``albertslund`` whose provider is pytest-iam's
OpenID Connect server on 127.0.0.1 (``tests/oidc_provider.py``): the browser goes from
the start page to ``/log-ind``, presses the organisation's button, signs in on the
provider's own login, password and consent pages and comes back signed in. Refused
sign-ins (no role, an expired ID token, an ID token for another service) each end on
their Danish page. axe-core finds no WCAG 2.1 A/AA violation on any of the broker's
pages, and each is saved as a screenshot.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browsing import RequestLog, ServedBroker, check_axe, serve_broker
from databases import Database
from oidc_provider import (
    SECRET_ENV,
    VISITATOR,
    add_user,
    cpr_like,
    id_tokens_living,
    issue_tokens_to,
    issuer,
    providers_file,
    register_client,
)
from peers import free_port
from playwright.sync_api import Page

from broker import accounts
from broker.db import make_session_factory, session_scope
from broker.oidc import LEEWAY
from tests.broker.test_privacy import PLANTED

SIGN_IN_WITH = "Log ind med Albertslund Kommune"
LISTS = "Lister over berørte boliger"
NO_ROLE = "Din organisation har ikke givet dig en rolle i mæglerens sider."
EXPIRED = "Beviset for, hvem du er, fra din organisation var udløbet, da det nåede mægleren."
ANOTHER_SERVICE = "Log ind var beregnet til en anden tjeneste"
WRONG_AUDIENCE = "udstedte beviset for, hvem du er, til en anden tjeneste end mæglerens sider."


@contextmanager
def _served(database: Database, home: Path, iam_server: Any) -> Iterator[tuple[ServedBroker, str]]:
    """Run `broker serve` with a providers' file naming a new client; yield it and the client id."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    callback = f"{public_url}/log-ind/oidc/albertslund/callback"
    client_id, secret = register_client(iam_server, redirect_uri=callback)
    home.mkdir(parents=True, exist_ok=True)
    settings = {
        "BROKER_OIDC_FILE": str(providers_file(home, iam_server, client_id)),
        "BROKER_PUBLIC_URL": public_url,
        SECRET_ENV: secret,
    }
    with serve_broker(database, home, settings=settings, port=port) as served:
        yield served, client_id


def _planted_user(iam_server: Any, groups: tuple[str, ...]) -> tuple[str, str]:
    """A user on the provider: a CPR-shaped user id; name, phone and e-mail planted."""
    return add_user(
        iam_server,
        groups=groups,
        user_name=cpr_like(),
        formatted_name=PLANTED["Lejer navn"],
        phone_numbers=[PLANTED["Telefon"]],
        emails=[PLANTED["E-mail"]],
    )


def _absent(text: str, *also: str) -> None:
    for heading, value in PLANTED.items():
        assert value not in text, f"{heading} value found"
    for value in also:
        assert value not in text, "a planted value found"


def _through_provider(page: Page, provider: str, user: tuple[str, str]) -> None:
    """Press the organisation's button on /log-ind and sign in on the provider's pages."""
    page.get_by_role("link", name=SIGN_IN_WITH).click()
    page.wait_for_url(f"{provider}/login**")
    page.locator('input[name="login"]').fill(user[0])
    page.locator('button[type="submit"]').click()
    page.wait_for_url(f"{provider}/auth/password**")
    page.locator('input[name="password"]').fill(user[1])
    page.locator('button[type="submit"]').click()
    # The consent page, unless the provider holds a consent it counts for this user.
    page.wait_for_url(lambda url: not url.startswith(f"{provider}/auth/"))
    if page.url.startswith(f"{provider}/oauth/authorize"):
        page.locator("#accept").click()


def _refused(page: Page, served: ServedBroker, reason: str, title: str, text: str) -> None:
    """The Danish refusal page for ``reason``: its heading, its text; no session was opened."""
    page.wait_for_url(f"{served.url}/log-ind/oidc/albertslund/callback?**")
    assert page.locator("h1").inner_text() == title
    shown = " ".join(page.locator("main").inner_text().split())
    assert text in shown
    assert f"Årsag, til din administrator: {reason}" in shown
    assert page.get_by_role("link", name="Tilbage til siden Log ind").count() == 1
    assert "broker_session" not in {c["name"] for c in page.context.cookies(served.url)}


@pytest.mark.browser
@pytest.mark.slow
def test_a_visitator_signs_in_through_the_organisation_in_the_browser(
    database: Database,
    tmp_path: Path,
    iam_server: Any,
    page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """The set-password page, the sign-in page, the provider's pages, back signed in."""
    provider = issuer(iam_server)
    user = _planted_user(iam_server, (VISITATOR,))
    with _served(database, tmp_path / "home", iam_server) as (served, _):
        requests = RequestLog(page)
        # 1. A local user's one-time link: the set-password page.
        with session_scope(make_session_factory(database.engine)) as session:
            _, token = accounts.create_user(
                session,
                org="bo-vest",
                username="ny-bruger",
                role="housing",
                now=dt.datetime.now(dt.UTC),
            )
        page.goto(f"{served.url}/adgangskode/{token}")
        assert page.locator("h1").inner_text() == "Vælg din adgangskode"
        check_axe(page)
        screenshot(page, "set-password")

        # 2. The start page sends a signed-out browser to sign in: the form and the button.
        page.goto(served.url)
        page.wait_for_url(f"{served.url}/log-ind**")
        assert page.get_by_role("link", name=SIGN_IN_WITH).count() == 1
        check_axe(page)
        screenshot(page, "signin")

        # 3. Through the provider's real pages, back on the start page, signed in.
        _through_provider(page, provider, user)
        page.wait_for_url(f"{served.url}/")
        assert page.get_by_role("link", name=LISTS).get_attribute("href") == "/lister"
        assert "oidc-albertslund:" in page.locator("h1").inner_text()
        check_axe(page)
        screenshot(page, "signed-in")
        _absent(page.content(), user[0])
    _absent(served.log.read_text(encoding="utf-8"), user[0])
    assert requests.hosts() == {served.origin, urlsplit(provider).netloc}


@pytest.mark.browser
@pytest.mark.slow
def test_refused_sign_ins_end_on_a_clear_danish_page_in_the_browser(
    database: Database,
    tmp_path: Path,
    iam_server: Any,
    page: Page,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """Claims giving no role, an expired ID token, an ID token for another service: refused."""
    provider = issuer(iam_server)
    planted: list[str] = []
    with _served(database, tmp_path / "home", iam_server) as (served, client_id):
        # 1. The provider vouches for the user, but gives them no role in the broker.
        user = _planted_user(iam_server, ())
        planted.append(user[0])
        page.goto(f"{served.url}/log-ind")
        _through_provider(page, provider, user)
        _refused(page, served, "no_role", "Du har ingen rolle i mæglerens sider", NO_ROLE)
        check_axe(page)
        screenshot(page, "refused-no-role")
        _absent(page.content(), user[0])

        # 2. The provider's ID tokens have expired (beyond the leeway) when they arrive.
        page.context.clear_cookies()
        user = _planted_user(iam_server, (VISITATOR,))
        planted.append(user[0])
        with id_tokens_living(-(LEEWAY + 60)):
            page.goto(f"{served.url}/log-ind")
            _through_provider(page, provider, user)
            _refused(page, served, "expired", "Beviset for dit log ind er udløbet", EXPIRED)
        check_axe(page)
        screenshot(page, "refused-expired")

        # 3. The provider issues the broker's ID tokens to another of its clients.
        page.context.clear_cookies()
        other, _ = register_client(iam_server)
        issue_tokens_to(iam_server, client_id, other)
        user = _planted_user(iam_server, (VISITATOR,))
        planted.append(user[0])
        page.goto(f"{served.url}/log-ind")
        _through_provider(page, provider, user)
        _refused(page, served, "wrong_audience", ANOTHER_SERVICE, WRONG_AUDIENCE)
        check_axe(page)
        screenshot(page, "refused-wrong-audience")
    _absent(served.log.read_text(encoding="utf-8"), *planted)

"""The operator in Debian's Chromium against the real `broker serve` and a real receiver.

The server's own background run releases this week's list and delivers it to the
municipality's receiver on 127.0.0.1, which refuses it (it checks signatures against
another key): the release fails for good and every operator page says so. The receiver
is set right (a receiver with the broker's key on the same port); the operator presses
*Prøv igen* and the next round delivers it. Then the operator opens the users and the API
tokens, creates a token (its secret shown once) and sends a form with a mistake. axe-core
finds no WCAG 2.1 A/AA violation on any page; the deliveries page is saved as a screenshot.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest
from browsing import RequestLog, check_axe, serve_broker
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from databases import Database
from factories import dwelling_rows, with_personal, write_csv
from playwright.sync_api import Page
from webclient import WebUser, create_user

from broker.access import Role
from broker.config import Settings
from broker.db import make_session_factory, session_scope
from broker.ingest.service import ingest_file
from broker.keys import init_keys, load_keys
from broker.receiver import Receiver, make_receiver_server
from tests.broker.test_privacy import PLANTED

TODAY = dt.datetime.now(dt.UTC).date()
SOON = (("genhusning", TODAY + dt.timedelta(days=10), TODAY + dt.timedelta(days=60)),)
RECIPIENT = "albertslund/visitation"

Shot = Callable[[Page, str], Path]


class Municipality:
    """The municipality's receiver on one port of 127.0.0.1, replaced while the test runs."""

    def __init__(self, store: Path) -> None:
        """Start with a receiver that trusts another key than the broker's: it refuses."""
        self.store = store
        other = store.parent / "other-keys"
        init_keys(Settings(home=other))
        self._server = self._start(load_keys(Settings(home=other)).public_keys, 0)
        self.port = self._server.server_address[1]

    def _start(self, keys: tuple[Ed25519PublicKey, ...], port: int) -> ThreadingHTTPServer:
        server = make_receiver_server(Receiver(self.store, keys), "127.0.0.1", port)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    @property
    def webhook(self) -> str:
        """The URL the broker posts the releases to."""
        return f"http://127.0.0.1:{self.port}/releases"

    def trust(self, home: Path) -> None:
        """Put a receiver that knows the broker's key (under ``home``) on the same port."""
        self.stop()
        self._server = self._start(load_keys(Settings(home=home)).public_keys, self.port)

    def stop(self) -> None:
        """Stop the receiver now serving."""
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def municipality(tmp_path: Path) -> Iterator[Municipality]:
    running = Municipality(tmp_path / "received")
    try:
        yield running
    finally:
        running.stop()


def _absent(text: str) -> None:
    for heading, value in PLANTED.items():
        assert value not in text, f"{heading} value found"


def _until(page: Page, url: str, text: str, *, seconds: float = 60.0) -> None:
    """Reload ``url`` until a cell says ``text`` (the server's background run is at work)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        page.goto(url)
        if page.get_by_role("cell", name=text, exact=True).count():
            return
        time.sleep(0.5)
    pytest.fail(f"{url} never showed {text!r}")


def _open(page: Page, name: str) -> None:
    """Follow the operator pages' navigation link ``name``."""
    page.get_by_role("navigation", name="Drift").get_by_role("link", name=name).click()


def _sign_in(page: Page, url: str, user: WebUser) -> None:
    page.goto(f"{url}/drift")
    page.get_by_label("Organisation").fill(user.org)
    page.get_by_label("Brugernavn").fill(user.username)
    page.get_by_label("Adgangskode").fill(user.password)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(f"{url}/drift")


def _tokens_and_users(page: Page, url: str, screenshot: Shot) -> None:
    """The users page (a form with a mistake), then a token made: its secret shown once."""
    _open(page, "Brugere")
    page.wait_for_url(f"{url}/drift/brugere")
    assert page.get_by_role("heading", name="Brugere", level=1).count() == 1
    check_axe(page)
    screenshot(page, "operator-users")
    page.get_by_label("Organisation").fill("bo-vest")
    page.get_by_label("Brugernavn").fill("ny-koordinator")
    page.get_by_label("Rolle").select_option("coordinator")
    page.get_by_role("button", name="Opret brugeren").click()
    assert page.get_by_role("heading", name="Brugeren blev ikke oprettet").count() == 1
    page.get_by_role("link", name="En koordinator skal have mindst én afdeling").click()
    assert page.url.endswith("#department")
    check_axe(page)
    screenshot(page, "operator-user-refused")

    _open(page, "API-nøgler")
    page.wait_for_url(f"{url}/drift/noegler")
    check_axe(page)
    page.get_by_label("Betegnelse").fill("ERP-eksport")
    page.get_by_label("Organisation").fill("bo-vest")
    page.get_by_label("Rolle").select_option("housing")
    page.get_by_role("button", name="Opret nøglen").click()
    assert page.get_by_role("heading", name="Nøglen er oprettet").count() == 1
    secret = page.get_by_label("Nøglens hemmelighed").input_value()
    assert secret.startswith("brk_")
    check_axe(page)
    screenshot(page, "operator-token-created")
    page.get_by_role("link", name="Tilbage til nøglerne").click()
    page.wait_for_url(f"{url}/drift/noegler")
    assert page.get_by_role("cell", name="ERP-eksport", exact=True).count() == 1
    assert secret not in page.content()
    check_axe(page)
    screenshot(page, "operator-tokens")


@pytest.mark.browser
@pytest.mark.slow
def test_the_operator_retries_a_refused_release_once_the_receiver_is_back(
    database: Database, tmp_path: Path, municipality: Municipality, page: Page, screenshot: Shot
) -> None:
    """Refused: failed, on every page; the receiver set right, Prøv igen delivers it."""
    home = tmp_path / "home"
    factory = make_session_factory(database.engine)
    rows = with_personal(dwelling_rows(6, phases=SOON), PLANTED)
    with session_scope(factory) as session:
        export = write_csv(tmp_path / "export.csv", rows)
        ingest_file(session, export, org="bo-vest", now=dt.datetime.now(dt.UTC))
    operator = create_user(factory, role=Role.ADMIN, org="bo-vest")
    recipients = [
        {"id": "albertslund/bostoette", "webhook": municipality.webhook},
        {"id": RECIPIENT, "webhook": municipality.webhook},
    ]
    settings = {"BROKER_SCHEDULER": "true", "BROKER_RECIPIENTS": json.dumps(recipients)}
    with serve_broker(database, home, settings=settings) as served:
        requests = RequestLog(page)
        _sign_in(page, served.url, operator)
        check_axe(page)

        # 1. This week's list goes out on the server's first round; the receiver refuses it.
        deliveries = f"{served.url}/drift/leveringer"
        _until(page, deliveries, "fejlet")
        assert page.get_by_role("heading", name="Kræver handling").count() == 1
        assert page.get_by_text("Svaret: HTTP 401.").count() == 1
        check_axe(page)
        screenshot(page, "operator-deliveries")
        _open(page, "Oversigt")
        page.wait_for_url(f"{served.url}/drift")
        assert page.get_by_role("heading", name="Kræver handling").count() == 1
        check_axe(page)

        # 2. The municipality fixes its key; the operator sends the release again.
        municipality.trust(home)
        _open(page, "Leveringer")
        page.wait_for_url(deliveries)
        page.get_by_role("button", name="Prøv igen").click()
        page.wait_for_url(f"{deliveries}?besked=igen")
        assert page.get_by_text("Udleveringen er sat i kø igen").count() == 1
        check_axe(page)
        _until(page, deliveries, "leveret")
        assert page.get_by_role("heading", name="Kræver handling").count() == 0
        assert page.get_by_role("button", name="Prøv igen").count() == 0
        check_axe(page)
        assert len(list((tmp_path / "received" / "releases").glob("rel-*.json"))) == 1

        # 3. Users and API tokens.
        _tokens_and_users(page, served.url, screenshot)
        _absent(page.content())
        assert requests.hosts() == {served.origin}

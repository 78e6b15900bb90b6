"""The contact check in Debian's Chromium against the real `broker serve`, keyboard only.

A coordinator signs in, finds a dwelling by a partial address, and asks for a contact
check using the keyboard alone (Tab to each control, Enter to use it). The server's own
background run delivers the check to a real receiver on 127.0.0.1: the coordinator's
page then says ``modtaget``. A visitator records the resident's consent, and the
coordinator sees ``borgeren giver samtykke`` with the reference. axe-core finds no
WCAG 2.1 A/AA violation on any page, and each is saved as a screenshot.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browsing import RequestLog, check_axe, serve_broker
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
ADDRESS = "Prøvevej 1, 1. tv, 2620 Albertslund"
REFERENCE = "SAG-2027-0042"


def _absent(text: str) -> None:
    for heading, value in PLANTED.items():
        assert value not in text, f"{heading} value found"


def _focused(page: Page) -> str:
    """The focused element's tag, accessible text and name attribute, for matching."""
    found: str = page.evaluate(
        "() => { const e = document.activeElement;"
        " return [e.tagName, e.textContent.trim(), e.getAttribute('name') || ''].join('|'); }"
    )
    return found


def _tab_to(page: Page, wanted: Callable[[str], bool], *, most: int = 40) -> None:
    """Press Tab until the focused element is ``wanted`` (fails after ``most`` presses)."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if wanted(_focused(page)):
            return
    pytest.fail(f"Tab never reached the control (last: {_focused(page)})")


def _text_is(tag: str, text: str) -> Callable[[str], bool]:
    return lambda focused: focused.split("|")[:2] == [tag, text]


def _named(name: str) -> Callable[[str], bool]:
    return lambda focused: focused.split("|")[2] == name


def _sign_in_by_keyboard(page: Page, url: str, user: WebUser) -> None:
    """Open ``url``, get sent to sign in, and sign in with the keyboard alone."""
    page.goto(url)
    assert "/log-ind" in page.url
    for name, value in (("org", user.org), ("username", user.username)):
        _tab_to(page, _named(name))
        page.keyboard.type(value)
    _tab_to(page, _named("password"))
    page.keyboard.type(user.password)
    page.keyboard.press("Enter")
    page.wait_for_url(url)


def _until(page: Page, url: str, text: str, *, seconds: float = 40.0) -> None:
    """Reload ``url`` until it shows ``text`` (the server's background run is at work)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        page.goto(url)
        if page.get_by_text(text, exact=True).count():
            return
        time.sleep(0.5)
    pytest.fail(f"{url} never showed {text!r}")


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[str]:
    """A real receiver for the municipality on 127.0.0.1; yields its webhook URL."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    ring = load_keys(Settings(home=home))
    server = make_receiver_server(Receiver(tmp_path / "received", ring.public_keys), "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/releases"
    finally:
        server.shutdown()
        server.server_close()


Shot = Callable[[Page, str], Path]


def _coordinator_asks(page: Page, url: str, user: WebUser, screenshot: Shot) -> str:
    """Sign in, find the dwelling, press the button: keyboard only. Return the check's id."""
    # 1. Sign in and reach the search.
    _sign_in_by_keyboard(page, f"{url}/", user)
    _tab_to(page, _text_is("A", "Find en bolig"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/opslag")
    check_axe(page)
    # 2. A partial address, typed in another case: Enter sends the form.
    _tab_to(page, _named("q"))
    page.keyboard.type("prøvevej 1 1 t")
    page.keyboard.press("Enter")
    page.wait_for_url("**/opslag?q=**")
    assert page.get_by_role("link", name=ADDRESS).count() == 1
    check_axe(page)
    screenshot(page, "coordinator-search")
    # 3. The dwelling, and the one button.
    _tab_to(page, _text_is("A", ADDRESS))
    page.keyboard.press("Enter")
    page.wait_for_url("**/opslag/dw-*")
    assert page.get_by_role("heading", name=ADDRESS).count() == 1
    check_axe(page)
    screenshot(page, "coordinator-dwelling")
    _tab_to(page, _text_is("BUTTON", "Anmod om kontakttjek"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/kontakttjek/cc-*?besked=sendt")
    assert page.get_by_text("Kontakttjekket er sendt til kommunen.").count() == 1
    check_axe(page)
    return page.url.rsplit("/", 1)[1].split("?")[0]


def _visitator_consents(page: Page, url: str, user: WebUser, screenshot: Shot) -> None:
    """Sign in as the visitator, open the check from the list, record the consent."""
    page.context.clear_cookies()
    _sign_in_by_keyboard(page, f"{url}/kontakttjek", user)
    assert page.get_by_role("link", name=ADDRESS).count() == 1
    check_axe(page)
    screenshot(page, "visitator-checks")
    page.get_by_role("link", name=ADDRESS).click()
    page.wait_for_url(f"{url}/kontakttjek/cc-*")
    check_axe(page)
    screenshot(page, "visitator-consent-form")
    page.get_by_label("Samtykkereference").fill(REFERENCE)
    page.get_by_role("button", name="Registrér samtykke").click()
    page.wait_for_url("**/kontakttjek/cc-*?besked=besvaret")
    check_axe(page)
    _absent(page.content())


@pytest.mark.browser
@pytest.mark.slow
def test_a_coordinator_asks_for_a_contact_check_by_keyboard_and_sees_the_answer(
    database: Database, tmp_path: Path, receiver: str, page: Page, screenshot: Shot
) -> None:
    """Find by a partial address, ask (keyboard only), modtaget, the visitator's consent."""
    home = tmp_path / "home"
    factory = make_session_factory(database.engine)
    rows = with_personal(dwelling_rows(6, phases=SOON), PLANTED)
    with session_scope(factory) as session:
        export = write_csv(tmp_path / "export.csv", rows)
        ingest_file(session, export, org="bo-vest", now=dt.datetime.now(dt.UTC))
    coordinator = create_user(factory, role=Role.COORDINATOR, org="bo-vest")
    visitator = create_user(factory, role=Role.VISITATOR, org="albertslund")
    recipients = [
        {"id": "albertslund/bostoette", "webhook": receiver},
        {"id": "albertslund/visitation", "webhook": receiver},
    ]
    settings = {"BROKER_SCHEDULER": "true", "BROKER_RECIPIENTS": json.dumps(recipients)}
    with serve_broker(database, home, settings=settings) as served:
        requests = RequestLog(page)
        check_id = _coordinator_asks(page, served.url, coordinator, screenshot)

        # 4. The server's background run delivers it: modtaget.
        _until(page, f"{served.url}/kontakttjek", "modtaget")
        assert page.get_by_role("link", name=ADDRESS).count() == 1
        check_axe(page)
        screenshot(page, "coordinator-checks-received")

        # 5. The visitator records the resident's consent.
        _visitator_consents(page, served.url, visitator, screenshot)
        assert check_id in page.url

        # 6. The coordinator sees the consent and its reference.
        page.context.clear_cookies()
        _sign_in_by_keyboard(page, f"{served.url}/kontakttjek", coordinator)
        row = page.locator("tbody tr", has_text=ADDRESS)
        assert row.get_by_text("borgeren giver samtykke").count() == 1
        assert row.get_by_text(REFERENCE).count() == 1
        check_axe(page)
        screenshot(page, "coordinator-checks-consent")
        _absent(page.content())
        assert requests.hosts() == {served.origin}

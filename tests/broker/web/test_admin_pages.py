"""The operator's pages: agreements, deliveries by state, retrying a failed release, the alerts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from databases import Database
from factories import dwelling_rows, with_personal
from fastapi import FastAPI
from publishing import deliver_published
from webclient import page_client, sign_in, web_app

from broker.access import Role
from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.keys import KeyRing, init_keys, load_keys
from broker.operations import STALLED_AFTER
from broker.release import Release
from tests.broker.release.test_release import PHASES, RUN, run, upload, weekly
from tests.broker.test_privacy import PLANTED, _assert_absent

pytestmark = pytest.mark.anyio

RECIPIENT = "albertslund/visitation"


class Clock:
    """The pages' clock: a frozen moment the test moves."""

    def __init__(self, moment: dt.datetime) -> None:
        """Start at ``moment``."""
        self.moment = moment

    def __call__(self) -> dt.datetime:
        """Return the moment."""
        return self.moment


@pytest.fixture
def clock() -> Clock:
    return Clock(RUN + dt.timedelta(hours=1))


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    """The recipient's drop directory: a file stands in its way until the test moves it."""
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the drop directory should be")
    return blocker / "drop"


def _app(database: Database, tmp_path: Path, clock: Clock, drop: Path, attempts: int) -> FastAPI:
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    recipient = RecipientSettings(id=RECIPIENT, directory=drop)  # type: ignore[arg-type]
    return web_app(database, home, clock=clock, recipients=(recipient,), delivery_attempts=attempts)


@pytest.fixture
def app(database: Database, tmp_path: Path, clock: Clock, drop: Path) -> FastAPI:
    """The broker with one weekly release to the visitation, its drop not writable."""
    made = _app(database, tmp_path, clock, drop, attempts=1)
    upload(database, tmp_path, with_personal(dwelling_rows(6, phases=PHASES), PLANTED))
    assert run(database, _ring(made), weekly()) is not None
    return made


def _ring(app: FastAPI) -> KeyRing:
    return load_keys(app.state.settings)


def _deliver(database: Database, app: FastAPI, at: dt.datetime = RUN) -> list[bool]:
    with httpx.Client() as client:
        attempts = deliver_published(
            make_session_factory(database.engine),
            app.state.settings,
            _ring(app),
            client,
            lambda: at,
        )
    return [attempt.delivered for attempt in attempts]


def _release(database: Database) -> Release:
    with session_scope(make_session_factory(database.engine)) as session:
        found = session.query(Release).one()
        session.expunge(found)
        return found


async def test_the_overview_lists_the_agreements_with_hashes_and_the_queues(app: FastAPI) -> None:
    """/drift: every agreement in force with its hash and log entry; counts per recipient."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        start = await client.get("/")
        assert 'href="/drift"' in start.text
        page = await client.get("/drift")
    assert page.status_code == 200
    assert "<h1>Drift</h1>" in page.text
    for item in app.state.policies.active:
        assert item.policy.id in page.text
        assert item.policy.content_hash in page.text
    assert "post " in page.text  # each version's policy-registered entry
    assert RECIPIENT in page.text
    assert "Intet vidne er konfigureret" in page.text
    assert "Kræver handling" not in page.text


async def test_an_operator_retries_a_failed_release_and_the_alert_goes(
    database: Database, app: FastAPI, drop: Path, clock: Clock
) -> None:
    """Failed for good: the answer and the banner on every page; Prøv igen queues it again."""
    assert _deliver(database, app) == [False]
    failed = _release(database)
    assert failed.status == "failed"
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        for path in ("/drift", "/drift/leveringer"):
            page = await client.get(path)
            assert "Kræver handling" in page.text, path
            assert f"Udleveringen {failed.id} til {RECIPIENT} er endeligt fejlet" in page.text
        deliveries = await client.get("/drift/leveringer")
        assert "fejlet" in deliveries.text
        assert "Svaret: cannot write" in deliveries.text
        assert f'action="/drift/leveringer/{failed.id}/igen"' in deliveries.text

        url = f"/drift/leveringer/{failed.id}/igen"
        refused = await client.post(url, data={})
        assert refused.status_code == 403
        assert _release(database).status == "failed"
        answer = await client.post(url, data=user.form())
        assert answer.status_code == 303
        assert answer.headers["location"] == "/drift/leveringer?besked=igen"
        after = await client.get(answer.headers["location"])
        assert "Udleveringen er sat i kø igen" in after.text
        assert "Kræver handling" not in after.text
        assert "venter" in after.text

        # The receiver is back: the next round delivers it.
        drop.parent.unlink()
        assert _deliver(database, app, clock.moment) == [True]
        delivered = await client.get("/drift/leveringer")
        assert "Leveret " in delivered.text
        assert 'action="/drift/leveringer/' not in delivered.text


async def test_a_release_not_failed_is_not_queued_again(database: Database, app: FastAPI) -> None:
    """Prøv igen on a release that has not failed changes nothing: 409 with the reason."""
    waiting = _release(database)
    async with page_client(app) as client:
        user = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        answer = await client.post(f"/drift/leveringer/{waiting.id}/igen", data=user.form())
        unknown = await client.post("/drift/leveringer/rel-unknown/igen", data=user.form())
    assert answer.status_code == 409
    assert "Udleveringen blev ikke sat i kø igen" in answer.text
    assert unknown.status_code == 404
    assert _release(database).status == "pending"


async def test_a_recipient_retrying_for_a_day_is_an_alert(
    database: Database, tmp_path: Path, clock: Clock, drop: Path
) -> None:
    """Retrying: the last error and next attempt; waiting over a day: unreachable, on every page."""
    app = _app(database, tmp_path, clock, drop, attempts=5)
    upload(database, tmp_path, dwelling_rows(6, phases=PHASES))
    assert run(database, _ring(app), weekly()) is not None
    assert _deliver(database, app) == [False]
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        page = await client.get("/drift/leveringer")
        assert "prøver igen" in page.text
        assert "Seneste fejl: cannot write" in page.text
        assert "Forsøg 2 næste gang" in page.text
        assert "Kræver handling" not in page.text

        clock.moment = RUN + STALLED_AFTER + dt.timedelta(minutes=1)
        await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        for path in ("/drift", "/drift/leveringer"):
            later = await client.get(path)
            assert f"{RECIPIENT} har ikke modtaget noget siden" in later.text, path


async def test_the_operator_pages_are_for_the_admin_and_in_english(app: FastAPI) -> None:
    """Another role is refused; ?lang=en gives the English texts."""
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        assert (await client.get("/drift")).status_code == 403
        assert (await client.get("/drift/leveringer")).status_code == 403
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        english = await client.get("/drift/leveringer?lang=en")
    assert "<h1>Deliveries</h1>" in english.text


async def test_no_planted_value_reaches_the_operator_pages(
    database: Database, app: FastAPI
) -> None:
    """The schedule held planted personal data: no operator page shows any of it."""
    _deliver(database, app)
    async with page_client(app) as client:
        await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        for path in ("/drift", "/drift/leveringer"):
            for lang in ("da", "en"):
                page = await client.get(f"{path}?lang={lang}")
                assert page.status_code == 200
                _assert_absent(page.content, f"{path} ({lang})")

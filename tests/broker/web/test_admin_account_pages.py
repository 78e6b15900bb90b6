"""The operator's users and API tokens pages: create, disable, revoke; the link and secret once."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from databases import Database
from factories import dwelling_rows, with_personal
from fastapi import FastAPI
from structlog.testing import capture_logs
from webclient import WebUser, create_user, form_token, page_client, sign_in, sign_in_with, web_app

from broker import accounts
from broker.access import Role, Token, list_tokens
from broker.config import Settings
from broker.db import session_scope
from broker.keys import init_keys, load_keys
from broker.web._periods import moment_text
from tests.broker.release.test_release import PHASES, run, upload, weekly
from tests.broker.test_privacy import PLANTED, _assert_absent

pytestmark = pytest.mark.anyio

NOW = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
SECRET = re.compile(r"brk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
LINK = re.compile(r"https?://[^/\"]+/adgangskode/([A-Za-z0-9_-]{43})")
PAGES = ("/drift", "/drift/leveringer", "/drift/brugere", "/drift/noegler")


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
    return Clock(NOW)


@pytest.fixture
def app(database: Database, tmp_path: Path, clock: Clock) -> FastAPI:
    """The broker with its log keys and a frozen page clock."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    return web_app(database, home, clock=clock)


def _tokens(app: FastAPI) -> list[Token]:
    with session_scope(app.state.read_session_factory) as session:
        found = list_tokens(session)
        for token in found:
            session.expunge(token)
        return found


def _user(app: FastAPI, org: str, username: str) -> accounts.User | None:
    with session_scope(app.state.read_session_factory) as session:
        found = accounts.find_user(session, org, username)
        if found is not None:
            session.expunge(found)
        return found


def _logged(logs: list[dict[str, Any]]) -> str:
    return repr(logs)


async def test_the_operator_creates_a_user_and_its_link_sets_the_password(
    app: FastAPI, clock: Clock
) -> None:
    """The link is shown once and never logged; it sets the password; the sign-in shows."""
    async with page_client(app) as client:
        admin = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        overview = await client.get("/drift")
        assert 'href="/drift/brugere"' in overview.text
        assert 'href="/drift/noegler"' in overview.text
        listed = await client.get("/drift/brugere")
        assert listed.status_code == 200
        assert "<h1>Brugere</h1>" in listed.text
        assert admin.username in listed.text
        assert moment_text(NOW) in listed.text  # the operator's own sign-in, just now

        form = {"org": "albertslund", "username": "Mette", "role": "visitator"}
        refused = await client.post("/drift/brugere", data=form)
        assert refused.status_code == 403
        assert _user(app, "albertslund", "mette") is None
        with capture_logs() as logs:
            created = await client.post("/drift/brugere", data=admin.form(**form))
        assert created.status_code == 200
        assert "Brugeren er oprettet" in created.text
        found = LINK.search(created.text)
        assert found is not None, created.text
        link = found.group(1)
        user = _user(app, "albertslund", "mette")
        assert user is not None
        assert [(e["event"], e["user"], e["org"]) for e in logs] == [
            ("web.user_created", user.id, "albertslund")
        ]
        assert link not in _logged(logs)
        assert "mette" not in _logged(logs).lower()
        assert created.headers["cache-control"] == "no-store"

        after = await client.get("/drift/brugere")
        assert "mette" in after.text
        assert "ingen adgangskode endnu" in after.text
        for path in PAGES:
            assert link not in (await client.get(path)).text, path

    # The person opens the link, chooses a password and signs in, the next morning.
    clock.moment = NOW + dt.timedelta(hours=20)
    async with page_client(app) as person:
        page = await person.get(f"/adgangskode/{link}")
        assert page.status_code == 200
        chosen = "en-lang-adgangskode"
        answer = await person.post(
            f"/adgangskode/{link}",
            data={"csrf_token": form_token(page.text), "password": chosen, "repeated": chosen},
        )
        assert answer.status_code == 303
        mette = WebUser(user.id, "albertslund", "mette", Role.VISITATOR, chosen)
        assert (await sign_in_with(person, mette)).status_code == 303
    async with page_client(app) as client:
        await sign_in_with(client, admin)
        listed = await client.get("/drift/brugere")
    row = _row(listed.text, "mette")
    assert "aktiv" in row
    assert moment_text(NOW + dt.timedelta(hours=20)) in row


def _row(html: str, needle: str) -> str:
    """The table row of ``html`` that holds ``needle``."""
    rows = [r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, re.DOTALL) if needle in r]
    assert len(rows) == 1, (needle, rows)
    return rows[0]


async def test_the_operator_disables_a_user_and_its_session_ends(app: FastAPI) -> None:
    """Deaktivér: signed out at once; a second time says so; without CSRF or unknown: refused."""
    person = create_user(app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
    async with page_client(app) as other:
        assert (await sign_in_with(other, person)).status_code == 303
        async with page_client(app) as client:
            admin = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
            listed = await client.get("/drift/brugere")
            assert f'aria-label="Deaktivér: {person.username} (bo-vest)"' in listed.text
            form = {"org": "bo-vest", "username": person.username}
            refused = await client.post("/drift/brugere/deaktiver", data=form)
            assert refused.status_code == 403
            assert (await other.get("/")).status_code == 200
            with capture_logs() as logs:
                answer = await client.post("/drift/brugere/deaktiver", data=admin.form(**form))
            assert answer.status_code == 303
            assert answer.headers["location"] == "/drift/brugere?besked=deaktiveret"
            assert [(e["event"], e["org"], e["by"]) for e in logs] == [
                ("web.user_disabled", "bo-vest", admin.user_id)
            ]
            assert person.username not in _logged(logs)
            after = await client.get(answer.headers["location"])
            assert "Brugeren er deaktiveret" in after.text
            row = _row(after.text, person.username)
            assert f"deaktiveret {moment_text(NOW)}" in row
            assert "<form" not in row
            again = await client.post("/drift/brugere/deaktiver", data=admin.form(**form))
            assert again.headers["location"] == "/drift/brugere?besked=allerede-deaktiveret"
            unknown = await client.post(
                "/drift/brugere/deaktiver", data=admin.form(org="bo-vest", username="nobody")
            )
            assert unknown.status_code == 404
        # The disabled user's browser is sent to sign in; its password no longer works.
        gone = await other.get("/")
        assert gone.status_code == 303
        assert gone.headers["location"].startswith("/log-ind")
        assert (await sign_in_with(other, person)).status_code == 401


async def test_the_operator_cannot_disable_their_own_user(app: FastAPI) -> None:
    """The last operator must not lock the operations pages out: refused, still signed in."""
    async with page_client(app) as client:
        admin = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        form = admin.form(org="bo-vest", username=admin.username)
        answer = await client.post("/drift/brugere/deaktiver", data=form)
        after = await client.get(answer.headers["location"])
    assert answer.headers["location"] == "/drift/brugere?besked=egen-bruger"
    assert after.status_code == 200
    assert "Du kan ikke deaktivere den bruger, du er logget ind som" in after.text
    assert _row(after.text, f"{admin.username}</td>").count("deaktiveret") == 0


async def test_a_bad_user_form_names_each_field_and_changes_nothing(app: FastAPI) -> None:
    """422: an error summary linking to each field; a personal-looking value is not repeated."""
    async with page_client(app) as client:
        admin = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        before = (await client.get("/drift/brugere")).text.count("<tr>")
        answer = await client.post(
            "/drift/brugere",
            data=admin.form(org="Bo Vest", username=PLANTED["CPR"], role="coordinator"),
        )
        assert answer.status_code == 422
        assert "Brugeren blev ikke oprettet" in answer.text
        for field in ("org", "department", "contact"):
            assert f'href="#{field}"' in answer.text, field
            assert f'id="{field}-error"' in answer.text, field
        assert "Skriv organisationen med små bogstaver, tal og -" in answer.text
        assert "En koordinator skal have mindst én afdeling" in answer.text
        assert 'value="Bo Vest"' in answer.text  # the form as filled in
        assert '<option value="coordinator" selected>' in answer.text
        _assert_absent(answer.content, "the refused form")
        taken = await client.post(
            "/drift/brugere",
            data=admin.form(org="bo-vest", username=admin.username.upper(), role="auditor"),
        )
        assert taken.status_code == 422
        assert "Brugernavnet er allerede taget i denne organisation" in taken.text
        assert 'href="#username"' in taken.text
        after = (await client.get("/drift/brugere")).text.count("<tr>")
    assert after == before


async def _departments(secret: str, app: FastAPI) -> int:
    """The status of a housing route of the API called with ``secret`` as the bearer token."""
    async with page_client(app) as api:
        answer = await api.get("/v1/departments", headers={"Authorization": f"Bearer {secret}"})
    return answer.status_code


async def _create_token(
    app: FastAPI, client: httpx.AsyncClient, admin: WebUser
) -> tuple[str, Token]:
    """Create a housing token through the form; return its secret as shown, and its row."""
    form = {"label": "ERP-eksport", "org": "bo-vest", "role": "housing", "expires": "30"}
    created = await client.post("/drift/noegler", data=admin.form(**form))
    assert created.status_code == 200
    (secret,) = set(SECRET.findall(created.text))
    (token,) = _tokens(app)
    return secret, token


async def test_the_operator_creates_a_token_whose_secret_is_shown_once(app: FastAPI) -> None:
    """Shown on the answer only, never logged nor on a page again; it works; its use shows."""
    async with page_client(app) as client:
        admin = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        empty = await client.get("/drift/noegler")
        assert "<h1>API-nøgler</h1>" in empty.text
        assert "Ingen nøgle er oprettet." in empty.text
        assert 'value="90"' in empty.text  # the default expiry

        form = {"label": "ERP-eksport", "org": "bo-vest", "role": "housing", "expires": "30"}
        assert (await client.post("/drift/noegler", data=form)).status_code == 403
        assert _tokens(app) == []
        with capture_logs() as logs:
            created = await client.post("/drift/noegler", data=admin.form(**form))
        assert created.status_code == 200
        assert created.headers["cache-control"] == "no-store"
        secrets = SECRET.findall(created.text)
        assert len(set(secrets)) == 1, created.text
        secret = secrets[0]
        (token,) = _tokens(app)
        assert (token.label, token.org, token.role) == ("ERP-eksport", "bo-vest", "housing")
        assert token.expires_at == NOW + dt.timedelta(days=30)
        assert f"Nøglen {token.id} (renoveringsteam (bolig), bo-vest) gælder til" in created.text
        assert [(e["event"], e["token"], e["by"]) for e in logs] == [
            ("web.token_created", token.id, admin.user_id)
        ]
        assert secret.split("_", 2)[2] not in _logged(logs)  # the random part (may hold "_")

        row = _row((await client.get("/drift/noegler")).text, token.id)
        assert "ERP-eksport" in row
        assert "aldrig" in row
        assert "aktiv" in row
        for path in PAGES:
            page = await client.get(path)
            assert page.status_code == 200, path
            assert secret.split("_", 2)[2] not in page.text, path

        # The secret is the token: the API admits it, and its use shows.
        assert await _departments(secret, app) == 200
        row = _row((await client.get("/drift/noegler")).text, token.id)
        assert "aldrig" not in row


async def test_the_operator_revokes_a_token_and_the_api_refuses_it(
    app: FastAPI, clock: Clock
) -> None:
    """Tilbagekald: the API answers 401 at once; twice says so; without CSRF or unknown: refused."""
    async with page_client(app) as client:
        admin = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        secret, token = await _create_token(app, client, admin)
        assert await _departments(secret, app) == 200
        url = f"/drift/noegler/{token.id}/tilbagekald"
        assert (await client.post(url, data={})).status_code == 403
        assert _tokens(app)[0].revoked_at is None
        clock.moment = NOW + dt.timedelta(minutes=10)
        answer = await client.post(url, data=admin.form())
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/drift/noegler?besked=tilbagekaldt#{token.id}"
        after = await client.get(answer.headers["location"])
        assert "Nøglen er tilbagekaldt" in after.text
        row = _row(after.text, token.id)
        assert f"tilbagekaldt {moment_text(clock.moment)}" in row
        assert "<form" not in row
        again = await client.post(url, data=admin.form())
        assert again.headers["location"].startswith("/drift/noegler?besked=allerede-tilbagekaldt")
        unknown = await client.post("/drift/noegler/000000000000/tilbagekald", data=admin.form())
        assert unknown.status_code == 404
    assert await _departments(secret, app) == 401


async def test_a_bad_token_form_names_each_field_and_changes_nothing(app: FastAPI) -> None:
    """422 with the rules in Danish; a label that looks personal is refused and not repeated."""
    async with page_client(app) as client:
        admin = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        answer = await client.post(
            "/drift/noegler",
            data=admin.form(label=PLANTED["Telefon"], org="", role="", expires="tre"),
        )
        assert answer.status_code == 422
        assert "Nøglen blev ikke oprettet" in answer.text
        for field in ("label", "org", "role", "expires"):
            assert f'href="#{field}"' in answer.text, field
        assert "Betegnelsen må ikke indeholde et CPR-nummer" in answer.text
        assert "Skriv et antal dage fra 1 til 366" in answer.text
        assert "Vælg en rolle" in answer.text
        assert 'value="tre"' in answer.text
        _assert_absent(answer.content, "the refused form")
        english = await client.post(
            "/drift/noegler?lang=en", data=admin.form(org="bo-vest", role="admin", expires="0")
        )
        assert english.status_code == 422
        assert "Write a number of days from 1 to 366" in english.text
        assert SECRET.search(answer.text + english.text) is None
    assert _tokens(app) == []


async def test_other_roles_may_not_manage_users_or_tokens(app: FastAPI) -> None:
    """An auditor is refused both pages and both forms (403), and nothing is made."""
    async with page_client(app) as client:
        auditor = await sign_in(client, app.state.session_factory, role=Role.AUDITOR, org="bo-vest")
        for path in ("/drift/brugere", "/drift/noegler"):
            page = await client.get(path)
            assert page.status_code == 403, path
            assert "Ikke for din rolle" in page.text
        made = await client.post(
            "/drift/noegler", data=auditor.form(org="bo-vest", role="admin", expires="30")
        )
        user = await client.post(
            "/drift/brugere", data=auditor.form(org="bo-vest", username="ny", role="admin")
        )
        off = await client.post(
            "/drift/brugere/deaktiver", data=auditor.form(org="bo-vest", username=auditor.username)
        )
    assert (made.status_code, user.status_code, off.status_code) == (403, 403, 403)
    assert _tokens(app) == []
    assert _user(app, "bo-vest", "ny") is None
    found = _user(app, "bo-vest", auditor.username)
    assert found is not None
    assert found.disabled_at is None


async def test_no_planted_value_reaches_the_users_and_tokens_pages(
    database: Database, app: FastAPI, tmp_path: Path
) -> None:
    """A schedule with planted personal data, a user and a token made: no page shows any of it."""
    upload(database, tmp_path, with_personal(dwelling_rows(6, phases=PHASES), PLANTED))
    assert run(database, load_keys(app.state.settings), weekly()) is not None
    async with page_client(app) as client:
        admin = await sign_in(client, app.state.session_factory, role=Role.ADMIN, org="bo-vest")
        answers: list[httpx.Response] = [
            await client.post(
                "/drift/brugere", data=admin.form(org="bo-vest", username="ida", role="auditor")
            ),
            await client.post(
                "/drift/noegler", data=admin.form(org="bo-vest", role="auditor", expires="30")
            ),
        ]
        answers += [
            await client.get(f"{path}?lang={lang}") for path in PAGES for lang in ("da", "en")
        ]
    for answer in answers:
        assert answer.status_code == 200, answer.request.url
        _assert_absent(answer.content, str(answer.request.url))

"""The pages' authorization matrix: every page route x every role x signed in or out.

Built by walking the app's routes: a page route without a row here fails the test,
so no page ships unchecked. Expected, with a valid CSRF token on a POST: a public
page answers every caller alike (``signed_in`` when it differs for a signed-in
user); a page for roles sends a signed-out browser to ``/log-ind`` (303), answers
another role 403 and its roles the row's status. Every POST without the CSRF
token is refused with 403 for everyone, whatever the row says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from databases import Database
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from webclient import WebUser, form_token, page_client, sign_in, web_app

from broker.access import Role
from broker.config import Settings
from broker.keys import init_keys
from broker.web._shell import is_api_path

pytestmark = pytest.mark.anyio

EVERYONE = frozenset(Role)
OUT = "signed out"
Cell = tuple[str, str, str]
"""One cell: the method, the route's path pattern and the caller (a role's value or OUT)."""


@dataclass(frozen=True)
class Row:
    """Who a page admits (None: anyone, signed in or not), its answer, and its form."""

    roles: frozenset[Role] | None
    status: int = 200
    signed_in: int | None = None
    """A public page's answer to a signed-in user, when it differs."""
    form: dict[str, str] = field(default_factory=dict)


MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/"): Row(EVERYONE),
    ("GET", "/log-ind"): Row(None, signed_in=303),
    # Wrong credentials on purpose: the cell shows the form is reached, not who may sign in.
    ("POST", "/log-ind"): Row(
        None, 401, form={"org": "bo-vest", "username": "nobody", "password": "x" * 12}
    ),
    ("POST", "/log-ud"): Row(None, 303),
    # An unknown link: the same 404 page for everyone.
    ("GET", "/adgangskode/{token}"): Row(None, 404),
    ("POST", "/adgangskode/{token}"): Row(None, 404, form={"password": "p" * 12}),
    # The visitator's lists: none released here, so an id is unknown (404) to them.
    ("GET", "/lister"): Row(frozenset({Role.VISITATOR})),
    ("GET", "/lister/{release_id}"): Row(frozenset({Role.VISITATOR}), 404),
    ("GET", "/lister/{release_id}.xlsx"): Row(frozenset({Role.VISITATOR}), 404),
    ("GET", "/lister/{release_id}.pdf"): Row(frozenset({Role.VISITATOR}), 404),
    # Contact checks: an unknown dwelling or check is 404 to the roles that may see one.
    ("GET", "/opslag"): Row(frozenset({Role.COORDINATOR})),
    ("GET", "/opslag/{ref}"): Row(frozenset({Role.COORDINATOR}), 404),
    ("POST", "/opslag/{ref}"): Row(frozenset({Role.COORDINATOR}), 404),
    ("GET", "/kontakttjek"): Row(frozenset({Role.COORDINATOR, Role.VISITATOR})),
    ("GET", "/kontakttjek/{check_id}"): Row(frozenset({Role.COORDINATOR, Role.VISITATOR}), 404),
    # Access requests (Art. 15): the DPO's; an unknown dwelling is 404 (and its read on record).
    ("GET", "/indsigt"): Row(frozenset({Role.AUDITOR})),
    ("GET", "/indsigt/{ref}"): Row(frozenset({Role.AUDITOR}), 404),
    ("GET", "/indsigt/{ref}.pdf"): Row(frozenset({Role.AUDITOR}), 404),
    # The agreements' texts: the DPO's; an unknown hash is 404.
    ("GET", "/aftaler"): Row(frozenset({Role.AUDITOR})),
    ("GET", "/aftaler/{content_hash}"): Row(frozenset({Role.AUDITOR}), 404),
    # The log's integrity and exports: the DPO's (of a party to an agreement in force).
    ("GET", "/integritet"): Row(frozenset({Role.AUDITOR})),
    ("POST", "/integritet"): Row(frozenset({Role.AUDITOR})),
    ("GET", "/integritet/udleveringslog.jsonl"): Row(frozenset({Role.AUDITOR})),
    ("GET", "/integritet/udleveringslog.xlsx"): Row(frozenset({Role.AUDITOR})),
    # The disclosure log's pages: the DPO's (as the API's log); an unknown entry is 404.
    ("GET", "/logbog"): Row(frozenset({Role.AUDITOR})),
    ("GET", "/logbog/{seq}"): Row(frozenset({Role.AUDITOR}), 404),
    # The record of processing: for the DPO (auditor) and the operator (admin).
    ("GET", "/fortegnelse"): Row(frozenset({Role.AUDITOR, Role.ADMIN})),
    ("GET", "/fortegnelse.xlsx"): Row(frozenset({Role.AUDITOR, Role.ADMIN})),
    ("GET", "/fortegnelse.pdf"): Row(frozenset({Role.AUDITOR, Role.ADMIN})),
    ("POST", "/kontakttjek/{check_id}"): Row(
        frozenset({Role.VISITATOR}), 404, form={"samtykkereference": "SAG-2027-0042"}
    ),
    # The operator's pages: an unknown release cannot be queued again (404).
    ("GET", "/drift"): Row(frozenset({Role.ADMIN})),
    ("GET", "/drift/leveringer"): Row(frozenset({Role.ADMIN})),
    ("POST", "/drift/leveringer/{release_id}/igen"): Row(frozenset({Role.ADMIN}), 404),
    # The rehousing team's pages: a form without a file is 422; an unknown upload or
    # department is 404.
    ("GET", "/genhusning"): Row(frozenset({Role.HOUSING})),
    ("POST", "/genhusning/upload"): Row(frozenset({Role.HOUSING}), 422),
    ("GET", "/genhusning/upload/{upload_id}"): Row(frozenset({Role.HOUSING}), 404),
    ("POST", "/genhusning/upload/{upload_id}"): Row(frozenset({Role.HOUSING}), 404),
    ("POST", "/genhusning/upload/{upload_id}/annuller"): Row(frozenset({Role.HOUSING}), 404),
    ("GET", "/genhusning/upload/{upload_id}/problemer.xlsx"): Row(frozenset({Role.HOUSING}), 404),
    ("GET", "/genhusning/afdeling/{code}"): Row(frozenset({Role.HOUSING}), 404),
    # Users and API tokens: a user and a token are made (the answer shows the link or the
    # secret); an unknown user cannot be disabled, nor an unknown token revoked (404).
    ("GET", "/drift/brugere"): Row(frozenset({Role.ADMIN})),
    ("POST", "/drift/brugere"): Row(
        frozenset({Role.ADMIN}), form={"org": "bo-vest", "username": "matrix", "role": "auditor"}
    ),
    ("POST", "/drift/brugere/deaktiver"): Row(
        frozenset({Role.ADMIN}), 404, form={"org": "bo-vest", "username": "nobody"}
    ),
    ("GET", "/drift/noegler"): Row(frozenset({Role.ADMIN})),
    ("POST", "/drift/noegler"): Row(
        frozenset({Role.ADMIN}), form={"org": "bo-vest", "role": "auditor", "expires": "30"}
    ),
    ("POST", "/drift/noegler/{token_id}/tilbagekald"): Row(frozenset({Role.ADMIN}), 404),
}

PARAMS = {
    "token": "u" * 43,
    "release_id": "rel-" + "0" * 24,
    "ref": "dw-000000000000",
    "check_id": "cc-" + "0" * 24,
    "content_hash": "0" * 64,
    "seq": "999999",
    "upload_id": "0" * 32,
    "code": "ingen",
    "token_id": "0" * 12,
}
"""Path parameters the routes' templates need."""

ORGS = {
    Role.VISITATOR: "albertslund",
    Role.COORDINATOR: "bo-vest",
    Role.HOUSING: "bo-vest",
    Role.AUDITOR: "bo-vest",
    Role.ADMIN: "bo-vest",
}


def page_routes(app: FastAPI) -> set[tuple[str, str]]:
    """The (method, path pattern) of every page route ``app`` serves (HEAD aside)."""
    return {
        (method, route.path)
        for route in iter_route_contexts(app.routes)
        if route.path is not None and not is_api_path(route.path)
        for method in route.methods or ()
        if method != "HEAD"
    }


def expected(row: Row, who: Role | str) -> int:
    """The status the matrix requires for one cell (with a valid CSRF token)."""
    if row.roles is None:
        return row.signed_in if row.signed_in is not None and who != OUT else row.status
    if who == OUT:
        return 303
    return row.status if who in row.roles else 403


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    # The contact forms put things on record: the site has its log keys.
    init_keys(Settings(home=tmp_path))
    # The sign-in form is posted with wrong credentials once per caller: no rate limit here.
    return web_app(database, tmp_path, sign_in_failures_per_account=100)


def test_every_page_route_has_a_matrix_row(app: FastAPI) -> None:
    """The matrix names exactly the page routes the app serves: a new page needs a row."""
    assert page_routes(app) == set(MATRIX)


async def ask(
    app: FastAPI, matrix: Mapping[tuple[str, str], Row], params: Mapping[str, str] = PARAMS
) -> tuple[dict[Cell, int], dict[Cell, httpx.Response]]:
    """Ask every row of ``matrix`` as every role and signed out: the statuses due, the answers.

    A POST is also sent without its CSRF token (the cell's caller ends ``without csrf``).
    """
    want: dict[Cell, int] = {}
    got: dict[Cell, httpx.Response] = {}
    for who in (*Role, OUT):
        async with page_client(app) as client:
            user: WebUser | None = None
            if who != OUT:
                assert isinstance(who, Role)
                user = await sign_in(client, app.state.session_factory, role=who, org=ORGS[who])
            name = who.value if isinstance(who, Role) else who
            for (method, path), row in matrix.items():
                url = path.format(**params)
                if method == "POST":
                    refused = await client.post(url, data=row.form)
                    want[method, path, name + " without csrf"] = 403
                    got[method, path, name + " without csrf"] = refused
                    token = user.csrf if user else form_token((await client.get("/log-ind")).text)
                    answer = await client.post(url, data={"csrf_token": token, **row.form})
                else:
                    answer = await client.get(url)
                want[method, path, name] = expected(row, who)
                got[method, path, name] = answer
                if answer.status_code == 303 and row.roles is not None and who == OUT:
                    assert answer.headers["location"].startswith("/log-ind")
                if method == "POST" and path == "/log-ud" and user is not None:
                    user = await sign_in(client, app.state.session_factory, role=who, org=ORGS[who])
    return want, got


async def test_page_authorization_matrix(app: FastAPI) -> None:
    """Every page x every role and signed out answers as due; no POST passes without CSRF."""
    want, answers = await ask(app, MATRIX)
    assert {cell: answer.status_code for cell, answer in answers.items()} == want

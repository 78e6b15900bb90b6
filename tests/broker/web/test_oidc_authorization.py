"""The authorization matrix of the routes sign-in through an organisation adds to the pages.

The pages' own matrix (``test_page_authorization.py``) covers an app without a providers'
file; this one is built from an app with one provider (pytest-iam's real OpenID Connect
server), walks its page routes, and requires a row for every route the providers' file
adds. Each row is asked as every role and signed out, through the same helper: the start
of a sign-in is public and goes to the provider; a callback without a sign-in started in
this browser is refused, for everyone alike, with its clear Danish page.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
from databases import Database
from fastapi import FastAPI
from oidc_provider import SECRET_ENV, issuer, providers_file, register_client
from webclient import web_app

from tests.broker.web.test_page_authorization import PARAMS, Row, ask, page_routes

pytestmark = pytest.mark.anyio

BEGIN, CALLBACK = "/log-ind/oidc/{provider}", "/log-ind/oidc/{provider}/callback"
OIDC_MATRIX: dict[tuple[str, str], Row] = {
    # Public: anyone may start a sign-in, signed in or not (a session held ends when it completes).
    ("GET", BEGIN): Row(None, 303),
    # No flow cookie: not a sign-in this browser started, the same refusal for everyone.
    ("GET", CALLBACK): Row(None, 400),
}
OIDC_PARAMS = {**PARAMS, "provider": "albertslund"}


@pytest.fixture
def plain_app(database: Database, tmp_path: Path) -> FastAPI:
    return web_app(database, tmp_path / "plain")


@pytest.fixture
def oidc_app(
    database: Database, tmp_path: Path, iam_server: Any, monkeypatch: pytest.MonkeyPatch
) -> FastAPI:
    client_id, secret = register_client(iam_server)
    monkeypatch.setenv(SECRET_ENV, secret)
    path = providers_file(tmp_path, iam_server, client_id)
    return web_app(database, tmp_path / "home", oidc_file=path)


def test_every_route_the_providers_file_adds_has_a_matrix_row(
    plain_app: FastAPI, oidc_app: FastAPI
) -> None:
    """The routes an app with a provider serves beyond a plain app's: exactly the rows here."""
    plain, with_oidc = page_routes(plain_app), page_routes(oidc_app)
    assert plain <= with_oidc
    assert with_oidc - plain == set(OIDC_MATRIX)


async def test_oidc_authorization_matrix(oidc_app: FastAPI, iam_server: Any) -> None:
    """Every OIDC route x every role and signed out answers as due, with the page it should."""
    want, answers = await ask(oidc_app, OIDC_MATRIX, OIDC_PARAMS)
    assert {cell: answer.status_code for cell, answer in answers.items()} == want
    for (_, path, _), answer in answers.items():
        if path == BEGIN:
            assert answer.headers["location"].startswith(f"{issuer(iam_server)}/oauth/authorize?")
            assert answer.headers["set-cookie"].startswith("broker_oidc=")
        else:
            text = html.unescape(re.sub(r"\s+", " ", answer.text))
            assert "<h1>Log ind kunne ikke gennemføres</h1>" in text
            assert "hørte ikke til et log ind, der blev startet i denne browser" in text
            assert "Årsag, til din administrator: state_mismatch" in text
            assert "broker_session=" not in answer.headers.get("set-cookie", "")

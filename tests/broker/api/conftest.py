"""A broker site for API tests: a schedule, releases, a contact check, tokens of every kind.

Releases go to two municipalities; every role has a token in scope, out of scope,
of an organisation that is no party here (elsewhere), expired and revoked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from databases import Database
from factories import dwelling_rows, with_personal, write_csv
from fastapi import FastAPI
from sqlalchemy import select

from broker.access import Principal, Role, create_token, revoke_token
from broker.api import create_app
from broker.config import Settings
from broker.contact.service import on_delivered, request_check
from broker.db import make_session_factory, session_scope
from broker.ingest import ingest_file
from broker.keys import init_keys, load_keys
from broker.policy import Policy, load_policy_file
from broker.release import release
from broker.renovation import Department, Dwelling

POLICIES = Path(__file__).resolve().parents[3] / "policies"
TODAY = dt.datetime.now(dt.UTC)
SOON = (("genhusning", TODAY.date() + dt.timedelta(days=10), TODAY.date() + dt.timedelta(days=60)),)
CONTACT = "koordinator@bo-vest.example"

IN, OUT, EXPIRED, REVOKED, NO_TOKEN = "in scope", "out of scope", "expired", "revoked", "no token"
ELSEWHERE = "elsewhere"
CONDITIONS = (IN, OUT, ELSEWHERE, NO_TOKEN, EXPIRED, REVOKED)
# Each role's organisation in scope, out of scope, and elsewhere (no party of any
# policy or release here). A coordinator's scope is its departments, so its
# out-of-scope token is of the same organisation, another department. The auditor
# out of scope is the recipient side (a municipality), a party with its own view.
ORGS = {
    Role.HOUSING: ("bo-vest", "fsb", "bo-oest"),
    Role.COORDINATOR: ("bo-vest", "bo-vest", "bo-oest"),
    Role.VISITATOR: ("albertslund", "hvidovre", "ballerup"),
    Role.AUDITOR: ("bo-vest", "albertslund", "bo-oest"),
    Role.ADMIN: ("bo-vest", "fsb", "bo-oest"),
}
DEPARTMENTS = {IN: ("blokland",), OUT: ("andenblok",)}
ALBERTSLUND, HVIDOVRE = "albertslund/visitation", "hvidovre/visitation"


def policy(name: str, **changes: Any) -> Policy:
    """A shipped policy by file stem, with ``changes``."""
    loaded, problems = load_policy_file(POLICIES / f"{name}.yaml")
    assert loaded is not None, problems
    return loaded.policy.model_copy(update=changes)


@dataclass
class World:
    """The site: the app, tokens by (role, condition), and the objects the routes name."""

    app: FastAPI
    settings: Settings
    tokens: dict[tuple[Role, str], str]
    dwellings: dict[str, list[str]]
    releases: dict[str, list[str]]
    check_id: str
    policy_hash: str

    def client(self) -> httpx.AsyncClient:
        """An in-process client of the app."""
        transport = httpx.ASGITransport(app=self.app)
        return httpx.AsyncClient(transport=transport, base_url="http://test")

    def auth(self, role: Role, condition: str = IN) -> dict[str, str]:
        """The Authorization header of ``role``'s token for ``condition`` (none for no token)."""
        if condition == NO_TOKEN:
            return {}
        return {"Authorization": f"Bearer {self.tokens[role, condition]}"}

    @property
    def params(self) -> dict[str, str]:
        """Path parameters naming in-scope objects: what the route templates need."""
        return {
            "reference": self.dwellings["blokland"][0],
            "content_hash": self.policy_hash,
            "release_id": self.releases[ALBERTSLUND][-1],
            "code": "blokland",
            "check_id": self.check_id,
        }


def _tokens(session: Any) -> tuple[dict[tuple[Role, str], str], Principal]:
    tokens: dict[tuple[Role, str], str] = {}
    coordinator: Principal | None = None
    for role, (inside, outside, elsewhere) in ORGS.items():
        for condition in (IN, OUT, ELSEWHERE, EXPIRED, REVOKED):
            departments = DEPARTMENTS.get(condition, DEPARTMENTS[IN])
            expired = condition == EXPIRED
            token, secret = create_token(
                session,
                role=role.value,
                org={OUT: outside, ELSEWHERE: elsewhere}.get(condition, inside),
                departments=departments if role == Role.COORDINATOR else (),
                contact=CONTACT if role == Role.COORDINATOR else None,
                days=1 if expired else 30,
                now=TODAY - dt.timedelta(days=7) if expired else TODAY,
            )
            if condition == REVOKED:
                revoke_token(session, token.id, now=TODAY)
            tokens[role, condition] = secret
            if role == Role.COORDINATOR and condition == IN:
                coordinator = Principal(token.id, role, token.org, departments, CONTACT)
    assert coordinator is not None
    return tokens, coordinator


def build_world(
    database: Database, home: Path, personal: dict[str, str] | None = None, **settings: Any
) -> World:
    """Seed the database and return the site, its app built with ``settings``.

    ``personal`` fills the export's personal columns (by heading) of every row.
    """
    init_keys(Settings(home=home))
    ring = load_keys(Settings(home=home))
    factory = make_session_factory(database.engine)
    rows = dwelling_rows(6, phases=SOON) + dwelling_rows(
        2, first=7, department="Andenblok", phases=SOON
    )
    rows = with_personal(rows, personal or {})
    with session_scope(factory) as session:
        ingest_file(session, write_csv(home / "export.csv", rows), org="bo-vest", now=TODAY)
    releases: dict[str, list[str]] = {ALBERTSLUND: [], HVIDOVRE: []}
    weekly = policy("albertslund-visitation-weekly")
    elsewhere = policy("albertslund-visitation-weekly", id="hvidovre-weekly", recipient=HVIDOVRE)
    for recipient, chosen in ((ALBERTSLUND, weekly), (HVIDOVRE, elsewhere), (ALBERTSLUND, weekly)):
        with session_scope(factory) as session:
            made = release(session, ring, chosen, run_at=TODAY, now=TODAY).release
            assert made is not None
            releases[recipient].append(made.id)
    with session_scope(factory) as session:
        tokens, coordinator = _tokens(session)
        dwellings = {
            code: list(
                session.scalars(
                    select(Dwelling.ref)
                    .join(Department)
                    .where(Department.code == code)
                    .order_by(Dwelling.id)
                )
            )
            for code in ("blokland", "andenblok")
        }
        check = request_check(
            session,
            ring,
            coordinator,
            policy("albertslund-contact-check"),
            dwellings["blokland"][0],
            now=TODAY,
        ).check
        check_id, contact_release = check.id, check.release_id
        # The check as its delivery leaves it (``received``, by the delivery's own hook),
        # so that the visitator may answer it; the release itself stays in the outbox.
        on_delivered(session, ring, contact_release, now=TODAY)
    releases["albertslund/bostoette"] = [contact_release]
    chosen = {"policies_dir": POLICIES, "scheduler": False, **settings}
    app = create_app(Settings(home=home, **chosen), engine=database.engine)
    policy_hash = app.state.policies.active[0].policy.content_hash
    return World(app, app.state.settings, tokens, dwellings, releases, check_id, policy_hash)


@pytest.fixture
def make_world(database: Database, tmp_path: Path) -> Callable[..., World]:
    """Build the site with settings overridden (e.g. a small rate or body limit)."""
    return lambda personal=None, **settings: build_world(database, tmp_path, personal, **settings)


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    """The site with default settings."""
    return make_world()

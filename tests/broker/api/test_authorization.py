"""The authorization matrix: every /v1 route x every role x every kind of caller.

A route added to the app without a row here fails the test, so no route ships
unchecked. Expected: 401 without a valid token (none, expired, revoked); 403 for
a role the route does not admit, whatever the object; 404 for an object outside
the caller's scope (its existence does not show); else the route's success.
Routes with no object in their path (lists, uploads) have no out-of-scope object:
a caller from elsewhere gets the success too, and the list shows it nothing. The
log as a whole (checkpoint, verification, export) is for parties of this broker's
disclosures only: an auditor or visitator of an organisation that is none gets 404,
as it does for a dwelling report or a policy text (admin routes are not scoped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from factories import upload_document
from fastapi.routing import iter_route_contexts

from broker.access import Role
from broker.api._problems import PROBLEM
from tests.broker.api.conftest import (
    CONDITIONS,
    ELSEWHERE,
    EXPIRED,
    IN,
    NO_TOKEN,
    OUT,
    REVOKED,
    World,
)

A, U, V, H, C = Role.ADMIN, Role.AUDITOR, Role.VISITATOR, Role.HOUSING, Role.COORDINATOR


@dataclass(frozen=True)
class Row:
    """Who a route admits, what answers 404 to a caller from elsewhere, and its success.

    ``scoped``: its path names an object, which a caller out of scope does not see.
    ``parties``: it answers only a party of this broker's disclosures.
    ``elsewhere``: another answer to a caller from elsewhere, when one is due.
    """

    roles: frozenset[Role]
    scoped: bool = False
    success: int = 200
    parties: bool = False
    elsewhere: int | None = None


def _roles(*roles: Role) -> frozenset[Role]:
    return frozenset(roles)


MATRIX: dict[tuple[str, str], Row] = {
    ("GET", "/v1/policies"): Row(_roles(A, U)),
    ("POST", "/v1/policies/reload"): Row(_roles(A)),
    ("GET", "/v1/log/entries"): Row(_roles(U)),
    ("GET", "/v1/log/checkpoint"): Row(_roles(U, V), parties=True),
    ("GET", "/v1/log/verify"): Row(_roles(U), parties=True),
    ("GET", "/v1/log/dwellings/{reference}"): Row(_roles(U), parties=True),
    ("GET", "/v1/log/export"): Row(_roles(U), parties=True),
    ("GET", "/v1/log/policy-versions/{content_hash}"): Row(_roles(U), parties=True),
    ("GET", "/v1/releases"): Row(_roles(V)),
    ("GET", "/v1/releases/{release_id}"): Row(_roles(V), scoped=True),
    ("GET", "/v1/departments"): Row(_roles(H)),
    ("GET", "/v1/departments/{code}/dwellings"): Row(_roles(H), scoped=True),
    ("POST", "/v1/schedules"): Row(_roles(H), success=201),
    # Found among the caller's own departments only: no object in the path.
    ("GET", "/v1/dwellings"): Row(_roles(C)),
    # No contact-check agreement is in force for an organisation from elsewhere: 422
    # names the policy, before any dwelling is looked up.
    ("GET", "/v1/dwellings/{reference}/contact-preview"): Row(
        _roles(C), scoped=True, elsewhere=422
    ),
    # The site's check on the dwelling is still open: a request answers it (200), and
    # sends nothing again (a new check's 201 is in tests/broker/contact).
    ("POST", "/v1/contact-checks"): Row(_roles(C), scoped=True, elsewhere=422),
    ("GET", "/v1/contact-checks"): Row(_roles(C, V)),
    ("GET", "/v1/contact-checks/{check_id}"): Row(_roles(C, V), scoped=True),
    ("POST", "/v1/contact-checks/{check_id}/reply"): Row(_roles(V), scoped=True),
}


def _body(world: World, method: str, path: str) -> dict[str, Any]:
    """The request body each route needs to succeed (the same for every caller)."""
    if path == "/v1/schedules":
        document = upload_document(3)
        document["departments"][0]["afdeling"] = "nordparken"
        return {"json": document}
    if path == "/v1/dwellings":
        return {"params": {"q": "prøvevej"}}
    if path == "/v1/contact-checks" and method == "POST":
        return {"json": {"dwelling": world.params["reference"]}}
    if path.endswith("/reply"):
        return {"json": {"outcome": "resident-consents-to-contact", "consent_reference": "SAG-17"}}
    return {}


def expected(row: Row, role: Role, condition: str) -> int:
    """The status the matrix requires for one cell."""
    if condition in {NO_TOKEN, EXPIRED, REVOKED}:
        return 401
    if role not in row.roles:
        return 403
    if condition == OUT and row.scoped:
        return 404
    if condition == ELSEWHERE and row.elsewhere is not None:
        return row.elsewhere
    if condition == ELSEWHERE and (row.scoped or row.parties):
        return 404
    return row.success


def test_every_v1_route_has_a_matrix_row(world: World) -> None:
    """The matrix names exactly the /v1 routes the app serves: a new route needs a row."""
    # Included routers are nested in app.routes; FastAPI's own walk flattens them.
    served = {
        (method, route.path)
        for route in iter_route_contexts(world.app.routes)
        if route.path is not None and route.path.startswith("/v1/")
        for method in route.methods or ()
    }
    assert served == set(MATRIX)


@pytest.mark.anyio
async def test_authorization_matrix(world: World) -> None:
    """Every route x role x {in scope, out of scope, no token, expired, revoked} answers as due."""
    want: dict[tuple[str, str, str, str], int] = {}
    got: dict[tuple[str, str, str, str], int] = {}
    not_problems: list[tuple[str, str, str, str]] = []
    async with world.client() as client:
        for (method, path), row in MATRIX.items():
            url = path.format(**world.params)
            for role in Role:
                for condition in CONDITIONS:
                    cell = (method, path, role.value, condition)
                    response = await client.request(
                        method,
                        url,
                        headers=world.auth(role, condition),
                        **_body(world, method, path),
                    )
                    want[cell] = expected(row, role, condition)
                    got[cell] = response.status_code
                    is_problem = response.headers.get("content-type") == PROBLEM
                    if response.status_code >= 400 and not is_problem:
                        not_problems.append(cell)
    assert got == want
    assert not_problems == []


@pytest.mark.anyio
async def test_unauthenticated_answers_carry_a_bearer_challenge(world: World) -> None:
    """401 answers name the Bearer scheme; 403 and 404 do not ask for credentials."""
    async with world.client() as client:
        missing = await client.get("/v1/departments")
        expired = await client.get("/v1/departments", headers=world.auth(H, EXPIRED))
        forbidden = await client.get("/v1/departments", headers=world.auth(V, IN))
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert expired.headers["www-authenticate"].startswith("Bearer")
    assert "www-authenticate" not in forbidden.headers

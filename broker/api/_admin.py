"""Admin routes: the policies in force, and reloading them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from broker.access import Role
from broker.api._auth import Admin, AdminOrAuditor, DbSession
from broker.api._routing import BoundedJsonRoute
from broker.disclosure import party_of

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["admin"], route_class=BoundedJsonRoute)


class PolicyInForce(BaseModel):
    """A policy in force: its id, version, content hash, recipient and flow."""

    id: str
    version: int
    hash: str
    recipient: str
    flow: str


class Reloaded(BaseModel):
    """The outcome of a reload: whether the new set was accepted, and how many are in force."""

    accepted: bool
    policies: int


@router.get("/policies", response_model=list[PolicyInForce])
def policies(request: Request, caller: AdminOrAuditor) -> list[PolicyInForce]:
    """The policies in force, with their content hashes; for an auditor, its own org's only.

    An auditor's organisation is the policy's discloser or its recipient's municipality.
    """
    return [
        PolicyInForce(
            id=item.policy.id,
            version=item.policy.version,
            hash=item.policy.content_hash,
            recipient=item.policy.recipient,
            flow=item.policy.flow.value,
        )
        for item in request.app.state.policies.active
        if caller.role is Role.ADMIN
        or caller.org in (item.policy.discloser, party_of(item.policy.recipient))
    ]


@router.post("/policies/reload", response_model=Reloaded)
def reload_policies(request: Request, _caller: Admin, session: DbSession) -> Reloaded:
    """Reread the policy files; an invalid set is refused and the old one stays in force."""
    # The registry puts new versions on record in a transaction of its own; the
    # request's (opened to check the token) ends first, as on SQLite it holds the
    # write lock and the recorder would wait for it until it gave up.
    session.commit()
    registry = request.app.state.policies
    problems = registry.reload()
    return Reloaded(accepted=not problems, policies=len(registry.active))

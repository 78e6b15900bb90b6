"""The start page: who is signed in, and links to the pages of their role.

A page module adds its link to :data:`LINKS`; a link is shown only when the app
serves its path, so a page that does not exist yet is never linked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import iter_route_contexts

from broker.access import Role
from broker.web._i18n import N_, gettext_for
from broker.web._shell import SignedIn, language, page_router, render

__all__ = ["LINKS", "ROLE_TEXTS", "StartLink", "router", "serves"]

router = page_router()


@dataclass(frozen=True, slots=True)
class StartLink:
    """A link on the start page: for which roles, its label (a msgid) and its path."""

    roles: frozenset[Role]
    label: str
    path: str


LINKS: list[StartLink] = []
"""The start page's links, in order; page modules append theirs."""

ROLE_TEXTS: Mapping[Role, str] = {
    Role.VISITATOR: N_(
        "You are signed in as a visitator: you read the weekly lists of dwellings affected"
        " by the renovation and answer contact checks."
    ),
    Role.COORDINATOR: N_(
        "You are signed in as a coordinator: you find the dwellings of your departments and"
        " ask the municipality for contact checks."
    ),
    Role.HOUSING: N_(
        "You are signed in for the housing company's renovation team: you load the"
        " renovation schedule."
    ),
    Role.AUDITOR: N_(
        "You are signed in as an auditor: you review what was disclosed, to whom and on"
        " which basis."
    ),
    Role.ADMIN: N_("You are signed in as an administrator of the broker."),
}
"""What the start page says to each role."""


def _served(request: Request) -> set[str]:
    return {
        route.path
        for route in iter_route_contexts(request.app.routes)
        if route.path is not None and "GET" in (route.methods or ())
    }


def serves(request: Request, path: str) -> bool:
    """Return whether the app serves the GET route ``path`` (its pattern: ``/lister/{id}``)."""
    return path in _served(request)


@router.get("/")
def start(request: Request, principal: SignedIn) -> Response:
    """The start page of the signed-in user's role."""
    served = _served(request)
    links = [link for link in LINKS if principal.role in link.roles and link.path in served]
    role_text = gettext_for(language(request))(ROLE_TEXTS[principal.role])
    return render(request, "start.html", {"links": links, "role_text": role_text})

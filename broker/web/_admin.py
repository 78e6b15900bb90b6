"""The operator's pages (role ``admin``): what runs, what failed, and the one button to retry.

- ``/drift``: the agreements in force (id, version, flow, recipient, content hash and
  the log entry that put the version on record), each recipient's releases counted by
  delivery state, and each witness's newest cosignature.
- ``/drift/leveringer``: each recipient's releases by state: pending, retrying (the
  last error, the next attempt), failed (the receiver's answer) with a button *Prøv
  igen* (a POST to ``/drift/leveringer/<id>/igen``: the service ``broker deliver
  --retry`` uses, then back here), and the newest delivered.

Every page here shows the failures a person must act on (``broker.operations.alerts``)
in a banner above its content, until they are resolved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from broker.access import Principal, Role
from broker.config import Settings
from broker.db import session_scope
from broker.delivery.service import QueuedRelease, retry_failed
from broker.errors import InputError
from broker.operations import Alert, alerts, deliveries, overview
from broker.web._i18n import N_, Gettext, gettext_for
from broker.web._shell import PageDb, PageReadDb, SignedInAs, language, page_router, render, web_now
from broker.web._start import LINKS, StartLink

__all__ = ["ALERT_TEXTS", "STATE_LABELS", "AlertLine", "Operator", "alert_line", "router", "when"]

router = page_router()
LINKS.append(StartLink(frozenset({Role.ADMIN}), N_("Operations"), "/drift"))

_DANISH_TIME = ZoneInfo("Europe/Copenhagen")
STATE_LABELS = {
    "pending": N_("waiting"),
    "retrying": N_("retrying"),
    "failed": N_("failed"),
    "delivered": N_("delivered"),
}
"""Each delivery state as the pages say it."""
ALERT_TEXTS = {
    "failed": N_("The release %(release)s to %(recipient)s failed for good: %(problem)s."),
    "unreachable": N_(
        "%(recipient)s has not received anything since %(since)s: the oldest release still"
        " waits (%(problem)s)."
    ),
    "uncosigned": N_(
        "The newest delivery (%(release)s, %(since)s) went out without a witness's"
        " cosignature: a witness is down or refuses."
    ),
}
"""What each kind of alert says; the banner links to the page where it is acted on."""
_NOTES = {
    "igen": N_("The release is queued again: it is sent within a few seconds."),
}
_REFUSED = N_(
    "The release was not queued again: a later release of its agreement has been delivered,"
    " or it is no longer failed."
)


def when(moment: dt.datetime | None, lang: str) -> str:
    """Return ``moment`` as a reader in Copenhagen reads it: ``2. december 2026 kl. 09.00``."""
    if moment is None:
        return ""
    return format_datetime(
        moment.astimezone(_DANISH_TIME),
        "d. MMMM y 'kl.' HH.mm" if lang == "da" else "d MMMM y, HH:mm",
        locale=lang,
    )


@dataclass(frozen=True, slots=True)
class AlertLine:
    """An alert as the operator reads it: its text, and the page where it is put right."""

    text: str
    link: str


def alert_line(alert: Alert, gettext: Gettext, lang: str) -> AlertLine:
    """Return what the banner (and the alert e-mail) says of ``alert``, and where it links."""
    text = gettext(ALERT_TEXTS[alert.kind]) % {
        "release": alert.release_id or "",
        "recipient": alert.recipient or "",
        "since": when(alert.since, lang),
        "problem": alert.problem or gettext("no answer yet"),
    }
    anchor = f"#{alert.release_id}" if alert.kind == "failed" else ""
    link = "/drift" if alert.kind == "uncosigned" else f"/drift/leveringer{anchor}"
    return AlertLine(text, link)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True, slots=True)
class OperatorPage:
    """The signed-in operator, its language, and the alerts every operator page shows."""

    principal: Principal
    lang: str
    gettext: Gettext
    alerts: tuple[AlertLine, ...]

    def context(self, **values: Any) -> dict[str, Any]:
        """Return a template's context: ``values`` with the alerts."""
        return {"alerts": self.alerts, **values}


def _operator(
    request: Request, principal: Annotated[Principal, SignedInAs(Role.ADMIN)]
) -> OperatorPage:
    lang = language(request)
    gettext = gettext_for(lang)
    with session_scope(request.app.state.read_session_factory) as session:
        found = alerts(session, _settings(request), now=web_now(request))
    lines = tuple(alert_line(alert, gettext, lang) for alert in found)
    return OperatorPage(principal, lang, gettext, lines)


Operator = Annotated[OperatorPage, Depends(_operator)]
"""A page parameter: the signed-in operator (role admin) and the alerts to show."""


@dataclass(frozen=True, slots=True)
class _ReleaseLine:
    row: QueuedRelease
    state: str
    created: str
    next_attempt: str
    delivered: str


def _release_line(row: QueuedRelease, gettext: Gettext, lang: str) -> _ReleaseLine:
    return _ReleaseLine(
        row,
        gettext(STATE_LABELS[row.state]),
        when(row.created_at, lang),
        when(row.next_attempt_at, lang),
        when(row.delivered_at, lang),
    )


@router.get("/drift")
def operations(request: Request, operator: Operator, session: PageReadDb) -> Response:
    """The agreements in force, the recipients' queues and the witnesses."""
    policies = [item.policy for item in request.app.state.policies.active]
    found = overview(session, _settings(request), policies, now=web_now(request))
    witnesses = [(w, when(w.cosigned_at, operator.lang)) for w in found.witnesses]
    context = operator.context(view=found, witnesses=witnesses)
    return render(request, "admin/overview.html", context)


def _deliveries_page(
    request: Request,
    operator: OperatorPage,
    session: PageReadDb,
    *,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    found = deliveries(session, _settings(request), now=web_now(request))
    queues = [
        (queue, [_release_line(r, operator.gettext, operator.lang) for r in queue.releases])
        for queue in found.queues
    ]
    note = request.query_params.get("besked", "")
    context = operator.context(
        queues=queues,
        errors=errors or [],
        note=operator.gettext(_NOTES[note]) if note in _NOTES else None,
    )
    return render(request, "admin/deliveries.html", context, status=status)


@router.get("/drift/leveringer")
def delivery_states(request: Request, operator: Operator, session: PageReadDb) -> Response:
    """Each recipient's releases by delivery state; a failed one can be queued again."""
    return _deliveries_page(request, operator, session)


@router.post("/drift/leveringer/{release_id}/igen")
def retry(request: Request, operator: Operator, session: PageDb, release_id: str) -> Response:
    """Queue a release that failed for good again (as ``broker deliver --retry``), then back."""
    try:
        retry_failed(session, release_id, now=web_now(request))
    except InputError:
        errors = [("", operator.gettext(_REFUSED))]
        return _deliveries_page(request, operator, session, errors=errors, status=409)
    query = urlencode({"besked": "igen"})
    return RedirectResponse(f"/drift/leveringer?{query}", status_code=303)

"""The operator's alert e-mail: the failures a person must act on, mailed when they appear.

``broker serve`` (and ``broker scheduler``) look once a minute for the failures every
operator page shows in its banner (``broker.operations.alerts``: a release failed for
good, a recipient unreachable for a day, a delivery without the witnesses'
cosignature). When one appears that was not in the last e-mail, the configured address
(``BROKER_ALERT_MAIL``, sent by ``BROKER_SMTP``) gets one e-mail listing every failure
open now, each as the banner says it, with the link to the page where it is put right.

What the message holds: the alerts' fixed Danish texts, which name a release id, a
recipient id, a time and the receiver's answer (``HTTP 401``), and the links. Never a
dwelling, an address or a person. A failure to send is logged (``alerts.mail_failed``,
the kind of failure only) and tried again at the next look.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import structlog
from sqlalchemy.orm import Session, sessionmaker

from broker.config import Settings
from broker.db import session_scope
from broker.operations import Alert, alerts
from broker.web._admin import alert_line
from broker.web._i18n import N_, gettext_for
from broker.web._notify import send

__all__ = ["AlertMail", "alert_message"]

log = structlog.get_logger(__name__)

LOOK_EVERY = dt.timedelta(minutes=1)
"""How often the alerts are looked for."""
_SUBJECT = N_("Renovation broker: a failure needs you")
_INTRO = N_("The renovation broker has failures that a person must act on:")
_OUTRO = N_(
    "Open the operations pages to put them right: %(link)s. This e-mail is sent when a new"
    " failure appears; it holds no personal data."
)


def _key(alert: Alert) -> tuple[str, str | None, str | None]:
    return (alert.kind, alert.release_id, alert.recipient)


def alert_message(  # noqa: PLR0913 - the message's facts, all named
    found: tuple[Alert, ...],
    *,
    to: str,
    sender: str,
    public_url: str,
    at: dt.datetime,
    lang: str = "da",
) -> EmailMessage:
    """Return the e-mail listing ``found`` (each with its page's link) to ``to``."""
    gettext = gettext_for(lang)
    base = public_url.rstrip("/")
    lines = []
    for alert in found:
        line = alert_line(alert, gettext, lang)
        lines.append(f"- {line.text}\n  {base}{line.link}")
    body = "\n\n".join(
        (gettext(_INTRO), "\n".join(lines), gettext(_OUTRO) % {"link": f"{base}/drift"})
    )
    message = EmailMessage()
    message["Subject"] = gettext(_SUBJECT)
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(at)
    message["Message-ID"] = make_msgid(domain="renovation-broker.invalid")
    message.set_content(body + "\n")
    return message


class AlertMail:
    """Looks for alerts at most once a minute and mails when a new one appears."""

    def __init__(self, settings: Settings) -> None:
        """Mail ``settings.alert_mail`` through ``settings.smtp`` (nothing when either is unset)."""
        self._settings = settings
        self._mailed: set[tuple[str, str | None, str | None]] = set()
        self._next_look: dt.datetime | None = None

    def __call__(self, factory: sessionmaker[Session], now: dt.datetime) -> bool:
        """Look (when due) and mail; return whether an e-mail was sent."""
        settings = self._settings
        if settings.alert_mail is None or settings.smtp is None:
            return False
        if self._next_look is not None and now < self._next_look:
            return False
        self._next_look = now + LOOK_EVERY
        with session_scope(factory) as session:
            found = alerts(session, settings, now=now)
        keys = {_key(alert) for alert in found}
        if not keys - self._mailed:
            self._mailed &= keys  # a failure put right and back again is mailed again
            return False
        message = alert_message(
            found,
            to=settings.alert_mail,
            sender=settings.smtp.sender,
            public_url=str(settings.public_url),
            at=now,
        )
        try:
            send(settings.smtp, message)
        except (OSError, ValueError) as error:
            log.warning("alerts.mail_failed", kind=type(error).__name__)
            return False
        self._mailed = keys
        log.info("alerts.mailed", alerts=len(found))
        return True

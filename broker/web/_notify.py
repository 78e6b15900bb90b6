"""The visitator's notification: an e-mail saying that a new list is ready, with a link.

Sent when a list release (``snapshot`` or ``changes``) to a recipient with a ``notify``
address has been delivered, after the delivery is committed (a ``DeliveryHooks``
``arrived`` hook), by SMTP (``Settings.smtp``). Nothing is sent when either is not
configured.

What the message holds, and nothing else: a fixed Danish text from the message
catalogue, the link ``<public url>/lister/<release id>``, the sender and the address
notified. Never a dwelling, an address, a count, a phase, a street or a policy's name:
the list itself is read only by those who sign in.

A failure to notify is logged (``notify.failed``, naming the release, the recipient id
and the kind of failure, never an address) and not retried: the delivery stands, the
list is on its page all the same, and the next list sends the next e-mail.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import quote

import structlog

from broker.config import Settings, SmtpSettings
from broker.delivery.service import Arrival, DeliveryHooks
from broker.policy import Mode
from broker.web._listing_text import MAIL_TEXTS, gettext_for

__all__ = ["Notifier", "list_link", "notification", "register_hooks", "send"]

log = structlog.get_logger(__name__)

_LISTS = frozenset({Mode.SNAPSHOT.value, Mode.CHANGES.value})
"""The release modes that are a list (a contact check is not)."""


def list_link(public_url: str, release_id: str) -> str:
    """Return the address of the list page of ``release_id`` under ``public_url``."""
    return f"{public_url.rstrip('/')}/lister/{quote(release_id, safe='')}"


def notification(  # noqa: PLR0913 - the message's facts, all named
    release_id: str, *, to: str, sender: str, public_url: str, at: dt.datetime, lang: str = "da"
) -> EmailMessage:
    """Return the e-mail telling ``to`` that the list of ``release_id`` is ready."""
    gettext = gettext_for(lang)
    link = list_link(public_url, release_id)
    paragraphs = (
        gettext(MAIL_TEXTS["ready"]),
        gettext(MAIL_TEXTS["open"]) % {"link": link},
        gettext(MAIL_TEXTS["only"]),
        gettext(MAIL_TEXTS["automatic"]),
    )
    message = EmailMessage()
    message["Subject"] = gettext(MAIL_TEXTS["subject"])
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(at.astimezone(dt.UTC))
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to it, please
    message.set_content("\n\n".join(paragraphs) + "\n")
    message["Content-Language"] = lang  # after the content: set_content clears Content-*
    return message


def send(smtp: SmtpSettings, message: EmailMessage) -> None:
    """Hand ``message`` to the SMTP server, over STARTTLS unless told not to.

    Raises:
        smtplib.SMTPException: the server refused (or does not offer STARTTLS).
        OSError: it cannot be reached, or does not answer in time (``ssl.SSLError``:
            its certificate is not trusted).
    """
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
        if smtp.starttls:
            # 1. Upgrade before anything else is said, trusting only ca_file (or the system).
            context = ssl.create_default_context(
                cafile=None if smtp.ca_file is None else str(smtp.ca_file)
            )
            client.starttls(context=context)
        if smtp.user is not None and smtp.password is not None:
            # 2. Log in only over the upgraded connection (the settings refuse otherwise).
            client.login(smtp.user, smtp.password.get_secret_value())
        # 3. One envelope recipient: the message's To.
        client.send_message(message)


def _problem(error: Exception) -> dict[str, object]:
    """Return what may be logged of a failure: its kind and SMTP code, never its text.

    A server's answer may quote the address it refused.
    """
    facts: dict[str, object] = {"problem": type(error).__name__}
    code = getattr(error, "smtp_code", None)
    if isinstance(code, int):
        facts["smtp_code"] = code
    return facts


@dataclass(frozen=True, slots=True)
class Notifier:
    """The ``arrived`` hook: e-mails the recipient's ``notify`` address when a list arrives."""

    smtp: SmtpSettings
    public_url: str
    addresses: Mapping[str, str]
    """The address to notify, by recipient id."""

    def __call__(self, arrival: Arrival) -> None:
        """Send the notification for ``arrival`` if it is a list to a notified recipient."""
        if arrival.mode not in _LISTS:
            return
        address = self.addresses.get(arrival.recipient)
        if address is None:
            return
        message = notification(
            arrival.release_id,
            to=address,
            sender=self.smtp.sender,
            public_url=self.public_url,
            at=arrival.delivered_at,
        )
        try:
            send(self.smtp, message)
        except (smtplib.SMTPException, OSError) as error:
            log.warning(
                "notify.failed",
                release_id=arrival.release_id,
                recipient=arrival.recipient,
                **_problem(error),
            )
            return
        log.info("notify.sent", release_id=arrival.release_id, recipient=arrival.recipient)


def register_hooks(hooks: DeliveryHooks, settings: Settings) -> None:
    """Register the notification when SMTP and at least one recipient's address are set."""
    addresses = {r.id: r.notify for r in settings.recipients if r.notify is not None}
    if settings.smtp is None or not addresses:
        return
    hooks.on_arrived(Notifier(settings.smtp, str(settings.public_url), addresses))

"""The visitator's notification: against a real SMTP server (aiosmtpd) on 127.0.0.1.

A delivered list sends one e-mail, in Danish, saying only that a list is ready, with
the link to its page; no personal value, no address, no count is in any byte of it.
Nothing is sent when it is not configured; a failure to notify leaves the delivery
standing and is not retried.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import re
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SmtpSession
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from databases import Database
from listings import ListWorld, rows, weekly
from peers import free_port
from publishing import deliver_published
from pydantic import SecretStr, ValidationError
from structlog.testing import capture_logs

from broker.config import RecipientSettings, Settings, SmtpSettings, load_settings
from broker.db import session_scope
from broker.delivery.service import Arrival, DeliveryHooks
from broker.policy import Mode
from broker.release import Release
from broker.wiring import delivery_hooks
from tests.broker.test_privacy import PLANTED

RECIPIENT = "albertslund/visitation"
NOTIFY = "visitation@albertslund.example"
SENDER = "broker@bo-vest.example"
PUBLIC = "https://broker.bo-vest.example/"
SUBJECT = "Ny liste over boliger, der berøres af renoveringen"
PASSWORD = "smtp-Secret-Pw-7731"  # noqa: S105 - the test server's own password


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it accepts (or refuses recipients)."""

    received: list[Envelope] = field(default_factory=list)
    refuse: bool = False

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, _server: SMTP, _session: SmtpSession, envelope: Envelope, address: str, _options: Any
    ) -> str:
        """Accept the address, or refuse it as a real server does."""
        if self.refuse:
            # A real server's refusal quotes the address: it must not reach a log line.
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, _server: SMTP, _session: SmtpSession, envelope: Envelope
    ) -> str:
        """Keep the message."""
        self.received.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class Server:
    """A running SMTP server: its port and its inbox."""

    port: int
    inbox: Inbox


@pytest.fixture
def smtp_server() -> Iterator[Server]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield Server(port, inbox)
    finally:
        controller.stop()


def _certificate(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """Return a self-signed certificate for 127.0.0.1 (PEM) and a server context holding it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return cert_path, context


@dataclass
class TlsServer:
    """A running SMTP server that requires STARTTLS and a login: port, inbox, its CA file."""

    port: int
    inbox: Inbox
    ca_file: Path
    logins: list[tuple[bytes, bool]]


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    inbox = Inbox()
    port = free_port()
    ca_file, context = _certificate(tmp_path)
    logins: list[tuple[bytes, bool]] = []

    def authenticate(
        _server: SMTP, _session: SmtpSession, _envelope: Envelope, _mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        good = data.login == b"broker" and data.password == PASSWORD.encode()
        logins.append((data.login, good))
        return AuthResult(success=good, handled=False)  # a refusal answers 535

    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        yield TlsServer(port, inbox, ca_file, logins)
    finally:
        controller.stop()


def _smtp(port: int, **update: object) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, starttls=False, sender=SENDER, **update)  # type: ignore[arg-type]


def _settings(
    world: ListWorld, smtp: SmtpSettings | None, *, notify: str | None = NOTIFY
) -> Settings:
    recipient = RecipientSettings(id=RECIPIENT, directory=world.home / "drop", notify=notify)  # type: ignore[arg-type]
    return Settings(
        home=world.home,
        recipients=(recipient,),
        delivery_attempts=1,
        smtp=smtp,
        public_url=PUBLIC,  # type: ignore[arg-type]
    )


def _deliver(world: ListWorld, settings: Settings, hooks: DeliveryHooks | None = None) -> list[str]:
    """Deliver what is due with the edges' hooks for ``settings``; return the delivered ids."""
    with httpx.Client() as client:
        attempts = deliver_published(
            world.factory,
            settings,
            world.ring,
            client,
            lambda: world.now,
            hooks=delivery_hooks(settings) if hooks is None else hooks,
        )
    assert all(attempt.delivered for attempt in attempts), attempts
    return [attempt.release_id for attempt in attempts]


def _world(database: Database, tmp_path: Path, mode: Mode = Mode.SNAPSHOT) -> tuple[ListWorld, str]:
    """Return a site with six dwellings (personal values planted) and one list released."""
    world = ListWorld(database, tmp_path / "home", weekly(mode))
    world.upload(rows(6))
    return world, world.release(deliver=False)


def _parsed(envelope: Envelope) -> EmailMessage:
    raw = envelope.original_content
    assert isinstance(raw, bytes)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content


def _address_texts(world: ListWorld, release_id: str) -> set[str]:
    """Every released address value of the list, and each dwelling's street and number."""
    found = world.listing(release_id)
    assert found.rows
    texts: set[str] = set()
    for row in found.rows:
        values = {name: str(value) for name, value in row.fields.items() if value is not None}
        texts |= {value for value in values.values() if len(value) > 2}
        texts.add(f"{values['vejnavn']} {values['husnr']}")
    return texts


def _assert_nothing_personal(texts: list[str], world: ListWorld, release_id: str) -> None:
    haystack = "\n".join(texts)
    for heading, value in PLANTED.items():
        for needle in {value, value.replace(" ", ""), value.lower()}:
            assert needle not in haystack, f"{heading} value found in the e-mail"
    # The links' random release ids may hold a post code's digits ("rel-8262058c..."
    # holds 2620): they are asserted apart, so they are left out of the address scan.
    without_ids = re.sub(r"rel-[0-9a-f]+", "rel-", haystack)
    for address in _address_texts(world, release_id):
        assert address not in without_ids, "a dwelling's address found in the e-mail"


def test_a_delivered_list_sends_one_danish_email_with_only_the_link(
    database: Database, tmp_path: Path, smtp_server: Server
) -> None:
    """One e-mail to the notify address: Danish, the list's link, no content, no count."""
    world, release_id = _world(database, tmp_path)
    settings = _settings(world, _smtp(smtp_server.port))
    with capture_logs() as logs:
        assert _deliver(world, settings) == [release_id]

    [envelope] = smtp_server.inbox.received
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == [NOTIFY]
    message = _parsed(envelope)
    assert message["Subject"] == SUBJECT
    assert message["From"] == SENDER
    assert message["To"] == NOTIFY
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Content-Language"] == "da"
    body = _body(message)
    link = f"https://broker.bo-vest.example/lister/{release_id}"
    assert link in body.split()
    assert "logge ind" in body
    assert "Svar venligst ikke" in body
    # Nothing in it but words: without the link, not one digit (no count, no house number).
    assert not re.search(r"[0-9]", body.replace(link, ""))
    assert not re.search(r"[0-9]", message["Subject"])
    # Every byte as sent, and every header and the body as read.
    raw = envelope.original_content
    assert isinstance(raw, bytes)
    texts = [raw.decode("utf-8", "replace"), body, *(str(v) for v in message.values())]
    _assert_nothing_personal(texts, world, release_id)
    assert set(message.keys()) == {
        "Subject",
        "From",
        "To",
        "Date",
        "Message-ID",
        "Auto-Submitted",
        "Content-Language",
        "Content-Type",
        "Content-Transfer-Encoding",
        "MIME-Version",
    }
    sent = [entry for entry in logs if entry["event"] == "notify.sent"]
    assert sent == [
        {
            "event": "notify.sent",
            "log_level": "info",
            "release_id": release_id,
            "recipient": RECIPIENT,
        }
    ]


def test_each_new_list_sends_its_own_email_a_changes_release_too(
    database: Database, tmp_path: Path, smtp_server: Server
) -> None:
    """A second list (a ``changes`` release after a re-upload) sends a second e-mail, its link."""
    world, first = _world(database, tmp_path, Mode.CHANGES)
    settings = _settings(world, _smtp(smtp_server.port))
    _deliver(world, settings)
    world.upload(rows(7))
    second = world.release(deliver=False)
    assert _deliver(world, settings) == [second]
    assert [o.mode for o in world.outbox()] == ["snapshot", "changes"]
    bodies = [_body(_parsed(envelope)) for envelope in smtp_server.inbox.received]
    assert len(bodies) == 2
    assert f"{PUBLIC}lister/{first}" in bodies[0]
    assert f"{PUBLIC}lister/{second}" in bodies[1]
    _assert_nothing_personal(bodies, world, second)


@pytest.mark.parametrize("configured", ["no smtp", "no notify address"])
def test_no_email_when_not_configured(
    database: Database, tmp_path: Path, smtp_server: Server, configured: str
) -> None:
    """Without SMTP settings, or without the recipient's address, no hook and no e-mail."""
    world, release_id = _world(database, tmp_path)
    if configured == "no smtp":
        settings = _settings(world, None)
    else:
        settings = _settings(world, _smtp(smtp_server.port), notify=None)
    assert delivery_hooks(settings).arrived == []
    with capture_logs() as logs:
        assert _deliver(world, settings) == [release_id]
    assert smtp_server.inbox.received == []
    assert not [entry for entry in logs if str(entry["event"]).startswith("notify.")]


def test_only_lists_are_notified(tmp_path: Path, smtp_server: Server) -> None:
    """A contact check's release, or a list to another recipient, sends nothing."""
    settings = Settings(
        home=tmp_path,
        recipients=(
            RecipientSettings(id=RECIPIENT, directory=tmp_path / "drop", notify=NOTIFY),  # type: ignore[arg-type]
        ),
        smtp=_smtp(smtp_server.port),
    )
    [hook] = delivery_hooks(settings).arrived
    at = dt.datetime(2027, 2, 23, 5, 0, tzinfo=dt.UTC)
    hook(Arrival("rel-000000000000000000000001", RECIPIENT, "p", "contact-check", at))
    hook(Arrival("rel-000000000000000000000002", "albertslund/hjemmepleje", "p", "snapshot", at))
    assert smtp_server.inbox.received == []
    hook(Arrival("rel-000000000000000000000003", RECIPIENT, "p", "snapshot", at))
    assert len(smtp_server.inbox.received) == 1


def _delivered(world: ListWorld, release_id: str) -> str:
    with session_scope(world.factory) as session:
        stored = session.get(Release, release_id)
        assert stored is not None
        return stored.status


def test_an_unreachable_server_leaves_the_delivery_standing(
    database: Database, tmp_path: Path
) -> None:
    """No server listening: the list is delivered, ``notify.failed`` logged, nothing retried."""
    world, release_id = _world(database, tmp_path)
    settings = _settings(world, _smtp(free_port()))  # nothing listens there
    with capture_logs() as logs:
        assert _deliver(world, settings) == [release_id]
        assert _deliver(world, settings) == []  # nothing is due again
    assert _delivered(world, release_id) == "delivered"
    failed = [entry for entry in logs if entry["event"] == "notify.failed"]
    assert failed == [
        {
            "event": "notify.failed",
            "log_level": "warning",
            "release_id": release_id,
            "recipient": RECIPIENT,
            "problem": "ConnectionRefusedError",
        }
    ]


def test_a_refused_recipient_is_logged_without_its_address(
    database: Database, tmp_path: Path, smtp_server: Server
) -> None:
    """The server refuses the address (quoting it): logged with its code, never the address."""
    smtp_server.inbox.refuse = True
    world, release_id = _world(database, tmp_path)
    settings = _settings(world, _smtp(smtp_server.port))
    with capture_logs() as logs:
        assert _deliver(world, settings) == [release_id]
    assert smtp_server.inbox.received == []
    [failed] = [entry for entry in logs if entry["event"] == "notify.failed"]
    assert failed["problem"] == "SMTPRecipientsRefused"
    assert NOTIFY not in repr(logs)
    assert _delivered(world, release_id) == "delivered"


def test_starttls_and_login_then_the_email(
    database: Database, tmp_path: Path, tls_server: TlsServer
) -> None:
    """Over STARTTLS (the server's own CA trusted) and a login, the e-mail arrives."""
    world, release_id = _world(database, tmp_path)
    smtp = SmtpSettings(
        host="127.0.0.1",
        port=tls_server.port,
        ca_file=tls_server.ca_file,
        user="broker",
        password=SecretStr(PASSWORD),
        sender=SENDER,
    )
    with capture_logs() as logs:
        assert _deliver(world, _settings(world, smtp)) == [release_id]
    assert tls_server.logins == [(b"broker", True)]
    [envelope] = tls_server.inbox.received
    assert f"{PUBLIC}lister/{release_id}" in _body(_parsed(envelope))
    assert PASSWORD not in repr(logs)


@pytest.mark.parametrize("wrong", ["untrusted certificate", "no STARTTLS offered", "bad password"])
def test_a_failed_tls_or_login_sends_nothing_and_the_delivery_stands(
    database: Database, tmp_path: Path, tls_server: TlsServer, smtp_server: Server, wrong: str
) -> None:
    """An untrusted certificate, a server without STARTTLS, a wrong password: nothing sent."""
    world, release_id = _world(database, tmp_path)
    login = {"user": "broker", "password": SecretStr(PASSWORD)}
    if wrong == "untrusted certificate":
        smtp = SmtpSettings(host="127.0.0.1", port=tls_server.port, sender=SENDER, **login)  # type: ignore[arg-type]
        expected = "SSLCertVerificationError"
    elif wrong == "no STARTTLS offered":
        smtp = SmtpSettings(host="127.0.0.1", port=smtp_server.port, sender=SENDER, **login)  # type: ignore[arg-type]
        expected = "SMTPNotSupportedError"
    else:
        smtp = SmtpSettings(
            host="127.0.0.1",
            port=tls_server.port,
            ca_file=tls_server.ca_file,
            user="broker",
            password=SecretStr("not-the-password"),
            sender=SENDER,
        )
        expected = "SMTPAuthenticationError"
    with capture_logs() as logs:
        assert _deliver(world, _settings(world, smtp)) == [release_id]
    assert tls_server.inbox.received == []
    assert smtp_server.inbox.received == []
    [failed] = [entry for entry in logs if entry["event"] == "notify.failed"]
    assert failed["problem"] == expected
    assert _delivered(world, release_id) == "delivered"
    assert PASSWORD not in repr(logs)


@pytest.mark.parametrize(
    ("values", "rule"),
    [
        ({"user": "broker", "password": "pw", "starttls": False}, "only over STARTTLS"),
        ({"user": "broker"}, "both user and password"),
        ({"sender": "broker@bo-vest.example\r\nBcc: x@example.org"}, "String should match"),
        ({"sender": "Broker <broker@bo-vest.example>"}, "String should match"),
    ],
)
def test_smtp_settings_refuse_what_cannot_be_sent_safely(
    values: dict[str, object], rule: str
) -> None:
    """A password without STARTTLS, half a login, a header in an address: refused."""
    with pytest.raises(ValidationError, match=rule):
        SmtpSettings(**{"host": "127.0.0.1", "sender": SENDER, **values})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "address", ["visitation@albertslund.example\nBcc: x@example.org", "a, b@example.org", "x"]
)
def test_a_notify_address_is_one_plain_address(tmp_path: Path, address: str) -> None:
    """A recipient's notify address is one address: no list, no header, no display name."""
    with pytest.raises(ValidationError, match="notify"):
        RecipientSettings(id=RECIPIENT, directory=tmp_path, notify=address)  # type: ignore[arg-type]


def test_the_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``BROKER_SMTP`` (JSON), ``BROKER_PUBLIC_URL`` and a recipient's ``notify`` are read."""
    monkeypatch.setenv(
        "BROKER_SMTP",
        '{"host": "smtp.example", "user": "broker", "password": "pw", '
        '"sender": "b@bo-vest.example"}',
    )
    monkeypatch.setenv("BROKER_PUBLIC_URL", PUBLIC)
    monkeypatch.setenv(
        "BROKER_RECIPIENTS", f'[{{"id": "{RECIPIENT}", "directory": "d", "notify": "{NOTIFY}"}}]'
    )
    monkeypatch.setenv("BROKER_CONFIG", "/nonexistent/broker.toml")
    settings = load_settings()
    assert settings.smtp is not None
    assert (settings.smtp.port, settings.smtp.starttls) == (587, True)
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "pw"
    assert "pw" not in repr(settings.smtp)
    assert str(settings.public_url) == PUBLIC
    assert settings.recipients[0].notify == NOTIFY

"""The operator's alert e-mail: against a real SMTP server (aiosmtpd) on 127.0.0.1.

A release fails for good (its drop directory cannot be written): the first look mails
the failure once, with its link; a second look mails nothing; a failure put right and
back again is mailed again; a refused mail is logged and tried again at the next look.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from databases import Database
from factories import dwelling_rows, with_personal
from structlog.testing import capture_logs

from broker.config import RecipientSettings, Settings, SmtpSettings
from broker.db import make_session_factory
from broker.keys import init_keys
from broker.runner import Runner
from broker.web import AlertMail
from broker.wiring import round_watchers
from tests.broker.release.test_release import PHASES, RUN, run, upload, weekly
from tests.broker.test_privacy import PLANTED
from tests.broker.web.test_admin_pages import RECIPIENT, _deliver, _ring
from tests.broker.web.test_notify import Server, _body, _parsed, smtp_server

__all__ = ["smtp_server"]  # the SMTP server fixture, used here by name

OPERATOR = "drift@bo-vest.example"
SENDER = "broker@bo-vest.example"


class _App:
    """What the admin pages' helpers take of an app: its settings."""

    def __init__(self, settings: Settings) -> None:
        self.state = type("State", (), {"settings": settings})()


def _settings(tmp_path: Path, port: int, **extra: object) -> Settings:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the drop directory should be")
    recipient = RecipientSettings(id=RECIPIENT, directory=blocker / "drop")  # type: ignore[arg-type]
    smtp = SmtpSettings(host="127.0.0.1", port=port, starttls=False, sender=SENDER)  # type: ignore[arg-type]
    return Settings(
        home=tmp_path / "home",
        recipients=(recipient,),
        delivery_attempts=1,
        smtp=smtp,
        alert_mail=OPERATOR,
        public_url="https://broker.bo-vest.example",  # type: ignore[arg-type]
        **extra,  # type: ignore[arg-type]
    )


def _failed_release(database: Database, tmp_path: Path, settings: Settings) -> None:
    init_keys(settings)
    app = _App(settings)
    upload(database, tmp_path, with_personal(dwelling_rows(6, phases=PHASES), PLANTED))
    assert run(database, _ring(app), weekly()) is not None  # type: ignore[arg-type]
    assert _deliver(database, app) == [False]  # type: ignore[arg-type]


def test_a_failure_is_mailed_once_with_its_link(
    database: Database, tmp_path: Path, smtp_server: Server
) -> None:
    settings = _settings(tmp_path, smtp_server.port)
    _failed_release(database, tmp_path, settings)
    factory = make_session_factory(database.engine)
    mail = AlertMail(settings)
    at = RUN + dt.timedelta(hours=1)
    with capture_logs() as events:
        assert mail(factory, at) is True
        assert mail(factory, at + dt.timedelta(minutes=5)) is False  # the same failure
    (envelope,) = smtp_server.inbox.received
    assert envelope.rcpt_tos == [OPERATOR]
    message = _parsed(envelope)
    assert message["Subject"] == "Renoveringsbrokeren: en fejl kræver handling"
    body = _body(message)
    assert f"til {RECIPIENT} er endeligt fejlet" in body
    assert "https://broker.bo-vest.example/drift/leveringer#rel-" in body
    assert "https://broker.bo-vest.example/drift." in body
    for value in PLANTED.values():
        assert value not in body
    assert [e["event"] for e in events] == ["alerts.mailed"]


def test_nothing_is_mailed_without_an_address_or_a_failure(
    database: Database, tmp_path: Path, smtp_server: Server
) -> None:
    settings = _settings(tmp_path, smtp_server.port)
    factory = make_session_factory(database.engine)
    init_keys(settings)
    assert AlertMail(settings)(factory, RUN) is False  # nothing failed
    unset = settings.model_copy(update={"alert_mail": None})
    _failed_release(database, tmp_path, unset)
    assert AlertMail(unset)(factory, RUN + dt.timedelta(hours=1)) is False
    assert smtp_server.inbox.received == []


def test_a_refused_mail_is_logged_without_the_address_and_tried_again(
    database: Database, tmp_path: Path, smtp_server: Server
) -> None:
    settings = _settings(tmp_path, smtp_server.port)
    _failed_release(database, tmp_path, settings)
    factory = make_session_factory(database.engine)
    mail = AlertMail(settings)
    at = RUN + dt.timedelta(hours=1)
    smtp_server.inbox.refuse = True
    with capture_logs() as events:
        assert mail(factory, at) is False
        assert mail(factory, at + dt.timedelta(seconds=30)) is False  # not looked for yet
    assert [(e["event"], e["kind"]) for e in events] == [
        ("alerts.mail_failed", "SMTPRecipientsRefused")
    ]
    assert OPERATOR not in repr(events)
    smtp_server.inbox.refuse = False
    assert mail(factory, at + dt.timedelta(minutes=1)) is True
    assert len(smtp_server.inbox.received) == 1


def test_the_runner_looks_after_each_round(database: Database, tmp_path: Path) -> None:
    settings = _settings(tmp_path, 25)
    init_keys(settings)
    seen: list[dt.datetime] = []
    runner = Runner(
        settings,
        database.engine,
        lambda: (),
        clock=lambda: RUN,
        watchers=(lambda _factory, now: seen.append(now),),
    )
    runner.step()
    runner.step()
    assert seen == [RUN, RUN]
    assert [type(w).__name__ for w in round_watchers(settings)] == ["AlertMail"]

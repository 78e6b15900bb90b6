"""Logging: JSON lines with a run id, and personal-looking values scrubbed as a last defence."""

from __future__ import annotations

import io
import json

import structlog

from broker.logging import configure_logging


def test_json_lines_scrub_personal_values() -> None:
    """CPR numbers, e-mail addresses and phone numbers are redacted from every field."""
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)
    log = structlog.get_logger("test")
    with structlog.contextvars.bound_contextvars(run_id="run-1"):
        log.info(
            "test.event",
            note="ring 12 34 56 78 eller skriv til bodil@example.org",
            nested={"cpr": ["010190-1234"]},
            dwelling="dw-0123456789ab",
        )
    line = json.loads(stream.getvalue())
    assert line["event"] == "test.event"
    assert line["run_id"] == "run-1"
    assert line["dwelling"] == "dw-0123456789ab"
    text = stream.getvalue()
    for value in ("12 34 56 78", "bodil@example.org", "010190-1234"):
        assert value not in text
    assert line["nested"] == {"cpr": ["[redacted]"]}


def test_console_format_for_people() -> None:
    """The console format is readable text, not JSON, and is scrubbed the same way."""
    stream = io.StringIO()
    configure_logging(log_format="console", stream=stream)
    structlog.get_logger("test").warning("test.console", contact="bodil@example.org")
    text = stream.getvalue()
    assert "test.console" in text
    assert "bodil@example.org" not in text
    assert not text.lstrip().startswith("{")

"""Application logging with structlog: JSON lines in production, console in a terminal.

Events are stable dotted names with key/values. Dwellings appear only as opaque
references. As a last line of defence, :func:`scrub_processor` redacts anything
that looks like a CPR number, an e-mail address or a phone number.
"""

from __future__ import annotations

import logging
import secrets
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

from schemas import scrub_personal

__all__ = ["configure_logging", "new_run_id", "scrub_processor"]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return scrub_personal(value)
    if isinstance(value, Mapping):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(item) for item in value]
    return value


def scrub_processor(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Redact personal-looking values from every field of a log event."""
    for key, value in event_dict.items():
        event_dict[key] = _scrub(value)
    return event_dict


def new_run_id() -> str:
    """Return a fresh id for one CLI run or one HTTP request."""
    return secrets.token_hex(8)


def configure_logging(
    *, log_format: str = "auto", level: str = "info", stream: TextIO | None = None
) -> None:
    """Configure structlog once for the process.

    ``log_format`` is ``json``, ``console`` or ``auto`` (console when ``stream`` is a terminal).
    """
    out = stream if stream is not None else sys.stderr
    use_console = log_format == "console" or (log_format == "auto" and out.isatty())
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False)
        if use_console
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            scrub_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )

"""The broker's errors: one tree, mapped to exit codes by the CLI and to problems by the API.

    BrokerError
     ├── InputError        bad input: nothing was changed; carries every problem found
     ├── ConfigError       settings, keys or files the broker needs are missing or wrong
     │    └── KeyFileError          a key file cannot be read: not PEM, or not the key expected
     ├── NotFound          no such object (or not visible to the caller)
     ├── Conflict          the object's state does not allow it yet (or any more): nothing changed
     ├── StorageError      the database refused the operation
     │    └── DatabaseUnavailable   the database could not be reached: retry later
     ├── AuditError        the disclosure log refused or failed the operation
     │    ├── LogConflictError      another writer appended first: nothing changed; retry
     │    ├── LogMutationError      a change or deletion of the append-only log was refused
     │    └── LogVerificationError  the log does not verify: where, and why
     ├── DeliveryError     a release could not be handed to its recipient
     ├── SignatureError    a signed request or its Content-Digest does not verify
     │                     (``broker.delivery``, where requests are signed and checked)
     ├── SignInRefused     a sign-in through an identity provider was refused, with a reason
     │                     (``broker.oidc``, where the provider's answer is checked)
     └── Cancelled         the work was stopped before it finished: nothing was changed

``audit`` raises its own errors; the broker translates them once, where it calls
``audit`` for a job (``broker.disclosure``), into ``AuditError`` ``from`` the
original; and where it reads key files (``broker.keys``), audit's ``PemError``
into ``KeyFileError``. Each edge maps this tree once: the API to problem responses
(``broker.api._problems.problem_for``), the CLI to exit codes (one table in
``broker.cli._common``).

Messages name the field and the rule and never echo a value: an input value may
be personal data typed into the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

__all__ = [
    "AuditError",
    "BrokerError",
    "Cancelled",
    "ConfigError",
    "Conflict",
    "DatabaseUnavailable",
    "DeliveryError",
    "InputError",
    "KeyFileError",
    "LogConflictError",
    "LogMutationError",
    "LogVerificationError",
    "NotFound",
    "Problem",
    "StorageError",
    "validation_errors",
]


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem with the input: where (row, column or field) and which rule it breaks."""

    rule: str
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        """Render as ``row 3, column Dør: rule``."""
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.rule}" if prefix else self.rule


class BrokerError(Exception):
    """Base of every error the broker raises on purpose."""


class InputError(BrokerError):
    """The input breaks one or more rules; nothing was changed."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        """Create the error with a summary and every problem found."""
        super().__init__(message)
        self.problems = problems


class ConfigError(BrokerError):
    """A setting, key or file the broker needs is missing or wrong."""


class KeyFileError(ConfigError):
    """A key file cannot be read: missing, not PEM, or not the kind of key expected.

    The message names the file and the rule, never the file's content.
    """


class NotFound(BrokerError):  # noqa: N818 - the domain's word, like httpx's names
    """No such object, or none visible to the caller."""


class Conflict(BrokerError):  # noqa: N818 - the domain's word, as HTTP names it
    """The object is not in a state that allows the change (e.g. a reply to an undelivered check).

    Nothing was changed; ``problems`` name the field and the rule, as for ``InputError``.
    """

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        """Create the error with a summary and the rule the state breaks."""
        super().__init__(message)
        self.problems = problems


class StorageError(BrokerError):
    """The database refused the operation or could not be reached."""


class Cancelled(BrokerError):  # noqa: N818 - what happened, as asyncio names it
    """The work was stopped before it finished (its caller left or is shutting down).

    Raised only where nothing has been written yet, or inside the caller's
    transaction, which then rolls back: nothing was changed.
    """


class DatabaseUnavailable(StorageError):  # noqa: N818 - reads as the state it names, like NotFound
    """The database could not be reached or lost the connection; a retry may succeed."""


class AuditError(BrokerError):
    """The disclosure log refused or failed the operation (translated from ``audit``'s errors)."""


class LogConflictError(AuditError):
    """Another writer advanced the log first; nothing was changed, and a retry may succeed."""


class NotYetPublished(AuditError):  # noqa: N818 - reads as the state it names, like NotFound
    """The entry is sequenced but no signed checkpoint covers it yet.

    The publisher signs one within ``BROKER_LOG_CHECKPOINT_INTERVAL``: try again then.
    """


class LogMutationError(AuditError):
    """A session tried to change or delete rows of the append-only disclosure log."""


class LogVerificationError(AuditError):
    """The log does not verify: ``seq`` is the first entry that fails (None: the log as a whole)."""

    def __init__(self, reason: str, seq: int | None = None) -> None:
        """Carry why the log fails, and where."""
        super().__init__(f"entry {seq}: {reason}" if seq is not None else reason)
        self.reason, self.seq = reason, seq


class DeliveryError(BrokerError):
    """A release could not be handed to its recipient (a recipient's answer is logged instead)."""


def validation_errors(exc: ValidationError) -> list[tuple[tuple[str, ...], str]]:
    """Return a pydantic error as (location, rule) pairs, never the input value.

    A failed item also makes its container "too short"; only the item is kept.
    """
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    located = [
        (tuple(str(part) for part in error["loc"]), error["msg"].removeprefix("Value error, "))
        for error in errors
    ]
    return [
        (loc, rule)
        for loc, rule in located
        if not any(len(other) > len(loc) and other[: len(loc)] == loc for other, _ in located)
    ]

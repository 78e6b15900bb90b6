"""The broker's errors: one tree, mapped to exit codes by the CLI and to problems by the API.

    BrokerError
     ├── InputError        bad input: nothing was changed; carries every problem found
     ├── ConfigError       settings, keys or files the broker needs are missing or wrong
     ├── NotFound          no such object (or not visible to the caller)
     ├── StorageError      the database refused the operation
     │    └── DatabaseUnavailable   the database could not be reached: retry later
     └── Cancelled         the work was stopped before it finished: nothing was changed

Messages name the field and the rule and never echo a value: an input value may
be personal data typed into the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

__all__ = [
    "BrokerError",
    "Cancelled",
    "ConfigError",
    "DatabaseUnavailable",
    "InputError",
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


class NotFound(BrokerError):  # noqa: N818 - the domain's word, like httpx's names
    """No such object, or none visible to the caller."""


class StorageError(BrokerError):
    """The database refused the operation or could not be reached."""


class Cancelled(BrokerError):  # noqa: N818 - what happened, as asyncio names it
    """The work was stopped before it finished (its caller left or is shutting down).

    Raised only where nothing has been written yet, or inside the caller's
    transaction, which then rolls back: nothing was changed.
    """


class DatabaseUnavailable(StorageError):  # noqa: N818 - reads as the state it names, like NotFound
    """The database could not be reached or lost the connection; a retry may succeed."""


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

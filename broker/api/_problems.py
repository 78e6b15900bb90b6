"""Every API error as RFC 9457 problem+json: it names the field and the rule, never a value."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from broker.db import storage_error
from broker.errors import (
    AuditError,
    BrokerError,
    ConfigError,
    Conflict,
    DatabaseUnavailable,
    InputError,
    LogConflictError,
    NotFound,
    NotYetPublished,
)

__all__ = [
    "BODY_PROBLEMS",
    "PROBLEM",
    "PROBLEM_RESPONSES",
    "RETRY_UNAVAILABLE",
    "UPLOAD_PROBLEMS",
    "ApiProblem",
    "Problem",
    "install_problem_handlers",
    "problem_for",
    "problem_response",
]

log = structlog.get_logger(__name__)

PROBLEM = "application/problem+json"
RETRY_UNAVAILABLE = 5
"""Seconds a client is told to wait (``Retry-After``) while the database is unavailable."""


class FieldRule(BaseModel):
    """One field and the rule it breaks; for an uploaded file, also the row (heading = row 1)."""

    field: str
    rule: str
    row: int | None = None


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldRule] = []


class ApiProblem(Exception):  # noqa: N818 - a problem, as RFC 9457 calls it
    """Raised by routes for an HTTP-level problem (unauthenticated, rate-limited, too large)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Carry the status, a short title, an optional detail and response headers."""
        super().__init__(title)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before asking again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _documented(description: str, *, retry: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "model": Problem,
        "description": description,
        "content": {PROBLEM: {}},
    }
    if retry:
        answer["headers"] = _RETRY_AFTER
    return answer


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _documented("no token, or an expired or revoked one"),
    403: _documented("the token's role may not use this route"),
    404: _documented("no such object, or not the caller's"),
    409: _documented(
        "the object's state does not allow the change (e.g. a reply to a contact check not"
        " yet delivered), or the disclosure log refused it: another writer appended first"
        " (try again), or the change would alter the append-only log; nothing was changed"
    ),
    413: _documented("the request body is larger than the limit (counted as it streams)"),
    422: _documented("invalid input: each field and the rule it breaks; nothing was changed"),
    429: _documented("too many requests for this token; see Retry-After", retry=True),
    503: _documented("the database is unavailable; see Retry-After", retry=True),
}
"""The problems every /v1 route may answer, documented in the OpenAPI document."""

BODY_PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _documented(
        "the body could not be decoded (FastAPI's answer to bytes that are not UTF-8)"
    ),
}
"""The further problem of a route whose body FastAPI reads as JSON."""

UPLOAD_PROBLEMS: dict[int | str, dict[str, Any]] = {
    409: _documented(
        "the upload would mark more than a share of a department's affected dwellings as no"
        " longer affected; nothing was changed; confirm the count with allow_withdraw"
    ),
    415: _documented("the body is neither application/json nor multipart/form-data"),
    503: _documented(
        "the database is unavailable, or the upload was stopped because the server is shutting"
        " down; nothing was changed; see Retry-After",
        retry=True,
    ),
}
"""The further problem of the schedule upload, which reads its body itself."""


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    errors: list[FieldRule] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Return a problem+json response."""
    body = Problem(title=title, status=status, detail=detail, errors=errors or [])
    return JSONResponse(
        body.model_dump(exclude_none=True), status, headers=headers, media_type=PROBLEM
    )


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


def _field_rule(error: Any) -> FieldRule:
    if error["type"] == "json_invalid":
        # The parser's reason (``Expecting value``, ``JSON nested deeper than 32 levels``)
        # names the rule; its position is not a field.
        return FieldRule(field="body", rule=str(error.get("ctx", {}).get("error", error["msg"])))
    return FieldRule(field=_location(tuple(error["loc"])), rule=str(error["msg"]))


def _log_refused(exc: AuditError) -> JSONResponse:
    """409: the log refused the change; a conflict with another writer may be retried.

    503 for an entry that waits for the log's next checkpoint (signed within a second).
    """
    if isinstance(exc, NotYetPublished):
        detail = "the release is on record; its receipt is signed within a second: try again"
        return problem_response(503, "not yet published", detail, headers={"Retry-After": "1"})
    if isinstance(exc, LogConflictError):
        log.warning("api.log_conflict")
        detail = "another writer appended to the disclosure log first; nothing was changed"
    else:
        log.error("api.audit_error", kind=type(exc).__name__)
        detail = "the disclosure log refused the change; nothing was changed"
    return problem_response(409, "conflict", detail)


def problem_for(exc: Exception) -> JSONResponse:  # noqa: PLR0911 - one answer per kind of error
    """Return the problem response for ``exc``: the one mapping of errors to HTTP answers."""
    if isinstance(exc, SQLAlchemyError):
        exc = storage_error(exc)
    if isinstance(exc, ApiProblem):
        return problem_response(exc.status, exc.title, exc.detail, headers=exc.headers)
    if isinstance(exc, RequestValidationError):
        errors = [_field_rule(e) for e in exc.errors()]
        return problem_response(422, "invalid request", "nothing was changed", errors)
    if isinstance(exc, InputError | Conflict):
        errors = [
            FieldRule(
                field=p.column or (f"row {p.row}" if p.row else "request"), rule=p.rule, row=p.row
            )
            for p in exc.problems
        ]
        status, title = (409, "conflict") if isinstance(exc, Conflict) else (422, "rejected")
        return problem_response(status, title, f"{exc}; nothing was changed", errors)
    if isinstance(exc, NotFound):
        return problem_response(404, "not found")
    if isinstance(exc, AuditError):
        return _log_refused(exc)
    if isinstance(exc, ConfigError):
        log.error("api.config_error", reason=str(exc))
        return problem_response(503, "unavailable", "the broker is not fully configured")
    if isinstance(exc, DatabaseUnavailable):
        log.warning("api.database_unavailable", reason=str(exc))
        retry = {"Retry-After": str(RETRY_UNAVAILABLE)}
        return problem_response(503, "unavailable", "the database is unavailable", headers=retry)
    if isinstance(exc, HTTPException):
        return problem_response(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))
    log.error("api.error", kind=type(exc).__name__)
    return problem_response(500, "internal error")


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error with its problem response (:func:`problem_for`), even an unexpected one.

    An unexpected error is still raised on after its answer, for the server's own log.
    """

    async def handle(_request: Request, exc: Exception) -> JSONResponse:
        return problem_for(exc)

    for kind in (RequestValidationError, BrokerError, SQLAlchemyError, ApiProblem, HTTPException):
        app.add_exception_handler(kind, handle)
    app.add_exception_handler(Exception, handle)

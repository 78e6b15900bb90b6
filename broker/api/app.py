"""The HTTP application: built by :func:`create_app` from settings, never at import time."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from broker.config import Settings
from broker.db import make_engine, make_session_factory, session_scope
from broker.logging import new_run_id
from broker.policy import LoadedPolicy, PolicyRegistry
from broker.policy.service import record_versions

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


def _version_recorder(db: Engine) -> Callable[[tuple[LoadedPolicy, ...]], None]:
    """Return the callback that stores the text of each policy version put in force."""

    def record(loaded: tuple[LoadedPolicy, ...]) -> None:
        try:
            with session_scope(make_session_factory(db)) as session:
                added = record_versions(session, loaded, now=dt.datetime.now(dt.UTC))
        except SQLAlchemyError as exc:
            log.warning("policy.versions_not_recorded", kind=type(exc).__name__)
            return
        if added:
            log.info("policy.versions_recorded", hashes=added)

    return record


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    policies: PolicyRegistry | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """Return the broker's FastAPI application bound to ``settings``' database and policies."""
    db = engine if engine is not None else make_engine(settings.resolved_database_url)

    registry = policies
    if registry is None:
        registry = PolicyRegistry(settings.policies_dir, on_loaded=_version_recorder(db))
        registry.reload()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info("serve.started", host=settings.host, port=settings.port)
        yield
        if on_shutdown is not None:
            on_shutdown()
        if engine is None:
            db.dispose()

    app = FastAPI(title="renovation-broker", version="0.1.0", lifespan=lifespan)
    app.state.engine = db
    app.state.policies = registry

    @app.middleware("http")
    async def bind_request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # A client's id is used only if it is a plain token: it goes into every log line.
        offered = request.headers.get("x-request-id", "")
        run_id = offered if _REQUEST_ID.fullmatch(offered) else new_run_id()
        with structlog.contextvars.bound_contextvars(run_id=run_id):
            response = await call_next(request)
        response.headers["x-request-id"] = run_id
        return response

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        """The database is reachable and migrated, and the policies in force are valid."""
        try:
            with db.connect() as connection:
                revision = connection.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar_one()
        except Exception:
            log.warning("readyz.database_unavailable", exc_info=True)
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        policy_state = {
            "policies": len(registry.active),
            "policy_reload": "ok" if registry.last_reload_ok else "rejected",
        }
        if not registry.active:
            return JSONResponse({"status": "unavailable", "database": "ok", **policy_state}, 503)
        return JSONResponse({"status": "ok", "database": "ok", "schema": revision, **policy_state})

    return app

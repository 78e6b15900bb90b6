"""The HTTP application: built by :func:`create_app` from settings, never at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from broker.config import Settings
from broker.db import make_engine
from broker.logging import new_run_id
from broker.policy import PolicyRegistry

__all__ = ["create_app"]

log = structlog.get_logger(__name__)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    policies: PolicyRegistry | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """Return the broker's FastAPI application bound to ``settings``' database and policies."""
    db = engine if engine is not None else make_engine(settings.resolved_database_url)
    registry = policies if policies is not None else PolicyRegistry(settings.policies_dir)
    if policies is None:
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
        run_id = request.headers.get("x-request-id", "")[:32] or new_run_id()
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

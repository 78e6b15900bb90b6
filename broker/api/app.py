"""The HTTP application: built by :func:`create_app` from settings, never at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import anyio.to_thread
import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from broker.api._admin import router as admin_router
from broker.api._auditor import router as auditor_router
from broker.api._auth import Authenticate, RateLimiter
from broker.api._contact import dwellings_router
from broker.api._contact import router as contact_router
from broker.api._docs import install_docs
from broker.api._housing import router as housing_router
from broker.api._middleware import Admission, BodyLimit, RequestId
from broker.api._problems import PROBLEM_RESPONSES, install_problem_handlers
from broker.api._releases import router as releases_router
from broker.config import Settings
from broker.db import make_engine, make_session_factory, read_only_engine
from broker.disclosure.publishing import Publisher
from broker.errors import ConfigError
from broker.keys import KeyStore
from broker.policy import PolicyRegistry
from broker.runner import Runner, version_recorder
from broker.web import install_static, install_web, too_large_page
from broker.wiring import delivery_hooks, round_watchers

__all__ = ["create_app"]

log = structlog.get_logger(__name__)

_NOT_READY = {
    "description": "not ready: the database, the policies or the log keys; the body says which",
    "content": {"application/json": {}},
}


def _keys_loaded(keys: KeyStore) -> bool:
    try:
        keys.ring()
    except ConfigError as exc:
        log.warning("keys.unavailable", reason=str(exc))
        return False
    return True


def _readiness(
    reader: Engine, registry: PolicyRegistry, *, keys_loaded: bool
) -> tuple[dict[str, object], int]:
    try:
        with reader.connect() as connection:
            revision = connection.execute(text("SELECT version_num FROM alembic_version"))
            schema = revision.scalar_one()
    except Exception:
        log.warning("readyz.database_unavailable", exc_info=True)
        return {"status": "unavailable", "database": "unreachable"}, 503
    state = {
        "policies": len(registry.active),
        "policy_reload": "ok" if registry.last_reload_ok else "rejected",
        "keys": "loaded" if keys_loaded else "missing",
    }
    if not registry.active or not keys_loaded:
        return {"status": "unavailable", "database": "ok", **state}, 503
    return {"status": "ok", "database": "ok", "schema": schema, **state}, 200


def _lifespan(
    settings: Settings,
    db: Engine,
    registry: PolicyRegistry,
    keys: KeyStore,
    cleanup: list[Callable[[], None]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the publisher and the background runner with the server; stop both, clean up."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info("serve.started", host=settings.host, port=settings.port)
        # A request takes several turns on the worker threads (token, role, handler) and
        # may hold a database connection or SQLite's write lock between them. With more
        # threads than requests let in at once (the admission middleware), the request
        # holding them always finds a thread to finish on: no deadlock under load.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, settings.api_max_concurrency + 16)
        # Every replica publishes what its requests sequenced (one at a time, by the database).
        halts = [Publisher(settings, db, keys).start()]
        if settings.scheduler:
            runner = Runner(
                settings,
                db,
                lambda: registry.active,
                keys=keys,
                hooks=delivery_hooks(settings),
                watchers=round_watchers(settings),
            )
            halts.insert(0, runner.start())
        yield
        for halt in halts:  # the runner first: the publisher signs what it wrote last
            halt()
        for step in cleanup:
            step()

    return lifespan


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    policies: PolicyRegistry | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> FastAPI:
    """Return the broker's FastAPI application bound to ``settings``' database and policies."""
    # As many pooled connections as requests are let in at once, and one each for the
    # publisher, the runner and /readyz: no admitted request waits for a connection.
    pooled = settings.api_max_concurrency + 3
    db = (
        engine
        if engine is not None
        else make_engine(settings.resolved_database_url, pool_size=pooled, max_overflow=4)
    )
    # The log keys are loaded once for the process (again only after a rotation).
    keys = KeyStore(settings)

    registry = policies
    if registry is None:
        recorder = version_recorder(db, settings, keys)
        registry = PolicyRegistry(settings.policies_dir, on_loaded=recorder)
        registry.reload()

    cleanup = [c for c in (on_shutdown, None if engine is not None else db.dispose) if c]
    lifespan = _lifespan(settings, db, registry, keys, cleanup)
    app = FastAPI(
        title="renovation-broker",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # install_docs: Swagger UI from vendored assets, not a CDN
        redoc_url=None,
    )
    app.state.engine = db
    app.state.settings = settings
    app.state.session_factory = make_session_factory(db)
    app.state.read_session_factory = make_session_factory(db, read_only=True)
    # A token's last use: a write that never holds up the request it is written for.
    app.state.use_session_factory = make_session_factory(db, patient=False)
    reader = read_only_engine(db)  # /readyz: a read that never waits for a writer
    app.state.rate_limiter = RateLimiter(settings.api_rate_per_minute)
    app.state.policies = registry
    install_problem_handlers(app)
    for router in (
        admin_router,
        auditor_router,
        contact_router,
        dwellings_router,
        releases_router,
        housing_router,
    ):
        app.include_router(router, responses=PROBLEM_RESPONSES)
    app.state.keys = keys
    _keys_loaded(keys)
    install_docs(app)
    install_static(app)
    # The pages at /, beside /v1: their own error pages outside the API, their session
    # lookup inside the layers below.
    install_web(app, settings)

    # Outermost last: the request id, admission, the body limit, then the token, all before
    # the app reads the body. A request refused by one of them is never read.
    app.add_middleware(Authenticate)
    app.add_middleware(BodyLimit, limit=settings.api_max_body, page=too_large_page)
    app.add_middleware(Admission, limit=settings.api_max_concurrency)
    app.add_middleware(RequestId)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], responses={503: _NOT_READY})
    def readyz() -> JSONResponse:
        """The database is reachable and migrated, the policies valid, the log keys loaded."""
        body, status = _readiness(reader, registry, keys_loaded=_keys_loaded(keys))
        return JSONResponse(body, status)

    return app

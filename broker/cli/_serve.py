"""``broker serve``: the API (and, unless turned off, the scheduler) over HTTP with uvicorn.

SIGTERM and SIGINT also stop running uploads: uvicorn's graceful shutdown waits
for every request in flight, and an upload being checked on a worker thread
would hold the process for as long as the file takes. The server tells the
application first, so such work stops within moments. SIGHUP (sent by
``broker policy reload``) rereads the policies.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from broker.cli._common import PID_FILE, settings_of

if TYPE_CHECKING:
    import uvicorn

__all__ = ["serve"]


def _stopping_server(config: uvicorn.Config, *, on_exit: Callable[[], None]) -> uvicorn.Server:
    """Return a uvicorn server that calls ``on_exit`` when told to stop, then stops as usual.

    ``on_exit`` runs in the signal handler, so it must be quick. uvicorn is imported
    here, not at the top: only the server needs it, and ``--help`` stays fast.
    """
    import uvicorn  # noqa: PLC0415

    class StoppingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            """Stop the application's long work, then begin uvicorn's graceful shutdown."""
            on_exit()
            super().handle_exit(sig, frame)

    return StoppingServer(config)


@click.command()
@click.option("--host", default=None, help="Address to bind (default from settings).")
@click.option("--port", type=int, default=None, help="Port (default from settings).")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None) -> None:
    """Serve the broker over HTTP."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from broker.api import create_app, stop_uploads  # noqa: PLC0415

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = settings_of(ctx).model_copy(update=overrides)
    pid_file = settings.home / PID_FILE
    # Removed at lifespan shutdown: uvicorn re-raises SIGTERM after it, ending the process.
    app = create_app(settings, on_shutdown=lambda: pid_file.unlink(missing_ok=True))
    registry = app.state.policies
    # SIGHUP (sent by `broker policy reload`) rereads the policies; uvicorn leaves it alone.
    signal.signal(signal.SIGHUP, lambda _signum, _frame: registry.reload())
    settings.home.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{os.getpid()}\n", encoding="ascii")
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http="httptools",  # the C parser, faster than h11 (installed with the broker)
        log_config=None,
        access_log=False,
    )
    try:
        _stopping_server(config, on_exit=lambda: stop_uploads(app)).run()
    finally:
        pid_file.unlink(missing_ok=True)

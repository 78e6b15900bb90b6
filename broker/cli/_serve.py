"""The uvicorn server behind `broker serve`: SIGTERM and SIGINT also stop running uploads.

uvicorn's graceful shutdown waits for every request in flight; an upload being
checked on a worker thread would hold the process for as long as the file takes.
The server tells the application first, so such work stops within moments.
"""

from __future__ import annotations

from collections.abc import Callable
from types import FrameType

import uvicorn

__all__ = ["StoppingServer"]


class StoppingServer(uvicorn.Server):
    """A uvicorn server that calls ``on_exit`` when told to stop, then stops as usual."""

    def __init__(self, config: uvicorn.Config, *, on_exit: Callable[[], None]) -> None:
        """Serve ``config``; ``on_exit`` runs in the signal handler, so it must be quick."""
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop the application's long work, then begin uvicorn's graceful shutdown."""
        self._on_exit()
        super().handle_exit(sig, frame)

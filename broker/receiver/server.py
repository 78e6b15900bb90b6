"""The receiver's HTTP server: ``POST /releases``, and ``POST /add-checkpoint`` as a witness."""

from __future__ import annotations

import contextlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from audit import Witness
from broker.receiver.service import Receiver

__all__ = ["MAX_BODY", "make_receiver_server"]

MAX_BODY = 64 * 1024 * 1024
"""The largest request body the receiver reads by default, in bytes (413 beyond it)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        receiver: Receiver,
        witness: Witness | None,
        base: str,
        max_body: int,
    ) -> None:
        super().__init__(address, _Handler)
        self.receiver = receiver
        self.witness = witness
        self.base = base
        self.max_body = max_body


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length > self.server.max_body:
            self._reply(413, "text/plain", b"too large\n")
            return
        body = self.rfile.read(length)
        if self.path == "/releases":
            base = self.server.base or f"http://{self.headers.get('host', '')}"
            headers = dict(self.headers.items())
            reply = self.server.receiver.accept("POST", base + self.path, headers, body)
            self._reply(reply.status, reply.content_type, reply.body)
        elif self.path == "/add-checkpoint" and self.server.witness is not None:
            status, content_type, answer = self.server.witness.add_checkpoint(body)
            self._reply(status, content_type, answer)
        else:
            self._reply(404, "text/plain", b"not found\n")

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, "application/json", b'{"status":"ok"}')
        else:
            self._reply(404, "text/plain", b"not found\n")

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, fmt: str, *args: Any) -> None:
        """Stay quiet: request lines are not logged (the store is the record)."""


def make_receiver_server(  # noqa: PLR0913 - the settings are keyword-only
    receiver: Receiver,
    host: str,
    port: int,
    *,
    witness: Witness | None = None,
    public_url: str = "",
    max_body: int = MAX_BODY,
) -> ThreadingHTTPServer:
    """Return the server.

    ``public_url`` is the scheme and authority the broker posts to; a body over
    ``max_body`` bytes is answered 413 unread.
    """
    return _Server((host, port), receiver, witness, public_url.rstrip("/"), max_body)

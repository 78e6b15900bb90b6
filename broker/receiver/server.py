"""The receiver's HTTP server: ``POST /releases``, and ``POST /add-checkpoint`` as a witness."""

from __future__ import annotations

import contextlib
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from audit import Witness
from broker.receiver.service import Receiver

__all__ = ["MAX_BODY", "make_receiver_server"]

MAX_BODY = 64 * 1024 * 1024
"""The largest request body the receiver reads by default, in bytes (413 beyond it)."""

_LENGTH = re.compile(r"[0-9]{1,20}")
_CHUNK = 1024 * 1024


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
        body = self._body()
        if body is None:
            return
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

    def _body(self) -> bytes | None:
        """Return the body, read within the limit; or answer 411, 413 or 400 and return None."""
        # 1. The length must be declared: a chunked body (or one with no length) is refused
        #    unread, never read to its end, however long that is.
        declared = self.headers.get("content-length")
        chunked = self.headers.get("transfer-encoding") is not None
        if chunked or declared is None or not _LENGTH.fullmatch(declared.strip()):
            self._refuse(411, b"a Content-Length is required (no Transfer-Encoding)\n")
            return None
        # 2. Over the limit: refused unread.
        length = int(declared)
        if length > self.server.max_body:
            self._refuse(413, f"the body is larger than {self.server.max_body} bytes\n".encode())
            return None
        # 3. Read in pieces, counted, up to the declared length and no further.
        chunks: list[bytes] = []
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, _CHUNK))
            if not chunk:
                self._refuse(400, b"the body is shorter than its Content-Length\n")
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _refuse(self, status: int, reason: bytes) -> None:
        # What the client still sends is not read: the connection closes after the answer.
        self.close_connection = True
        self._reply(status, "text/plain", reason)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, "application/json", b'{"status":"ok"}')
        else:
            self._reply(404, "text/plain", b"not found\n")

    def _reply(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            self.send_header("Connection", "close")
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

    ``public_url`` is the scheme and authority the broker posts to. A body must
    declare its length: without one (chunked) it is answered 411, over ``max_body``
    bytes 413, both unread.
    """
    return _Server((host, port), receiver, witness, public_url.rstrip("/"), max_body)

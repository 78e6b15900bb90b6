"""The real `broker serve` over a raw socket: chunked bodies never read past the token or the limit.

The request head goes out with `Transfer-Encoding: chunked` and no Content-Length;
the body follows in chunks that never end, or not at all. An answer that comes
anyway was given without waiting for the body.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from clirun import run_broker
from databases import Database
from peers import broker_env, free_port

from broker.config import Settings
from broker.keys import init_keys
from tests.broker.test_privacy import PLANTED, _assert_absent

# Slow: each test runs a real `broker serve` process (`make test-fast` leaves them out).
pytestmark = pytest.mark.slow

POLICIES = Path(__file__).resolve().parents[2] / "policies"
LIMIT = 1024 * 1024
CPR = PLANTED["CPR"]


@dataclass
class Served:
    """A running `broker serve`: its port, process and a coordinator's token."""

    port: int
    process: subprocess.Popen[bytes]
    token: str

    def peak_rss(self) -> int:
        """The server's peak resident memory so far, in bytes."""
        status = Path(f"/proc/{self.process.pid}/status").read_text(encoding="ascii")
        (line,) = [line for line in status.splitlines() if line.startswith("VmHWM:")]
        return int(line.split()[1]) * 1024


@pytest.fixture
def served(database: Database, tmp_path: Path) -> Iterator[Served]:
    """`broker serve` on 127.0.0.1 with a 1 MiB body limit."""
    home = tmp_path / "home"
    init_keys(Settings(home=home))
    created = run_broker(
        database,
        home,
        "token",
        "create",
        "--role",
        "coordinator",
        "--org",
        "bo-vest",
        "--department",
        "blokland",
        "--contact",
        "k@bo-vest.example",
    )
    assert created.returncode == 0, created.stderr
    port = free_port()
    extra = {
        "BROKER_POLICIES_DIR": str(POLICIES),
        "BROKER_SCHEDULER": "false",
        "BROKER_API_MAX_BODY": str(LIMIT),
    }
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "broker", "serve", "--port", str(port)],
            env=broker_env(database, home, extra),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end and process.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            pytest.fail("broker serve did not start")
        yield Served(port, process, created.stdout.splitlines()[-1])
    finally:
        process.terminate()
        process.wait(timeout=20)
    _assert_absent((tmp_path / "serve.log").read_bytes(), "the server's log")


def _head(token: str | None, path: str = "/v1/contact-checks") -> bytes:
    lines = [
        f"POST {path}?q={CPR} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked",
        *([f"Authorization: Bearer {token}"] if token is not None else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Read one response (status, headers, body) within the socket's timeout."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"connection closed before an answer: {data!r}"
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    while len(body) < int(headers.get("content-length", "0")):
        piece = sock.recv(65536)
        if not piece:
            break
        body += piece
    return int(status_line.split()[1]), headers, body


def _ask(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` (a head and perhaps a part of a chunked body) and wait 10 s at most."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        return _answer(sock)


def test_a_chunked_body_is_answered_without_waiting_for_it(served: Served) -> None:
    """401 without a token or with a bad one, body unsent; 413 once the limit has streamed in."""
    body = _chunk(json.dumps({"dwelling": CPR, "note": "x" * 1000}).encode())
    # Just past the limit, in 64 KiB chunks, and no more: the server reads all that is sent
    # (bytes sent and left unread when it closes could reset the connection).
    piece = _chunk(b"[" * 65_536)
    refusals = [
        _ask(served.port, _head(None)),
        _ask(served.port, _head(CPR) + body),
        _ask(served.port, _head(served.token) + piece * (LIMIT // 65_536 + 1)),
    ]
    assert [status for status, _, _ in refusals] == [401, 401, 413]
    for status, headers, answer in refusals:
        assert headers["content-type"] == "application/problem+json"
        assert json.loads(answer)["status"] == status
        _assert_absent(answer, f"the {status}")
    # What is not refused is read to its end and answered on its merits.
    good = json.dumps({"dwelling": "dw-nonexistent"}).encode()
    status, _, _ = _ask(served.port, _head(served.token) + _chunk(good) + b"0\r\n\r\n")
    assert status == 422


def _stream(port: int, head: bytes, total: int) -> tuple[int, int]:
    """Send ``head`` and ``total`` bytes of chunked body, then its end, as fast as taken.

    Return the answer's status and how many body bytes went out before it.
    """
    piece = _chunk(b"[" * (256 * 1024 - 16))
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        stop = threading.Event()

        def pump() -> None:
            nonlocal sent
            with contextlib.suppress(OSError):  # the server closes once it has answered
                while sent < total and not stop.is_set():
                    sock.sendall(piece)
                    sent += len(piece)
                sock.sendall(b"0\r\n\r\n")

        sender = threading.Thread(target=pump)
        sender.start()
        try:
            status, _, _ = _answer(sock)
        finally:
            stop.set()
            with contextlib.suppress(OSError):  # unblocks the sender; the server may have closed
                sock.shutdown(socket.SHUT_RDWR)
            sender.join(timeout=30)
    return status, sent


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # memory, not the database
def test_streaming_a_large_body_does_not_grow_the_servers_memory(served: Served) -> None:
    """128 MiB streamed with no token, or past the limit: the server's peak memory barely moves."""
    before = served.peak_rss()
    total = 128 * 1024 * 1024
    unauthenticated = _stream(served.port, _head(None), total)
    over_the_limit = _stream(served.port, _head(served.token), total)
    grown = served.peak_rss() - before
    assert grown < 32 * 1024 * 1024, f"peak memory grew by {grown / 2**20:.0f} MiB"
    assert (unauthenticated[0], over_the_limit[0]) == (401, 413)
    assert over_the_limit[1] < total  # refused mid-stream, not after the last byte

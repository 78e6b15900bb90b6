"""The real `broker receiver`: a body declares its length, stays within the limit, nests shallow.

SQLite only: the receiver keeps no database, and the broker's plays no part here.
"""

from __future__ import annotations

import json
import socket
import time

import pytest
from peers import Site, post_exactly

from broker.config import Settings
from broker.delivery import content_digest, sign_request
from broker.delivery.service import key_id
from broker.keys import load_keys
from tests.broker.test_privacy import PLANTED, _assert_absent

# Slow: each test runs a real `broker receiver` process (`make test-fast` leaves them out).
pytestmark = pytest.mark.slow

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def _ask(port: int, request: bytes) -> bytes:
    """Send ``request`` raw; return all the receiver answers before it closes (10 s at most)."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        while piece := sock.recv(65536):
            answer += piece
    return answer


@SQLITE_ONLY
def test_a_chunked_body_is_refused_unread(bare_site: Site) -> None:
    """`Transfer-Encoding: chunked` (no Content-Length) is answered 411, and nothing is stored."""
    head = (
        b"POST /releases HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    # A chunk that announces 64 KiB and never sends them: only the start of it goes out
    # (what is sent and unread when the receiver closes could reset the connection).
    partial = b"%x\r\n%s" % (65_536, b"[" * 100)
    with bare_site.receiver(max_body_mib=1) as receiver:
        started = time.monotonic()
        unending = _ask(receiver.port, head + partial)
        elapsed = time.monotonic() - started
        without_length = _ask(receiver.port, head.replace(b"Transfer-Encoding: chunked\r\n", b""))
        still_serving, _ = post_exactly(receiver.port, "POST", "/releases", [], b"{}")
    for answer in (unending, without_length):
        assert answer.startswith(b"HTTP/1.0 411 "), answer[:80]
        assert b"Content-Length is required" in answer
    assert elapsed < 10
    assert still_serving == 400  # a well-framed (if empty) request is checked as before
    assert list((receiver.store / "releases").iterdir()) == []


@SQLITE_ONLY
def test_a_signed_body_nested_too_deep_is_a_422_naming_the_rule(bare_site: Site) -> None:
    """A correctly signed delivery of `[` x 100,000: 422 naming the depth rule, never a crash."""
    ring = load_keys(Settings(home=bare_site.home))
    body = (f'{{"note": "{PLANTED["CPR"]}", "release": '.encode()) + b"[" * 100_000
    with bare_site.receiver() as receiver:
        url = f"{receiver.url}/releases"
        headers = {
            "content-type": "application/json",
            "content-digest": content_digest(body),
            "idempotency-key": "rel-000000000000000000000000",
        }
        signed = sign_request(
            "POST", url, headers, ring.signing, key_id(ring.signing.public_key()), int(time.time())
        )
        status, reply = post_exactly(
            receiver.port, "POST", "/releases", [*headers.items(), *signed.items()], body
        )
        alive, _ = post_exactly(receiver.port, "POST", "/releases", [], b"{}")
    assert (status, json.loads(reply)) == (
        422,
        {"error": "receipt", "detail": "JSON nested deeper than 32 levels"},
    )
    assert alive == 400
    _assert_absent(reply, "the receiver's answer")
    _assert_absent(receiver.stderr.read_bytes(), "the receiver's log")
    assert list((receiver.store / "releases").iterdir()) == []

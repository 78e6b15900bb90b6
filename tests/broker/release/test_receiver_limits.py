"""The real `broker receiver`: a body nested too deep is refused, naming the rule.

SQLite only: the receiver keeps no database, and the broker's plays no part here.
"""

from __future__ import annotations

import json
import time

import pytest
from peers import Site, post_exactly

from broker.config import Settings
from broker.delivery import content_digest, sign_request
from broker.delivery.service import key_id
from broker.keys import load_keys
from tests.broker.test_privacy import PLANTED, _assert_absent

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


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

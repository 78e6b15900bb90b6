"""`broker push` end to end: a real receiver process holds one checked release; replay; privacy."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from factories import dwelling_rows, with_personal, write_csv
from peers import PHASES, POLICY, RECIPIENT, Site, iso_week, post_exactly, released_id

from broker.config import Settings
from broker.delivery import content_digest, sign_request
from broker.delivery.service import key_id
from broker.keys import load_keys
from tests.broker.test_privacy import KEPT_STREET, PLANTED, _assert_absent, _stored_bytes

RELEASED = {"key", "adresseid", "vejnavn", "husnr", "etage", "doer", "postnr", "postnrnavn"}
SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def test_push_delivers_one_checked_release_to_a_real_receiver(site: Site) -> None:
    """A push reaches a real receiver: one release of the policy's fields, a verifying receipt."""
    with site.receiver() as receiver:
        site.webhook = f"{receiver.url}/releases"
        pushed = site.broker("push", POLICY)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        release_id = released_id(pushed.stdout)
        assert f"delivered {release_id} to {RECIPIENT}" in pushed.stdout
        (stored,) = receiver.releases()
        (receipt,) = receiver.receipts()
    assert (stored.name, receipt.name) == (f"{release_id}.json", f"{release_id}.tlog-proof")
    (row,) = site.outbox()
    assert (row.id, row.status, row.attempts) == (release_id, "delivered", 1)
    assert stored.read_bytes() == row.payload  # byte for byte what the log committed to

    content = json.loads(stored.read_bytes())["release"]
    assert (content["release_id"], content["policy_id"]) == (release_id, POLICY)
    assert (content["recipient"], content["in_scope"], content["left_out"]) == (RECIPIENT, 6, 0)
    phases = [
        {"fase": kind, "startdato": iso_week(start), "slutdato": iso_week(end)}
        for kind, start, end in PHASES
    ]
    assert len(content["dwellings"]) == 6
    assert len({record["key"] for record in content["dwellings"]}) == 6
    for record in content["dwellings"]:
        assert set(record) == RELEASED | {"phases"}
        assert record["phases"] == phases
        assert (record["vejnavn"], record["postnr"], record["postnrnavn"]) == (
            "Prøvevej",
            "2620",
            "Albertslund",
        )

    offline = subprocess.run(
        [
            sys.executable,
            "-m",
            "audit.verify",
            "--receipt",
            receipt,
            "--public-key",
            site.public_key,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert offline.returncode == 0, offline.stdout + offline.stderr
    listed = site.broker("audit", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    logged = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [e["release_id"] for e in logged if e["event"] == "release"] == [release_id]
    assert [e["release_id"] for e in logged if e["event"] == "delivery"] == [release_id]
    site.assert_log_verifies()


@SQLITE_ONLY
def test_a_replayed_request_is_refused_and_a_fresh_signature_is_a_duplicate(site: Site) -> None:
    """The captured request sent again is refused (409); freshly signed it is a duplicate (200)."""
    with site.through_proxy() as (proxy, receiver):
        pushed = site.broker("push", POLICY)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        release_id = released_id(pushed.stdout)
        (captured,) = proxy.exchanges
        assert proxy.statuses() == [201]

        # 1. The exact request again, headers and body as captured: a replay.
        status, reply = post_exactly(
            receiver.port, captured.method, captured.path, captured.headers, captured.body
        )
        assert (status, json.loads(reply)["error"]) == (409, "replay")

        # 2. The same release freshly signed (another second): acknowledged, not kept twice.
        created = re.search(r";created=(\d+)", captured.header("signature-input"))
        assert created is not None
        ring = load_keys(Settings(home=site.home))
        webhook = f"{proxy.url}/releases"
        headers = {
            "content-type": "application/json",
            "content-digest": content_digest(captured.body),
            "idempotency-key": release_id,
        }
        signing = ring.signing
        fresh = sign_request(
            "POST", webhook, headers, signing, key_id(signing.public_key()), int(created[1]) - 1
        )
        assert fresh["Signature"] != captured.header("signature")
        status, reply = post_exactly(
            receiver.port, "POST", "/releases", [*headers.items(), *fresh.items()], captured.body
        )
        assert (status, json.loads(reply)) == (
            200,
            {"status": "duplicate", "release_id": release_id},
        )
        assert [path.name for path in receiver.releases()] == [f"{release_id}.json"]
        assert receiver.releases()[0].read_bytes() == captured.body


def test_planted_values_never_leave_in_a_push(bare_site: Site) -> None:
    """Personal columns of a pushed export reach no request, receiver file, output or database."""
    site = bare_site
    rows = [{**row, "Vejnavn": KEPT_STREET} for row in dwelling_rows(6, phases=PHASES)]
    export = write_csv(site.tmp / "export.csv", with_personal(rows, PLANTED))
    assert PLANTED["CPR"].encode() in export.read_bytes()  # the input really holds them
    ingested = site.broker("ingest", str(export), "--org", "bo-vest")
    assert ingested.returncode == 0, ingested.stderr
    with site.through_proxy() as (proxy, receiver):
        pushed = site.broker("push", POLICY)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    verified = site.broker("audit", "verify")
    assert verified.returncode == 0, verified.stdout

    (exchange,) = proxy.exchanges
    headers = "\n".join(f"{name}: {value}" for name, value in exchange.headers).encode()
    assert KEPT_STREET.encode() in exchange.body  # the scan does see what was delivered
    _assert_absent(exchange.body, "the delivered body")
    _assert_absent(headers + exchange.reply, "the request headers or the answer")
    held = [path for path in sorted(site.tmp.glob("municipality*")) if path.is_file()]
    held += [path for path in sorted(receiver.store.rglob("*")) if path.is_file()]
    assert KEPT_STREET.encode() in receiver.releases()[0].read_bytes()
    for path in held:
        _assert_absent(path.read_bytes(), f"the receiver's {path.name}")
    for result in (ingested, pushed, verified):
        _assert_absent((result.stdout + result.stderr).encode(), f"broker {result.args[3]}")
    site.database.dispose()
    _assert_absent(_stored_bytes(site.database), f"the {site.database.backend} database")

"""`broker push` end to end: a real receiver process holds one checked release; replay; privacy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from factories import dwelling_rows, with_personal, write_csv
from peers import PHASES, POLICY, RECIPIENT, Site, free_port, iso_week, post_exactly, released_id

from audit import cosigner_verifier_key
from broker.config import Settings
from broker.delivery import content_digest, sign_request
from broker.delivery.service import key_id
from broker.disclosure.witnessing import NO_WITNESS, NOT_WITNESSED
from broker.keys import load_keys
from tests.broker.test_privacy import KEPT_STREET, PLANTED, _assert_absent, _stored_bytes

# Slow: each test runs a real `broker receiver` process (`make test-fast` leaves them out).
pytestmark = pytest.mark.slow

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
    assert stored.read_bytes() == site.body(row)  # byte for byte as delivered

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
    # The agreement's exact version is on record before anything is released under it.
    (released,) = [e for e in logged if e["event"] == "release"]
    registered = [
        e["seq"]
        for e in logged
        if e["event"] == "policy-registered" and e["policy_hash"] == released["policy_hash"]
    ]
    assert registered
    assert registered[0] < released["seq"]
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


@pytest.mark.parametrize("parts", [1, 3])
def test_planted_values_never_leave_in_a_push(bare_site: Site, parts: int) -> None:
    """Personal columns of a pushed export reach no request, receiver file, output or database.

    Sent whole, and in three parts (two dwellings each): every request is scanned.
    """
    site = bare_site
    if parts > 1:
        site.settings["BROKER_RELEASE_PART_DWELLINGS"] = "2"
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

    assert len(proxy.exchanges) == parts
    for exchange in proxy.exchanges:
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


def verify_offline(site: Site, receipt: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """Run the auditor's `python -m audit.verify --receipt` on one stored receipt."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "audit.verify",
            "--receipt",
            str(receipt),
            "--public-key",
            str(site.public_key),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_pushed_receipt_is_cosigned_by_the_municipalitys_witness(site: Site) -> None:
    """With the receiver as witness, the receipt it stores verifies with --min-cosignatures 1."""
    with site.receiver(witness=True) as receiver:
        key = receiver.witness_key()
        site.webhook = f"{receiver.url}/releases"
        site.settings["BROKER_WITNESSES"] = json.dumps([{"url": receiver.url, "key": key}])
        pushed = site.broker("push", POLICY)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        release_id = released_id(pushed.stdout)
    row = site.assert_delivered_once(receiver, release_id)
    (receipt,) = receiver.receipts()
    name = key.split("+", 1)[0]
    checked = verify_offline(site, receipt, "--witness-key", key, "--min-cosignatures", "1")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.endswith(f"; cosigned by {name}\n")
    document = json.loads(receiver.releases()[0].read_bytes())
    assert set(document) == {"release", "salt", "receipt"}  # nothing to own up to
    (delivery,) = site.entries("delivery")
    assert delivery["receipt_cosigned_by"] == [name]
    assert delivery["receipt_size"] > row.log_seq
    assert "receipt_uncosigned" not in delivery
    assert row.receipt_uncosigned is None


@pytest.mark.parametrize("witness", ["none", "down"])
def test_without_a_witness_the_receipt_falls_back_and_says_so(site: Site, witness: str) -> None:
    """No witness configured, or none answering: an uncosigned receipt, said in body, log, entry."""
    reason = NO_WITNESS
    if witness == "down":
        key = cosigner_verifier_key("w.test/down", Ed25519PrivateKey.generate().public_key())
        nowhere = f"http://127.0.0.1:{free_port()}"
        site.settings["BROKER_WITNESSES"] = json.dumps([{"url": nowhere, "key": key}])
        reason = NOT_WITNESSED
    with site.receiver() as receiver:
        site.webhook = f"{receiver.url}/releases"
        pushed = site.broker("push", POLICY)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        release_id = released_id(pushed.stdout)
        assert f"delivered {release_id} to {RECIPIENT}" in pushed.stdout
    document = json.loads(receiver.releases()[0].read_bytes())
    assert document["receipt_uncosigned"] == reason
    logged = [json.loads(line) for line in pushed.stderr.splitlines() if line.startswith("{")]
    said = [e for e in logged if e["event"] == "delivery.receipt_uncosigned"]
    assert [(e["level"], e["release_id"], e["reason"]) for e in said] == [
        ("warning", release_id, reason)
    ]
    (delivery,) = site.entries("delivery")
    assert (delivery["receipt_cosigned_by"], delivery["receipt_uncosigned"]) == ([], reason)
    (receipt,) = receiver.receipts()
    assert verify_offline(site, receipt).returncode == 0  # proven, only not witnessed
    strict = verify_offline(site, receipt, "--min-cosignatures", "1")
    assert strict.returncode == 1
    assert "0 trusted cosignatures, at least 1 required" in strict.stdout

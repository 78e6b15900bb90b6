"""Delivery faults between real processes: each release ends held once, or failed on record.

All but the SIGKILL test run on SQLite only: each starts several `broker` processes,
and the database plays no part in those faults (test_push.py runs on both).
"""

from __future__ import annotations

import json
import signal
import time

import pytest
from peers import POLICY, RECIPIENT, Site, post_exactly, released_id

# Slow: each test runs a real `broker receiver` process (`make test-fast` leaves them out).
pytestmark = pytest.mark.slow

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)


def push_to_retry(site: Site, problem: str) -> str:
    """Run `broker push`, expect it to fail once with `problem`; return the release id."""
    pushed = site.broker("push", POLICY)
    assert pushed.returncode == 1, pushed.stdout + pushed.stderr
    release_id = released_id(pushed.stdout)
    assert f"will retry: {release_id} to {RECIPIENT}: {problem}\n" in pushed.stderr
    (row,) = site.outbox()
    assert (row.id, row.status, row.attempts, row.last_error) == (
        release_id,
        "pending",
        1,
        problem,
    )
    return release_id


def deliver(site: Site, release_id: str) -> None:
    """Run `broker deliver` after the backoff; expect it to deliver the release."""
    time.sleep(0.1)  # BROKER_DELIVERY_BACKOFF is 0.05 s (+-25 %)
    delivered = site.broker("deliver")
    assert delivered.returncode == 0, delivered.stdout + delivered.stderr
    assert delivered.stdout == f"delivered {release_id} to {RECIPIENT}\n"


@SQLITE_ONLY
def test_receiver_down_at_push_gets_it_once_when_up(site: Site) -> None:
    """A push to a receiver that is down will retry; once it is up, `broker deliver` delivers."""
    receiver = site.receiver()
    site.webhook = f"{receiver.url}/releases"
    release_id = push_to_retry(site, "unreachable: ConnectError")
    with receiver:
        deliver(site, release_id)
        assert site.assert_delivered_once(receiver, release_id).attempts == 2


@SQLITE_ONLY
def test_server_errors_are_retried_until_delivered_once(site: Site) -> None:
    """A peer answering 500 to the first two attempts gets the release once, on the third."""
    with site.through_proxy(["error", "error"]) as (proxy, receiver):
        release_id = push_to_retry(site, "HTTP 500")
        again = site.broker("deliver")
        assert again.returncode == 1
        assert f"will retry: {release_id} to {RECIPIENT}: HTTP 500\n" in again.stderr
        deliver(site, release_id)
        assert proxy.statuses() == [None, None, 201]  # the receiver saw the third only
        assert site.assert_delivered_once(receiver, release_id).attempts == 3


@SQLITE_ONLY
def test_an_answer_too_late_is_retried_and_acknowledged_as_duplicate(site: Site) -> None:
    """A peer that stores the release but answers after the timeout gets it once, not twice."""
    site.settings["BROKER_DELIVERY_TIMEOUT"] = "0.5"
    with site.through_proxy(["slow"]) as (proxy, receiver):
        release_id = push_to_retry(site, "unreachable: ReadTimeout")
        deliver(site, release_id)
        assert proxy.statuses() == [201, 200]
        duplicate = json.loads(proxy.exchanges[1].reply)
        assert duplicate == {"status": "duplicate", "release_id": release_id}
        assert site.assert_delivered_once(receiver, release_id).attempts == 2


@SQLITE_ONLY
def test_a_connection_closed_without_answer_is_retried(site: Site) -> None:
    """A peer that hangs up without answering gets the release once, on the retry."""
    with site.through_proxy(["hangup"]) as (proxy, receiver):
        release_id = push_to_retry(site, "unreachable: RemoteProtocolError")
        deliver(site, release_id)
        assert proxy.statuses() == [None, 201]
        assert site.assert_delivered_once(receiver, release_id).attempts == 2


@SQLITE_ONLY
def test_a_body_altered_in_transit_is_refused_and_the_intact_one_stored(site: Site) -> None:
    """One byte flipped on the way is refused (400, digest), for good; put back, the intact one."""
    with site.through_proxy(["flip"]) as (proxy, receiver):
        pushed = site.broker("push", POLICY)
        assert pushed.returncode == 1, pushed.stdout + pushed.stderr
        release_id = released_id(pushed.stdout)
        assert f"FAILED for good: {release_id} to {RECIPIENT}: HTTP 400\n" in pushed.stderr
        refused = json.loads(proxy.exchanges[0].reply)
        assert (proxy.statuses(), refused["error"]) == ([400], "content-digest")
        assert receiver.releases() == []
        retried = site.broker("deliver", "--retry", release_id)
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert proxy.statuses() == [400, 201]
        row = site.assert_delivered_once(receiver, release_id)
        assert row.attempts == 1  # the retry starts counting afresh
        assert proxy.exchanges[1].body == receiver.releases()[0].read_bytes()  # passed on intact
    assert [e["reason"] for e in site.entries("delivery-failed")] == ["HTTP 400"]


def test_a_push_killed_before_the_answer_is_delivered_once_by_deliver(site: Site) -> None:
    """`broker push` killed (SIGKILL) after its commit, mid-request: `broker deliver` settles it."""
    with site.through_proxy(["hold"]) as (proxy, receiver):
        push = site.popen("push", POLICY)
        try:
            held = proxy.wait_for(1)
            (row,) = site.outbox()
            assert (row.status, row.attempts) == ("pending", 0)  # committed, not delivered
            assert held.header("idempotency-key") == row.id
        finally:
            push.send_signal(signal.SIGKILL)
            push.communicate(timeout=30)
        assert push.returncode == -signal.SIGKILL
        # The held request still reaches the receiver, with nobody left to hear the answer.
        proxy.let_go()
        assert proxy.statuses() == [201]
        deliver(site, row.id)
        assert proxy.statuses() == [201, 200]
        assert json.loads(proxy.exchanges[1].reply)["status"] == "duplicate"
        assert site.assert_delivered_once(receiver, row.id).attempts == 1


@SQLITE_ONLY
def test_retry_limit_ends_in_a_recorded_loud_failure(site: Site) -> None:
    """With BROKER_DELIVERY_ATTEMPTS=2 a peer that always fails leaves a failed, logged release."""
    site.settings["BROKER_DELIVERY_ATTEMPTS"] = "2"
    with site.through_proxy(then="error") as (proxy, receiver):
        release_id = push_to_retry(site, "HTTP 500")
        time.sleep(0.1)
        failed = site.broker("deliver")
        assert failed.returncode == 1
        assert f"FAILED for good: {release_id} to {RECIPIENT}: HTTP 500\n" in failed.stderr
        logged = [json.loads(line) for line in failed.stderr.splitlines() if line.startswith("{")]
        delivery = [e for e in logged if e["event"].startswith("delivery.")]
        assert [(e["event"], e["level"], e["release_id"]) for e in delivery] == [
            ("delivery.failed", "error", release_id)
        ]
        assert {e["event"] for e in logged} == {"delivery.failed", "log.published"}
        assert proxy.statuses() == [None, None]
        assert receiver.releases() == []
    (row,) = site.outbox()
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "HTTP 500")
    listed = site.broker("audit", "list", "--json")
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    failures = [e for e in entries if e["event"] == "delivery-failed"]
    assert [(e["release_id"], e["reason"], e["attempts"]) for e in failures] == [
        (release_id, "HTTP 500", 2)
    ]
    assert [e for e in entries if e["event"] == "delivery"] == []
    site.assert_log_verifies()


@SQLITE_ONLY
def test_a_body_over_the_receivers_limit_is_refused_unread(site: Site) -> None:
    """`broker receiver --max-body-mib 1` answers 413 to a larger body, and reads a smaller one."""
    headers = [("Content-Type", "application/json")]
    with site.receiver(max_body_mib=1) as receiver:
        # Only the head is sent: the receiver answers from Content-Length, reading nothing
        # (sending the body too could meet a closed connection, a broken pipe).
        declared = [*headers, ("Content-Length", str(2**20 + 1))]
        over, _ = post_exactly(receiver.port, "POST", "/releases", declared, b"")
        under, _ = post_exactly(receiver.port, "POST", "/releases", headers, b"x" * 2**20)
    assert (over, under) == (413, 400)
    assert list((receiver.store / "releases").iterdir()) == []


@SQLITE_ONLY
def test_a_release_failed_for_good_is_delivered_once_when_retried(site: Site) -> None:
    """`broker deliver --retry ID` queues a failed release again; it arrives once, on record."""
    site.settings["BROKER_DELIVERY_ATTEMPTS"] = "1"
    receiver = site.receiver()
    site.webhook = f"{receiver.url}/releases"
    pushed = site.broker("push", POLICY)
    release_id = released_id(pushed.stdout)
    assert pushed.returncode == 1
    assert f"FAILED for good: {release_id} to {RECIPIENT}" in pushed.stderr
    nothing = site.broker("deliver")
    assert (nothing.returncode, nothing.stdout) == (0, "")  # a failed release is not retried
    unknown = site.broker("deliver", "--retry", "rel-000000000000000000000000")
    assert unknown.returncode == 1
    assert "no release with that id" in unknown.stderr
    with receiver:
        retried = site.broker("deliver", "--retry", release_id)
        assert retried.returncode == 0, retried.stdout + retried.stderr
        assert retried.stdout.splitlines() == [
            f"queued again: {release_id}",
            f"delivered {release_id} to {RECIPIENT}",
        ]
        row = site.assert_delivered_once(receiver, release_id)
        again = site.broker("deliver", "--retry", release_id)
    assert row.attempts == 1
    assert again.returncode == 1
    assert "must be a release that failed for good; this one is delivered" in again.stderr
    assert [e["release_id"] for e in site.entries("delivery-failed")] == [release_id]

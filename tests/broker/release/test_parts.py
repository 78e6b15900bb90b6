"""Releases in parts: a release above the part size goes as numbered parts, checked one by one.

The parts' own rules (cut, manifest, assemble) are checked on plain values; the rest
end to end: `broker push` with a part size of 2 sends the six dwellings as three parts
to a real receiver process, which applies the release only once it holds all three.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from databases import Database
from factories import dwelling_rows
from peers import POLICY, RECIPIENT, ReceiverProcess, Site, post_exactly, released_id
from publishing import deliver_published
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import canonical_json, verify_commitment
from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.delivery import content_digest, sign_request
from broker.delivery.service import key_id
from broker.disclosure import Reader
from broker.disclosure.publishing import integrate_pending
from broker.keys import KeyRing, load_keys
from broker.release import (
    PartError,
    ReleasePart,
    assemble_parts,
    check_part,
    cut_parts,
    delivered_body,
    recipient_key,
    release,
    released_about,
)
from broker.release._parts import manifest, split
from broker.renovation import Dwelling
from broker.rights import access_request
from tests.broker.release.test_release import PHASES as RELEASE_PHASES
from tests.broker.release.test_release import RUN, upload, weekly
from tests.broker.release.test_release import ring as ring  # noqa: PLC0414 - the fixture

SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)

CONTENT: dict[str, Any] = {
    "release_id": "rel-1",
    "policy_id": POLICY,
    "mode": "changes",
    "dwellings": [{"key": f"k{n}", "vejnavn": "Prøvevej"} for n in (1, 3, 4, 6)],
    "withdrawn": ["k2", "k5", "k7"],
}


def test_a_content_cuts_into_parts_in_key_order_and_assembles_back() -> None:
    """Records and withdrawn keys together, in key order, three at a time; whole again after."""
    parts = split(CONTENT, 3)
    assert [(p["part"], p["parts"]) for p in parts] == [(1, 3), (2, 3), (3, 3)]
    assert [[r["key"] for r in p["dwellings"]] for p in parts] == [["k1", "k3"], ["k4", "k6"], []]
    assert [p["withdrawn"] for p in parts] == [["k2"], ["k5"], ["k7"]]
    assert assemble_parts(parts) == CONTENT
    listed = manifest("rel-1", parts, 3)
    assert [(p["first_key"], p["last_key"]) for p in listed["parts"]] == [
        ("k1", "k3"),
        ("k4", "k6"),
        ("k7", "k7"),
    ]
    assert [check_part(listed, part) for part in parts] == [1, 2, 3]
    assert len(cut_parts(canonical_json(CONTENT), canonical_json(listed))) == 3
    assert len(split(CONTENT, 7)) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["dwellings"][0].update(vejnavn="Andenvej"), "not the part the manifest"),
        (lambda p: p.update(part=3), "not the part the manifest"),
        (lambda p: p.update(parts=4), "the manifest lists 3"),
        (lambda p: p.update(release_id="rel-2"), "another release"),
        (lambda p: p.update(part=True), "not a positive integer"),
    ],
)
def test_a_part_other_than_the_manifest_lists_is_refused(change: Any, message: str) -> None:
    parts = split(CONTENT, 3)
    listed = manifest("rel-1", parts, 3)
    change(parts[1])
    with pytest.raises(PartError, match=message):
        check_part(listed, parts[1])


def test_an_incomplete_or_mixed_set_of_parts_does_not_assemble() -> None:
    parts = split(CONTENT, 3)
    with pytest.raises(PartError, match="not all there"):
        assemble_parts([parts[0], parts[2]])
    with pytest.raises(PartError, match="not of one release"):
        assemble_parts([parts[0], {**parts[1], "mode": "snapshot"}, parts[2]])
    changed = canonical_json({**CONTENT, "withdrawn": ["k2", "k5", "k8"]})
    with pytest.raises(PartError, match="not those on record"):
        cut_parts(changed, canonical_json(manifest("rel-1", parts, 3)))


def _keys(site_exchanges: list[Any]) -> list[str]:
    return [exchange.header("idempotency-key") for exchange in site_exchanges]


def test_a_release_above_the_part_size_arrives_in_parts_and_is_applied_whole(
    site: Site,
) -> None:
    """Six dwellings, two per part: three requests, the set applied at the third, all proven."""
    site.settings["BROKER_RELEASE_PART_DWELLINGS"] = "2"
    with site.through_proxy() as (proxy, receiver):
        pushed = site.broker("push", POLICY)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        release_id = released_id(pushed.stdout)
        assert f"delivered {release_id} to {RECIPIENT}" in pushed.stdout
        assert proxy.statuses() == [202, 202, 201]
        held = receiver.current(POLICY)
    assert _keys(proxy.exchanges) == [f"{release_id}.{n}" for n in (1, 2, 3)]
    replies = [json.loads(exchange.reply) for exchange in proxy.exchanges]
    assert [(r["status"], r.get("held")) for r in replies] == [
        ("part stored", 1),
        ("part stored", 2),
        ("stored", None),
    ]
    assert held is not None
    assert len(held) == 6
    (row,) = site.outbox()
    assert (row.status, row.attempts, row.parts, row.parts_delivered) == ("delivered", 1, 3, 3)
    assert row.manifest is not None

    # Each request is one part, with the manifest the log entry commits to.
    (entry,) = site.entries("release")
    assert entry["parts"] == 3
    for number, exchange in enumerate(proxy.exchanges, start=1):
        body = json.loads(exchange.body)
        assert body["release"]["part"] == number
        assert len(body["release"]["dwellings"]) == 2
        listed = canonical_json(body["manifest"])
        assert listed == row.manifest
        assert verify_commitment(entry["commitment"], bytes.fromhex(body["salt"]), listed)
    # Cut once, when put on record: the stored parts are the ones sent, as the manifest lists.
    stored = _stored_parts(site, release_id)
    assert stored == [canonical_json(json.loads(e.body)["release"]) for e in proxy.exchanges]
    assert stored == cut_parts(row.content, row.manifest)
    # The receiver keeps each part as delivered and the release whole, checkable as a whole.
    parts_held = sorted((receiver.store / "parts" / release_id).glob("*.json"))
    assert [p.read_bytes() for p in parts_held] == [e.body for e in proxy.exchanges]
    kept = json.loads(receiver.releases()[0].read_bytes())
    assert len(kept["release"]["dwellings"]) == 6
    assert len(cut_parts(canonical_json(kept["release"]), canonical_json(kept["manifest"]))) == 3
    # The broker's own copy (the API's body) is the whole release with its manifest too.
    whole = json.loads(site.body(row))
    assert whole["release"] == kept["release"]
    delivered = site.entries("delivery")
    assert [e["parts"] for e in delivered] == [3]
    verified = site.broker("audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr


@SQLITE_ONLY
def test_a_part_that_fails_is_the_first_sent_again_and_nothing_applies_before(
    site: Site,
) -> None:
    """Part 2 answered 500: part 1 is kept, the set is not applied; the retry starts at part 2."""
    site.settings["BROKER_RELEASE_PART_DWELLINGS"] = "2"
    with site.through_proxy(["forward", "error"]) as (proxy, receiver):
        pushed = site.broker("push", POLICY)
        assert pushed.returncode == 1, pushed.stdout + pushed.stderr
        release_id = released_id(pushed.stdout)
        assert f"will retry: {release_id} to {RECIPIENT}: part 2 of 3: HTTP 500\n" in (
            pushed.stderr
        )
        (row,) = site.outbox()
        assert (row.status, row.parts_delivered) == ("pending", 0)
        assert _taken(site, release_id) == [True, False, False]  # part 1 is the receiver's
        assert receiver.current(POLICY) is None  # one part of three: nothing is applied
        assert receiver.releases() == []
        time.sleep(0.1)  # BROKER_DELIVERY_BACKOFF is 0.05 s (+-25 %)
        delivered = site.broker("deliver")
        assert delivered.returncode == 0, delivered.stdout + delivered.stderr
        assert proxy.statuses() == [202, None, 202, 201]
        held = receiver.current(POLICY)
    assert _keys(proxy.exchanges) == [f"{release_id}.{n}" for n in (1, 2, 2, 3)]
    assert held is not None
    assert len(held) == 6
    (row,) = site.outbox()
    assert (row.status, row.attempts, row.parts_delivered) == ("delivered", 2, 3)


def _parts_of(session: Session, release_id: str) -> list[bytes]:
    query = (
        select(ReleasePart.content)
        .where(ReleasePart.release_id == release_id)
        .order_by(ReleasePart.part)
    )
    return list(session.scalars(query))


def _taken(site: Site, release_id: str) -> list[bool]:
    """Return, part by part, whether the broker has it on record that the recipient took it."""
    with session_scope(make_session_factory(site.database.engine)) as session:
        query = (
            select(ReleasePart.taken_at)
            .where(ReleasePart.release_id == release_id)
            .order_by(ReleasePart.part)
        )
        return [taken is not None for taken in session.scalars(query)]


def _stored_parts(site: Site, release_id: str) -> list[bytes]:
    """Return the parts of a release as the broker stored them when it was put on record."""
    with session_scope(make_session_factory(site.database.engine)) as session:
        return _parts_of(session, release_id)


def _post(site: Site, port: int, name: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """Sign ``body`` as the broker would, under idempotency key ``name``; POST it."""
    ring = load_keys(Settings(home=site.home))
    headers = {
        "content-type": "application/json",
        "content-digest": content_digest(body),
        "idempotency-key": name,
    }
    signed = sign_request(
        "POST",
        f"http://127.0.0.1:{port}/releases",
        headers,
        ring.signing,
        key_id(ring.signing.public_key()),
        int(time.time()),
        nonce=secrets.token_urlsafe(12),  # each request its own signature, as the broker's
    )
    status, reply = post_exactly(
        port, "POST", "/releases", [*headers.items(), *signed.items()], body
    )
    return status, json.loads(reply)


@SQLITE_ONLY
def test_a_part_not_in_its_manifest_is_refused_and_the_set_stays_incomplete(
    site: Site, tmp_path: Path
) -> None:
    """A part with one record changed is refused (422 part); two of three apply nothing."""
    site.settings["BROKER_RELEASE_PART_DWELLINGS"] = "2"
    with site.through_proxy(["forward", 503, 503, 503, 503, 503, 503, 503]) as (proxy, _):
        pushed = site.broker("push", POLICY)
        assert pushed.returncode == 1
        release_id = released_id(pushed.stdout)
    first, second = (json.loads(proxy.exchanges[n].body) for n in (0, 1))
    assert [b["release"]["part"] for b in (first, second)] == [1, 2]

    with ReceiverProcess(site.public_key, tmp_path / "other-municipality") as other:
        changed = json.loads(json.dumps(second))
        changed["release"]["dwellings"][0]["vejnavn"] = "Andenvej"
        status, reply = _post(site, other.port, f"{release_id}.2", canonical_json(changed))
        assert (status, reply["error"]) == (422, "part")
        assert "not the part the manifest" in reply["detail"]
        status, reply = _post(site, other.port, f"{release_id}.1", canonical_json(second))
        assert (status, reply["error"]) == (422, "receipt")  # the key names another part
        for number, body in ((1, first), (2, second)):
            status, reply = _post(site, other.port, f"{release_id}.{number}", canonical_json(body))
            assert (status, reply["status"], reply["held"]) == (202, "part stored", number)
        status, reply = _post(site, other.port, f"{release_id}.2", canonical_json(second))
        assert (status, reply["status"], reply["held"]) == (200, "duplicate", 2)
        assert other.current(POLICY) is None
        assert other.releases() == []
        # A crash after the last part was kept, before the release was applied: the part
        # sent again applies it.
        (row,) = site.outbox()
        whole = json.loads(site.body(row))
        third = delivered_body(
            _stored_parts(site, release_id)[2],
            row.salt,
            whole["receipt"],
            whole.get("receipt_uncosigned"),
            manifest=row.manifest,
        )
        assert json.loads(third)["release"]["part"] == 3
        (other.store / "parts" / release_id / "3.json").write_bytes(third)
        status, reply = _post(site, other.port, f"{release_id}.3", third)
        assert (status, reply["status"]) == (201, "stored")
        held = other.current(POLICY)
        # The API's body of the release is whole, with its manifest: it checks as a whole.
        status, reply = _post(site, other.port, release_id, site.body(row))
        assert (status, reply["status"]) == (200, "duplicate")
    assert held is not None
    assert len(held) == 6


def test_a_release_in_parts_is_dropped_as_numbered_signed_files(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """A directory drop writes each part as ``<id>.<N>.json`` with its detached signature."""
    upload(database, tmp_path, dwelling_rows(6, phases=RELEASE_PHASES))
    with session_scope(make_session_factory(database.engine)) as session:
        made = release(session, ring, weekly(), run_at=RUN, now=RUN, part_dwellings=4).release
        assert made is not None
        release_id = made.id
    drop = tmp_path / "drop"
    recipient = RecipientSettings(id=RECIPIENT, directory=drop)  # type: ignore[arg-type]
    settings = Settings(home=tmp_path, recipients=(recipient,))
    with httpx.Client() as client:
        (attempt,) = deliver_published(
            make_session_factory(database.engine), settings, ring, client, lambda: RUN
        )
    assert attempt.delivered
    names = sorted(path.name for path in drop.iterdir())
    assert names == [f"{release_id}.{n}.json{s}" for n in (1, 2) for s in ("", ".sig")]
    public = ring.signing.public_key()
    for number in (1, 2):
        data = (drop / f"{release_id}.{number}.json").read_bytes()
        _, _, signature = (drop / f"{release_id}.{number}.json.sig").read_text().split()
        public.verify(base64.b64decode(signature), data)
        document = json.loads(data)
        assert (document["release"]["part"], document["release"]["parts"]) == (number, 2)
        assert check_part(document["manifest"], document["release"]) == number
    counts = [
        len(json.loads((drop / f"{release_id}.{n}.json").read_bytes())["release"]["dwellings"])
        for n in (1, 2)
    ]
    assert counts == [4, 2]


def test_an_access_request_reads_the_one_part_that_holds_the_dwelling(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """Art. 15 about each dwelling of a release in three parts: its values, from its part."""
    upload(database, tmp_path, dwelling_rows(6, phases=RELEASE_PHASES))
    factory = make_session_factory(database.engine)
    with session_scope(factory) as session:
        made = release(session, ring, weekly(), run_at=RUN, now=RUN, part_dwellings=2).release
        assert made is not None
        assert made.parts == 3
        parts = [json.loads(data) for data in _parts_of(session, made.id)]
        refs = list(session.scalars(select(Dwelling.ref)))
    assert len(refs) == 6
    integrate_pending(database.engine, ring)
    operator = Reader("cli")
    for ref in refs:
        key = recipient_key(ring.reference_key, RECIPIENT, ref)
        (holding,) = [p for p in parts if key in {r["key"] for r in p["dwellings"]}]
        with session_scope(factory) as session:
            about = released_about(session, made, key)
            answer = access_request(session, ring, operator, ref, policies=[weekly()], at=RUN)
        assert about == holding  # the one part, not the whole release
        (disclosed,) = [d for d in answer.disclosures if d.event == "release"]
        record = next(r for r in holding["dwellings"] if r["key"] == key)
        assert disclosed.values == {k: v for k, v in record.items() if k != "key"}
        assert disclosed.withdrawn is False
    with session_scope(factory) as session:
        assert released_about(session, made, "0" * 32) == {}  # no part covers that key

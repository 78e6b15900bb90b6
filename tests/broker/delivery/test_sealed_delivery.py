"""A release sealed to the recipient's X25519 key travels signed and opens only at its receiver."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from databases import Database
from factories import dwelling_rows, write_csv
from publishing import deliver_published
from sealing_reference import seal_legacy_body

from broker.config import RecipientSettings, Settings
from broker.db import make_session_factory, session_scope
from broker.delivery._signature import content_digest, sign_request
from broker.delivery.service import key_id
from broker.disclosure.publishing import integrate_pending
from broker.ingest.service import ingest_file
from broker.keys import KeyRing, init_keys, load_keys
from broker.policy import load_policy_file
from broker.receiver import Receiver, make_receiver_server
from broker.release import Release, release, release_body

POLICIES = Path(__file__).resolve().parents[3] / "policies"
RUN = dt.datetime(2027, 2, 22, 5, 0, tzinfo=dt.UTC)
PHASES = (("genhusning", dt.date(2027, 3, 1), dt.date(2027, 6, 30)),)


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    init_keys(Settings(home=tmp_path))
    return load_keys(Settings(home=tmp_path))


@contextmanager
def serving(receiver: Receiver) -> Iterator[str]:
    """Serve ``receiver`` on 127.0.0.1 for the block; yield its releases URL."""
    server = make_receiver_server(receiver, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/releases"
    finally:
        server.shutdown()
        server.server_close()


def _released(database: Database, tmp_path: Path, ring: KeyRing) -> tuple[bytes, str]:
    """Release this week's list to albertslund/visitation; return its body (as now) and id."""
    export = write_csv(tmp_path / "export.csv", dwelling_rows(6, phases=PHASES))
    factory = make_session_factory(database.engine)
    loaded, _ = load_policy_file(POLICIES / "albertslund-visitation-weekly.yaml")
    assert loaded is not None
    with session_scope(factory) as session:
        ingest_file(session, export, org="bo-vest", now=RUN)
        made = release(session, ring, loaded.policy, run_at=RUN, now=RUN).release
        assert made is not None
    integrate_pending(database.engine, ring)  # as the server's publisher does
    with session_scope(factory) as session:
        found = session.get(Release, made.id)
        assert found is not None
        return release_body(session, Settings(home=tmp_path), found), found.id


def _delivered_body(database: Database, tmp_path: Path, release_id: str) -> bytes:
    """Return the body of ``release_id`` exactly as it was delivered."""
    with session_scope(make_session_factory(database.engine)) as session:
        found = session.get(Release, release_id)
        assert found is not None
        assert found.status == "delivered"
        return release_body(session, Settings(home=tmp_path), found)


@pytest.mark.parametrize("receiver_has_key", [True, False])
def test_sealed_release_opens_only_with_the_receivers_key(
    database: Database, tmp_path: Path, ring: KeyRing, receiver_has_key: bool
) -> None:
    """Sealed to the receiver: stored in clear there; a receiver without the key refuses it."""
    _payload, release_id = _released(database, tmp_path, ring)
    factory = make_session_factory(database.engine)
    municipality = X25519PrivateKey.generate()
    public = tmp_path / "municipality.pub.pem"
    public.write_bytes(
        municipality.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    store = tmp_path / "received"
    checker = Receiver(
        store,
        ring.public_keys,
        private_key=municipality if receiver_has_key else None,
        clock=RUN.timestamp,
    )
    with serving(checker) as url, httpx.Client() as client:
        recipient = RecipientSettings(id="albertslund/visitation", webhook=url, public_key=public)  # type: ignore[arg-type]
        settings = Settings(home=tmp_path, recipients=(recipient,))
        (attempt,) = deliver_published(factory, settings, ring, client, lambda: RUN)
    if receiver_has_key:
        assert attempt.delivered
        stored = (store / "releases" / f"{release_id}.json").read_bytes()
        assert stored == _delivered_body(database, tmp_path, release_id)
        assert len(json.loads(stored)["release"]["dwellings"]) == 6
    else:
        assert (attempt.delivered, attempt.problem) == (False, "HTTP 422")
        assert not list((store / "releases").iterdir())


def test_a_release_sealed_the_earlier_way_is_still_accepted(
    database: Database, tmp_path: Path, ring: KeyRing
) -> None:
    """A signed delivery sealed in the format before HPKE opens at the receiver and is stored."""
    payload, release_id = _released(database, tmp_path, ring)
    municipality = X25519PrivateKey.generate()
    body = seal_legacy_body(
        payload, municipality.public_key(), X25519PrivateKey.generate(), b"\x01" * 12
    )
    url = "http://127.0.0.1:7390/releases"
    headers = {
        "content-type": "application/json",
        "content-digest": content_digest(body),
        "idempotency-key": release_id,
    }
    signing = ring.signing
    created = int(RUN.timestamp())
    headers.update(
        sign_request("POST", url, headers, signing, key_id(signing.public_key()), created)
    )
    store = tmp_path / "received"
    checker = Receiver(store, ring.public_keys, private_key=municipality, clock=RUN.timestamp)
    reply = checker.accept("POST", url, headers, body)
    assert (reply.status, json.loads(reply.body)["status"]) == (201, "stored")
    assert (store / "releases" / f"{release_id}.json").read_bytes() == payload

"""An auditor token reads only its own organisation's part of the log; the log is for parties.

The site releases bo-vest's dwellings to Albertslund and Hvidovre; here bo-oest
also releases its own dwellings to Hvidovre, so bo-oest is a party of this broker
with a log of its own in it. An auditor of bo-oest must see none of bo-vest's
entries, dwelling reports or policy texts, and an export in which bo-vest's entries
are leaf hashes only (and which still verifies); a visitator of a municipality that
is no party gets 404 for the checkpoint.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from factories import dwelling_rows, write_csv

from audit import verify_bundle
from broker.access import Role
from broker.api._problems import PROBLEM
from broker.db import make_session_factory, session_scope
from broker.ingest import ingest_file
from broker.keys import load_keys
from broker.release import release
from tests.broker.api.conftest import ELSEWHERE, IN, OUT, SOON, TODAY, World, policy

U, V = Role.AUDITOR, Role.VISITATOR
UNKNOWN_DWELLING = "dw-000000000000"
UNKNOWN_HASH = "0" * 64


@pytest.fixture
def two_housing_orgs(world: World) -> World:
    """The site, with bo-oest (the auditor from elsewhere) releasing its own dwellings."""
    factory = make_session_factory(world.app.state.engine)
    ring = load_keys(world.settings)
    rows = dwelling_rows(6, first=31, department="Oestblok", phases=SOON)
    weekly = policy("albertslund-visitation-weekly")
    theirs = policy(
        "albertslund-visitation-weekly",
        id="bo-oest-weekly",
        discloser="bo-oest",
        recipient="hvidovre/visitation",
        scope=weekly.scope.model_copy(update={"departments": ("oestblok",)}),
    )
    with session_scope(factory) as session:
        ingest_file(
            session, write_csv(world.settings.home / "oest.csv", rows), org="bo-oest", now=TODAY
        )
    with session_scope(factory) as session:
        assert release(session, ring, theirs, run_at=TODAY, now=TODAY).release is not None
    return world


async def _pages(client: httpx.AsyncClient, world: World, condition: str, count: int) -> list[Any]:
    """The first ``count`` pages of one entry each (each read appends an entry of its own)."""
    seen: list[Any] = []
    after = -1
    for _ in range(count):
        params = {"after": after, "limit": 1}
        page = await client.get("/v1/log/entries", params=params, headers=world.auth(U, condition))
        assert page.status_code == 200
        seen += page.json()["entries"]
        after = page.json()["next_after"]
    return seen


def _mentions(entry: dict[str, Any], org: str) -> bool:
    return any(str(entry.get(key, "")).split("/")[0] == org for key in ("discloser", "recipient"))


@pytest.mark.anyio
async def test_an_auditor_pages_through_its_own_organisations_entries_only(
    two_housing_orgs: World,
) -> None:
    """bo-oest's auditor pages through bo-oest's entries and never one of bo-vest's."""
    world = two_housing_orgs
    async with world.client() as client:
        first = await client.get("/v1/log/entries", headers=world.auth(U, ELSEWHERE))
        paged = await _pages(client, world, ELSEWHERE, 3)
        vest = await client.get("/v1/log/entries", headers=world.auth(U, IN))
    listed = first.json()["entries"]
    assert [e["event"] for e in listed] == ["release"]
    assert listed[0]["discloser"] == "bo-oest"
    # Paging one by one meets the same entry, then bo-oest's own recorded reads.
    assert paged[0] == listed[0]
    assert [e["event"] for e in paged[1:]] == ["audit-read", "audit-read"]
    assert not any(_mentions(e, "bo-vest") for e in paged)
    # bo-vest's auditor sees its own releases (to both municipalities) and not bo-oest's.
    theirs = vest.json()["entries"]
    assert {e["recipient"] for e in theirs if e["event"] == "release"} == {
        "albertslund/visitation",
        "hvidovre/visitation",
    }
    assert not any(_mentions(e, "bo-oest") for e in theirs)


@pytest.mark.anyio
async def test_a_municipality_auditor_sees_what_it_received_not_other_municipalities(
    world: World,
) -> None:
    """Albertslund's auditor sees bo-vest's releases to Albertslund, none to Hvidovre."""
    async with world.client() as client:
        page = await client.get("/v1/log/entries", headers=world.auth(U, OUT))
    listed = page.json()["entries"]
    released = {"release", "contact-check"}
    assert {e["recipient"] for e in listed if e["event"] in released} == {
        "albertslund/visitation",
        "albertslund/bostoette",
    }
    assert not any(_mentions(e, "hvidovre") for e in listed)


@pytest.mark.anyio
async def test_dwelling_reports_and_policy_texts_of_another_organisation_are_not_found(
    two_housing_orgs: World,
) -> None:
    """bo-vest's dwelling and policy text answer bo-oest's auditor exactly as unknown ones."""
    world = two_housing_orgs
    dwelling = world.dwellings["blokland"][0]
    async with world.client() as client:
        own = await client.get(f"/v1/log/dwellings/{dwelling}", headers=world.auth(U, IN))
        hidden = await client.get(f"/v1/log/dwellings/{dwelling}", headers=world.auth(U, ELSEWHERE))
        unknown = await client.get(
            f"/v1/log/dwellings/{UNKNOWN_DWELLING}", headers=world.auth(U, ELSEWHERE)
        )
        text = f"/v1/log/policy-versions/{world.policy_hash}"
        readable = await client.get(text, headers=world.auth(U, IN))
        secret = await client.get(text, headers=world.auth(U, ELSEWHERE))
        nothing = await client.get(
            f"/v1/log/policy-versions/{UNKNOWN_HASH}", headers=world.auth(U, ELSEWHERE)
        )
        listed = await client.get("/v1/policies", headers=world.auth(U, ELSEWHERE))
        vest = await client.get("/v1/policies", headers=world.auth(U, IN))
        reads = await client.get(
            "/v1/log/entries", params={"event": "audit-read"}, headers=world.auth(U, ELSEWHERE)
        )
    assert own.status_code == 200
    assert own.json()
    assert readable.status_code == 200
    for refused, like in ((hidden, unknown), (secret, nothing)):
        assert refused.status_code == like.status_code == 404
        assert refused.headers["content-type"] == PROBLEM
        assert refused.content == like.content
    assert listed.json() == []
    assert len(vest.json()) == len(world.app.state.policies.active)
    # The refused reads are on record, without the reference of a dwelling not bo-oest's.
    dwelling_reads = [e for e in reads.json()["entries"] if e["query"] == "dwelling"]
    assert len(dwelling_reads) == 2
    assert not any("dwellings" in e for e in dwelling_reads)


@pytest.mark.anyio
async def test_a_dwelling_of_the_auditors_organisation_with_nothing_disclosed_is_an_empty_report(
    world: World,
) -> None:
    """bo-vest's auditor asking about its own undisclosed dwelling gets an empty report."""
    quiet = world.dwellings["andenblok"][0]
    async with world.client() as client:
        own = await client.get(f"/v1/log/dwellings/{quiet}", headers=world.auth(U, IN))
        other = await client.get(f"/v1/log/dwellings/{quiet}", headers=world.auth(U, OUT))
    assert own.status_code == 200
    assert own.json() == []
    assert other.status_code == 404


@pytest.mark.anyio
async def test_the_export_holds_another_organisations_entries_as_leaf_hashes_only(
    two_housing_orgs: World,
) -> None:
    """bo-oest's export shows bo-oest's entries; bo-vest's are leaf hashes; it verifies."""
    world = two_housing_orgs
    async with world.client() as client:
        exported = await client.get("/v1/log/export", headers=world.auth(U, ELSEWHERE))
    assert exported.status_code == 200
    lines = exported.text.splitlines()
    documents = [json.loads(line) for line in lines]
    shown = [d["entry"] for d in documents if d["type"] == "entry"]
    assert shown
    assert all(_mentions(e, "bo-oest") or e["event"] == "audit-read" for e in shown)
    assert not any("bo-vest" in json.dumps(e) for e in shown)
    assert b"bo-vest" not in exported.content
    assert documents[0]["scope"] == "bo-oest"
    # Offline, with only the public key: the bundle verifies as a whole.
    result = verify_bundle(lines, load_keys(world.settings).verifiers())
    assert result.leaves > result.entries > 0


@pytest.mark.anyio
async def test_a_party_of_the_broker_reads_the_checkpoint_and_others_do_not(world: World) -> None:
    """Albertslund and Hvidovre (a past release) read the checkpoint; Ballerup gets 404."""
    async with world.client() as client:
        albertslund = await client.get("/v1/log/checkpoint", headers=world.auth(V, IN))
        hvidovre = await client.get("/v1/log/checkpoint", headers=world.auth(V, OUT))
        ballerup = await client.get("/v1/log/checkpoint", headers=world.auth(V, ELSEWHERE))
        auditor = await client.get("/v1/log/checkpoint", headers=world.auth(U, ELSEWHERE))
        verify = await client.get("/v1/log/verify", headers=world.auth(U, ELSEWHERE))
        export = await client.get("/v1/log/export", headers=world.auth(U, ELSEWHERE))
    assert albertslund.status_code == hvidovre.status_code == 200
    assert albertslund.text == hvidovre.text
    for refused in (ballerup, auditor, verify, export):
        assert refused.status_code == 404
        assert refused.content == ballerup.content
    assert albertslund.text.split("\n")[0] not in ballerup.text


@pytest.mark.anyio
async def test_a_request_uses_the_keys_the_app_holds(world: World) -> None:
    """A route takes the log keys the app loaded at start; it does not read them from disk."""
    (world.settings.home / "keys" / "reference.key").write_text("not hex\n", encoding="ascii")
    reference = world.dwellings["blokland"][0]
    async with world.client() as client:
        found = await client.get(f"/v1/log/dwellings/{reference}", headers=world.auth(Role.AUDITOR))
    assert found.status_code == 200, found.text
    assert found.json()

"""Pure evaluation: deny by default, scope and window, objections, the five-dwelling floor."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import BASE, dwellings, policies

from broker.policy import DwellingFacts, PhaseFacts, Policy, evaluate, load_policy_file
from broker.policy._agreement import PHASE_FIELDS
from schemas import CATALOGUE, FieldClass

POLICIES = Path(__file__).resolve().parents[3] / "policies"
NOT_RELEASABLE = {f.name for f in CATALOGUE.fields if f.classification is not FieldClass.RELEASE}


def _weekly() -> Policy:
    loaded, _ = load_policy_file(POLICIES / "albertslund-visitation-weekly.yaml")
    assert loaded is not None
    return loaded.policy


def _dwelling(
    n: int,
    *,
    start: dt.date,
    objected: bool = False,
    department: str = "blokland",
    kind: str = "genhusning",
) -> DwellingFacts:
    return DwellingFacts(
        ref=f"dw-{n:012d}",
        department=department,
        affected=True,
        objected=objected,
        values={
            "vejnavn": "Prøvevej",
            "husnr": str(n),
            "etage": "st",
            "doer": "tv",
            "postnr": "2620",
            "postnrnavn": "Albertslund",
            "adresseid": None,
            "kommunekode": "0165",
            "afdeling": department,
            "disposition": "renoveres",
        },
        phases=(PhaseFacts(kind, start, start + dt.timedelta(days=90)),),
    )


def test_release_holds_named_fields_with_iso_weeks() -> None:
    """Records hold exactly the named fields; dates leave as ISO weeks."""
    plan = evaluate(
        _weekly(),
        [_dwelling(n, start=dt.date(2027, 3, 1)) for n in range(1, 7)],
        at=dt.date(2027, 2, 15),
    )
    assert plan.releases
    record = plan.dwellings[0]
    assert dict(record.values) == {
        "adresseid": None,
        "vejnavn": "Prøvevej",
        "husnr": "1",
        "etage": "st",
        "doer": "tv",
        "postnr": "2620",
        "postnrnavn": "Albertslund",
    }
    assert [dict(p) for p in record.phases] == [
        {"fase": "genhusning", "startdato": "2027-W09", "slutdato": "2027-W21"}
    ]
    assert {w.field for w in plan.withheld} >= NOT_RELEASABLE | {"kommunekode", "afdeling"}


def test_below_five_releases_nothing_and_says_why() -> None:
    """Four dwellings in scope release nothing; the plan says why."""
    plan = evaluate(
        _weekly(),
        [_dwelling(n, start=dt.date(2027, 3, 1)) for n in range(4)],
        at=dt.date(2027, 2, 15),
    )
    assert not plan.releases
    assert plan.dwellings == ()
    assert plan.refused == (
        "4 dwelling(s) would be released; the policy needs at least 5 (min_dwellings), "
        "so nothing is released"
    )


def test_objections_left_out_and_counted() -> None:
    """Dwellings whose residents objected are left out; the plan carries only the count."""
    facts = [_dwelling(n, start=dt.date(2027, 3, 1), objected=n < 2) for n in range(8)]
    plan = evaluate(_weekly(), facts, at=dt.date(2027, 2, 15))
    assert (plan.in_scope, plan.left_out, len(plan.dwellings)) == (8, 2, 6)
    assert all(r.ref not in {"dw-000000000000", "dw-000000000001"} for r in plan.dwellings)


def test_window_department_and_kind_select() -> None:
    """Out-of-window, other-department and other-kind dwellings are never released."""
    at = dt.date(2027, 2, 15)
    inside = [_dwelling(n, start=dt.date(2027, 3, 1)) for n in range(5)]
    outside = [
        _dwelling(10, start=dt.date(2027, 6, 1)),
        _dwelling(11, start=dt.date(2027, 3, 1), department="galgebakken"),
        _dwelling(12, start=dt.date(2027, 3, 1), kind="mangelgennemgang"),
    ]
    plan = evaluate(_weekly(), inside + outside, at=at)
    assert plan.window == (dt.date(2027, 2, 8), dt.date(2027, 4, 12))
    assert [r.ref for r in plan.dwellings] == [d.ref for d in inside]


@settings(max_examples=200, deadline=None)
@given(policies(), st.lists(dwellings(), max_size=25), st.integers(-100, 100))
def test_property_only_named_fields_and_scope(
    policy: Policy, facts: list[DwellingFacts], offset: int
) -> None:
    """Random policies and schedules: the named fields only, never a forbidden one, in scope."""
    at = BASE + dt.timedelta(days=offset)
    plan = evaluate(policy, facts, at=at)
    assert policy.scope is not None
    first, last = policy.scope.window.bounds(at)
    named = set(policy.fields)
    by_ref = {d.ref: d for d in facts}
    for record in plan.dwellings:
        assert set(record.values) == named - PHASE_FIELDS
        assert not set(record.values) & NOT_RELEASABLE
        for phase in record.phases:
            assert set(phase) == named & PHASE_FIELDS
        source = by_ref[record.ref]
        assert source.affected
        assert not source.objected
        assert source.department in policy.scope.departments
        assert any(
            p.kind in policy.scope.phases and p.start <= last and p.end >= first
            for p in source.phases
        )
    assert plan.releases == (len(plan.dwellings) >= policy.min_dwellings)


def test_address_reduced_to_adresseid(tmp_path: Path) -> None:
    """A policy naming only `adresseid` of the address releases the DAR id and nothing else."""
    text = (POLICIES / "albertslund-visitation-weekly.yaml").read_text(encoding="utf-8")
    for name in ("vejnavn", "husnr", "etage", "doer", "postnr", "postnrnavn"):
        text = text.replace(f"  {name}: keep\n", "")
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    loaded, problems = load_policy_file(path)
    assert problems == []
    assert loaded is not None
    facts = [
        DwellingFacts(
            ref=f"dw-{n}",
            department="blokland",
            affected=True,
            objected=False,
            values={
                "adresseid": f"0a3f5081-0a0b-4c1d-8e6f-00000000000{n}",
                "vejnavn": "Prøvevej",
                "husnr": str(n),
                "postnr": "2620",
                "postnrnavn": "Albertslund",
            },
            phases=(PhaseFacts("genhusning", dt.date(2027, 3, 1), dt.date(2027, 6, 30)),),
        )
        for n in range(5)
    ]
    plan = evaluate(loaded.policy, facts, at=dt.date(2027, 2, 22))
    assert [dict(r.values) for r in plan.dwellings] == [
        {"adresseid": f"0a3f5081-0a0b-4c1d-8e6f-00000000000{n}"} for n in range(5)
    ]
    assert {"vejnavn", "husnr", "postnr"} <= {w.field for w in plan.withheld}

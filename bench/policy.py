"""Benchmark: policy evaluation over a national-scale schedule.

Evaluates a policy over 600,000 dwelling-phases (75,000 dwellings x 8 phases)
and prints the time as a ratio to serialising the same records unchanged with
``json.dumps``, measured in the same run: the cost of deciding what may leave,
against the cost of merely writing everything out. Aim (issue 3): within 2x.
A missed aim is reported, not failed: this is a measurement.

    python bench/policy.py [--dwellings N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from _common import best_of, note

from broker.policy import DwellingFacts, PhaseFacts, Policy, evaluate, load_policy_file
from schemas import PhaseKind

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
AT = dt.date(2027, 2, 22)
KINDS = tuple(kind.value for kind in PhaseKind)
DEPARTMENTS = 250


def build(dwellings: int) -> list[DwellingFacts]:
    """Synthetic stored dwellings, eight phases each, spread over two years around AT."""
    facts = []
    for n in range(dwellings):
        department = f"afd-{n % DEPARTMENTS:03d}"
        first = AT + dt.timedelta(days=(n * 7) % 730 - 365)
        phases = tuple(
            PhaseFacts(
                kind, first + dt.timedelta(days=20 * i), first + dt.timedelta(days=20 * i + 9)
            )
            for i, kind in enumerate(KINDS)
        )
        facts.append(
            DwellingFacts(
                ref=f"dw-{n:012x}",
                department=department,
                affected=True,
                objected=n % 50 == 0,
                values={
                    "afdeling": department,
                    "adresseid": None,
                    "vejnavn": f"Demovej {n % 97}",
                    "husnr": str(1 + n % 120),
                    "etage": str(n % 5) if n % 5 else "st",
                    "doer": ("tv", "mf", "th")[n % 3],
                    "postnr": "2620",
                    "postnrnavn": "Albertslund",
                    "kommunekode": "0165",
                    "disposition": "renoveres",
                },
                phases=phases,
            )
        )
    return facts


def plain(facts: list[DwellingFacts]) -> list[dict[str, Any]]:
    """The same records unchanged, as JSON-ready data (built before timing)."""
    return [
        {
            **fact.values,
            "phases": [
                {"fase": p.kind, "startdato": p.start.isoformat(), "slutdato": p.end.isoformat()}
                for p in fact.phases
            ],
        }
        for fact in facts
    ]


def policies() -> tuple[Policy, Policy]:
    """The shipped weekly policy, and a variant whose scope covers every department and kind."""
    loaded, problems = load_policy_file(ROOT / "policies" / "albertslund-visitation-weekly.yaml")
    if loaded is None:
        raise SystemExit("\n".join(str(p) for p in problems))
    shipped = loaded.policy
    document = shipped.model_dump(mode="json", exclude_none=True)
    document["id"] = "bench-everything"
    document["scope"]["departments"] = [f"afd-{d:03d}" for d in range(DEPARTMENTS)]
    document["scope"]["phases"] = list(KINDS)
    document["scope"]["window"] = {"days_before": 366, "days_after": 731}
    return shipped, Policy.model_validate(document)


def release_json(policy: Policy, facts: list[DwellingFacts]) -> str:
    """Evaluate, then serialise the released records: what a release does."""
    plan = evaluate(policy, facts, at=AT)
    return json.dumps([{**r.values, "phases": [dict(p) for p in r.phases]} for r in plan.dwellings])


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dwellings", type=int, default=75_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    note(f"building {args.dwellings:,} dwellings x {len(KINDS)} phases")
    facts = build(args.dwellings)
    records = plain(facts)
    rows = args.dwellings * len(KINDS)
    _shipped, everything = policies()

    note("json.dumps baseline")
    baseline, _ = best_of(args.runs, lambda: json.dumps(records))
    print(f"dwelling-phases: {rows:,} ({args.dwellings:,} dwellings)")
    print(f"json.dumps baseline (records unchanged): {baseline:.2f} s  ({rows / baseline:,.0f}/s)")

    measurements: list[tuple[str, Callable[[], object], bool]] = [
        ("evaluate, scope covers everything", lambda: evaluate(everything, facts, at=AT), True),
        ("evaluate + json.dumps of the release", lambda: release_json(everything, facts), False),
    ]
    for label, action, aim in measurements:
        note(label)
        seconds, _ = best_of(args.runs, action)
        verdict = ""
        if aim:
            verdict = f"  (aim <= 2x: {'met' if seconds <= 2 * baseline else 'missed'})"
        print(
            f"{label}: {seconds:.2f} s  ({rows / seconds:,.0f}/s)  "
            f"ratio {seconds / baseline:.1f}x{verdict}"
        )
    plan = evaluate(everything, facts, at=AT)
    print(f"released {len(plan.dwellings):,} dwellings, left out {plan.left_out:,} (objections)")


if __name__ == "__main__":
    main()

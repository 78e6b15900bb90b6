"""Policy example cases: a small schedule in, the exact release expected out.

Each policy ``NAME.yaml`` has its cases beside it in ``NAME.case.yaml``. They are
what a DPO reads to see what an agreement does, and ``broker policy test`` runs
them so that no change to a policy or to the engine alters a release unnoticed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from broker.policy._evaluate import DwellingFacts, PhaseFacts, ReleasePlan, evaluate
from broker.policy._load import LoadedPolicy, PolicyProblem, load_policies

__all__ = [
    "CaseResult",
    "case_path",
    "check_policies",
    "missing_cases",
    "plan_outcome",
    "run_cases",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CasePhase(_Frozen):
    """A phase in a case's schedule."""

    kind: str
    start: dt.date
    end: dt.date


class CaseDwelling(_Frozen):
    """A dwelling in a case's schedule, as stored facts."""

    ref: str
    department: str = "blokland"
    affected: bool = True
    objected: bool = False
    values: dict[str, str | None]
    phases: tuple[CasePhase, ...] = ()


class Expected(_Frozen):
    """The exact outcome expected from a case."""

    in_scope: int = Field(ge=0)
    left_out: int = Field(ge=0)
    refused: str | None = None
    dwellings: tuple[dict[str, Any], ...] = ()


class Case(_Frozen):
    """One example: a run date, a schedule, the expected release."""

    name: str = Field(min_length=1)
    at: dt.date
    dwellings: tuple[CaseDwelling, ...] = ()
    expect: Expected


class CaseFile(_Frozen):
    """The cases of one policy."""

    policy: str
    cases: tuple[Case, ...] = Field(min_length=1)


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of running one policy's cases: the failures, empty when all pass."""

    path: Path
    cases: int
    failures: tuple[str, ...]


def case_path(policy_path: Path) -> Path:
    """Return where the cases of the policy at ``policy_path`` live."""
    return policy_path.with_name(policy_path.stem + ".case.yaml")


def plan_outcome(plan: ReleasePlan) -> dict[str, Any]:
    """Return a plan as the plain data a case file states."""
    return {
        "in_scope": plan.in_scope,
        "left_out": plan.left_out,
        "refused": plan.refused,
        "dwellings": [
            {"ref": r.ref, "values": dict(r.values), "phases": [dict(p) for p in r.phases]}
            for r in plan.dwellings
        ],
    }


def _facts(dwelling: CaseDwelling) -> DwellingFacts:
    return DwellingFacts(
        ref=dwelling.ref,
        department=dwelling.department,
        affected=dwelling.affected,
        objected=dwelling.objected,
        values=dwelling.values,
        phases=tuple(PhaseFacts(p.kind, p.start, p.end) for p in dwelling.phases),
    )


def _normal(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def run_cases(loaded: LoadedPolicy) -> CaseResult | PolicyProblem:
    """Run the cases beside a policy; return the result, or a problem with the case file."""
    path = case_path(loaded.path)
    if not path.is_file():
        return PolicyProblem(loaded.path, 1, "cases", f"no example case file {path.name}")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        cases = CaseFile.model_validate(document)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        return PolicyProblem(path, 1, "cases", f"not a valid case file ({type(exc).__name__})")
    if cases.policy != loaded.policy.id:
        return PolicyProblem(path, 1, "policy", f"names {cases.policy}, not {loaded.policy.id}")
    failures: list[str] = []
    for case in cases.cases:
        plan = evaluate(loaded.policy, [_facts(d) for d in case.dwellings], at=case.at)
        actual = plan_outcome(plan)
        expected = case.expect.model_dump(mode="json")
        failures.extend(
            f"{case.name}: {key}: expected {expected[key]!r}, got {actual[key]!r}"
            for key in ("in_scope", "left_out", "refused")
            if actual[key] != expected[key]
        )
        want = {d.get("ref"): _normal(d) for d in expected["dwellings"]}
        got = {d["ref"]: _normal(d) for d in actual["dwellings"]}
        failures.extend(
            f"{case.name}: dwelling {ref}: expected {want.get(ref, 'not released')}, "
            f"got {got.get(ref, 'not released')}"
            for ref in sorted(set(want) | set(got), key=str)
            if want.get(ref) != got.get(ref)
        )
    return CaseResult(path, len(cases.cases), tuple(failures))


def missing_cases(loaded: list[LoadedPolicy]) -> list[PolicyProblem]:
    """Return a problem for every policy without a valid case file beside it."""
    results = [run_cases(item) for item in loaded]
    return [result for result in results if isinstance(result, PolicyProblem)]


def check_policies(paths: Iterable[Path]) -> tuple[list[LoadedPolicy], list[PolicyProblem]]:
    """Load and lint the policies under ``paths`` and require each one's example cases."""
    loaded, problems = load_policies(paths)
    problems.extend(missing_cases(loaded))
    return loaded, problems

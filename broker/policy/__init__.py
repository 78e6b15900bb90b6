"""The policy engine: data-sharing agreements as declarative files, evaluated purely."""

from broker.policy._agreement import (
    MIN_DWELLINGS,
    Flow,
    LegalBasis,
    Mode,
    Outcome,
    Policy,
    Schedule,
    Scope,
    Transform,
    Window,
    duration_days,
    housing_orgs,
)
from broker.policy._cases import CaseResult, check_policies, run_cases
from broker.policy._diff import DwellingChange, PlanDiff, diff_plans
from broker.policy._evaluate import (
    DwellingFacts,
    PhaseFacts,
    ReleasedDwelling,
    ReleasePlan,
    Withheld,
    evaluate,
)
from broker.policy._load import LoadedPolicy, PolicyProblem, lint, load_policies, load_policy_file
from broker.policy._registry import PolicyRegistry

__all__ = [
    "MIN_DWELLINGS",
    "CaseResult",
    "DwellingChange",
    "DwellingFacts",
    "Flow",
    "LegalBasis",
    "LoadedPolicy",
    "Mode",
    "Outcome",
    "PhaseFacts",
    "PlanDiff",
    "Policy",
    "PolicyProblem",
    "PolicyRegistry",
    "ReleasePlan",
    "ReleasedDwelling",
    "Schedule",
    "Scope",
    "Transform",
    "Window",
    "Withheld",
    "check_policies",
    "diff_plans",
    "duration_days",
    "evaluate",
    "housing_orgs",
    "lint",
    "load_policies",
    "load_policy_file",
    "run_cases",
]

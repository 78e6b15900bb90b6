"""Policy diff: dwelling by dwelling, which fields a new version releases or withholds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from broker.policy import DwellingFacts, PhaseFacts, Policy, evaluate, load_policy_file
from broker.policy._diff import DwellingChange, diff_plans

POLICIES = Path(__file__).resolve().parents[3] / "policies"
AT = dt.date(2027, 2, 22)


def _policy(tmp_path: Path, *replacements: tuple[str, str]) -> Policy:
    text = (POLICIES / "albertslund-visitation-weekly.yaml").read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    loaded, problems = load_policy_file(path)
    assert problems == []
    assert loaded is not None
    return loaded.policy


def _facts(n: int, start: dt.date) -> DwellingFacts:
    return DwellingFacts(
        ref=f"dw-{n}",
        department="blokland",
        affected=True,
        objected=False,
        values={"vejnavn": "Prøvevej", "husnr": str(n), "kommunekode": "0165"},
        phases=(PhaseFacts("genhusning", start, start + dt.timedelta(days=60)),),
    )


def test_diff_names_fields_and_dwellings(tmp_path: Path) -> None:
    """Fields added, removed and re-transformed, and dwellings entering or leaving, are shown."""
    facts = [_facts(n, dt.date(2027, 3, 1)) for n in range(5)] + [_facts(9, dt.date(2027, 4, 5))]
    old = _policy(tmp_path)
    new = _policy(
        tmp_path,
        ("  etage: keep\n", "  kommunekode: keep\n"),
        ("  slutdato: iso-week", "  slutdato: month"),
        ("days_after: 56", "days_after: 30"),
    )
    diff = diff_plans(evaluate(old, facts, at=AT), evaluate(new, facts, at=AT))
    assert diff.fields_released == ("kommunekode",)
    assert diff.fields_withheld == ("etage",)
    assert diff.transforms_changed == (("slutdato", "iso-week", "month"),)
    assert diff.dwellings[0] == DwellingChange("dw-0", ("kommunekode",), ("etage",), ("slutdato",))
    assert diff.dwellings[-1].ref == "dw-9"  # outside the shorter window: nothing released now
    assert diff.dwellings[-1].released == ()
    assert "vejnavn" in diff.dwellings[-1].withheld
    assert len(diff.dwellings) == 6


def test_identical_versions_change_nothing(tmp_path: Path) -> None:
    """The same policy twice changes no dwelling's release."""
    facts = [_facts(n, dt.date(2027, 3, 1)) for n in range(6)]
    policy = _policy(tmp_path)
    diff = diff_plans(evaluate(policy, facts, at=AT), evaluate(policy, facts, at=AT))
    assert diff.dwellings == ()
    assert diff.fields_released == diff.fields_withheld == ()

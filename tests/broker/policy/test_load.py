"""Policy files: validity rules and lints, each reported as file:line: key: rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.policy import load_policies, load_policy_file

POLICIES = Path(__file__).resolve().parents[3] / "policies"
WEEKLY = (POLICIES / "albertslund-visitation-weekly.yaml").read_text(encoding="utf-8")


def _problems(tmp_path: Path, text: str, name: str = "p.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    _loaded, problems = load_policies([path])
    return [str(problem).removeprefix(f"{path}:") for problem in problems]


def test_shipped_policies_are_valid() -> None:
    """The example agreements in policies/ load and lint clean."""
    loaded, problems = load_policies([POLICIES])
    assert problems == []
    assert {item.policy.flow for item in loaded} == {
        "affected-dwellings",
        "contact-check",
        "contact-check-reply",
    }


@pytest.mark.parametrize(
    ("field", "rule"),
    [
        ("lejemaalsnr", "lejemaalsnr: classified internal in the catalogue: never released"),
        ("cpr", "cpr: personal data (drop in the catalogue): never released"),
        ("shoe_size", "shoe_size: not a field of the catalogue"),
    ],
)
def test_forbidden_fields(tmp_path: Path, field: str, rule: str) -> None:
    """Naming an internal, drop or unknown field makes the policy invalid."""
    text = WEEKLY.replace("  fase: keep\n", f"  fase: keep\n  {field}: keep\n")
    assert _problems(tmp_path, text) == [f"23: fields: {rule}"]


def test_min_dwellings_below_five(tmp_path: Path) -> None:
    """min_dwellings below the suppression threshold is invalid."""
    assert _problems(tmp_path, WEEKLY.replace("min_dwellings: 5", "min_dwellings: 2")) == [
        "38: min_dwellings: must be at least 5"
    ]


def test_unknown_key_rejected(tmp_path: Path) -> None:
    """Scope selects by department, phase and window only: other keys are refused."""
    text = WEEKLY.replace(
        "  departments: [blokland]\n", "  departments: [blokland]\n  lejemaalsnr: [x]\n"
    )
    assert _problems(tmp_path, text) == ["19: scope.lejemaalsnr: Extra inputs are not permitted"]


def test_date_transform_only_on_dates(tmp_path: Path) -> None:
    """A date coarsening on a non-date field is invalid."""
    text = WEEKLY.replace("  vejnavn: keep", "  vejnavn: iso-week")
    assert _problems(tmp_path, text) == ["23: fields: vejnavn: iso-week applies to dates only"]


def test_schedule_required_and_cron_checked(tmp_path: Path) -> None:
    """A scheduled flow needs a five-field cron expression with values in range."""
    assert _problems(tmp_path, WEEKLY.replace('"0 6 * * 1"', '"0 25 * * 1"')) == [
        "35: schedule.cron: a field is outside its range 0-23"
    ]
    assert _problems(tmp_path, WEEKLY.replace('"0 6 * * 1"', '"weekly"')) == [
        "35: schedule.cron: must have five fields: minute hour day-of-month month day-of-week"
    ]


def test_legal_basis_needs_both(tmp_path: Path) -> None:
    """Both the GDPR article and the national provision are required."""
    text = WEEKLY.replace('  national: "Serviceloven §§ 83 og 85"\n', "")
    assert _problems(tmp_path, text) == ["14: legal_basis.national: Field required"]


def test_reply_outcomes_closed(tmp_path: Path) -> None:
    """A reply policy may only name the two outcomes, and must include `received`."""
    reply = (POLICIES / "albertslund-contact-check-reply.yaml").read_text(encoding="utf-8")
    assert _problems(
        tmp_path, reply.replace("[received, resident-consents-to-contact]", "[known]")
    ) == ["17: outcomes.0: Input should be 'received' or 'resident-consents-to-contact'"]
    assert _problems(
        tmp_path,
        reply.replace("[received, resident-consents-to-contact]", "[resident-consents-to-contact]"),
    ) == ["17: outcomes: must include the automatic `received`"]


def test_lints(tmp_path: Path) -> None:
    """Duplicates, an empty window, missing or too long retention are reported."""
    (tmp_path / "a.yaml").write_text(WEEKLY, encoding="utf-8")
    second = WEEKLY.replace("id: albertslund-visitation-weekly", "id: second")
    second = second.replace("days_before: 7", "days_before: 0").replace(
        "days_after: 56", "days_after: 0"
    )
    (tmp_path / "b.yaml").write_text(
        second.replace("retention: P6M", "retention: P5Y"), encoding="utf-8"
    )
    (tmp_path / "c.yaml").write_text(
        WEEKLY.replace("albertslund/visitation", "ishoej/visitation").replace(
            "retention: P6M\n", ""
        ),
        encoding="utf-8",
    )
    _loaded, problems = load_policies([tmp_path])
    assert [str(p).removeprefix(f"{tmp_path}/") for p in problems] == [
        (
            "b.yaml:9: recipient: a second active affected-dwellings policy for "
            "albertslund/visitation (first: a.yaml)"
        ),
        (
            "b.yaml:20: scope.window: an empty window (0 days before and after) "
            "matches only the run day"
        ),
        "b.yaml:39: retention: longer than the catalogue's maximum P2Y",
        "c.yaml:1: retention: missing: say how long data is kept",
    ]


@pytest.mark.parametrize(
    ("cron", "fires"),
    [
        ('"0 6 30 2 *"', False),
        ('"0 6 31 4,6,9,11 *"', False),
        ('"0 6 29 2 *"', True),
        ('"0 6 31 * *"', True),
        ('"0 6 30 2 1"', True),
        ('"0 6 1-31/7 * *"', True),
    ],
)
def test_schedule_that_never_fires(tmp_path: Path, cron: str, fires: bool) -> None:
    """A cron day that no month has is reported; leap days and weekday rules are not."""
    problems = _problems(tmp_path, WEEKLY.replace('"0 6 * * 1"', cron))
    assert problems == ([] if fires else ["35: schedule.cron: never fires: no month has that day"])


def test_not_yaml(tmp_path: Path) -> None:
    """A file that is not YAML is reported with its line."""
    path = tmp_path / "p.yaml"
    path.write_text("id: x\nfields: [a\n", encoding="utf-8")
    loaded, problems = load_policy_file(path)
    assert loaded is None
    assert [p.key for p in problems] == ["file"]
    assert problems[0].rule == "not valid YAML"


def test_identity_is_content_hash(tmp_path: Path) -> None:
    """The identity changes with the content and not with comments or key order."""
    first, _ = load_policy_file(POLICIES / "albertslund-visitation-weekly.yaml")
    path = tmp_path / "p.yaml"
    path.write_text("# a comment\n" + WEEKLY, encoding="utf-8")
    same, _ = load_policy_file(path)
    path.write_text(WEEKLY.replace("days_after: 56", "days_after: 57"), encoding="utf-8")
    changed, _ = load_policy_file(path)
    assert first is not None
    assert same is not None
    assert changed is not None
    assert first.policy.content_hash == same.policy.content_hash
    assert first.policy.content_hash != changed.policy.content_hash


def test_readme_example_is_valid(tmp_path: Path) -> None:
    """The annotated policy in the README is a valid policy."""
    readme = (POLICIES.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("```yaml\nid: ") + len("```yaml\n")
    path = tmp_path / "readme.yaml"
    path.write_text(readme[start : readme.index("```", start)], encoding="utf-8")
    loaded, problems = load_policy_file(path)
    assert problems == []
    assert loaded is not None
    assert loaded.policy.fields["slutdato"] == "month"


CHECK = (POLICIES / "albertslund-contact-check.yaml").read_text(encoding="utf-8")
REPLY = (POLICIES / "albertslund-contact-check-reply.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            WEEKLY.replace('schedule:\n  cron: "0 6 * * 1"    # Mondays at 06:00\n', "").replace(
                "  timezone: Europe/Copenhagen\n", ""
            ),
            "1: schedule: required for affected-dwellings",
        ),
        (
            CHECK + 'schedule:\n  cron: "0 6 * * 1"\n',
            "36: schedule: a contact check is requested, never scheduled",
        ),
        (
            CHECK + "outcomes: [received]\n",
            "36: outcomes: only a contact-check-reply names outcomes",
        ),
        (
            REPLY + "fields:\n  vejnavn: keep\n",
            "18: fields: a contact-check-reply releases no dwelling fields",
        ),
        (
            WEEKLY.replace("timezone: Europe/Copenhagen", "timezone: Mars/Olympus"),
            "36: schedule.timezone: must be an IANA time zone such as Europe/Copenhagen",
        ),
        (
            WEEKLY.replace("retention: P6M", "retention: six months"),
            "39: retention: must be an ISO 8601 duration such as P1Y, P6M or P90D",
        ),
    ],
)
def test_flow_rules(tmp_path: Path, text: str, expected: str) -> None:
    """Each flow's rules are enforced with a message naming the key and the rule."""
    assert _problems(tmp_path, text) == [expected]

"""An upload's rules in Danish: every known rule is one the ingest really says."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.web._i18n import gettext_for
from broker.web._rules import _PATTERNS, _RULES, rule_text

ROOT = Path(__file__).resolve().parents[3]


def _source() -> str:
    files = [*ROOT.glob("broker/ingest/*.py"), *ROOT.glob("schemas/*.py")]
    return "\n".join(path.read_text(encoding="utf-8") for path in files)


def test_each_known_rule_is_written_in_the_ingest() -> None:
    """No rule here is stale: each static text is in the ingest's or the schemas' code."""
    source = _source()
    assert [rule for rule in _RULES if f'"{rule}"' not in source] == []


@pytest.mark.parametrize(
    ("rule", "danish"),
    [
        ("must be a postcode of 4 digits", "skal være et postnummer på 4 cifre"),
        (
            "looks like a CPR number: remove personal data",
            "ligner et CPR-nummer: fjern personoplysningerne",
        ),
        (
            "duplicate phase for this dwelling (first at row 6)",
            "fasen står to gange for boligen (første gang i række 6)",
        ),
        ("must be one of varsling, genhusning", "skal være en af varsling, genhusning"),
        ("a rule not known here", "a rule not known here"),
    ],
)
def test_a_rule_reads_in_danish(rule: str, danish: str) -> None:
    assert rule_text(rule, gettext_for("da")) == danish
    assert rule_text(rule, gettext_for("en")) == rule


def test_each_pattern_is_written_in_the_ingest() -> None:
    """Each pattern's fixed start is in the ingest's code, so the pattern can still match."""
    source = _source()
    starts = [pattern.pattern.split("(", 1)[0].replace("\\", "") for pattern, _ in _PATTERNS]
    assert [start for start in starts if start not in source] == []

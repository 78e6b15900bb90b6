"""The last line of defence recognises personal identifiers and leaves addresses alone."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas import looks_personal, scrub_personal


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("0101901234", "a CPR number"),
        ("010190-1234", "a CPR number"),
        ("cpr 010190 1234", "a CPR number"),
        ("bodil@example.org", "an e-mail address"),
        ("+45 12 34 56 78", "a phone number"),
        ("12345678", "a phone number"),
        ("tlf. 1234 5678", "a phone number"),
        ("004512345678", "a phone number"),
    ],
)
def test_personal_identifiers_recognised(text: str, kind: str) -> None:
    """CPR numbers, e-mail addresses and Danish phone numbers are recognised."""
    assert looks_personal(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "0412-0001-017",
        "2620",
        "0165",
        "Prøvevej 12A, 1. tv, 2620 Albertslund",
        "01-03-2027",
        "2027-03-01",
        "12A",
        "k2",
    ],
)
def test_address_values_not_flagged(text: str) -> None:
    """Tenancy numbers, codes, addresses and dates are not mistaken for personal data."""
    assert looks_personal(text) is None


@given(st.uuids())
def test_uuids_never_flagged(value: uuid.UUID) -> None:
    """A DAR address id (any UUID) never looks personal."""
    assert looks_personal(str(value)) is None


def test_scrub_redacts_every_kind() -> None:
    """Scrubbing replaces each identifier and keeps the rest."""
    text = "ring 12 34 56 78 eller bodil@example.org, cpr 010190-1234, Prøvevej 12"
    scrubbed = scrub_personal(text)
    assert "12 34 56 78" not in scrubbed
    assert "bodil@example.org" not in scrubbed
    assert "010190-1234" not in scrubbed
    assert "Prøvevej 12" in scrubbed

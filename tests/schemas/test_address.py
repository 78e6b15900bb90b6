"""Address fields: lenient input, canonical output, rules named in errors."""

from __future__ import annotations

import pytest

from schemas import (
    format_address,
    parse_adresseid,
    parse_doer,
    parse_etage,
    parse_etage_doer,
    parse_husnr,
    parse_kommunekode,
    parse_postnr,
    parse_postnrnavn,
    parse_vejnavn,
)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("12", "12"), ("12a", "12A"), (" 7 B ", "7B"), ("999", "999"), ("1", "1")],
)
def test_husnr_canonical(raw: str, canonical: str) -> None:
    """House numbers are stored as digits and an upper-case letter."""
    assert parse_husnr(raw) == canonical


@pytest.mark.parametrize("raw", ["0", "1000", "12AB", "", "Hansen", "-3"])
def test_husnr_rejected(raw: str) -> None:
    """A house number outside 1-999 with one optional letter is refused with the rule."""
    with pytest.raises(ValueError, match="must be a number 1-999 with an optional letter"):
        parse_husnr(raw)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("st", "st"),
        ("St.", "st"),
        ("stuen", "st"),
        ("kl", "kl"),
        ("k2", "k2"),
        ("1.", "1"),
        ("01", "1"),
        ("99", "99"),
        ("", None),
        ("  ", None),
    ],
)
def test_etage_canonical(raw: str, canonical: str | None) -> None:
    """Floors accept the common spellings and are stored in DAR form."""
    assert parse_etage(raw) == canonical


@pytest.mark.parametrize("raw", ["0", "100", "k10", "tag", "Jens"])
def test_etage_rejected(raw: str) -> None:
    """A floor outside st, kl, k2-k9 and 1-99 is refused with the rule."""
    with pytest.raises(ValueError, match="must be st, kl, k2-k9 or a floor number 1-99"):
        parse_etage(raw)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("tv", "tv"),
        ("TV", "tv"),
        ("t.v.", "tv"),
        ("th", "th"),
        ("mf", "mf"),
        ("12", "12"),
        ("a", "a"),
        ("3b", "3b"),
        ("1/2", "1/2"),
        ("", None),
    ],
)
def test_doer_canonical(raw: str, canonical: str | None) -> None:
    """Doors are stored in lower case, dots and spaces removed."""
    assert parse_doer(raw) == canonical


@pytest.mark.parametrize("raw", ["Ole", "Anna", "Hansen", "12345", "tv th"])
def test_name_typed_into_door_rejected(raw: str) -> None:
    """A name (or anything else) typed into the door column is not a door."""
    with pytest.raises(
        ValueError, match="must be tv, th, mf or a door number of up to 4 characters"
    ):
        parse_doer(raw)


@pytest.mark.parametrize(
    ("raw", "pair"),
    [
        ("1.tv", ("1", "tv")),
        ("sttv", ("st", "tv")),
        ("st. th", ("st", "th")),
        ("2 mf", ("2", "mf")),
        ("st", ("st", None)),
        ("3", ("3", None)),
        ("", (None, None)),
    ],
)
def test_combined_floor_and_door(raw: str, pair: tuple[str | None, str | None]) -> None:
    """Combined floor-and-door text is split into its canonical parts."""
    assert parse_etage_doer(raw) == pair


def test_codes_restore_leading_zero() -> None:
    """Spreadsheets drop leading zeros and add '.0'; codes are four digits again."""
    assert parse_kommunekode("165") == "0165"
    assert parse_kommunekode("165.0") == "0165"
    assert parse_postnr("2620") == "2620"
    with pytest.raises(ValueError, match="must be a municipality code of 4 digits"):
        parse_kommunekode("01650")


def test_names_and_ids() -> None:
    """Street and district names are squashed; the DAR id is a lower-case UUID."""
    assert parse_vejnavn("  Prøve   vej ") == "Prøve vej"
    assert parse_postnrnavn("Albertslund") == "Albertslund"
    assert parse_adresseid("0A3F5081-0A0B-4C1D-8E6F-1234567890AB") == (
        "0a3f5081-0a0b-4c1d-8e6f-1234567890ab"
    )
    with pytest.raises(ValueError, match="must be a DAR address UUID"):
        parse_adresseid("not-a-uuid")
    with pytest.raises(ValueError, match="must be a street name"):
        parse_vejnavn("x" * 41)
    with pytest.raises(ValueError, match="must be a postal district name"):
        parse_postnrnavn("2620")


def test_one_line_form() -> None:
    """The one-line form follows DAR: `Vejnavn 12A, 1. tv, 2620 Albertslund`."""
    assert format_address(
        "Vejnavn", "12A", etage="1", doer="tv", postnr="2620", postnrnavn="Albertslund"
    ) == ("Vejnavn 12A, 1. tv, 2620 Albertslund")
    assert format_address(
        "Vejnavn", "3", etage=None, doer=None, postnr="2620", postnrnavn="Albertslund"
    ) == ("Vejnavn 3, 2620 Albertslund")
    assert format_address(
        "Vejnavn", "3", etage="st", doer=None, postnr="2620", postnrnavn="Albertslund"
    ) == ("Vejnavn 3, st., 2620 Albertslund")


def test_errors_never_echo_the_value() -> None:
    """Error messages state the rule and never contain the offending text."""
    planted = "Bodil-Planted"
    for parse in (parse_husnr, parse_etage, parse_doer, parse_adresseid, parse_postnr):
        with pytest.raises(ValueError) as excinfo:  # noqa: PT011 - any rule; the text is the point
            parse(planted)
        assert planted.lower() not in str(excinfo.value).lower()

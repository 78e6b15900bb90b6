"""Finding a coordinator's dwelling by its address as typed: partial, any case, `aa` for `å`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from factories import export_row, write_csv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from broker.access import Principal, Role
from broker.contact._search import address_words, matches, query_words
from broker.contact.service import FoundDwelling, search_dwellings
from broker.errors import InputError
from broker.ingest import ingest_file

NOW = dt.datetime(2027, 2, 22, 9, tzinfo=dt.UTC)
COORDINATOR = Principal("tok-c", Role.COORDINATOR, "bo-vest", ("blokland",), "k@bo-vest.example")
# (street, number, floor, door) of blokland's dwellings, in an order no sort gives. Each
# has a floor and a door: the ingest refuses a blank Etage or Dør column today (a
# TypeError from the schema's constraints on an optional field).
BLOKLAND = [
    ("Demovej", "10", "st", "tv"),
    ("Demovej", "1A", "2", "tv"),
    ("Demovej", "1", "1", "th"),
    ("Demovej", "1", "st", "th"),
    ("Demovej", "1", "st", "tv"),
    ("Demovej", "1", "st", "mf"),
    ("Demovej", "2", "kl", "th"),
    ("Åhusvej", "3", "1", "tv"),
    ("Store Torv", "3", "1", "tv"),
    ("Zebravej", "4", "1", "12"),
    ("Ærtevej", "5", "1", "tv"),
    ("Åbyvej", "6", "1", "tv"),
    ("Aabenvej", "8", "1", "tv"),
    ("Aaby Strand", "9", "1", "tv"),
]


def _rows(org_department: str, addresses: list[tuple[str, str, str, str]], first: int) -> list:
    return [
        export_row(
            Afdeling=org_department,
            Lejemålsnr=f"0412-0001-{first + number:03d}",
            Vejnavn=street,
            Husnr=husnr,
            Etage=etage,
            Dør=doer,
        )
        for number, (street, husnr, etage, doer) in enumerate(addresses)
    ]


@pytest.fixture
def site(session: Session, tmp_path: Path) -> Session:
    """Blokland of bo-vest; the same address in andenblok (bo-vest) and in bo-oest's blokland."""
    ingest_file(
        session,
        write_csv(
            tmp_path / "bo-vest.csv",
            _rows("Blokland", BLOKLAND, 1)
            + _rows("Andenblok", [("Skjultvej", "1", "1", "tv")], 50),
        ),
        org="bo-vest",
        now=NOW,
    )
    ingest_file(
        session,
        write_csv(tmp_path / "bo-oest.csv", _rows("Blokland", [("Fremmedvej", "7", "1", "tv")], 1)),
        org="bo-oest",
        now=NOW,
    )
    return session


def _found(session: Session, query: str, *, limit: int = 100) -> list[str]:
    return [d.address for d in search_dwellings(session, COORDINATOR, query, limit=limit).dwellings]


def test_a_whole_address_as_typed_finds_the_one_dwelling(site: Session) -> None:
    """`Demovej 1A 2 tv` and its spellings with commas, full stops or glued floor and door."""
    for query in ("Demovej 1A 2 tv", "demovej 1a, 2. tv", "DEMOVEJ 1A 2.tv", "demovej 1a 2tv"):
        assert _found(site, query) == ["Demovej 1A, 2. tv, 2620 Albertslund"], query


def test_a_partial_address_finds_every_match_in_the_lists_order(site: Session) -> None:
    """`demovej 1` finds 1, 1A and 10 by number, floor up from the basement, door tv, mf, th."""
    assert _found(site, "demovej 1") == [
        "Demovej 1, st. tv, 2620 Albertslund",
        "Demovej 1, st. mf, 2620 Albertslund",
        "Demovej 1, st. th, 2620 Albertslund",
        "Demovej 1, 1. th, 2620 Albertslund",
        "Demovej 1A, 2. tv, 2620 Albertslund",
        "Demovej 10, st. tv, 2620 Albertslund",
    ]
    assert _found(site, "Demovej 1 st") == [
        "Demovej 1, st. tv, 2620 Albertslund",
        "Demovej 1, st. mf, 2620 Albertslund",
        "Demovej 1, st. th, 2620 Albertslund",
    ]
    assert _found(site, "demovej 1 stuen th") == ["Demovej 1, st. th, 2620 Albertslund"]
    assert len(_found(site, "Demov")) == 7


def test_streets_sort_in_the_danish_alphabet(site: Session) -> None:
    """One search finding several streets lists them as the weekly list does: å after z."""
    assert _found(site, "aab") == [
        "Aabenvej 8, 1. tv, 2620 Albertslund",
        "Aaby Strand 9, 1. tv, 2620 Albertslund",
        "Åbyvej 6, 1. tv, 2620 Albertslund",
    ]
    assert _found(site, "vej") == []  # no street's word starts so


def test_danish_letters_may_be_spelled_out(site: Session) -> None:
    """`aa` finds `å` and `ae` finds `æ`; the letters themselves in any case too."""
    for query in ("Åhusvej 3", "åhusvej", "AAHUSVEJ 3", "aahus", "Åh"):
        assert _found(site, query) == ["Åhusvej 3, 1. tv, 2620 Albertslund"], query
    assert _found(site, "aertevej") == ["Ærtevej 5, 1. tv, 2620 Albertslund"]


def test_a_search_may_start_at_any_word_of_the_street(site: Session) -> None:
    """`Torv 3` finds `Store Torv 3`; a word in the middle of a street's word does not."""
    assert _found(site, "torv 3") == ["Store Torv 3, 1. tv, 2620 Albertslund"]
    assert _found(site, "orv 3") == []


def test_dwellings_out_of_scope_are_not_found_exactly_like_unknown_ones(site: Session) -> None:
    """Another department's or organisation's dwelling is as absent as an address that is none."""
    outside = [search_dwellings(site, COORDINATOR, q, limit=10) for q in ("Skjultvej 1", "Fremm")]
    unknown = search_dwellings(site, COORDINATOR, "Ingenvej 1", limit=10)
    assert outside == [unknown, unknown]
    assert unknown.dwellings == ()
    assert not unknown.more
    other = Principal("tok-o", Role.COORDINATOR, "bo-oest", ("blokland",), "k@bo-oest.example")
    assert [d.address for d in search_dwellings(site, other, "fremmedvej", limit=5).dwellings] == [
        "Fremmedvej 7, 1. tv, 2620 Albertslund"
    ]


def test_only_a_coordinator_finds_anything(site: Session) -> None:
    """Other roles, even of the same organisation, find nothing."""
    for role in (Role.HOUSING, Role.VISITATOR, Role.AUDITOR, Role.ADMIN):
        caller = Principal("tok-x", role, "bo-vest", ("blokland",), None)
        assert search_dwellings(site, caller, "demovej", limit=10).dwellings == ()


def test_rows_hold_the_reference_and_address_only(site: Session) -> None:
    """A found dwelling is its dw- reference and its canonical address, nothing more."""
    (found,) = search_dwellings(site, COORDINATOR, "Zebravej 4", limit=10).dwellings
    assert isinstance(found, FoundDwelling)
    assert set(FoundDwelling.__dataclass_fields__) == {"ref", "address"}
    assert found.ref.startswith("dw-")
    assert found.address == "Zebravej 4, 1. 12, 2620 Albertslund"


def test_the_limit_bounds_the_answer_and_says_more_matched(site: Session) -> None:
    """At most `limit` rows, the first ones in order, and `more` when others matched."""
    limited = search_dwellings(site, COORDINATOR, "demovej", limit=2)
    assert [d.address for d in limited.dwellings] == _found(site, "demovej")[:2]
    assert limited.more
    assert not search_dwellings(site, COORDINATOR, "demovej", limit=7).more


@pytest.mark.parametrize(
    ("query", "limit", "field"),
    [
        ("D", 10, "q"),
        ("  D  ", 10, "q"),
        (" , . ", 10, "q"),
        ("Demovej 1 " + "991399-4711 " * 9, 10, "q"),
        ("Demovej", 0, "limit"),
        ("Demovej", 101, "limit"),
    ],
)
def test_a_query_out_of_bounds_is_refused_without_echo(
    site: Session, query: str, limit: int, field: str
) -> None:
    """Under 2 or over 100 characters, no word at all, or a limit outside 1-100: InputError."""
    with pytest.raises(InputError) as refused:
        search_dwellings(site, COORDINATOR, query, limit=limit)
    assert [p.column for p in refused.value.problems] == [field]
    said = str(refused.value) + " ".join(str(p) for p in refused.value.problems)
    assert "991399" not in said
    assert "Demovej" not in said


_LETTERS = st.sampled_from("abcdefghijklmnoprstuvyzæøå")
_STREETS = st.lists(st.text(_LETTERS, min_size=2, max_size=8), min_size=1, max_size=3).map(
    lambda words: " ".join(words).capitalize() + "vej"
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    street=_STREETS,
    husnr=st.sampled_from(["1", "7", "12A", "999"]),
    unit=st.sampled_from([("st", "tv"), ("1", "th"), ("kl", None), (None, "12"), (None, None)]),
    cut=st.integers(min_value=2, max_value=200),
    shout=st.booleans(),
)
def test_every_beginning_of_an_address_finds_it(
    street: str, husnr: str, unit: tuple[str | None, str | None], cut: int, *, shout: bool
) -> None:
    """Any beginning of the canonical address (2 characters on), in any case, matches it."""
    from schemas import format_address  # noqa: PLC0415 - used by this property only

    etage, doer = unit
    address = format_address(
        street, husnr, etage=etage, doer=doer, postnr="2620", postnrnavn="Albertslund"
    )
    typed = address[:cut].upper() if shout else address[:cut]
    words, in_street = address_words(address, street)
    if query_words(typed):
        assert matches(query_words(typed), words, in_street), typed
    assert not matches(query_words("x" + typed), words, in_street)

"""Schedule models: closed phase list, start <= end, one phase kind per dwelling."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from schemas import (
    DwellingSchedule,
    Phase,
    PhaseKind,
    ScheduleUpload,
    parse_disposition,
    parse_phase_kind,
)


def _dwelling(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "lejemaalsnr": "0412-0001-001",
        "vejnavn": "Prøvevej",
        "husnr": "12a",
        "etage": "1.",
        "doer": "TV",
        "postnr": "2620",
        "postnrnavn": "Albertslund",
        "kommunekode": "165",
        "phases": [{"kind": "genhusning", "start": "2027-03-01", "end": "2027-06-30"}],
    }
    values.update(overrides)
    return values


def test_dwelling_is_stored_canonically() -> None:
    """Lenient field values become canonical, and the one-line address follows DAR."""
    dwelling = DwellingSchedule.model_validate(_dwelling())
    assert dwelling.address == "Prøvevej 12A, 1. tv, 2620 Albertslund"
    assert dwelling.kommunekode == "0165"
    assert dwelling.disposition == "renoveres"


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("Genhusning", PhaseKind.GENHUSNING),
        ("Håndværkeradgang", PhaseKind.HAANDVAERKERADGANG),
        ("MANGELGENNEMGANG", PhaseKind.MANGELGENNEMGANG),
        (" varsling ", PhaseKind.VARSLING),
    ],
)
def test_phase_kind_lenient(raw: str, kind: PhaseKind) -> None:
    """Phase kinds accept Danish spelling and case."""
    assert parse_phase_kind(raw) is kind


def test_unknown_phase_kind_names_the_list() -> None:
    """An unknown phase is refused with the closed list of kinds."""
    with pytest.raises(ValueError, match="must be one of varsling, nedpakning, genhusning"):
        parse_phase_kind("flytning")


def test_disposition_lenient() -> None:
    """Dispositions accept Danish letters; blank means renoveres."""
    assert parse_disposition("Sammenlægges") == "sammenlaegges"
    assert parse_disposition("") == "renoveres"
    with pytest.raises(ValueError, match="must be one of renoveres"):
        parse_disposition("ombygges")


def test_phase_end_before_start_rejected() -> None:
    """A phase ending before it starts is refused."""
    with pytest.raises(ValidationError, match="end must not be before start"):
        Phase(kind=PhaseKind.GENHUSNING, start=dt.date(2027, 3, 2), end=dt.date(2027, 3, 1))


def test_one_phase_kind_per_dwelling() -> None:
    """The same phase kind twice for one dwelling is refused."""
    phase = {"kind": "genhusning", "start": "2027-03-01", "end": "2027-06-30"}
    with pytest.raises(ValidationError, match="each phase kind may appear once per dwelling"):
        DwellingSchedule.model_validate(_dwelling(phases=[phase, phase]))


def test_unknown_key_rejected_by_model() -> None:
    """The models forbid unknown keys: nothing personal can ride along."""
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        DwellingSchedule.model_validate(_dwelling(lejer_navn="DEMO-Hansen"))


def test_replacements_must_be_in_department() -> None:
    """A dwelling can only replace dwellings of the same department upload."""
    document = {
        "departments": [
            {"afdeling": "blokland", "dwellings": [_dwelling(erstatter=["0412-0001-999"])]}
        ]
    }
    with pytest.raises(ValidationError, match="must name tenancy numbers in the same department"):
        ScheduleUpload.model_validate(document)


@pytest.mark.parametrize("blank", ["", "  ", None])
def test_blank_floor_and_door_are_none(blank: str | None) -> None:
    """A blank Etage or Dør (both optional) is stored as none, not a crash on its constraint."""
    dwelling = DwellingSchedule.model_validate(_dwelling(etage=blank, doer=blank))
    assert dwelling.etage is None
    assert dwelling.doer is None


def test_floor_and_door_constraints_hold_on_a_value() -> None:
    """The floor's pattern and the door's length still refuse a bad value."""
    with pytest.raises(ValidationError):
        DwellingSchedule.model_validate(_dwelling(doer="12345"))
    with pytest.raises(ValidationError):
        DwellingSchedule.model_validate(_dwelling(etage="tagetage"))

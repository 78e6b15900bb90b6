"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

import datetime as dt

from hypothesis import strategies as st

from broker.policy import DwellingFacts, PhaseFacts, Policy
from schemas import ADDRESS_FIELDS, PhaseKind

DEPARTMENTS = ("blokland", "hyldespjaeldet", "galgebakken")
KINDS = tuple(kind.value for kind in PhaseKind)
RELEASABLE = (*ADDRESS_FIELDS, "afdeling", "disposition", "fase", "startdato", "slutdato")
BASE = dt.date(2027, 1, 4)


@st.composite
def phases(draw: st.DrawFn) -> PhaseFacts:
    start = BASE + dt.timedelta(days=draw(st.integers(-200, 200)))
    return PhaseFacts(
        draw(st.sampled_from(KINDS)), start, start + dt.timedelta(days=draw(st.integers(0, 120)))
    )


@st.composite
def dwellings(draw: st.DrawFn) -> DwellingFacts:
    department = draw(st.sampled_from(DEPARTMENTS))
    kinds = draw(st.lists(phases(), max_size=4, unique_by=lambda p: p.kind))
    return DwellingFacts(
        ref="dw-" + draw(st.text("0123456789abcdef", min_size=12, max_size=12)),
        department=department,
        affected=draw(st.booleans()),
        objected=draw(st.booleans()),
        values={
            "afdeling": department,
            "adresseid": None,
            "vejnavn": "Prøvevej",
            "husnr": "12",
            "etage": "1",
            "doer": "tv",
            "postnr": "2620",
            "postnrnavn": "Albertslund",
            "kommunekode": "0165",
            "disposition": "renoveres",
        },
        phases=tuple(kinds),
    )


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    names = draw(st.lists(st.sampled_from(RELEASABLE), min_size=1, unique=True))
    fields = {
        name: draw(st.sampled_from([None, "keep", "iso-week", "month"]))
        if name in {"startdato", "slutdato"}
        else draw(st.sampled_from([None, "keep"]))
        for name in names
    }
    return Policy.model_validate(
        {
            "id": "generated",
            "version": 1,
            "description": "generated",
            "discloser": "bo-vest",
            "recipient": "albertslund/visitation",
            "flow": "affected-dwellings",
            "purpose": "generated for a property test",
            "legal_basis": {"gdpr": "GDPR Art. 6(1)(f)", "national": "Serviceloven § 83"},
            "scope": {
                "departments": draw(
                    st.lists(st.sampled_from(DEPARTMENTS), min_size=1, unique=True)
                ),
                "phases": draw(st.lists(st.sampled_from(KINDS), min_size=1, unique=True)),
                "window": {
                    "days_before": draw(st.integers(0, 60)),
                    "days_after": draw(st.integers(0, 120)),
                },
            },
            "fields": fields,
            "schedule": {"cron": "0 6 * * 1"},
            "min_dwellings": draw(st.integers(5, 8)),
            "retention": "P6M",
        }
    )

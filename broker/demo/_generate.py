"""A synthetic ERP export for one housing department, for demos and tests.

Everything here is made up. The department ``blokland`` is fictional and so are
its streets (``Demovej``, ``Prøvestien``, ``Eksempelgården``); only the postcode
``2620``, the town ``Albertslund`` and the municipality code ``0165`` are real,
because the broker checks them. The personal columns hold values that are
plainly fake so that the broker's dropping of them can be exercised without any
real person's data:

* tenant names start with ``DEMO-``,
* CPR values start with ``9999`` (day 99, month 99), so none is date-valid,
* no telephone numbers at all,
* e-mail addresses only under ``example.org``,
* notes, special needs and rehousing addresses start with ``DEMO-``.

The department has exactly 306 dwellings (distinct tenancy numbers), grouped in
stairwells of 8 to 12 dwellings, one house number each. The stairwells are
rehoused one at a time, a new one every 14-17 days, so the whole plan, from the
first notice to the last defect inspection, fits in about two years from the
start date. Each dwelling gets one row per phase. The export also carries one
merge, one split, one demolition and one new build, and writes its dates and
floors in the mixed, lenient forms seen in real exports.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from audit import write_atomic

__all__ = [
    "DEMO_HEADINGS",
    "DEMO_NAMESPACE",
    "generate_demo_rows",
    "write_demo_csv",
]

DEMO_HEADINGS: tuple[str, ...] = (
    "Afdeling",
    "Lejemålsnr",
    "AdresseID",
    "Vejnavn",
    "Husnr",
    "Etage",
    "Dør",
    "Postnr",
    "By",
    "Kommunekode",
    "Fase",
    "Startdato",
    "Slutdato",
    "Disposition",
    "Erstatter",
    "Lejer navn",
    "CPR",
    "Telefon",
    "E-mail",
    "Bemærkning",
    "Særlige behov",
    "Genhusningsadresse",
)
"""The column headings of the demo export, in order."""

DEMO_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://example.org/renovation-broker/demo")
"""The namespace of the demo address ids: ``uuid5(DEMO_NAMESPACE, tenancy number)``."""

_DWELLINGS = 306
_STAIRWELLS = 28
_MIN_SIZE = 8
_MAX_SIZE = 12
_STREETS = ("Demovej", "Prøvestien", "Eksempelgården")
_FLOORS = ("st", "1", "2", "3")
_DEPARTMENT = "blokland"
_TENANCY_PREFIX = "0412"

# Days from the start date to the first stairwell's move-out: leaves room for the notice.
_FIRST_MOVE_OUT = 101
# Notice is given this many days before the stairwell's move-out day (at least 92 + 1).
_NOTICE_DAYS = (93, 100)
# A new stairwell moves out every this many days.
_STAGGER_DAYS = (14, 17)
# Days a stairwell stays rehoused (about 3-4 months).
_REHOUSED_DAYS = (95, 125)
# Dwellings in a stairwell move out and back over this many extra days.
_SPREAD_DAYS = 2

_SURNAMES = (
    "Hansen",
    "Jensen",
    "Nielsen",
    "Pedersen",
    "Andersen",
    "Christensen",
    "Larsen",
    "Sørensen",
    "Rasmussen",
    "Jørgensen",
    "Petersen",
    "Madsen",
    "Kristensen",
    "Olsen",
    "Thomsen",
)
_NOTES = (
    "DEMO-note: ring før besøg",
    "DEMO-note: nøgle hos ejendomskontoret",
    "DEMO-note: hund i boligen",
    "DEMO-note: ønsker brev frem for e-mail",
    "DEMO-note: hjemme efter kl. 15",
)
_NEEDS = (
    "DEMO-behov: rollator",
    "DEMO-behov: kørestol",
    "DEMO-behov: hjælp til nedpakning",
    "DEMO-behov: genhusning i stueetagen",
)

_RENOVATE = "renoveres"
_MERGE = "sammenlaegges"
_SPLIT = "opdeles"
_DEMOLISH = "nedrives"
_NEW_BUILD = "nybyggeri"


@dataclass(slots=True)
class _Dwelling:
    """One dwelling (one tenancy number) and what happens to it."""

    stairwell: int
    street: str
    house: str
    floor: str
    door: str
    disposition: str = _RENOVATE
    new: bool = False
    replaces: list[_Dwelling] = field(default_factory=list)
    tenancy: str = ""


@dataclass(frozen=True, slots=True)
class _Stairwell:
    """The shared dates of one stairwell."""

    notice: dt.date
    move_out: dt.date
    move_back: dt.date


def _sizes(rng: random.Random) -> list[int]:
    """Stairwell sizes between 8 and 12 that add up to the number of dwellings."""
    sizes = [rng.randint(_MIN_SIZE, _MAX_SIZE) for _ in range(_STAIRWELLS)]
    while sum(sizes) > _DWELLINGS:
        sizes[rng.choice([i for i, n in enumerate(sizes) if n > _MIN_SIZE])] -= 1
    while sum(sizes) < _DWELLINGS:
        sizes[rng.choice([i for i, n in enumerate(sizes) if n < _MAX_SIZE])] += 1
    return sizes


def _house_numbers(rng: random.Random) -> list[tuple[str, str]]:
    """One (street, house number) per stairwell, with an occasional letter (``12A``)."""
    per_street = [_STAIRWELLS // len(_STREETS)] * len(_STREETS)
    for i in range(_STAIRWELLS % len(_STREETS)):
        per_street[i] += 1
    houses: list[tuple[str, str]] = []
    for street, count in zip(_STREETS, per_street, strict=True):
        number = 0
        lettered = True  # so that a street's first house, and no two in a row, get a letter
        for _ in range(count):
            lettered = not lettered and rng.random() < 0.15  # noqa: PLR2004 - share with a letter
            if lettered:
                houses.append((street, f"{number}A"))
            else:
                number += rng.choice((1, 1, 2))
                houses.append((street, str(number)))
    return houses


def _layout(size: int, rng: random.Random) -> list[tuple[str, str]]:
    """The (floor, door) addresses of a stairwell: tv and th on every floor, some mf."""
    middle = set(rng.sample(_FLOORS, size - 2 * len(_FLOORS)))
    addresses: list[tuple[str, str]] = []
    for floor in _FLOORS:
        addresses.append((floor, "tv"))
        if floor in middle:
            addresses.append((floor, "mf"))
        addresses.append((floor, "th"))
    return addresses


def _dwellings(rng: random.Random) -> list[_Dwelling]:
    """All 306 dwellings, old and new, with merge, split, demolition and new build marked."""
    sizes = _sizes(rng)
    houses = _house_numbers(rng)
    by_stairwell = [
        [
            _Dwelling(stairwell=k, street=street, house=house, floor=floor, door=door)
            for floor, door in _layout(size, rng)
        ]
        for k, (size, (street, house)) in enumerate(zip(sizes, houses, strict=True))
    ]

    with_middle = [k for k, n in enumerate(sizes) if n > _MIN_SIZE]
    merge_k, split_k, new_k = rng.sample(with_middle, 3)
    demolish_k = rng.choice([k for k in range(_STAIRWELLS) if k not in {merge_k, split_k, new_k}])

    def middle_floor(k: int) -> str:
        return rng.choice([d.floor for d in by_stairwell[k] if d.door == "mf"])

    def on_floor(k: int, floor: str) -> dict[str, _Dwelling]:
        return {d.door: d for d in by_stairwell[k] if d.floor == floor}

    # Merge: tv and th of one floor become one dwelling, addressed mf.
    floor = middle_floor(merge_k)
    doors = on_floor(merge_k, floor)
    doors["tv"].disposition = doors["th"].disposition = _MERGE
    doors["mf"].disposition = _MERGE
    doors["mf"].new = True
    doors["mf"].replaces = [doors["tv"], doors["th"]]

    # Split: one large mf dwelling becomes two, addressed tv and th.
    floor = middle_floor(split_k)
    doors = on_floor(split_k, floor)
    doors["mf"].disposition = _SPLIT
    for door in ("tv", "th"):
        doors[door].disposition = _SPLIT
        doors[door].new = True
        doors[door].replaces = [doors["mf"]]

    # New build: an mf dwelling that did not exist before (a former common room).
    doors = on_floor(new_k, middle_floor(new_k))
    doors["mf"].disposition = _NEW_BUILD
    doors["mf"].new = True

    # Demolition: one dwelling on the ground floor gives way to a new entrance.
    rng.choice(list(on_floor(demolish_k, "st").values())).disposition = _DEMOLISH

    dwellings: list[_Dwelling] = []
    for k, stairwell in enumerate(by_stairwell):
        ordered = [d for d in stairwell if not d.new] + [d for d in stairwell if d.new]
        for unit, dwelling in enumerate(ordered, start=1):
            dwelling.tenancy = f"{_TENANCY_PREFIX}-{k + 1:04d}-{unit:03d}"
        dwellings.extend(ordered)
    return dwellings


def _stairwells(start: dt.date, rng: random.Random) -> list[_Stairwell]:
    """The notice, move-out and move-back days of each stairwell, one after another."""
    plan: list[_Stairwell] = []
    move_out = start + dt.timedelta(days=_FIRST_MOVE_OUT)
    for k in range(_STAIRWELLS):
        if k > 0:
            move_out += dt.timedelta(days=rng.randint(*_STAGGER_DAYS))
        plan.append(
            _Stairwell(
                notice=move_out - dt.timedelta(days=rng.randint(*_NOTICE_DAYS)),
                move_out=move_out,
                move_back=move_out + dt.timedelta(days=rng.randint(*_REHOUSED_DAYS)),
            )
        )
    return plan


def _phases(
    dwelling: _Dwelling, stairwell: _Stairwell, rng: random.Random
) -> list[tuple[str, dt.date, dt.date]]:
    """The (phase, start, end) rows of one dwelling, in date order."""

    def days(n: int) -> dt.timedelta:
        return dt.timedelta(days=n)

    phases: list[tuple[str, dt.date, dt.date]] = []
    leaves = dwelling.disposition == _DEMOLISH or (
        not dwelling.new and dwelling.disposition in {_MERGE, _SPLIT}
    )
    moves_in = dwelling.new
    out = stairwell.move_out + days(rng.randint(0, _SPREAD_DAYS))
    back = stairwell.move_back + days(rng.randint(0, _SPREAD_DAYS))

    if not moves_in:
        phases.append(("varsling", stairwell.notice, stairwell.notice))
        if not leaves and rng.random() < 0.35:  # noqa: PLR2004 - share of dwellings
            visit = stairwell.notice + days(rng.randint(14, 40))
            phases.append(("haandvaerkeradgang", visit, visit + days(rng.randint(0, 2))))
        phases.append(("nedpakning", out - days(rng.randint(2, 4)), out - days(1)))
        phases.append(("genhusning", out, back - days(1)))
    if not leaves:
        home_end = back + days(rng.randint(0, 1))
        phases.append(("hjemkomst", back, home_end))
        if dwelling.disposition != _NEW_BUILD:
            unpack = home_end + days(1)
            phases.append(("udpakning", unpack, unpack + days(rng.randint(1, 3))))
        phases.append(("genetablering", back + days(1), back + days(rng.randint(5, 14))))
        inspection = back + days(rng.randint(14, 28))
        phases.append(("mangelgennemgang", inspection, inspection))
    return phases


def _date_writer(rng: random.Random) -> str:
    """A date format: mostly ``dd-mm-yyyy``, some ``dd.mm.yyyy``, some ISO."""
    return rng.choices(("%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"), weights=(75, 15, 10))[0]


def _floor_text(floor: str, rng: random.Random) -> str:
    """A floor as typed by hand: ``st``, ``1`` or ``1.``."""
    if floor == "st" or rng.random() >= 0.3:  # noqa: PLR2004 - share with a dot
        return floor
    return floor + "."


def _door_text(door: str, rng: random.Random) -> str:
    """A door as typed by hand: mostly lower case, sometimes ``TV``."""
    return door.upper() if rng.random() < 0.2 else door  # noqa: PLR2004 - share in capitals


def generate_demo_rows(
    *, start: dt.date, seed: int = 2620, revised: bool = False
) -> list[dict[str, str]]:
    """Build the rows of a synthetic ERP export for the demo department ``blokland``.

    Args:
        start: The day the plan starts; the first notice is given shortly after it.
        seed: Seed for the random choices; the same start and seed give the same rows.
        revised: Next week's export instead: the first stairwell's phases a week later,
            and the last dwelling left out (what the rehousing pages' preview shows).

    Returns:
        One row per dwelling and phase, keyed by ``DEMO_HEADINGS``, all values strings.
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not a secret
    dwellings = _dwellings(rng)
    plan = _stairwells(start, rng)

    rows: list[dict[str, str]] = []
    for serial, dwelling in enumerate(dwellings, start=1):
        if revised and serial == len(dwellings):
            break
        stairwell = plan[dwelling.stairwell]
        shift = dt.timedelta(weeks=1 if revised and dwelling.stairwell == 0 else 0)
        rehoused = not dwelling.new
        needs = rng.choice(_NEEDS) if rng.random() < 0.25 else ""  # noqa: PLR2004
        person = {
            "Lejer navn": f"DEMO-{rng.choice(_SURNAMES)}-{serial:03d}",
            "CPR": f"9999{rng.randint(0, 99):02d}-{rng.randint(0, 9999):04d}",
            "Telefon": "",
            "E-mail": f"demo.{serial:03d}@example.org",
            "Bemærkning": rng.choice(_NOTES) if rng.random() < 0.7 else "",  # noqa: PLR2004
            "Særlige behov": needs,
            "Genhusningsadresse": (
                f"DEMO-Genhusvej {rng.randint(1, 60)}, 2620 Albertslund" if rehoused else ""
            ),
        }
        base = {
            "Afdeling": _DEPARTMENT,
            "Lejemålsnr": dwelling.tenancy,
            "AdresseID": str(uuid.uuid5(DEMO_NAMESPACE, dwelling.tenancy)),
            "Vejnavn": dwelling.street,
            "Husnr": dwelling.house,
            "Etage": _floor_text(dwelling.floor, rng),
            "Dør": _door_text(dwelling.door, rng),
            "Postnr": "2620",
            "By": "Albertslund",
            "Kommunekode": "0165",
            "Disposition": dwelling.disposition,
            "Erstatter": " ".join(old.tenancy for old in dwelling.replaces),
        }
        for phase, begin, end in _phases(dwelling, stairwell, rng):
            written = _date_writer(rng)
            row = {
                **base,
                **person,
                "Fase": phase,
                "Startdato": (begin + shift).strftime(written),
                "Slutdato": (end + shift).strftime(written),
            }
            rows.append({heading: row[heading] for heading in DEMO_HEADINGS})
    return rows


def write_demo_csv(path: Path, *, start: dt.date, seed: int = 2620, revised: bool = False) -> int:
    """Write the demo export as Danish Excel does: UTF-8 with BOM, ``;``, CRLF.

    The file replaces ``path`` atomically and durably (``audit.write_atomic``), so a
    reader never sees half a file.

    Args:
        path: Where to write the CSV file; its directory must exist.
        start: The day the plan starts (see ``generate_demo_rows``).
        seed: Seed for the random choices.
        revised: Write next week's export (see ``generate_demo_rows``).

    Returns:
        The number of data rows written (the header row not counted).
    """
    rows = generate_demo_rows(start=start, seed=seed, revised=revised)
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=DEMO_HEADINGS, delimiter=";")
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, text.getvalue().encode("utf-8-sig"))
    return len(rows)

"""The field catalogue: every source field the broker knows, and what it may do with it.

``release``  a policy may name it; it is stored.
``internal`` stored to match uploads to each other; never released.
``drop``     personal or case data; never stored, not even for a moment.

A column the catalogue does not know is treated as ``drop``.
"""

from __future__ import annotations

import enum
import re

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "CATALOGUE",
    "CatalogueField",
    "FieldCatalogue",
    "FieldClass",
    "heading_key",
]


class FieldClass(enum.StrEnum):
    """How the broker treats a source field."""

    RELEASE = "release"
    INTERNAL = "internal"
    DROP = "drop"


class CatalogueField(BaseModel):
    """One known source field: its name, class, reason and the ERP headings that carry it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z_]*$")
    classification: FieldClass
    level: str = Field(pattern=r"^(department|dwelling|phase|person)$")
    description: str
    headings: tuple[str, ...] = Field(min_length=1)


class FieldCatalogue(BaseModel):
    """All known source fields, and the longest retention any policy may set."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_retention: str = Field(
        description="ISO 8601 duration: no policy may keep released data longer"
    )
    fields: tuple[CatalogueField, ...]

    def get(self, name: str) -> CatalogueField | None:
        """Return the field called ``name``, or ``None``."""
        for field in self.fields:
            if field.name == name:
                return field
        return None

    def by_heading(self) -> dict[str, CatalogueField]:
        """Return every known heading, normalised by :func:`heading_key`, to its field."""
        return {heading_key(h): field for field in self.fields for h in field.headings}

    def known_heading(self, heading: str) -> str | None:
        """Return the catalogue's spelling of ``heading`` if it is a known heading, else ``None``.

        Matching is by :func:`heading_key`, so ``LEJEMAALSNR`` gives ``Lejemålsnr``. Only this
        spelling of a heading is ever shown or stored: the text of an unknown heading may be data.
        """
        key = heading_key(heading)
        for field in self.fields:
            for known in field.headings:
                if heading_key(known) == key:
                    return known
        return None


_FOLD = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa"})
_NOT_ALNUM = re.compile(r"[^a-z0-9]")


def heading_key(heading: str) -> str:
    """Return a heading folded for matching: lower case, æøå spelled out, only letters and digits.

    ``Lejemålsnr``, ``LEJEMAALSNR`` and ``Lejemaals-nr.`` all give ``lejemaalsnr``.
    """
    return _NOT_ALNUM.sub("", heading.strip().lower().translate(_FOLD))


def _field(
    name: str, classification: FieldClass, level: str, description: str, *headings: str
) -> CatalogueField:
    return CatalogueField(
        name=name,
        classification=classification,
        level=level,
        description=description,
        headings=headings,
    )


_R, _I, _D = FieldClass.RELEASE, FieldClass.INTERNAL, FieldClass.DROP

CATALOGUE = FieldCatalogue(
    max_retention="P2Y",
    fields=(
        _field("afdeling", _R, "department", "housing department (afdeling) code", "Afdeling"),
        _field("adresseid", _R, "dwelling", "DAR address UUID", "AdresseID", "DAR-id"),
        _field("vejnavn", _R, "dwelling", "street name", "Vejnavn", "Vej"),
        _field("husnr", _R, "dwelling", "house number with optional letter", "Husnr"),
        _field("etage", _R, "dwelling", "floor: st, kl, k2-k9, 1-99", "Etage"),
        _field("doer", _R, "dwelling", "door: tv, th, mf or a door number", "Dør", "Side/dør"),
        _field("postnr", _R, "dwelling", "postcode", "Postnr", "Postnummer"),
        _field("postnrnavn", _R, "dwelling", "postal district", "By", "Postnrnavn"),
        _field("kommunekode", _R, "dwelling", "municipality code", "Kommunekode"),
        _field(
            "disposition",
            _R,
            "dwelling",
            "what happens to the unit: renoveres, sammenlaegges, opdeles, nedrives, nybyggeri",
            "Disposition",
        ),
        _field("fase", _R, "phase", "renovation phase kind", "Fase"),
        _field("startdato", _R, "phase", "first day of the phase", "Startdato", "Start"),
        _field("slutdato", _R, "phase", "last day of the phase", "Slutdato", "Slut"),
        _field(
            "lejemaalsnr",
            _I,
            "dwelling",
            "tenancy number: matches one upload to the next; identifies a tenancy, so never"
            " released",
            "Lejemålsnr",
            "Lejenr",
        ),
        _field(
            "erstatter",
            _I,
            "dwelling",
            "tenancy numbers this dwelling replaces (merge, split, new build)",
            "Erstatter",
        ),
        _field("lejer_navn", _D, "person", "tenant's name", "Lejer navn", "Lejer", "Navn"),
        _field("cpr", _D, "person", "CPR number", "CPR", "CPR-nr", "Personnummer"),
        _field("telefon", _D, "person", "phone number", "Telefon", "Tlf", "Mobil"),
        _field("email", _D, "person", "e-mail address", "E-mail", "Mail"),
        _field("bemaerkning", _D, "person", "free-text case note", "Bemærkning", "Note"),
        _field(
            "saerlige_behov",
            _D,
            "person",
            "special needs: may be health data (GDPR Art. 9)",
            "Særlige behov",
            "Behov",
        ),
        _field(
            "genhusningsadresse",
            _D,
            "person",
            "temporary rehousing address: tells where a household lives now",
            "Genhusningsadresse",
            "Genhusning adresse",
        ),
        _field(
            "husstand",
            _D,
            "person",
            "household composition",
            "Husstand",
            "Antal beboere",
            "Husstandsstørrelse",
        ),
        _field("oekonomi", _D, "person", "economy, rent arrears", "Restance", "Økonomi"),
    ),
)

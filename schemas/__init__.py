"""The data contract of the renovation broker.

What comes in (the renovation schedule), the field catalogue that classifies
every source field, and the address rules. Imports pydantic only.
"""

from schemas._address import (
    ADDRESS_FIELDS,
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
from schemas._catalogue import CATALOGUE, CatalogueField, FieldCatalogue, FieldClass, heading_key
from schemas._personal import looks_personal, scrub_personal
from schemas._schedule import (
    DepartmentCode,
    DepartmentSchedule,
    Disposition,
    DwellingSchedule,
    Phase,
    PhaseKind,
    ScheduleUpload,
    parse_department_code,
    parse_disposition,
    parse_lejemaalsnr,
    parse_phase_kind,
)

__all__ = [
    "ADDRESS_FIELDS",
    "CATALOGUE",
    "CatalogueField",
    "DepartmentCode",
    "DepartmentSchedule",
    "Disposition",
    "DwellingSchedule",
    "FieldCatalogue",
    "FieldClass",
    "Phase",
    "PhaseKind",
    "ScheduleUpload",
    "format_address",
    "heading_key",
    "looks_personal",
    "parse_adresseid",
    "parse_department_code",
    "parse_disposition",
    "parse_doer",
    "parse_etage",
    "parse_etage_doer",
    "parse_husnr",
    "parse_kommunekode",
    "parse_lejemaalsnr",
    "parse_phase_kind",
    "parse_postnr",
    "parse_postnrnavn",
    "parse_vejnavn",
    "scrub_personal",
]

"""The renovation schedule as stored: departments, dwellings, phases and uploads."""

from broker.renovation.models import (
    DWELLING_REF,
    Department,
    Dwelling,
    DwellingReplacement,
    Objection,
    Phase,
    Upload,
)

__all__ = [
    "DWELLING_REF",
    "Department",
    "Dwelling",
    "DwellingReplacement",
    "Objection",
    "Phase",
    "Upload",
]

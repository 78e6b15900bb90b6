"""The renovation schedule as stored: departments, dwellings, phases and uploads."""

from broker.schedule.models import (
    Department,
    Dwelling,
    DwellingReplacement,
    Objection,
    Phase,
    Upload,
)

__all__ = ["Department", "Dwelling", "DwellingReplacement", "Objection", "Phase", "Upload"]

"""The record of processing (GDPR Art. 30(1)) of each controller, from its agreements in force."""

from broker.records.service import (
    FIDES_CATEGORIES,
    Activity,
    DataCategory,
    Measure,
    Record,
    fideslang_system,
    record_of_processing,
)

__all__ = [
    "FIDES_CATEGORIES",
    "Activity",
    "DataCategory",
    "Measure",
    "Record",
    "fideslang_system",
    "record_of_processing",
]

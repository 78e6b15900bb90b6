"""The broker's side of the disclosure log: recording, review, verification, purge."""

from broker.disclosure.service import (
    Disclosure,
    EntryFilter,
    audit_read,
    dwelling_disclosures,
    entries,
    objection_changed,
    policy_facts,
    policy_registered,
    purge,
    record,
    rfc3339,
    verify,
    witness_cosigners,
)

__all__ = [
    "Disclosure",
    "EntryFilter",
    "audit_read",
    "dwelling_disclosures",
    "entries",
    "objection_changed",
    "policy_facts",
    "policy_registered",
    "purge",
    "record",
    "rfc3339",
    "verify",
    "witness_cosigners",
]

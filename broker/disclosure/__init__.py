"""The broker's side of the disclosure log: recording, review, verification, purge."""

from broker.disclosure._orgs import index_orgs, is_party, party_of
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
    readable_seqs,
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
    "index_orgs",
    "is_party",
    "objection_changed",
    "party_of",
    "policy_facts",
    "policy_registered",
    "purge",
    "readable_seqs",
    "record",
    "rfc3339",
    "verify",
    "witness_cosigners",
]

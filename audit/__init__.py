"""The disclosure log: a tamper-evident transparency log of every release.

Imports neither ``broker`` nor ``schemas``, so an auditor can install it alone.
"""

from audit._entry import (
    ENTRY_VERSION,
    EVENTS,
    EntryError,
    canonical_entry,
    commitment,
    dwelling_reference,
    new_salt,
    verify_commitment,
)
from audit._merkle import (
    HASH_SIZE,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_from_inclusion,
    tree_root,
    verify_consistency,
    verify_inclusion,
)
from audit._note import (
    Checkpoint,
    NoteError,
    Verifier,
    add_signature,
    format_checkpoint,
    open_note,
    parse_checkpoint,
    parse_verifier_key,
    sign_note,
    verifier_key,
)

__all__ = [
    "ENTRY_VERSION",
    "EVENTS",
    "HASH_SIZE",
    "Checkpoint",
    "EntryError",
    "NoteError",
    "ProofError",
    "Verifier",
    "add_signature",
    "canonical_entry",
    "commitment",
    "consistency_proof",
    "dwelling_reference",
    "format_checkpoint",
    "inclusion_proof",
    "leaf_hash",
    "new_salt",
    "node_hash",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "root_from_inclusion",
    "sign_note",
    "tree_root",
    "verifier_key",
    "verify_commitment",
    "verify_consistency",
    "verify_inclusion",
]

"""The disclosure log: a tamper-evident transparency log of every release.

Imports neither ``broker`` nor ``schemas``, so an auditor can install it alone.
"""

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
    "HASH_SIZE",
    "Checkpoint",
    "NoteError",
    "ProofError",
    "Verifier",
    "add_signature",
    "consistency_proof",
    "format_checkpoint",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_note",
    "parse_checkpoint",
    "parse_verifier_key",
    "root_from_inclusion",
    "sign_note",
    "tree_root",
    "verifier_key",
    "verify_consistency",
    "verify_inclusion",
]

"""The dwellings of an entry as one root: a Merkle tree over their sorted keyed references.

An entry that listed every keyed reference of a national release would hold 600,000
of them (some 40 MB). A release entry commits to them instead: ``dwellings_root`` is
the RFC 6962 tree hash over the sorted, distinct references (each leaf the
reference's ASCII bytes, hashed as a log leaf is) and ``dwellings_count`` says how
many there are. Whoever holds the references (the broker keeps them in its
per-dwelling index) proves that one is among them with an inclusion proof of
O(log n) hashes, which anyone checks against the signed entry alone.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from audit._merkle import ProofError, inclusion_proof, leaf_hash, tree_root, verify_inclusion

__all__ = [
    "PROOF_FORMAT",
    "ReferenceProof",
    "check_proof_document",
    "proof_document",
    "reference_proof",
    "references_root",
    "verify_reference",
]

PROOF_FORMAT = "renovation-broker dwelling proof v1"
"""The ``format`` of a proof document: one reference under one entry's ``dwellings_root``."""


@dataclass(frozen=True, slots=True)
class ReferenceProof:
    """Where a reference sits among an entry's ``count`` references, and the path to the root."""

    index: int
    count: int
    path: tuple[str, ...]
    """The inclusion proof's hashes, hex, leaf to root."""


def _leaves(references: Sequence[str]) -> list[bytes]:
    if any(a >= b for a, b in itertools.pairwise(references)):
        raise ValueError("the references must be sorted and distinct")
    return [leaf_hash(reference.encode("ascii")) for reference in references]


def references_root(references: Sequence[str]) -> str:
    """Return the hex root over ``references`` (sorted and distinct; ASCII).

    Raises:
        ValueError: they are not sorted and distinct, or not ASCII.
    """
    return tree_root(_leaves(references)).hex()


def reference_proof(references: Sequence[str], reference: str) -> ReferenceProof:
    """Return the proof that ``reference`` is among ``references`` (sorted and distinct).

    Raises:
        ValueError: it is not among them, or they are not sorted and distinct.
    """
    leaves = _leaves(references)
    try:
        index = list(references).index(reference)
    except ValueError:
        raise ValueError("the reference is not among the entry's dwellings") from None
    path = tuple(node.hex() for node in inclusion_proof(leaves, index))
    return ReferenceProof(index, len(leaves), path)


def verify_reference(reference: str, proof: ReferenceProof, root: str, count: int) -> bool:
    """Whether ``proof`` shows ``reference`` among the ``count`` references under ``root``."""
    if proof.count != count:
        return False
    try:
        path = [bytes.fromhex(node) for node in proof.path]
        leaf = leaf_hash(reference.encode("ascii"))
        verify_inclusion(proof.index, proof.count, leaf, path, bytes.fromhex(root))
    except (ValueError, ProofError):
        return False
    return True


def proof_document(seq: int, reference: str, root: str, proof: ReferenceProof) -> str:
    """Return the proof as a JSON document that names its entry, reference and root."""
    document = {
        "format": PROOF_FORMAT,
        "entry": seq,
        "reference": reference,
        "dwellings_root": root,
        "dwellings_count": proof.count,
        "index": proof.index,
        "path": list(proof.path),
    }
    return json.dumps(document, indent=2) + "\n"


def check_proof_document(text: str, seq: int, entry: Mapping[str, object]) -> str:
    """Check a proof document against entry ``seq`` (its receipt proved it); return the reference.

    Raises:
        ValueError: not a proof document, not about this entry, or the reference is not
            under the entry's ``dwellings_root``.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("the dwelling proof is not JSON") from None
    if not isinstance(document, dict) or document.get("format") != PROOF_FORMAT:
        raise ValueError(f"the dwelling proof's format is not {PROOF_FORMAT!r}")
    reference, index, path = document.get("reference"), document.get("index"), document.get("path")
    if document.get("entry") != seq:
        raise ValueError(f"the dwelling proof is about entry {document.get('entry')}, not {seq}")
    root, count = entry.get("dwellings_root"), entry.get("dwellings_count")
    if not isinstance(root, str) or not isinstance(count, int):
        raise ValueError(f"entry {seq} commits to no dwellings_root")  # noqa: TRY004 - a refusal
    if not (
        isinstance(reference, str)
        and isinstance(index, int)
        and isinstance(path, list)
        and all(isinstance(node, str) for node in path)
    ):
        raise ValueError("the dwelling proof lacks its reference, index or path")
    proof = ReferenceProof(index, int(document.get("dwellings_count", -1)), tuple(path))
    if not verify_reference(reference, proof, root, count):
        raise ValueError(f"the reference is not under entry {seq}'s dwellings_root")
    return reference

"""An entry's dwellings as one root: the tree over sorted keyed references, and its proofs."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit import (
    PROOF_FORMAT,
    check_proof_document,
    proof_document,
    reference_proof,
    references_root,
    verify_reference,
)

REFERENCES = st.lists(
    st.text(alphabet="0123456789abcdef", min_size=64, max_size=64), min_size=1, max_size=40
).map(lambda found: sorted(set(found)))


def _leaf(reference: str) -> bytes:
    return hashlib.sha256(b"\x00" + reference.encode()).digest()


def test_the_root_of_three_is_rfc_6962s_tree_hash() -> None:
    """Computed by hand: MTH(a, b, c) = H(1 || H(1 || a || b) || c) over leaf hashes."""
    refs = ["a" * 64, "b" * 64, "c" * 64]
    left = hashlib.sha256(b"\x01" + _leaf(refs[0]) + _leaf(refs[1])).digest()
    root = hashlib.sha256(b"\x01" + left + _leaf(refs[2])).digest()
    assert references_root(refs) == root.hex()


@given(REFERENCES)
def test_every_reference_has_a_proof_and_no_other_reference_fits_it(refs: list[str]) -> None:
    """Each proof verifies for its own reference and count only."""
    root = references_root(refs)
    for index, ref in enumerate(refs):
        proof = reference_proof(refs, ref)
        assert proof.index == index
        assert verify_reference(ref, proof, root, len(refs))
        assert not verify_reference(ref, proof, root, len(refs) + 1)
        assert not verify_reference("f" * 63 + "g", proof, root, len(refs))


@pytest.mark.parametrize("refs", [["b", "a"], ["a", "a"]])
def test_unsorted_or_repeated_references_are_refused(refs: list[str]) -> None:
    with pytest.raises(ValueError, match="sorted and distinct"):
        references_root(refs)


def test_a_reference_not_among_them_has_no_proof() -> None:
    with pytest.raises(ValueError, match="not among"):
        reference_proof(["a", "b"], "c")


def test_the_proof_document_checks_against_its_entry_only() -> None:
    """Round trip; another entry, another root, a changed path or reference: refused."""
    refs = [f"{n:064x}" for n in range(5)]
    root = references_root(refs)
    text = proof_document(7, refs[2], root, reference_proof(refs, refs[2]))
    entry = {"seq": 7, "dwellings_root": root, "dwellings_count": 5}
    assert json.loads(text)["format"] == PROOF_FORMAT
    assert check_proof_document(text, 7, entry) == refs[2]
    with pytest.raises(ValueError, match="about entry 7, not 8"):
        check_proof_document(text, 8, {**entry, "seq": 8})
    with pytest.raises(ValueError, match="not under entry 7"):
        check_proof_document(text, 7, {**entry, "dwellings_root": references_root(refs[:4])})
    with pytest.raises(ValueError, match="not under entry 7"):
        check_proof_document(text, 7, {**entry, "dwellings_count": 6})
    document = json.loads(text)
    document["path"][0] = "00" * 32
    with pytest.raises(ValueError, match="not under entry 7"):
        check_proof_document(json.dumps(document), 7, entry)
    with pytest.raises(ValueError, match="commits to no dwellings_root"):
        check_proof_document(text, 7, {"seq": 7, "dwellings": refs})
    with pytest.raises(ValueError, match="format"):
        check_proof_document("{}", 7, entry)

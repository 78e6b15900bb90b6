"""Merkle tree (RFC 6962 / RFC 9162): published vectors, round trips, and every tamper fails."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audit._merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    perfect_subtrees,
    root_of_subtrees,
    tree_root,
    verify_consistency,
    verify_inclusion,
)

# The Certificate Transparency reference leaves and the published roots of sizes 0-8.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = [
    bytes.fromhex(h)
    for h in (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    )
]
# Published inclusion proofs (0-based index, tree size 8).
CT_INCLUSION = {
    0: [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    5: [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
}
HASHED = [leaf_hash(leaf) for leaf in CT_LEAVES]
MANY = [leaf_hash(i.to_bytes(2, "big")) for i in range(40)]


def test_published_roots() -> None:
    """The root of every prefix of the CT reference leaves is the published one."""
    for size, root in enumerate(CT_ROOTS):
        assert tree_root(HASHED[:size]) == root


@pytest.mark.parametrize("index", sorted(CT_INCLUSION))
def test_published_inclusion_proofs(index: int) -> None:
    """Generated proofs equal the published ones, and the published ones verify."""
    published = [bytes.fromhex(h) for h in CT_INCLUSION[index]]
    assert inclusion_proof(HASHED, index) == published
    verify_inclusion(index, 8, HASHED[index], published, CT_ROOTS[8])


def test_every_inclusion_proof_verifies() -> None:
    """In every tree of 1-40 leaves, every leaf's proof verifies against the root."""
    for size in range(1, len(MANY) + 1):
        root = tree_root(MANY[:size])
        for index in range(size):
            verify_inclusion(index, size, MANY[index], inclusion_proof(MANY[:size], index), root)


def test_every_consistency_proof_verifies() -> None:
    """For every pair of sizes 1 <= m <= n <= 40 the consistency proof verifies."""
    for new in range(1, len(MANY) + 1):
        new_root = tree_root(MANY[:new])
        for old in range(1, new + 1):
            proof = consistency_proof(MANY[:new], old)
            verify_consistency(old, new, tree_root(MANY[:old]), new_root, proof)


def test_rewritten_history_fails_consistency() -> None:
    """A new tree that changed an old leaf cannot prove it extends the old tree."""
    rewritten = [*MANY[:3], leaf_hash(b"rewritten"), *MANY[4:20]]
    proof = consistency_proof(rewritten, 10)
    with pytest.raises(ProofError):
        verify_consistency(10, 20, tree_root(MANY[:10]), tree_root(rewritten), proof)


@pytest.mark.parametrize(
    ("index", "size", "proof", "rule"),
    [
        (8, 8, [], "index is outside the tree"),
        (-1, 8, [], "index is outside the tree"),
        (0, 8, [b"\x00" * 31], "a proof node is not a SHA-256 hash"),
        (0, 8, [b"\x00" * 32] * 2, "the inclusion proof is too short"),
        (0, 8, [b"\x00" * 32] * 4, "the inclusion proof is too long"),
    ],
)
def test_malformed_inclusion(index: int, size: int, proof: list[bytes], rule: str) -> None:
    """Impossible indexes and proof lengths are refused with the rule."""
    with pytest.raises(ProofError, match=rule):
        verify_inclusion(index, size, HASHED[0], proof, CT_ROOTS[8])


def test_malformed_consistency() -> None:
    """Impossible sizes, non-empty proofs for equal trees and empty proofs are refused."""
    with pytest.raises(ProofError, match="sizes must satisfy"):
        verify_consistency(0, 8, CT_ROOTS[0], CT_ROOTS[8], [])
    with pytest.raises(ProofError, match="sizes must satisfy"):
        verify_consistency(5, 4, CT_ROOTS[5], CT_ROOTS[4], [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(8, 8, CT_ROOTS[8], CT_ROOTS[8], [CT_ROOTS[1]])
    with pytest.raises(ProofError, match="equal sizes but different roots"):
        verify_consistency(8, 8, CT_ROOTS[8], CT_ROOTS[7], [])
    with pytest.raises(ProofError, match="empty"):
        verify_consistency(3, 8, CT_ROOTS[3], CT_ROOTS[8], [])


def _flip(data: bytes, bit: int) -> bytes:
    return bytes(b ^ (1 << (bit % 8)) if i == bit // 8 else b for i, b in enumerate(data))


@given(st.integers(2, 40), st.data())
def test_any_bit_flip_or_index_change_fails_inclusion(size: int, data: st.DataObject) -> None:
    """Flipping any bit of the proof, leaf or root, or moving the index, fails verification."""
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(MANY[:size], index)
    root = tree_root(MANY[:size])
    target = data.draw(st.sampled_from(["proof", "leaf", "root", "index"]))
    leaf = MANY[index]
    if target == "proof" and proof:
        at = data.draw(st.integers(0, len(proof) - 1))
        proof[at] = _flip(proof[at], data.draw(st.integers(0, 255)))
    elif target == "leaf":
        leaf = _flip(leaf, data.draw(st.integers(0, 255)))
    elif target == "root":
        root = _flip(root, data.draw(st.integers(0, 255)))
    else:
        index = data.draw(st.integers(0, size - 1).filter(lambda i: i != index))
    with pytest.raises(ProofError):
        verify_inclusion(index, size, leaf, proof, root)


@given(st.integers(2, 40), st.data())
def test_any_bit_flip_fails_consistency(new: int, data: st.DataObject) -> None:
    """Flipping any bit of a consistency proof or either root fails verification."""
    old = data.draw(st.integers(1, new - 1))
    proof = consistency_proof(MANY[:new], old)
    old_root, new_root = tree_root(MANY[:old]), tree_root(MANY[:new])
    target = data.draw(st.sampled_from(["proof", "old", "new"]))
    bit = data.draw(st.integers(0, 255))
    if target == "proof":
        at = data.draw(st.integers(0, len(proof) - 1))
        proof[at] = _flip(proof[at], bit)
    elif target == "old":
        old_root = _flip(old_root, bit)
    else:
        new_root = _flip(new_root, bit)
    with pytest.raises(ProofError):
        verify_consistency(old, new, old_root, new_root, proof)


@given(st.integers(min_value=0, max_value=300), st.integers(min_value=1, max_value=40))
def test_compact_range_grows_to_the_same_root_and_nodes(start: int, more: int) -> None:
    """Appending to a compact range gives the MTH of all leaves and every complete subtree."""
    leaves = [leaf_hash(str(i).encode()) for i in range(start + more)]
    subtrees = perfect_subtrees(start)
    hashes = [tree_root(leaves[i << level : (i + 1) << level]) for level, i in subtrees]
    assert root_of_subtrees(hashes) == tree_root(leaves[:start])
    compact = CompactRange(start, hashes)
    for n in range(start, start + more):
        for level, index, node in compact.append(leaves[n]):
            assert node == tree_root(leaves[index << level : (index + 1) << level])
            assert (index + 1) << level == n + 1
        assert compact.root() == tree_root(leaves[: n + 1])


def test_perfect_subtrees_decompose_the_size() -> None:
    """A tree of 13 leaves is the complete subtrees of 8, 4 and 1, left to right."""
    assert perfect_subtrees(13) == [(3, 0), (2, 2), (0, 12)]
    assert perfect_subtrees(0) == []
    with pytest.raises(ProofError):
        CompactRange(13, [EMPTY_ROOT])

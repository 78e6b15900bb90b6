"""Merkle proofs against the public transparency-dev/merkle test vectors.

Transcribed from github.com/transparency-dev/merkle (Apache-2.0 test data):

- ``proof/verify_test.go``: the inclusion and consistency verification vectors and the
  must-fail probes derived from them. Upstream has since moved those probes into
  ``testdata/{inclusion,consistency}/**.json``, written by ``cmd/proofgen/main.go``
  (commit 0e039277d77118c07aa643920617ab865274c7c0); this file follows that current list.
- ``testonly/constants.go``: ``LeafInputs``, ``NodeHashes`` and ``RootHashes`` of the
  8-leaf reference tree.
- ``testonly/reference_test.go``: reference inclusion and consistency proofs in that tree.
- ``proof/proof_test.go``: the tree nodes that make up each proof (``TestInclusion``,
  ``TestConsistency``), resolved here against ``NodeHashes``.
- ``testonly/tree_test.go``: argument pairs for which proof generation must refuse.

The leaf inputs and roots coincide with the CT vectors in ``test_merkle.py``; this file adds the
interior nodes, the probes and the proof layouts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from audit._merkle import (
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


def _h(*hexes: str) -> tuple[bytes, ...]:
    return tuple(bytes.fromhex(h) for h in hexes)


# Go's uint64 arithmetic wraps around; Python ints do not, so "index - 1" at index 0 is
# reproduced explicitly as 2**64 - 1, as in the upstream JSON.
_U64 = 1 << 64

# --- testonly/constants.go -------------------------------------------------------------------

LEAF_INPUTS = _h(
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)
LEAVES = tuple(leaf_hash(entry) for entry in LEAF_INPUTS)

# Every complete subtree of the 8-leaf tree: NODE_HASHES[level][index].
NODE_HASHES = (
    _h(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ),
    _h(
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ),
    _h(
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ),
    _h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
)

# The root of the tree over the first `size` leaves: ROOTS[size], size 0 to 8.
ROOTS = _h(
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

# --- proof/verify_test.go (now cmd/proofgen/main.go) -----------------------------------------

(SOME_HASH,) = _h("abacaba000000000000000000000000000000000000000000060061e00123456")
(EMPTY_TREE_HASH,) = _h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")

# Each vector: leaf index, tree size, proof. Upstream numbers leaves from 1; these are 0-based.
INCLUSION_VECTORS: tuple[tuple[int, int, tuple[bytes, ...]], ...] = (
    (0, 1, ()),
    (
        0,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _h(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _h(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
)

# Each vector: old size, new size, proof.
CONSISTENCY_VECTORS: tuple[tuple[int, int, tuple[bytes, ...]], ...] = (
    (1, 1, ()),
    (
        1,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        6,
        8,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
    (
        2,
        5,
        _h(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        7,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
)


@dataclass(frozen=True)
class Inclusion:
    """The arguments of one ``verify_inclusion`` call."""

    index: int
    size: int
    leaf: bytes
    proof: tuple[bytes, ...]
    root: bytes


@dataclass(frozen=True)
class Consistency:
    """The arguments of one ``verify_consistency`` call."""

    old_size: int
    new_size: int
    old_root: bytes
    new_root: bytes
    proof: tuple[bytes, ...]


def _slug(desc: str) -> str:
    """The upstream description as it appears in the upstream JSON file name."""
    return desc.replace("(", "").replace(")", "").replace(" ", "-")


def _flip_first_byte(proof: tuple[bytes, ...], at: int, mask: int) -> tuple[bytes, ...]:
    node = proof[at]
    return (*proof[:at], bytes([node[0] ^ mask]) + node[1:], *proof[at + 1 :])


def _tampered_inclusion(good: Inclusion) -> list[tuple[str, Inclusion]]:
    """The must-fail variants upstream derives from one valid inclusion proof."""
    index, size, proof, root = good.index, good.size, good.proof, good.root
    probes = [
        ("leafIdx sub @1", replace(good, index=(index - 1) % _U64)),
        ("leafIdx plus @1", replace(good, index=index + 1)),
        ("leafIdx XOR @2", replace(good, index=index ^ 2)),
        ("treeSize mul @2", replace(good, size=size * 2)),
        ("treeSize div @2", replace(good, size=size // 2)),
        ("wrong leaf", replace(good, leaf=b"WrongLeaf")),
        ("empty root", replace(good, root=EMPTY_TREE_HASH)),
        ("random root", replace(good, root=SOME_HASH)),
        ("trailing garbage", replace(good, proof=(*proof, b""))),
        ("trailing root", replace(good, proof=(*proof, root))),
        ("preceding garbage", replace(good, proof=(b"", *proof))),
        ("preceding root", replace(good, proof=(root, *proof))),
    ]
    probes += [
        (f"modified proof[{at}] bit @3", replace(good, proof=_flip_first_byte(proof, at, 8)))
        for at in range(len(proof))
    ]
    if proof:
        probes.append(("removed component", replace(good, proof=proof[:-1])))
    if len(proof) > 1:
        probes.append(
            ("inserted component", replace(good, proof=(proof[0], SOME_HASH, *proof[1:])))
        )
    return probes


def _tampered_consistency(good: Consistency) -> list[tuple[str, Consistency]]:
    """The must-fail variants upstream derives from one valid, non-empty consistency proof."""
    old, new, proof = good.old_size, good.new_size, good.proof
    old_root, new_root = good.old_root, good.new_root
    probes = [
        ("size1 sub @1", replace(good, old_size=(old - 1) % _U64)),
        ("size1 plus @1", replace(good, old_size=old + 1)),
        ("size1 XOR @2", replace(good, old_size=old ^ 2)),
        ("size2 mul @2", replace(good, new_size=new * 2)),
        ("size2 div @2", replace(good, new_size=new // 2)),
        ("wrong root1", replace(good, old_root=b"WrongRoot")),
        ("wrong root2", replace(good, new_root=b"WrongRoot")),
        ("swapped roots", replace(good, old_root=new_root, new_root=old_root)),
        ("empty proof", replace(good, proof=())),
        ("trailing garbage", replace(good, proof=(*proof, b""))),
        ("trailing root1", replace(good, proof=(*proof, old_root))),
        ("trailing root2", replace(good, proof=(*proof, new_root))),
        ("preceding garbage", replace(good, proof=(b"", *proof))),
        ("preceding root1", replace(good, proof=(old_root, *proof))),
        ("preceding root2", replace(good, proof=(new_root, *proof))),
        ("preceding proof @0", replace(good, proof=(proof[0], *proof))),
        ("truncated proof", replace(good, proof=proof[:-1])),
    ]
    probes += [
        (f"modified proof@{at} bit @4", replace(good, proof=_flip_first_byte(proof, at, 16)))
        for at in range(len(proof))
    ]
    return probes


def _inclusion_params() -> tuple[list[object], list[object]]:
    valid: list[object] = []
    invalid: list[object] = []
    for index, size, proof in INCLUSION_VECTORS:
        good = Inclusion(index, size, LEAVES[index], proof, ROOTS[size])
        prefix = f"{index}-of-{size}"
        valid.append(pytest.param(good, id=f"{prefix}/happy-path"))
        invalid += [
            pytest.param(probe, id=f"{prefix}/{_slug(desc)}")
            for desc, probe in _tampered_inclusion(good)
        ]
    # "additional": impossible positions with an empty proof and unrelated hashes.
    for index, size in ((0, 0), (0, 1), (1, 0), (2, 1)):
        prefix = f"additional/{index}-of-{size}"
        invalid += [
            pytest.param(Inclusion(index, size, SOME_HASH, (), b""), id=f"{prefix}/random-leaf"),
            pytest.param(
                Inclusion(index, size, b"", (), EMPTY_TREE_HASH), id=f"{prefix}/empty-root"
            ),
            pytest.param(
                Inclusion(index, size, SOME_HASH, (), EMPTY_TREE_HASH),
                id=f"{prefix}/empty-root-and-random-leaf",
            ),
        ]
    # "single-entry": in a 1-leaf tree the root is the leaf hash and the proof is empty.
    single = leaf_hash(b"data")
    valid.append(
        pytest.param(Inclusion(0, 1, single, (), single), id="single-entry/matching-root-and-leaf")
    )
    invalid += [
        pytest.param(Inclusion(0, 1, b"", (), single), id="single-entry/empty-leaf"),
        pytest.param(Inclusion(0, 1, single, (), b""), id="single-entry/empty-root"),
        # Upstream: "Wrong hash size." Neither value is a SHA-256 hash.
        pytest.param(Inclusion(0, 1, b"", (), b""), id="single-entry/empty-root-and-leaf"),
    ]
    return valid, invalid


# Static consistency probes ("additional"). The roots are deliberately not hashes.
_ROOT1, _ROOT2 = b"don't care 1", b"don't care 2"
STATIC_CONSISTENCY: tuple[tuple[str, Consistency, bool], ...] = (
    # Each entry: the upstream description, the arguments, whether they must verify.
    ("sizes are equal (zero) but roots are not", Consistency(0, 0, _ROOT1, _ROOT2, ()), False),
    ("sizes are equal (one) but roots are not", Consistency(1, 1, _ROOT1, _ROOT2, ()), False),
    # Upstream accepted this one until transparency-dev/merkle#236 (2026) made every proof from
    # size 0 an error; this file follows the current vectors, and so does our verifier.
    ("sizes are equal (zero) and proof is empty", Consistency(0, 0, _ROOT1, _ROOT1, ()), False),
    # Accepted upstream before transparency-dev/merkle#140 (2024); an error since.
    ("size1 is zero and does not equal size2", Consistency(0, 1, _ROOT1, _ROOT2, ()), False),
    ("sizes are equal (one) and proof is empty", Consistency(1, 1, _ROOT2, _ROOT2, ()), True),
    ("size1 is greater than size2", Consistency(1, 0, _ROOT1, _ROOT2, ()), False),
    ("size1 is greater than size2 again", Consistency(2, 1, _ROOT1, _ROOT2, ()), False),
    ("sizes do not watch and proof is empty", Consistency(1, 2, _ROOT1, _ROOT2, ()), False),
    (
        "roots do not match and sizes are zero",
        Consistency(0, 0, EMPTY_TREE_HASH, _ROOT2, ()),
        False,
    ),
    (
        "roots do not not match and sizes are one",
        Consistency(1, 1, EMPTY_TREE_HASH, _ROOT2, ()),
        False,
    ),
    (
        "sizes match but proof is not empty and sizes are zero",
        Consistency(0, 0, EMPTY_TREE_HASH, EMPTY_TREE_HASH, (EMPTY_TREE_HASH,)),
        False,
    ),
    (
        "sizes match but proof is not empty and sizes are one",
        Consistency(1, 1, EMPTY_TREE_HASH, EMPTY_TREE_HASH, (EMPTY_TREE_HASH,)),
        False,
    ),
    (
        "size1 is zero and size2 is not zero",
        Consistency(0, 1, EMPTY_TREE_HASH, _ROOT2, ()),
        False,
    ),
    (
        "consistency check on empty tree (size1 is zero) is useless",
        Consistency(0, 1, EMPTY_TREE_HASH, EMPTY_TREE_HASH, (EMPTY_TREE_HASH,)),
        False,
    ),
)


def _consistency_params() -> tuple[list[object], list[object]]:
    valid: list[object] = []
    invalid: list[object] = []
    for old, new, proof in CONSISTENCY_VECTORS:
        good = Consistency(old, new, ROOTS[old], ROOTS[new], proof)
        prefix = f"{old}-to-{new}"
        valid.append(pytest.param(good, id=f"{prefix}/happy-path"))
        # Upstream derives probes only from non-empty proofs.
        if proof:
            invalid += [
                pytest.param(probe, id=f"{prefix}/{_slug(desc)}")
                for desc, probe in _tampered_consistency(good)
            ]
    for desc, probe, verifies in STATIC_CONSISTENCY:
        param = pytest.param(probe, id=f"additional/{_slug(desc)}")
        (valid if verifies else invalid).append(param)
    return valid, invalid


VALID_INCLUSION, INVALID_INCLUSION = _inclusion_params()
VALID_CONSISTENCY, INVALID_CONSISTENCY = _consistency_params()


@pytest.mark.parametrize("case", VALID_INCLUSION)
def test_valid_inclusion_verifies(case: Inclusion) -> None:
    """Every upstream happy-path inclusion proof leads to its root and verifies."""
    assert root_from_inclusion(case.index, case.size, case.leaf, case.proof) == case.root
    verify_inclusion(case.index, case.size, case.leaf, case.proof, case.root)


@pytest.mark.parametrize("case", INVALID_INCLUSION)
def test_invalid_inclusion_fails(case: Inclusion) -> None:
    """Every upstream must-fail inclusion probe is refused."""
    with pytest.raises(ProofError):
        verify_inclusion(case.index, case.size, case.leaf, case.proof, case.root)


@pytest.mark.parametrize("case", VALID_CONSISTENCY)
def test_valid_consistency_verifies(case: Consistency) -> None:
    """Every upstream happy-path consistency proof verifies."""
    verify_consistency(case.old_size, case.new_size, case.old_root, case.new_root, case.proof)


@pytest.mark.parametrize("case", INVALID_CONSISTENCY)
def test_invalid_consistency_fails(case: Consistency) -> None:
    """Every upstream must-fail consistency probe is refused."""
    with pytest.raises(ProofError):
        verify_consistency(case.old_size, case.new_size, case.old_root, case.new_root, case.proof)


# --- The 8-leaf reference tree: hashes and proof generation ----------------------------------


def test_reference_tree_hashes() -> None:
    """Every complete subtree and every prefix of the reference tree has the published hash."""
    for level, hashes in enumerate(NODE_HASHES):
        for index, expected in enumerate(hashes):
            assert tree_root(LEAVES[index << level : (index + 1) << level]) == expected
    for size, root in enumerate(ROOTS):
        assert tree_root(LEAVES[:size]) == root


# testonly/reference_test.go, TestRefInclusionProof: (index, size, proof).
REFERENCE_INCLUSION: tuple[tuple[int, int, tuple[bytes, ...]], ...] = (
    (0, 1, ()),
    (0, 2, _h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")),
    (1, 2, _h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")),
    (2, 3, _h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")),
    (
        1,
        5,
        _h(
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        0,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        5,
        8,
        _h(
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
)

# testonly/reference_test.go, TestRefConsistencyProof: (old size, new size, proof).
REFERENCE_CONSISTENCY: tuple[tuple[int, int, tuple[bytes, ...]], ...] = (
    (1, 1, ()),
    (
        1,
        8,
        _h(
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ),
    ),
    (
        2,
        5,
        _h(
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ),
    ),
    (
        6,
        8,
        _h(
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ),
    ),
)


@pytest.mark.parametrize(
    ("index", "size", "expected"),
    [
        *(pytest.param(i, n, p, id=f"verify/{i}-of-{n}") for i, n, p in INCLUSION_VECTORS),
        *(pytest.param(i, n, p, id=f"reference/{i}-of-{n}") for i, n, p in REFERENCE_INCLUSION),
    ],
)
def test_generated_inclusion_matches_reference(
    index: int, size: int, expected: tuple[bytes, ...]
) -> None:
    """Our inclusion proof for the reference tree equals the published one byte for byte."""
    assert inclusion_proof(LEAVES[:size], index) == list(expected)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        *(pytest.param(m, n, p, id=f"verify/{m}-to-{n}") for m, n, p in CONSISTENCY_VECTORS),
        *(pytest.param(m, n, p, id=f"reference/{m}-to-{n}") for m, n, p in REFERENCE_CONSISTENCY),
    ],
)
def test_generated_consistency_matches_reference(
    old: int, new: int, expected: tuple[bytes, ...]
) -> None:
    """Our consistency proof for the reference tree equals the published one byte for byte."""
    assert consistency_proof(LEAVES[:new], old) == list(expected)


# proof/proof_test.go names each proof by its tree nodes (level, index). Where a node is missing
# from a tree that is not full, upstream lists the nodes under it and marks the slice
# [begin, end) to fold into one hash, lowest first: h = ids[begin]; then h = node_hash(next, h).
# Only the cases inside the 8-leaf reference tree are taken; sizes 15, 31 and 95 have no
# published node hashes. Upstream lists (7, 1) and (7, 3) twice; they appear once here.
Node = tuple[int, int]
Fold = tuple[int, int] | None

# Each case: tree size, leaf index, the proof's nodes, the slice to fold.
INCLUSION_LAYOUT: tuple[tuple[int, int, tuple[Node, ...], Fold], ...] = (
    (1, 0, (), None),
    (2, 0, ((0, 1),), None),
    (2, 1, ((0, 0),), None),
    (3, 1, ((0, 0), (0, 2)), None),
    (7, 0, ((0, 1), (1, 1), (0, 6), (1, 2)), (2, 4)),
    (7, 1, ((0, 0), (1, 1), (0, 6), (1, 2)), (2, 4)),
    (7, 2, ((0, 3), (1, 0), (0, 6), (1, 2)), (2, 4)),
    (7, 3, ((0, 2), (1, 0), (0, 6), (1, 2)), (2, 4)),
    (7, 4, ((0, 5), (0, 6), (2, 0)), None),
    (7, 5, ((0, 4), (0, 6), (2, 0)), None),
    (7, 6, ((1, 2), (2, 0)), None),
    (4, 2, ((0, 3), (1, 0)), None),
    (5, 3, ((0, 2), (1, 0), (0, 4)), None),
    (6, 3, ((0, 2), (1, 0), (1, 2)), None),
    (6, 4, ((0, 5), (2, 0)), None),
)

# Each case: old size, new size, the proof's nodes, the slice to fold.
CONSISTENCY_LAYOUT: tuple[tuple[int, int, tuple[Node, ...], Fold], ...] = (
    (1, 2, ((0, 1),), None),
    (1, 4, ((0, 1), (1, 1)), None),
    (1, 6, ((0, 1), (1, 1), (1, 2)), None),
    (2, 3, ((0, 2),), None),
    (2, 8, ((1, 1), (2, 1)), None),
    (3, 7, ((0, 2), (0, 3), (1, 0), (0, 6), (1, 2)), (3, 5)),
    (4, 7, ((0, 6), (1, 2)), (0, 2)),
    (5, 7, ((0, 4), (0, 5), (0, 6), (2, 0)), None),
    (6, 7, ((1, 2), (0, 6), (2, 0)), None),
    (7, 8, ((0, 6), (0, 7), (1, 2), (2, 0)), None),
    (1, 1, (), None),
    (2, 2, (), None),
    (3, 3, (), None),
    (4, 4, (), None),
    (5, 5, (), None),
    (7, 7, (), None),
    (8, 8, (), None),
    (2, 4, ((1, 1),), None),
    (3, 5, ((0, 2), (0, 3), (1, 0), (0, 4)), None),
    (3, 6, ((0, 2), (0, 3), (1, 0), (1, 2)), None),
    (4, 6, ((1, 2),), None),
    (1, 7, ((0, 1), (1, 1), (0, 6), (1, 2)), (2, 4)),
)


def _resolve(nodes: tuple[Node, ...], fold: Fold) -> list[bytes]:
    """The proof named by upstream's node list, from the published node hashes."""
    hashes = [NODE_HASHES[level][index] for level, index in nodes]
    if fold is None:
        return hashes
    begin, end = fold
    folded = hashes[begin]
    for upper in hashes[begin + 1 : end]:
        folded = node_hash(upper, folded)
    return [*hashes[:begin], folded, *hashes[end:]]


@pytest.mark.parametrize(
    ("size", "index", "nodes", "fold"),
    [pytest.param(*case, id=f"{case[1]}-of-{case[0]}") for case in INCLUSION_LAYOUT],
)
def test_generated_inclusion_matches_node_layout(
    size: int, index: int, nodes: tuple[Node, ...], fold: Fold
) -> None:
    """Our inclusion proof is made of exactly the tree nodes upstream names."""
    assert inclusion_proof(LEAVES[:size], index) == _resolve(nodes, fold)


@pytest.mark.parametrize(
    ("old", "new", "nodes", "fold"),
    [pytest.param(*case, id=f"{case[0]}-to-{case[1]}") for case in CONSISTENCY_LAYOUT],
)
def test_generated_consistency_matches_node_layout(
    old: int, new: int, nodes: tuple[Node, ...], fold: Fold
) -> None:
    """Our consistency proof is made of exactly the tree nodes upstream names."""
    assert consistency_proof(LEAVES[:new], old) == _resolve(nodes, fold)


# Upstream generation errors take sizes alone; ours take the leaves, so a size beyond the
# reference tree is expressed by the prefix of that size (or all 8 leaves when it is larger).
@pytest.mark.parametrize(
    ("size", "index"),
    [
        pytest.param(size, index, id=f"{index}-of-{size}")
        for size, index in ((0, 0), (0, 1), (1, 2), (0, 3), (7, 8))
    ],
)
def test_inclusion_generation_refuses_outside_index(size: int, index: int) -> None:
    """Asking for a leaf outside the tree is refused (proof_test.go TestInclusion)."""
    with pytest.raises(ProofError):
        inclusion_proof(LEAVES[:size], index)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # proof/proof_test.go TestConsistency: 5 -> 0 and 9 -> 8.
        pytest.param(5, 0, id="5-to-0"),
        pytest.param(9, 8, id="9-to-8"),
        # testonly/tree_test.go TestTreeConsistencyProof: 6 -> 3 and 0 -> 3.
        pytest.param(6, 3, id="6-to-3"),
        pytest.param(0, 3, id="0-to-3"),
    ],
)
def test_consistency_generation_refuses_impossible_sizes(old: int, new: int) -> None:
    """A proof from a larger or an empty tree is refused."""
    with pytest.raises(ProofError):
        consistency_proof(LEAVES[:new], old)

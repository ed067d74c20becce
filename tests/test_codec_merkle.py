"""Merkle-sum commitments: the spec byte for byte, position and owner binding, exact sums."""

from __future__ import annotations

import time

import numpy as np
import pytest
from eth_hash.auto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from fedchain.codec.blob import (
    HEADER_SIZE,
    BlobKind,
    MalformedBlob,
    decode_vector_blob,
    encode_vector_blob,
    read_header,
    unpack_words,
)
from fedchain.codec.committed import decode_committed, encode_committed
from fedchain.codec.merkle import (
    EMPTY_NODE,
    ZERO_OWNER,
    MerkleError,
    MerkleSumTree,
    SumNode,
    blob_root,
    chunk_layout,
    chunk_sums,
    leaf_hash,
    num_chunks,
    parent,
    tree_depth,
    verify_proof,
)

ALICE = bytes.fromhex("11" * 20)
MALLORY = bytes.fromhex("22" * 20)
MOD = 2**256


# --- an independent reference of the spec (eth_hash keccak, plain loops) ----------------------


def _ref_leaf(owner: bytes, i: int, s: int, chunk: bytes) -> bytes:
    return keccak(keccak(owner + i.to_bytes(8, "big") + s.to_bytes(16, "big") + chunk))


def _ref_parent(left: tuple[bytes, int], right: tuple[bytes, int]) -> tuple[bytes, int]:
    s = (left[1] + right[1]) % MOD
    return keccak(left[0] + right[0] + s.to_bytes(32, "big")), s


def _ref_top(level: list[tuple[bytes, int]]) -> tuple[bytes, int]:
    """Top node over a leaf level, padded to a power of two with the empty node."""
    depth = (len(level) - 1).bit_length()
    level = level + [(bytes(32), 0)] * ((1 << depth) - len(level))
    while len(level) > 1:
        level = [_ref_parent(level[j], level[j + 1]) for j in range(0, len(level), 2)]
    return level[0]


def _ref_proof(level: list[tuple[bytes, int]], i: int) -> list[tuple[bytes, int]]:
    depth = (len(level) - 1).bit_length()
    level = level + [(bytes(32), 0)] * ((1 << depth) - len(level))
    out = []
    while len(level) > 1:
        out.append(level[i ^ 1])
        level = [_ref_parent(level[j], level[j + 1]) for j in range(0, len(level), 2)]
        i //= 2
    return out


def _update(values: list[int] | np.ndarray) -> bytes:
    return encode_vector_blob(BlobKind.UPDATE, np.asarray(values, dtype=np.int32), frac_bits=20)


def _chunks(blob: bytes, chunk_bytes: int) -> list[bytes]:
    payload = blob[HEADER_SIZE:]
    return [payload[o : o + chunk_bytes] for o in range(0, len(payload), chunk_bytes)]


# --- the spec -----------------------------------------------------------------------------------


def test_leaf_hash_is_double_keccak_of_owner_index_sum_and_chunk() -> None:
    # Prepare
    chunk = b"\x01\x02\x03"

    # Execute
    leaf = leaf_hash(ALICE, 5, 7, chunk)

    # Assert
    assert leaf == keccak(keccak(ALICE + bytes(7) + b"\x05" + bytes(15) + b"\x07" + chunk))
    assert leaf == leaf_hash("0x" + "11" * 20, 5, 7, chunk)
    assert len({leaf, leaf_hash(ALICE, 6, 7, chunk), leaf_hash(ALICE, 5, 8, chunk)}) == 3
    assert leaf != leaf_hash(MALLORY, 5, 7, chunk)


def test_parent_hashes_the_sum_and_wraps_mod_2_256() -> None:
    # Prepare
    a, b = SumNode(b"\xaa" * 32, MOD - 1), SumNode(b"\xbb" * 32, 5)

    # Execute
    p = parent(a, b)

    # Assert
    assert p == SumNode(keccak(a.h + b.h + (4).to_bytes(32, "big")), 4)
    assert parent(b, a).h != p.h


@pytest.mark.parametrize(("m", "depth"), [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3), (70, 7)])
def test_tree_depth(m: int, depth: int) -> None:
    # Execute / Assert
    assert tree_depth(m) == depth


def test_small_trees_by_hand() -> None:
    # Prepare: 3 int32 per chunk -> chunks of 12 bytes; 7 elements -> 3 chunks, padded to 4
    values = [1, -2, 3, 4, 5, -6, 7]
    blob = _update(values)
    c = _chunks(blob, 12)
    sums = [1 + 4 + 9, 16 + 25 + 36, 49]
    leaves = [SumNode(_ref_leaf(ALICE, i, s, c[i]), s) for i, s in enumerate(sums)]

    # Execute
    tree = MerkleSumTree(blob, chunk_elems=3, owner=ALICE)
    one = MerkleSumTree(_update([9]), chunk_elems=3, owner=ALICE)

    # Assert
    top = parent(parent(leaves[0], leaves[1]), parent(leaves[2], EMPTY_NODE))
    assert (tree.root, tree.top_sum) == (top.h, top.s) == (top.h, sum(v * v for v in values))
    assert (tree.num_chunks, tree.depth) == (3, 2)
    assert tree.proof(2) == [(EMPTY_NODE.h, 0), (parent(leaves[0], leaves[1]).h, 14 + 77)]
    assert [tree.chunk(i) for i in range(3)] == c
    assert (one.root, one.top_sum, one.depth, one.proof(0)) == (
        _ref_leaf(ALICE, 0, 81, (9).to_bytes(4, "big")),
        81,
        0,
        [],
    )


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1, max_value=70),
    st.integers(min_value=1, max_value=5),
    st.binary(min_size=20, max_size=20),
    st.data(),
)
def test_every_proof_round_trips(
    m: int, chunk_elems: int, owner: bytes, data: st.DataObject
) -> None:
    # Prepare: m chunks, the last one possibly short
    last = data.draw(st.integers(1, chunk_elems))
    n = (m - 1) * chunk_elems + last
    values = data.draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=n, max_size=n))
    blob = _update(values)
    sums = data.draw(st.lists(st.integers(0, 2**128 - 1), min_size=m, max_size=m))
    chunks = _chunks(blob, 4 * chunk_elems)
    level = [
        (_ref_leaf(owner, i, s, c), s) for i, (s, c) in enumerate(zip(sums, chunks, strict=True))
    ]

    # Execute
    tree = MerkleSumTree(blob, chunk_elems=chunk_elems, owner=owner, sums=sums)

    # Assert: the tree is the reference, and every opening yields the top sum
    assert (tree.root, tree.top_sum) == _ref_top(level)
    assert tree.num_chunks == m == num_chunks(n, chunk_elems, BlobKind.UPDATE)
    for i in range(m):
        proof = tree.proof(i)
        assert proof == _ref_proof(level, i) and len(proof) == tree_depth(m)
        got = verify_proof(tree.root, owner, i, chunks[i], sums[i], proof, num_chunks=m)
        assert got == tree.top_sum == sum(sums) % MOD
        other = (sums[i] + 1) % 2**128
        assert verify_proof(tree.root, owner, i, chunks[i], other, proof, num_chunks=m) is None


# --- position binding ---------------------------------------------------------------------------


def _old_sorted_pair_root_and_proofs(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The former tree: OpenZeppelin's commutative hash, an odd last node promoted."""

    def pair(a: bytes, b: bytes) -> bytes:
        return keccak(a + b) if a < b else keccak(b + a)

    proofs: list[list[bytes]] = [[] for _ in leaves]
    pos = list(range(len(leaves)))
    level = list(leaves)
    while len(level) > 1:
        for k, p in enumerate(pos):
            if p ^ 1 < len(level):
                proofs[k].append(level[p ^ 1])
        up = [pair(level[j], level[j + 1]) for j in range(0, len(level) - 1, 2)]
        level = up + ([level[-1]] if len(level) % 2 else [])
        pos = [p // 2 for p in pos]
    return level[0], proofs


def _old_verify(proof: list[bytes], root: bytes, leaf: bytes) -> bool:
    node = leaf
    for sib in proof:
        node = keccak(node + sib) if node < sib else keccak(sib + node)
    return node == root


def test_old_sorted_pair_tree_opened_one_index_to_two_chunks() -> None:
    # Prepare: a crafted old-style tree whose leaves are [leaf(0, A), leaf(0, B), leaf(1, C)]
    a, b, c = b"A" * 8, b"B" * 8, b"C" * 8

    def old_leaf(i: int, chunk: bytes) -> bytes:
        return keccak(keccak(i.to_bytes(8, "big") + chunk))

    root, proofs = _old_sorted_pair_root_and_proofs(
        [old_leaf(0, a), old_leaf(0, b), old_leaf(1, c)]
    )

    # Execute / Assert: index 0 opens to A *and* to B under the same root
    assert _old_verify(proofs[0], root, old_leaf(0, a))
    assert _old_verify(proofs[1], root, old_leaf(0, b))


def test_crafted_new_tree_opens_each_index_to_at_most_one_chunk() -> None:
    # Prepare: the same attack against the new tree, leaves crafted by hand
    a, b, c = b"A" * 8, b"B" * 8, b"C" * 8
    level = [(_ref_leaf(ALICE, 0, 1, a), 1), (_ref_leaf(ALICE, 0, 2, b), 2)]
    level.append((_ref_leaf(ALICE, 1, 3, c), 3))
    root, _ = _ref_top(level)
    all_proofs = [_ref_proof(level, p) for p in range(4)]
    candidates = [(a, 1), (b, 2), (c, 3)]

    # Execute: every proof the crafted tree has, for every claimed chunk at index 0
    opened = {
        chunk
        for proof in all_proofs
        for chunk, s in candidates
        if verify_proof(root, ALICE, 0, chunk, s, proof, num_chunks=3) is not None
    }

    # Assert: only the chunk sitting at position 0 opens; B, filed under index 0 at position 1,
    # never does (the index bits, not the hashes, choose left and right)
    assert opened == {a}


def test_wrong_proof_length_and_index_out_of_range_are_rejected() -> None:
    # Prepare: 3 chunks, depth 2
    tree = MerkleSumTree(_update(range(9)), chunk_elems=3, owner=ALICE)
    chunk, s, proof = tree.chunk(1), tree.sums[1], tree.proof(1)

    # Execute / Assert
    assert verify_proof(tree.root, ALICE, 1, chunk, s, proof, num_chunks=3) == tree.top_sum
    assert verify_proof(tree.root, ALICE, 1, chunk, s, proof[:-1], num_chunks=3) is None
    assert (
        verify_proof(tree.root, ALICE, 1, chunk, s, [*proof, (bytes(32), 0)], num_chunks=3) is None
    )
    assert verify_proof(tree.root, ALICE, 1, chunk, s, proof, num_chunks=5) is None  # depth 3
    # the padding slot (index 3 < 2**D) and beyond are not chunks
    pad = [(tree.proof(2)[0][0], tree.sums[2]), proof[1]]
    assert verify_proof(tree.root, ALICE, 3, b"", 0, pad, num_chunks=3) is None
    assert verify_proof(tree.root, ALICE, 4, chunk, s, proof, num_chunks=3) is None
    assert verify_proof(tree.root, ALICE, -1, chunk, s, proof, num_chunks=3) is None
    # ... but the padding leaf has a proof of its own (what an availability answer opens): it
    # climbs from the empty node to the root
    padding = tree.proof(3)
    h, total = bytes(32), 0
    for level, (sib, sib_s) in enumerate(padding):
        total = (total + sib_s) % MOD
        pair = sib + h if (3 >> level) & 1 else h + sib
        h = keccak(pair + total.to_bytes(32, "big"))
    assert h == tree.root and tree.leaf_data(3) == b""
    with pytest.raises(MerkleError, match="out of range"):
        tree.proof(4)


def test_a_proof_cut_short_is_rejected() -> None:
    # Prepare: opening a chunk against a level above the leaves (one sibling left out)
    tree = MerkleSumTree(_update(range(12)), chunk_elems=3, owner=ALICE)  # 4 chunks, depth 2

    # Execute / Assert: only proofs of length exactly D = 2 count
    for i in range(4):
        short = tree.proof(i)[1:]
        assert (
            verify_proof(tree.root, ALICE, i, tree.chunk(i), tree.sums[i], short, num_chunks=4)
            is None
        )


# --- owner binding ------------------------------------------------------------------------------


def test_a_copied_root_cannot_be_opened_by_the_copier() -> None:
    # Prepare: Mallory copies Alice's root and tries to open it as her own
    blob = _update(np.arange(-40, 40))
    alice = MerkleSumTree(blob, chunk_elems=8, owner=ALICE)
    mallory = MerkleSumTree(blob, chunk_elems=8, owner=MALLORY)

    # Execute
    as_alice = verify_proof(
        alice.root, ALICE, 3, alice.chunk(3), alice.sums[3], alice.proof(3), num_chunks=10
    )
    as_mallory = verify_proof(
        alice.root, MALLORY, 3, alice.chunk(3), alice.sums[3], alice.proof(3), num_chunks=10
    )

    # Assert
    assert as_alice == alice.top_sum
    assert as_mallory is None
    assert mallory.root != alice.root and mallory.top_sum == alice.top_sum


@pytest.mark.parametrize("bad", [b"\x11" * 19, "0x" + "11" * 21, "0xzz", 123])
def test_bad_owner_refused(bad: object) -> None:
    # Execute / Assert
    with pytest.raises(MerkleError, match="owner"):
        leaf_hash(bad, 0, 0, b"")  # type: ignore[arg-type]


# --- sums ---------------------------------------------------------------------------------------


def test_top_sum_is_the_exact_squared_norm_near_int32_limits() -> None:
    # Prepare: 4096 squares of ~2**62 per chunk sum to ~2**74, far past int64
    rng = np.random.default_rng(1)
    extremes = np.array([-(2**31), 2**31 - 1, -(2**31) + 1], dtype=np.int32)
    values = np.concatenate([np.full(5000, -(2**31), np.int32), rng.choice(extremes, 4000)])
    blob = _update(values)
    exact = sum(int(v) ** 2 for v in values.tolist())

    # Execute
    tree = MerkleSumTree(blob, chunk_elems=4096, owner=ALICE)
    sums = chunk_sums(BlobKind.UPDATE, values, chunk_elems=4096)

    # Assert
    assert tree.top_sum == exact > 2**63
    assert (
        sums
        == tree.sums
        == [sum(int(v) ** 2 for v in values[o : o + 4096].tolist()) for o in range(0, 9000, 4096)]
    )
    naive = int(np.sum(values.astype(np.int64) ** 2))  # what int64 arithmetic would claim
    assert naive != exact


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=300),
    st.integers(min_value=1, max_value=64),
)
def test_chunk_sums_are_exact(values: list[int], chunk_elems: int) -> None:
    # Execute
    sums = chunk_sums(BlobKind.UPDATE, np.array(values, dtype=np.int32), chunk_elems=chunk_elems)

    # Assert
    want = [
        sum(v * v for v in values[o : o + chunk_elems]) for o in range(0, len(values), chunk_elems)
    ]
    assert sums == want and all(isinstance(s, int) for s in sums)


def test_other_kinds_commit_zero_sums() -> None:
    # Prepare
    values = np.arange(-5, 5, dtype=np.int64)
    agg = encode_vector_blob(BlobKind.AGGREGATE, values, frac_bits=20)
    masked = encode_vector_blob(
        BlobKind.MASKED, np.arange(10, dtype=np.uint64), frac_bits=20, ring_bits=35
    )

    # Execute
    tree = MerkleSumTree(agg, chunk_elems=4, owner=ZERO_OWNER)

    # Assert
    assert chunk_sums(BlobKind.AGGREGATE, values, chunk_elems=4) == [0, 0, 0] == tree.sums
    assert chunk_sums(BlobKind.MASKED, values, chunk_elems=4, ring_bits=35) == [0, 0]  # 8 a chunk
    assert tree.top_sum == 0 and MerkleSumTree(masked, chunk_elems=4, owner=ZERO_OWNER).top_sum == 0
    with pytest.raises(MerkleError, match="ring_bits"):
        chunk_sums(BlobKind.MASKED, values, chunk_elems=4)


def test_a_norm_lie_is_provable_from_one_opened_chunk() -> None:
    # Prepare: the owner declares chunk 2 smaller than it is, shrinking the committed norm
    values = np.arange(-32, 32, dtype=np.int32) * 1000
    blob = _update(values)
    honest = chunk_sums(BlobKind.UPDATE, values, chunk_elems=8)
    declared = list(honest)
    declared[2] //= 2
    liar = MerkleSumTree(blob, chunk_elems=8, owner=ALICE, sums=declared)

    # Execute: anyone holding the declared sums opens every chunk and checks its elements
    lies = [
        i
        for i in range(liar.num_chunks)
        if liar.sums[i] != sum(int(v) ** 2 for v in np.frombuffer(liar.chunk(i), ">i4").tolist())
    ]
    top = verify_proof(liar.root, ALICE, 2, liar.chunk(2), declared[2], liar.proof(2), num_chunks=8)

    # Assert
    assert lies == [2]
    assert top == liar.top_sum == sum(declared) < sum(honest)


# --- chunk layout (unchanged) and commitments to bytes -------------------------------------------


def _masked_blob(n: int, bits: int, seed: int = 0) -> tuple[np.ndarray, bytes]:
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 2**bits - 1, size=n, dtype=np.uint64, endpoint=True)
    return values, encode_vector_blob(BlobKind.MASKED, values, frac_bits=20, ring_bits=bits)


@pytest.mark.parametrize(
    ("bits", "chunk_elems", "layout"),
    [
        (35, 4096, (4096, 4096 * 35 // 8)),  # the default: chunk_elems is a multiple of 8
        (35, 8, (8, 35)),
        (35, 4, (8, 35)),  # 4·35 bits is not whole bytes: rounded up to 8 elements
        (35, 9, (16, 70)),
        (36, 4, (4, 18)),  # 4·36 bits = 18 bytes already
        (36, 3, (4, 18)),
        (40, 3, (3, 15)),  # b a multiple of 8: any chunk_elems
        (64, 5, (5, 40)),
        (2, 1, (4, 1)),
        (3, 1, (8, 3)),
    ],
)
def test_masked_chunk_layout(bits: int, chunk_elems: int, layout: tuple[int, int]) -> None:
    # Prepare
    _, blob = _masked_blob(3, bits)

    # Execute / Assert
    assert chunk_layout(read_header(blob), chunk_elems=chunk_elems) == layout


def test_fixed_width_chunk_layout_is_unchanged() -> None:
    # Prepare
    update = _update(np.ones(3))
    model = encode_vector_blob(BlobKind.MODEL, np.ones(3, np.int64), frac_bits=20)

    # Execute / Assert
    assert chunk_layout(read_header(update), chunk_elems=5) == (5, 20)
    assert chunk_layout(read_header(model), chunk_elems=5) == (5, 40)
    with pytest.raises(MerkleError, match="chunk_elems"):
        chunk_layout(read_header(model), chunk_elems=0)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=64),
    st.integers(min_value=1, max_value=300),
    st.integers(min_value=1, max_value=40),
)
def test_masked_chunks_are_whole_elements_and_whole_bytes(
    bits: int, n: int, chunk_elems: int
) -> None:
    # Prepare
    values, blob = _masked_blob(n, bits, seed=n)
    elems, size = chunk_layout(read_header(blob), chunk_elems=chunk_elems)
    chunks = _chunks(blob, size)

    # Execute
    tree = MerkleSumTree(blob, chunk_elems=chunk_elems, owner=ZERO_OWNER)

    # Assert: the root is over those byte chunks, and chunk i decodes alone to its elements
    assert elems >= chunk_elems and (elems * bits) % 8 == 0 and size == elems * bits // 8
    assert (
        tree.root
        == _ref_top([(_ref_leaf(ZERO_OWNER, i, 0, c), 0) for i, c in enumerate(chunks)])[0]
    )
    assert (
        tree.num_chunks
        == len(chunks)
        == -(-n // elems)
        == num_chunks(n, chunk_elems, BlobKind.MASKED, bits)
    )
    for i, chunk in enumerate(chunks):
        part = values[i * elems : (i + 1) * elems]
        assert tree.chunk(i) == chunk
        np.testing.assert_array_equal(unpack_words(chunk, bits, part.size), part)


def test_masked_root_depends_on_the_ring_width() -> None:
    # Prepare: the same words in two rings are different blobs with different chunking
    values = np.arange(1, 50, dtype=np.uint64)
    a = encode_vector_blob(BlobKind.MASKED, values, frac_bits=20, ring_bits=35)
    b = encode_vector_blob(BlobKind.MASKED, values, frac_bits=20, ring_bits=36)

    # Execute / Assert
    assert blob_root(a, chunk_elems=4, owner=ALICE) != blob_root(b, chunk_elems=4, owner=ALICE)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([BlobKind.UPDATE, BlobKind.MODEL]), st.integers(1, 100), st.data())
def test_flipped_bit_changes_root(kind: BlobKind, n: int, data: st.DataObject) -> None:
    # Prepare
    dtype = np.int32 if kind == BlobKind.UPDATE else np.int64
    blob = encode_vector_blob(kind, np.arange(n, dtype=dtype) - n // 2, frac_bits=20)
    tampered = bytearray(blob)
    tampered[data.draw(st.integers(HEADER_SIZE, len(blob) - 1))] ^= 1 << data.draw(
        st.integers(0, 7)
    )

    # Execute / Assert
    assert blob_root(blob, chunk_elems=4, owner=ALICE) != blob_root(
        bytes(tampered), chunk_elems=4, owner=ALICE
    )


def test_refusals() -> None:
    # Prepare
    blob = _update([1, 2])

    # Execute / Assert
    with pytest.raises(MerkleError, match="chunk_elems"):
        MerkleSumTree(blob, chunk_elems=0, owner=ALICE)
    with pytest.raises(MalformedBlob, match="bad magic"):
        MerkleSumTree(b"XXXX" + bytes(12), chunk_elems=4, owner=ALICE)
    with pytest.raises(MerkleError, match="2 chunk sums for 1 chunks"):
        MerkleSumTree(blob, chunk_elems=4, owner=ALICE, sums=[1, 2])
    with pytest.raises(MerkleError, match="uint128"):
        MerkleSumTree(blob, chunk_elems=4, owner=ALICE, sums=[2**128])
    with pytest.raises(MerkleError, match="uint64"):
        leaf_hash(ALICE, -1, 0, b"")
    with pytest.raises(MerkleError, match="at least one chunk"):
        tree_depth(0)
    with pytest.raises(MerkleError, match="int32"):
        chunk_sums(BlobKind.UPDATE, np.array([2**31]), chunk_elems=4)
    assert verify_proof(bytes(32), ALICE, 0, b"", 2**128, [], num_chunks=1) is None


def test_million_params_build_fast() -> None:
    # Prepare
    rng = np.random.default_rng(0)
    values = rng.integers(-(2**31), 2**31, size=1_000_000, dtype=np.int64).astype(np.int32)
    blob = _update(values)
    MerkleSumTree(blob, chunk_elems=256, owner=ALICE)  # warm up

    # Execute
    start = time.perf_counter()
    tree = MerkleSumTree(blob, chunk_elems=256, owner=ALICE)
    elapsed = time.perf_counter() - start

    # Assert: generous bound for slow CI machines; ~60 ms here (3907 chunks, sums included)
    assert tree.num_chunks == 3907 and tree.depth == 12
    assert tree.top_sum == int(np.sum(values.astype(np.int64).astype(object) ** 2))
    assert elapsed < 1.0, f"tree over 10^6 params took {elapsed:.3f} s"


# --- the stored object: blob + declared sums ----------------------------------------------------


def test_committed_update_round_trips_and_declares_its_sums() -> None:
    # Prepare: 10 elements, chunks of 4 -> 3 sums, one of them a lie
    blob = _update(np.arange(10) - 5)
    sums = [2**128 - 1, 0, 12345]

    # Execute
    stored = encode_committed(blob, sums)
    got_blob, got_sums = decode_committed(
        stored, kind=BlobKind.UPDATE, chunk_elems=4, expected_length=10
    )

    # Assert
    assert stored == blob + b"".join(s.to_bytes(16, "big") for s in sums)
    assert (got_blob, got_sums) == (blob, sums)
    assert decode_vector_blob(got_blob).values.tolist() == list(range(-5, 5))


@pytest.mark.parametrize("cut", [1, 16, 48])
def test_truncated_sums_trailer_refused(cut: int) -> None:
    # Prepare
    stored = encode_committed(_update(np.arange(10)), [1, 2, 3])

    # Execute / Assert
    with pytest.raises(MalformedBlob, match="sums trailer is .* expected 3 chunks"):
        decode_committed(stored[:-cut], kind=BlobKind.UPDATE, chunk_elems=4, expected_length=10)
    with pytest.raises(MalformedBlob, match="sums trailer"):
        decode_committed(stored + bytes(16), kind=BlobKind.UPDATE, chunk_elems=4)


def test_committed_refusals_and_other_kinds() -> None:
    # Prepare
    update = encode_committed(_update(np.arange(10)), [1, 2, 3])
    model = encode_vector_blob(BlobKind.MODEL, np.arange(10, dtype=np.int64), frac_bits=20)

    # Execute / Assert
    with pytest.raises(MalformedBlob, match="wrong length"):
        decode_committed(update, kind=BlobKind.UPDATE, chunk_elems=4, expected_length=11)
    with pytest.raises(MalformedBlob, match="wrong blob kind"):
        decode_committed(update, kind=BlobKind.MODEL, chunk_elems=4)
    with pytest.raises(MalformedBlob, match="wrong blob kind"):
        decode_committed(model, kind=BlobKind.UPDATE, chunk_elems=4)
    with pytest.raises(MalformedBlob, match="too short"):
        decode_committed(update[:10], kind=BlobKind.UPDATE, chunk_elems=4)
    assert encode_committed(model, [0, 0, 0]) == model
    assert decode_committed(model, kind=BlobKind.MODEL, chunk_elems=4) == (model, [0, 0, 0])
    with pytest.raises(MalformedBlob, match="trailing"):
        decode_committed(model + bytes(16), kind=BlobKind.MODEL, chunk_elems=4)
    with pytest.raises(MerkleError, match="zero chunk sums"):
        encode_committed(model, [0, 1, 0])
    with pytest.raises(MerkleError, match="uint128"):
        encode_committed(_update([1]), [-1])


def test_divergence_walks_to_a_differing_chunk_from_the_other_trees_proofs() -> None:
    rng = np.random.default_rng(5)
    ours = rng.integers(-(2**20), 2**20, size=37).astype(np.int64)
    for wrong in (0, 13, 36):
        theirs = ours.copy()
        theirs[wrong] += 1
        mine = MerkleSumTree(
            encode_vector_blob(BlobKind.AGGREGATE, ours, frac_bits=20),
            chunk_elems=4,
            owner=ZERO_OWNER,
        )
        other = MerkleSumTree(
            encode_vector_blob(BlobKind.AGGREGATE, theirs, frac_bits=20),
            chunk_elems=4,
            owner=ZERO_OWNER,
        )
        asked, c = [], 0
        while True:
            asked.append(c)
            if other.chunk(c) != mine.chunk(c):
                break
            nxt = mine.divergence(c, other.proof(c))
            assert nxt is not None and nxt not in asked
            c = nxt
        assert c == wrong // 4 and len(asked) <= mine.depth + 1
    same = MerkleSumTree(
        encode_vector_blob(BlobKind.AGGREGATE, ours, frac_bits=20), chunk_elems=4, owner=ZERO_OWNER
    )
    assert same.divergence(3, same.proof(3)) is None
    with pytest.raises(MerkleError):
        same.divergence(3, same.proof(3)[:-1])

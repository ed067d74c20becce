"""Merkle commitments: OpenZeppelin-compatible hashing, proofs, and blob commitments."""

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
    encode_vector_blob,
    read_header,
    unpack_words,
)
from fedchain.codec.digest import blob_digest
from fedchain.codec.merkle import (
    BlobCommitment,
    MerkleError,
    blob_root,
    chunk_layout,
    chunk_leaves,
    commit_blob,
    leaf_hash,
    merkle_proof,
    merkle_root,
    verify_proof,
)


def _oz_hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin 5 Hashes.commutativeKeccak256, written from its Solidity source."""
    return keccak(a + b) if int.from_bytes(a, "big") < int.from_bytes(b, "big") else keccak(b + a)


def _oz_verify(proof: list[bytes], root: bytes, leaf: bytes) -> bool:
    """OpenZeppelin 5 MerkleProof.verify / processProof, independent of the module under test."""
    computed = leaf
    for p in proof:
        computed = _oz_hash_pair(computed, p)
    return computed == root


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i, i.to_bytes(4, "big") * 3) for i in range(n)]


def test_leaf_hash_is_double_keccak_of_uint64_index_and_chunk() -> None:
    # Prepare
    chunk = b"\x01\x02\x03"

    # Execute
    leaf = leaf_hash(5, chunk)

    # Assert
    assert leaf == keccak(keccak(b"\x00" * 7 + b"\x05" + chunk))
    assert leaf != leaf_hash(6, chunk)


def test_small_trees_by_hand() -> None:
    # Prepare
    a, b, c = _leaves(3)

    # Execute / Assert
    assert merkle_root([a]) == a
    assert merkle_root([a, b]) == _oz_hash_pair(a, b)
    assert merkle_root([a, b, c]) == _oz_hash_pair(_oz_hash_pair(a, b), c)  # c promoted
    assert merkle_proof([a, b, c], 2) == [_oz_hash_pair(a, b)]
    assert merkle_proof([a], 0) == []


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=300), st.data())
def test_every_leaf_proof_verifies(n: int, data: st.DataObject) -> None:
    # Prepare
    leaves = _leaves(n)
    root = merkle_root(leaves)
    indices = range(n) if n <= 40 else data.draw(st.lists(st.integers(0, n - 1), max_size=20))

    # Execute / Assert
    for i in indices:
        proof = merkle_proof(leaves, i)
        assert verify_proof(proof, root, leaves[i])
        assert _oz_verify(proof, root, leaves[i])
        assert len(proof) <= max(1, (n - 1).bit_length())
        other = leaves[(i + 1) % n]
        if other != leaves[i]:
            assert not verify_proof(proof, root, other)


def test_all_proofs_of_a_300_leaf_tree() -> None:
    # Prepare
    leaves = _leaves(300)
    root = merkle_root(leaves)

    # Execute
    ok = [_oz_verify(merkle_proof(leaves, i), root, leaves[i]) for i in range(300)]

    # Assert
    assert all(ok)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=200),
    st.integers(min_value=1, max_value=16),
    st.data(),
)
def test_flipped_byte_changes_root(
    values: list[int], chunk_elems: int, data: st.DataObject
) -> None:
    # Prepare
    blob = encode_vector_blob(BlobKind.UPDATE, np.array(values, dtype=np.int32), frac_bits=20)
    pos = data.draw(st.integers(16, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    tampered = bytearray(blob)
    tampered[pos] ^= 1 << bit

    # Execute
    before = commit_blob(blob, chunk_elems=chunk_elems)
    after = commit_blob(bytes(tampered), chunk_elems=chunk_elems)

    # Assert
    assert before.root != after.root
    assert before.digest != after.digest


def test_commit_blob_chunks_by_element_width() -> None:
    # Prepare: 10 int64 elements, chunks of 4 elements = 32 bytes, last chunk 16 bytes
    values = np.arange(10, dtype=np.int64) - 5
    blob = encode_vector_blob(BlobKind.AGGREGATE, values, frac_bits=20)
    payload = blob[16:]

    # Execute
    c = commit_blob(blob, chunk_elems=4)

    # Assert
    expected = [
        leaf_hash(0, payload[:32]),
        leaf_hash(1, payload[32:64]),
        leaf_hash(2, payload[64:]),
    ]
    assert chunk_leaves(payload, chunk_bytes=32) == expected
    assert c == BlobCommitment(root=merkle_root(expected), digest=blob_digest(blob))
    assert len(c.root) == 32 and len(c.digest) == 32


def test_chunk_proof_verifies_against_commitment() -> None:
    # Prepare: what a fraud proof does with chunk 3 of an update
    values = np.arange(-50, 50, dtype=np.int32)
    blob = encode_vector_blob(BlobKind.UPDATE, values, frac_bits=20)
    leaves = chunk_leaves(blob[16:], chunk_bytes=8 * 4)

    # Execute
    root = commit_blob(blob, chunk_elems=8).root
    chunk3 = blob[16 + 3 * 32 : 16 + 4 * 32]

    # Assert
    assert _oz_verify(merkle_proof(leaves, 3), root, leaf_hash(3, chunk3))
    assert not _oz_verify(merkle_proof(leaves, 3), root, leaf_hash(4, chunk3))


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
    update = encode_vector_blob(BlobKind.UPDATE, np.ones(3, np.int32), frac_bits=20)
    model = encode_vector_blob(BlobKind.MODEL, np.ones(3, np.int64), frac_bits=20)

    # Execute / Assert
    assert chunk_layout(read_header(update), chunk_elems=5) == (5, 20)
    assert chunk_layout(read_header(model), chunk_elems=5) == (5, 40)
    with pytest.raises(MerkleError, match="chunk_elems"):
        chunk_layout(read_header(model), chunk_elems=0)


@settings(max_examples=100, deadline=None)
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
    payload = blob[HEADER_SIZE:]
    chunks = [payload[i : i + size] for i in range(0, len(payload), size)]

    # Execute
    root = commit_blob(blob, chunk_elems=chunk_elems).root

    # Assert: the root is over those byte chunks, and chunk i decodes alone to its elements
    assert elems >= chunk_elems and (elems * bits) % 8 == 0 and size == elems * bits // 8
    assert elems == chunk_elems or (chunk_elems * bits) % 8 != 0
    assert root == merkle_root([leaf_hash(i, c) for i, c in enumerate(chunks)])
    assert root == blob_root(blob, chunk_elems=chunk_elems)
    assert len(chunks) == -(-n // elems)
    for i, chunk in enumerate(chunks):
        part = values[i * elems : (i + 1) * elems]
        np.testing.assert_array_equal(unpack_words(chunk, bits, part.size), part)


def test_masked_chunk_proof_verifies_against_commitment() -> None:
    # Prepare: 100 words of 35 bits, chunk_elems 8 -> 35-byte chunks, the last one 18 bytes
    _, blob = _masked_blob(100, 35)
    payload = blob[HEADER_SIZE:]
    leaves = chunk_leaves(payload, chunk_bytes=35)
    root = commit_blob(blob, chunk_elems=8).root

    # Execute / Assert
    assert len(leaves) == 13 and len(payload) - 12 * 35 == 18
    for i in (0, 5, 12):
        chunk = payload[i * 35 : (i + 1) * 35]
        assert _oz_verify(merkle_proof(leaves, i), root, leaf_hash(i, chunk))
        assert not _oz_verify(merkle_proof(leaves, i), root, leaf_hash(i, chunk[:-1]))


def test_masked_root_depends_on_the_ring_width() -> None:
    # Prepare: the same words in two rings are different blobs with different chunking
    values = np.arange(1, 50, dtype=np.uint64)
    a = encode_vector_blob(BlobKind.MASKED, values, frac_bits=20, ring_bits=35)
    b = encode_vector_blob(BlobKind.MASKED, values, frac_bits=20, ring_bits=36)

    # Execute / Assert
    assert commit_blob(a, chunk_elems=4) != commit_blob(b, chunk_elems=4)


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=2, max_value=64), st.integers(min_value=1, max_value=100), st.data())
def test_flipped_bit_of_a_masked_blob_changes_root(bits: int, n: int, data: st.DataObject) -> None:
    # Prepare
    _, blob = _masked_blob(n, bits, seed=bits)
    pos = data.draw(st.integers(HEADER_SIZE, len(blob) - 1))
    tampered = bytearray(blob)
    tampered[pos] ^= 1 << data.draw(st.integers(0, 7))

    # Execute / Assert (a flipped padding bit is still committed to, before any decoder)
    assert blob_root(blob, chunk_elems=4) != blob_root(bytes(tampered), chunk_elems=4)


def test_refusals() -> None:
    # Execute / Assert
    with pytest.raises(MerkleError, match="no leaves"):
        merkle_root([])
    with pytest.raises(ValueError, match="no leaves"):
        merkle_proof([], 0)
    with pytest.raises(MerkleError, match="out of range"):
        merkle_proof(_leaves(3), 3)
    with pytest.raises(MerkleError, match="expected 32"):
        merkle_root([b"short"])
    with pytest.raises(MerkleError, match="chunk_elems"):
        commit_blob(
            encode_vector_blob(BlobKind.UPDATE, np.ones(2, np.int32), frac_bits=0), chunk_elems=0
        )
    with pytest.raises(MalformedBlob, match="bad magic"):
        commit_blob(b"XXXX" + bytes(12), chunk_elems=4)
    with pytest.raises(MerkleError, match="uint64"):
        leaf_hash(-1, b"")


def test_million_params_commit_fast() -> None:
    # Prepare
    rng = np.random.default_rng(0)
    values = rng.integers(-(2**20), 2**20, size=1_000_000, dtype=np.int32)
    blob = encode_vector_blob(BlobKind.UPDATE, values, frac_bits=20)
    commit_blob(blob, chunk_elems=4096)  # warm up

    # Execute
    start = time.perf_counter()
    c = commit_blob(blob, chunk_elems=4096)
    elapsed = time.perf_counter() - start

    # Assert: generous bound for slow CI machines; typically ~30 ms
    assert len(c.root) == 32
    assert elapsed < 1.0, f"commit of 10^6 params took {elapsed:.3f} s"

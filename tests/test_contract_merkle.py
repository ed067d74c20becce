"""Python's Merkle commitments (fedchain.codec.merkle) verify on-chain with the coordinator's
``verifyChunk`` (ChunkCommitment + OpenZeppelin MerkleProof), and forgeries do not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fedchain.codec.merkle import chunk_leaves, leaf_hash, merkle_proof, merkle_root

CHUNK_ELEMS = 16
CHUNK_BYTES = CHUNK_ELEMS * 4  # int32 elements


def _payload(n_elems: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    values = rng.integers(-(2**31), 2**31, size=n_elems, dtype=np.int64).astype(np.int32)
    return values.astype(">i4").tobytes()  # blob payloads are big-endian


def _chunks(payload: bytes) -> list[bytes]:
    return [payload[i : i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)]


def test_every_chunk_of_a_37_chunk_payload_verifies_on_chain(coordinator: Any) -> None:
    payload = _payload(36 * CHUNK_ELEMS + 9)  # 37 chunks, the last one shorter
    chunks = _chunks(payload)
    assert len(chunks) == 37 and len(chunks[-1]) == 9 * 4
    leaves = chunk_leaves(payload, chunk_bytes=CHUNK_BYTES)
    assert leaves == [leaf_hash(i, c) for i, c in enumerate(chunks)]
    root = merkle_root(leaves)
    for i, chunk in enumerate(chunks):
        proof = merkle_proof(leaves, i)
        assert coordinator.verify_chunk(root, proof, i, chunk), f"chunk {i} did not verify"


@pytest.mark.parametrize("n_chunks", [1, 2, 3, 5, 8])
def test_small_trees_verify_on_chain(coordinator: Any, n_chunks: int) -> None:
    payload = _payload(n_chunks * CHUNK_ELEMS - 3, seed=n_chunks)
    chunks = _chunks(payload)
    assert len(chunks) == n_chunks
    leaves = chunk_leaves(payload, chunk_bytes=CHUNK_BYTES)
    root = merkle_root(leaves)
    for i, chunk in enumerate(chunks):
        assert coordinator.verify_chunk(root, merkle_proof(leaves, i), i, chunk)


def test_leaf_hash_matches_solidity(coordinator: Any) -> None:
    # A one-leaf tree's root is the leaf itself: an empty proof checks leaf_hash on-chain.
    cases = [(0, b""), (1, b"\x01"), (7, _payload(CHUNK_ELEMS)), (2**64 - 1, b"x" * 100)]
    for index, chunk in cases:
        leaf = leaf_hash(index, chunk)
        assert merkle_root([leaf]) == leaf
        assert coordinator.verify_chunk(leaf, [], index, chunk)
        assert not coordinator.verify_chunk(leaf, [], (index + 1) % 2**64, chunk)


def test_forgeries_do_not_verify(coordinator: Any) -> None:
    payload = _payload(36 * CHUNK_ELEMS + 9, seed=1)
    chunks = _chunks(payload)
    leaves = chunk_leaves(payload, chunk_bytes=CHUNK_BYTES)
    root = merkle_root(leaves)
    other = _payload(len(payload) // 4, seed=2)
    other_root = merkle_root(chunk_leaves(other, chunk_bytes=CHUNK_BYTES))
    for i in (0, 1, 18, 35, 36):
        chunk, proof = chunks[i], merkle_proof(leaves, i)
        assert coordinator.verify_chunk(root, proof, i, chunk)
        # one flipped bit in the chunk
        tampered = bytearray(chunk)
        tampered[len(chunk) // 2] ^= 0x01
        assert not coordinator.verify_chunk(root, proof, i, bytes(tampered))
        # a truncated or extended chunk
        assert not coordinator.verify_chunk(root, proof, i, chunk[:-1])
        assert not coordinator.verify_chunk(root, proof, i, chunk + b"\x00")
        # the right chunk under a wrong index (with its own proof, and with the other's)
        j = (i + 1) % len(chunks)
        assert not coordinator.verify_chunk(root, proof, j, chunk)
        assert not coordinator.verify_chunk(root, merkle_proof(leaves, j), j, chunk)
        # another chunk's bytes at this index
        assert not coordinator.verify_chunk(root, proof, i, chunks[j])
        # a wrong root, a truncated proof
        assert not coordinator.verify_chunk(other_root, proof, i, chunk)
        assert not coordinator.verify_chunk(root, proof[:-1], i, chunk)
    # An inner node is not a leaf: presenting the pair hash as a "chunk" proof fails.
    assert not coordinator.verify_chunk(root, merkle_proof(leaves, 0)[1:], 0, leaves[0] + leaves[1])

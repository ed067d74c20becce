"""Merkle commitments to blob payloads, verifiable by OpenZeppelin 5's ``MerkleProof.verify``.

Only the root (32 bytes) goes on-chain, whatever the model's size. A fraud proof then names one
chunk and proves it against the root with ``log2(chunks)`` hashes, so the contract never needs
the whole vector.

Tree: leaf i = ``keccak(keccak(uint64_be(i) ‖ chunk_i))`` (double hashing, as OpenZeppelin
advises, so a leaf can never be confused with an inner node; the index binds a chunk to its
position). Inner node = keccak of the sorted pair (OpenZeppelin's commutative hash). An odd
node at the end of a level is promoted unchanged; a one-leaf tree's root is the leaf. Solidity::

    keccak256(bytes.concat(keccak256(abi.encodePacked(uint64(index), chunk))))

Chunks (:func:`chunk_layout`): a blob's payload is cut into chunks of ``k`` whole elements,
``k·w`` bytes for an element of ``w`` bytes, the last chunk holding the rest. For the
fixed-width kinds ``k = chunk_elems``, so chunk i of an update and of the aggregate cover the
same parameters. A MASKED payload packs ``b`` bits per element (b from its header); a chunk is
still whole elements *and* whole bytes: ``k`` is ``chunk_elems`` rounded up to a multiple of
``8 / gcd(b, 8)`` (so ``k·b`` is a multiple of 8) and a chunk is ``k·b/8`` bytes; the last chunk
ends with the payload's zero padding bits. ``k == chunk_elems`` whenever ``chunk_elems`` is a
multiple of 8, as the default 4096 is. Chunk i thus always decodes on its own to elements
[i·k, (i+1)·k), and the chunks depend only on the header and ``chunk_elems``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from eth_hash.auto import keccak

from fedchain.codec.blob import ELEMENT_SIZE, HEADER_SIZE, BlobHeader, BlobKind, read_header
from fedchain.codec.digest import blob_digest
from fedchain.errors import FedchainError

__all__ = [
    "BlobCommitment",
    "blob_root",
    "MerkleError",
    "chunk_layout",
    "chunk_leaves",
    "commit_blob",
    "leaf_hash",
    "merkle_proof",
    "merkle_root",
    "verify_proof",
]

_UINT64_MAX = 2**64 - 1


class MerkleError(FedchainError, ValueError):
    """A Merkle tree or proof was asked for with inputs that do not define one."""


def leaf_hash(index: int, chunk: bytes | bytearray | memoryview) -> bytes:
    """The leaf committing to chunk ``index`` with bytes ``chunk`` (see module docstring)."""
    if not 0 <= index <= _UINT64_MAX:
        raise MerkleError(f"chunk index {index} does not fit uint64")
    return keccak(keccak(index.to_bytes(8, "big") + chunk))


def chunk_leaves(payload: bytes | bytearray | memoryview, *, chunk_bytes: int) -> list[bytes]:
    """Cut ``payload`` into ``chunk_bytes``-sized chunks (last may be shorter); hash each leaf."""
    if chunk_bytes <= 0:
        raise MerkleError(f"chunk_bytes must be positive, got {chunk_bytes}")
    view = memoryview(payload)
    return [
        leaf_hash(i, view[off : off + chunk_bytes])  # bytes + memoryview -> bytes, no copy
        for i, off in enumerate(range(0, len(view), chunk_bytes))
    ]


def _hash_pair(a: bytes, b: bytes) -> bytes:
    # bytes order on equal-length strings == uint256 order, as in OpenZeppelin's Hashes.
    return keccak(a + b) if a < b else keccak(b + a)


def _check_leaves(leaves: Sequence[bytes]) -> None:
    if len(leaves) == 0:
        raise MerkleError("cannot build a Merkle tree with no leaves")
    for i, leaf in enumerate(leaves):
        if len(leaf) != 32:
            raise MerkleError(f"leaf {i} is {len(leaf)} bytes, expected 32")


def _next_level(level: list[bytes]) -> list[bytes]:
    up = [_hash_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        up.append(level[-1])
    return up


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root over 32-byte ``leaves``; a single leaf is its own root. Refuses an empty list."""
    _check_leaves(leaves)
    level = [bytes(x) for x in leaves]
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Sibling hashes from leaf ``index`` up to the root, in OpenZeppelin's proof order."""
    _check_leaves(leaves)
    if not 0 <= index < len(leaves):
        raise MerkleError(f"leaf index {index} out of range for {len(leaves)} leaves")
    proof: list[bytes] = []
    level = [bytes(x) for x in leaves]
    i = index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):  # else: odd last node, promoted with no sibling
            proof.append(level[sibling])
        level = _next_level(level)
        i //= 2
    return proof


def verify_proof(proof: Sequence[bytes], root: bytes, leaf: bytes) -> bool:
    """True when ``proof`` links ``leaf`` to ``root`` (same result as ``MerkleProof.verify``)."""
    node = bytes(leaf)
    for sibling in proof:
        node = _hash_pair(node, bytes(sibling))
    return node == bytes(root)


@dataclass(frozen=True)
class BlobCommitment:
    """What goes on-chain for a blob: the chunk Merkle root and the content digest."""

    root: bytes
    digest: bytes


def chunk_layout(header: BlobHeader, *, chunk_elems: int) -> tuple[int, int]:
    """(elements, bytes) per chunk of a blob with ``header`` (see the module docstring)."""
    if chunk_elems <= 0:
        raise MerkleError(f"chunk_elems must be positive, got {chunk_elems}")
    if header.kind != BlobKind.MASKED:
        return chunk_elems, chunk_elems * ELEMENT_SIZE[header.kind]
    bits = header.ring_bits
    if bits is None:
        raise MerkleError("a MASKED blob header without ring_bits has no chunk layout")
    step = 8 // math.gcd(bits, 8)  # elements per whole number of bytes
    elems = -(-chunk_elems // step) * step
    return elems, elems * bits // 8


def commit_blob(data: bytes, *, chunk_elems: int) -> BlobCommitment:
    """Commit to a vector blob: Merkle root over its payload's chunks plus its SHA-256.

    Chunks hold ``chunk_elems`` elements of the blob's own width (from its header), so a chunk
    of an update and the same chunk of the aggregate cover the same parameters; a MASKED blob's
    chunks are rounded up to whole bytes (:func:`chunk_layout`).
    """
    return BlobCommitment(root=blob_root(data, chunk_elems=chunk_elems), digest=blob_digest(data))


def blob_root(data: bytes, *, chunk_elems: int) -> bytes:
    """The Merkle root alone, for callers whose store already hashes the blob."""
    if chunk_elems <= 0:
        raise MerkleError(f"chunk_elems must be positive, got {chunk_elems}")
    _, chunk_bytes = chunk_layout(read_header(data), chunk_elems=chunk_elems)
    payload = memoryview(data)[HEADER_SIZE:]
    return merkle_root(chunk_leaves(payload, chunk_bytes=chunk_bytes))

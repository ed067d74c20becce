"""Position-bound, owner-bound Merkle-SUM commitments to vector blobs.

Only the root (32 bytes) goes on-chain, whatever the model's size. A fraud proof names one
chunk and opens it against the root with ``D`` sibling nodes, so the contract never needs the
whole vector. This module and the Solidity verifier implement the same spec, byte for byte:

* Inputs: a blob's payload cut into ``m >= 1`` chunks (:func:`chunk_layout`), an ``owner``
  (20-byte EVM address; the zero address for aggregates and models) and per-chunk sums
  ``s_i`` with ``0 <= s_i < 2**128``.
* Depth ``D = ceil(log2(m))`` (``D = 0`` when ``m == 1``).
* ``leaf_i = keccak256(keccak256(owner[20] || uint64_be(i) || uint128_be(s_i) || chunk_i))``.
* The leaf level is padded to ``2**D`` nodes with the empty node ``(h = 32 zero bytes, s = 0)``.
* A node is a pair ``(h, s)``. Parent of ``(hL, sL), (hR, sR)``: ``s = (sL + sR) mod 2**256``,
  ``h = keccak256(hL || hR || uint256_be(s))``.
* ``root`` = h of the top node; ``top_sum`` = s of the top node.
* Proof for leaf ``i``: exactly ``D`` sibling pairs ``(h, s)``, bottom-up. Verification starts
  from ``(leaf_i, s_i)``; at level ``l`` (0-based) the node is ``parent(node, sibling)`` if bit
  ``l`` of ``i`` is 0, else ``parent(sibling, node)``. Valid iff ``len(proof) == D``,
  ``0 <= i < m`` and the final h equals the root; it yields the computed top sum, which callers
  compare with a committed squared norm.
* Sums: for an UPDATE (int32 elements) ``s_i`` is the exact sum of squares of chunk i's
  elements; for every other kind (AGGREGATE, MODEL, MASKED) every ``s_i = 0``.

Why: the fixed depth and the index bits steering each step bind a chunk to its position (the
old sorted-pair tree let one root open an index to two chunks); the owner in every leaf means a
root copied from another participant cannot be opened by the copier; the sums make a squared
norm committed in the root provably wrong with one opened chunk (its sum disagrees with its
elements) or with the top sum itself.

Chunks (:func:`chunk_layout`): a payload is cut into chunks of ``k`` whole elements, ``k·w``
bytes for an element of ``w`` bytes, the last chunk holding the rest. For the fixed-width kinds
``k = chunk_elems``, so chunk i of an update and of the aggregate cover the same parameters. A
MASKED payload packs ``b`` bits per element; its ``k`` is ``chunk_elems`` rounded up to a
multiple of ``8 / gcd(b, 8)`` so a chunk is whole elements *and* whole bytes (``k·b/8``); the
last chunk ends with the payload's zero padding bits. Chunk i thus always decodes on its own to
elements [i·k, (i+1)·k).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fedchain.codec.blob import (
    ELEMENT_SIZE,
    HEADER_SIZE,
    BlobHeader,
    BlobKind,
    decode_vector_blob,
    read_header,
)
from fedchain.errors import FedchainError

try:  # safe-pysha3 hashes with ~1 us overhead a call, pycryptodome's cffi with ~9 us: a tree
    # of 4096 leaves is ~12k calls, so this is most of its build time. Same digests either way.
    from sha3 import keccak_256 as _keccak_256  # type: ignore[import-untyped,import-not-found,unused-ignore]

    def keccak(data: bytes) -> bytes:
        """Keccak-256 (Ethereum's, not SHA3-256)."""
        return bytes(_keccak_256(data).digest())

except ImportError:  # pragma: no cover - depends on the environment
    from eth_hash.auto import keccak as _eth_keccak

    def keccak(data: bytes) -> bytes:
        """Keccak-256 (Ethereum's, not SHA3-256)."""
        return _eth_keccak(data)


__all__ = [
    "EMPTY_NODE",
    "ZERO_OWNER",
    "MerkleError",
    "MerkleSumTree",
    "Owner",
    "SumNode",
    "blob_root",
    "chunk_layout",
    "chunk_sums",
    "leaf_hash",
    "num_chunks",
    "owner_bytes",
    "parent",
    "tree_depth",
    "verify_proof",
]

ZERO_OWNER = bytes(20)
"""The owner of aggregates and models: no participant."""

_UINT64_MAX = 2**64 - 1
_SUM_LIMIT = 2**128
_MOD = 2**256

Owner = bytes | bytearray | str
Chunk = bytes | bytearray | memoryview


class MerkleError(FedchainError, ValueError):
    """A Merkle tree or proof was asked for with inputs that do not define one."""


@dataclass(frozen=True)
class SumNode:
    """A tree node: its hash and the (mod 2**256) sum of the leaf sums below it."""

    h: bytes
    s: int


EMPTY_NODE = SumNode(bytes(32), 0)
"""The padding node: what fills the leaf level up to 2**D."""


def owner_bytes(owner: Owner) -> bytes:
    """The 20 address bytes of ``owner`` (raw bytes or a "0x…" hex string)."""
    if isinstance(owner, str):
        text = owner[2:] if owner[:2] in ("0x", "0X") else owner
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raise MerkleError(f"owner {owner!r} is not a hex address") from None
    elif isinstance(owner, bytes | bytearray):
        raw = bytes(owner)
    else:
        raise MerkleError(f"owner must be 20 bytes or a 0x-hex str, got {type(owner).__name__}")
    if len(raw) != 20:
        raise MerkleError(f"owner must be a 20-byte address, got {len(raw)} bytes")
    return raw


def _check_sum(chunk_sum: int) -> int:
    if isinstance(chunk_sum, bool) or not isinstance(chunk_sum, int | np.integer):
        raise MerkleError(f"chunk sum must be an int, got {type(chunk_sum).__name__}")
    if not 0 <= chunk_sum < _SUM_LIMIT:
        raise MerkleError(f"chunk sum {chunk_sum} does not fit uint128")
    return int(chunk_sum)


def _leaf(owner: bytes, index: int, chunk_sum: int, chunk: Chunk) -> bytes:
    return keccak(keccak(owner + index.to_bytes(8, "big") + chunk_sum.to_bytes(16, "big") + chunk))


def leaf_hash(owner: Owner, index: int, chunk_sum: int, chunk: Chunk) -> bytes:
    """The leaf committing ``owner``'s chunk ``index`` with sum ``chunk_sum`` (see the spec)."""
    if isinstance(index, bool) or not 0 <= index <= _UINT64_MAX:
        raise MerkleError(f"chunk index {index} does not fit uint64")
    return _leaf(owner_bytes(owner), int(index), _check_sum(chunk_sum), chunk)


def _parent_hash(h_left: bytes, h_right: bytes, s: int) -> bytes:
    return keccak(h_left + h_right + s.to_bytes(32, "big"))


def parent(left: SumNode, right: SumNode) -> SumNode:
    """The parent of two nodes: sums add mod 2**256 and the sum is hashed in with them."""
    s = (left.s + right.s) % _MOD
    return SumNode(_parent_hash(left.h, right.h, s), s)


def tree_depth(num_chunks: int) -> int:
    """D = ceil(log2(m)): the exact proof length for a tree of ``num_chunks`` leaves."""
    if isinstance(num_chunks, bool) or not isinstance(num_chunks, int) or num_chunks < 1:
        raise MerkleError(f"a tree needs at least one chunk, got {num_chunks!r}")
    return (num_chunks - 1).bit_length()


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


def num_chunks(
    num_elements: int, chunk_elems: int, kind: BlobKind, ring_bits: int | None = None
) -> int:
    """m: how many chunks a ``kind`` blob of ``num_elements`` elements is cut into."""
    if num_elements < 1:
        raise MerkleError(f"a vector blob has at least one element, got {num_elements}")
    header = BlobHeader(BlobKind(kind), 0, num_elements, ring_bits)
    elems, _ = chunk_layout(header, chunk_elems=chunk_elems)
    return -(-num_elements // elems)


def chunk_sums(
    kind: BlobKind, values: np.ndarray, *, chunk_elems: int, ring_bits: int | None = None
) -> list[int]:
    """The honest per-chunk sums: exact sums of squares for UPDATE, zeros for every other kind
    (``ring_bits`` is needed only to count a MASKED vector's chunks).

    Exact even where int64 would overflow: each square (<= 2**62) is split into 32-bit halves
    that are summed separately per chunk, so no partial sum exceeds 2**32 · chunk_elems.
    """
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise MerkleError(f"chunk sums need a non-empty 1-D vector, got shape {arr.shape}")
    if BlobKind(kind) != BlobKind.UPDATE:
        return [0] * num_chunks(arr.size, chunk_elems, kind, ring_bits)
    if chunk_elems <= 0:
        raise MerkleError(f"chunk_elems must be positive, got {chunk_elems}")
    if arr.dtype.kind not in "iu" or (
        not np.can_cast(arr.dtype, np.int32)
        and not -(2**31) <= int(arr.min()) <= int(arr.max()) < 2**31
    ):
        raise MerkleError(f"UPDATE values must be int32, got {arr.dtype} values out of range")
    wide = arr.astype(np.int64)
    sq = (wide * wide).view(np.uint64)
    starts = np.arange(0, arr.size, chunk_elems)
    hi = np.add.reduceat(sq >> np.uint64(32), starts)
    lo = np.add.reduceat(sq & np.uint64(0xFFFFFFFF), starts)
    return [(h << 32) + low for h, low in zip(hi.tolist(), lo.tolist(), strict=True)]


class MerkleSumTree:
    """The whole tree over one blob, built once: the root, the top sum and every proof.

    ``sums`` are the *declared* per-chunk sums (a liar's tree commits to its lie, which is what
    makes it provable); leave them out to use the honest ones (:func:`chunk_sums`).
    """

    def __init__(
        self,
        blob: bytes,
        *,
        chunk_elems: int,
        owner: Owner,
        sums: Sequence[int] | None = None,
    ) -> None:
        header = read_header(blob)
        self.kind = header.kind
        self.owner = owner_bytes(owner)
        self._blob = bytes(blob)
        self.chunk_elems, self.chunk_bytes = chunk_layout(header, chunk_elems=chunk_elems)
        self.num_chunks = -(-header.length // self.chunk_elems)
        self.depth = tree_depth(self.num_chunks)
        if sums is None:
            sums = _honest_sums(self._blob, header, chunk_elems, self.num_chunks)
        if len(sums) != self.num_chunks:
            raise MerkleError(f"{len(sums)} chunk sums for {self.num_chunks} chunks")
        self.sums = [_check_sum(s) for s in sums]
        view = memoryview(self._blob)
        hashes = [
            _leaf(self.owner, i, s, view[off : off + self.chunk_bytes])
            for i, (s, off) in enumerate(
                zip(self.sums, range(HEADER_SIZE, len(view), self.chunk_bytes), strict=True)
            )
        ]
        pad = (1 << self.depth) - self.num_chunks
        hashes += [EMPTY_NODE.h] * pad
        level_sums = self.sums + [0] * pad
        self._levels: list[tuple[list[bytes], list[int]]] = [(hashes, level_sums)]
        while len(hashes) > 1:
            up_s = [(level_sums[j] + level_sums[j + 1]) % _MOD for j in range(0, len(hashes), 2)]
            hashes = [_parent_hash(hashes[2 * j], hashes[2 * j + 1], s) for j, s in enumerate(up_s)]
            level_sums = up_s
            self._levels.append((hashes, level_sums))
        self.root: bytes = hashes[0]
        self.top_sum: int = level_sums[0]

    def _check_index(self, i: int) -> int:
        if isinstance(i, bool) or not 0 <= i < self.num_chunks:
            raise MerkleError(f"chunk index {i} out of range for {self.num_chunks} chunks")
        return int(i)

    def chunk(self, i: int) -> bytes:
        """The payload bytes of chunk ``i`` (what a fraud proof opens)."""
        off = HEADER_SIZE + self._check_index(i) * self.chunk_bytes
        return self._blob[off : off + self.chunk_bytes]

    def proof(self, i: int) -> list[tuple[bytes, int]]:
        """The ``depth`` sibling pairs (h, s) of leaf ``i``, bottom-up: a chunk, or a padding leaf
        (``num_chunks <= i < 2**depth``, the empty node; availability answers prove those)."""
        if isinstance(i, bool) or not 0 <= i < (1 << self.depth):
            raise MerkleError(f"leaf index {i} out of range for depth {self.depth}")
        j = int(i)
        out: list[tuple[bytes, int]] = []
        for hashes, sums in self._levels[:-1]:
            out.append((hashes[j ^ 1], sums[j ^ 1]))
            j >>= 1
        return out

    def divergence(self, i: int, proof: Sequence[tuple[bytes, int]]) -> int | None:
        """Where another tree over the same layout differs from this one, judged from that
        tree's proof of chunk ``i``: the first chunk of the highest sibling subtree whose (h, s)
        is not ours, or None when every sibling matches (the two differ in chunk ``i`` itself,
        or not at all). Asking the other side to open that chunk, then again, finds a differing
        chunk in at most ``depth`` openings, without the other tree's data. The chunk named may
        be a padding leaf (``>= num_chunks``): one that must be the empty node and is not.
        ``i`` may be a padding leaf too."""
        if isinstance(i, bool) or not 0 <= i < (1 << self.depth):
            raise MerkleError(f"leaf index {i} out of range for depth {self.depth}")
        j = int(i)
        if len(proof) != self.depth:
            raise MerkleError(f"a proof of {len(proof)} levels for a tree of depth {self.depth}")
        for level in range(self.depth - 1, -1, -1):
            sib = (j >> level) ^ 1
            hashes, sums = self._levels[level]
            h, s = proof[level]
            if (bytes(h), int(s) % _MOD) != (hashes[sib], sums[sib]):
                return sib << level
        return None

    def leaf_data(self, i: int) -> bytes:
        """What an opening of leaf ``i`` carries: the chunk, or nothing for a padding leaf."""
        return b"" if self.num_chunks <= i < (1 << self.depth) else self.chunk(i)


def _honest_sums(blob: bytes, header: BlobHeader, chunk_elems: int, m: int) -> list[int]:
    if header.kind != BlobKind.UPDATE:
        return [0] * m
    values = decode_vector_blob(blob, expected_kind=BlobKind.UPDATE).values
    return chunk_sums(BlobKind.UPDATE, values, chunk_elems=chunk_elems)


def blob_root(data: bytes, *, chunk_elems: int, owner: Owner) -> bytes:
    """The root of ``owner``'s blob with its honest sums (what an honest node commits)."""
    return MerkleSumTree(data, chunk_elems=chunk_elems, owner=owner).root


def verify_proof(
    root: bytes,
    owner: Owner,
    index: int,
    chunk: Chunk,
    chunk_sum: int,
    proof: Sequence[tuple[bytes, int]],
    *,
    num_chunks: int,
) -> int | None:
    """The top sum proven by opening chunk ``index`` against ``root``, or None if invalid.

    Rejects a proof whose length is not the tree's depth and an index outside [0, m): both are
    what keeps one position from opening to two chunks.
    """
    depth = tree_depth(num_chunks)
    if isinstance(index, bool) or not 0 <= index < num_chunks or len(proof) != depth:
        return None
    if not 0 <= chunk_sum < _SUM_LIMIT:
        return None
    h = _leaf(owner_bytes(owner), int(index), int(chunk_sum), chunk)
    s = int(chunk_sum)
    for level, (sib_h, sib_s) in enumerate(proof):
        if len(sib_h) != 32 or not 0 <= sib_s < _MOD:
            return None
        s = (s + sib_s) % _MOD
        h = _parent_hash(h, sib_h, s) if not (index >> level) & 1 else _parent_hash(sib_h, h, s)
    return s if h == bytes(root) else None

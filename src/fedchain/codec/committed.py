"""The stored form of a committed vector: the blob, then (UPDATE only) its declared chunk sums.

A norm lie must be provable by anyone from the stored object alone, so an UPDATE is stored as
its vector blob followed by the per-chunk sums its owner put in the Merkle-sum root: ``m × 16``
bytes, each a uint128 big-endian (``m`` chunks, :func:`fedchain.codec.merkle.num_chunks`).
With them anyone can rebuild the owner's tree, find a chunk whose declared sum is not the sum of
its elements' squares, and open it on-chain. Every other kind commits zero sums and stores the
bare blob.
"""

from __future__ import annotations

from collections.abc import Sequence

from fedchain.codec.blob import (
    ELEMENT_SIZE,
    HEADER_SIZE,
    MAGIC,
    BlobKind,
    MalformedBlob,
    read_header,
)
from fedchain.codec.merkle import MerkleError, num_chunks

__all__ = ["SUM_BYTES", "decode_committed", "encode_committed"]

SUM_BYTES = 16
"""Bytes per declared chunk sum in the trailer: a uint128, big-endian."""


def encode_committed(blob: bytes, sums: Sequence[int]) -> bytes:
    """The object to store for ``blob`` committed with ``sums``: an UPDATE gets the trailer;
    any other kind must have all-zero sums and is stored as is."""
    kind = read_header(blob).kind
    if kind != BlobKind.UPDATE:
        if any(sums):
            raise MerkleError(f"a {kind.name} blob commits zero chunk sums, got non-zero ones")
        return bytes(blob)
    for s in sums:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**128:
            raise MerkleError(f"chunk sum {s!r} is not a uint128")
    return bytes(blob) + b"".join(s.to_bytes(SUM_BYTES, "big") for s in sums)


def decode_committed(
    data: bytes, *, kind: BlobKind, chunk_elems: int, expected_length: int | None = None
) -> tuple[bytes, list[int]]:
    """Split a stored object of ``kind`` into its blob and its declared chunk sums.

    Refuses (MalformedBlob) a wrong kind or length, and an UPDATE trailer that is not exactly
    ``m × 16`` bytes. Non-UPDATE kinds have no trailer and decode to ``m`` zero sums.
    """
    kind = BlobKind(kind)
    got_kind, length = _peek(data)
    if got_kind != kind:  # before the sizes, which depend on the kind
        raise MalformedBlob(f"wrong blob kind: expected {kind.name}, got kind byte {got_kind}")
    if kind != BlobKind.UPDATE:
        header = read_header(data)
        _check_length(header.length, expected_length)
        m = num_chunks(header.length, chunk_elems, kind, header.ring_bits)
        return bytes(data), [0] * m
    blob_len = HEADER_SIZE + length * ELEMENT_SIZE[kind]
    header = read_header(data[:blob_len])
    _check_length(header.length, expected_length)
    m = num_chunks(header.length, chunk_elems, kind)
    trailer = memoryview(data)[blob_len:]
    if len(trailer) != m * SUM_BYTES:
        raise MalformedBlob(
            f"UPDATE sums trailer is {len(trailer)} bytes, expected {m} chunks × {SUM_BYTES} = "
            f"{m * SUM_BYTES} (truncated or padded?)"
        )
    sums = [
        int.from_bytes(trailer[off : off + SUM_BYTES], "big")
        for off in range(0, len(trailer), SUM_BYTES)
    ]
    return bytes(data[:blob_len]), sums


def _peek(data: bytes) -> tuple[int, int]:
    """(kind byte, element count) of a header, before the object's size can be checked."""
    if len(data) < HEADER_SIZE:
        raise MalformedBlob(
            f"object too short: {len(data)} bytes, a header alone is {HEADER_SIZE} (truncated?)"
        )
    if data[:4] != MAGIC:
        raise MalformedBlob(f"bad magic {bytes(data[:4])!r}, expected {MAGIC!r}: not a vector blob")
    return data[4], int.from_bytes(data[8:16], "big")


def _check_length(got: int, expected: int | None) -> None:
    if expected is not None and got != expected:
        raise MalformedBlob(f"wrong length: expected {expected} elements, got {got}")

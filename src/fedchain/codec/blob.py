"""Self-describing binary blobs for integer vectors (updates, aggregates, models).

Layout (16-byte header, then the payload)::

    offset 0   4 bytes  magic b"FCV1"
    offset 4   u8       kind (BlobKind)
    offset 5   u8       frac_bits
    offset 6   2 bytes  reserved, zero
    offset 8   u64 BE   length (number of elements)
    offset 16  length * element_size bytes, big-endian two's complement

The payload is big-endian so that Solidity can read elements of a chunk with ``mload`` in a
fraud proof. The header says what the bytes are, so a blob fetched by digest alone can be
checked before anyone trusts it; decoding refuses anything that is not exactly well formed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import numpy as np

from fedchain.errors import FedchainError

__all__ = [
    "ELEMENT_SIZE",
    "HEADER_SIZE",
    "MAGIC",
    "MAX_FRAC_BITS",
    "BlobError",
    "BlobHeader",
    "BlobKind",
    "MalformedBlob",
    "VectorBlob",
    "decode_vector_blob",
    "encode_vector_blob",
    "payload_of",
    "read_header",
]

MAGIC = b"FCV1"
HEADER_SIZE = 16
MAX_FRAC_BITS = 62
_HEADER = struct.Struct(">4sBBHQ")
assert _HEADER.size == HEADER_SIZE


class BlobKind(IntEnum):
    """What a blob holds; fixes the element width of its payload."""

    UPDATE = 1  # one participant's clipped, fixed-point update: int32
    AGGREGATE = 2  # Σ nᵢ·vᵢ over the round's updates: int64
    MODEL = 3  # global model weights in fixed point: int64
    MASKED = 4  # a secure-aggregation masked input nᵢ·vᵢ + masks, in the ring Z_2^64: uint64


ELEMENT_SIZE: dict[BlobKind, int] = {
    BlobKind.UPDATE: 4,
    BlobKind.AGGREGATE: 8,
    BlobKind.MODEL: 8,
    BlobKind.MASKED: 8,
}
"""Bytes per element in the payload of each kind."""

_NATIVE: dict[BlobKind, np.dtype] = {
    BlobKind.UPDATE: np.dtype(np.int32),
    BlobKind.AGGREGATE: np.dtype(np.int64),
    BlobKind.MODEL: np.dtype(np.int64),
    BlobKind.MASKED: np.dtype(np.uint64),
}
_WIRE: dict[BlobKind, np.dtype] = {k: dt.newbyteorder(">") for k, dt in _NATIVE.items()}


class BlobError(FedchainError):
    """A vector cannot be encoded as a blob."""


class MalformedBlob(BlobError, ValueError):
    """Bytes that claim to be a vector blob are not a well-formed one (or not the one expected)."""


@dataclass(frozen=True)
class VectorBlob:
    """A decoded blob: its kind, fixed-point scale and values (native-endian int32/int64)."""

    kind: BlobKind
    frac_bits: int
    values: np.ndarray

    def __eq__(self, other: object) -> bool:
        # ndarray == ndarray is elementwise; compare what the blob means instead.
        if not isinstance(other, VectorBlob):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.frac_bits == other.frac_bits
            and self.values.dtype == other.values.dtype
            and np.array_equal(self.values, other.values)
        )

    __hash__ = None  # type: ignore[assignment]  # holds a mutable array


def encode_vector_blob(kind: BlobKind, values: np.ndarray, *, frac_bits: int) -> bytes:
    """Serialize a 1-D integer vector as a blob of ``kind``; refuses values the kind cannot hold."""
    try:
        kind = BlobKind(kind)
    except ValueError:
        raise BlobError(f"unknown blob kind {kind!r}") from None
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, int | np.integer):
        raise BlobError(f"frac_bits must be an int, got {type(frac_bits).__name__}")
    if not 0 <= frac_bits <= MAX_FRAC_BITS:
        raise BlobError(f"frac_bits must be in [0, {MAX_FRAC_BITS}], got {frac_bits}")
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise BlobError(f"{kind.name} blob needs a 1-D vector, got shape {arr.shape}")
    if arr.size == 0:
        raise BlobError(f"{kind.name} blob needs at least one element")
    if arr.dtype.kind not in "iu":
        raise BlobError(f"{kind.name} blob needs integer values, got dtype {arr.dtype}")
    native = _NATIVE[kind]
    if not np.can_cast(arr.dtype, native, casting="safe"):
        info = np.iinfo(native)
        lo, hi = int(arr.min()), int(arr.max())
        if lo < info.min or hi > info.max:
            raise BlobError(
                f"{kind.name} blob holds {native} values, but the vector spans [{lo}, {hi}]"
            )
    header = _HEADER.pack(MAGIC, int(kind), int(frac_bits), 0, arr.size)
    return header + arr.astype(_WIRE[kind], copy=False).tobytes()


class BlobHeader(NamedTuple):
    """The header fields of a blob that passed the sanity checks."""

    kind: BlobKind
    frac_bits: int
    length: int


def read_header(data: bytes, *, max_length: int | None = None) -> BlobHeader:
    """Check everything the header and the total size can tell, without decoding the payload.

    Raises MalformedBlob exactly as :func:`decode_vector_blob` would for a bad header or size.
    """
    if len(data) < HEADER_SIZE:
        raise MalformedBlob(
            f"blob too short: {len(data)} bytes, a header alone is {HEADER_SIZE} (truncated?)"
        )
    magic, kind_byte, frac_bits, reserved, length = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise MalformedBlob(f"bad magic {magic!r}, expected {MAGIC!r}: not a vector blob")
    try:
        kind = BlobKind(kind_byte)
    except ValueError:
        raise MalformedBlob(f"unknown blob kind {kind_byte}") from None
    if reserved != 0:
        raise MalformedBlob(f"reserved header bytes must be zero, got 0x{reserved:04x}")
    if frac_bits > MAX_FRAC_BITS:
        raise MalformedBlob(f"frac_bits {frac_bits} exceeds the maximum {MAX_FRAC_BITS}")
    if length == 0:
        raise MalformedBlob("blob declares zero elements")
    if max_length is not None and length > max_length:
        raise MalformedBlob(f"blob declares {length} elements, more than the limit {max_length}")
    want = HEADER_SIZE + length * ELEMENT_SIZE[kind]
    if len(data) < want:
        raise MalformedBlob(
            f"blob truncated: header declares {length} {kind.name} elements "
            f"({want} bytes in all) but only {len(data)} bytes are present"
        )
    if len(data) > want:
        raise MalformedBlob(
            f"blob has {len(data) - want} trailing bytes after {length} {kind.name} elements"
        )
    return BlobHeader(kind, frac_bits, length)


def payload_of(data: bytes) -> bytes:
    """The payload (element bytes, big-endian) after checking the header is sane."""
    read_header(data)
    return bytes(data[HEADER_SIZE:])


def decode_vector_blob(
    data: bytes,
    *,
    expected_kind: BlobKind | None = None,
    expected_length: int | None = None,
    max_length: int = 50_000_000,
) -> VectorBlob:
    """Parse and validate a blob; every refusal is a MalformedBlob that names the problem.

    ``expected_kind``/``expected_length`` let a caller that knows what it asked for (an update
    of a model with N parameters) refuse anything else before using it; ``max_length`` bounds
    the memory a hostile header can make us allocate.
    """
    kind, frac_bits, length = read_header(data, max_length=max_length)
    if expected_kind is not None and kind != expected_kind:
        raise MalformedBlob(
            f"wrong blob kind: expected {BlobKind(expected_kind).name}, got {kind.name}"
        )
    if expected_length is not None and length != expected_length:
        raise MalformedBlob(f"wrong length: expected {expected_length} elements, got {length}")
    wire = np.frombuffer(data, dtype=_WIRE[kind], count=length, offset=HEADER_SIZE)
    return VectorBlob(kind=kind, frac_bits=frac_bits, values=wire.astype(_NATIVE[kind]))

"""Self-describing binary blobs for integer vectors (updates, aggregates, models).

Layout (16-byte header, then the payload)::

    offset 0   4 bytes  magic b"FCV1"
    offset 4   u8       kind (BlobKind)
    offset 5   u8       frac_bits
    offset 6   u16 BE   ring_bits: b in [2, 64] for MASKED, 0 for every other kind
    offset 8   u64 BE   length (number of elements)
    offset 16  the payload:
                 UPDATE, AGGREGATE, MODEL: length * ELEMENT_SIZE[kind] bytes, big-endian
                   two's complement
                 MASKED: ceil(length * b / 8) bytes, the words of the ring Z_2^b packed at
                   exactly b bits each, big-endian, most significant bit first, zero-padded to
                   a whole byte (:func:`pack_words`)

The payload is big-endian so that Solidity can read elements of a chunk with ``mload`` in a
fraud proof. The header says what the bytes are, so a blob fetched by digest alone can be
checked before anyone trusts it; decoding refuses anything that is not exactly well formed
(for MASKED that includes non-zero padding bits: one vector, one byte string).

A masked word must be uniform over its whole ring, so every bit of it is sent: packing at the
round's b rather than in 64-bit words is what keeps a masked input near the size of the
plaintext update (e.g. b = 35 for a clip of 10 at 20 fractional bits and about a thousand
declared samples, against 32 bits per update element).
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
    "MAX_RING_BITS",
    "MIN_RING_BITS",
    "BlobError",
    "BlobHeader",
    "BlobKind",
    "MalformedBlob",
    "VectorBlob",
    "decode_vector_blob",
    "encode_vector_blob",
    "pack_words",
    "payload_of",
    "payload_size",
    "read_header",
    "unpack_words",
]

MAGIC = b"FCV1"
HEADER_SIZE = 16
MAX_FRAC_BITS = 62
MIN_RING_BITS = 2
MAX_RING_BITS = 64
_HEADER = struct.Struct(">4sBBHQ")
assert _HEADER.size == HEADER_SIZE


class BlobKind(IntEnum):
    """What a blob holds; fixes the element width of its payload (MASKED: the header's)."""

    UPDATE = 1  # one participant's clipped, fixed-point update: int32
    AGGREGATE = 2  # Σ nᵢ·vᵢ over the round's updates: int64
    MODEL = 3  # global model weights in fixed point: int64
    MASKED = 4  # a secure-aggregation masked input nᵢ·vᵢ + masks, in the ring Z_2^b: b bits


ELEMENT_SIZE: dict[BlobKind, int] = {
    BlobKind.UPDATE: 4,
    BlobKind.AGGREGATE: 8,
    BlobKind.MODEL: 8,
}
"""Bytes per element in the payload of the fixed-width kinds. MASKED is deliberately absent
(its words are ``ring_bits`` bits, not whole bytes): use :func:`payload_size`."""

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
    """A decoded blob: its kind, fixed-point scale and values (native-endian int32/int64, or
    uint64 words < 2^ring_bits for MASKED); ``ring_bits`` is None for every other kind."""

    kind: BlobKind
    frac_bits: int
    values: np.ndarray
    ring_bits: int | None = None

    def __eq__(self, other: object) -> bool:
        # ndarray == ndarray is elementwise; compare what the blob means instead.
        if not isinstance(other, VectorBlob):
            return NotImplemented
        return (
            self.kind == other.kind
            and self.frac_bits == other.frac_bits
            and self.ring_bits == other.ring_bits
            and self.values.dtype == other.values.dtype
            and np.array_equal(self.values, other.values)
        )

    __hash__ = None  # type: ignore[assignment]  # holds a mutable array


def payload_size(kind: BlobKind, length: int, *, ring_bits: int | None = None) -> int:
    """Bytes of the payload of a ``kind`` blob of ``length`` elements: ``length`` times
    ``ELEMENT_SIZE[kind]``, or for MASKED (which then requires ``ring_bits``, refused for the
    other kinds) ⌈length·ring_bits/8⌉."""
    kind = BlobKind(kind)
    bits = _check_ring_bits(kind, ring_bits)
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 0:
        raise BlobError(f"length must be a non-negative int, got {length!r}")
    if kind == BlobKind.MASKED:
        return _packed_size(int(length), bits)
    return int(length) * ELEMENT_SIZE[kind]


def _check_ring_bits(kind: BlobKind, ring_bits: int | None) -> int:
    """The ring width of an encode of ``kind``: 0 on the wire for the fixed-width kinds."""
    if kind != BlobKind.MASKED:
        if ring_bits is not None:
            raise BlobError(
                f"ring_bits is only for MASKED blobs; a {kind.name} blob has fixed-width "
                f"elements, got ring_bits={ring_bits!r}"
            )
        return 0
    if ring_bits is None:
        raise BlobError("a MASKED blob needs ring_bits: the round's ring width b")
    if isinstance(ring_bits, bool) or not isinstance(ring_bits, int | np.integer):
        raise BlobError(f"ring_bits must be an int, got {type(ring_bits).__name__}")
    if not MIN_RING_BITS <= ring_bits <= MAX_RING_BITS:
        raise BlobError(f"ring_bits must be in [{MIN_RING_BITS}, {MAX_RING_BITS}], got {ring_bits}")
    return int(ring_bits)


def encode_vector_blob(
    kind: BlobKind, values: np.ndarray, *, frac_bits: int, ring_bits: int | None = None
) -> bytes:
    """Serialize a 1-D integer vector as a blob of ``kind``; refuses values the kind cannot hold.

    ``ring_bits`` (b) is required for MASKED, whose values must be ring words in [0, 2^b), and
    refused for every other kind.
    """
    try:
        kind = BlobKind(kind)
    except ValueError:
        raise BlobError(f"unknown blob kind {kind!r}") from None
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, int | np.integer):
        raise BlobError(f"frac_bits must be an int, got {type(frac_bits).__name__}")
    if not 0 <= frac_bits <= MAX_FRAC_BITS:
        raise BlobError(f"frac_bits must be in [0, {MAX_FRAC_BITS}], got {frac_bits}")
    bits = _check_ring_bits(kind, ring_bits)
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
    header = _HEADER.pack(MAGIC, int(kind), int(frac_bits), bits, arr.size)
    if kind != BlobKind.MASKED:
        return header + arr.astype(_WIRE[kind], copy=False).tobytes()
    try:
        return header + pack_words(arr.astype(np.uint64, copy=False), bits)
    except BlobError as exc:  # a word ≥ 2^b: not an element of the round's ring
        raise BlobError(f"MASKED blob in a ring of {bits} bits: {exc}") from None


class BlobHeader(NamedTuple):
    """The header fields of a blob that passed the sanity checks (``ring_bits``: b for
    MASKED, None for every other kind)."""

    kind: BlobKind
    frac_bits: int
    length: int
    ring_bits: int | None


def read_header(data: bytes, *, max_length: int | None = None) -> BlobHeader:
    """Check everything the header and the total size can tell, without decoding the payload.

    Raises MalformedBlob exactly as :func:`decode_vector_blob` would for a bad header or size.
    """
    if len(data) < HEADER_SIZE:
        raise MalformedBlob(
            f"blob too short: {len(data)} bytes, a header alone is {HEADER_SIZE} (truncated?)"
        )
    magic, kind_byte, frac_bits, ring_field, length = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise MalformedBlob(f"bad magic {magic!r}, expected {MAGIC!r}: not a vector blob")
    try:
        kind = BlobKind(kind_byte)
    except ValueError:
        raise MalformedBlob(f"unknown blob kind {kind_byte}") from None
    ring_bits: int | None = None
    if kind == BlobKind.MASKED:
        if not MIN_RING_BITS <= ring_field <= MAX_RING_BITS:
            raise MalformedBlob(
                f"MASKED blob declares ring_bits {ring_field}, outside "
                f"[{MIN_RING_BITS}, {MAX_RING_BITS}]"
            )
        ring_bits = ring_field
    elif ring_field != 0:
        raise MalformedBlob(
            f"ring_bits header field (offset 6) must be 0 for a {kind.name} blob, "
            f"got {ring_field}: only MASKED blobs have a ring width"
        )
    if frac_bits > MAX_FRAC_BITS:
        raise MalformedBlob(f"frac_bits {frac_bits} exceeds the maximum {MAX_FRAC_BITS}")
    if length == 0:
        raise MalformedBlob("blob declares zero elements")
    if max_length is not None and length > max_length:
        raise MalformedBlob(f"blob declares {length} elements, more than the limit {max_length}")
    want = HEADER_SIZE + payload_size(kind, length, ring_bits=ring_bits)
    what = f"{length} {kind.name} elements" + (
        f" of {ring_bits} bits" if ring_bits is not None else ""
    )
    if len(data) < want:
        raise MalformedBlob(
            f"blob truncated: header declares {what} "
            f"({want} bytes in all) but only {len(data)} bytes are present"
        )
    if len(data) > want:
        raise MalformedBlob(f"blob has {len(data) - want} trailing bytes after {what}")
    return BlobHeader(kind, frac_bits, length, ring_bits)


def payload_of(data: bytes) -> bytes:
    """The payload (big-endian element bytes; for MASKED the packed bit stream) after checking
    the header is sane."""
    read_header(data)
    return bytes(data[HEADER_SIZE:])


def decode_vector_blob(
    data: bytes,
    *,
    expected_kind: BlobKind | None = None,
    expected_length: int | None = None,
    expected_ring_bits: int | None = None,
    max_length: int = 50_000_000,
) -> VectorBlob:
    """Parse and validate a blob; every refusal is a MalformedBlob that names the problem.

    ``expected_kind``/``expected_length``/``expected_ring_bits`` let a caller that knows what it
    asked for (an update of a model with N parameters, a masked input in the round's ring) refuse
    anything else before using it; ``max_length`` bounds the memory a hostile header can make us
    allocate. MASKED values come back as uint64 words < 2^ring_bits.
    """
    kind, frac_bits, length, ring_bits = read_header(data, max_length=max_length)
    if expected_kind is not None and kind != expected_kind:
        raise MalformedBlob(
            f"wrong blob kind: expected {BlobKind(expected_kind).name}, got {kind.name}"
        )
    if expected_length is not None and length != expected_length:
        raise MalformedBlob(f"wrong length: expected {expected_length} elements, got {length}")
    if expected_ring_bits is not None and ring_bits != expected_ring_bits:
        raise MalformedBlob(
            f"wrong ring width: expected a MASKED blob of {expected_ring_bits} bits, got "
            + (f"{ring_bits} bits" if ring_bits is not None else f"a {kind.name} blob")
        )
    if ring_bits is not None:
        try:
            words = unpack_words(memoryview(data)[HEADER_SIZE:], ring_bits, length)
        except MalformedBlob as exc:  # the size was checked: only the padding bits are left
            raise MalformedBlob(f"MASKED blob payload: {exc}") from None
        return VectorBlob(kind=kind, frac_bits=frac_bits, values=words, ring_bits=ring_bits)
    wire = np.frombuffer(data, dtype=_WIRE[kind], count=length, offset=HEADER_SIZE)
    return VectorBlob(kind=kind, frac_bits=frac_bits, values=wire.astype(_NATIVE[kind]))


# --- b-bit words --------------------------------------------------------------------------------
# A MASKED payload is its words at exactly b bits each: a big-endian bit stream, most
# significant bit first, zero-padded to a whole byte. Packing works on groups of 64 words:
# 64 words of b bits are exactly b 64-bit words, so a group packs into b uint64 with no
# remainder and word j of every group sits at the same bit offset j·b. The loops run over the
# 64 positions of a group, each step one vector operation over all groups (laid out
# position-major so each row is contiguous): about 10 ms per 10^6 words either way.

_GROUP = 64


def _packed_size(length: int, bits: int) -> int:
    return -(-length * bits // 8)


def _check_word_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer):
        raise BlobError(f"word width must be an int, got {type(bits).__name__}")
    if not MIN_RING_BITS <= bits <= MAX_RING_BITS:
        raise BlobError(
            f"word width must be in [{MIN_RING_BITS}, {MAX_RING_BITS}] bits, got {bits}"
        )
    return int(bits)


def pack_words(values: np.ndarray, bits: int) -> bytes:
    """``values`` (1-D uint64, each < 2^bits) packed at exactly ``bits`` bits each, MSB first,
    zero-padded to a whole byte: ⌈len·bits/8⌉ bytes. Refuses a wider word (BlobError)."""
    bits = _check_word_bits(bits)
    if not isinstance(values, np.ndarray) or values.dtype != np.uint64 or values.ndim != 1:
        raise BlobError("words to pack must be a 1-D uint64 array")
    n = values.size
    if n == 0:
        return b""
    if bits < 64 and int(values.max()) >> bits:
        first = int(np.flatnonzero(values >> np.uint64(bits))[0])
        raise BlobError(f"ring value {int(values[first])} (index {first}) does not fit {bits} bits")
    if bits == 64:
        return values.astype(">u8").tobytes()
    groups = -(-n // _GROUP)
    full = n // _GROUP
    # words[j, g] = values[64·g + j], shifted so that its top bit is bit 63
    words = np.zeros((_GROUP, groups), dtype=np.uint64)
    words[:, :full] = values[: full * _GROUP].reshape(full, _GROUP).T
    if full < groups:
        words[: n - full * _GROUP, full] = values[full * _GROUP :]
    words <<= np.uint64(64 - bits)
    packed = np.zeros((bits, groups), dtype=np.uint64)  # packed[w, g]: word w of group g
    tmp = np.empty(groups, dtype=np.uint64)
    for j in range(_GROUP):
        w, r = divmod(j * bits, 64)
        if r == 0:
            packed[w] |= words[j]
            continue
        np.right_shift(words[j], np.uint64(r), out=tmp)
        packed[w] |= tmp
        if r + bits > 64:  # spills into the group's next 64-bit word
            np.left_shift(words[j], np.uint64(64 - r), out=tmp)
            packed[w + 1] |= tmp
    wire = np.empty((groups, bits), dtype=">u8")
    wire[...] = packed.T
    # The last group's filler words are zero, so everything past n·bits bits is zero.
    return wire.reshape(-1).view(np.uint8)[: _packed_size(n, bits)].tobytes()


def unpack_words(data: bytes | bytearray | memoryview, bits: int, length: int) -> np.ndarray:
    """The ``length`` uint64 words packed by :func:`pack_words`. Refuses (MalformedBlob) any
    byte count but ⌈length·bits/8⌉ and non-zero padding bits: the encoding is canonical."""
    bits = _check_word_bits(bits)
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 0:
        raise BlobError(f"length must be a non-negative int, got {length!r}")
    length = int(length)
    raw = np.frombuffer(data, dtype=np.uint8)
    want = _packed_size(length, bits)
    if raw.size != want:
        raise MalformedBlob(f"{length} words of {bits} bits pack into {want} bytes, got {raw.size}")
    pad = want * 8 - length * bits
    if pad and int(raw[-1]) & ((1 << pad) - 1):
        raise MalformedBlob(
            f"non-zero padding bits after the last of {length} words of {bits} bits "
            "(not the canonical encoding)"
        )
    if length == 0:
        return np.zeros(0, dtype=np.uint64)
    if bits == 64:
        return raw.view(">u8").astype(np.uint64)
    groups = -(-length // _GROUP)
    buf = np.zeros(groups * bits * 8, dtype=np.uint8)
    buf[:want] = raw
    packed = np.empty((bits, groups), dtype=np.uint64)  # packed[w, g]: word w of group g
    packed[...] = buf.view(">u8").reshape(groups, bits).T
    out = np.empty((groups, _GROUP), dtype=np.uint64)
    rows = out.T  # rows[j, g] is word 64·g + j
    x = np.empty(groups, dtype=np.uint64)
    tmp = np.empty(groups, dtype=np.uint64)
    down = np.uint64(64 - bits)
    for j in range(_GROUP):
        w, r = divmod(j * bits, 64)
        if r == 0:
            x[...] = packed[w]
        else:
            np.left_shift(packed[w], np.uint64(r), out=x)
            if r + bits > 64:
                np.right_shift(packed[w + 1], np.uint64(64 - r), out=tmp)
                x |= tmp
        x >>= down
        rows[j] = x
    flat = out.reshape(-1)
    return flat[:length].copy() if length % _GROUP else flat

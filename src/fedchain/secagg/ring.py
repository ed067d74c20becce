"""The ring Z_2^b a round's masked inputs live in: its width b, reduction and sign-extension.

Why b is chosen per round: a masked word must be uniform over the whole ring (that is the
privacy), so every bit of the ring is sent. The ring only has to hold the aggregate
Σ nᵢ·vᵢ, and that is bounded before anyone masks: each coordinate of an honest update is at
most ``C`` in magnitude (the task's L2 clip times 2^frac_bits, see
:func:`coordinate_bound`), and the weights nᵢ are declared on-chain when keys are shared, so
|Σ nᵢ·vᵢ| ≤ C·W with W the sum of declared weights over U2. The smallest b with
C·W < 2^(b−1) holds every possible aggregate as a two's-complement b-bit integer. All
arithmetic is done in uint64 (mod 2^64) and reduced mod 2^b at the ends; since 2^b divides
2^64 the result is the same as computing mod 2^b throughout.

On the wire a masked vector is sent at exactly b bits per word (:func:`pack_ring`): a
big-endian bit stream, most significant bit first, zero-padded to a whole byte. The encoding is
canonical (:func:`unpack_ring` refuses any other byte count and non-zero padding bits), so one
vector has one byte string and content digests are unique.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from fedchain.codec.blob import MAX_RING_BITS, BlobError, pack_words, unpack_words
from fedchain.codec.fixedpoint import MAX_FRAC_BITS
from fedchain.secagg.errors import SecAggError

__all__ = [
    "MAX_RING_BITS",
    "coordinate_bound",
    "pack_ring",
    "packed_size",
    "reduce_to_ring",
    "ring_bits",
    "ring_to_int64",
    "secure_ring_bits",
    "unpack_ring",
]


def _check_bits(bits: int) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int | np.integer):
        raise SecAggError(f"ring width must be an int, got {type(bits).__name__}")
    if not 2 <= bits <= MAX_RING_BITS:
        raise SecAggError(f"ring width must be in [2, {MAX_RING_BITS}] bits, got {bits}")
    return int(bits)


def ring_bits(coord_bound: int, total_weight: int) -> int:
    """The smallest b such that every |aggregate coordinate| ≤ coord_bound·total_weight fits
    a two's-complement b-bit integer."""
    for name, v in (("coordinate bound", coord_bound), ("total weight", total_weight)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise SecAggError(f"{name} must be a positive int, got {v!r}")
    bits = (int(coord_bound) * int(total_weight)).bit_length() + 1
    if bits > MAX_RING_BITS:
        raise SecAggError(
            f"an aggregate of up to {coord_bound}·{total_weight} needs {bits} bits, "
            f"more than the {MAX_RING_BITS} the ring supports: lower the clip norm, the "
            "fractional bits or the declared sample counts"
        )
    return bits


def secure_ring_bits(norm_bound: int, total_weight: int) -> int:
    """The ring width of a secure round as the chain fixes it: :func:`ring_bits` with
    C = ⌊√normBound⌋, the task's on-chain squared-norm bound (no coordinate exceeds the norm),
    and W = Σ weights of U2 (on-chain). A dispute recomputes b from these two numbers alone;
    C is at least :func:`coordinate_bound` of the task's clip (``norm_bound`` has the
    rounding margins), so the ring is at most a bit or two wider than the tightest one.
    """
    if isinstance(norm_bound, bool) or not isinstance(norm_bound, int | np.integer):
        raise SecAggError(f"norm bound must be an int, got {norm_bound!r}")
    if norm_bound < 1:
        raise SecAggError(f"norm bound must be positive, got {norm_bound}")
    return ring_bits(math.isqrt(int(norm_bound)), total_weight)


def reduce_to_ring(values: np.ndarray, bits: int) -> np.ndarray:
    """``values`` (uint64, mod 2^64) reduced mod 2^bits, in place; returns it."""
    bits = _check_bits(bits)
    if not isinstance(values, np.ndarray) or values.dtype != np.uint64:
        raise SecAggError("ring values must be a uint64 array")
    if bits < 64:
        np.bitwise_and(values, np.uint64((1 << bits) - 1), out=values)
    return values


def ring_to_int64(values: np.ndarray, bits: int) -> np.ndarray:
    """A vector mod 2^bits (uint64, any representatives) read as two's-complement b-bit
    integers, sign-extended to int64: the exact aggregate once every mask has cancelled."""
    bits = _check_bits(bits)
    if not isinstance(values, np.ndarray) or values.dtype != np.uint64:
        raise SecAggError("ring values must be a uint64 array")
    out = reduce_to_ring(values.copy(), bits)
    if bits < 64:
        shift = np.uint64(64 - bits)
        # Move the sign bit to bit 63, then an arithmetic right shift sign-extends.
        out = (out << shift).view(np.int64) >> np.int64(64 - bits)
        return out
    return out.view(np.int64)


_INT32_MAGNITUDE = 2**31  # |int32| ≤ 2^31: encode_update refuses anything wider
_ROUNDING_SLACK = Fraction(1, 2**51)  # > (1 + 2^-53)^2 − 1: two roundings in encode_update


def coordinate_bound(clip_norm: float, frac_bits: int) -> int:
    """The largest |value| ``encode_update(delta, frac_bits=frac_bits, clip_norm=clip_norm)``
    can ever output: C in the bound |Σ nᵢ·vᵢ| ≤ C·W.

    ``encode_update`` clips to L2 norm ``clip`` in float64, so every coordinate is at most
    ``clip`` up to two roundings: its computed norm is never below the largest |coordinate|,
    and ``x · fl(clip / norm)`` rounds twice, each by a factor of at most 1 + 2^-53. Scaling by
    2^frac_bits is exact and ``rint`` adds at most one, hence
    ``floor(clip·2^f·(1 + 2^-51)) + 1`` (exact rational arithmetic), capped at 2^31 because
    the output is int32. At least 1, as :func:`ring_bits` requires.
    """
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, int | np.integer):
        raise SecAggError(f"frac_bits must be an int, got {type(frac_bits).__name__}")
    if not 0 <= frac_bits <= MAX_FRAC_BITS:
        raise SecAggError(f"frac_bits must be in [0, {MAX_FRAC_BITS}], got {frac_bits}")
    if isinstance(clip_norm, bool) or not isinstance(
        clip_norm, int | float | np.integer | np.floating
    ):
        raise SecAggError(f"clip norm must be a real number, got {clip_norm!r}")
    clip = float(clip_norm)
    if not math.isfinite(clip) or clip <= 0.0:
        raise SecAggError(f"clip norm must be a positive finite number, got {clip_norm!r}")
    scaled = Fraction(clip) * 2 ** int(frac_bits)
    return min(math.floor(scaled * (1 + _ROUNDING_SLACK)) + 1, _INT32_MAGNITUDE)


def packed_size(length: int, bits: int) -> int:
    """Bytes :func:`pack_ring` makes of ``length`` words of ``bits`` bits: ⌈length·bits/8⌉."""
    bits = _check_bits(bits)
    if isinstance(length, bool) or not isinstance(length, int | np.integer) or length < 0:
        raise SecAggError(f"length must be a non-negative int, got {length!r}")
    return -(-int(length) * bits // 8)


def pack_ring(values: np.ndarray, bits: int) -> bytes:
    """``values`` (1-D uint64, each < 2^bits) as a big-endian bit stream of exactly ``bits``
    bits per word, most significant bit first, zero-padded to a whole byte (canonical).

    The wire format of a MASKED blob's payload; the vectorised packing itself lives with the
    blob codec (:func:`fedchain.codec.blob.pack_words`), this adds the ring's refusals.
    """
    bits = _check_bits(bits)
    if not isinstance(values, np.ndarray) or values.dtype != np.uint64 or values.ndim != 1:
        raise SecAggError("ring values to pack must be a 1-D uint64 array")
    try:
        return pack_words(values, bits)
    except BlobError as exc:
        raise SecAggError(str(exc)) from None


def unpack_ring(data: bytes | bytearray | memoryview, bits: int, length: int) -> np.ndarray:
    """The ``length`` uint64 words of ``bits`` bits packed by :func:`pack_ring`.

    Refuses (SecAggError) a byte count other than ⌈length·bits/8⌉ and non-zero padding bits,
    so exactly the byte strings :func:`pack_ring` makes are accepted.
    """
    bits = _check_bits(bits)
    packed_size(length, bits)  # checks length
    try:
        return unpack_words(data, bits, int(length))
    except BlobError as exc:
        raise SecAggError(str(exc)) from None

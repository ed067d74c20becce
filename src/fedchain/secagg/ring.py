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
"""

from __future__ import annotations

import numpy as np

from fedchain.secagg.errors import SecAggError

__all__ = ["MAX_RING_BITS", "reduce_to_ring", "ring_bits", "ring_to_int64"]

MAX_RING_BITS = 64


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

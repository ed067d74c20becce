"""Fixed-point integer encoding of model weights and updates.

Floating-point sums depend on order and hardware; integer sums do not. Encoding every update as
integers (``round(x * 2**frac_bits)``) makes aggregation exact, so any node, the auditor and the
contract's fraud proof all get bit-identical results.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from fedchain.errors import FedchainError

__all__ = [
    "DEFAULT_FRAC_BITS",
    "MAX_FRAC_BITS",
    "FixedPointError",
    "InvalidUpdate",
    "dequantize",
    "encode_update",
    "norm_bound",
    "quantize",
]

DEFAULT_FRAC_BITS = 20
"""Fractional bits: a resolution of about 1e-6, enough for SGD steps of float32 models."""

MAX_FRAC_BITS = 62
"""Largest scale a blob header accepts (2**62 still fits an int64 once)."""

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_TWO_63 = 2.0**63  # exactly representable; every float64 in [-2**63, 2**63) fits an int64


class FixedPointError(FedchainError):
    """A value cannot be represented in the fixed-point encoding."""


class InvalidUpdate(FixedPointError):
    """A model update was refused (wrong shape, NaN/inf, or out of range after scaling)."""


def _check_frac_bits(frac_bits: int, error: type[FixedPointError]) -> int:
    if isinstance(frac_bits, bool) or not isinstance(frac_bits, int | np.integer):
        raise error(f"frac_bits must be an int, got {type(frac_bits).__name__}")
    if not 0 <= frac_bits <= MAX_FRAC_BITS:
        raise error(f"frac_bits must be in [0, {MAX_FRAC_BITS}], got {frac_bits}")
    return int(frac_bits)


def _as_float64(values: np.ndarray, what: str, error: type[FixedPointError]) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu":
        raise error(f"{what} must be a real numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr.ravel()))[0])
        raise error(f"{what} contains NaN or inf (first at flat index {bad})")
    return arr


def _l2_norm(x: np.ndarray) -> float:
    """Overflow-safe L2 norm in float64, without BLAS (whose result may vary by machine)."""
    peak = float(np.max(np.abs(x)))
    if peak == 0.0:
        return 0.0
    scaled = x / peak
    return peak * float(np.sqrt(np.sum(scaled * scaled)))


def encode_update(delta: np.ndarray, *, frac_bits: int, clip_norm: float) -> np.ndarray:
    """Clip ``delta`` to L2 norm ``clip_norm`` and encode it as int32 fixed-point.

    Clipping bounds every participant's influence (and every integer), which is what makes the
    int32 payload and the overflow bounds of aggregation safe. Deterministic for a given input.
    """
    frac_bits = _check_frac_bits(frac_bits, InvalidUpdate)
    clip = float(clip_norm)
    if not np.isfinite(clip) or clip <= 0.0:
        raise InvalidUpdate(f"clip_norm must be a positive finite number, got {clip_norm!r}")
    arr = np.asarray(delta)
    if arr.ndim != 1:
        raise InvalidUpdate(f"update must be a 1-D vector, got shape {arr.shape}")
    if arr.size == 0:
        raise InvalidUpdate("update is empty")
    x = _as_float64(arr, "update", InvalidUpdate)

    norm = _l2_norm(x)
    if norm > clip:
        x = x * (clip / norm)
    scaled = np.rint(x * float(2**frac_bits))
    lo, hi = float(scaled.min()), float(scaled.max())
    if lo < _INT32_MIN or hi > _INT32_MAX:
        raise InvalidUpdate(
            f"update does not fit int32 after scaling (range [{lo:.0f}, {hi:.0f}]): "
            f"clip_norm={clip} with frac_bits={frac_bits} is too large; "
            f"need clip_norm * 2**frac_bits <= {_INT32_MAX}"
        )
    return scaled.astype(np.int32)


def norm_bound(*, clip_norm: float, frac_bits: int, size: int) -> int:
    """The largest squared L2 norm (in fixed-point units²) an honest encoded update can have.

    ``encode_update`` clips in floats to ``clip_norm`` (up to float error) and then rounds each
    element by at most ½, so ‖v‖ ≤ clip·2^f + ½·√size. Computed in exact rationals with upward
    margins (for the float clip and for the contract, which keeps the bound as a 24-bit
    mantissa rounded down, losing less than 2⁻²³ of it), so an honest update never exceeds it.
    """
    frac_bits = _check_frac_bits(frac_bits, InvalidUpdate)
    if size < 1:
        raise InvalidUpdate(f"size must be positive, got {size}")
    clip = Fraction(float(clip_norm)) * 2**frac_bits * (1 + Fraction(1, 2**30))
    half_root = Fraction(math.isqrt(size) + 1, 2)
    bound = (clip + half_root) ** 2 * (1 + Fraction(1, 2**20))
    return math.ceil(bound)


def quantize(weights: np.ndarray, *, frac_bits: int) -> np.ndarray:
    """Encode model weights as int64 fixed-point (same shape), so model steps are exact."""
    frac_bits = _check_frac_bits(frac_bits, FixedPointError)
    x = _as_float64(weights, "weights", FixedPointError)
    scaled = np.rint(x * float(2**frac_bits))
    if scaled.size and (float(scaled.min()) < -_TWO_63 or float(scaled.max()) >= _TWO_63):
        raise FixedPointError(
            f"weights do not fit int64 with frac_bits={frac_bits} "
            f"(largest magnitude {float(np.max(np.abs(x))):g})"
        )
    return scaled.astype(np.int64)


def dequantize(values: np.ndarray, *, frac_bits: int) -> np.ndarray:
    """Decode fixed-point integers to float32 weights (scaled in float64, then cast)."""
    frac_bits = _check_frac_bits(frac_bits, FixedPointError)
    arr = np.asarray(values)
    if arr.dtype.kind not in "iu":
        raise FixedPointError(f"fixed-point values must be integers, got dtype {arr.dtype}")
    return (arr.astype(np.float64) * 2.0**-frac_bits).astype(np.float32)

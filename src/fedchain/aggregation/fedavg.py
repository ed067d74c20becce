"""Federated averaging in exact integer arithmetic.

The committed aggregate is ``Σ nᵢ·vᵢ`` over fixed-point integer updates: exact, so any node, the
auditor and the contract's fraud proof (which recomputes one chunk) agree bit for bit. The model
step divides by ``Σ nᵢ`` off-chain with one rule, round half to even, also in integers, so every
global model version is reproducible (architecture property 4).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fedchain.errors import FedchainError

__all__ = [
    "AggregationError",
    "apply_aggregate",
    "divide_round_half_even",
    "weighted_sum",
]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class AggregationError(FedchainError):
    """Updates or an aggregate were refused (shape, weights, or a result that would overflow)."""


def _int_vector(v: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(v)
    if arr.ndim != 1:
        raise AggregationError(f"{what} must be a 1-D vector, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise AggregationError(f"{what} must hold integers, got dtype {arr.dtype}")
    return arr


def _max_abs(arr: np.ndarray) -> int:
    """Largest |value| as a Python int (no int64 wrap-around for -2**63 or uint64)."""
    if arr.size == 0:
        return 0
    return max(abs(int(arr.min())), abs(int(arr.max())))


def _positive_int(w: object, what: str) -> int:
    if isinstance(w, bool) or not isinstance(w, int | np.integer):
        raise AggregationError(f"{what} must be an int, got {type(w).__name__}")
    value = int(w)
    if value <= 0:
        raise AggregationError(f"{what} must be positive, got {value}")
    return value


def weighted_sum(updates: Sequence[np.ndarray], weights: Sequence[int]) -> np.ndarray:
    """Exact ``Σ nᵢ·vᵢ`` as int64; refuses inputs whose sum could overflow int64.

    The bound ``Σ nᵢ·max|vᵢ| < 2**63`` is checked in Python ints before computing (it is never
    looser than ``max|v|·Σ nᵢ``); it bounds every product and partial sum, so numpy's silently
    wrapping int64 arithmetic cannot wrap.
    """
    if len(updates) == 0:
        raise AggregationError("no updates to aggregate")
    if len(updates) != len(weights):
        raise AggregationError(f"{len(updates)} updates but {len(weights)} weights")
    vectors = [_int_vector(v, f"update {i}") for i, v in enumerate(updates)]
    ns = [_positive_int(w, f"weight {i}") for i, w in enumerate(weights)]
    size = vectors[0].size
    for i, v in enumerate(vectors):
        if v.size != size:
            raise AggregationError(f"update {i} has {v.size} elements, update 0 has {size}")
    total = sum(ns)
    if total > _INT64_MAX:
        raise AggregationError(f"total weight {total} does not fit int64")
    bound = sum(n * _max_abs(v) for n, v in zip(ns, vectors, strict=True))
    if bound > _INT64_MAX:
        raise AggregationError(
            f"weighted sum could overflow int64 (Σ nᵢ·max|vᵢ| = {bound} ≥ 2**63): "
            "clip updates harder or use fewer fractional bits"
        )
    acc = np.zeros(size, dtype=np.int64)
    for n, v in zip(ns, vectors, strict=True):
        acc += v.astype(np.int64, copy=False) * np.int64(n)
    return acc


def divide_round_half_even(aggregate: np.ndarray, total_weight: int) -> np.ndarray:
    """``round_half_to_even(aggregate / total_weight)`` elementwise, exactly, as int64."""
    agg = _int_vector(aggregate, "aggregate")
    w = _positive_int(total_weight, "total_weight")
    if w > _INT64_MAX:
        raise AggregationError(f"total_weight {w} does not fit int64")
    if agg.dtype.kind == "u" and _max_abs(agg) > _INT64_MAX:
        raise AggregationError("aggregate does not fit int64")
    a = agg.astype(np.int64, copy=False)
    wn = np.int64(w)
    q, r = np.divmod(a, wn)  # floor semantics: 0 <= r < w
    rest = wn - r  # > 0; comparing r with w - r avoids computing 2r, which could overflow
    round_up = (r > rest) | ((r == rest) & ((q & 1) == 1))
    return q + round_up.astype(np.int64)  # q + 1 cannot overflow: w >= 2 whenever r > 0


def apply_aggregate(
    global_model: np.ndarray, aggregate: np.ndarray, total_weight: int
) -> np.ndarray:
    """The next global model: ``global + round_half_to_even(aggregate / total_weight)``, int64.

    Exact integer arithmetic with a single tie rule, so every node and the auditor derive the
    identical model from the same on-chain commitments.
    """
    g = _int_vector(global_model, "global model")
    agg = _int_vector(aggregate, "aggregate")
    if g.shape != agg.shape:
        raise AggregationError(
            f"global model has {g.size} elements but the aggregate has {agg.size}"
        )
    if g.dtype.kind == "u" and _max_abs(g) > _INT64_MAX:
        raise AggregationError("global model does not fit int64")
    step = divide_round_half_even(agg, total_weight)
    base = g.astype(np.int64, copy=False)
    new = base + step  # wraps silently on overflow; detected below by sign
    overflow = ((base > 0) & (step > 0) & (new < 0)) | ((base < 0) & (step < 0) & (new >= 0))
    if overflow.any():
        i = int(np.flatnonzero(overflow)[0])
        raise AggregationError(
            f"model update overflows int64 at index {i} ({int(base[i])} + {int(step[i])})"
        )
    return new

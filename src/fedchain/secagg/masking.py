"""Masking in the ring Z_2^b: what a participant adds to its input, what the aggregator takes off.

y_i = x_i + PRG(b_i) + Σ_{j ∈ N(i) ∩ U2} sign(i, j)·PRG(s_ij)   (mod 2^b)

with sign(i, j) = +1 if i comes before j in canonical order, else −1. Two neighbours who both
send a masked input add PRG(s_ij) with opposite signs, so those masks cancel in the sum. What
remains is taken off by the aggregator once the unmask phase reveals it: the self-masks
PRG(b_i) of the included survivors, and the pairwise masks they added for neighbours whose
input is missing (dropped) or excluded (see ``fedchain.secagg.complaints``).

The functions here compute mod 2^64 (numpy's wrapping ``uint64`` arithmetic). The round's ring
is Z_2^b with b ≤ 64 chosen per round (``fedchain.secagg.ring``); since 2^b divides 2^64,
reducing mod 2^b at the ends — the participant its masked vector
(:meth:`fedchain.secagg.client.ClientRound.masked_input`), the aggregator its result
(:func:`fedchain.secagg.ring.ring_to_int64`) — gives the same as computing mod 2^b throughout.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from fedchain.secagg.addresses import order_key
from fedchain.secagg.context import RoundContext
from fedchain.secagg.errors import SecAggError
from fedchain.secagg.keys import PURPOSE_PAIRWISE_MASK, agree, pair_context
from fedchain.secagg.prg import MaskStream

__all__ = [
    "add_mask",
    "add_masks",
    "mask_input",
    "pairwise_seed",
    "pairwise_sign",
    "self_mask_commitment",
    "sum_masked",
]


def self_mask_commitment(seed: bytes) -> bytes:
    """sha256(b_i): lets the aggregator check a reconstructed self-mask seed."""
    return hashlib.sha256(seed).digest()


def pairwise_seed(
    ctx: RoundContext, mask_private: X25519PrivateKey, me: str, peer: str, peer_mask_pk: bytes
) -> bytes:
    """s_ij: the seed ``me`` (holding ``mask_private``) and ``peer`` both derive this round.

    The aggregator calls it too, with a dropped participant's reconstructed mask key.
    """
    first, second = sorted((me, peer), key=order_key)
    return agree(
        mask_private,
        peer_mask_pk,
        purpose=PURPOSE_PAIRWISE_MASK,
        context=pair_context(ctx.task_id, ctx.round, first, second),
    )


def pairwise_sign(me: str, peer: str) -> int:
    """+1 if ``me`` precedes ``peer`` in canonical order, else −1 (the two ends disagree)."""
    if order_key(me) == order_key(peer):
        raise SecAggError(f"a participant has no pairwise mask with itself ({me})")
    return 1 if order_key(me) < order_key(peer) else -1


_CHUNK_WORDS = 1 << 15
"""Masks are added 256 KiB at a time so that the keystream stays in cache."""


def add_masks(acc: np.ndarray, masks: Iterable[tuple[bytes, int]]) -> None:
    """``acc += Σ sign·PRG(seed)`` in place, mod 2^64, for ``(seed, sign)`` in ``masks``.

    Chunked: every mask's next piece is added to one cache-sized slice of ``acc`` before moving
    on, so ``acc`` crosses memory once however many masks there are.
    """
    if not isinstance(acc, np.ndarray) or acc.dtype != np.uint64 or acc.ndim != 1:
        raise SecAggError("masked accumulator must be a 1-D uint64 vector")
    streams: list[tuple[MaskStream, int]] = []
    for seed, sign in masks:
        if sign not in (1, -1):
            raise SecAggError(f"mask sign must be +1 or -1, got {sign!r}")
        streams.append((MaskStream(seed), sign))
    if not streams or acc.size == 0:
        return
    scratch = np.empty(min(_CHUNK_WORDS, acc.size), dtype=np.uint64)
    for start in range(0, acc.size, _CHUNK_WORDS):
        part = acc[start : start + _CHUNK_WORDS]
        piece = scratch[: part.size]
        for stream, sign in streams:
            stream.fill(piece)
            if sign == 1:
                np.add(part, piece, out=part)
            else:
                np.subtract(part, piece, out=part)


def add_mask(acc: np.ndarray, seed: bytes, sign: int) -> None:
    """``acc += sign·PRG(seed)`` in place, mod 2^64 (``acc`` is a uint64 vector)."""
    add_masks(acc, [(seed, sign)])


def mask_input(
    values: np.ndarray, *, self_seed: bytes, pairwise: Mapping[str, tuple[bytes, int]]
) -> np.ndarray:
    """``y = x + PRG(self_seed) + Σ sign·PRG(seed)`` mod 2^64 for ``pairwise = {peer: (seed, sign)}``.

    ``values`` is the participant's int64 input (its weighted update nᵢ·vᵢ); it is
    reinterpreted as two's complement, which is exact for the sum (see ``ring``). The result
    is not yet reduced to the round's ring (the caller does that: ``ring.reduce_to_ring``).
    """
    x = np.asarray(values)
    if x.ndim != 1 or x.dtype != np.int64:
        raise SecAggError(
            f"input must be a 1-D int64 vector, got dtype {x.dtype} and shape {x.shape}"
        )
    y = x.astype(np.int64, copy=True).view(np.uint64)
    add_masks(y, [(self_seed, 1), *(pairwise[peer] for peer in sorted(pairwise))])
    return y


def sum_masked(vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    """Σ of the masked vectors mod 2^64; they must all be 1-D uint64 of one length."""
    if not vectors:
        raise SecAggError("no masked inputs to sum")
    lengths = set()
    for who, v in vectors.items():
        if not isinstance(v, np.ndarray) or v.ndim != 1 or v.dtype != np.uint64:
            raise SecAggError(f"masked input of {who} must be a 1-D uint64 vector")
        lengths.add(v.size)
    if len(lengths) != 1:
        raise SecAggError(f"masked inputs differ in length: {sorted(lengths)}")
    acc = np.zeros(lengths.pop(), dtype=np.uint64)
    for _who, v in sorted(vectors.items()):
        np.add(acc, v, out=acc)
    return acc

"""The aggregator's side: from masked inputs and unmask shares to the exact sum over U3.

Anyone can run it (it needs only public messages), so the auditor recomputes the same sum
from the same store contents. Steps:

1. Σ_{i ∈ U3} y_i mod 2^64.
2. For each j ∈ U3, rebuild b_j from its neighbours' shares (checked against sha256(b_j) that j
   committed to in phase 2) and subtract PRG(b_j).
3. For each j ∈ U2 \\ U3 with a neighbour in U3, rebuild j's mask private key (checked against
   j's advertised public key) and, for each such neighbour i, take off the mask i added for j.
4. Read the result as int64.

Which secret of j is rebuilt is decided by the on-chain sets alone, so it is never both.
If any needed secret has fewer than ``threshold`` valid shares the round cannot complete:
:class:`UnmaskFailure` names everyone affected, so the chain can abort the round cleanly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping

import numpy as np

from fedchain.secagg.checks import check_adverts, check_masked_input, usable_unmask_shares
from fedchain.secagg.context import RoundContext
from fedchain.secagg.errors import SecAggError, UnmaskFailure
from fedchain.secagg.keys import private_from_bytes, public_matches
from fedchain.secagg.masking import (
    add_masks,
    as_int64,
    pairwise_seed,
    pairwise_sign,
    self_mask_commitment,
    sum_masked,
)
from fedchain.secagg.messages import KeyAdvert, KeyShares, UnmaskShares
from fedchain.secagg.shamir import combine_verified

__all__ = ["unmask_sum"]


def _matches_commitment(commitment: bytes) -> Callable[[bytes], bool]:
    return lambda seed: self_mask_commitment(seed) == commitment


def _matches_public_key(public: bytes) -> Callable[[bytes], bool]:
    return lambda private: public_matches(private, public)


def unmask_sum(
    ctx: RoundContext,
    adverts: Mapping[str, KeyAdvert],
    key_shares: Mapping[str, KeyShares],
    u2: Collection[str],
    u3: Collection[str],
    masked: Mapping[str, np.ndarray],
    unmask: Mapping[str, UnmaskShares],
    *,
    length: int | None = None,
) -> np.ndarray:
    """Σ_{i ∈ U3} x_i as int64, exactly; ``unmask`` maps each sender (U4 ⊆ U3) to its message.

    Entries of ``unmask`` that the protocol forbids are ignored (see
    :func:`fedchain.secagg.checks.check_unmask_shares` to record them); wrong share values are
    outvoted by :func:`fedchain.secagg.shamir.combine_verified`. Raises :class:`SecAggError`
    on inconsistent inputs and :class:`UnmaskFailure` when the round cannot be unmasked.
    ``length`` is the model's number of parameters (default: the most common input length).
    """
    s2, s3 = ctx.check_sets(u2, u3)
    t = ctx.threshold
    if len(s3) < t:
        raise UnmaskFailure(
            f"only {len(s3)} participants sent masked inputs, fewer than the threshold {t}: "
            "the round must abort"
        )
    check_adverts(ctx, adverts)
    if set(masked) != s3:
        missing, extra = sorted(s3 - set(masked)), sorted(set(masked) - s3)
        raise SecAggError(
            f"masked inputs must come from exactly U3; missing {missing or 'none'}, "
            f"extra {extra or 'none'}"
        )
    for j in s3:
        if j not in key_shares:
            raise SecAggError(f"{j} is in U3 but its key shares (with its commitment) are missing")
    if length is None:
        sizes = Counter(getattr(v, "size", -1) for v in masked.values())
        length = max(sizes, key=lambda size: (sizes[size], size))
    for who, vec in sorted(masked.items()):
        check_masked_input(who, vec, length)

    # Valid shares, per owner, from the unmask messages.
    self_points: dict[str, dict[int, int]] = {j: {} for j in s3}
    key_points: dict[str, dict[int, int]] = {j: {} for j in s2 - s3}
    for sender, msg in unmask.items():
        selfs, keys, _problems = usable_unmask_shares(ctx, s2, s3, sender, msg)
        for owner, (x, y) in selfs.items():
            self_points[owner][x] = y
        for owner, (x, y) in keys.items():
            key_points[owner][x] = y

    failures: list[str] = []
    unrecoverable: list[str] = []
    seeds: dict[str, bytes] = {}
    for j in sorted(s3, key=ctx.x_of):
        commitment = key_shares[j].self_mask_commitment
        try:
            seeds[j] = combine_verified(
                self_points[j],
                threshold=t,
                check=_matches_commitment(commitment),
                label=f"the self-mask seed of {j}",
            )
        except SecAggError as exc:
            failures.append(str(exc))
            unrecoverable.append(j)
    dropped_keys: dict[str, bytes] = {}
    for j in sorted(s2 - s3, key=ctx.x_of):
        if not ctx.neighbours_of(j) & s3:
            continue  # no survivor added a mask for j: nothing to remove
        pk = adverts[j].mask_pk
        try:
            dropped_keys[j] = combine_verified(
                key_points[j],
                threshold=t,
                check=_matches_public_key(pk),
                label=f"the mask key of dropped participant {j}",
            )
        except SecAggError as exc:
            failures.append(str(exc))
            unrecoverable.append(j)
    if failures:
        raise UnmaskFailure(
            "the round cannot be unmasked and must abort: " + "; ".join(failures),
            unrecoverable=tuple(unrecoverable),
        )

    removals = [(seeds[j], -1) for j in sorted(s3, key=ctx.x_of)]
    for j, raw in dropped_keys.items():
        sk = private_from_bytes(raw)
        for i in sorted(ctx.neighbours_of(j) & s3, key=ctx.x_of):
            seed = pairwise_seed(ctx, sk, j, i, adverts[i].mask_pk)
            removals.append((seed, -pairwise_sign(i, j)))  # i added sign(i, j)·PRG(s_ij)
    acc = sum_masked(masked)
    add_masks(acc, removals)
    return as_int64(acc)

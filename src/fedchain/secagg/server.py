"""The aggregator's side: from masked inputs and unmask shares to the exact sum over I.

Anyone can run it (it needs only public messages), so the auditor recomputes the same sum
from the same store contents. With E the inputs the complaints exclude
(:func:`fedchain.secagg.complaints.excluded_by_complaints`) and I = U3 \\ E:

1. Σ_{i ∈ I} y_i mod 2^64 (the masked words are < 2^b; E's vectors are ignored).
2. For each l ∈ I, rebuild b_l from the revealed shares (checked against sha256(b_l) that l
   committed to in phase 2) and subtract PRG(b_l).
3. For each l ∈ U2 \\ I (dropped, or excluded) and each neighbour j ∈ I of l, take off the
   mask j added for l. Its seed s_jl comes from l's mask key, rebuilt from ≥ t valid shares
   (checked against l's advertised public key) when l dropped (l ∈ U2 \\ U3); otherwise from
   j itself, which revealed it in its complaint or its unmask message.
4. Read the result mod 2^b as a two's-complement b-bit integer, sign-extended to int64.

Which secret of an owner is rebuilt is decided by the on-chain sets and complaints alone: b_l
only for l ∈ I, pairwise seeds only for l ∉ I. If a needed secret cannot be had the round
cannot complete: :class:`UnmaskFailure` names everyone affected, so the chain can abort the
round cleanly.

Trust: a revealed seed s_jl cannot be checked by anyone but j and l. If j lies, the sum is off
by a uniform vector — no more than j could do by masking a garbage input of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

import numpy as np

from fedchain.secagg.checks import (
    check_adverts,
    check_masked_input,
    check_ring_bits,
    usable_unmask_shares,
)
from fedchain.secagg.complaints import excluded_by_complaints, usable_complaints
from fedchain.secagg.context import RoundContext
from fedchain.secagg.errors import SecAggError, UnmaskFailure
from fedchain.secagg.keys import private_from_bytes, public_matches
from fedchain.secagg.masking import (
    add_masks,
    pairwise_seed,
    pairwise_sign,
    self_mask_commitment,
    sum_masked,
)
from fedchain.secagg.messages import Complaint, KeyAdvert, KeyShares, UnmaskShares
from fedchain.secagg.ring import ring_to_int64
from fedchain.secagg.shamir import combine_verified

__all__ = ["Removal", "UnmaskPlan", "unmask_plan", "unmask_sum"]


def _matches_commitment(commitment: bytes) -> Callable[[bytes], bool]:
    return lambda seed: self_mask_commitment(seed) == commitment


def _matches_public_key(public: bytes) -> Callable[[bytes], bool]:
    return lambda private: public_matches(private, public)


@dataclass(frozen=True)
class Removal:
    """One mask the aggregator takes off: ``sign``·PRG(``seed``) is added to the sum.

    ``owner`` is whose secret gave the seed: the self-mask of ``owner`` (``peer`` None,
    ``secret`` = b_owner), or the mask ``peer`` (in I) added for ``owner`` (not in I), from
    ``owner``'s rebuilt mask key (``secret``) or, when that key cannot be had, from the seed
    ``peer`` revealed (``secret`` None). What a dispute step proves a term from.
    """

    owner: str
    peer: str | None
    seed: bytes
    sign: int
    secret: bytes | None


@dataclass(frozen=True)
class UnmaskPlan:
    """What the aggregate sums: the included inputs I and the masks to take off."""

    included: frozenset[str]
    removals: tuple[Removal, ...]


def unmask_sum(
    ctx: RoundContext,
    adverts: Mapping[str, KeyAdvert],
    key_shares: Mapping[str, KeyShares],
    u2: Collection[str],
    u3: Collection[str],
    masked: Mapping[str, np.ndarray],
    unmask: Mapping[str, UnmaskShares],
    *,
    complaints: Mapping[str, Complaint],
    ring_bits: int,
    length: int | None = None,
) -> np.ndarray:
    """Σ_{i ∈ I} x_i as int64, exactly; ``unmask`` maps each sender (U4 ⊆ U3) to its message.

    ``masked`` must hold exactly U3's vectors (those of E are ignored); ``complaints`` maps
    each complainer to its complaint; ``ring_bits`` is the round's ring width b. Entries of
    ``unmask`` or ``complaints`` that the protocol forbids are ignored (see
    :func:`fedchain.secagg.checks.check_unmask_shares` and
    :func:`fedchain.secagg.complaints.check_complaint` to record them); wrong share values are
    outvoted by :func:`fedchain.secagg.shamir.combine_verified`. Raises :class:`SecAggError`
    on inconsistent inputs and :class:`UnmaskFailure` when the round cannot be unmasked:
    |U3| or |I| below the threshold, fewer than t valid shares of some b_l (l ∈ I), or no
    seed for a mask to remove. The last happens only on a double fault: l ∈ E and a
    neighbour j ∈ I that did not complain about l dropped before unmasking (only j and l know
    s_jl, and l's mask key is never revealed), or l dropped with fewer than t valid shares of
    its mask key and j dropped too.
    ``length`` is the model's number of parameters (default: the most common input length).
    """
    plan = unmask_plan(
        ctx,
        adverts,
        key_shares,
        u2,
        u3,
        masked,
        unmask,
        complaints=complaints,
        ring_bits=ring_bits,
        length=length,
    )
    acc = sum_masked({i: masked[i] for i in plan.included})
    add_masks(acc, [(r.seed, r.sign) for r in plan.removals])
    return ring_to_int64(acc, check_ring_bits(ring_bits))


def unmask_plan(
    ctx: RoundContext,
    adverts: Mapping[str, KeyAdvert],
    key_shares: Mapping[str, KeyShares],
    u2: Collection[str],
    u3: Collection[str],
    masked: Mapping[str, np.ndarray],
    unmask: Mapping[str, UnmaskShares],
    *,
    complaints: Mapping[str, Complaint],
    ring_bits: int,
    length: int | None = None,
) -> UnmaskPlan:
    """The inputs and masks :func:`unmask_sum` adds up (same arguments, same errors)."""
    s2, s3 = ctx.check_sets(u2, u3)
    t = ctx.threshold
    bits = check_ring_bits(ring_bits)
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
    excluded = excluded_by_complaints(ctx, s2, s3, complaints)
    inc = s3 - excluded.keys()
    if len(inc) < t:
        raise UnmaskFailure(
            f"only {len(inc)} masked inputs remain once complaints exclude "
            f"{len(excluded)}, fewer than the threshold {t}: the round must abort",
            unrecoverable=tuple(sorted(excluded, key=ctx.x_of)),
        )
    if length is None:
        sizes = Counter(getattr(masked[i], "size", -1) for i in inc)
        length = max(sizes, key=lambda size: (sizes[size], size))
    for who in sorted(inc, key=ctx.x_of):
        check_masked_input(who, masked[who], length, bits)

    # Valid shares per owner, and the seeds each j revealed (unmask message, then complaint).
    self_points: dict[str, dict[int, int]] = {j: {} for j in inc}
    key_points: dict[str, dict[int, int]] = {j: {} for j in s2 - s3}
    revealed: dict[tuple[str, str], bytes] = {}
    for sender, msg in unmask.items():
        selfs, keys, seeds, _problems = usable_unmask_shares(ctx, s2, s3, sender, msg, excluded)
        for owner, (x, y) in selfs.items():
            self_points[owner][x] = y
        for owner, (x, y) in keys.items():
            key_points[owner][x] = y
        for owner, seed in seeds.items():
            revealed[(sender, owner)] = seed
    for complainer, complaint in usable_complaints(ctx, s2, complaints).items():
        for owner, seed in complaint.seeds.items():
            revealed.setdefault((complainer, owner), seed)

    failures: list[str] = []
    unrecoverable: list[str] = []

    def fail(message: str, *who: str) -> None:
        failures.append(message)
        unrecoverable.extend(w for w in who if w not in unrecoverable)

    removals: list[Removal] = []
    for j in sorted(inc, key=ctx.x_of):
        commitment = key_shares[j].self_mask_commitment
        try:
            seed = combine_verified(
                self_points[j],
                threshold=t,
                check=_matches_commitment(commitment),
                label=f"the self-mask seed of {j}",
            )
        except SecAggError as exc:
            fail(str(exc), j)
            continue
        removals.append(Removal(j, None, seed, -1, seed))

    for owner in sorted(s2 - inc, key=ctx.x_of):
        near = sorted(ctx.neighbours_of(owner) & inc, key=ctx.x_of)
        if not near:
            continue  # no included participant added a mask for owner: nothing to remove
        sk = None
        sk_raw: bytes | None = None
        why_no_key = f"{owner} is excluded, its mask key is never revealed"
        if owner not in s3:
            try:
                raw = combine_verified(
                    key_points[owner],
                    threshold=t,
                    check=_matches_public_key(adverts[owner].mask_pk),
                    label=f"the mask key of dropped participant {owner}",
                )
                sk = private_from_bytes(raw)
                sk_raw = raw
            except SecAggError as exc:
                why_no_key = str(exc)
        for j in near:
            if sk is not None:
                seed = pairwise_seed(ctx, sk, owner, j, adverts[j].mask_pk)
            elif (j, owner) in revealed:
                seed = revealed[(j, owner)]
            else:
                fail(
                    f"the mask {j} added for {owner} cannot be removed: {why_no_key}, and {j} "
                    f"revealed no pairwise seed with {owner}",
                    j,
                    owner,
                )
                continue
            # j added +sign(j, owner)·PRG(seed)
            removals.append(Removal(owner, j, seed, -pairwise_sign(j, owner), sk_raw))

    if failures:
        raise UnmaskFailure(
            "the round cannot be unmasked and must abort: " + "; ".join(failures),
            unrecoverable=tuple(unrecoverable),
        )
    return UnmaskPlan(frozenset(inc), tuple(removals))

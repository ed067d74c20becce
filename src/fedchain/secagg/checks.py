"""Checking a decoded message against the round it claims to belong to.

Decoding (``messages``) checks form; these functions check meaning: a message's shares go to
the sender's neighbours and nobody else, an unmask message reveals only what the survivor sets
and the excluded set allow, a masked input has the model's length and lives in the ring.
Complaints are checked in :mod:`fedchain.secagg.complaints`. A node uses them to refuse and record bad input;
the aggregator's :func:`fedchain.secagg.server.unmask_sum` only ever uses entries that pass.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from fedchain.secagg.context import RoundContext
from fedchain.secagg.errors import MalformedMessage, SecAggError
from fedchain.secagg.messages import KeyAdvert, KeyShares, Share, UnmaskShares
from fedchain.secagg.ring import reduce_to_ring

__all__ = [
    "check_adverts",
    "check_key_shares",
    "check_masked_input",
    "check_ring_bits",
    "check_unmask_shares",
    "usable_unmask_shares",
]


def check_adverts(ctx: RoundContext, adverts: Mapping[str, KeyAdvert]) -> None:
    """Every participant of U1 has one advert, for this round.

    Keys are on-chain and the contract refuses unusable ones (zero, small order, one key used
    twice in an advert). A key copied from another participant is not refused: U1 is exactly
    the on-chain set, so that a dispute sees the same round. A copier gains nothing: it
    cannot open what is sealed to the copied key or derive the masks agreed with it (its own
    input becomes noise, as any garbage input would), and what the key's owner can derive
    with it is a seed the copier would have shared with the same party anyway.
    """
    missing = [p for p in ctx.participants if p not in adverts]
    if missing:
        raise SecAggError(f"no key advert from {', '.join(missing)}")
    extra = sorted(set(adverts) - set(ctx.participants))
    if extra:
        raise SecAggError(f"key adverts from non-participants: {', '.join(extra)}")
    for p in ctx.participants:
        ad = adverts[p]
        if ad.participant != p or ad.task_id != ctx.task_id or ad.round != ctx.round:
            raise MalformedMessage(
                f"advert filed under {p} is from {ad.participant} for task {ad.task_id} "
                f"round {ad.round}"
            )


def check_key_shares(ctx: RoundContext, sender: str, msg: KeyShares) -> None:
    """``msg`` is ``sender``'s for this round and seals exactly one bundle per neighbour."""
    ctx.check_member(sender)
    if msg.participant != sender or msg.task_id != ctx.task_id or msg.round != ctx.round:
        raise MalformedMessage(
            f"key shares filed under {sender} are from {msg.participant} for task "
            f"{msg.task_id} round {msg.round}"
        )
    expected = ctx.neighbours_of(sender)
    got = frozenset(msg.ciphertexts)
    if got != expected:
        strangers = sorted(got - expected)
        missing = sorted(expected - got)
        parts = []
        if strangers:
            parts.append(f"shares for non-neighbours {', '.join(strangers)}")
        if missing:
            parts.append(f"no shares for neighbours {', '.join(missing)}")
        raise MalformedMessage(f"key shares from {sender}: {'; '.join(parts)}")


def _check_excluded(
    ctx: RoundContext, s3: frozenset[str], excluded: Collection[str]
) -> frozenset[str]:
    """``excluded`` (E) as a frozenset once checked to be a subset of U3."""
    e = frozenset(excluded)
    for a in e:
        ctx.check_member(a)
    if not e <= s3:
        extra = ", ".join(sorted(e - s3))
        raise SecAggError(f"excluded participants must be in U3; not in U3: {extra}")
    return e


def usable_unmask_shares(
    ctx: RoundContext,
    u2: Collection[str],
    u3: Collection[str],
    sender: str,
    msg: UnmaskShares,
    excluded: Collection[str],
) -> tuple[dict[str, Share], dict[str, Share], dict[str, bytes], list[str]]:
    """The entries of ``msg`` the protocol allows, and a description of every one it does not.

    ``excluded`` is E (see :func:`fedchain.secagg.complaints.excluded_by_complaints`), I = U3 \\ E.
    Allowed, from a member of U3 about its neighbours (shares at its own x):

    - a self-mask share only for an owner in I (the sender's own too, if it is in I);
    - a mask-key share only for an owner in U2 \\ U3;
    - a pairwise seed only for an owner in E ∪ (U2 \\ U3).

    So an owner whose self-mask seed may be rebuilt never has its mask key or a pairwise seed
    revealed, and vice versa. A sender in E may still unmask (its shares of others count) but
    may not reveal its own self-mask share. Returns (self-mask shares, mask-key shares,
    pairwise seeds, problems).
    """
    s2, s3 = ctx.check_sets(u2, u3)
    e = _check_excluded(ctx, s3, excluded)
    inc = s3 - e
    problems: list[str] = []
    if msg.participant != sender or msg.task_id != ctx.task_id or msg.round != ctx.round:
        return (
            {},
            {},
            {},
            [
                f"unmask shares filed under {sender} are from {msg.participant} for task "
                f"{msg.task_id} round {msg.round}"
            ],
        )
    if sender not in s3:
        return {}, {}, {}, [f"{sender} is not in U3 and may not send unmask shares"]
    x = ctx.x_of(sender)
    neighbours = ctx.neighbours_of(sender)

    def why(owner: str) -> str:
        if owner in e:
            return "excluded by complaints"
        if owner in inc:
            return "included in the sum"
        return "in U2 \\ U3" if owner in s2 else "not in U2"

    def keep(
        kind: str, shares: Mapping[str, Share], allowed: frozenset[str], near: frozenset[str]
    ) -> dict[str, Share]:
        out: dict[str, Share] = {}
        for owner, share in shares.items():
            if owner not in near:
                problems.append(f"{sender} sent a {kind} share of non-neighbour {owner}")
            elif owner not in allowed:
                problems.append(
                    f"{sender} sent a {kind} share of {owner}, which the sets forbid "
                    f"({owner} is {why(owner)})"
                )
            elif share[0] != x:
                problems.append(f"{sender} sent a {kind} share of {owner} at x={share[0]}, not {x}")
            else:
                out[owner] = share
        return out

    # A survivor also reveals its own self-mask share (it holds one: see ClientRound.share_keys).
    selfs = keep("self-mask", msg.self_mask_shares, inc, neighbours | {sender})
    keys = keep("mask-key", msg.mask_key_shares, s2 - s3, neighbours)
    seeds: dict[str, bytes] = {}
    seed_allowed = e | (s2 - s3)
    for owner, seed in msg.pairwise_seeds.items():
        if owner not in neighbours:
            problems.append(f"{sender} sent a pairwise seed with non-neighbour {owner}")
        elif owner not in seed_allowed:
            problems.append(
                f"{sender} sent a pairwise seed with {owner}, which the sets forbid "
                f"({owner} is {why(owner)})"
            )
        else:
            seeds[owner] = seed
    return selfs, keys, seeds, problems


def check_unmask_shares(
    ctx: RoundContext,
    u2: Collection[str],
    u3: Collection[str],
    sender: str,
    msg: UnmaskShares,
    excluded: Collection[str],
) -> None:
    """Raise :class:`MalformedMessage` listing every entry of ``msg`` the protocol forbids."""
    *_, problems = usable_unmask_shares(ctx, u2, u3, sender, msg, excluded)
    if problems:
        raise MalformedMessage("; ".join(problems))


def check_ring_bits(ring_bits: int) -> int:
    """``ring_bits`` if it is a valid ring width b (an int in [2, 64]), else :class:`SecAggError`."""
    reduce_to_ring(np.zeros(0, dtype=np.uint64), ring_bits)  # ring's own check of the width
    return int(ring_bits)


def check_masked_input(who: str, vector: object, length: int, ring_bits: int) -> np.ndarray:
    """``vector`` if it is a 1-D uint64 array of ``length`` words of the ring Z_2^b.

    Else :class:`MalformedMessage`. An honest masked word is uniform in [0, 2^b) (``b =
    ring_bits``), so a word ≥ 2^b is malformed: it would carry bits the aggregate cannot hold.
    """
    bits = check_ring_bits(ring_bits)
    if not isinstance(vector, np.ndarray) or vector.ndim != 1 or vector.dtype != np.uint64:
        raise MalformedMessage(f"masked input of {who} must be a 1-D uint64 vector")
    if vector.size != length:
        raise MalformedMessage(
            f"masked input of {who} has {vector.size} words, the model has {length}"
        )
    if bits < 64 and vector.size and int(vector.max()) >> bits:
        first = int(np.flatnonzero(vector >> np.uint64(bits))[0])
        raise MalformedMessage(
            f"masked input of {who} has a word ≥ 2^{bits} (at index {first}): not in the ring"
        )
    return vector

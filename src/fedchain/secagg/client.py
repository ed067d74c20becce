"""One participant's side of a SecAgg+ round: :class:`ClientRound` holds its secrets.

The phases, each driven by what the chain has fixed so far:

1. ``advertise()`` — fresh ephemeral key pairs (enc, mask); publish the public halves.
2. ``share_keys(ctx, adverts)`` — draw the self-mask seed b_i; Shamir-share b_i and the mask
   private key t-of-k among the neighbours; seal each neighbour's pair of shares for it alone.
3. ``open_shares(ctx, adverts, key_shares, u2)`` — open the bundles of the U2 neighbours; a
   :class:`~fedchain.secagg.messages.Complaint` names those that fail (to post before the
   masked input). ``masked_input(ctx, adverts, u2, x, ring_bits=b)`` —
   y_i = x + PRG(b_i) + Σ ±PRG(s_ij) over the neighbours that shared keys (U2), mod 2^b.
4. ``unmask(ctx, adverts, key_shares, u2, u3, complaints)`` — with E the inputs the
   complaints exclude and I = U3 \\ E, for each neighbour l in U2 reveal: the share of b_l if
   l ∈ I; the pairwise seed s_il if l ∈ E; the share of l's mask key and s_il if l ∈ U2 \\ U3.
   Never a share of b_l together with anything that removes l's pairwise masks — with both,
   the aggregator could strip every mask off y_l.

The object refuses to be driven twice or with a changed context: re-running a phase with
different sets is exactly how a cheating aggregator would try to obtain both secrets.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

import numpy as np

from fedchain.secagg import aead
from fedchain.secagg.addresses import check_address
from fedchain.secagg.checks import check_adverts, check_ring_bits
from fedchain.secagg.complaints import excluded_by_complaints
from fedchain.secagg.context import RoundContext
from fedchain.secagg.errors import SecAggError
from fedchain.secagg.keys import (
    PURPOSE_SHARE_ENCRYPTION,
    RoundKeyPairs,
    agree,
    check_round,
    check_task_id,
    pair_context,
    private_bytes,
)
from fedchain.secagg.masking import mask_input, pairwise_seed, pairwise_sign, self_mask_commitment
from fedchain.secagg.messages import (
    Complaint,
    KeyAdvert,
    KeyShares,
    Share,
    ShareBundle,
    UnmaskShares,
)
from fedchain.secagg.ring import reduce_to_ring
from fedchain.secagg.shamir import RandRange, split

__all__ = ["ClientRound"]


class _Opened:
    """What :meth:`ClientRound.open_shares` found, for the U2 it was asked about."""

    def __init__(
        self, u2: frozenset[str], good: dict[str, ShareBundle], complaint: Complaint | None
    ) -> None:
        self.u2 = u2
        self.good = good
        self.complaint = complaint


class ClientRound:
    """One participant's secret state for one round (keys, self-mask seed, what it revealed).

    Keep it in memory only for the round's lifetime; nothing here is ever written to disk.
    """

    def __init__(
        self, *, task_id: int, round: int, address: str, rng: RandRange | None = None
    ) -> None:
        self.task_id = check_task_id(task_id)
        self.round = check_round(round)
        self.address = check_address(address)
        self._rng = rng
        self._keys = RoundKeyPairs.generate()
        self._ctx: RoundContext | None = None
        self._self_seed: bytes | None = None
        self._own_self_share: tuple[int, int] | None = None
        self._masked_done = False
        self._opened: _Opened | None = None
        self._unmasked: UnmaskShares | None = None
        self._unmask_sets: tuple[frozenset[str], frozenset[str], frozenset[str]] | None = None

    # --- phase 1 ---------------------------------------------------------------------------

    def advertise(self) -> KeyAdvert:
        """The public halves of this round's two key pairs."""
        return KeyAdvert(
            task_id=self.task_id,
            round=self.round,
            participant=self.address,
            enc_pk=self._keys.enc_public,
            mask_pk=self._keys.mask_public,
        )

    # --- helpers ---------------------------------------------------------------------------

    def _bind(self, ctx: RoundContext, adverts: Mapping[str, KeyAdvert]) -> None:
        """Check ``ctx`` is this round's and unchanged since first use, and the adverts sane."""
        if ctx.task_id != self.task_id or ctx.round != self.round:
            raise SecAggError(
                f"context is for task {ctx.task_id} round {ctx.round}, this participant's state "
                f"is for task {self.task_id} round {self.round}"
            )
        ctx.check_member(self.address)
        if self._ctx is None:
            self._ctx = ctx
        elif ctx != self._ctx:
            raise SecAggError("round context changed between phases; refusing to continue")
        check_adverts(ctx, adverts)
        mine = adverts[self.address]
        if mine.enc_pk != self._keys.enc_public or mine.mask_pk != self._keys.mask_public:
            raise SecAggError(
                f"the advert recorded for {self.address} is not the one this participant made"
            )

    def _share_key(
        self, ctx: RoundContext, sender: str, recipient: str, peer_enc_pk: bytes
    ) -> bytes:
        return agree(
            self._keys.enc,
            peer_enc_pk,
            purpose=PURPOSE_SHARE_ENCRYPTION,
            context=pair_context(ctx.task_id, ctx.round, sender, recipient),
        )

    # --- phase 2 ---------------------------------------------------------------------------

    def share_keys(self, ctx: RoundContext, adverts: Mapping[str, KeyAdvert]) -> KeyShares:
        """Draw b_i; seal for each neighbour its shares of b_i and of the mask private key."""
        self._bind(ctx, adverts)
        if self._self_seed is not None:
            raise SecAggError("keys were already shared this round")
        seed = os.urandom(32)
        peers = sorted(ctx.neighbours_of(self.address), key=ctx.x_of)
        xs = [ctx.x_of(p) for p in peers]
        my_x = ctx.x_of(self.address)
        # The self-mask seed is also shared with ourselves (as in Bonawitz et al.): a survivor
        # reveals its own share at unmask, so t survivors in all suffice to rebuild its seed.
        # The mask key is shared with neighbours only: its owner is gone when it is needed.
        self_shares = split(seed, threshold=ctx.threshold, xs=[*xs, my_x], rng=self._rng)
        key_shares = split(
            private_bytes(self._keys.mask), threshold=ctx.threshold, xs=xs, rng=self._rng
        )
        ciphertexts: dict[str, bytes] = {}
        for peer, x in zip(peers, xs, strict=True):
            bundle = ShareBundle(x=x, self_mask_share=self_shares[x], mask_key_share=key_shares[x])
            key = self._share_key(ctx, self.address, peer, adverts[peer].enc_pk)
            ciphertexts[peer] = aead.encrypt(
                key,
                bundle.to_bytes(),
                task_id=ctx.task_id,
                round=ctx.round,
                sender=self.address,
                recipient=peer,
            )
        self._self_seed = seed
        self._own_self_share = (my_x, self_shares[my_x])
        return KeyShares(
            task_id=ctx.task_id,
            round=ctx.round,
            participant=self.address,
            self_mask_commitment=self_mask_commitment(seed),
            ciphertexts=ciphertexts,
        )

    # --- phase 3 ---------------------------------------------------------------------------

    def open_shares(
        self,
        ctx: RoundContext,
        adverts: Mapping[str, KeyAdvert],
        key_shares: Mapping[str, KeyShares],
        u2: Collection[str],
    ) -> Complaint | None:
        """Open the bundle of every U2 neighbour; a complaint about those that fail, or None.

        A bundle fails when it is missing, fails authentication, does not decode or carries
        another x than ours. The good ones are kept for :meth:`unmask`. The complaint carries,
        for each accused neighbour l, our pairwise seed s_il (see
        :class:`~fedchain.secagg.messages.Complaint` for why that is safe); it must be posted
        before our masked input is committed. The first answer is final: asking again returns
        it unchanged, asking about another U2 is refused.
        """
        self._bind(ctx, adverts)
        s2, _ = ctx.check_sets(u2, ())
        return self._open_all(ctx, adverts, key_shares, s2).complaint

    def _open_all(
        self,
        ctx: RoundContext,
        adverts: Mapping[str, KeyAdvert],
        key_shares: Mapping[str, KeyShares],
        s2: frozenset[str],
    ) -> _Opened:
        if self._opened is not None:
            if self._opened.u2 != s2:
                raise SecAggError("shares were already opened for another U2; refusing")
            return self._opened
        if self._self_seed is None:
            raise SecAggError("share_keys must run before open_shares")
        if self.address not in s2:
            raise SecAggError(f"{self.address} is not in U2: it has no shares to open")
        my_x = ctx.x_of(self.address)
        good: dict[str, ShareBundle] = {}
        seeds: dict[str, bytes] = {}
        for peer in sorted(ctx.neighbours_of(self.address) & s2, key=ctx.x_of):
            bundle = self._open(ctx, adverts, key_shares.get(peer), peer, my_x)
            if bundle is None:
                seeds[peer] = self._pairwise_seed(ctx, adverts, peer)
            else:
                good[peer] = bundle
        complaint = (
            Complaint(task_id=ctx.task_id, round=ctx.round, participant=self.address, seeds=seeds)
            if seeds
            else None
        )
        self._opened = _Opened(s2, good, complaint)
        return self._opened

    def _pairwise_seed(
        self, ctx: RoundContext, adverts: Mapping[str, KeyAdvert], peer: str
    ) -> bytes:
        return pairwise_seed(ctx, self._keys.mask, self.address, peer, adverts[peer].mask_pk)

    def masked_input(
        self,
        ctx: RoundContext,
        adverts: Mapping[str, KeyAdvert],
        u2: Collection[str],
        values: np.ndarray,
        *,
        ring_bits: int,
    ) -> np.ndarray:
        """y_i in Z_2^b (b = ``ring_bits``) as uint64 words < 2^b: ``values`` (int64) plus the
        self-mask and the masks with U2 neighbours.

        Computed mod 2^64, then reduced mod 2^b, so every word is uniform in [0, 2^b) whatever
        ``values`` is. Refuses a second call: two masked inputs under the same masks would
        reveal their difference.
        """
        self._bind(ctx, adverts)
        bits = check_ring_bits(ring_bits)
        s2 = frozenset(u2)
        ctx.check_sets(s2, ())
        if self._self_seed is None:
            raise SecAggError("share_keys must run before masked_input")
        if self.address not in s2:
            raise SecAggError(f"{self.address} is not in U2: it may not send a masked input")
        if self._masked_done:
            raise SecAggError("a masked input was already produced this round")
        pairwise: dict[str, tuple[bytes, int]] = {}
        for peer in ctx.neighbours_of(self.address) & s2:
            pairwise[peer] = (
                self._pairwise_seed(ctx, adverts, peer),
                pairwise_sign(self.address, peer),
            )
        masked = reduce_to_ring(
            mask_input(values, self_seed=self._self_seed, pairwise=pairwise), bits
        )
        self._masked_done = True
        return masked

    # --- phase 4 ---------------------------------------------------------------------------

    def unmask(
        self,
        ctx: RoundContext,
        adverts: Mapping[str, KeyAdvert],
        key_shares: Mapping[str, KeyShares],
        u2: Collection[str],
        u3: Collection[str],
        complaints: Mapping[str, Complaint],
    ) -> UnmaskShares:
        """What this survivor reveals about each U2 neighbour l, given the posted ``complaints``.

        With E = :func:`~fedchain.secagg.complaints.excluded_by_complaints` and I = U3 \\ E:

        - l ∈ I: our share of b_l, if we hold a valid one (and our own share of b_i if i ∈ I);
        - l ∈ E: the pairwise seed s_il — never a share of b_l or of l's mask key;
        - l ∈ U2 \\ U3: our share of l's mask key, if valid, and s_il (l sent no masked input;
          the seed is a fallback for the aggregator when l's shares were bad).

        Bundles that failed to open (see :meth:`open_shares`, run here if it was not) put their
        sender in ``bad_senders`` instead of raising, so one bad neighbour cannot silence us.
        Only a member of U3 unmasks, and only when |I| ≥ t; calling again with other sets or
        complaints that change E is refused.
        """
        self._bind(ctx, adverts)
        s2, s3 = ctx.check_sets(u2, u3)
        if self.address not in s3:
            raise SecAggError(
                f"{self.address} is not in U3 (sent no masked input): it does not unmask"
            )
        if len(s3) < ctx.threshold:
            raise SecAggError(
                f"only {len(s3)} participants sent masked inputs, fewer than the threshold "
                f"{ctx.threshold}: refusing to unmask"
            )
        opened = self._open_all(ctx, adverts, key_shares, s2)
        complaint = opened.complaint
        filed = complaints.get(self.address)
        if filed is not None and filed != complaint:
            raise SecAggError(
                f"the complaint recorded for {self.address} is not the one this participant made"
            )
        excluded = frozenset(excluded_by_complaints(ctx, s2, s3, complaints))
        inc = s3 - excluded
        if len(inc) < ctx.threshold:
            raise SecAggError(
                f"only {len(inc)} masked inputs remain once complaints exclude "
                f"{len(excluded)}, fewer than the threshold {ctx.threshold}: refusing to unmask"
            )
        if self._unmask_sets is not None:
            if self._unmask_sets != (s2, s3, excluded) or self._unmasked is None:
                raise SecAggError(
                    "unmask already answered for other survivor sets or complaints; "
                    "refusing to reveal more"
                )
            return self._unmasked
        self._unmask_sets = (s2, s3, excluded)  # committed before anything is revealed
        good = opened.good
        self_mask_shares: dict[str, Share] = {}
        mask_key_shares: dict[str, Share] = {}
        pairwise_seeds: dict[str, bytes] = {}
        bad: list[str] = []
        for peer in sorted(ctx.neighbours_of(self.address) & s2, key=ctx.x_of):
            bundle = good.get(peer)
            if bundle is None:
                bad.append(peer)
            if peer in inc:
                if bundle is not None:
                    self_mask_shares[peer] = (bundle.x, bundle.self_mask_share)
            elif peer in excluded:
                pairwise_seeds[peer] = self._pairwise_seed(ctx, adverts, peer)
            else:  # U2 \ U3
                if bundle is not None:
                    mask_key_shares[peer] = (bundle.x, bundle.mask_key_share)
                pairwise_seeds[peer] = self._pairwise_seed(ctx, adverts, peer)
        if self.address in inc and self._own_self_share is not None:
            self_mask_shares[self.address] = self._own_self_share
        # The rule the whole protocol's privacy rests on: never a self-mask share of an owner
        # together with anything that takes off its pairwise masks (here or in our complaint).
        revealed_pairwise = mask_key_shares.keys() | pairwise_seeds.keys()
        if complaint is not None:
            revealed_pairwise |= complaint.accused
        if self_mask_shares.keys() & revealed_pairwise:
            raise SecAggError("internal error: would reveal both secrets of one participant")
        self._unmasked = UnmaskShares(
            task_id=ctx.task_id,
            round=ctx.round,
            participant=self.address,
            self_mask_shares=self_mask_shares,
            mask_key_shares=mask_key_shares,
            pairwise_seeds=pairwise_seeds,
            bad_senders=tuple(bad),
        )
        return self._unmasked

    def _open(
        self,
        ctx: RoundContext,
        adverts: Mapping[str, KeyAdvert],
        shares: KeyShares | None,
        peer: str,
        my_x: int,
    ) -> ShareBundle | None:
        """The bundle ``peer`` sealed for us, or None if it is missing or bad in any way."""
        if shares is None or shares.participant != peer:
            return None
        if shares.task_id != ctx.task_id or shares.round != ctx.round:
            return None
        sealed = shares.ciphertexts.get(self.address)
        if sealed is None:
            return None
        key = self._share_key(ctx, peer, self.address, adverts[peer].enc_pk)
        try:
            plain = aead.decrypt(
                key,
                sealed,
                task_id=ctx.task_id,
                round=ctx.round,
                sender=peer,
                recipient=self.address,
            )
            bundle = ShareBundle.from_bytes(plain)
        except SecAggError:  # ShareAuthenticationError, MalformedMessage
            return None
        return bundle if bundle.x == my_x else None

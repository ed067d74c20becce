"""One participant's side of a SecAgg+ round: :class:`ClientRound` holds its secrets.

The four phases, each driven by what the chain has fixed so far:

1. ``advertise()`` — fresh ephemeral key pairs (enc, mask); publish the public halves.
2. ``share_keys(ctx, adverts)`` — draw the self-mask seed b_i; Shamir-share b_i and the mask
   private key t-of-k among the neighbours; seal each neighbour's pair of shares for it alone.
3. ``masked_input(ctx, adverts, u2, x)`` — y = x + PRG(b_i) + Σ ±PRG(s_ij) over the neighbours
   that shared keys (U2).
4. ``unmask(ctx, adverts, key_shares, u2, u3)`` — for each neighbour, reveal the share of
   exactly one of its secrets: b_j if it sent a masked input (U3), its mask key if it did not
   (U2 \\ U3). Never both — with both, the aggregator could strip every mask off y_j.

The object refuses to be driven twice or with a changed context: re-running a phase with
different sets is exactly how a cheating aggregator would try to obtain both secrets.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

import numpy as np

from fedchain.secagg import aead
from fedchain.secagg.addresses import check_address
from fedchain.secagg.checks import check_adverts
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
from fedchain.secagg.messages import KeyAdvert, KeyShares, Share, ShareBundle, UnmaskShares
from fedchain.secagg.shamir import RandRange, split

__all__ = ["ClientRound"]


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
        self._unmasked: UnmaskShares | None = None
        self._unmask_sets: tuple[frozenset[str], frozenset[str]] | None = None

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

    def masked_input(
        self,
        ctx: RoundContext,
        adverts: Mapping[str, KeyAdvert],
        u2: Collection[str],
        values: np.ndarray,
    ) -> np.ndarray:
        """y_i as uint64: ``values`` (int64) plus the self-mask and the masks with U2 neighbours.

        Refuses a second call: two masked inputs under the same masks would reveal their
        difference.
        """
        self._bind(ctx, adverts)
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
            seed = pairwise_seed(ctx, self._keys.mask, self.address, peer, adverts[peer].mask_pk)
            pairwise[peer] = (seed, pairwise_sign(self.address, peer))
        masked = mask_input(values, self_seed=self._self_seed, pairwise=pairwise)
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
    ) -> UnmaskShares:
        """For each neighbour in U2, the share of b_j (j ∈ U3) or of its mask key (j ∉ U3).

        Bundles that fail to decrypt, decode or carry the wrong x put their sender in
        ``bad_senders`` instead of raising, so one bad neighbour cannot silence us. Only a
        member of U3 unmasks; calling again with other sets is refused.
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
        if self._unmask_sets is not None:
            if self._unmask_sets != (s2, s3) or self._unmasked is None:
                raise SecAggError(
                    "unmask already answered for other survivor sets; refusing to reveal more"
                )
            return self._unmasked
        self._unmask_sets = (s2, s3)  # committed before anything is revealed
        my_x = ctx.x_of(self.address)
        self_mask_shares: dict[str, Share] = {}
        mask_key_shares: dict[str, Share] = {}
        bad: list[str] = []
        for peer in sorted(ctx.neighbours_of(self.address) & s2, key=ctx.x_of):
            bundle = self._open(ctx, adverts, key_shares.get(peer), peer, my_x)
            if bundle is None:
                bad.append(peer)
            elif peer in s3:
                self_mask_shares[peer] = (bundle.x, bundle.self_mask_share)
            else:
                mask_key_shares[peer] = (bundle.x, bundle.mask_key_share)
        if self._own_self_share is not None:
            self_mask_shares[self.address] = self._own_self_share  # we are in U3
        # The rule the whole protocol's privacy rests on: never both secrets of one owner.
        if self_mask_shares.keys() & mask_key_shares.keys():
            raise SecAggError("internal error: would reveal both secrets of one participant")
        self._unmasked = UnmaskShares(
            task_id=ctx.task_id,
            round=ctx.round,
            participant=self.address,
            self_mask_shares=self_mask_shares,
            mask_key_shares=mask_key_shares,
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

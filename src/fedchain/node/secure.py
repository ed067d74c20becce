"""Secure aggregation (SecAgg+) roles: the chain is the bulletin board, the store the mailbox.

Every phase's message is a blob in the store whose digest is on-chain, so every node (and
the auditor) reads the same participant sets U1 (advertised keys), U2 (shared keys), U3
(committed a well-formed masked input) and U4 (posted unmask shares), the same complaints
(hence the same set E left out of the sum because its shares failed to open) and the same
ring width. That shared, immutable view is what the original protocol's "consistency check"
round establishes with signatures; here the chain gives it for free, so that round is not
needed.

Nobody sees an individual update: a trainer stores only its masked input nᵢ·vᵢ + masks; the
aggregator (like the auditor) learns only Σ nᵢ·vᵢ over U3.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from fedchain.aggregation.fedavg import apply_aggregate
from fedchain.chain import CoordinatorClient, ExclusionReason, Phase
from fedchain.chain.contracts import DisputeClient, revealed_bitmap, revealed_hash
from fedchain.chain.types import GameKind, GameState
from fedchain.codec.blob import BlobKind
from fedchain.errors import FedchainError
from fedchain.node.base import TaskNode
from fedchain.node.blobs import TaskBlobs
from fedchain.node.events import NodeAction
from fedchain.node.trainer import TrainerNode
from fedchain.secagg import (
    ClientRound,
    Complaint,
    KeyAdvert,
    KeyShares,
    RoundContext,
    UnmaskShares,
    check_key_shares,
    excluded_by_complaints,
    unmask_sum,
    usable_complaints,
)
from fedchain.secagg.ring import secure_ring_bits
from fedchain.storage.errors import BlobNotFound

if TYPE_CHECKING:
    from fedchain.node.secure_terms import SecureTerms

__all__ = [
    "SecureAggregatorNode",
    "SecureRoundView",
    "SecureTrainerNode",
    "make_trainer",
    "secure_commit_target",
]


class SecureRoundView:
    """One secure round as the chain and the store show it to everyone."""

    def __init__(self, coordinator: CoordinatorClient, blobs: TaskBlobs, task_id: int, round: int):
        self.coordinator = coordinator
        self.blobs = blobs
        self.task_id = task_id
        self.round = round

    def _messages(self, event: str, parse: type) -> dict[str, object]:
        out: dict[str, object] = {}
        for who, digest in self.coordinator.phase_digests(self.task_id, self.round, event).items():
            try:
                # from_bytes also refuses a message replayed from another round or participant
                out[who] = parse.from_bytes(  # type: ignore[attr-defined]
                    self.blobs.store.get(digest),
                    task_id=self.task_id,
                    round=self.round,
                    participant=who,
                )
            except FedchainError:
                continue  # unreadable or malformed: as if it never arrived
        return out

    @cached_property
    def adverts(self) -> dict[str, KeyAdvert]:
        """U1: every on-chain advertisement, in the order of advertisement (the contract
        refuses keys no agreement could use, so every advert is usable)."""
        return {
            who: KeyAdvert(
                task_id=self.task_id,
                round=self.round,
                participant=who,
                enc_pk=enc_pk,
                mask_pk=mask_pk,
            )
            for who, (enc_pk, mask_pk) in self.coordinator.key_adverts(
                self.task_id, self.round
            ).items()
        }

    @cached_property
    def context(self) -> RoundContext:
        return RoundContext.for_round(
            task_id=self.task_id,
            round=self.round,
            u1=self.adverts,
            seed=self.coordinator.round_seed(self.task_id, self.round),
            graph_order=list(self.adverts),
        )

    @cached_property
    def commitments(self) -> dict[str, bytes]:
        """U2 -> sha256 of the self-mask seed each member committed on-chain."""
        return self.coordinator.self_mask_commitments(self.task_id, self.round)

    @cached_property
    def key_shares(self) -> dict[str, KeyShares]:
        """The usable share messages of U2: readable, one sealed bundle per neighbour, and
        carrying the self-mask commitment made on-chain. A member of U2 without one stays in
        U2 (its neighbours masked with it); they cannot open its shares and complain."""
        out: dict[str, KeyShares] = {}
        commitments = self.commitments
        for who, msg in self._messages("KeysShared", KeyShares).items():
            if who not in self.adverts:
                continue
            if msg.self_mask_commitment != commitments.get(who):  # type: ignore[attr-defined]
                continue
            try:
                check_key_shares(self.context, who, msg)  # type: ignore[arg-type]
            except FedchainError:
                continue  # shares for a non-neighbour, or a neighbour left out: unusable
            out[who] = msg  # type: ignore[assignment]
        return out

    def revealed_bitmap(self, msg: UnmaskShares) -> list[int]:
        """The U1 indices (order of advertisement) whose self-mask share ``msg`` reveals, as
        the bitmap its sender commits on-chain with it."""
        index = {who: i for i, who in enumerate(self.adverts)}
        return revealed_bitmap((index[o] for o in msg.self_mask_shares), len(index))

    @property
    def u2(self) -> set[str]:
        """U2: every member of U1 that shared keys on-chain."""
        return set(self.commitments) & set(self.adverts)

    @cached_property
    def ring_bits(self) -> int:
        """Width b of the ring Z_2^b of this round's masked inputs (``fedchain.secagg.ring``).

        Fixed on-chain before anyone masks: the task's squared-norm bound and the weights U2
        carry (emitted with their key shares; weights are fixed at join).
        """
        declared = self.coordinator.shared_samples(self.task_id, self.round)
        weight = sum(declared.get(p, 0) for p in self.u2)
        norm_bound = self.coordinator.get_task(self.task_id).norm_bound
        return secure_ring_bits(norm_bound, max(weight, 1))

    @cached_property
    def masked(self) -> tuple[dict[str, tuple[np.ndarray, int]], dict[str, str]]:
        """(U3: participant -> (masked vector, weight), left out: participant -> why)."""
        valid: dict[str, tuple[np.ndarray, int]] = {}
        excluded: dict[str, str] = {}
        self._missing: set[str] = set()
        weights = self.coordinator.shared_samples(self.task_id, self.round)
        for u in self.coordinator.updates(self.task_id, self.round):
            if u.participant not in self.key_shares:
                excluded[u.participant] = "committed without valid key shares"
                continue
            try:
                blob = self.blobs.get_vector(
                    BlobKind.MASKED, u.merkle_root, owner=u.participant, ring_bits=self.ring_bits
                )
            except FedchainError as exc:
                excluded[u.participant] = str(exc)
                if isinstance(exc, BlobNotFound):
                    self._missing.add(u.participant)
                continue
            valid[u.participant] = (blob.values, weights[u.participant])
        return valid, excluded

    @property
    def u3(self) -> set[str]:
        return set(self.masked[0])

    @cached_property
    def complaints(self) -> dict[str, Complaint]:
        """Readable complaints about key shares whose every entry the protocol allows."""
        msgs = self._messages("SharesComplained", Complaint)
        return usable_complaints(self.context, self.u2, msgs)  # type: ignore[arg-type]

    @cached_property
    def excluded_by_complaints(self) -> dict[str, str]:
        """E: members of U3 whose self-mask can never be rebuilt (too many neighbours could
        not open its shares); their input is left out and treated like a dropout."""
        return excluded_by_complaints(self.context, self.u2, self.u3, self.complaints)

    @property
    def excluded(self) -> dict[str, str]:
        """Every committed participant left out of the sum, and why."""
        return {**self.masked[1], **self.excluded_by_complaints}

    @property
    def exclusion_reasons(self) -> dict[str, ExclusionReason]:
        """The reason to record on-chain for each participant left out: UNAVAILABLE when its
        masked input is not in the store (as for a missing plaintext update), else MALFORMED
        (a masked input that does not open to its root, or key shares that failed)."""
        excluded = self.excluded
        return {
            p: ExclusionReason.UNAVAILABLE if p in self._missing else ExclusionReason.MALFORMED
            for p in sorted(excluded)
        }

    @property
    def included(self) -> set[str]:
        """I = U3 minus E: the participants whose inputs the aggregate sums."""
        return self.u3 - set(self.excluded_by_complaints)

    @cached_property
    def unmask_messages(self) -> dict[str, UnmaskShares]:
        msgs = self._messages("UnmaskSharesPosted", UnmaskShares)
        return {w: m for w, m in msgs.items() if w in self.u3}  # type: ignore[misc]

    def aggregate(self) -> np.ndarray:
        """Σ nᵢ·vᵢ over I, unmasked (raises SecAggError when the round cannot be unmasked)."""
        masked = {w: v for w, (v, _) in self.masked[0].items()}
        return unmask_sum(
            self.context,
            self.adverts,
            self.key_shares,
            self.u2,
            self.u3,
            masked,
            self.unmask_messages,
            complaints=self.complaints,
            ring_bits=self.ring_bits,
        )

    def total_samples(self) -> int:
        """Σ nᵢ over I (the weights of the inputs the aggregate sums)."""
        included = self.included
        return sum(n for who, (_, n) in self.masked[0].items() if who in included)


def secure_commit_target(
    phase: Phase, info_round: int, num_rounds: int, deadline: int, now: int
) -> int | None:
    """The round a secure trainer may act in now (None when no phase is open to it)."""
    if phase == Phase.CHALLENGE and now >= deadline and info_round < num_rounds:
        return info_round + 1  # its advertisement finalizes the previous round
    if phase in (Phase.ADVERTISE, Phase.SHARE, Phase.COMMIT, Phase.UNMASK) and now < deadline:
        return info_round
    return None


class SecureTrainerNode(TrainerNode):
    """A data owner in a secure task: the SecAgg+ client side of each round.

    The round's ephemeral secrets live only in this object; a node that restarts mid-round
    has lost them and counts as a dropout for that round (the protocol is built for that).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._secrets: dict[int, ClientRound] = {}

    def poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        now = self.coordinator.chain.next_block_time()
        round = secure_commit_target(info.phase, info.round, info.num_rounds, info.deadline, now)
        if round is None:
            return None
        phase = Phase.ADVERTISE if round != info.round else info.phase
        view = SecureRoundView(self.coordinator, self.blobs, self.task_id, round)
        me = self.address
        if phase == Phase.ADVERTISE:
            if me in self.coordinator.key_adverts(self.task_id, round):
                return None
            member = self.coordinator.get_member(self.task_id, me)
            if not member.active or member.last_round == round:
                return None  # not a member, or joined during this round: it counts from the next
            fresh = ClientRound(task_id=self.task_id, round=round, address=me)
            self._secrets = {round: fresh}  # older rounds' secrets are no longer needed
            advert = fresh.advertise()
            self.coordinator.advertise_keys(
                self.account, self.task_id, round, advert.enc_pk, advert.mask_pk
            )
            return NodeAction(self.name, "advertise", round)
        client = self._secrets.get(round)
        if client is None:
            return None  # lost this round's secrets (restart): a dropout this round
        if phase == Phase.SHARE:
            if me not in view.adverts or me in self.coordinator.phase_digests(
                self.task_id, round, "KeysShared"
            ):
                return None
            shares = self.seal_shares(client, view)
            digest = self.store.put(shares.to_bytes())
            self.coordinator.share_keys(
                self.account, self.task_id, round, digest, shares.self_mask_commitment
            )
            return NodeAction(self.name, "share", round)
        if phase == Phase.COMMIT:
            if me not in view.key_shares:
                return None
            if self.coordinator.get_member(self.task_id, me).last_round == round:
                return None
            # Complain first (the chain refuses a complaint after one's own commit): neighbours
            # whose shares for us do not open are named, with the pairwise seed we share.
            complaint = client.open_shares(view.context, view.adverts, view.key_shares, view.u2)
            if complaint is not None and me not in self.coordinator.phase_digests(
                self.task_id, round, "SharesComplained"
            ):
                digest = self.store.put(complaint.to_bytes())
                self.coordinator.complain(self.account, self.task_id, round, digest)
                return NodeAction(
                    self.name, "complain", round, {"accused": sorted(complaint.seeds)}
                )
            update, loss = self.compute_update(info.global_model_root, round)
            # Masked at the weight the chain fixed for us (declared at join, capped).
            weight = self.coordinator.shared_samples(self.task_id, round)[me]
            weighted = update.astype(np.int64) * np.int64(weight)
            bits = view.ring_bits
            masked = client.masked_input(
                view.context, view.adverts, view.u2, weighted, ring_bits=bits
            )
            root = self.store_masked(masked, bits, round)
            self.coordinator.commit_update(self.account, self.task_id, round, root, 0)
            return NodeAction(self.name, "commit", round, {"loss": loss, "samples": len(self.data)})
        if phase == Phase.UNMASK:
            if me not in view.u3 or me in self.coordinator.phase_digests(
                self.task_id, round, "UnmaskSharesPosted"
            ):
                return None
            reveal = client.unmask(
                view.context, view.adverts, view.key_shares, view.u2, view.u3, view.complaints
            )
            digest = self.store.put(reveal.to_bytes())
            self.coordinator.unmask(
                self.account,
                self.task_id,
                round,
                digest,
                revealed_hash(view.revealed_bitmap(reveal)),
            )
            return NodeAction(self.name, "unmask", round, {"bad_senders": list(reveal.bad_senders)})
        return None

    # Hooks: one step each, so that fault injection (``fedchain.sim.faults``) can swap it.

    def seal_shares(self, client: ClientRound, view: SecureRoundView) -> KeyShares:
        """This round's key shares, sealed to each neighbour."""
        return client.share_keys(view.context, view.adverts)

    def store_masked(self, masked: np.ndarray, bits: int, round: int) -> bytes:
        """Store the masked input (it hides the update already); returns the root to commit."""
        return self.blobs.put_vector(
            BlobKind.MASKED, masked, owner=self.address, ring_bits=bits
        ).root


class SecureAggregatorNode(TaskNode):
    """Unmasks Σ nᵢ·vᵢ from the published shares and posts it (it never sees one update), and
    defends it in the secure sum game (``fedchain.node.secure_terms``) when given a client."""

    def __init__(
        self, *args: object, disputes: DisputeClient | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.disputes = disputes

    def poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        if info.secure and info.phase == Phase.CHALLENGE and self.disputes is not None:
            return self.defend(info.round)
        now = self.coordinator.chain.next_block_time()
        if not info.secure or info.phase != Phase.AGGREGATE or now >= info.deadline:
            return None
        if self.waiting_for_incumbent(info.aggregator, now) or self.barred(info.round):
            return None
        view = SecureRoundView(self.coordinator, self.blobs, self.task_id, info.round)
        try:
            total = self.unmasked(view)
        except FedchainError:
            # below the threshold: the round aborts at its deadline (unless a backup can unmask)
            return self.yield_if_incumbent(info, now)
        samples = view.total_samples()
        base = self.blobs.get_vector(BlobKind.MODEL, info.global_model_root)
        new_model = self.model_for(base.values, total, samples)
        root = self.blobs.put_vector(BlobKind.AGGREGATE, total).root
        model_root = self.blobs.put_vector(BlobKind.MODEL, new_model).root
        excluded = view.excluded
        # recorded once per round (a post after a refuted one names only the new ones)
        recorded = set(self.coordinator.withheld(self.task_id, info.round))
        withheld = sorted(view.u3 - set(view.unmask_messages) - recorded)
        self.coordinator.post_secure_aggregate(
            self.account,
            self.task_id,
            info.round,
            root,
            model_root,
            self.exclusions(view),
            withheld,
        )
        return NodeAction(
            self.name,
            "aggregate",
            info.round,
            {
                "included": len(view.included),
                "excluded": excluded,
                "withheld": withheld,
                "samples": samples,
            },
        )

    # Hooks: one step each, so that fault injection (``fedchain.sim.faults``) can swap it.

    def unmasked(self, view: SecureRoundView) -> np.ndarray:
        """The aggregate to post: Σ nᵢ·vᵢ over I, unmasked."""
        return view.aggregate()

    def exclusions(self, view: SecureRoundView) -> dict[str, ExclusionReason]:
        """Who the aggregate leaves out, and why (recorded on-chain)."""
        return view.exclusion_reasons

    def model_for(self, base: np.ndarray, total: np.ndarray, samples: int) -> np.ndarray:
        """The model to post: the global model plus the aggregate over its weight."""
        return apply_aggregate(base, total, samples)

    def running_sum_for(self, terms: SecureTerms, chunk: int, upto: int) -> np.ndarray:
        """The running sum P_upto of chunk ``chunk`` we state in a secure game."""
        return terms.running_sum(chunk, upto)

    def defend(self, round: int) -> NodeAction | None:
        """Answer the first secure game about our aggregate that waits for us."""
        from fedchain.node.secure_terms import SecureTerms  # it reads rounds through this module

        assert self.disputes is not None
        for game in self.disputes.games(self.task_id, round):
            if game.aggregator != self.address or game.kind != GameKind.SECURE_SUM:
                continue
            if game.state not in (GameState.AWAIT_AGGREGATE, GameState.AWAIT_DEFENDER):
                continue
            terms = SecureTerms(self.coordinator, self.blobs, self.task_id, round)
            if game.state == GameState.AWAIT_AGGREGATE:
                posted = self.coordinator.aggregate(self.task_id, round)
                if posted is None:
                    return None
                tree = self.blobs.open_vector(BlobKind.AGGREGATE, posted.merkle_root).tree
                p = self.running_sum_for(terms, game.chunk, terms.num_terms)
                r = self.disputes.open_secure_aggregate_chunk(
                    self.account,
                    game.id,
                    tree.chunk(game.chunk),
                    tree.proof(game.chunk),
                    p.astype(">u8").tobytes(),
                )
                move = "open"
            else:
                p = self.running_sum_for(terms, game.chunk, game.query)
                r = self.disputes.defend(self.account, game.id, p.astype(">u8").tobytes())
                move = "sum"
            return NodeAction(
                self.name, "defend", round, {"game": game.id, "move": move, "gas": r.gas_used}
            )
        return None


def make_trainer(secure: bool, *args: object, **kwargs: object) -> TrainerNode:
    """A trainer of the right kind for the task."""
    cls = SecureTrainerNode if secure else TrainerNode
    return cls(*args, **kwargs)  # type: ignore[arg-type]

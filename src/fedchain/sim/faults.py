"""Misbehaving trainers, to show that bad input is refused and nothing is lost.

They are ordinary trainers with one twist each; they still talk only to the chain and the store.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

from fedchain.chain import Phase
from fedchain.node import NodeAction, TrainerNode
from fedchain.node.schedule import commit_target
from fedchain.node.secure import SecureRoundView, SecureTrainerNode, secure_commit_target
from fedchain.secagg import ClientRound, KeyShares

__all__ = [
    "FaultKind",
    "FAULT_KINDS",
    "SECURE_FAULT_KINDS",
    "FaultyTrainer",
    "SecureFaultyTrainer",
    "DropoutPlan",
    "DropoutNode",
]

FaultKind = Literal["crash", "malformed", "late", "bad-shares"]
FAULT_KINDS: tuple[str, ...] = ("crash", "malformed", "late")
"""Faults of plaintext rounds."""
SECURE_FAULT_KINDS: tuple[str, ...] = ("crash", "malformed", "bad-shares")
"""Faults of secure rounds."""


class FaultyTrainer(TrainerNode):
    """A trainer that, from round ``at_round`` on, crashes, sends a malformed blob, or is late.

    - crash: stops acting (its stake and earned rewards stay on-chain, claimable later);
    - malformed: commits to a blob that is not a valid update (the aggregator excludes it);
    - late: tries to commit only after the commit window closed (the contract refuses it).
    """

    def __init__(
        self, *args: object, fault: FaultKind, at_round: int = 1, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fault = fault
        self.at_round = at_round

    def poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        now = self.coordinator.chain.next_block_time()
        target = commit_target(info, now)
        round = target[0] if target else info.round
        if round < self.at_round:
            return super().poll()
        if self.fault == "crash":
            return None
        if self.fault == "malformed":
            if target is None:
                return None
            member = self.coordinator.get_member(self.task_id, self.address)
            if member.last_round == round:
                return None
            garbage = (
                b"FCV1 this is not an update " + round.to_bytes(4, "big") + self.address.encode()
            )
            digest = self.store.put(garbage)
            self.coordinator.commit_update(
                self.account, self.task_id, round, digest, digest, len(self.data)
            )
            return NodeAction(self.name, "commit", round, {"fault": "malformed"})
        # late: act only once the window is closed, once per round
        if info.phase == Phase.AGGREGATE and getattr(self, "_late_tried", 0) != info.round:
            self._late_tried = info.round
            update, _ = self.compute_update(info.global_model_digest, info.round)
            from fedchain.codec.blob import BlobKind

            root, digest = self.blobs.put_vector(BlobKind.UPDATE, update)
            self.coordinator.commit_update(
                self.account, self.task_id, info.round, root, digest, len(self.data)
            )
        return None


class SecureFaultyTrainer(SecureTrainerNode):
    """A secure-round trainer that, from round ``at_round`` on, misbehaves in one way.

    - crash: stops acting (a dropout every round; its stake and earned rewards stay on-chain);
    - malformed: commits to a masked "input" that is not a MASKED blob (excluded on-chain);
    - bad-shares: seals random bytes instead of key shares for every neighbour, then masks and
      commits as usual. Its neighbours complain, it is left out of the sum (set E) and the
      round completes without it.
    """

    def __init__(
        self, *args: object, fault: FaultKind, at_round: int = 1, **kwargs: object
    ) -> None:
        if fault not in SECURE_FAULT_KINDS:
            raise ValueError(f"fault {fault!r} is not one of {', '.join(SECURE_FAULT_KINDS)}")
        super().__init__(*args, **kwargs)
        self.fault = fault
        self.at_round = at_round

    def poll(self) -> NodeAction | None:
        if self.fault == "crash":
            info = self.coordinator.get_task(self.task_id)
            now = self.coordinator.chain.next_block_time()
            round = secure_commit_target(
                info.phase, info.round, info.num_rounds, info.deadline, now
            )
            if round is not None and round >= self.at_round:
                return None
        return super().poll()

    def seal_shares(self, client: ClientRound, view: SecureRoundView) -> KeyShares:
        shares = super().seal_shares(client, view)
        if self.fault != "bad-shares" or view.round < self.at_round:
            return shares
        return KeyShares(
            task_id=shares.task_id,
            round=shares.round,
            participant=shares.participant,
            self_mask_commitment=shares.self_mask_commitment,
            ciphertexts={p: os.urandom(len(ct)) for p, ct in shares.ciphertexts.items()},
        )

    def store_masked(self, masked: np.ndarray, bits: int, round: int) -> tuple[bytes, bytes]:
        if self.fault != "malformed" or round < self.at_round:
            return super().store_masked(masked, bits, round)
        digest = self.store.put(b"FCV1 not a masked input " + round.to_bytes(4, "big"))
        return digest, digest


#: Order of the phases a trainer acts in; a dropout at stage s does nothing from phase s on.
_STAGE = {Phase.ADVERTISE: 0, Phase.SHARE: 1, Phase.COMMIT: 2, Phase.UNMASK: 3}


class DropoutPlan:
    """Which participants vanish in which round, and when (seeded, so runs repeat).

    Each round a fresh ``fraction`` of the participants drops out, each at a random stage:
    before advertising keys, after advertising, after sharing keys, or after sending its
    masked input (then it never unmasks). Without secure aggregation a dropout simply never
    commits that round.
    """

    def __init__(self, *, num_participants: int, fraction: float, seed: int, secure: bool) -> None:
        if not 0 <= fraction < 1:
            raise ValueError(f"dropout fraction must be in [0, 1), got {fraction}")
        self.n = num_participants
        self.count = int(round(fraction * num_participants))
        self.seed = seed
        self.secure = secure

    def stage(self, round: int, index: int) -> int | None:
        """The stage at which participant ``index`` vanishes in ``round`` (None: it stays)."""
        rng = np.random.default_rng([self.seed, round, 0xD20])
        dropped = rng.choice(self.n, size=self.count, replace=False)
        stages = rng.integers(0, 4, size=self.count) if self.secure else np.full(self.count, 2)
        hits = np.flatnonzero(dropped == index)
        return int(stages[hits[0]]) if hits.size else None


class DropoutNode:
    """Wraps a trainer: in the rounds the plan says, it stops acting from its stage on."""

    def __init__(self, inner: TrainerNode, index: int, plan: DropoutPlan) -> None:
        self.inner = inner
        self.name = inner.name
        self.index = index
        self.plan = plan

    def poll(self) -> NodeAction | None:
        info = self.inner.coordinator.get_task(self.inner.task_id)
        now = self.inner.coordinator.chain.next_block_time()
        if info.secure:
            round = secure_commit_target(
                info.phase, info.round, info.num_rounds, info.deadline, now
            )
            phase = Phase.ADVERTISE if round != info.round else info.phase
        else:
            target = commit_target(info, now)
            round, phase = (target[0] if target else None), Phase.COMMIT
        if round is None:
            return None
        stage = self.plan.stage(round, self.index)
        if stage is not None and _STAGE.get(phase, 99) >= stage:
            return None
        return self.inner.poll()

"""Misbehaving trainers, to show that bad input is refused and nothing is lost.

They are ordinary trainers with one twist each; they still talk only to the chain and the store.
"""

from __future__ import annotations

from typing import Literal

from fedchain.chain import Phase
from fedchain.node import NodeAction, TrainerNode
from fedchain.node.schedule import commit_target

__all__ = ["FaultKind", "FAULT_KINDS", "FaultyTrainer"]

FaultKind = Literal["crash", "malformed", "late"]
FAULT_KINDS: tuple[str, ...] = ("crash", "malformed", "late")


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
        now = self.coordinator.chain.now()
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

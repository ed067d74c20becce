"""The trainer (data owner) role: train locally on private data, commit the update on-chain,
publish it once the commit window has closed.

A trainer reads only the chain (the task's state) and the store (the global model, checked
against its on-chain root before it is trained on); its raw data never leaves this object.
The update is stored only after the commit window closed: until then its root hides it, so
nobody can commit a copy. Each step is idempotent: a restarted trainer reads the chain, sees
what it already committed, and (training being seeded) rebuilds the same update to publish.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from eth_account.signers.local import LocalAccount

from fedchain.chain import CoordinatorClient, Phase
from fedchain.codec.blob import BlobKind
from fedchain.codec.fixedpoint import dequantize, encode_update
from fedchain.learning import build_model, flatten_params, load_flat_params, train_local
from fedchain.node.base import TaskNode, load_task_config
from fedchain.node.blobs import CommittedVector
from fedchain.node.events import NodeAction
from fedchain.node.schedule import commit_target
from fedchain.storage import BlobStore

__all__ = ["LocalData", "TrainerNode", "load_task_config", "round_seed"]


@dataclass(frozen=True)
class LocalData:
    """A data owner's private training set (never serialized, never sent)."""

    x: np.ndarray
    y: np.ndarray

    def __len__(self) -> int:
        return int(len(self.y))


def round_seed(seed: int, task_id: int, round: int, address: str) -> int:
    """A per-(node, round) training seed, so reruns are reproducible and nodes differ."""
    ss = np.random.SeedSequence([seed, task_id, round, int(address, 16) % 2**63])
    return int(ss.generate_state(1)[0])


class TrainerNode(TaskNode):
    """One data owner: its key, its data, and the chain and store it shares with the others."""

    def __init__(
        self,
        name: str,
        account: LocalAccount,
        coordinator: CoordinatorClient,
        store: BlobStore,
        data: LocalData,
        *,
        task_id: int,
        seed: int = 0,
    ) -> None:
        if len(data) == 0:
            raise ValueError(f"trainer {name} has no data")
        super().__init__(name, account, coordinator, store, task_id=task_id)
        self.data = data
        self.seed = seed
        self._committed_round = 0
        self._published_round = 0
        self._unpublished: tuple[int, CommittedVector] | None = None

    @property
    def declared_samples(self) -> int:
        """What this member declares when joining (its true sample count)."""
        return len(self.data)

    def poll(self) -> NodeAction | None:
        """Publish last commit's update once its window closed; commit this round's if due."""
        info = self.coordinator.get_task(self.task_id)
        published = self.publish_due(info.round, info.phase)
        if published is not None:
            return published
        target = commit_target(info, self.coordinator.chain.next_block_time())
        if target is None:
            return None
        round, base_root = target
        if self._committed_round == round:
            return (
                None  # our own receipt said so; the chain is asked otherwise (e.g. after a restart)
            )
        member = self.coordinator.get_member(self.task_id, self.address)
        if not member.active or member.last_round == round:
            return None
        update, loss = self.compute_update(base_root, round)
        vector = self.commit(update)
        self.coordinator.commit_update(
            self.account, self.task_id, round, vector.root, vector.sum_sq
        )
        self._committed_round = round
        self._unpublished = (round, vector)
        return NodeAction(self.name, "commit", round, {"loss": loss, "samples": len(self.data)})

    def commit(self, update: np.ndarray) -> CommittedVector:
        """The commitment to an update (a fault plan may lie here)."""
        return self.blobs.commit_vector(BlobKind.UPDATE, update, owner=self.address)

    def publish_due(self, round: int, phase: Phase) -> NodeAction | None:
        """Store our update of ``round`` once its commit window closed (never before)."""
        if phase not in (Phase.AGGREGATE, Phase.CHALLENGE):
            return None
        pending = getattr(self, "_unpublished", None)
        if pending is None or pending[0] != round:
            member = self.coordinator.get_member(self.task_id, self.address)
            if member.last_round != round or self._published_round == round:
                return None
            # Restarted since the commit: training is seeded, so the same update comes back.
            commit = next(
                (
                    u
                    for u in self.coordinator.updates(self.task_id, round)
                    if u.participant == self.address
                ),
                None,
            )
            if commit is None:
                return None
            if self.store.has_named(commit.merkle_root):
                self._published_round = round  # published before the restart: nothing to redo
                return None
            base = self.coordinator.get_task(self.task_id).global_model_root
            update, _ = self.compute_update(base, round)
            vector = self.commit(update)
            if vector.root != commit.merkle_root:
                self._published_round = round
                return None  # not reproducible: our update is lost for this round
            pending = (round, vector)
        if self._published_round == round:
            return None
        self.blobs.publish(pending[1])
        self._published_round = round
        self._unpublished = None
        return NodeAction(self.name, "publish", round, {})

    def compute_update(self, base_root: bytes, round: int) -> tuple[np.ndarray, float]:
        """Train from the global model (checked against its on-chain root first) and encode
        (new − global) as fixed-point integers."""
        cfg = self.blobs.config
        base = self.blobs.get_vector(BlobKind.MODEL, base_root)
        model = build_model(cfg.model_spec, seed=0)
        load_flat_params(model, dequantize(base.values, frac_bits=cfg.frac_bits))
        start = flatten_params(model)
        result = train_local(
            model,
            self.data.x,
            self.data.y,
            cfg.train_config,
            seed=round_seed(self.seed, self.task_id, round, self.address),
        )
        delta = flatten_params(model) - start
        return encode_update(delta, frac_bits=cfg.frac_bits, clip_norm=cfg.clip_norm), result.loss

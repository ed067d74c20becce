"""The aggregator role: once the commit window closes, sum the committed updates exactly and
post the aggregate's commitment and the new model's digest with a bond.

Every update is checked against its on-chain commitment before it counts; one that is
missing, malformed or does not match its root is excluded, and the exclusion is recorded
on-chain so that the round still completes and auditors can see why a participant earned
nothing.
"""

from __future__ import annotations

import math

import numpy as np

from fedchain.aggregation import weighted_sum
from fedchain.aggregation.fedavg import apply_aggregate
from fedchain.chain import CoordinatorClient, Phase
from fedchain.codec.blob import BlobKind
from fedchain.errors import FedchainError
from fedchain.node.base import TaskNode
from fedchain.node.blobs import TaskBlobs
from fedchain.node.events import NodeAction

__all__ = ["AggregatorNode", "RoundInputs", "collect_round_inputs"]


class RoundInputs:
    """The updates of one round split into the usable ones and the excluded ones (with why)."""

    def __init__(self) -> None:
        self.values: list[object] = []
        self.weights: list[int] = []
        self.included: list[str] = []
        self.excluded: dict[str, str] = {}


def collect_round_inputs(
    coordinator: CoordinatorClient, blobs: TaskBlobs, task_id: int, round: int
) -> RoundInputs:
    """Fetch and verify every committed update of a round (used by aggregator and auditor)."""
    out = RoundInputs()
    for u in coordinator.updates(task_id, round):
        try:
            blob = blobs.get_vector(BlobKind.UPDATE, u.blob_digest, root=u.merkle_root)
        except FedchainError as exc:
            out.excluded[u.participant] = str(exc)
            continue
        problem = _norm_problem(blob.values, blobs)
        if problem:
            out.excluded[u.participant] = problem
            continue
        out.values.append(blob.values)
        out.weights.append(u.samples)
        out.included.append(u.participant)
    return out


def _norm_problem(values: np.ndarray, blobs: TaskBlobs) -> str | None:
    """An update larger than the task's clip norm would let one member steer the model."""
    cfg = blobs.config
    scale = 2.0**-cfg.frac_bits
    norm = float(np.linalg.norm(values.astype(np.float64))) * scale
    # encode_update clips in floats, then rounds each element by at most half a unit
    limit = cfg.clip_norm + 0.5 * math.sqrt(values.size) * scale
    if norm > limit:
        return f"update norm {norm:.6g} exceeds the task's clip norm {cfg.clip_norm}"
    return None


class AggregatorNode(TaskNode):
    """A staked member that aggregates once the commit window closed."""

    def poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        now = self.coordinator.chain.next_block_time()
        if info.secure or info.phase != Phase.AGGREGATE:
            return None  # secure rounds are unmasked by SecureAggregatorNode
        if now >= info.deadline + info.aggregate_duration:
            return None
        inputs = collect_round_inputs(self.coordinator, self.blobs, self.task_id, info.round)
        if len(inputs.included) < info.min_participants:
            return None  # the round will abort at its deadline; nothing to post
        aggregate = weighted_sum(inputs.values, inputs.weights)  # type: ignore[arg-type]
        base = self.blobs.get_vector(BlobKind.MODEL, info.global_model_digest)
        new_model = apply_aggregate(base.values, aggregate, sum(inputs.weights))
        root, digest = self.blobs.put_vector(BlobKind.AGGREGATE, aggregate)
        _, model_digest = self.blobs.put_vector(BlobKind.MODEL, new_model)
        self.coordinator.post_aggregate(
            self.account,
            self.task_id,
            info.round,
            root,
            digest,
            model_digest,
            list(inputs.excluded),
        )
        return NodeAction(
            self.name,
            "aggregate",
            info.round,
            {
                "included": len(inputs.included),
                "excluded": dict(inputs.excluded),
                "samples": sum(inputs.weights),
            },
        )

"""The aggregator role: once the commit window closes, sum the valid committed updates exactly
and post the roots of the aggregate and of the new model with a bond; then defend them.

Every update is opened against its on-chain root before it counts; one that is missing, does
not open, is malformed, lies about its norm or copies another member's root is excluded with
its reason, on-chain. Exclusions do not pay: rewards are shared over the committed weight, so
leaving an honest update out raises nobody's reward. When a challenger disputes the aggregate,
this node answers from the same data: it opens the disputed chunk and states running sums.
"""

from __future__ import annotations

from fedchain.aggregation.fedavg import apply_aggregate
from fedchain.chain import (
    DisputeClient,
    ExclusionReason,
    GameKind,
    GameState,
    Phase,
    Target,
)
from fedchain.codec.blob import BlobKind
from fedchain.errors import FedchainError
from fedchain.node.base import TaskNode
from fedchain.node.blobs import CommittedVector
from fedchain.node.events import NodeAction
from fedchain.node.round_inputs import RoundInputs, collect_round_inputs, running_sum
from fedchain.node.schedule import aggregate_marks

__all__ = ["AggregatorNode", "RoundInputs", "collect_round_inputs"]


class AggregatorNode(TaskNode):
    """A staked member that aggregates once the commit window closed, and defends its post."""

    def __init__(
        self, *args: object, disputes: DisputeClient | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.disputes = disputes

    def poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        if info.phase == Phase.CHALLENGE and self.disputes is not None:
            return self.defend(info.round)
        now = self.coordinator.chain.next_block_time()
        if info.secure or info.phase != Phase.AGGREGATE:
            return None  # secure rounds are unmasked by SecureAggregatorNode
        if now >= info.deadline + info.aggregate_duration:
            return None
        if self.barred(info.round) or self.waiting_for_incumbent(info.aggregator, now):
            return None
        inputs = self.select(
            collect_round_inputs(self.coordinator, self.blobs, self.task_id, info.round)
        )
        if now < aggregate_marks(info)[0] and any(u.missing for u in inputs.updates):
            return None  # trainers publish once the commit window closed: give them until then
        if len(inputs.included) < info.min_participants:
            return self.yield_if_incumbent(info, now)
        aggregate, model = self.build(inputs, info.global_model_root)
        self.publish(aggregate, model)
        self.coordinator.post_aggregate(
            self.account, self.task_id, info.round, aggregate.root, model.root, self.reasons(inputs)
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

    def select(self, inputs: RoundInputs) -> RoundInputs:
        """The updates to aggregate: every valid one (a fault plan may leave some out)."""
        return inputs

    def reasons(self, inputs: RoundInputs) -> dict[str, ExclusionReason]:
        """Who to leave out and why."""
        return inputs.reasons

    def build(
        self, inputs: RoundInputs, base_root: bytes
    ) -> tuple[CommittedVector, CommittedVector]:
        """The aggregate Σ wᵢ·vᵢ over the valid updates, and the model it gives."""
        aggregate = inputs.aggregate()
        base = self.blobs.get_vector(BlobKind.MODEL, base_root)
        model = apply_aggregate(base.values, aggregate, sum(inputs.weights))
        return (
            self.blobs.commit_vector(BlobKind.AGGREGATE, aggregate),
            self.blobs.commit_vector(BlobKind.MODEL, model),
        )

    def publish(self, aggregate: CommittedVector, model: CommittedVector) -> None:
        self.blobs.publish(aggregate)
        self.blobs.publish(model)

    # ------------------------------------------------------------------ defending
    @property
    def dispute_client(self) -> DisputeClient:
        if self.disputes is None:
            raise FedchainError("this aggregator was built without a dispute client")
        return self.disputes

    def defend(self, round: int) -> NodeAction | None:
        """Answer the first challenge of our aggregate that waits for us."""
        action: NodeAction | None
        for game in self.dispute_client.games(self.task_id, round):
            if game.aggregator != self.address:
                continue
            if game.state == GameState.AWAIT_AGGREGATE:
                action = self.open_aggregate(game.id, game.chunk, round)
            elif game.state == GameState.AWAIT_DEFENDER:
                action = self.state_running_sum(game.id, game.chunk, game.query, round)
            elif game.state == GameState.AWAIT_ANSWER and game.kind == GameKind.AVAILABILITY:
                action = self.answer(game.id, game.target, game.member, game.chunk, round)
            else:
                continue
            if action is not None:
                return action
        return None

    def _posted(self, round: int) -> tuple[CommittedVector, CommittedVector, RoundInputs]:
        """Rebuild what we posted (a node keeps no state of its own: chain + store suffice)."""
        info = self.coordinator.get_task(self.task_id)
        inputs = collect_round_inputs(self.coordinator, self.blobs, self.task_id, round)
        posted = self.coordinator.aggregate(self.task_id, round)
        if posted is None:
            raise FedchainError(f"no aggregate was posted for round {round}")
        agg = self.blobs.open_vector(BlobKind.AGGREGATE, posted.merkle_root)
        model = self.blobs.open_vector(BlobKind.MODEL, info.pending_model_root)
        return (
            CommittedVector(agg.tree.root, 0, b"", agg.tree),
            CommittedVector(model.tree.root, 0, b"", model.tree),
            inputs,
        )

    def open_aggregate(self, game: int, chunk: int, round: int) -> NodeAction:
        agg, _, _ = self._posted(round)
        r = self.dispute_client.open_aggregate_chunk(
            self.account, game, agg.tree.chunk(chunk), agg.tree.proof(chunk)
        )
        return NodeAction(
            self.name, "defend", round, {"game": game, "move": "open", "gas": r.gas_used}
        )

    def state_running_sum(self, game: int, chunk: int, query: int, round: int) -> NodeAction:
        _, _, inputs = self._posted(round)
        included = self.included_on_chain(inputs, round)
        start = chunk * self.blobs.config.chunk_elems
        stop = min(start + self.blobs.config.chunk_elems, self.blobs.config.num_parameters)
        p = self.running_sum_for(inputs, included, query, start, stop)
        r = self.dispute_client.defend(self.account, game, p.astype(">i8").tobytes())
        return NodeAction(
            self.name, "defend", round, {"game": game, "move": "sum", "gas": r.gas_used}
        )

    def running_sum_for(
        self, inputs: RoundInputs, included: set[str], query: int, start: int, stop: int
    ):  # noqa: ANN201
        """The running sum we state in a dispute (a fault plan may lie here)."""
        return running_sum(inputs, included, query, start, stop)

    def included_on_chain(self, inputs: RoundInputs, round: int) -> set[str]:
        excluded = set(self.coordinator.excluded(self.task_id, round))
        invalid = set(self.coordinator.invalidated(self.task_id, round))
        return {u.participant for u in inputs.updates} - excluded - invalid

    def answer(
        self, game: int, target: Target, member: str, chunk: int, round: int
    ) -> NodeAction | None:
        agg, model, inputs = self._posted(round)
        if target == Target.UPDATE:
            u = next((x for x in inputs.updates if x.participant == member), None)
            if u is None or u.opened is None:
                return None  # we cannot open it: the challenge is right
            tree = u.opened.tree
            r = self.dispute_client.answer_availability(
                self.account,
                game,
                tree.chunk(chunk),
                tree.sums[chunk],
                tree.proof(chunk),
                u.commitment.opening(),
            )
        else:
            tree = (agg if target == Target.AGGREGATE else model).tree
            r = self.dispute_client.answer_availability(
                self.account, game, tree.leaf_data(chunk), 0, tree.proof(chunk)
            )
        return NodeAction(
            self.name, "defend", round, {"game": game, "move": "answer", "gas": r.gas_used}
        )

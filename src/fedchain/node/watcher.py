"""The watcher role: recompute every round from chain + store and dispute what is wrong.

Any member (or anyone with tokens for the challenge bond) can run it. While a round's
commitments can still be disputed it proves false norms and copied roots (the member is
slashed); while an aggregate is in its challenge window it proves a wrong model chunk or two
included copies of one root in one step, asks for any data the aggregate relies on that it
cannot read (availability challenge), and disputes a wrong sum chunk by bisection, playing
the game to the end. It also settles any game whose side to move missed its deadline.
It reads only the chain and the store, through the same round inputs as the aggregator. In a
secure round it unmasks the sum itself from the public shares and plays the secure sum game
(``fedchain.node.secure_watch``).
"""

from __future__ import annotations

import numpy as np

from fedchain.aggregation.fedavg import apply_aggregate
from fedchain.chain import (
    DisputeClient,
    GameKind,
    GameState,
    Phase,
    Target,
    TaskInfo,
    TokenClient,
)
from fedchain.chain.transactor import Receipt
from fedchain.codec.blob import BlobKind
from fedchain.codec.merkle import MerkleSumTree
from fedchain.errors import FedchainError
from fedchain.node.base import TaskNode
from fedchain.node.blobs import OpenedVector
from fedchain.node.events import NodeAction
from fedchain.node.round_inputs import RoundInputs, collect_round_inputs, running_sum
from fedchain.node.secure_watch import watch_secure

__all__ = ["WatcherNode"]


class WatcherNode(TaskNode):
    """Disputes every objective fault it can prove; one transaction per poll."""

    def __init__(
        self,
        *args: object,
        disputes: DisputeClient,
        token: TokenClient,
        **kwargs: object,
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.disputes = disputes
        self.token = token

    def poll(self) -> NodeAction | None:
        # Nothing on-chain changes within a block and deadlines move with the clock: a watcher
        # that found nothing to do looks again only at a new block or a new time.
        moment = (
            int(self.coordinator.chain.w3.eth.block_number),
            self.coordinator.chain.next_block_time(),
        )
        if moment == getattr(self, "_idle_at", None):
            return None
        action = self._poll()
        self._idle_at = moment if action is None else None
        return action

    def _poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        if info.phase not in (Phase.AGGREGATE, Phase.CHALLENGE):
            return None
        now = self.coordinator.chain.next_block_time()
        action = self._settle_timeouts(info, now)
        if action is not None:
            return action
        if info.secure:
            return watch_secure(self, info) if info.phase == Phase.CHALLENGE else None
        in_window = info.phase == Phase.AGGREGATE or now < info.deadline
        inputs = collect_round_inputs(self.coordinator, self.blobs, self.task_id, info.round)
        if in_window:
            action = self._prove_member_faults(info, inputs)
            if action is not None:
                return action
        if info.phase != Phase.CHALLENGE:
            return None
        action = self._play_games(info, inputs)
        if action is not None or not in_window:
            return action
        return self._check_aggregate(info, inputs)

    # ------------------------------------------------------------------ members
    def _prove_member_faults(self, info: TaskInfo, inputs: RoundInputs) -> NodeAction | None:
        for u in inputs.updates:
            if u.proven_invalid:
                continue
            if u.norm_lie is not None:
                tree, c = u.norm_lie.tree, u.norm_lie.chunk
                r = self.disputes.prove_norm_lie(
                    self.account,
                    self.task_id,
                    info.round,
                    u.commitment.opening(),
                    c,
                    tree.chunk(c),
                    tree.sums[c],
                    tree.proof(c),
                )
                return self._did("norm-lie", info.round, u.participant, r)
            if u.copied_from is not None:
                try:
                    original = self.blobs.open_vector(
                        BlobKind.UPDATE, u.commitment.merkle_root, owner=u.copied_from
                    )
                except FedchainError:
                    continue  # the original is not readable either: nothing to prove
                tree = original.tree
                r = self.disputes.prove_copy(
                    self.account,
                    self.task_id,
                    info.round,
                    u.commitment.opening(),
                    u.copied_from,
                    0,
                    tree.chunk(0),
                    tree.sums[0],
                    tree.proof(0),
                )
                return self._did("copycat", info.round, u.participant, r)
        return None

    # ------------------------------------------------------------------ the aggregate
    def _included(self, inputs: RoundInputs, round: int) -> set[str]:
        excluded = set(self.coordinator.excluded(self.task_id, round))
        invalid = set(self.coordinator.invalidated(self.task_id, round))
        return {u.participant for u in inputs.updates} - excluded - invalid

    def _check_aggregate(self, info: TaskInfo, inputs: RoundInputs) -> NodeAction | None:
        posted = self.coordinator.aggregate(self.task_id, info.round)
        if posted is None or posted.epoch != info.epoch or posted.aggregator == self.address:
            return None
        round = info.round
        included = self._included(inputs, round)
        mine = self._asked_this_epoch(info)
        # two included members with one root
        roots: dict[bytes, str] = {}
        for u in inputs.updates:
            if u.participant not in included:
                continue
            other = roots.setdefault(u.commitment.merkle_root, u.participant)
            if other != u.participant:
                first = next(x for x in inputs.updates if x.participant == other)
                r = self.disputes.prove_duplicate(
                    self.account,
                    self.task_id,
                    round,
                    first.commitment.opening(),
                    u.commitment.opening(),
                )
                return self._did("duplicate", round, posted.aggregator, r)
        # data the aggregate relies on that we cannot read
        for u in inputs.updates:
            if u.participant in included and u.opened is None:
                return self._challenge_da(
                    round, Target.UPDATE, u.participant, mine, posted.aggregator
                )
        k = self.blobs.config.chunk_elems
        values = [u.opened.values for u in inputs.updates if u.participant in included and u.opened]
        weights = [u.weight for u in inputs.updates if u.participant in included]
        expected = _weighted(values, weights, self.blobs.config.num_parameters)
        # Withheld data: republish what is honest (nobody stalls: the next round trains on the
        # model), then still make the aggregator answer for it on-chain (withholding costs it
        # the bond). Both are repaired before any request, so the aggregator can answer. What
        # cannot be repaired is wrong: its differing chunk is found through the aggregator's own
        # on-chain openings (``_locate``), then disputed like any other.
        base = self.blobs.open_vector(BlobKind.MODEL, info.global_model_root)
        aggregate = self._open(BlobKind.AGGREGATE, posted.merkle_root)
        agg_withheld = aggregate is None
        if aggregate is None:
            aggregate, agg_truth = self._repair(BlobKind.AGGREGATE, expected, posted.merkle_root)
        model = self._open(BlobKind.MODEL, posted.model_root)
        model_withheld = model is None
        model_truth: MerkleSumTree | None = None
        if model is None and aggregate is not None:
            honest = apply_aggregate(base.values, aggregate.values, posted.included_weight)
            model, model_truth = self._repair(BlobKind.MODEL, honest, posted.model_root)
        if aggregate is None:
            found = self._locate(info, Target.AGGREGATE, agg_truth, mine, posted.aggregator)
            if isinstance(found, NodeAction) or found is None:
                return found
            return self._challenge_sum(info, found[0], mine, posted.aggregator)
        if agg_withheld:
            action = self._challenge_da(round, Target.AGGREGATE, None, mine, posted.aggregator)
            if action is not None:
                return action
        # the sum
        bad = np.flatnonzero(aggregate.values != expected)
        if bad.size:
            return self._challenge_sum(info, int(bad[0]) // k, mine, posted.aggregator)
        # the model
        want = apply_aggregate(base.values, aggregate.values, posted.included_weight)
        if model is None:
            # ``want`` is the honest model the repair tried (the aggregate is ours by now)
            if model_truth is None:
                model_truth = self.blobs.commit_vector(BlobKind.MODEL, want).tree
            found = self._locate(info, Target.MODEL, model_truth, mine, posted.aggregator)
            if isinstance(found, NodeAction) or found is None:
                return found
            c, model_chunk, model_proof = found
        else:
            if model_withheld and not (agg_withheld or _asked(mine)):
                return self._challenge_da(round, Target.MODEL, None, mine, posted.aggregator)
            bad = np.flatnonzero(model.values != want)
            if not bad.size:
                return None
            c = int(bad[0]) // k
            model_chunk, model_proof = model.tree.chunk(c), model.tree.proof(c)
        return self._prove_model(
            round, c, base, aggregate, model_chunk, model_proof, posted.aggregator
        )

    def _prove_model(
        self,
        round: int,
        c: int,
        base: OpenedVector,
        aggregate: OpenedVector,
        model_chunk: bytes,
        model_proof: list[tuple[bytes, int]],
        accused: str,
    ) -> NodeAction:
        """Prove chunk ``c`` of the posted model wrong (plaintext or secure round)."""
        r = self.disputes.prove_model(
            self.account,
            self.task_id,
            round,
            c,
            base.tree.chunk(c),
            base.tree.proof(c),
            aggregate.tree.chunk(c),
            aggregate.tree.proof(c),
            model_chunk,
            model_proof,
        )
        return self._did("wrong-model", round, accused, r)

    def _challenge_sum(
        self,
        info: TaskInfo,
        chunk: int,
        mine: set[tuple[GameKind, Target, str, int]],
        accused: str,
        kind: GameKind = GameKind.SUM,
    ) -> NodeAction | None:
        """Open the sum game (``kind``: plaintext or secure) on ``chunk`` unless we already did."""
        if (kind, Target.AGGREGATE, _ZERO, chunk) in mine:
            return None
        self._approve_bond(info)
        challenge = (
            self.disputes.challenge_secure_sum
            if kind == GameKind.SECURE_SUM
            else self.disputes.challenge_sum
        )
        game = challenge(self.account, self.task_id, info.round, chunk)
        return NodeAction(
            self.name,
            "challenge",
            info.round,
            {"game": game, "kind": "wrong-aggregate", "accused": accused, "chunk": chunk},
        )

    def _locate(
        self,
        info: TaskInfo,
        target: Target,
        truth: MerkleSumTree,
        mine: set[tuple[GameKind, Target, str, int]],
        accused: str,
    ) -> NodeAction | tuple[int, bytes, list[tuple[bytes, int]]] | None:
        """Find a chunk of a withheld vector that differs from ours, from what the aggregator
        itself opened on-chain: each answer's proof shows the (hash, sum) of every sibling on
        its path, so the highest sibling that is not ours names the next chunk to ask for
        (at most ``depth`` answered requests). Returns the request to send, the differing
        (chunk, bytes, proof) once opened, or None while an answer is awaited."""
        games = [
            g
            for g in self.disputes.games(self.task_id, info.round)
            if g.challenger == self.address
            and g.epoch == info.epoch
            and g.kind == GameKind.AVAILABILITY
            and g.target == target
        ]
        if not games:
            return self._challenge_da(info.round, target, None, mine, accused)
        if any(g.state != GameState.RESOLVED for g in games):
            return None  # an answer (or its timeout, which voids the aggregate) is due first
        asked = {g.chunk for g in games}
        for g in sorted(games, key=lambda g: -g.id):
            opened = self.disputes.revealed_opening(g.id)
            if opened is None:
                continue  # not answered: the timeout voided it
            c, chunk, proof = opened
            if chunk != truth.leaf_data(c):
                return c, chunk, proof  # (a padding leaf always opens empty, or not at all)
            nxt = truth.divergence(c, proof)
            if nxt is not None and nxt not in asked:
                return self._challenge_da(info.round, target, None, mine, accused, chunk=nxt)
        return None

    def _repair(
        self, kind: BlobKind, values: np.ndarray, root: bytes
    ) -> tuple[OpenedVector | None, MerkleSumTree]:
        """Republish a vector the poster withheld, when our recomputation commits to exactly the
        posted root: the store is addressed by root, so anyone may supply the right bytes, and
        withholding an honest aggregate or model then stalls nobody (the next round's trainers
        need the model). A root that differs from ours is wrong, and is disputed instead; our
        tree (returned either way) is what the walk to its differing chunk compares against."""
        vector = self.blobs.commit_vector(kind, values)
        if vector.root != bytes(root):
            return None, vector.tree
        self.blobs.publish(vector)
        return self._open(kind, root), vector.tree

    def _open(self, kind: BlobKind, root: bytes) -> OpenedVector | None:
        try:
            return self.blobs.open_vector(kind, root)
        except FedchainError:
            return None

    def _challenge_da(
        self,
        round: int,
        target: Target,
        member: str | None,
        mine: set[tuple[GameKind, Target, str, int]],
        accused: str,
        *,
        chunk: int = 0,
    ) -> NodeAction | None:
        key = (GameKind.AVAILABILITY, target, member or _ZERO, chunk)
        if key in mine:
            return None
        self._approve_bond(self.coordinator.get_task(self.task_id))
        game = self.disputes.challenge_availability(
            self.account, self.task_id, round, target, member, chunk
        )
        return NodeAction(
            self.name,
            "challenge",
            round,
            {
                "game": game,
                "kind": "withhold",
                "accused": accused,
                "target": target.name,
                "chunk": chunk,
            },
        )

    def _asked_this_epoch(self, info: TaskInfo) -> set[tuple[GameKind, Target, str, int]]:
        """The questions we asked about the current aggregate. Only our own count: a game
        someone else opened (a cheater's sock puppet that plays to lose, say) decides nothing
        for us."""
        return {
            (g.kind, g.target, g.member, g.chunk)
            for g in self.disputes.games(self.task_id, info.round)
            if g.epoch == info.epoch and g.challenger == self.address
        }

    def _approve_bond(self, info: TaskInfo) -> None:
        self.token.approve(self.account, self.coordinator.address, info.challenge_bond)

    # ------------------------------------------------------------------ games
    def _play_games(self, info: TaskInfo, inputs: RoundInputs) -> NodeAction | None:
        k = self.blobs.config.chunk_elems
        d = self.blobs.config.num_parameters
        for g in self.disputes.games(self.task_id, info.round):
            if g.challenger != self.address or g.epoch != info.epoch:
                continue
            start, stop = g.chunk * k, min(g.chunk * k + k, d)
            included = self._included(inputs, info.round)
            if g.state == GameState.AWAIT_CHALLENGER:
                stated = np.frombuffer(self.disputes.openings(g.id)[g.query], dtype=">i8")
                truth = running_sum(inputs, included, g.query, start, stop)
                agree = bool(np.array_equal(stated, truth))
                r = self.disputes.bisect(self.account, g.id, agree)
                return NodeAction(
                    self.name,
                    "dispute",
                    info.round,
                    {"game": g.id, "move": "bisect", "gas": r.gas_used},
                )
            if g.state == GameState.AWAIT_PROOF:
                openings = self.disputes.openings(g.id)
                p_lo = (
                    openings[g.lo] if g.lo in openings and g.lo > 0 else bytes(8 * (stop - start))
                )
                p_hi = openings[g.hi]
                u = inputs.updates[g.hi - 1]
                if u.opened is not None:
                    tree = u.opened.tree
                    chunk, s, proof = tree.chunk(g.chunk), tree.sums[g.chunk], tree.proof(g.chunk)
                else:
                    chunk, s, proof = b"", 0, []
                r = self.disputes.prove_step(
                    self.account, g.id, p_lo, p_hi, u.commitment.opening(), chunk, s, proof
                )
                return NodeAction(
                    self.name,
                    "dispute",
                    info.round,
                    {"game": g.id, "move": "prove", "gas": r.gas_used},
                )
        return None

    def _settle_timeouts(self, info: TaskInfo, now: int) -> NodeAction | None:
        for g in self.disputes.games(self.task_id, info.round):
            if g.state in (GameState.RESOLVED, GameState.NONE):
                continue
            stale = g.epoch != info.epoch or info.phase != Phase.CHALLENGE
            if stale or now >= g.deadline:
                r = self.disputes.timeout(self.account, g.id)
                return NodeAction(
                    self.name,
                    "dispute",
                    info.round,
                    {"game": g.id, "move": "timeout", "gas": r.gas_used},
                )
        return None

    def _did(self, kind: str, round: int, accused: str, r: Receipt) -> NodeAction:
        return NodeAction(
            self.name, "proof", round, {"kind": kind, "accused": accused, "gas": r.gas_used}
        )


_ZERO = "0x" + "00" * 20


def _asked(mine: set[tuple[GameKind, Target, str, int]]) -> bool:
    """Whether we already asked for some data this epoch (one unanswered request voids)."""
    return any(key[0] == GameKind.AVAILABILITY for key in mine)


def _weighted(values: list[np.ndarray], weights: list[int], d: int) -> np.ndarray:
    acc = np.zeros(d, dtype=np.int64)
    for v, w in zip(values, weights, strict=True):
        acc += v.astype(np.int64) * np.int64(w)
    return acc

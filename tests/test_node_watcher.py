"""WatcherNode on an embedded chain + local store: it leaves an honest round alone, proves a
member's norm lie in one step (the liar is slashed and left out), and plays the sum-bisection game
against a wrong aggregate to the end (the aggregate is voided, its bond slashed, the honest
aggregator's post finalizes with the model an honest run gives)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import node_world as world

from fedchain.chain import EmbeddedChain, Fault, GameState, GasLedger, Phase
from fedchain.codec.blob import BlobKind
from fedchain.node import AggregatorNode, NodeAction, TrainerNode
from fedchain.sim.faults import FaultyTrainer, RogueAggregator
from fedchain.sim.runner import run_task

World = world.World


def _world(chain: EmbeddedChain, tmp_path: Path, *, rounds: int = 1) -> World:
    return world.make_world(chain, tmp_path, seed=19, clients=3, rounds=rounds)


def test_watcher_leaves_an_honest_round_alone(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    trainers = [w.trainer(i) for i in range(3)]
    for t in trainers:
        t.poll()
    w.close_commits(trainers)
    watcher = w.watcher()
    assert watcher.poll() is None  # nothing posted yet, nothing wrong
    assert w.aggregator(0).poll() is not None

    # Execute
    during = watcher.poll()
    world.past(chain, w.info().deadline)
    after = watcher.poll()

    # Assert
    assert during is None and after is None
    assert w.c.disputes.games(w.task_id) == []
    assert w.c.coordinator.slashes(w.task_id) == []
    assert w.keeper().poll() is not None and w.info().phase == Phase.COMPLETED
    world.accounted(w, accounting_holds)


def test_watcher_proves_a_norm_lie_and_the_liar_is_slashed(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: member 2 boosts its update 4× and declares chunk sums that hide it
    w = _world(chain, tmp_path)
    liar = FaultyTrainer(
        "liar",
        w.c.participants[2],
        w.c.coordinator,
        w.store,
        w.data[2],
        task_id=w.task_id,
        fault="norm-lie",
        at_round=1,
    )
    trainers = [w.trainer(0), w.trainer(1), liar]
    for t in trainers:
        t.poll()
    w.close_commits(trainers)
    stake_before = w.c.coordinator.get_member(w.task_id, liar.address).stake

    # Execute
    proof = w.watcher().poll()
    posted = w.aggregator(0).poll()

    # Assert: proven in one step, slashed, and left out by the contract itself
    assert isinstance(proof, NodeAction) and proof.kind == "proof"
    assert proof.detail["kind"] == "norm-lie" and proof.detail["accused"] == liar.address
    assert w.c.coordinator.invalidated(w.task_id, 1) == {liar.address: Fault.NORM_LIE}
    (slash,) = w.c.coordinator.slashes(w.task_id)
    assert slash["address"] == liar.address and slash["amount"] > 0
    assert w.c.coordinator.get_member(w.task_id, liar.address).stake == (
        stake_before - slash["amount"]
    )
    assert posted is not None and posted.detail["included"] == 2
    assert liar.address not in w.c.coordinator.excluded(w.task_id, 1)  # no need to name it
    weights = w.c.coordinator.round_weights(w.task_id, 1)
    agg = w.c.coordinator.aggregate(w.task_id, 1)
    assert agg is not None
    assert agg.included_weight == weights[trainers[0].address] + weights[trainers[1].address]
    assert w.watcher().poll() is None  # proven once
    world.accounted(w, accounting_holds)


def _run_round(w: World, rogue: RogueAggregator | None) -> list[NodeAction]:
    """One round with every role: trainers, (rogue,) the honest aggregator, watcher, keeper."""
    actions: list[NodeAction] = []
    nodes: list[Any] = [w.trainer(i) for i in range(3)]
    nodes += [rogue] if rogue is not None else []
    nodes += [w.aggregator(0), w.watcher(), w.keeper()]
    run_task(w.c.coordinator, w.task_id, nodes, ledger=GasLedger(), on_action=actions.append)
    return actions


def _rogue(w: World, fault: str, cls: type[RogueAggregator] = RogueAggregator) -> RogueAggregator:
    """Owner 1 as a rogue aggregator from round 1 (it posts first: nobody holds a grace yet)."""
    return cls(
        "rogue",
        w.c.participants[1],
        w.c.coordinator,
        w.store,
        task_id=w.task_id,
        disputes=w.c.disputes,
        fault=fault,  # type: ignore[arg-type]
        at_round=1,
    )


def test_watcher_refutes_a_wrong_aggregate_by_bisection(
    chain: EmbeddedChain, tmp_path: Path, tmp_path_factory: Any, accounting_holds: Any
) -> None:
    # Prepare: the same task twice, once with a rogue aggregator posting first
    honest = _world(EmbeddedChain(), tmp_path_factory.mktemp("honest"))
    try:
        _run_round(honest, None)
        (clean,) = honest.c.coordinator.round_outcomes(honest.task_id)
    finally:
        honest.chain.close()
    w = _world(chain, tmp_path)
    rogue = _rogue(w, "wrong-aggregate")
    rogue_stake = w.c.coordinator.get_member(w.task_id, rogue.address).stake

    # Execute
    actions = _run_round(w, rogue)

    # Assert: the game was played to the end (challenge, defences, bisections, the step proof)
    moves = [(a.node, a.kind, a.detail.get("move")) for a in actions if a.kind != "commit"]
    assert ("watcher", "challenge", None) in moves
    assert ("rogue", "defend", "sum") in moves and ("watcher", "dispute", "bisect") in moves
    assert moves.index(("watcher", "dispute", "prove")) > moves.index(
        ("watcher", "challenge", None)
    )
    (game,) = w.c.disputes.games(w.task_id, 1)
    assert game.state == GameState.RESOLVED and game.aggregator == rogue.address
    assert [(r, a, f) for r, a, _, f in w.c.coordinator.voided(w.task_id)] == [
        (1, rogue.address, Fault.WRONG_AGGREGATE)
    ]
    (slash,) = w.c.coordinator.slashes(w.task_id)
    assert slash["address"] == rogue.address and slash["amount"] == w.info().aggregator_bond
    assert w.c.coordinator.get_member(w.task_id, rogue.address).stake < rogue_stake
    # ... and the honest re-post finalized: the model an honest run of the same task gives
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    posted = w.c.coordinator.aggregate(w.task_id, 1)
    assert (
        outcome.finalized
        and posted is not None
        and posted.aggregator == w.c.participants[0].address
    )
    assert outcome.model_root == clean.model_root
    assert w.c.coordinator.excluded(w.task_id, 1) == {}
    world.accounted(w, accounting_holds)


class _Withholder(AggregatorNode):
    """Posts the honest roots but never stores the blobs; answers availability challenges."""

    def publish(self, aggregate: Any, model: Any) -> None:
        return None


def test_watcher_republishes_an_honest_aggregate_that_was_withheld(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: two rounds; the only aggregator withholds its (honest) aggregate and model
    w = _world(chain, tmp_path, rounds=2)
    withholder = _Withholder(
        "withholder",
        w.c.participants[0],
        w.c.coordinator,
        w.store,
        task_id=w.task_id,
        disputes=w.c.disputes,
    )
    actions: list[NodeAction] = []
    nodes: list[Any] = [w.trainer(i) for i in range(3)] + [withholder, w.watcher(), w.keeper()]

    # Execute
    run_task(w.c.coordinator, w.task_id, nodes, ledger=GasLedger(), on_action=actions.append)

    # Assert: the watcher put the blobs back (the store is addressed by root) so round 2 could
    # train on round 1's model, and still made the withholder answer for them on-chain
    outcomes = w.c.coordinator.round_outcomes(w.task_id)
    assert [o.finalized for o in outcomes] == [True, True]
    for o in outcomes:
        posted = w.c.coordinator.aggregate(w.task_id, o.round)
        assert posted is not None and posted.aggregator == withholder.address
        assert w.blobs.get_vector(BlobKind.MODEL, posted.model_root) is not None
        assert w.blobs.get_vector(BlobKind.AGGREGATE, posted.merkle_root) is not None
    assert [a.round for a in actions if a.kind == "commit"].count(2) == 3
    asked = [a for a in actions if a.node == "watcher" and a.kind == "challenge"]
    assert [(a.round, a.detail["kind"]) for a in asked] == [(1, "withhold"), (2, "withhold")]
    assert all(g.state == GameState.RESOLVED for g in w.c.disputes.games(w.task_id))
    assert w.c.coordinator.slashes(w.task_id) == []  # it answered: nothing proven
    world.accounted(w, accounting_holds)


def test_watcher_finds_the_wrong_chunk_of_a_withheld_aggregate_from_its_openings(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: the rogue posts a wrong aggregate (its last element off by one), never stores
    # it, and answers every availability request truthfully about what it posted
    w = _world(chain, tmp_path)
    rogue = _rogue(w, "withhold-wrong")

    # Execute
    actions = _run_round(w, rogue)

    # Assert: requests walk down the tree to the wrong (last) chunk, then the sum game refutes
    asked = [a.detail for a in actions if a.node == "watcher" and a.kind == "challenge"]
    last = -(-w.cfg.num_parameters // w.cfg.chunk_elems) - 1
    assert [d["kind"] for d in asked[:-1]] == ["withhold"] * (len(asked) - 1)
    assert asked[0]["chunk"] == 0 and asked[-2]["chunk"] == last
    assert len(asked) - 1 <= max(1, (last).bit_length())  # at most depth + 1 requests
    assert (asked[-1]["kind"], asked[-1]["chunk"]) == ("wrong-aggregate", last)
    assert [(r, a, f) for r, a, _, f in w.c.coordinator.voided(w.task_id)] == [
        (1, rogue.address, Fault.WRONG_AGGREGATE)
    ]
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    posted = w.c.coordinator.aggregate(w.task_id, 1)
    assert outcome.finalized and posted is not None and posted.aggregator != rogue.address
    world.accounted(w, accounting_holds)


class _Hoarder(TrainerNode):
    """Commits from round 2 on but never publishes its update."""

    def publish_due(self, round: int, phase: Any) -> NodeAction | None:
        return None if round >= 2 else super().publish_due(round, phase)


def test_an_incumbent_without_enough_readable_updates_yields_and_is_not_slashed(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: round 2's updates of owners 1 and 2 are never published (min participants 2)
    w = _world(chain, tmp_path, rounds=2)
    hoarders = [
        _Hoarder(
            f"h{i}", w.c.participants[i], w.c.coordinator, w.store, w.data[i], task_id=w.task_id
        )
        for i in (1, 2)
    ]
    actions: list[NodeAction] = []
    nodes: list[Any] = [w.trainer(0), *hoarders, w.aggregator(0), w.aggregator(1), w.keeper()]

    # Execute
    run_task(w.c.coordinator, w.task_id, nodes, ledger=GasLedger(), on_action=actions.append)

    # Assert: the incumbent said so on-chain; nobody could aggregate; nobody was slashed
    assert [(a.node, a.round) for a in actions if a.kind == "yield"] == [("agg0", 2)]
    assert w.c.coordinator.yielded(w.task_id) == [(2, w.c.participants[0].address)]
    assert [o.finalized for o in w.c.coordinator.round_outcomes(w.task_id)] == [True, False]
    assert w.c.coordinator.slashes(w.task_id) == []
    world.accounted(w, accounting_holds)


def _junk_padding(tree: Any) -> None:
    """Replace ``tree``'s last padding leaf by junk and rebuild its levels and root in place: a
    commitment that no blob opens (every blob's tree pads with the empty node)."""
    from fedchain.codec.merkle import SumNode, parent

    hashes, sums = tree._levels[0]
    hashes = [*hashes[:-1], b"\x11" * 32]
    levels = [(hashes, list(sums))]
    nodes = [SumNode(h, s) for h, s in zip(hashes, sums, strict=True)]
    while len(nodes) > 1:
        nodes = [parent(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
        levels.append(([n.h for n in nodes], [n.s for n in nodes]))
    tree._levels, tree.root = levels, nodes[0].h


class _JunkPadder(RogueAggregator):
    """Posts the honest aggregate under a root with junk padding, withholds it, and answers
    every request it can from that tree."""

    def build(self, inputs: Any, base_root: bytes) -> Any:
        aggregate, model = AggregatorNode.build(self, inputs, base_root)  # the honest sum
        _junk_padding(aggregate.tree)
        junk = type(aggregate)(
            aggregate.tree.root, aggregate.sum_sq, aggregate.data, aggregate.tree
        )
        return junk, model


def test_watcher_voids_an_aggregate_whose_root_has_junk_padding(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: 3 chunks of 4 (depth 2, one padding leaf); every real chunk is right
    w = _world(chain, tmp_path)
    rogue = _rogue(w, "withhold-wrong", _JunkPadder)
    # Execute
    actions = _run_round(w, rogue)

    # Assert: the walk ends at the padding leaf, which the rogue cannot open: void, re-post
    asked = [a.detail for a in actions if a.node == "watcher" and a.kind == "challenge"]
    leaves = 1 << (-(-w.cfg.num_parameters // w.cfg.chunk_elems) - 1).bit_length()
    assert asked[-1]["kind"] == "withhold" and asked[-1]["chunk"] == leaves - 1
    assert [(r, a, f) for r, a, _, f in w.c.coordinator.voided(w.task_id)] == [
        (1, rogue.address, Fault.UNANSWERED)
    ]
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    assert outcome.finalized
    world.accounted(w, accounting_holds)


class _SockPuppet:
    """The cheater's accomplice: challenges the wrong chunk first, then never moves (it plays
    to lose), hoping an honest watcher takes the question as already asked."""

    name = "puppet"

    def __init__(self, w: World, account: Any) -> None:
        self.w, self.account = w, account
        self.game: int | None = None

    def poll(self) -> NodeAction | None:
        info = self.w.info()
        if self.game is not None or info.phase != Phase.CHALLENGE:
            return None
        co = self.w.c.coordinator
        self.w.c.token.approve(self.account, co.address, info.challenge_bond)
        last = (self.w.cfg.num_parameters - 1) // self.w.cfg.chunk_elems
        self.game = self.w.c.disputes.challenge_sum(self.account, self.w.task_id, info.round, last)
        return NodeAction(self.name, "challenge", info.round, {"game": self.game})


def test_a_sock_puppet_challenge_does_not_keep_the_watcher_from_refuting(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: the rogue's accomplice (owner 2's account) challenges the wrong chunk before the
    # watcher, and then lets its game time out
    w = _world(chain, tmp_path)
    rogue = _rogue(w, "wrong-aggregate")
    puppet = _SockPuppet(w, w.c.participants[2])
    nodes: list[Any] = [w.trainer(i) for i in range(3)]
    nodes += [rogue, w.aggregator(0), puppet, w.watcher(), w.keeper()]

    # Execute
    run_task(w.c.coordinator, w.task_id, nodes, ledger=GasLedger())

    # Assert: the watcher played its own game and refuted the aggregate; the honest re-post
    # finalized
    games = w.c.disputes.games(w.task_id, 1)
    assert len(games) == 2 and puppet.game is not None
    assert [(r, a, f) for r, a, _, f in w.c.coordinator.voided(w.task_id)] == [
        (1, rogue.address, Fault.WRONG_AGGREGATE)
    ]
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    posted = w.c.coordinator.aggregate(w.task_id, 1)
    assert outcome.finalized and posted is not None
    assert posted.aggregator == w.c.participants[0].address
    world.accounted(w, accounting_holds)

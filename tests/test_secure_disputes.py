"""Disputes of secure rounds: a wrong unmasked sum is refuted on-chain by the secure sum game,
whatever term the cheater's running sums depart at (a masked input, a self mask, the mask of
a dropout), from on-chain evidence only; a wrong model in one step; an honest aggregator is
never slashed; a wrong move is refused by name.

Each test runs one secure round (5 owners, chunks of 8 elements, 16 parameters) on the
embedded chain with a rogue incumbent, the honest aggregator as its backup, and the watcher.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from recording_trainer import RecordingTrainer

from fedchain.audit import audit_all
from fedchain.chain import ContractRevert, EmbeddedChain, GameKind, GameState
from fedchain.chain.contracts import DisputeClient
from fedchain.chain.gas import GasLedger
from fedchain.chain.types import ChallengeOutcome, Fault
from fedchain.codec.blob import BlobKind
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import KeeperNode, LocalData, TaskBlobs, TaskConfig
from fedchain.node.secure import SecureAggregatorNode, SecureRoundView, SecureTrainerNode
from fedchain.node.secure_terms import SecureTerms, mask_words
from fedchain.node.watcher import WatcherNode
from fedchain.secagg.prg import expand_mask
from fedchain.sim.consortium import Consortium
from fedchain.sim.demo import DemoConfig, DemoReport, run_demo
from fedchain.sim.faults import SecureRogueAggregator
from fedchain.sim.runner import run_task
from fedchain.storage import LocalDirStore

SAMPLES = (23, 37, 51, 29, 44)
ROGUE = 0  # polled first: it posts round 1 as the incumbent
HONEST = 4  # the backup aggregator


def _local_data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 7)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


@dataclass
class Secure:
    c: Consortium
    cfg: TaskConfig
    task_id: int
    store: LocalDirStore

    @property
    def co(self) -> Any:
        return self.c.coordinator

    @property
    def disputes(self) -> DisputeClient:
        return self.c.disputes

    @property
    def blobs(self) -> TaskBlobs:
        return TaskBlobs(self.store, self.cfg)

    def addr(self, i: int) -> str:
        return str(self.c.participants[i].address)

    def stakes(self) -> dict[str, int]:
        return {
            self.addr(i): self.co.get_member(self.task_id, self.addr(i)).stake for i in range(5)
        }


def _world(chain: EmbeddedChain, tmp_path: Path, *, chunk_elems: int = 8) -> Secure:
    store = LocalDirStore(tmp_path / "store")
    c = Consortium.create(chain, store, num_participants=len(SAMPLES), seed=43)
    spec = ModelSpec(arch="logreg", input_dim=7, num_classes=2)  # 16 parameters
    cfg = TaskConfig.build(
        dataset="synthetic",
        model=spec,
        train=TrainConfig(epochs=1, batch_size=8),
        chunk_elems=chunk_elems,
    )
    tid = c.create_task(cfg, rounds=1, min_participants=3, seed=0, secure_aggregation=True)
    for i, n in enumerate(SAMPLES):
        info = c.coordinator.get_task(tid)
        member = c.participants[i]
        c.token.approve(
            member, c.coordinator.address, info.stake_amount + info.stake_per_sample * n
        )
        c.coordinator.join(member, tid, n)
    c.start(tid)
    return Secure(c, cfg, tid, store)


class _Dropout(SecureTrainerNode):
    """An owner that shares its keys and then vanishes (before its masked input)."""

    def poll(self) -> Any:
        info = self.coordinator.get_task(self.task_id)
        if info.phase.name in ("COMMIT", "UNMASK"):
            return None
        return super().poll()


def _nodes(w: Secure, *, rogue: Any, dropout: int | None = None, watcher: bool = True) -> list[Any]:
    trainers: list[Any] = []
    for i, n in enumerate(SAMPLES):
        cls = _Dropout if i == dropout else RecordingTrainer
        args = (f"owner-{i}", w.c.participants[i], w.co, w.store, _local_data(n, i))
        if cls is RecordingTrainer:
            trainers.append(RecordingTrainer(*args, task_id=w.task_id))
        else:
            trainers.append(cls(*args, task_id=w.task_id))
    nodes = [*trainers]
    if rogue is not None:
        nodes.append(rogue)
    nodes.append(
        SecureAggregatorNode(
            "agg", w.c.participants[HONEST], w.co, w.store, task_id=w.task_id, disputes=w.disputes
        )
    )
    if watcher:
        nodes.append(
            WatcherNode(
                "watcher",
                w.c.sponsor,
                w.co,
                w.store,
                task_id=w.task_id,
                disputes=w.disputes,
                token=w.c.token,
            )
        )
    nodes.append(KeeperNode("keeper", w.c.sponsor, w.co, task_id=w.task_id))
    return nodes


def _rogue(w: Secure, fault: str = "wrong-aggregate", lie_from: int | None = None) -> Any:
    return SecureRogueAggregator(
        "rogue",
        w.c.participants[ROGUE],
        w.co,
        w.store,
        task_id=w.task_id,
        disputes=w.disputes,
        fault=fault,
        at_round=1,
        lie_from=lie_from,
    )


def _secure_games(w: Secure) -> list[Any]:
    return [g for g in w.disputes.games(w.task_id, 1) if g.kind == GameKind.SECURE_SUM]


def _assert_refuted_and_honest_result(w: Secure, *, stake_before: dict[str, int]) -> None:
    """The rogue's aggregate was voided and its bond slashed; the round finalized with the
    honest aggregate (recomputed from public data); nobody else lost stake; the audit agrees."""
    (outcome,) = w.co.round_outcomes(w.task_id)
    assert outcome.finalized
    voided = w.co.voided(w.task_id)
    assert [(r, a) for r, a, _, _ in voided] == [(1, w.addr(ROGUE))]
    agg = w.co.aggregate(w.task_id, 1)
    assert agg is not None and agg.aggregator == w.addr(HONEST)
    view = SecureRoundView(w.co, w.blobs, w.task_id, 1)
    posted = w.blobs.get_vector(BlobKind.AGGREGATE, agg.merkle_root).values
    assert np.array_equal(posted, view.aggregate())
    slashed = {x["address"] for x in w.co.slashes(w.task_id)}
    assert slashed == {w.addr(ROGUE)}
    for i in range(len(SAMPLES)):
        if i != ROGUE:
            assert w.co.get_member(w.task_id, w.addr(i)).stake == stake_before[w.addr(i)]
    report = audit_all(w.co, w.c.token, w.store)
    assert report.passed, report.first_failure


def _to_challenge(w: Secure) -> list[Any]:
    """An honest round (no watcher) polled into its challenge window; its nodes."""
    nodes = _nodes(w, rogue=None, watcher=False)
    for _ in range(40):
        for n in nodes[: len(SAMPLES) + 1]:
            n.poll()
        if w.co.get_task(w.task_id).phase.name == "CHALLENGE":
            return nodes
    raise AssertionError("the round never reached its challenge window")


def _run(w: Secure, nodes: list[Any]) -> None:
    run_task(w.co, w.task_id, nodes, ledger=GasLedger())


def _proven_term(w: Secure) -> int:
    """The term index the refuting step proof was about."""
    (game,) = _secure_games(w)
    assert game.state == GameState.RESOLVED
    assert w.disputes.resolutions()[game.id] == ChallengeOutcome.AGGREGATOR_FAULT
    return game.hi


@pytest.mark.parametrize(
    ("lie_from", "kind"),
    [(None, "last term (a zero pairwise term)"), (1, "a masked input"), (2, "a self mask")],
)
def test_a_wrong_secure_sum_is_refuted_at_the_term_the_cheater_departs_from(
    chain: EmbeddedChain, tmp_path: Path, lie_from: int | None, kind: str
) -> None:
    # Prepare: the rogue posts Σ + 1 (last element) and states running sums that are honest
    # up to term lie_from − 1
    w = _world(chain, tmp_path)
    before = w.stakes()
    total_terms = 5 * (2 + 5)

    # Execute
    _run(w, _nodes(w, rogue=_rogue(w, lie_from=lie_from)))

    # Assert: the bisection ended at that term and its step proof refuted the aggregate
    assert _proven_term(w) == (total_terms if lie_from is None else lie_from), kind
    _assert_refuted_and_honest_result(w, stake_before=before)


def test_the_mask_of_a_dropout_is_proven_from_its_revealed_key(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: owner 2 shares keys and drops; its neighbours' masks for it are taken off with
    # its mask key rebuilt from the unmask shares. The rogue lies from the first such term.
    w = _world(chain, tmp_path)
    before = w.stakes()
    nodes = _nodes(w, rogue=None, dropout=2)
    rogue = _rogue(w)

    class FromFirstPairwise(SecureRogueAggregator):
        def running_sum_for(self, terms: SecureTerms, chunk: int, upto: int) -> np.ndarray:
            pairwise = [r for r in terms.plan.removals if r.peer is not None]
            assert pairwise and all(r.secret is not None for r in pairwise)
            self.lie_from = terms.pairwise_terms()[0]
            return super().running_sum_for(terms, chunk, upto)

    rogue.__class__ = FromFirstPairwise
    nodes.insert(len(SAMPLES), rogue)

    # Execute
    _run(w, nodes)

    # Assert: the proven term is a pairwise one (index beyond 2m), about the dropout
    m = len(w.co.updates(w.task_id, 1))
    t = _proven_term(w)
    assert m == 4 and t > 2 * m
    index = {who: i for i, who in enumerate(w.co.key_adverts(w.task_id, 1))}
    assert (t - 2 * m - 1) % len(index) == index[w.addr(2)]
    _assert_refuted_and_honest_result(w, stake_before=before)


def test_a_wrong_secure_model_is_refuted_in_one_step(chain: EmbeddedChain, tmp_path: Path) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    before = w.stakes()

    # Execute
    _run(w, _nodes(w, rogue=_rogue(w, fault="wrong-model")))

    # Assert: no game was needed; the model proof voided the aggregate
    assert _secure_games(w) == []
    (_, _, _, fault) = w.co.voided(w.task_id)[0]
    assert fault.name == "WRONG_MODEL"
    _assert_refuted_and_honest_result(w, stake_before=before)


def test_leaving_out_a_survivor_whose_self_mask_was_revealed_voids_without_a_slash(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: the rogue records an honest survivor as unavailable; its neighbours revealed
    # that survivor's self-mask shares (they took it to be included), on-chain as bitmaps
    w = _world(chain, tmp_path)
    before = w.stakes()
    bond_before = w.co.get_member(w.task_id, w.addr(ROGUE)).stake

    # Execute
    _run(w, _nodes(w, rogue=_rogue(w, fault="exclude-honest")))

    # Assert: voided by the revealed-exclusion proof, the rogue barred but not slashed, the
    # backup's honest aggregate (everyone included) finalized, the audit passes
    ((r, who, _, fault),) = w.co.voided(w.task_id)
    assert (r, who, fault) == (1, w.addr(ROGUE), Fault.REVEALED_EXCLUDED)
    assert w.co.slashes(w.task_id) == []
    assert w.co.get_member(w.task_id, w.addr(ROGUE)).stake == bond_before
    (outcome,) = w.co.round_outcomes(w.task_id)
    agg = w.co.aggregate(w.task_id, 1)
    assert outcome.finalized and agg is not None and agg.aggregator == w.addr(HONEST)
    assert set(w.co.excluded(w.task_id, 1)) == set()
    assert w.stakes() == before
    assert audit_all(w.co, w.c.token, w.store).passed


def test_a_revealed_exclusion_proof_needs_the_committed_bitmap_and_a_left_out_member(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: an honest round stopped in its challenge window
    w = _world(chain, tmp_path)
    _to_challenge(w)
    view = SecureRoundView(w.co, w.blobs, w.task_id, 1)
    survivor, msg = next(iter(view.unmask_messages.items()))
    bitmap = view.revealed_bitmap(msg)
    member = next(iter(msg.self_mask_shares))
    prover = w.c.sponsor

    # Execute / Assert: the member is included (no fault); a bitmap other than the committed
    # one is refused by name
    with pytest.raises(ContractRevert) as included:
        w.disputes.prove_revealed_exclusion(prover, w.task_id, 1, survivor, bitmap, member)
    with pytest.raises(ContractRevert) as forged:
        w.disputes.prove_revealed_exclusion(prover, w.task_id, 1, survivor, [bitmap[0] ^ 1], member)
    assert included.value.error == "DisputeNoFault"
    assert forged.value.error == "DisputeHashMismatch"
    assert w.co.voided(w.task_id) == []


def test_an_honest_secure_aggregate_survives_a_challenge_and_the_challenger_pays(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: an honest round (no watcher), stopped in its challenge window
    w = _world(chain, tmp_path)
    agg = _to_challenge(w)[len(SAMPLES)]
    challenger = w.c.sponsor
    info = w.co.get_task(w.task_id)
    w.c.token.approve(challenger, w.co.address, info.challenge_bond)
    game = w.disputes.challenge_secure_sum(challenger, w.task_id, 1, 0)
    terms = SecureTerms(w.co, w.blobs, w.task_id, 1)

    # Execute: the aggregator answers every move; the challenger disagrees every time
    agg.poll()  # opens P_T
    while True:
        g = w.disputes.game(game)
        if g.state == GameState.AWAIT_CHALLENGER:
            w.disputes.bisect(challenger, game, False)
        elif g.state == GameState.AWAIT_DEFENDER:
            agg.poll()
        else:
            break
    g = w.disputes.game(game)
    assert g.state == GameState.AWAIT_PROOF and g.lo == 0 and g.hi == 1
    step = terms.step(0, 1)
    openings = w.disputes.openings(game)
    with pytest.raises(ContractRevert) as no_fault:
        w.disputes.prove_secure_step(
            challenger,
            game,
            bytes(8 * 8),
            openings[1],
            step.commit,
            step.peer,
            step.secret,
            step.masked,
            step.proof,
        )
    chain.advance_time(g.deadline - chain.now() + 1)
    w.disputes.timeout(challenger, game)

    # Assert: the true step could not be proven wrong; the challenger lost, nobody was slashed
    assert no_fault.value.error == "DisputeNoFault"
    assert w.disputes.resolutions()[game] == ChallengeOutcome.CHALLENGER_FAULT
    assert w.co.voided(w.task_id) == []
    assert [x for x in w.co.slashes(w.task_id)] == []


def test_mask_words_seek_into_the_stream_as_expand_mask_reads_it() -> None:
    seed = bytes(range(32))
    full = expand_mask(seed, 40)
    assert np.array_equal(mask_words(seed, 16, 24), full[16:40])
    assert np.array_equal(mask_words(seed, 0, 7), full[:7])


@pytest.mark.slow
def test_the_secure_demo_refutes_a_wrong_sum_and_ends_on_the_clean_runs_model(
    tmp_path: Path,
) -> None:
    # Prepare: the same secure demo twice, once with owner 2 turning rogue at round 2
    def demo(name: str, faults: dict[int, tuple[str, int]]) -> DemoReport:
        cfg = DemoConfig(
            clients=5,
            rounds=2,
            seed=4,
            secure_aggregation=True,
            workdir=tmp_path / name,
            faults=faults,  # type: ignore[arg-type]
        )
        return run_demo(cfg)

    # Execute
    clean = demo("clean", {})
    rogue = demo("rogue", {2: ("wrong-aggregate", 2)})

    # Assert: refuted on-chain in round 2, the bond slashed, the audit passes, same final model
    assert [(d.round, d.kind, d.outcome) for d in rogue.disputes] == [
        (2, "wrong-aggregate", "refuted")
    ]
    assert [(s.round, s.reason) for s in rogue.slashed] == [(2, "wrong-aggregate")]
    assert rogue.audit["passed"] is True and clean.audit["passed"] is True
    assert rogue.rounds[-1]["model_digest"] == clean.rounds[-1]["model_digest"]
    assert all(r["finalized"] for r in rogue.rounds)

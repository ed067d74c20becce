"""The auditor against a dishonest aggregator that nobody watched: it posts a wrong aggregate
(consistently: the model follows from the lie), or a right aggregate with a wrong model, in
rounds 2 and 3. The audit fails naming *every* such round and saying what is wrong; round 1
still passes. An exclusion of a valid update is reported as a note (not provable either way, and
worthless: nobody gains the excluded share). Tokens sent straight to the coordinator are a
donation (a note), and a stranger's junk task does not fail the audit of every task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedchain.aggregation import apply_aggregate
from fedchain.audit import audit_all
from fedchain.chain import (
    EmbeddedChain,
    ExclusionReason,
    GasLedger,
    Phase,
    TaskParams,
    derive_account,
)
from fedchain.codec.blob import BlobKind
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import AggregatorNode, KeeperNode, LocalData, TaskConfig, TrainerNode
from fedchain.node.blobs import CommittedVector
from fedchain.node.round_inputs import RoundInputs
from fedchain.sim.consortium import TOKEN, Consortium
from fedchain.sim.runner import run_task
from fedchain.storage import LocalDirStore

SAMPLES = (23, 37, 51)
BAD_ROUNDS = (2, 3)
ELEMENT = 5


class DishonestAggregator(AggregatorNode):
    """Honest except in ``bad_rounds``, where it lies in one of three ways."""

    def __init__(self, *args: Any, lie: str, bad_rounds: tuple[int, ...], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lie = lie
        self.bad_rounds = bad_rounds

    def _lying(self) -> bool:
        return self.coordinator.get_task(self.task_id).round in self.bad_rounds

    def select(self, inputs: RoundInputs) -> RoundInputs:
        if self.lie == "exclude_valid" and self._lying():  # drop the last valid update
            last = next((u for u in reversed(inputs.updates) if u.valid), None)
            if last is not None:
                last.problem, last.detail = ExclusionReason.UNAVAILABLE, "claimed unavailable"
        return inputs

    def build(
        self, inputs: RoundInputs, base_root: bytes
    ) -> tuple[CommittedVector, CommittedVector]:
        if self.lie not in ("aggregate", "model") or not self._lying():
            return super().build(inputs, base_root)
        aggregate = inputs.aggregate().copy()
        if self.lie == "aggregate":
            aggregate[ELEMENT] += 1
        base = self.blobs.get_vector(BlobKind.MODEL, base_root).values
        model = apply_aggregate(base, aggregate, sum(inputs.weights)).copy()
        if self.lie == "model":
            model[ELEMENT] -= 1
        return (
            self.blobs.commit_vector(BlobKind.AGGREGATE, aggregate),
            self.blobs.commit_vector(BlobKind.MODEL, model),
        )


def _local_data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


def _run(
    chain: EmbeddedChain, tmp_path: Path, aggregator: Any, *, rounds: int
) -> tuple[Consortium, LocalDirStore, int]:
    store = LocalDirStore(tmp_path / "store")
    c = Consortium.create(chain, store, num_participants=3, seed=17)
    spec = ModelSpec(arch="logreg", input_dim=4, num_classes=2)
    cfg = TaskConfig.build(
        dataset="synthetic", model=spec, train=TrainConfig(epochs=1, batch_size=8), chunk_elems=4
    )
    tid = c.create_task(cfg, rounds=rounds, min_participants=2, seed=0)
    c.join_all(tid, list(SAMPLES))
    c.start(tid)
    nodes: list[Any] = [
        TrainerNode(f"t{i}", a, c.coordinator, store, _local_data(SAMPLES[i], i), task_id=tid)
        for i, a in enumerate(c.participants)
    ]
    nodes += [
        aggregator(c, store, tid),
        KeeperNode("keeper", c.sponsor, c.coordinator, task_id=tid),
    ]
    run_task(c.coordinator, tid, nodes, ledger=GasLedger())
    assert c.coordinator.get_task(tid).phase == Phase.COMPLETED
    return c, store, tid


@pytest.mark.parametrize(
    ("lie", "says"),
    [
        ("aggregate", f"aggregate differs from Σ wᵢ·vᵢ (first at element {ELEMENT})"),
        ("model", "the posted model root is not that of global + round"),
    ],
    ids=["wrong-aggregate", "wrong-model"],
)
def test_every_dishonest_round_fails_the_audit(
    chain: EmbeddedChain, tmp_path: Path, lie: str, says: str
) -> None:
    # Prepare: no watcher runs, so the lies finalize
    def make(c: Consortium, store: LocalDirStore, tid: int) -> AggregatorNode:
        return DishonestAggregator(
            "liar",
            c.participants[0],
            c.coordinator,
            store,
            task_id=tid,
            lie=lie,
            bad_rounds=BAD_ROUNDS,
        )

    c, store, tid = _run(chain, tmp_path, make, rounds=3)

    # Execute
    report = audit_all(c.coordinator, c.token, store)

    # Assert: every failing round is reported (not only the first), each saying what is wrong
    assert not report.passed
    assert [(v.task_id, v.round, v.status) for v in report.failures] == [
        (tid, r, "finalized") for r in BAD_ROUNDS
    ]
    bad = report.first_failure
    assert bad is not None and bad.round == BAD_ROUNDS[0]
    for v in report.failures:
        text = "; ".join(v.problems)
        assert says in text, text
        assert v.aggregator == c.participants[0].address
    assert all(
        v.passed for v in report.verdicts if v.status in ("setup", "finalized") and v.round == 1
    )
    assert report.rounds_verified == 1


def test_excluding_a_valid_update_is_reported_and_gains_nobody_anything(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare
    def make(c: Consortium, store: LocalDirStore, tid: int) -> AggregatorNode:
        return DishonestAggregator(
            "excluder",
            c.participants[0],
            c.coordinator,
            store,
            task_id=tid,
            lie="exclude_valid",
            bad_rounds=(2,),
        )

    c, store, tid = _run(chain, tmp_path, make, rounds=3)

    # Execute
    report = audit_all(c.coordinator, c.token, store)

    # Assert: a note naming the excluded member, not a failure
    assert report.passed, report.failures
    (victim,) = c.coordinator.excluded(tid, 2)
    (v,) = [v for v in report.verdicts if v.round == 2 and v.status != "accounting"]
    assert any(victim in n and "valid" in n for n in v.notes), v.notes
    assert report.rounds_verified == 3
    # The excluded share stays in the pool: everyone else is paid weight × ⌊R / committed⌋
    per_weight = c.coordinator.get_task(tid).reward_per_round // c.coordinator.round_weight(tid, 2)
    assert c.coordinator.reward_per_weight(tid, 2) == per_weight
    credited = {a: x for r, a, x in c.coordinator.rewards_credited(tid) if r == 2}
    weights = c.coordinator.round_weights(tid, 2)
    for account, amount in credited.items():
        assert amount == (0 if account == victim else weights[account] * per_weight)


def test_honest_twin_of_the_dishonest_run_passes(chain: EmbeddedChain, tmp_path: Path) -> None:
    # Prepare: the same subclass, lying in a round that never happens
    def make(c: Consortium, store: LocalDirStore, tid: int) -> AggregatorNode:
        return DishonestAggregator(
            "honest",
            c.participants[0],
            c.coordinator,
            store,
            task_id=tid,
            lie="aggregate",
            bad_rounds=(99,),
        )

    c, store, tid = _run(chain, tmp_path, make, rounds=2)

    # Execute
    report = audit_all(c.coordinator, c.token, store)

    # Assert
    assert report.passed, report.failures
    assert report.rounds_verified == 2


def test_donated_tokens_and_a_strangers_junk_task_are_notes_not_failures(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: a completed task; then someone sends one wei straight to the coordinator, and a
    # stranger creates a task whose config is not in the store (nor a fedchain config)
    def make(c: Consortium, store: LocalDirStore, tid: int) -> AggregatorNode:
        return AggregatorNode("agg", c.participants[0], c.coordinator, store, task_id=tid)

    c, store, tid = _run(chain, tmp_path, make, rounds=1)
    assert audit_all(c.coordinator, c.token, store).passed
    held = c.token.balance_of(c.coordinator.address)
    c.token.transfer(c.sponsor, c.coordinator.address, 1)
    stranger = derive_account("a-stranger", 1)
    chain.fund(stranger.address, 10**18)
    c.token.transfer(c.sponsor, stranger.address, 10 * TOKEN)
    junk = TaskParams(
        initial_model_root=bytes([7]) * 32,
        config_digest=bytes([9]) * 32,
        stake_amount=TOKEN,
        aggregator_bond=TOKEN,
        reward_per_round=TOKEN,
        num_rounds=1,
        min_participants=2,
        num_parameters=10,
        chunk_elems=4,
        norm_bound=2**40,
    )
    c.token.approve(stranger, c.coordinator.address, junk.reward_per_round)
    junk_id = c.coordinator.create_task(stranger, junk)

    # Execute
    report = audit_all(c.coordinator, c.token, store)
    asked = audit_all(c.coordinator, c.token, store, tasks=[junk_id])

    # Assert: the donation is a note of the accounting verdict
    assert report.passed, report.failures
    (acct,) = [v for v in report.verdicts if v.status == "accounting"]
    assert acct.passed and any("1 more than it tracks" in n for n in acct.notes), acct.notes
    assert held + 1 + junk.reward_per_round == c.token.balance_of(c.coordinator.address)
    # ... the junk task is "not auditable", and the real one still verifies
    (j,) = [v for v in report.verdicts if v.task_id == junk_id]
    assert j.passed and any("not auditable" in n for n in j.notes), j.notes
    assert report.rounds_verified == 1
    # ... but asked for by name, a task that cannot be audited fails
    assert not asked.passed and asked.first_failure is not None
    assert asked.first_failure.task_id == junk_id

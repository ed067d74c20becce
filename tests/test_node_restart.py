"""A trainer that crashes and restarts resumes from the chain's state (architecture property 6):
the new process (new node object, new chain client, same key) does not commit twice; killed
after its commit and before publishing, it publishes the very root it committed (training is
seeded); it commits the next rounds, the task completes, the audit passes, and no stake or
reward is lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fedchain.audit import accounting_verdict, audit_all
from fedchain.chain import (
    CoordinatorClient,
    EmbeddedChain,
    GasLedger,
    Phase,
    TokenClient,
    Transactor,
    derive_account,
)
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import AggregatorNode, KeeperNode, LocalData, TaskConfig, TrainerNode
from fedchain.sim.consortium import TOKEN, Consortium, TokenPlan
from fedchain.sim.runner import run_task
from fedchain.storage import LocalDirStore

SEED = 14
SAMPLES = (23, 37, 51)


def _local_data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


def _restarted_trainer(
    chain: EmbeddedChain, store_dir: Path, dep: Any, index: int, data: LocalData, task_id: int
) -> TrainerNode:
    """What a fresh process would build: its key from its seed, its own chain client and store."""
    account = derive_account(SEED, index + 1)
    coordinator = CoordinatorClient(Transactor(chain), dep.coordinator, from_block=dep.deploy_block)
    return TrainerNode(
        "owner-0 (restarted)", account, coordinator, LocalDirStore(store_dir), data, task_id=task_id
    )


def test_trainer_restarted_mid_task_resumes_without_double_commit(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: 3 owners, 3 rounds; owner 0 commits round 1, then its process dies.
    store_dir = tmp_path / "store"
    store = LocalDirStore(store_dir)
    plan = TokenPlan()
    c = Consortium.create(chain, store, num_participants=3, seed=SEED, plan=plan)
    spec = ModelSpec(arch="logreg", input_dim=4, num_classes=2)
    cfg = TaskConfig.build(
        dataset="synthetic", model=spec, train=TrainConfig(epochs=1, batch_size=8), chunk_elems=4
    )
    tid = c.create_task(cfg, rounds=3, min_participants=2, seed=0, plan=plan)
    data = [_local_data(n, i) for i, n in enumerate(SAMPLES)]
    c.join_all(tid, list(SAMPLES))
    c.start(tid)
    balances_before = {a.address: c.token.balance_of(a.address) for a in c.participants}

    first = TrainerNode("owner-0", c.participants[0], c.coordinator, store, data[0], task_id=tid)
    assert first.poll() is not None
    (mine1,) = c.coordinator.updates(tid, 1)
    del first  # crash: committed, not published (the commit window is still open)
    assert not store.has_named(mine1.merkle_root)

    # Execute
    # (a) restarted while round 1's commit window is still open: nothing to do.
    again = _restarted_trainer(chain, store_dir, c.deployment, 0, data[0], tid)
    resumed_in_window = again.poll()
    del again  # crash again
    # (b) the others commit (the window closes: everyone committed) and publish; owner 0
    # restarts once more, and publishes what it committed before the crash.
    others = [
        TrainerNode(f"owner-{i}", c.participants[i], c.coordinator, store, data[i], task_id=tid)
        for i in (1, 2)
    ]
    for t in others:
        t.poll()
    assert c.coordinator.get_task(tid).phase == Phase.AGGREGATE
    for t in others:
        t.poll()
    again = _restarted_trainer(chain, store_dir, c.deployment, 0, data[0], tid)
    published_after_restart = again.poll()
    published_root_stored = store.has_named(mine1.merkle_root)
    del again  # crash a third time
    aggregator = AggregatorNode(
        "aggregator",
        c.participants[1],
        c.coordinator,
        store,
        task_id=tid,
        disputes=c.disputes,
    )
    posted = aggregator.poll()
    # (c) restarted in the challenge window: published already, nothing to redo.
    restarted = _restarted_trainer(chain, store_dir, c.deployment, 0, data[0], tid)
    resumed_in_challenge = restarted.poll()
    ledger = GasLedger()
    records = run_task(
        c.coordinator,
        tid,
        [
            restarted,
            *others,
            aggregator,
            KeeperNode("keeper", c.sponsor, c.coordinator, task_id=tid),
        ],
        ledger=ledger,
    )

    # Assert
    assert resumed_in_window is None and resumed_in_challenge is None
    assert published_after_restart is not None and published_after_restart.kind == "publish"
    assert published_root_stored  # the same root it committed: its seeded update came back
    assert posted is not None and posted.detail["included"] == 3 and not posted.detail["excluded"]
    info = c.coordinator.get_task(tid)
    assert info.phase == Phase.COMPLETED
    outcomes = c.coordinator.round_outcomes(tid)
    assert [(o.round, o.finalized) for o in outcomes] == [(1, True), (2, True), (3, True)]
    assert not any(r.refusals for r in records), [
        r.refusals for r in records
    ]  # no AlreadyCommitted etc.
    for rnd in (1, 2, 3):
        mine = [
            u for u in c.coordinator.updates(tid, rnd) if u.participant == c.participants[0].address
        ]
        assert len(mine) == 1, f"round {rnd}: owner 0 committed {len(mine)} times"
        assert not c.coordinator.excluded(tid, rnd)
    report = audit_all(c.coordinator, c.token, store)
    assert report.passed, report.failures
    assert report.rounds_verified == 3

    # No stake or reward lost: what each owner is owed is Σ over rounds of weight × reward per
    # weight (its weight is its declared sample count, below the cap), and leaving pays exactly
    # stake + that.
    per_round = {
        o.round: info.reward_per_round // c.coordinator.round_weight(tid, o.round) for o in outcomes
    }
    assert all(c.coordinator.reward_per_weight(tid, r) == rpw for r, rpw in per_round.items())
    assert c.coordinator.member_weights(tid) == {
        a.address: n for a, n in zip(c.participants, SAMPLES, strict=True)
    }
    v = accounting_verdict(c.coordinator, c.token, [tid])
    assert v.passed, v.problems
    token = TokenClient(Transactor(chain), c.deployment.token)
    for i, acct in enumerate(c.participants):
        owed = sum(len(data[i]) * rpw for rpw in per_round.values())
        m = c.coordinator.get_member(tid, acct.address)
        stake = plan.stake * TOKEN + plan.stake_per_sample_milli * TOKEN // 1000 * len(data[i])
        assert m.stake == stake
        assert m.claimable + m.pending == owed
        # owner 0 now acts only through its restarted process's client (its nonce lives there)
        client = restarted.coordinator if i == 0 else c.coordinator
        client.leave_task(acct, tid)
        assert token.balance_of(acct.address) == balances_before[acct.address] + stake + owed
    c.coordinator.withdraw_pool(c.sponsor, tid)
    assert token.balance_of(c.coordinator.address) == 0
    assert accounting_holds(c.coordinator, c.token)

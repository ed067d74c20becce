"""`run_task` drives nodes until the task completes: one record per round (reported through
`on_round` as rounds end), refusals recorded instead of crashing the run, gas per round from
the ledger, and a clear error instead of spinning forever when the task cannot complete."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedchain.audit import audit_all
from fedchain.chain import ChainError, EmbeddedChain, GasLedger, Phase
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import AggregatorNode, KeeperNode, LocalData, TaskConfig, TrainerNode
from fedchain.sim.consortium import Consortium
from fedchain.sim.runner import RoundRecord, run_task
from fedchain.storage import LocalDirStore

SAMPLES = (23, 37, 51)


def _local_data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


def _setup(
    chain: EmbeddedChain, tmp_path: Path, rounds: int, ledger: GasLedger | None = None
) -> tuple[Consortium, int, list[LocalData]]:
    store = LocalDirStore(tmp_path / "store")
    c = Consortium.create(chain, store, num_participants=3, seed=18, ledger=ledger)
    spec = ModelSpec(arch="logreg", input_dim=4, num_classes=2)
    cfg = TaskConfig.build(
        dataset="synthetic", model=spec, train=TrainConfig(epochs=1, batch_size=8), chunk_elems=4
    )
    tid = c.create_task(cfg, rounds=rounds, min_participants=2, seed=0)
    c.join_all(tid, list(SAMPLES))
    c.start(tid)
    return c, tid, [_local_data(n, i) for i, n in enumerate(SAMPLES)]


def test_run_task_records_rounds_refusals_and_gas(chain: EmbeddedChain, tmp_path: Path) -> None:
    # Prepare: owner 2's data is poisoned (NaN), so its update is refused every round
    ledger = GasLedger()  # every transaction of the consortium is recorded here
    c, tid, data = _setup(chain, tmp_path, rounds=2, ledger=ledger)
    x = data[2].x.copy()
    x[0, 0] = np.nan
    data[2] = LocalData(x, data[2].y)
    nodes: list[Any] = [
        TrainerNode(f"owner-{i}", a, c.coordinator, c.store, data[i], task_id=tid)
        for i, a in enumerate(c.participants)
    ]
    nodes += [
        AggregatorNode(
            "agg", c.participants[0], c.coordinator, c.store, task_id=tid, disputes=c.disputes
        ),
        KeeperNode("keeper", c.sponsor, c.coordinator, task_id=tid),
    ]
    seen: list[RoundRecord] = []

    # Execute
    records = run_task(c.coordinator, tid, nodes, ledger=ledger, on_round=seen.append)

    # Assert
    assert c.coordinator.get_task(tid).phase == Phase.COMPLETED
    assert seen == records
    assert [r.round for r in records] == [1, 2]
    outcomes = c.coordinator.round_outcomes(tid)
    for r, o in zip(records, outcomes, strict=True):
        assert r.finalized and r.model_root == o.model_root
        assert r.included == 2 and r.excluded == {}
        assert r.refusals and {x.node for x in r.refusals} == {"owner-2"}
        assert all("NaN or inf" in x.error for x in r.refusals)
        assert r.gas_used == ledger.for_round(tid, r.round) > 0
    assert all(
        u.participant != c.participants[2].address
        for r in (1, 2)
        for u in c.coordinator.updates(tid, r)
    )
    report = audit_all(c.coordinator, c.token, c.store)
    assert report.passed, report.failures


def test_run_task_stops_with_an_error_when_the_task_cannot_complete(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: trainers only (no aggregator, no keeper): nobody can ever end a round
    c, tid, data = _setup(chain, tmp_path, rounds=1)
    nodes = [
        TrainerNode(f"owner-{i}", a, c.coordinator, c.store, data[i], task_id=tid)
        for i, a in enumerate(c.participants)
    ]

    # Execute
    with pytest.raises(ChainError) as exc:
        run_task(c.coordinator, tid, nodes, ledger=GasLedger(), max_steps=10)

    # Assert
    assert str(tid) in str(exc.value)
    assert c.coordinator.get_task(tid).phase != Phase.COMPLETED
    assert len(c.coordinator.updates(tid, 1)) == 3  # the trainers did their part once each

"""The auditor against a dishonest aggregator: it posts a wrong aggregate (consistently: the model
follows from the lie), or a right aggregate with a wrong model, or excludes a valid update. The
audit fails naming that round and saying what is wrong; earlier rounds still pass. Also: tokens
that the coordinator holds but cannot account for fail the accounting verdict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedchain.aggregation import apply_aggregate, weighted_sum
from fedchain.audit import audit_all
from fedchain.chain import EmbeddedChain, GasLedger, Phase
from fedchain.codec.blob import BlobKind
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import (
    AggregatorNode,
    KeeperNode,
    LocalData,
    NodeAction,
    TaskConfig,
    TrainerNode,
    collect_round_inputs,
)
from fedchain.sim.consortium import Consortium
from fedchain.sim.runner import run_task
from fedchain.storage import LocalDirStore

SAMPLES = (23, 37, 51)
BAD_ROUND = 2
ELEMENT = 5


class DishonestAggregator(AggregatorNode):
    """Honest except in ``bad_round``, where it lies in one of three ways."""

    def __init__(self, *args: Any, lie: str, bad_round: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lie = lie
        self.bad_round = bad_round

    def poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        if info.round != self.bad_round:
            return super().poll()
        now = self.coordinator.chain.now()
        if info.phase != Phase.AGGREGATE or now >= info.deadline + info.aggregate_duration:
            return None
        inputs = collect_round_inputs(self.coordinator, self.blobs, self.task_id, info.round)
        values, weights, excluded = list(inputs.values), list(inputs.weights), list(inputs.excluded)
        if self.lie == "exclude_valid":  # drop the last valid update, claiming it was bad
            values, weights = values[:-1], weights[:-1]
            excluded.append(inputs.included[-1])
        aggregate = weighted_sum(values, weights)
        if self.lie == "aggregate":
            aggregate[ELEMENT] += 1
        base = self.blobs.get_vector(BlobKind.MODEL, info.global_model_digest).values
        model = apply_aggregate(base, aggregate, sum(weights))
        if self.lie == "model":
            model[ELEMENT] -= 1
        root, digest = self.blobs.put_vector(BlobKind.AGGREGATE, aggregate)
        _, model_digest = self.blobs.put_vector(BlobKind.MODEL, model)
        self.coordinator.post_aggregate(
            self.account, self.task_id, info.round, root, digest, model_digest, excluded
        )
        return NodeAction(
            self.name,
            "aggregate",
            info.round,
            {"included": len(values), "excluded": {}, "lie": self.lie},
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
    c.join_all(tid)
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
        ("aggregate", f"aggregate differs from Σ nᵢ·vᵢ (first at element {ELEMENT})"),
        ("model", "posted model digest is not global + round"),
        ("exclude_valid", "was valid but excluded"),
    ],
    ids=["wrong-aggregate", "wrong-model", "excludes-valid-update"],
)
def test_dishonest_aggregate_fails_the_audit_at_its_round(
    chain: EmbeddedChain, tmp_path: Path, lie: str, says: str
) -> None:
    # Prepare
    def make(c: Consortium, store: LocalDirStore, tid: int) -> AggregatorNode:
        return DishonestAggregator(
            "liar",
            c.participants[0],
            c.coordinator,
            store,
            task_id=tid,
            lie=lie,
            bad_round=BAD_ROUND,
        )

    c, store, tid = _run(chain, tmp_path, make, rounds=3)

    # Execute
    report = audit_all(c.coordinator, c.token, store)

    # Assert
    assert not report.passed
    bad = report.first_failure
    assert bad is not None and (bad.task_id, bad.round, bad.status) == (tid, BAD_ROUND, "finalized")
    text = "; ".join(bad.problems)
    assert says in text, text
    if lie == "exclude_valid":
        assert c.coordinator.excluded(tid, BAD_ROUND)[0] in text
    assert all(
        v.passed
        for v in report.verdicts
        if v.status in ("setup", "finalized") and v.round < BAD_ROUND
    )
    assert report.rounds_verified == BAD_ROUND - 1


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
            bad_round=99,
        )

    c, store, tid = _run(chain, tmp_path, make, rounds=2)

    # Execute
    report = audit_all(c.coordinator, c.token, store)

    # Assert
    assert report.passed, report.first_failure
    assert report.rounds_verified == 2


def test_unaccounted_tokens_in_the_coordinator_fail_the_accounting_verdict(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: a completed task, then someone sends tokens straight to the coordinator
    def make(c: Consortium, store: LocalDirStore, tid: int) -> AggregatorNode:
        return AggregatorNode("agg", c.participants[0], c.coordinator, store, task_id=tid)

    c, store, tid = _run(chain, tmp_path, make, rounds=1)
    assert audit_all(c.coordinator, c.token, store).passed
    held = c.token.balance_of(c.coordinator.address)
    c.token.transfer(c.sponsor, c.coordinator.address, 12345)

    # Execute
    report = audit_all(c.coordinator, c.token, store)

    # Assert
    assert not report.passed
    bad = report.first_failure
    assert bad is not None and bad.status == "accounting"
    assert str(held + 12345) in bad.problems[0] and str(held) in bad.problems[0]
    assert report.rounds_verified == 1  # the rounds themselves are fine

"""A small task world for node-level tests: a consortium on one chain, one store, synthetic data.

Shared by the node tests so that each file states only what it checks, not how a task is set up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fedchain.audit import accounting_verdict
from fedchain.chain import EmbeddedChain
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import AggregatorNode, KeeperNode, LocalData, TaskConfig, TrainerNode
from fedchain.node.blobs import TaskBlobs
from fedchain.node.watcher import WatcherNode
from fedchain.sim.consortium import Consortium
from fedchain.storage import LocalDirStore

#: Sample counts of owners 0, 1, 2, …: different, so that weighting by samples shows.
SAMPLES = (23, 37, 51, 64, 29)


@dataclass
class World:
    chain: EmbeddedChain
    store: LocalDirStore
    c: Consortium
    cfg: TaskConfig
    task_id: int
    data: list[LocalData]

    def trainer(self, i: int, data: LocalData | None = None) -> TrainerNode:
        return TrainerNode(
            f"t{i}",
            self.c.participants[i],
            self.c.coordinator,
            self.store,
            data or self.data[i],
            task_id=self.task_id,
        )

    def aggregator(self, i: int = 0) -> AggregatorNode:
        return AggregatorNode(
            f"agg{i}",
            self.c.participants[i],
            self.c.coordinator,
            self.store,
            task_id=self.task_id,
            disputes=self.c.disputes,
        )

    def watcher(self) -> WatcherNode:
        """A watcher run by the sponsor (it holds tokens for the challenge bond)."""
        return WatcherNode(
            "watcher",
            self.c.sponsor,
            self.c.coordinator,
            self.store,
            task_id=self.task_id,
            disputes=self.c.disputes,
            token=self.c.token,
        )

    @property
    def blobs(self) -> TaskBlobs:
        return TaskBlobs(self.store, self.cfg)

    def keeper(self) -> KeeperNode:
        return KeeperNode("keeper", self.c.sponsor, self.c.coordinator, task_id=self.task_id)

    def info(self) -> Any:
        return self.c.coordinator.get_task(self.task_id)

    def advance(self) -> None:
        self.c.coordinator.advance(self.c.sponsor, self.task_id)

    def blob_files(self) -> set[Path]:
        return {p for p in self.store.root.rglob("*") if p.is_file()}

    def close_commits(self, trainers: list[TrainerNode] | None = None) -> None:
        """Move past the commit window (the phase turns AGGREGATE on the next block) and let
        the trainers that committed publish their updates (they only may now)."""
        past(self.chain, self.info().deadline)
        for t in trainers if trainers is not None else []:
            t.poll()


def local_data(n: int, seed: int) -> LocalData:
    """A linearly separable synthetic shard of ``n`` samples."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


def make_world(
    chain: EmbeddedChain,
    tmp_path: Path,
    *,
    seed: int,
    clients: int = 3,
    rounds: int = 2,
    min_participants: int = 2,
    weight_cap_pct: int = 200,
) -> World:
    """Deploy, create a logreg task on 4 features, let ``clients`` owners join (each declaring
    its true sample count, ``SAMPLES[i]``), start it."""
    store = LocalDirStore(tmp_path / "store")
    c = Consortium.create(chain, store, num_participants=clients, seed=seed)
    spec = ModelSpec(arch="logreg", input_dim=4, num_classes=2)
    cfg = TaskConfig.build(
        dataset="synthetic", model=spec, train=TrainConfig(epochs=1, batch_size=8), chunk_elems=4
    )
    tid = c.create_task(
        cfg,
        rounds=rounds,
        min_participants=min_participants,
        seed=0,
        weight_cap_pct=weight_cap_pct,
    )
    data = [local_data(SAMPLES[i], i) for i in range(clients)]
    c.join_all(tid, [len(d) for d in data])
    c.start(tid)
    return World(chain, store, c, cfg, tid, data)


def past(chain: EmbeddedChain, t: int) -> None:
    """Move the clock so that the latest block is at or after ``t``."""
    while chain.now() < t:
        chain.advance_time(t - chain.now() + 1)


def accounted(w: World, accounting_holds: Any) -> None:
    """Every token is accounted for, by the auditor's check and by the conftest helper."""
    v = accounting_verdict(w.c.coordinator, w.c.token, w.c.coordinator.task_ids())
    assert v.passed, v.problems
    assert accounting_holds(w.c.coordinator, w.c.token)

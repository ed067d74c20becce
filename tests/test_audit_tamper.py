"""The auditor against a tampered store: a completed 3-round task (kept on its chain object, since
an embedded chain dies with its process), then each kind of blob is damaged in turn; `audit_all`
must fail and `first_failure` must name the right round (round 0 = setup: config, initial model).
Every test restores the blob, so the task is shared by the module's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fedchain.audit import audit_all
from fedchain.chain import EmbeddedChain, GasLedger
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import AggregatorNode, KeeperNode, LocalData, TaskConfig, TrainerNode
from fedchain.sim.consortium import Consortium
from fedchain.sim.runner import RoundRecord, run_task
from fedchain.storage import LocalDirStore

ROUNDS = 3
SAMPLES = (23, 37, 51)


@dataclass
class Done:
    chain: EmbeddedChain
    store: LocalDirStore
    c: Consortium
    task_id: int
    records: list[RoundRecord]


def _local_data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Done]:
    chain = EmbeddedChain()
    try:
        store = LocalDirStore(tmp_path_factory.mktemp("audit-tamper") / "store")
        c = Consortium.create(chain, store, num_participants=3, seed=16)
        spec = ModelSpec(arch="logreg", input_dim=4, num_classes=2)
        cfg = TaskConfig.build(
            dataset="synthetic",
            model=spec,
            train=TrainConfig(epochs=1, batch_size=8),
            chunk_elems=4,
        )
        tid = c.create_task(cfg, rounds=ROUNDS, min_participants=2, seed=0)
        c.join_all(tid)
        c.start(tid)
        nodes: list[TrainerNode | AggregatorNode | KeeperNode] = [
            TrainerNode(f"t{i}", a, c.coordinator, store, _local_data(SAMPLES[i], i), task_id=tid)
            for i, a in enumerate(c.participants)
        ]
        nodes += [
            AggregatorNode("agg", c.participants[0], c.coordinator, store, task_id=tid),
            KeeperNode("keeper", c.sponsor, c.coordinator, task_id=tid),
        ]
        records = run_task(c.coordinator, tid, nodes, ledger=GasLedger())
        yield Done(chain, store, c, tid, records)
    finally:
        chain.close()


def _digest_of(d: Done, what: str, rnd: int) -> bytes:
    co = d.c.coordinator
    if what == "config":
        return bytes(co.task_created(d.task_id)["configDigest"])
    if what == "initial model":
        return bytes(co.task_created(d.task_id)["initialModelDigest"])
    if what == "update":
        return co.updates(d.task_id, rnd)[1].blob_digest
    agg = co.aggregate(d.task_id, rnd)
    assert agg is not None
    return agg.blob_digest if what == "aggregate" else agg.model_digest


def _flip(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    path.write_bytes(bytes(raw))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-8])


def _delete(path: Path) -> None:
    path.unlink()


DAMAGE: dict[str, Callable[[Path], None]] = {
    "flip": _flip,
    "truncate": _truncate,
    "delete": _delete,
}

# (blob, round it belongs to, words the failing verdict must contain)
CASES = [
    ("config", 0, "task config"),
    ("initial model", 0, "initial model"),
    ("update", 2, "update of"),
    ("aggregate", 2, "aggregate blob"),
    ("model", 2, "model blob"),
    ("model", 3, "model blob"),
    ("update", 1, "update of"),
]


def test_untampered_history_passes(done: Done) -> None:
    # Prepare
    d = done

    # Execute
    report = audit_all(d.c.coordinator, d.c.token, d.store)

    # Assert
    assert report.passed, report.first_failure
    assert report.first_failure is None
    assert report.rounds_verified == ROUNDS == len(d.records)
    assert [v.round for v in report.verdicts if v.status == "finalized"] == list(
        range(1, ROUNDS + 1)
    )


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize(("what", "rnd", "words"), CASES)
def test_tampered_blob_fails_the_audit_at_its_round(
    done: Done, what: str, rnd: int, words: str, damage: str
) -> None:
    # Prepare
    d = done
    digest = _digest_of(d, what, rnd)
    path = d.store.path_for(digest)
    original = path.read_bytes()
    DAMAGE[damage](path)
    try:
        # Execute
        report = audit_all(d.c.coordinator, d.c.token, d.store)
    finally:
        path.write_bytes(original)

    # Assert
    assert not report.passed
    bad = report.first_failure
    assert bad is not None
    assert (bad.task_id, bad.round) == (d.task_id, rnd)
    assert bad.status == ("setup" if rnd == 0 else "finalized")
    text = "; ".join(bad.problems)
    assert words in text, text
    if what == "update":
        assert d.c.coordinator.updates(d.task_id, rnd)[1].participant in text
    # every round before the damaged one still verifies
    for v in report.verdicts:
        if v.status in ("setup", "finalized") and v.round < rnd:
            assert v.passed, v.problems
    # and the restored store verifies again
    assert audit_all(d.c.coordinator, d.c.token, d.store).passed

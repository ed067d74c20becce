"""The auditor against a damaged store: a completed 3-round task (kept on its chain object, since
an embedded chain dies with its process), then each kind of blob is damaged in turn.

The audit cannot be poisoned: an update or aggregate that vanished (or no longer opens to its
root) after its round was aggregated makes that round *unverifiable* (a note, not a failure,
never blamed on the aggregator), and every later round is still verified from its on-chain
inputs. A damaged setup (config, initial model) is the sponsor's and fails round 0.
Every test restores the blob, so the task is shared by the module's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from fedchain.audit import AuditReport, RoundVerdict, audit_all
from fedchain.audit.auditor import LOST
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
        c.join_all(tid, list(SAMPLES))
        c.start(tid)
        nodes: list[TrainerNode | AggregatorNode | KeeperNode] = [
            TrainerNode(f"t{i}", a, c.coordinator, store, _local_data(SAMPLES[i], i), task_id=tid)
            for i, a in enumerate(c.participants)
        ]
        nodes += [
            AggregatorNode(
                "agg", c.participants[0], c.coordinator, store, task_id=tid, disputes=c.disputes
            ),
            KeeperNode("keeper", c.sponsor, c.coordinator, task_id=tid),
        ]
        records = run_task(c.coordinator, tid, nodes, ledger=GasLedger())
        yield Done(chain, store, c, tid, records)
    finally:
        chain.close()


def _path_of(d: Done, what: str, rnd: int) -> Path:
    co = d.c.coordinator
    params = co.task_created(d.task_id)["params"]
    if what == "config":
        return d.store.path_for(bytes(params["configDigest"]))  # content-addressed (sha256)
    if what == "initial model":
        return d.store.named_path_for(bytes(params["initialModelRoot"]))
    if what == "update":
        return d.store.named_path_for(co.updates(d.task_id, rnd)[1].merkle_root)
    agg = co.aggregate(d.task_id, rnd)
    assert agg is not None
    return d.store.named_path_for(agg.merkle_root if what == "aggregate" else agg.model_root)


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


def _audit(d: Done, path: Path, damage: str) -> AuditReport:
    original = path.read_bytes()
    DAMAGE[damage](path)
    try:
        return audit_all(d.c.coordinator, d.c.token, d.store, tasks=[d.task_id])
    finally:
        path.write_bytes(original)


def _round(report: AuditReport, rnd: int) -> RoundVerdict:
    (v,) = [v for v in report.verdicts if v.round == rnd and v.status != "accounting"]
    return v


def test_untampered_history_passes(done: Done) -> None:
    # Prepare
    d = done

    # Execute
    report = audit_all(d.c.coordinator, d.c.token, d.store)

    # Assert
    assert report.passed, report.failures
    assert report.first_failure is None and report.failures == []
    assert report.rounds_verified == ROUNDS == len(d.records)
    assert [v.round for v in report.verdicts if v.status == "finalized"] == list(
        range(1, ROUNDS + 1)
    )
    assert all(not v.notes for v in report.verdicts)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize(
    ("what", "words"), [("config", "task config"), ("initial model", "initial model")]
)
def test_damaged_setup_fails_round_zero(done: Done, what: str, words: str, damage: str) -> None:
    # Prepare
    d = done

    # Execute
    report = _audit(d, _path_of(d, what, 0), damage)

    # Assert: the sponsor's setup is broken; that is a failure of the task's round 0 (and, for the
    # initial model, of round 1, which cannot be replayed without it: reported as data lost)
    assert not report.passed
    bad = report.first_failure
    assert bad is not None and (bad.task_id, bad.round, bad.status) == (d.task_id, 0, "setup")
    text = "; ".join(bad.problems)
    assert words in text, text
    if what == "config":
        assert [v.round for v in report.failures] == [0]
    else:
        assert [v.round for v in report.failures] == [0, 1]
        assert _round(report, 1).status == "unverifiable"
        assert all(p.startswith(LOST) for p in _round(report, 1).problems)
        assert all(_round(report, r).passed for r in range(2, ROUNDS + 1))
    assert audit_all(d.c.coordinator, d.c.token, d.store).passed  # restored


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("rnd", [1, 2])
def test_a_members_vanished_update_fails_its_round_as_data_lost_blaming_nobody(
    done: Done, rnd: int, damage: str
) -> None:
    # Prepare: member 1 deletes (or garbles) its own update after its round was aggregated
    d = done
    member = d.c.coordinator.updates(d.task_id, rnd)[1].participant
    aggregator = d.c.participants[0].address
    assert member != aggregator

    # Execute
    report = _audit(d, _path_of(d, "update", rnd), damage)

    # Assert: the history cannot be verified there (the audit fails, naming that round only), but
    # it says the data was lost after the round, names the member, and blames no aggregator
    assert not report.passed
    assert [v.round for v in report.failures] == [rnd]
    v = _round(report, rnd)
    assert v.status == "unverifiable" and v.problems
    text = "; ".join(v.problems)
    assert all(p.startswith(LOST) for p in v.problems), text
    assert member in text and aggregator not in text
    # ... every other round is still verified from its own on-chain inputs
    for other in range(1, ROUNDS + 1):
        if other != rnd:
            w = _round(report, other)
            assert (w.status, w.problems) == ("finalized", []), (other, w)
    assert report.rounds_verified == ROUNDS - 1


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_vanished_aggregate_leaves_the_round_checked_through_its_model(
    done: Done, damage: str
) -> None:
    # Prepare
    d = done

    # Execute
    report = _audit(d, _path_of(d, "aggregate", 2), damage)

    # Assert: data lost in round 2 only; its model root is still recomputed from the updates
    assert [v.round for v in report.failures] == [2]
    v = _round(report, 2)
    assert v.problems and all(p.startswith(LOST) for p in v.problems)
    assert "aggregate" in "; ".join(v.problems)
    assert all(_round(report, r).passed for r in (1, 3))


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_vanished_model_does_not_stop_the_round_that_builds_on_it(
    done: Done, damage: str
) -> None:
    # Prepare
    d = done

    # Execute
    report = _audit(d, _path_of(d, "model", 2), damage)

    # Assert: the stored model no longer matches its root (reported as data lost in round 2);
    # round 3 still replays from the model the audit recomputed for round 2
    assert [v.round for v in report.failures] == [2]
    assert all(p.startswith(LOST) for p in _round(report, 2).problems)
    assert "stored model" in "; ".join(_round(report, 2).problems)
    assert _round(report, 3).passed and _round(report, 1).passed


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_final_model_is_reported(done: Done, damage: str) -> None:
    # Prepare
    d = done

    # Execute
    report = _audit(d, _path_of(d, "model", ROUNDS), damage)

    # Assert: the last model the consortium hands out no longer opens to its root: data lost
    assert [v.round for v in report.failures] == [ROUNDS]
    assert "stored model" in "; ".join(_round(report, ROUNDS).problems)


def test_a_damaged_config_of_an_unrequested_task_is_a_note(done: Done) -> None:
    """Asked for every task (no ``tasks=``), a task whose config cannot be read is reported as
    not auditable (anyone can create a task with any config digest) instead of failing."""
    # Prepare
    d = done
    path = _path_of(d, "config", 0)
    original = path.read_bytes()
    path.unlink()
    try:
        # Execute
        report = audit_all(d.c.coordinator, d.c.token, d.store)
    finally:
        path.write_bytes(original)

    # Assert
    assert report.passed
    (setup,) = [v for v in report.verdicts if v.task_id == d.task_id]
    assert setup.status == "not auditable" and "not auditable" in "; ".join(setup.notes)

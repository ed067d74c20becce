"""Secure aggregation changes who can see an update, not what the round computes: with SecAgg+
on, each finalized round's model is bit for bit the plaintext rule applied to the same
survivors' updates, global + round_half_even(Σ wᵢ·vᵢ / Σ wᵢ) over U3, dropouts included, with
wᵢ the weight the chain fixed at join. The trainers record in memory what they masked (the
test's window onto the plaintext); the store holds no plaintext update, only masked inputs,
aggregates, models (each named by its Merkle-sum root) and protocol messages (by digest)."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from recording_trainer import RecordingTrainer

from fedchain.aggregation import apply_aggregate, weighted_sum
from fedchain.audit import audit_all
from fedchain.chain import EmbeddedChain, GasLedger
from fedchain.codec.blob import HEADER_SIZE, MAGIC, BlobKind
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import KeeperNode, LocalData, TaskBlobs, TaskConfig
from fedchain.node.blobs import ZERO_OWNER
from fedchain.node.secure import SecureAggregatorNode, SecureRoundView
from fedchain.node.task_config import FORMAT as TASK_CONFIG_FORMAT
from fedchain.secagg import KeyShares, UnmaskShares, reduce_to_ring
from fedchain.sim.consortium import Consortium
from fedchain.sim.faults import DropoutNode
from fedchain.sim.runner import RoundRecord, run_task
from fedchain.storage import LocalDirStore

SAMPLES = (23, 37, 51, 29, 44, 60)
ROUNDS = 2
AGGREGATOR = 5  # the account that also aggregates (its trainer role may drop out)
#: (round, owner index) -> stage at which it vanishes: 0 before advertising keys, 1 before
#: sharing them, 2 before its masked input, 3 after it (it never unmasks: withheld).
DROPOUTS = {(1, 0): 3, (1, 1): 1, (2, 2): 0, (2, 3): 2}


def _local_data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


class FixedPlan:
    """A DropoutPlan with the dropouts spelled out instead of drawn."""

    def __init__(self, stages: dict[tuple[int, int], int]) -> None:
        self.stages = stages

    def stage(self, round: int, index: int) -> int | None:
        return self.stages.get((round, index))


@dataclass
class Run:
    store: LocalDirStore
    c: Consortium
    blobs: TaskBlobs
    task_id: int
    trainers: list[RecordingTrainer]
    records: list[RoundRecord]


def _run(chain: EmbeddedChain, tmp_path: Path) -> Run:
    store = LocalDirStore(tmp_path / "store")
    c = Consortium.create(chain, store, num_participants=len(SAMPLES), seed=21)
    spec = ModelSpec(arch="logreg", input_dim=4, num_classes=2)
    cfg = TaskConfig.build(
        dataset="synthetic", model=spec, train=TrainConfig(epochs=1, batch_size=8), chunk_elems=4
    )
    tid = c.create_task(cfg, rounds=ROUNDS, min_participants=3, seed=0, secure_aggregation=True)
    c.join_all(tid, list(SAMPLES))
    c.start(tid)
    trainers = [
        RecordingTrainer(
            f"owner-{i}", a, c.coordinator, store, _local_data(n, i), task_id=tid, seed=5
        )
        for i, (a, n) in enumerate(zip(c.participants, SAMPLES, strict=True))
    ]
    plan = FixedPlan(DROPOUTS)
    nodes = [DropoutNode(t, i, plan) for i, t in enumerate(trainers)]  # type: ignore[arg-type]
    nodes += [
        SecureAggregatorNode("agg", c.participants[AGGREGATOR], c.coordinator, store, task_id=tid),
        KeeperNode("keeper", c.sponsor, c.coordinator, task_id=tid),
    ]
    records = run_task(c.coordinator, tid, nodes, ledger=GasLedger())  # type: ignore[arg-type]
    return Run(store, c, TaskBlobs(store, cfg), tid, trainers, records)


def _survivors(round: int) -> set[int]:
    """U3 by the plan: owners that did not vanish before sending their masked input."""
    return {i for i in range(len(SAMPLES)) if DROPOUTS.get((round, i), 4) >= 3}


def _store_files(store: LocalDirStore) -> list[Path]:
    return [p for p in store.root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def _classify_store(store: LocalDirStore) -> tuple[Counter[BlobKind], Counter[str]]:
    """Stored blobs by header kind (vector blobs) and by format tag (JSON messages, config)."""
    kinds: Counter[BlobKind] = Counter()
    formats: Counter[str] = Counter()
    for path in _store_files(store):
        raw = path.read_bytes()
        if raw[:4] == MAGIC and len(raw) >= HEADER_SIZE:
            kinds[BlobKind(raw[4])] += 1
        else:
            formats[json.loads(raw)["format"]] += 1
    return kinds, formats


def test_secure_rounds_give_the_plaintext_rules_model_and_store_no_plaintext(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: 6 owners, 2 rounds, dropouts at every stage (see DROPOUTS), run by _run

    # Execute
    run = _run(chain, tmp_path)
    co, tid = run.c.coordinator, run.task_id
    index = {a.address: i for i, a in enumerate(run.c.participants)}
    outcomes = co.round_outcomes(tid)
    report = audit_all(co, run.c.token, run.store)
    kinds, formats = _classify_store(run.store)

    # Assert: both rounds finalized (each needed secret keeps ≥ t = 3 surviving neighbours)
    assert [(o.round, o.finalized) for o in outcomes] == [(1, True), (2, True)], outcomes
    weights_of = co.member_weights(tid)
    assert weights_of == {a.address: n for a, n in zip(run.c.participants, SAMPLES, strict=True)}
    model = run.blobs.get_vector(
        BlobKind.MODEL, bytes(co.task_created(tid)["params"]["initialModelRoot"])
    ).values
    for outcome in outcomes:
        r = outcome.round
        excluded = set(co.excluded(tid, r))
        u3 = sorted(
            index[u.participant] for u in co.updates(tid, r) if u.participant not in excluded
        )
        assert set(u3) == _survivors(r), f"round {r}: U3 on-chain {u3}"
        assert not excluded
        # the plaintext rule over the survivors' own updates (withheld ones included)
        updates = [run.trainers[i].updates[r] for i in u3]
        weights = [SAMPLES[i] for i in u3]
        expected_sum = weighted_sum(updates, weights)
        expected_model = apply_aggregate(model, expected_sum, sum(weights))
        agg = co.aggregate(tid, r)
        assert agg is not None and agg.included_weight == sum(weights)
        posted_sum = run.blobs.get_vector(BlobKind.AGGREGATE, agg.merkle_root).values
        assert np.array_equal(posted_sum, expected_sum), f"round {r}: aggregate differs"
        assert outcome.model_root == run.blobs.model_root(expected_model)
        assert agg.model_root == outcome.model_root
        stored = run.blobs.get_vector(BlobKind.MODEL, outcome.model_root).values
        assert stored.dtype == expected_model.dtype
        assert np.array_equal(stored, expected_model), f"round {r}: model differs"
        model = expected_model
    assert co.get_task(tid).global_model_root == run.blobs.model_root(model)
    withheld_r1 = {index[a] for a in co.withheld(tid, 1)}
    assert withheld_r1 == {i for (r, i), s in DROPOUTS.items() if r == 1 and s == 3}
    assert report.passed, report.first_failure
    assert report.rounds_verified == ROUNDS

    # Assert: every vector blob is MASKED, AGGREGATE or MODEL; every other blob is the task
    # config or a protocol message
    assert BlobKind.UPDATE not in kinds, kinds
    commits = sum(len(co.updates(tid, r)) for r in range(1, ROUNDS + 1))
    assert commits == sum(len(_survivors(r)) for r in range(1, ROUNDS + 1))
    assert kinds[BlobKind.MASKED] == commits
    assert set(kinds) == {BlobKind.MASKED, BlobKind.AGGREGATE, BlobKind.MODEL}
    # vectors are named by their root, messages and the config by their digest
    named = {p.name for p in _store_files(run.store) if "named" in p.parts}
    assert named == {
        *(u.merkle_root.hex() for r in range(1, ROUNDS + 1) for u in co.updates(tid, r)),
        *(co.aggregate(tid, r).merkle_root.hex() for r in range(1, ROUNDS + 1)),  # type: ignore[union-attr]
        *(o.model_root.hex() for o in outcomes),  # type: ignore[union-attr]
        bytes(co.task_created(tid)["params"]["initialModelRoot"]).hex(),
    }
    assert set(formats) == {  # key adverts are on-chain, not in the store
        TASK_CONFIG_FORMAT,
        KeyShares.FORMAT,
        UnmaskShares.FORMAT,
    }
    # and no encoding of any plaintext update, raw or weighted, is stored under any kind, by
    # any name (its root as its owner's or anyone's, or its digest), nor as any stored content
    contents = {p.read_bytes() for p in _store_files(run.store)}
    recorded = [(i, r, u) for i, t in enumerate(run.trainers) for r, u in t.updates.items()]
    assert len(recorded) == commits
    for i, r, update in recorded:
        owner = run.c.participants[i].address
        weighted = update.astype(np.int64) * SAMPLES[i]
        bits = SecureRoundView(co, run.blobs, tid, r).ring_bits
        in_ring = reduce_to_ring(weighted.view(np.uint64).copy(), bits)
        for kind, values, rb in (
            (BlobKind.UPDATE, update, None),
            (BlobKind.AGGREGATE, weighted, None),
            (BlobKind.MODEL, weighted, None),
            (BlobKind.MASKED, in_ring, bits),
        ):
            for who in (owner, ZERO_OWNER):
                vector = run.blobs.commit_vector(kind, values, owner=who, ring_bits=rb)
                where = f"owner {i} round {r}: {kind.name}"
                assert not run.store.has_named(vector.root), where
                assert not run.store.has(hashlib.sha256(vector.data).digest()), where
                assert vector.data not in contents, where

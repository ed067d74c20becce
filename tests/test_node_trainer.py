"""TrainerNode on an embedded chain + local store: one commit per round, the update is stored
only once the commit window closed, and what it stores opens to exactly the committed root
(owner-bound Merkle-sum tree, declared chunk sums, squared norm, shape)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import node_world as world
import numpy as np
from eth_abi import encode as abi_encode
from eth_utils import keccak

from fedchain.chain import EmbeddedChain, Phase
from fedchain.codec.blob import BlobKind
from fedchain.codec.committed import decode_committed
from fedchain.codec.merkle import MerkleSumTree, chunk_sums, verify_proof

SAMPLES = world.SAMPLES
World = world.World
_local_data = world.local_data
_past = world.past
_accounted = world.accounted


def _world(chain: EmbeddedChain, tmp_path: Path, *, clients: int = 3, rounds: int = 2) -> World:
    return world.make_world(chain, tmp_path, seed=11, clients=clients, rounds=rounds)


def test_trainer_commits_exactly_once_per_round(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    t = w.trainer(0)

    # Execute
    first = t.poll()
    second = t.poll()

    # Assert
    assert first is not None and first.kind == "commit" and first.round == 1
    assert first.detail["samples"] == len(w.data[0])
    assert second is None
    mine = [u for u in w.c.coordinator.updates(w.task_id, 1) if u.participant == t.address]
    assert len(mine) == 1
    assert w.c.coordinator.get_member(w.task_id, t.address).last_round == 1
    assert w.c.coordinator.get_task(w.task_id).committed == 1
    _accounted(w, accounting_holds)


def test_committed_root_opens_to_the_blob_published_after_the_window(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    t = w.trainer(1)
    base = w.c.coordinator.get_task(w.task_id).global_model_root

    # Execute
    committed = t.poll()
    (u,) = w.c.coordinator.updates(w.task_id, 1)
    hidden = not w.store.has_named(u.merkle_root)
    w.close_commits([t])

    # Assert: the root hid the update while copies could still be committed
    assert committed is not None and committed.kind == "commit"
    assert hidden and u.participant == t.address
    assert w.c.coordinator.member_weights(w.task_id)[t.address] == len(w.data[1])
    assert w.info().phase == Phase.AGGREGATE
    assert w.store.has_named(u.merkle_root)  # ... and is in the store once the window closed
    data = w.store.get_named(u.merkle_root)
    blob_bytes, sums = decode_committed(
        data,
        kind=BlobKind.UPDATE,
        chunk_elems=w.cfg.chunk_elems,
        expected_length=w.cfg.num_parameters,
    )
    opened = w.blobs.open_vector(
        BlobKind.UPDATE, u.merkle_root, owner=u.participant, sum_sq=u.sum_sq
    )
    assert opened.blob.frac_bits == w.cfg.frac_bits
    # The declared chunk sums are the honest ones and add up to the committed squared norm.
    assert sums == chunk_sums(BlobKind.UPDATE, opened.values, chunk_elems=w.cfg.chunk_elems)
    assert sum(sums) == u.sum_sq == int(np.sum(opened.values.astype(np.int64) ** 2))
    # The root recomputed from the stored bytes is the committed one, and it binds its owner.
    tree = MerkleSumTree(blob_bytes, chunk_elems=w.cfg.chunk_elems, owner=u.participant, sums=sums)
    assert tree.num_chunks > 1  # the test exercises a real tree, not a one-leaf root
    assert tree.root == u.merkle_root
    other = w.c.participants[0].address
    assert MerkleSumTree(blob_bytes, chunk_elems=w.cfg.chunk_elems, owner=other).root != tree.root
    # ... and the dispute contract itself opens a chunk of the stored blob against that root.
    i = tree.num_chunks - 1
    proof = tree.proof(i)
    ok, top = w.c.disputes.verify_opening(
        u.merkle_root, u.participant, i, sums[i], tree.chunk(i), proof, tree.num_chunks
    )
    assert ok and top == u.sum_sq
    assert (
        verify_proof(
            u.merkle_root,
            u.participant,
            i,
            tree.chunk(i),
            sums[i],
            proof,
            num_chunks=tree.num_chunks,
        )
        == u.sum_sq
    )
    # The member's on-chain commitment word binds round, root, squared norm and commit index.
    member = w.c.coordinator.get_member(w.task_id, t.address)
    want = keccak(
        abi_encode(
            ["uint256", "bytes32", "uint256", "uint256"],
            [1, u.merkle_root, u.sum_sq, u.commit_index],
        )
    )
    assert member.commitment == want
    # What was stored is the trainer's (deterministic) update from the round's global model.
    recomputed, _ = w.trainer(1).compute_update(base, 1)
    assert np.array_equal(opened.values, recomputed)


def test_trainers_with_different_data_commit_different_updates(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    trainers = [w.trainer(i) for i in range(3)]

    # Execute
    for t in trainers:
        t.poll()

    # Assert
    ups = w.c.coordinator.updates(w.task_id, 1)
    assert [u.participant for u in ups] == [t.address for t in trainers]
    weights = w.c.coordinator.round_weights(w.task_id, 1)
    assert [weights[u.participant] for u in ups] == [len(d) for d in w.data]
    assert len({u.merkle_root for u in ups}) == 3
    assert len({u.sum_sq for u in ups}) == 3
    # Everyone committed: the commit window is over for all of them, so each publishes its
    # update (once) and commits nothing more.
    assert w.info().phase == Phase.AGGREGATE
    assert [a.kind if a else None for a in (t.poll() for t in trainers)] == ["publish"] * 3
    assert all(t.poll() is None for t in trainers)
    assert len(w.c.coordinator.updates(w.task_id, 1)) == 3
    assert all(w.store.has_named(u.merkle_root) for u in ups)

"""TrainerNode on an embedded chain + local store: one commit per round, and what it commits
is exactly the blob it stored (digest, Merkle root checked on-chain, shape, sample count)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import node_world as world
import numpy as np
from eth_abi import encode as abi_encode
from eth_utils import keccak

from fedchain.chain import EmbeddedChain
from fedchain.codec.blob import HEADER_SIZE, BlobKind, decode_vector_blob
from fedchain.codec.merkle import chunk_leaves, merkle_proof, merkle_root

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


def test_committed_root_and_digest_match_the_stored_blob(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    t = w.trainer(1)
    base = w.c.coordinator.get_task(w.task_id).global_model_digest

    # Execute
    t.poll()

    # Assert
    (u,) = w.c.coordinator.updates(w.task_id, 1)
    assert u.participant == t.address
    assert u.samples == len(w.data[1])
    data = w.store.get(u.blob_digest)
    assert hashlib.sha256(data).digest() == u.blob_digest
    blob = decode_vector_blob(
        data, expected_kind=BlobKind.UPDATE, expected_length=w.cfg.num_parameters
    )
    assert blob.frac_bits == w.cfg.frac_bits
    # The root recomputed from the payload's chunks is the committed one ...
    leaves = chunk_leaves(data[HEADER_SIZE:], chunk_bytes=w.cfg.chunk_elems * 4)
    assert len(leaves) > 1  # the test exercises a real tree, not a one-leaf root
    assert merkle_root(leaves) == u.merkle_root
    # ... and the contract itself accepts a chunk of the stored blob against that root.
    i = len(leaves) - 1
    chunk = data[
        HEADER_SIZE + i * w.cfg.chunk_elems * 4 : HEADER_SIZE + (i + 1) * w.cfg.chunk_elems * 4
    ]
    assert w.c.coordinator.verify_chunk(u.merkle_root, merkle_proof(leaves, i), i, chunk)
    # The member's on-chain commitment word binds round, root, digest and samples.
    member = w.c.coordinator.get_member(w.task_id, t.address)
    want = keccak(
        abi_encode(
            ["uint256", "bytes32", "bytes32", "uint256"],
            [1, u.merkle_root, u.blob_digest, u.samples],
        )
    )
    assert member.commitment == want
    # What was stored is the trainer's (deterministic) update from the round's global model.
    recomputed, _ = w.trainer(1).compute_update(base, 1)
    assert np.array_equal(blob.values, recomputed)


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
    assert [u.samples for u in ups] == [len(d) for d in w.data]
    assert len({u.blob_digest for u in ups}) == 3
    assert len({u.merkle_root for u in ups}) == 3
    # Everyone committed: the commit window is over for all of them.
    assert all(t.poll() is None for t in trainers)
    assert len(w.c.coordinator.updates(w.task_id, 1)) == 3

"""Bad input never gets in: NaN/inf updates are refused before the chain, wrong-shape,
wrong-kind and tampered blobs are excluded by the aggregator with a reason, late / non-member /
unknown-task commits are refused by the contract with its custom error. After each, every token
is accounted for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import node_world as world
import numpy as np
import pytest

from fedchain.chain import ContractRevert, EmbeddedChain, Phase, derive_account
from fedchain.codec.blob import BlobKind, encode_vector_blob
from fedchain.codec.fixedpoint import InvalidUpdate, encode_update
from fedchain.codec.merkle import commit_blob
from fedchain.errors import FedchainError
from fedchain.node import KeeperNode, LocalData

SAMPLES = world.SAMPLES
World = world.World
_local_data = world.local_data
_past = world.past
_accounted = world.accounted


def _world(chain: EmbeddedChain, tmp_path: Path, *, clients: int = 3, rounds: int = 1) -> World:
    return world.make_world(chain, tmp_path, seed=15, clients=clients, rounds=rounds)


def _flip_byte(path: Path, offset: int = -1) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


# ---------------------------------------------------------------- refused before the chain


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encode_update_refuses_non_finite_values(bad: float) -> None:
    # Prepare
    delta = np.linspace(-0.1, 0.1, 10)
    delta[7] = bad

    # Execute
    with pytest.raises(InvalidUpdate) as exc:
        encode_update(delta, frac_bits=20, clip_norm=10.0)

    # Assert
    assert "NaN or inf" in str(exc.value) and "7" in str(exc.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_trainer_with_non_finite_training_result_commits_nothing(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any, bad: float
) -> None:
    # Prepare: data that makes local training diverge to NaN
    w = _world(chain, tmp_path)
    clean = w.data[0]
    x = clean.x.copy()
    x[3, 1] = bad
    poisoned = w.trainer(0, LocalData(x, clean.y))
    files_before = w.blob_files()
    member_before = w.c.coordinator.get_member(w.task_id, poisoned.address)

    # Execute
    with pytest.raises(InvalidUpdate, match="NaN or inf"):
        poisoned.poll()

    # Assert: nothing reached the chain or the store
    assert w.c.coordinator.updates(w.task_id, 1) == []
    assert w.c.coordinator.get_member(w.task_id, poisoned.address) == member_before
    assert w.info().committed == 0
    assert w.blob_files() == files_before
    _accounted(w, accounting_holds)


def test_trainer_refuses_a_tampered_global_model(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    _flip_byte(w.store.path_for(w.info().global_model_digest))
    t = w.trainer(0)

    # Execute
    with pytest.raises(FedchainError, match="tampered"):
        t.poll()

    # Assert
    assert w.c.coordinator.updates(w.task_id, 1) == []
    _accounted(w, accounting_holds)


# ---------------------------------------------------------------- excluded by the aggregator


def _commit_blob(w: World, i: int, data: bytes) -> str:
    acct = w.c.participants[i]
    c = commit_blob(data, chunk_elems=w.cfg.chunk_elems)
    digest = w.store.put(data)
    assert digest == c.digest
    w.c.coordinator.commit_update(acct, w.task_id, 1, c.root, digest, len(w.data[i]))
    return str(acct.address)


def _bad_update(w: World, i: int, how: str) -> tuple[str, list[str]]:
    """Member ``i`` commits a bad update; returns its address and words its exclusion must name."""
    n, fb = w.cfg.num_parameters, w.cfg.frac_bits
    if how == "too_long":
        return _commit_blob(
            w, i, encode_vector_blob(BlobKind.UPDATE, np.ones(n + 1, np.int32), frac_bits=fb)
        ), ["length", str(n), str(n + 1)]
    if how == "too_short":
        return _commit_blob(
            w, i, encode_vector_blob(BlobKind.UPDATE, np.ones(n - 3, np.int32), frac_bits=fb)
        ), ["length", str(n), str(n - 3)]
    if how == "wrong_kind":
        return _commit_blob(
            w, i, encode_vector_blob(BlobKind.MODEL, np.ones(n, np.int64), frac_bits=fb)
        ), ["kind", "UPDATE", "MODEL"]
    if how == "wrong_frac_bits":
        return _commit_blob(
            w, i, encode_vector_blob(BlobKind.UPDATE, np.ones(n, np.int32), frac_bits=fb - 4)
        ), ["fractional bits", str(fb - 4), str(fb)]
    if how == "over_clip_norm":
        # Well formed, but nobody who clipped to the task's clip_norm could have produced it:
        # every element is the int32 maximum (an L2 norm thousands of times over the bound).
        big = np.full(n, np.iinfo(np.int32).max, np.int32)
        norm = float(np.linalg.norm(big.astype(np.float64))) * 2.0**-fb
        assert norm > 100 * w.cfg.clip_norm
        return _commit_blob(w, i, encode_vector_blob(BlobKind.UPDATE, big, frac_bits=fb)), ["norm"]
    if how == "root_mismatch":
        good = encode_vector_blob(BlobKind.UPDATE, np.ones(n, np.int32), frac_bits=fb)
        other = commit_blob(
            encode_vector_blob(BlobKind.UPDATE, np.full(n, 2, np.int32), frac_bits=fb),
            chunk_elems=w.cfg.chunk_elems,
        )
        digest = w.store.put(good)
        acct = w.c.participants[i]
        w.c.coordinator.commit_update(acct, w.task_id, 1, other.root, digest, len(w.data[i]))
        return str(acct.address), ["Merkle root", other.root.hex()[:16]]
    if how == "tampered":
        t = w.trainer(i)
        t.poll()
        (u,) = [u for u in w.c.coordinator.updates(w.task_id, 1) if u.participant == t.address]
        _flip_byte(w.store.path_for(u.blob_digest))
        return t.address, ["tampered", u.blob_digest.hex()]
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "too_long",
        "too_short",
        "wrong_kind",
        "wrong_frac_bits",
        "over_clip_norm",
        "root_mismatch",
        "tampered",
    ],
)
def test_aggregator_excludes_a_bad_update_with_a_reason(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any, how: str
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    w.trainer(0).poll()
    w.trainer(1).poll()
    bad, words = _bad_update(w, 2, how)

    # Execute
    action = w.aggregator(0).poll()
    _past(chain, w.info().deadline)
    KeeperNode("keeper", w.c.sponsor, w.c.coordinator, task_id=w.task_id).poll()

    # Assert
    assert action is not None
    excluded = action.detail["excluded"]
    assert isinstance(excluded, dict) and list(excluded) == [bad]
    reason = str(excluded[bad])
    assert all(word in reason for word in words), (words, reason)
    assert w.c.coordinator.excluded(w.task_id, 1) == [bad]
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    assert outcome.finalized
    agg = w.c.coordinator.aggregate(w.task_id, 1)
    assert agg is not None and agg.total_samples == len(w.data[0]) + len(w.data[1])
    m = w.c.coordinator.get_member(w.task_id, bad)
    assert m.claimable + m.pending == 0 and m.stake == w.info().stake_amount
    _accounted(w, accounting_holds)


# ---------------------------------------------------------------- refused by the contract


def _valid_blob(w: World, i: int) -> tuple[bytes, bytes]:
    t = w.trainer(i)
    update, _ = t.compute_update(w.info().global_model_digest, 1)
    return t.blobs.put_vector(BlobKind.UPDATE, update)


def test_late_commit_is_refused_commit_window_closed(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: two on time, the third computes its update but sends it after the deadline
    w = _world(chain, tmp_path)
    w.trainer(0).poll()
    w.trainer(1).poll()
    root, digest = _valid_blob(w, 2)
    deadline = w.info().deadline
    _past(chain, deadline + 10)
    late = w.c.participants[2]

    # Execute
    with pytest.raises(ContractRevert) as exc:
        w.c.coordinator.commit_update(late, w.task_id, 1, root, digest, len(w.data[2]))

    # Assert
    err = exc.value
    assert err.error == "CommitWindowClosed"
    assert err.args_by_name["round"] == 1 and err.args_by_name["deadline"] == deadline
    assert err.args_by_name["nowTs"] >= deadline
    assert w.trainer(2).poll() is None  # the node itself would not even try
    assert [u.participant for u in w.c.coordinator.updates(w.task_id, 1)] == [
        a.address for a in w.c.participants[:2]
    ]
    assert w.c.coordinator.get_member(w.task_id, late.address).last_round == 0
    assert w.info().committed == 2 and w.info().phase == Phase.AGGREGATE
    _accounted(w, accounting_holds)


def test_commit_from_a_non_member_is_refused(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: an outsider with ether and a well-formed update, but no stake in the task
    w = _world(chain, tmp_path)
    outsider = derive_account("not-a-member", 1)
    chain.fund(outsider.address, 10**18)
    root, digest = _valid_blob(w, 0)

    # Execute
    with pytest.raises(ContractRevert) as exc:
        w.c.coordinator.commit_update(outsider, w.task_id, 1, root, digest, 10)

    # Assert
    assert exc.value.error == "NotMember"
    assert exc.value.args_by_name["account"] == outsider.address
    assert w.c.coordinator.updates(w.task_id, 1) == []
    assert w.info().committed == 0
    _accounted(w, accounting_holds)


def test_commit_to_an_unknown_task_is_refused(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    root, digest = _valid_blob(w, 0)
    unknown = max(w.c.coordinator.task_ids()) + 41

    # Execute
    with pytest.raises(ContractRevert) as exc:
        w.c.coordinator.commit_update(w.c.participants[0], unknown, 1, root, digest, len(w.data[0]))

    # Assert
    assert exc.value.error == "UnknownTask"
    assert exc.value.args_by_name["taskId"] == unknown
    assert w.c.coordinator.updates(w.task_id, 1) == []
    assert w.c.coordinator.get_member(w.task_id, w.c.participants[0].address).last_round == 0
    _accounted(w, accounting_holds)

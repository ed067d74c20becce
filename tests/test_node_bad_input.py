"""Bad input never gets in: NaN/inf updates are refused before the chain; wrong-shape,
wrong-kind, tampered, norm-lying and unopenable updates are excluded by the aggregator with a
reason; late / non-member / unknown-task / over-the-norm-bound commits are refused by the
contract with its custom error. After each, every token is accounted for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import node_world as world
import numpy as np
import pytest

from fedchain.chain import ContractRevert, EmbeddedChain, ExclusionReason, Phase, derive_account
from fedchain.codec.blob import BlobKind, encode_vector_blob
from fedchain.codec.committed import encode_committed
from fedchain.codec.fixedpoint import InvalidUpdate, encode_update
from fedchain.codec.merkle import MerkleSumTree, chunk_sums
from fedchain.errors import FedchainError
from fedchain.node import KeeperNode, LocalData
from fedchain.node.blobs import CommittedVector
from fedchain.node.schedule import aggregate_marks

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
    _flip_byte(w.store.named_path_for(w.info().global_model_root))
    t = w.trainer(0)

    # Execute
    with pytest.raises(FedchainError, match="does not open to it"):
        t.poll()

    # Assert
    assert w.c.coordinator.updates(w.task_id, 1) == []
    _accounted(w, accounting_holds)


# ---------------------------------------------------------------- excluded by the aggregator


def _commit_blob(
    w: World,
    i: int,
    data: bytes,
    *,
    sums: list[int] | None = None,
    root: bytes | None = None,
) -> str:
    """Member ``i`` commits to the owner-bound Merkle-sum root of ``data`` (or to ``root``) and
    stores ``data`` (with its declared ``sums``) under that root."""
    acct = w.c.participants[i]
    tree = MerkleSumTree(data, chunk_elems=w.cfg.chunk_elems, owner=acct.address, sums=sums)
    name = tree.root if root is None else root
    w.store.put_named(name, encode_committed(data, tree.sums))
    w.c.coordinator.commit_update(acct, w.task_id, 1, name, tree.top_sum)
    return str(acct.address)


def _bad_update(w: World, i: int, how: str) -> tuple[str, ExclusionReason, list[str]]:
    """Member ``i`` commits a bad update; returns its address, the on-chain reason its exclusion
    must carry and words the aggregator's reason must name."""
    n, fb = w.cfg.num_parameters, w.cfg.frac_bits
    malformed = ExclusionReason.MALFORMED
    if how == "too_long":
        data = encode_vector_blob(BlobKind.UPDATE, np.ones(n + 1, np.int32), frac_bits=fb)
        return _commit_blob(w, i, data), malformed, ["length", str(n), str(n + 1)]
    if how == "too_short":
        data = encode_vector_blob(BlobKind.UPDATE, np.ones(n - 3, np.int32), frac_bits=fb)
        return _commit_blob(w, i, data), malformed, ["length", str(n), str(n - 3)]
    if how == "wrong_kind":
        data = encode_vector_blob(BlobKind.MODEL, np.ones(n, np.int64), frac_bits=fb)
        return _commit_blob(w, i, data), malformed, ["kind", "UPDATE"]
    if how == "wrong_frac_bits":
        data = encode_vector_blob(BlobKind.UPDATE, np.ones(n, np.int32), frac_bits=fb - 4)
        return _commit_blob(w, i, data), malformed, ["fractional bits", str(fb - 4), str(fb)]
    if how == "norm_lie":
        # Well formed, but nobody who clipped to the task's clip_norm could have produced it:
        # every element is the int32 maximum (an L2 norm thousands of times over the bound).
        # Its honest squared norm would be refused at commit; it declares chunk sums that look
        # within the bound instead, which the stored object itself shows to be false.
        big = np.full(n, np.iinfo(np.int32).max, np.int32)
        norm = float(np.linalg.norm(big.astype(np.float64))) * 2.0**-fb
        assert norm > 100 * w.cfg.clip_norm
        honest = chunk_sums(BlobKind.UPDATE, big, chunk_elems=w.cfg.chunk_elems)
        data = encode_vector_blob(BlobKind.UPDATE, big, frac_bits=fb)
        fake = [1] * len(honest)
        return (
            _commit_blob(w, i, data, sums=fake),
            ExclusionReason.NORM_LIE,
            ["chunk 0", "sum of squares", str(honest[0])],
        )
    if how == "root_mismatch":
        # It stores a good update under the root of another one: what is stored does not open
        # to the committed root, so the update is as good as missing.
        other = MerkleSumTree(
            encode_vector_blob(BlobKind.UPDATE, np.full(n, 2, np.int32), frac_bits=fb),
            chunk_elems=w.cfg.chunk_elems,
            owner=w.c.participants[i].address,
        )
        good = encode_vector_blob(BlobKind.UPDATE, np.ones(n, np.int32), frac_bits=fb)
        address = _commit_blob(w, i, good, root=other.root)
        return address, ExclusionReason.UNAVAILABLE, ["does not open", other.root.hex()[:16]]
    if how == "tampered":
        t = w.trainer(i)
        t.poll()
        (u,) = [u for u in w.c.coordinator.updates(w.task_id, 1) if u.participant == t.address]
        t.publish_due(1, Phase.AGGREGATE)  # (a test shortcut: it publishes before the window)
        _flip_byte(w.store.named_path_for(u.merkle_root), offset=40)  # a payload byte
        return t.address, ExclusionReason.UNAVAILABLE, ["does not open", u.merkle_root.hex()[:16]]
    if how == "not_published":
        t = w.trainer(i)
        t.poll()  # commits, then never publishes
        return t.address, ExclusionReason.UNAVAILABLE, ["not in the store"]
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how",
    [
        "too_long",
        "too_short",
        "wrong_kind",
        "wrong_frac_bits",
        "norm_lie",
        "root_mismatch",
        "tampered",
        "not_published",
    ],
)
def test_aggregator_excludes_a_bad_update_with_a_reason(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any, how: str
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    trainers = [w.trainer(0), w.trainer(1)]
    for t in trainers:
        t.poll()
    bad, why, words = _bad_update(w, 2, how)
    w.close_commits(trainers)
    if how == "not_published":
        assert w.aggregator(0).poll() is None  # its owner may still publish: wait until due
        _past(chain, aggregate_marks(w.info())[0])

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
    assert w.c.coordinator.excluded(w.task_id, 1) == {bad: why}
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    assert outcome.finalized
    agg = w.c.coordinator.aggregate(w.task_id, 1)
    assert agg is not None and agg.included_weight == len(w.data[0]) + len(w.data[1])
    m = w.c.coordinator.get_member(w.task_id, bad)
    # Excluded, it earns nothing; nobody proved a fault here (no watcher ran), so it keeps its
    # stake (a norm lie is slashable: see test_node_watcher).
    assert m.claimable + m.pending == 0
    assert m.stake == w.c.coordinator.stakes_paid(w.task_id)[bad]
    _accounted(w, accounting_holds)


# ---------------------------------------------------------------- refused by the contract


def _valid_blob(w: World, i: int) -> CommittedVector:
    t = w.trainer(i)
    update, _ = t.compute_update(w.info().global_model_root, 1)
    return t.blobs.commit_vector(BlobKind.UPDATE, update, owner=t.address)


def test_late_commit_is_refused_commit_window_closed(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: two on time, the third computes its update but sends it after the deadline
    w = _world(chain, tmp_path)
    w.trainer(0).poll()
    w.trainer(1).poll()
    vec = _valid_blob(w, 2)
    deadline = w.info().deadline
    _past(chain, deadline + 10)
    late = w.c.participants[2]

    # Execute
    with pytest.raises(ContractRevert) as exc:
        w.c.coordinator.commit_update(late, w.task_id, 1, vec.root, vec.sum_sq)

    # Assert
    err = exc.value
    assert err.error == "CoordinatorCommitWindowClosed"
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
    vec = _valid_blob(w, 0)

    # Execute
    with pytest.raises(ContractRevert) as exc:
        w.c.coordinator.commit_update(outsider, w.task_id, 1, vec.root, vec.sum_sq)

    # Assert
    assert exc.value.error == "CoordinatorNotMember"
    assert exc.value.args_by_name["account"] == outsider.address
    assert w.c.coordinator.updates(w.task_id, 1) == []
    assert w.info().committed == 0
    _accounted(w, accounting_holds)


def test_commit_to_an_unknown_task_is_refused(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    vec = _valid_blob(w, 0)
    unknown = max(w.c.coordinator.task_ids()) + 41

    # Execute
    with pytest.raises(ContractRevert) as exc:
        w.c.coordinator.commit_update(w.c.participants[0], unknown, 1, vec.root, vec.sum_sq)

    # Assert
    assert exc.value.error == "CoordinatorUnknownTask"
    assert exc.value.args_by_name["taskId"] == unknown
    assert w.c.coordinator.updates(w.task_id, 1) == []
    assert w.c.coordinator.get_member(w.task_id, w.c.participants[0].address).last_round == 0
    _accounted(w, accounting_holds)


def test_commit_above_the_norm_bound_is_refused(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: an update far over the clip norm, committed with its honest squared norm
    w = _world(chain, tmp_path)
    n, fb = w.cfg.num_parameters, w.cfg.frac_bits
    big = np.full(n, np.iinfo(np.int32).max, np.int32)
    acct = w.c.participants[0]
    vec = w.blobs.commit_vector(BlobKind.UPDATE, big, owner=acct.address)
    bound = w.info().norm_bound
    assert vec.sum_sq > bound
    assert float(np.linalg.norm(big.astype(np.float64))) * 2.0**-fb > 100 * w.cfg.clip_norm

    # Execute
    with pytest.raises(ContractRevert) as exc:
        w.c.coordinator.commit_update(acct, w.task_id, 1, vec.root, vec.sum_sq)

    # Assert
    assert exc.value.error == "CoordinatorNormAboveBound"
    assert exc.value.args_by_name["sumSq"] == vec.sum_sq
    assert exc.value.args_by_name["bound"] == bound
    assert w.c.coordinator.updates(w.task_id, 1) == []
    _accounted(w, accounting_holds)

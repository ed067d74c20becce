"""AggregatorNode (and KeeperNode) on an embedded chain + local store: the posted aggregate is
the exact Σ nᵢ·vᵢ of the included updates, the model is `apply_aggregate` of it, bad blobs are
excluded on-chain and the round still finalizes, and every token stays accounted for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import node_world as world
import numpy as np
import pytest

from fedchain.aggregation import apply_aggregate, weighted_sum
from fedchain.audit import audit_all
from fedchain.chain import AbortReason, EmbeddedChain, Phase
from fedchain.codec.blob import BlobKind, decode_vector_blob
from fedchain.codec.fixedpoint import dequantize

SAMPLES = world.SAMPLES
World = world.World
_local_data = world.local_data
_past = world.past
_accounted = world.accounted


def _world(
    chain: EmbeddedChain,
    tmp_path: Path,
    *,
    clients: int = 3,
    rounds: int = 2,
    min_participants: int = 2,
) -> World:
    return world.make_world(
        chain, tmp_path, seed=12, clients=clients, rounds=rounds, min_participants=min_participants
    )


def _vector(w: World, kind: BlobKind, digest: bytes) -> np.ndarray:
    return decode_vector_blob(
        w.store.get(digest), expected_kind=kind, expected_length=w.cfg.num_parameters
    ).values


def _commit_garbage(w: World, i: int, how: str) -> str:
    """Member ``i`` commits to a blob that is not a usable update; returns its address."""
    acct = w.c.participants[i]
    if how == "malformed":
        digest = w.store.put(b"FCV1 definitely not an update " + acct.address.encode())
    elif how == "missing":
        digest = bytes(range(1, 33))  # nobody ever stored a blob with this digest
        assert not w.store.has(digest)
    else:
        raise AssertionError(how)
    w.c.coordinator.commit_update(acct, w.task_id, w.info().round, digest, digest, len(w.data[i]))
    return str(acct.address)


def test_aggregate_is_exact_weighted_sum_and_model_is_apply_aggregate(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    for i in range(3):
        w.trainer(i).poll()
    before = w.info()

    # Execute
    action = w.aggregator(1).poll()

    # Assert: the aggregate is Σ nᵢ·vᵢ over the committed updates, recomputed from the store
    assert action is not None and action.kind == "aggregate" and action.round == 1
    ups = w.c.coordinator.updates(w.task_id, 1)
    values = [_vector(w, BlobKind.UPDATE, u.blob_digest) for u in ups]
    weights = [u.samples for u in ups]
    expected = weighted_sum(values, weights)
    # (and independently of weighted_sum, in Python integers)
    by_hand = [
        sum(int(v[k]) * n for v, n in zip(values, weights, strict=True))
        for k in range(w.cfg.num_parameters)
    ]
    assert expected.tolist() == by_hand
    agg = w.c.coordinator.aggregate(w.task_id, 1)
    assert agg is not None and agg.aggregator == w.c.participants[1].address
    assert agg.total_samples == sum(weights) == sum(len(d) for d in w.data)
    assert np.array_equal(_vector(w, BlobKind.AGGREGATE, agg.blob_digest), expected)
    # The new model is apply_aggregate of the old one and is what the digest names.
    base = _vector(w, BlobKind.MODEL, before.global_model_digest)
    model = _vector(w, BlobKind.MODEL, agg.model_digest)
    assert np.array_equal(model, apply_aggregate(base, expected, sum(weights)))
    # The step is the weighted mean of the updates, rounded to the nearest fixed-point unit.
    step = (model - base).astype(np.float64)
    assert np.all(np.abs(step * sum(weights) - expected.astype(np.float64)) <= sum(weights) / 2)
    mean = sum(
        dequantize(v, frac_bits=w.cfg.frac_bits).astype(np.float64) * n
        for v, n in zip(values, weights, strict=True)
    ) / sum(weights)
    assert np.allclose(step * 2.0**-w.cfg.frac_bits, mean, atol=2.0**-w.cfg.frac_bits)
    assert w.info().phase == Phase.CHALLENGE and w.info().pending_model_digest == agg.model_digest
    assert w.aggregator(1).poll() is None  # posts once
    _accounted(w, accounting_holds)


def test_keeper_finalizes_after_the_challenge_window_and_rewards_follow_samples(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path, rounds=1)
    for i in range(3):
        w.trainer(i).poll()
    w.aggregator(0).poll()
    agg = w.c.coordinator.aggregate(w.task_id, 1)
    assert agg is not None
    keeper = w.keeper()
    assert keeper.poll() is None  # challenge window still open

    # Execute
    _past(chain, w.info().deadline)
    action = keeper.poll()

    # Assert
    assert action is not None and action.kind == "advance"
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    assert outcome.finalized and outcome.model_digest == agg.model_digest
    info = w.info()
    assert info.phase == Phase.COMPLETED and info.global_model_digest == agg.model_digest
    per_sample = info.reward_per_round // agg.total_samples
    assert w.c.coordinator.reward_per_sample(w.task_id, 1) == per_sample
    for i, acct in enumerate(w.c.participants):
        m = w.c.coordinator.get_member(w.task_id, acct.address)
        assert m.claimable + m.pending == len(w.data[i]) * per_sample
        assert m.stake == info.stake_amount
    _accounted(w, accounting_holds)


def test_aggregator_waits_for_the_commit_window(chain: EmbeddedChain, tmp_path: Path) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    w.trainer(0).poll()
    w.trainer(1).poll()
    agg = w.aggregator(0)

    # Execute
    early = agg.poll()
    _past(chain, w.info().deadline)
    late = agg.poll()

    # Assert
    assert early is None
    assert late is not None and late.kind == "aggregate" and late.detail["included"] == 2
    posted = w.c.coordinator.aggregate(w.task_id, 1)
    assert posted is not None and posted.total_samples == len(w.data[0]) + len(w.data[1])


@pytest.mark.parametrize("how", ["malformed", "missing"])
def test_bad_blob_is_excluded_and_the_round_still_finalizes(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any, how: str
) -> None:
    # Prepare
    w = _world(chain, tmp_path, rounds=1)
    w.trainer(0).poll()
    w.trainer(1).poll()
    bad = _commit_garbage(w, 2, how)

    # Execute
    action = w.aggregator(0).poll()
    _past(chain, w.info().deadline)
    w.keeper().poll()

    # Assert
    assert action is not None
    excluded = action.detail["excluded"]
    assert isinstance(excluded, dict) and list(excluded) == [bad]
    assert excluded[bad]  # a reason is given
    assert w.c.coordinator.excluded(w.task_id, 1) == [bad]
    good = [u for u in w.c.coordinator.updates(w.task_id, 1) if u.participant != bad]
    agg = w.c.coordinator.aggregate(w.task_id, 1)
    assert agg is not None and agg.total_samples == sum(u.samples for u in good)
    values = [_vector(w, BlobKind.UPDATE, u.blob_digest) for u in good]
    assert np.array_equal(
        _vector(w, BlobKind.AGGREGATE, agg.blob_digest),
        weighted_sum(values, [u.samples for u in good]),
    )
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    assert outcome.finalized
    per_sample = w.info().reward_per_round // agg.total_samples
    bad_member = w.c.coordinator.get_member(w.task_id, bad)
    assert bad_member.claimable + bad_member.pending == 0  # excluded: earns nothing
    assert bad_member.stake == w.info().stake_amount  # ... but loses nothing either
    for u in good:
        m = w.c.coordinator.get_member(w.task_id, u.participant)
        assert m.claimable + m.pending == u.samples * per_sample
    _accounted(w, accounting_holds)


def test_too_few_valid_updates_means_no_aggregate_and_the_round_aborts(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: 1 valid + 1 malformed update with min_participants 2
    w = _world(chain, tmp_path, rounds=2, min_participants=2)
    w.trainer(0).poll()
    _commit_garbage(w, 1, "malformed")
    model_before = w.info().global_model_digest
    _past(chain, w.info().deadline)

    # Execute
    posted = w.aggregator(0).poll()
    waited = w.keeper().poll()  # not due until the aggregate window is over
    _past(chain, w.info().deadline + w.info().aggregate_duration)
    aborted = w.keeper().poll()

    # Assert
    assert posted is None and waited is None
    assert w.c.coordinator.aggregate(w.task_id, 1) is None
    assert aborted is not None and aborted.kind == "advance"
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    assert not outcome.finalized and outcome.abort_reason == AbortReason.NO_AGGREGATE
    info = w.info()
    assert info.round == 2 and info.phase == Phase.COMMIT
    assert info.global_model_digest == model_before
    assert info.pool == info.reward_per_round * info.num_rounds  # nothing paid for an aborted round
    _accounted(w, accounting_holds)
    report = audit_all(w.c.coordinator, w.c.token, w.store)  # an aborted round audits as such
    assert report.passed, report.first_failure
    assert [(v.round, v.status) for v in report.verdicts if v.round == 1] == [(1, "aborted")]

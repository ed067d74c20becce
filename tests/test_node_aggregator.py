"""AggregatorNode (and KeeperNode) on an embedded chain + local store: the posted aggregate is
the exact Σ wᵢ·vᵢ of the included updates (wᵢ the weight the chain fixed at join), the model is
`apply_aggregate` of it, bad blobs are excluded on-chain with their reason and the round still
finalizes, and every token stays accounted for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import node_world as world
import numpy as np
import pytest
from eth_utils import keccak

from fedchain.aggregation import apply_aggregate, weighted_sum
from fedchain.audit import audit_all
from fedchain.chain import AbortReason, EmbeddedChain, ExclusionReason, Phase
from fedchain.codec.blob import BlobKind
from fedchain.codec.fixedpoint import dequantize
from fedchain.node import TrainerNode
from fedchain.node.schedule import aggregate_marks

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


def _vector(w: World, kind: BlobKind, root: bytes, owner: str | None = None) -> np.ndarray:
    if owner is None:
        return w.blobs.get_vector(kind, root).values
    return w.blobs.get_vector(kind, root, owner=owner).values


def _update(w: World, u: Any) -> np.ndarray:
    return _vector(w, BlobKind.UPDATE, u.merkle_root, u.participant)


def _commit_and_publish(w: World, n: int) -> list[TrainerNode]:
    """Trainers 0..n-1 commit; the commit window closes; they publish."""
    trainers = [w.trainer(i) for i in range(n)]
    for t in trainers:
        t.poll()
    w.close_commits(trainers)
    return trainers


_WHY = {"malformed": ExclusionReason.MALFORMED, "missing": ExclusionReason.UNAVAILABLE}


def _commit_garbage(w: World, i: int, how: str) -> str:
    """Member ``i`` commits to a root whose stored object is not a usable update; returns its
    address."""
    acct = w.c.participants[i]
    if how == "malformed":
        garbage = b"FCV1 definitely not an update " + acct.address.encode()
        root = keccak(garbage)
        w.store.put_named(root, garbage)
    elif how == "missing":
        root = bytes(range(1, 33))  # nobody ever stored anything under this root
        assert not w.store.has_named(root)
    else:
        raise AssertionError(how)
    w.c.coordinator.commit_update(acct, w.task_id, w.info().round, root, 1)
    return str(acct.address)


def test_aggregate_is_exact_weighted_sum_and_model_is_apply_aggregate(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    _commit_and_publish(w, 3)
    before = w.info()

    # Execute
    action = w.aggregator(1).poll()

    # Assert: the aggregate is Σ wᵢ·vᵢ over the committed updates, recomputed from the store
    assert action is not None and action.kind == "aggregate" and action.round == 1
    ups = w.c.coordinator.updates(w.task_id, 1)
    values = [_update(w, u) for u in ups]
    chain_weights = w.c.coordinator.round_weights(w.task_id, 1)
    weights = [chain_weights[u.participant] for u in ups]
    assert weights == [len(d) for d in w.data]  # below the cap: weight = declared samples
    expected = weighted_sum(values, weights)
    # (and independently of weighted_sum, in Python integers)
    by_hand = [
        sum(int(v[k]) * n for v, n in zip(values, weights, strict=True))
        for k in range(w.cfg.num_parameters)
    ]
    assert expected.tolist() == by_hand
    agg = w.c.coordinator.aggregate(w.task_id, 1)
    assert agg is not None and agg.aggregator == w.c.participants[1].address
    assert agg.included_weight == sum(weights) == sum(len(d) for d in w.data)
    assert np.array_equal(_vector(w, BlobKind.AGGREGATE, agg.merkle_root), expected)
    # The new model is apply_aggregate of the old one and is what the root names.
    base = _vector(w, BlobKind.MODEL, before.global_model_root)
    model = _vector(w, BlobKind.MODEL, agg.model_root)
    assert np.array_equal(model, apply_aggregate(base, expected, sum(weights)))
    assert w.blobs.model_root(model) == agg.model_root
    # The step is the weighted mean of the updates, rounded to the nearest fixed-point unit.
    step = (model - base).astype(np.float64)
    assert np.all(np.abs(step * sum(weights) - expected.astype(np.float64)) <= sum(weights) / 2)
    mean = sum(
        dequantize(v, frac_bits=w.cfg.frac_bits).astype(np.float64) * n
        for v, n in zip(values, weights, strict=True)
    ) / sum(weights)
    assert np.allclose(step * 2.0**-w.cfg.frac_bits, mean, atol=2.0**-w.cfg.frac_bits)
    assert w.info().phase == Phase.CHALLENGE and w.info().pending_model_root == agg.model_root
    assert w.aggregator(1).poll() is None  # posts once (and has nothing to defend)
    _accounted(w, accounting_holds)


def test_keeper_finalizes_after_the_challenge_window_and_rewards_follow_weights(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path, rounds=1)
    _commit_and_publish(w, 3)
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
    assert outcome.finalized and outcome.model_root == agg.model_root
    info = w.info()
    assert info.phase == Phase.COMPLETED and info.global_model_root == agg.model_root
    per_weight = info.reward_per_round // w.c.coordinator.round_weight(w.task_id, 1)
    assert w.c.coordinator.reward_per_weight(w.task_id, 1) == per_weight
    stakes = w.c.coordinator.stakes_paid(w.task_id)
    for i, acct in enumerate(w.c.participants):
        m = w.c.coordinator.get_member(w.task_id, acct.address)
        assert m.claimable + m.pending == len(w.data[i]) * per_weight
        assert (
            m.stake
            == stakes[acct.address]
            == info.stake_amount + info.stake_per_sample * len(w.data[i])
        )
    _accounted(w, accounting_holds)


def test_aggregator_waits_for_the_commit_window(chain: EmbeddedChain, tmp_path: Path) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    trainers = [w.trainer(0), w.trainer(1)]
    for t in trainers:
        t.poll()
    agg = w.aggregator(0)

    # Execute
    early = agg.poll()
    w.close_commits(trainers)
    late = agg.poll()

    # Assert
    assert early is None
    assert late is not None and late.kind == "aggregate" and late.detail["included"] == 2
    posted = w.c.coordinator.aggregate(w.task_id, 1)
    assert posted is not None and posted.included_weight == len(w.data[0]) + len(w.data[1])


def test_aggregator_waits_for_publications_then_excludes_what_is_still_missing(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: three commit, only two publish once the window closed
    w = _world(chain, tmp_path, rounds=1)
    trainers = [w.trainer(i) for i in range(3)]
    for t in trainers:
        t.poll()
    w.close_commits(trainers[:2])

    # Execute: before publications are due it waits; after, it posts without the missing one
    early = w.aggregator(0).poll()
    due = aggregate_marks(w.info())[0]
    _past(chain, due)
    action = w.aggregator(0).poll()

    # Assert
    assert early is None and w.c.coordinator.aggregate(w.task_id, 1) is not None
    assert action is not None and action.kind == "aggregate"
    late = trainers[2].address
    assert w.c.coordinator.excluded(w.task_id, 1) == {late: ExclusionReason.UNAVAILABLE}
    assert trainers[2].poll() is not None  # it publishes, too late to count


def test_an_update_published_before_it_is_due_is_counted(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: the third trainer publishes a little late, but before publications are due
    w = _world(chain, tmp_path, rounds=1)
    trainers = [w.trainer(i) for i in range(3)]
    for t in trainers:
        t.poll()
    w.close_commits(trainers[:2])
    assert w.aggregator(0).poll() is None
    assert trainers[2].poll() is not None  # publishes now

    # Execute
    action = w.aggregator(0).poll()

    # Assert: all three counted, nobody excluded
    assert action is not None and action.detail["included"] == 3
    assert w.c.coordinator.excluded(w.task_id, 1) == {}


@pytest.mark.parametrize("how", ["malformed", "missing"])
def test_bad_blob_is_excluded_and_the_round_still_finalizes(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any, how: str
) -> None:
    # Prepare
    w = _world(chain, tmp_path, rounds=1)
    trainers = [w.trainer(0), w.trainer(1)]
    for t in trainers:
        t.poll()
    bad = _commit_garbage(w, 2, how)
    w.close_commits(trainers)
    if how == "missing":
        # nothing under the root yet: the aggregator gives its owner until publications are due
        assert w.aggregator(0).poll() is None
        _past(chain, aggregate_marks(w.info())[0])

    # Execute
    action = w.aggregator(0).poll()
    _past(chain, w.info().deadline)
    w.keeper().poll()

    # Assert
    assert action is not None
    excluded = action.detail["excluded"]
    assert isinstance(excluded, dict) and list(excluded) == [bad]
    assert excluded[bad]  # a reason is given
    assert w.c.coordinator.excluded(w.task_id, 1) == {bad: _WHY[how]}
    good = [u for u in w.c.coordinator.updates(w.task_id, 1) if u.participant != bad]
    weights = w.c.coordinator.round_weights(w.task_id, 1)
    agg = w.c.coordinator.aggregate(w.task_id, 1)
    assert agg is not None
    assert agg.included_weight == sum(weights[u.participant] for u in good)
    values = [_update(w, u) for u in good]
    assert np.array_equal(
        _vector(w, BlobKind.AGGREGATE, agg.merkle_root),
        weighted_sum(values, [weights[u.participant] for u in good]),
    )
    (outcome,) = w.c.coordinator.round_outcomes(w.task_id)
    assert outcome.finalized
    # Rewards are shared over the committed weight: the excluded share stays in the pool.
    per_weight = w.info().reward_per_round // w.c.coordinator.round_weight(w.task_id, 1)
    assert w.c.coordinator.reward_per_weight(w.task_id, 1) == per_weight
    bad_member = w.c.coordinator.get_member(w.task_id, bad)
    assert bad_member.claimable + bad_member.pending == 0  # excluded: earns nothing
    assert bad_member.stake == w.c.coordinator.stakes_paid(w.task_id)[bad]  # ... loses nothing
    for u in good:
        m = w.c.coordinator.get_member(w.task_id, u.participant)
        assert m.claimable + m.pending == weights[u.participant] * per_weight
    assert w.info().pool == w.info().reward_per_round - sum(
        weights[u.participant] * per_weight for u in good
    )
    _accounted(w, accounting_holds)


def test_too_few_valid_updates_means_no_aggregate_and_the_round_aborts(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: 1 valid + 1 malformed update with min_participants 2
    w = _world(chain, tmp_path, rounds=2, min_participants=2)
    t0 = w.trainer(0)
    t0.poll()
    _commit_garbage(w, 1, "malformed")
    model_before = w.info().global_model_root
    w.close_commits([t0])

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
    assert info.global_model_root == model_before
    assert info.pool == info.reward_per_round * info.num_rounds  # nothing paid for an aborted round
    _accounted(w, accounting_holds)
    report = audit_all(w.c.coordinator, w.c.token, w.store)  # an aborted round audits as such
    assert report.passed, report.failures
    assert [(v.round, v.status) for v in report.verdicts if v.round == 1] == [(1, "aborted")]

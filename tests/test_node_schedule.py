"""`schedule.commit_target / advance_due / next_deadline` against what the contract accepts.

Nodes never guess: they read the task and ask these rules which transaction the contract would
accept now. Each test puts the task in a state, asks the rules, then sends the transaction and
checks the contract agrees (a refused `advance` must be CoordinatorNothingToAdvance, a refused
commit CoordinatorCommitWindowClosed).
"""

from __future__ import annotations

from pathlib import Path

import node_world as world
import pytest

from fedchain.audit import accounting_verdict
from fedchain.chain import AbortReason, ContractRevert, EmbeddedChain, Phase
from fedchain.codec.blob import BlobKind
from fedchain.node import (
    advance_due,
    commit_target,
    next_deadline,
)

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
    rounds: int = 3,
    min_participants: int = 2,
) -> World:
    return world.make_world(
        chain, tmp_path, seed=13, clients=clients, rounds=rounds, min_participants=min_participants
    )


def _clock_to(chain: EmbeddedChain, t: int) -> None:
    """Make the latest block's timestamp exactly ``t`` (jump close, then mine one block per second)."""
    if t - chain.now() > 4:
        chain.advance_time(t - chain.now() - 3)
    filler = "0x000000000000000000000000000000000000dEaD"
    while chain.now() < t:
        chain.fund(filler, 1)  # one transaction = one block, one second later
    assert chain.now() == t, (chain.now(), t)


def _advance_refused(w: World) -> ContractRevert:
    with pytest.raises(ContractRevert) as exc:
        w.advance()
    assert exc.value.error == "CoordinatorNothingToAdvance"
    return exc.value


def test_a_round_walked_through_predictions_match_the_contract(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare
    w = _world(chain, tmp_path, rounds=3)
    trainers = [w.trainer(i) for i in range(3)]

    # Execute + Assert, state by state.
    # 1. Round 1 open: commit is possible, advance is not.
    info, now = w.info(), chain.next_block_time()
    assert commit_target(info, now) == (1, info.global_model_root)
    assert not advance_due(info, now)
    assert next_deadline(info, now) == info.deadline
    err = _advance_refused(w)
    assert err.args_by_name["deadline"] == info.deadline

    # 2. Everyone committed before the deadline: the window is closed for commits (effective
    #    phase Aggregate) but no deadline passed, so nothing to advance.
    for t in trainers:
        t.poll()
    info, now = w.info(), chain.next_block_time()
    assert info.phase == Phase.AGGREGATE and now < info.deadline
    assert commit_target(info, now) is None
    assert not advance_due(info, now)
    assert next_deadline(info, now) == info.deadline
    _advance_refused(w)
    #    Only now may the trainers publish their updates (the roots hid them until then).
    assert [a.kind if a else None for a in (t.poll() for t in trainers)] == ["publish"] * 3

    # 3. Aggregate posted: challenge window open.
    w.aggregator(0).poll()
    info, now = w.info(), chain.next_block_time()
    assert info.phase == Phase.CHALLENGE
    assert commit_target(info, now) is None
    assert not advance_due(info, now)
    assert next_deadline(info, now) == info.deadline
    _advance_refused(w)

    # 4. Challenge window over: advance is due, and round 2 is already committable on the
    #    pending model (the first commit of round 2 finalizes round 1).
    _past(chain, info.deadline)
    info, now = w.info(), chain.next_block_time()
    assert advance_due(info, now)
    assert commit_target(info, now) == (2, info.pending_model_root)
    action = trainers[0].poll()
    assert action is not None and action.round == 2
    (r1,) = w.c.coordinator.round_outcomes(w.task_id)
    assert r1.finalized and r1.model_root == info.pending_model_root
    info = w.info()
    assert (info.round, info.global_model_root) == (2, r1.model_root)

    # 5. Round 2 with 1 commit < min_participants: after the deadline an abort is due.
    _past(chain, info.deadline)
    info, now = w.info(), chain.next_block_time()
    assert commit_target(info, now) is None
    assert advance_due(info, now)
    w.advance()
    assert w.c.coordinator.round_outcomes(w.task_id)[-1].abort_reason == AbortReason.TOO_FEW_UPDATES

    # 6. Round 3 with enough commits but no aggregate: nothing due until the aggregate window ends.
    trainers[1].poll()
    trainers[2].poll()
    _past(chain, w.info().deadline)
    info, now = w.info(), chain.next_block_time()
    assert info.round == 3 and info.phase == Phase.AGGREGATE
    assert commit_target(info, now) is None
    assert not advance_due(info, now)
    # publications are due a quarter in (an incumbent that cannot read enough may yield), the
    # incumbent's grace ends at half (backups may post), then the window ends
    assert next_deadline(info, now) == info.deadline + info.aggregate_duration // 4
    _past(chain, info.deadline + info.aggregate_duration // 4)
    info, now = w.info(), chain.next_block_time()
    assert next_deadline(info, now) == info.deadline + info.aggregate_duration // 2
    _past(chain, info.deadline + info.aggregate_duration // 2)
    info, now = w.info(), chain.next_block_time()
    assert next_deadline(info, now) == info.deadline + info.aggregate_duration
    _advance_refused(w)
    _past(chain, info.deadline + info.aggregate_duration)
    info, now = w.info(), chain.next_block_time()
    assert advance_due(info, now)
    w.advance()
    last = w.c.coordinator.round_outcomes(w.task_id)[-1]
    assert (last.round, last.abort_reason) == (3, AbortReason.NO_AGGREGATE)

    # 7. Completed: nothing will ever be due again.
    info, now = w.info(), chain.next_block_time()
    assert info.phase == Phase.COMPLETED
    assert commit_target(info, now) is None
    assert not advance_due(info, now)
    assert next_deadline(info, now) is None
    _advance_refused(w)
    v = accounting_verdict(w.c.coordinator, w.c.token, [w.task_id])
    assert v.passed, v.problems


def test_commit_target_agrees_with_the_contract_at_the_deadline(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    """At every second around the commit deadline, `commit_target` says yes exactly when the
    contract accepts the commit. A transaction sent now lands in a later block (timestamps
    strictly increase), so "yes" at ``deadline - 1`` would be a promise the contract breaks."""
    # Prepare: five members, each tries once at a different second around the deadline.
    w = _world(chain, tmp_path, clients=5, rounds=1)
    deadline = w.info().deadline
    base = w.info().global_model_root
    blobs = []
    for i in range(5):
        t = w.trainer(i)
        update, _ = t.compute_update(base, 1)
        blobs.append(t.blobs.commit_vector(BlobKind.UPDATE, update, owner=t.address))
    _clock_to(chain, deadline - 3)

    # Execute: member i asks the rule at the current second, then commits anyway.
    seen: list[tuple[int, bool, bool, str]] = []
    for i, acct in enumerate(w.c.participants):
        info, now = w.info(), chain.next_block_time()
        predicted = commit_target(info, now) is not None
        try:
            w.c.coordinator.commit_update(acct, w.task_id, 1, blobs[i].root, blobs[i].sum_sq)
            accepted, why = True, ""
        except ContractRevert as exc:
            accepted, why = False, exc.error
        seen.append((now - deadline, predicted, accepted, why))

    # Assert
    offsets = [s[0] for s in seen]
    assert offsets[0] <= -2 and offsets[-1] >= 0  # both sides of the deadline were probed
    assert all(why in ("", "CoordinatorCommitWindowClosed") for *_, why in seen), seen
    wrong = [s for s in seen if s[1] != s[2]]
    assert not wrong, (
        f"commit_target disagrees with the contract (now - deadline, predicted, accepted, error): {wrong}"
    )


def test_advance_due_agrees_with_the_contract_at_the_challenge_deadline(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    """`advance_due` is documented as "True when `advance` would succeed": probe each second
    up to the challenge deadline until `advance` goes through."""
    # Prepare
    w = _world(chain, tmp_path, rounds=1)
    trainers = [w.trainer(i) for i in range(3)]
    for t in trainers:
        t.poll()
    w.close_commits(trainers)
    assert w.aggregator(0).poll() is not None
    deadline = w.info().deadline
    _clock_to(chain, deadline - 3)

    # Execute
    seen: list[tuple[int, bool, bool]] = []
    for _ in range(6):
        info, now = w.info(), chain.next_block_time()
        predicted = advance_due(info, now)
        try:
            w.advance()
            accepted = True
        except ContractRevert as exc:
            assert exc.error == "CoordinatorNothingToAdvance"
            accepted = False
        seen.append((now - deadline, predicted, accepted))
        if accepted:
            break

    # Assert
    assert seen[-1][2], f"advance never succeeded: {seen}"
    assert w.info().phase == Phase.COMPLETED
    wrong = [s for s in seen if s[1] != s[2]]
    assert not wrong, (
        f"advance_due disagrees with the contract (now - deadline, predicted, accepted): {wrong}"
    )

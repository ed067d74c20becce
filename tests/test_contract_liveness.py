"""Liveness of the aggregator role on the embedded chain: the last aggregator (the incumbent)
holds the first half of each aggregate window; any other member may post after it; an
incumbent that let its grace pass loses SILENT_SLASH_BPS of its stake when another member's
aggregate finalizes the round (half to that member, half to the pool), and only then."""

from __future__ import annotations

import pytest
from dispute_world import World, revert_name, world

from fedchain.chain import ContractRevert, Fault, Phase, Target

SILENT_BPS = 100


def _round_one(w: World) -> None:
    """Round 1 aggregated by member 0, who becomes the incumbent."""
    w.commit_all(1)
    w.travel_past_commit()
    assert w.coord.aggregate_grace(w.task_id) == (None, 0)  # nobody aggregated yet
    w.post(w.members[0], 1)
    w.finalize()


def _silent_slashes(w: World) -> list[dict[str, object]]:
    return [x for x in w.coord.slashes(w.task_id) if x["fault"] == Fault.SILENT]


def test_backup_waits_for_the_grace_then_the_silent_incumbent_is_slashed_at_finalize() -> None:
    w = world(num_rounds=3)
    inc, backup = w.members[0], w.members[1]
    _round_one(w)
    w.commit_all(2)
    w.travel_past_commit()
    info = w.task()
    holder, grace_end = w.coord.aggregate_grace(w.task_id)
    assert holder == inc.address
    assert grace_end == info.deadline + info.aggregate_duration // 2
    with pytest.raises(ContractRevert) as err:
        w.post(backup, 2)
    assert revert_name(err.value) == "CoordinatorGraceHeld"

    w.travel_past(grace_end)
    stake0 = w.member(inc).stake
    pool0 = w.task().pool
    w.post(backup, 2)
    assert w.coord.silent_aggregators(w.task_id) == [(2, inc.address)]
    assert w.member(inc).stake == stake0  # not yet: only a finalized round proves it
    claim0 = w.member(backup).claimable
    w.finalize()
    amount = stake0 * SILENT_BPS // 10_000
    assert w.member(inc).stake == stake0 - amount
    (slash,) = _silent_slashes(w)
    assert (slash["round"], slash["address"], slash["amount"]) == (2, inc.address, amount)
    assert slash["beneficiary"] == backup.address and slash["to_beneficiary"] == amount // 2
    assert w.member(backup).claimable >= claim0 + amount // 2
    credited = w.coord.round_outcomes(w.task_id)[-1].rewards_credited
    assert w.task().pool == pool0 - credited + (amount - amount // 2)
    w.assert_identity()
    # The backup is the incumbent now; the silent member no longer holds a grace.
    w.commit_all(3)
    w.travel_past_commit()
    assert w.coord.aggregate_grace(w.task_id)[0] == backup.address


def test_incumbent_posting_in_its_grace_or_late_is_not_slashed() -> None:
    w = world(num_rounds=3)
    inc = w.members[0]
    _round_one(w)
    w.commit_all(2)
    w.travel_past_commit()
    w.post(inc, 2)  # in its grace
    w.finalize()
    w.commit_all(3)
    w.travel_past_commit()
    _, grace_end = w.coord.aggregate_grace(w.task_id)
    w.travel_past(grace_end)
    w.post(inc, 3)  # late, but before anyone else: not silent
    w.finalize()
    assert _silent_slashes(w) == []
    assert w.coord.silent_aggregators(w.task_id) == []
    w.assert_identity()


def _refute_model(w: World, rnd: int) -> None:
    """Refute the last posted aggregate of the round (its model is wrong) in one step."""
    p = w.posted[rnd][-1]
    g, a, m = w.global_tree, p.agg_tree, p.model_tree
    w.disputes.prove_model(
        w.outsiders[0],
        w.task_id,
        rnd,
        0,
        g.chunk(0),
        g.proof(0),
        a.chunk(0),
        a.proof(0),
        m.chunk(0),
        m.proof(0),
    )


def _wrong_model(m):  # noqa: ANN001, ANN202
    m[0] += 1
    return m


def _backup_refuted_after_the_grace(w: World, backup: object) -> None:
    """Round 2: the incumbent (member 0) stays silent through its grace; ``backup`` posts a
    wrong model and is refuted, so the window reopens."""
    _round_one(w)
    w.commit_all(2)
    w.travel_past_commit()
    w.travel_past(w.coord.aggregate_grace(w.task_id)[1])
    w.post(backup, 2, tamper_model=_wrong_model)  # type: ignore[arg-type]
    _refute_model(w, 2)


def test_refuted_incumbent_holds_no_grace_and_is_not_slashed_for_silence() -> None:
    w = world(num_rounds=2)
    inc, backup = w.members[0], w.members[1]
    _round_one(w)
    w.commit_all(2)
    w.travel_past_commit()
    w.post(inc, 2, tamper_model=_wrong_model)
    _refute_model(w, 2)
    assert w.task().phase == Phase.AGGREGATE
    assert w.coord.aggregate_grace(w.task_id) == (None, 0)  # barred: no grace to wait for
    w.post(backup, 2)  # at once
    w.finalize()
    assert _silent_slashes(w) == []
    w.assert_identity()


def test_silent_incumbent_that_posts_after_a_refuted_backup_is_not_slashed() -> None:
    w = world(num_rounds=2)
    inc, backup, third = w.members[0], w.members[1], w.members[2]
    _backup_refuted_after_the_grace(w, backup)
    # The incumbent already let its grace pass: it holds none in the reopened window.
    assert w.coord.aggregate_grace(w.task_id) == (None, 0)
    with pytest.raises(ContractRevert) as err:
        w.coord.leave_task(inc, w.task_id)  # its liveness slash is pending: it may not run
    assert revert_name(err.value) == "CoordinatorInOpenRound"
    w.post(inc, 2)
    w.finalize()
    assert _silent_slashes(w) == []  # it posted the aggregate that finalized
    assert third.address not in {x["address"] for x in w.coord.slashes(w.task_id)}
    w.assert_identity()


def test_silent_incumbent_is_slashed_once_a_third_member_finalizes_after_a_refuted_backup() -> None:
    w = world(num_rounds=2)
    inc, backup, third = w.members[0], w.members[1], w.members[2]
    _backup_refuted_after_the_grace(w, backup)
    stake0 = w.member(inc).stake
    w.post(third, 2)
    w.finalize()
    (slash,) = _silent_slashes(w)
    assert slash["address"] == inc.address and slash["beneficiary"] == third.address
    assert w.member(inc).stake == stake0 - stake0 * SILENT_BPS // 10_000
    w.assert_identity()


def test_aborted_round_slashes_nobody_and_forgets_the_silence() -> None:
    w = world(num_rounds=3)
    backup = w.members[1]
    _backup_refuted_after_the_grace(w, backup)
    info = w.task()
    w.travel_past(info.deadline + info.aggregate_duration)  # nobody reposts
    w.coord.advance(w.sponsor, w.task_id)
    assert w.coord.round_outcomes(w.task_id)[-1].finalized is False
    assert _silent_slashes(w) == []
    # Round 3: the refuted backup posted last, so it is the incumbent; the old one may run.
    w.commit_all(3)
    w.travel_past_commit()
    assert w.coord.aggregate_grace(w.task_id)[0] == backup.address
    w.post(backup, 3)
    w.finalize()
    assert _silent_slashes(w) == []
    w.assert_identity()


def test_an_incumbent_that_left_holds_no_grace() -> None:
    w = world(num_rounds=2)
    inc, backup = w.members[0], w.members[1]
    _round_one(w)
    w.commit_all(2, [m for m in w.members if m != inc])
    w.coord.leave_task(inc, w.task_id)  # it did not commit round 2: it may leave
    w.travel_past_commit()
    assert w.coord.aggregate_grace(w.task_id) == (None, 0)
    w.post(backup, 2)
    w.finalize()
    assert _silent_slashes(w) == []
    w.assert_identity()


def test_availability_timeout_of_the_incumbent_opens_the_window_to_everyone() -> None:
    w = world(num_rounds=2)
    inc, backup = w.members[0], w.members[1]
    _round_one(w)
    w.commit_all(2)
    w.travel_past_commit()
    w.post(inc, 2)
    gid = w.disputes.challenge_availability(w.outsiders[0], w.task_id, 2, Target.AGGREGATE, None, 0)
    w.travel_past(w.chain.now() + w.spec.response_duration)
    w.disputes.timeout(w.outsiders[0], gid)
    assert w.coord.aggregate_grace(w.task_id) == (None, 0)
    w.post(backup, 2)
    w.finalize()
    assert _silent_slashes(w) == []
    w.assert_identity()


def test_an_incumbent_that_yields_opens_the_window_and_is_not_slashed() -> None:
    w = world(num_rounds=2)
    inc, backup = w.members[0], w.members[1]
    _round_one(w)
    w.commit_all(2, w.members[:-1])
    with pytest.raises(ContractRevert) as err:
        w.coord.yield_grace(inc, w.task_id, 2)  # the commit window is still open
    assert revert_name(err.value) == "CoordinatorWrongPhase"
    w.commit_all(2, w.members[-1:])
    w.travel_past_commit()
    with pytest.raises(ContractRevert) as err:
        w.coord.yield_grace(backup, w.task_id, 2)  # only the holder may yield
    assert revert_name(err.value) == "CoordinatorNotGraceHolder"
    with pytest.raises(ContractRevert) as err:
        w.coord.yield_grace(inc, w.task_id, 3)
    assert revert_name(err.value) == "CoordinatorRoundMismatch"
    w.coord.yield_grace(inc, w.task_id, 2)
    assert w.coord.yielded(w.task_id) == [(2, inc.address)]
    assert w.coord.aggregate_grace(w.task_id) == (None, 0)
    with pytest.raises(ContractRevert) as err:
        w.coord.yield_grace(inc, w.task_id, 2)  # once
    assert revert_name(err.value) == "CoordinatorNotGraceHolder"
    with pytest.raises(ContractRevert) as err:
        w.post(inc, 2)  # it gave the round up
    assert revert_name(err.value) == "CoordinatorBarred"
    w.post(backup, 2)  # at once, no grace to wait for
    w.finalize()
    assert _silent_slashes(w) == [] and w.coord.silent_aggregators(w.task_id) == []
    w.assert_identity()


def test_an_incumbent_that_let_its_grace_pass_can_no_longer_yield() -> None:
    w = world(num_rounds=2)
    inc, backup = w.members[0], w.members[1]
    _round_one(w)
    w.commit_all(2)
    w.travel_past_commit()
    w.travel_past(w.coord.aggregate_grace(w.task_id)[1])
    w.post(backup, 2)
    with pytest.raises(ContractRevert) as err:
        w.coord.yield_grace(inc, w.task_id, 2)
    assert revert_name(err.value) == "CoordinatorWrongPhase"  # the window closed with the post
    w.finalize()
    assert [x["address"] for x in _silent_slashes(w)] == [inc.address]

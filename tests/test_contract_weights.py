"""Bounded weights: a member's aggregation and reward weight is its declared sample count,
capped at ``weight_cap_pct`` % of the median declared count (checked on-chain from the
sponsor's hint), or 1 for every member with uniform weights; the stake grows with the declared
count; a member joining mid-round takes part from the next round only."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from fedchain.chain import ContractRevert, Phase, derive_account

REWARD = 10**19
STAKE = 10**18


def _commit(coordinator: Any, digest: Any, member: Any, task_id: int, rnd: int) -> Any:
    return coordinator.commit_update(
        member, task_id, rnd, digest(f"w:{task_id}:{rnd}:{member.address}"), 1
    )


def _finish_round(
    chain: Any, coordinator: Any, digest: Any, aggregator: Any, task_id: int, rnd: int
) -> None:
    coordinator.post_aggregate(
        aggregator, task_id, rnd, digest(f"agg:{task_id}:{rnd}"), digest(f"m:{task_id}:{rnd}")
    )
    chain.advance_time(coordinator.get_task(task_id).deadline - chain.now() + 2)
    coordinator.advance(aggregator, task_id)


def _ten_members(chain: Any, accounts: Any) -> list[Any]:
    extra = [derive_account("fedchain-weights", i) for i in range(4)]
    for a in extra:
        chain.fund(a.address, 10 * 10**18)
    return [*accounts.members, *extra]


def test_an_inflated_declaration_buys_at_most_twice_its_fair_share(
    chain: Any,
    coordinator: Any,
    token: Any,
    accounts: Any,
    make_task: Any,
    accounting_holds: Any,
    digest: Any,
) -> None:
    """One of ten members declares 2**24 - 1 samples (it has 10); the nine others declare their
    small true counts. Its weight, and so its share of the round's weight and reward, is at most
    2 × max(its true share, 1/10)."""
    members = _ten_members(chain, accounts)
    liar = members[-1]
    honest = [5, 8, 10, 12, 7, 9, 11, 6, 10]
    true_count = 10
    declared = [*honest, 2**24 - 1]
    tid = make_task(members, num_rounds=1, declared=declared)  # hint: the lower median, 9

    t = coordinator.get_task(tid)
    assert t.weight_cap == 18 == coordinator.weight_cap_event(tid)  # 200% of the median 9
    weights = [coordinator.get_member(tid, m.address).weight for m in members]
    assert weights == [*[min(n, 18) for n in honest], 18]
    detail = coordinator.joined_detail(tid)
    assert [d[1] for d in detail] == declared and all(d[3] for d in detail)

    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    t = coordinator.get_task(tid)
    assert t.total_weight == sum(weights)
    _finish_round(chain, coordinator, digest, members[0], tid, 1)

    bound = 2 * max(Fraction(true_count, sum(honest) + true_count), Fraction(1, 10))
    weight_share = Fraction(weights[-1], t.total_weight)
    (outcome,) = coordinator.round_outcomes(tid)
    reward_share = Fraction(coordinator.get_member(tid, liar.address).pending, REWARD)
    credited_share = Fraction(
        coordinator.get_member(tid, liar.address).pending, outcome.rewards_credited
    )
    assert weight_share <= bound, (weight_share, bound)
    assert reward_share <= credited_share == weight_share
    # Without the cap the liar would have taken almost everything.
    assert Fraction(declared[-1], sum(declared)) > Fraction(99, 100)
    assert accounting_holds(coordinator, token)


def test_uniform_weights_give_every_member_weight_one(
    chain: Any,
    coordinator: Any,
    token: Any,
    accounts: Any,
    make_task: Any,
    accounting_holds: Any,
    events: Any,
    digest: Any,
) -> None:
    members = accounts.members[:4]
    declared = [1, 50, 2**24 - 1, 7]
    tid = make_task(members, start=False, num_rounds=1, weight_cap_pct=0, declared=declared)
    # No median to check with uniform weights: any hint is taken (and only reported).
    r = coordinator.start_task(accounts.sponsor, tid, 12345)
    (capped,) = events(coordinator.contract, r, "WeightsCapped")
    assert (capped["median"], capped["cap"]) == (12345, 1)
    assert coordinator.get_task(tid).weight_cap == 1
    assert [coordinator.get_member(tid, m.address).weight for m in members] == [1, 1, 1, 1]
    assert [d[2] for d in coordinator.joined_detail(tid)] == [1, 1, 1, 1]

    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    assert coordinator.get_task(tid).total_weight == 4
    _finish_round(chain, coordinator, digest, members[0], tid, 1)
    assert coordinator.reward_per_weight(tid, 1) == REWARD // 4
    for m in members:
        assert coordinator.get_member(tid, m.address).pending == REWARD // 4
    assert accounting_holds(coordinator, token)


def test_a_wrong_median_hint_is_refused_and_changes_nothing(
    chain: Any, coordinator: Any, token: Any, accounts: Any, make_task: Any, accounting_holds: Any
) -> None:
    members = _ten_members(chain, accounts)
    declared = [5, 8, 10, 12, 7, 9, 11, 6, 10, 2**24 - 1]  # medians: any hint in [9, 10]
    tid = make_task(members, start=False, declared=declared)
    before = coordinator.get_task(tid)
    for hint in (2**24 - 1, 100, 11, 8, 0):
        with pytest.raises(ContractRevert) as info:
            coordinator.start_task(accounts.sponsor, tid, hint)
        assert info.value.error == "CoordinatorNotMedian", str(info.value)
        args = info.value.args_by_name
        assert args["hint"] == hint
        assert args["below"] == sum(n < hint for n in declared)
        assert args["above"] == sum(n > hint for n in declared)
        assert 2 * max(args["below"], args["above"]) > len(declared)
    assert coordinator.get_task(tid) == before
    assert before.phase == Phase.REGISTRATION and before.weight_cap == 0
    assert [coordinator.get_member(tid, m.address).weight for m in members] == declared
    assert accounting_holds(coordinator, token)
    coordinator.start_task(accounts.sponsor, tid, 10)  # the upper median is a median too
    assert coordinator.get_task(tid).weight_cap == 20


def test_stake_grows_with_the_declared_count(
    coordinator: Any,
    token: Any,
    accounts: Any,
    make_task: Any,
    accounting_holds: Any,
    events: Any,
) -> None:
    per_sample = 10**15
    members = accounts.members[:3]
    tid = make_task([], start=False, join=False, stake_per_sample=per_sample)
    assert coordinator.get_task(tid).stake_per_sample == per_sample
    for m, n in zip(members, (1, 100, 2**24 - 1), strict=True):
        stake = STAKE + per_sample * n
        token.transfer(accounts.sponsor, m.address, stake)
        token.approve(m, coordinator.address, stake)
        held = token.balance_of(coordinator.address)
        r = coordinator.join(m, tid, n)
        (joined,) = events(coordinator.contract, r, "Joined")
        assert (joined["stake"], joined["declared"], joined["weight"]) == (stake, n, n)
        assert token.balance_of(coordinator.address) - held == stake
        assert token.balance_of(m.address) == 0
        assert coordinator.get_member(tid, m.address).stake == stake
        assert accounting_holds(coordinator, token)
    # Too little approved for the declared count: the token refuses the transfer.
    late = accounts.members[4]
    token.transfer(accounts.sponsor, late.address, STAKE + per_sample * 50)
    token.approve(late, coordinator.address, STAKE + per_sample * 50 - 1)
    with pytest.raises(ContractRevert) as info:
        coordinator.join(late, tid, 50)
    assert info.value.error == "ERC20InsufficientAllowance"
    # Leaving returns the whole stake.
    before = token.balance_of(members[2].address)
    coordinator.leave_task(members[2], tid)
    assert token.balance_of(members[2].address) - before == STAKE + per_sample * (2**24 - 1)
    assert accounting_holds(coordinator, token)


def test_a_mid_round_joiner_cannot_commit_and_does_not_hold_the_window_open(
    chain: Any,
    coordinator: Any,
    token: Any,
    accounts: Any,
    make_task: Any,
    accounting_holds: Any,
    events: Any,
    digest: Any,
) -> None:
    members = accounts.members[:3]
    late = accounts.members[3]
    tid = make_task(members, num_rounds=2)  # declared 10 each: cap 20
    token.transfer(accounts.sponsor, late.address, STAKE)
    token.approve(late, coordinator.address, STAKE)
    r = coordinator.join(late, tid, 1000)
    (joined,) = events(coordinator.contract, r, "Joined")
    assert (joined["declared"], joined["weight"]) == (1000, 20)  # capped at once
    t = coordinator.get_task(tid)
    assert (t.round, t.members) == (1, 3)  # counts from round 2
    with pytest.raises(ContractRevert) as info:
        _commit(coordinator, digest, late, tid, 1)
    assert info.value.error == "CoordinatorAlreadyCommitted"
    assert info.value.args_by_name["account"] == late.address

    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    t = coordinator.get_task(tid)
    # Everyone who counts committed: the window closed before its deadline.
    assert chain.now() < t.deadline and t.phase == Phase.AGGREGATE
    assert (t.committed, t.total_weight) == (3, 30)
    _finish_round(chain, coordinator, digest, late, tid, 1)  # the joiner may aggregate
    assert coordinator.get_member(tid, late.address).pending == 0

    t = coordinator.get_task(tid)
    assert (t.round, t.members, t.phase) == (2, 4, Phase.COMMIT)
    for m in members:
        _commit(coordinator, digest, m, tid, 2)
    assert coordinator.get_task(tid).phase == Phase.COMMIT  # waits for the joiner now
    _commit(coordinator, digest, late, tid, 2)
    t = coordinator.get_task(tid)
    assert t.phase == Phase.AGGREGATE and (t.committed, t.total_weight) == (4, 50)
    _finish_round(chain, coordinator, digest, late, tid, 2)  # the incumbent aggregates again
    assert coordinator.get_member(tid, late.address).pending == 20 * (REWARD // 50)
    assert accounting_holds(coordinator, token)

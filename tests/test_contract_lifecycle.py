"""TaskCoordinator lifecycle on the embedded chain: rounds, rewards by weight, folded finalize, leaving,
claiming, withdrawing the pool, aborts and exclusion. Every scenario ends (and most steps end)
with the token-accounting invariant."""

from __future__ import annotations

from typing import Any

from fedchain.chain import AbortReason, ExclusionReason, Phase

STAKE = 10**18
BOND = 10**17
REWARD = 10**19


def _root(task_id: int, rnd: int, who: Any, digest: Any) -> bytes:
    return digest(f"root:{task_id}:{rnd}:{who.address}")


def _commit(
    coordinator: Any, digest: Any, member: Any, task_id: int, rnd: int, sum_sq: int = 12345
) -> Any:
    return coordinator.commit_update(
        member, task_id, rnd, _root(task_id, rnd, member, digest), sum_sq
    )


def _post(
    coordinator: Any,
    digest: Any,
    aggregator: Any,
    task_id: int,
    rnd: int,
    excluded: dict[str, ExclusionReason] | None = None,
) -> tuple[bytes, Any]:
    model = digest(f"model:{task_id}:{rnd}")
    r = coordinator.post_aggregate(
        aggregator, task_id, rnd, digest(f"aggroot:{task_id}:{rnd}"), model, excluded
    )
    return model, r


def _travel_past(chain: Any, deadline: int) -> None:
    """Move the clock so that the next transaction runs after ``deadline``."""
    chain.advance_time(max(deadline - chain.now(), 0) + 2)
    assert chain.now() >= deadline


def test_advance_time_moves_the_clock_by_at_least_the_given_seconds(chain: Any) -> None:
    # ChainBackend.advance_time promises "let at least `seconds` pass on the chain's clock";
    # now() is that clock (the latest block's timestamp).
    for seconds in (100, 3600):
        before = chain.now()
        chain.advance_time(seconds)
        assert chain.now() >= before + seconds, (before, chain.now(), seconds)


def test_full_task_rewards_by_weight_folded_finalize_claim_and_withdraw(
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
    sponsor = accounts.sponsor
    declared = [100, 250, 333]  # median 250, cap 500: nobody is capped
    tid = make_task(members, declared=declared)
    assert accounting_holds(coordinator, token)
    t = coordinator.get_task(tid)
    assert (t.round, t.phase, t.members, t.pool) == (1, Phase.COMMIT, 3, 3 * REWARD)
    assert t.weight_cap == 500
    initial_model = t.global_model_root
    for m, n in zip(members, declared, strict=True):
        assert coordinator.get_member(tid, m.address).weight == n
    total = sum(declared)
    per_weight = REWARD // total
    models: dict[int, bytes] = {}
    aggregator = members[0]

    for rnd in (1, 2, 3):
        for i, m in enumerate(members):
            r = _commit(coordinator, digest, m, tid, rnd, sum_sq=1000 * rnd + i)
            finalized = events(coordinator.contract, r, "RoundFinalized")
            (committed,) = events(coordinator.contract, r, "UpdateCommitted")
            assert (committed["commitIndex"], committed["sumSq"]) == (i + 1, 1000 * rnd + i)
            if rnd > 1 and i == 0:
                # Folded finalize: the first commit to round r finalizes round r-1 in the same tx.
                assert [f["round"] for f in finalized] == [rnd - 1]
                assert finalized[0]["modelRoot"] == models[rnd - 1]
                assert finalized[0]["rewardPerWeight"] == per_weight
                assert [o["round"] for o in events(coordinator.contract, r, "RoundOpened")] == [rnd]
                assert coordinator.get_task(tid).global_model_root == models[rnd - 1]
                # ... and the others' rewards of round r-1 are pending until their next commit.
                for j, other in enumerate(members[1:], start=1):
                    info = coordinator.get_member(tid, other.address)
                    assert info.pending == per_weight * declared[j]
            else:
                assert finalized == []
            if rnd > 1:
                # The commit credits the member's previous round (carried on UpdateCommitted).
                assert committed["creditedRound"] == rnd - 1
                assert committed["credited"] == per_weight * declared[i]
            info = coordinator.get_member(tid, m.address)
            assert (info.last_round, info.weight, info.pending) == (rnd, declared[i], 0)
            assert accounting_holds(coordinator, token)

        t = coordinator.get_task(tid)
        assert (t.round, t.committed, t.total_weight) == (rnd, 3, total)
        assert t.phase == Phase.AGGREGATE  # everyone committed: the window closed early
        models[rnd], r = _post(coordinator, digest, aggregator, tid, rnd)
        (posted,) = events(coordinator.contract, r, "AggregatePosted")
        assert posted["includedWeight"] == total and posted["bond"] == BOND
        t = coordinator.get_task(tid)
        assert t.phase == Phase.CHALLENGE and t.bond_held == BOND
        assert t.aggregator == aggregator.address
        assert t.pending_model_root == models[rnd]
        assert t.global_model_root == (initial_model if rnd == 1 else models[rnd - 1])
        assert coordinator.reward_per_weight(tid, rnd) == 0
        assert accounting_holds(coordinator, token)
        _travel_past(chain, t.deadline)

    # The last round has no next commit to fold into: anyone may advance.
    r = coordinator.advance(accounts.members[5], tid)
    assert [e["round"] for e in events(coordinator.contract, r, "RoundFinalized")] == [3]
    (done,) = events(coordinator.contract, r, "TaskCompleted")
    assert done["finalModelRoot"] == models[3]
    t = coordinator.get_task(tid)
    assert t.phase == Phase.COMPLETED and t.global_model_root == models[3] and t.bond_held == 0
    assert accounting_holds(coordinator, token)

    outcomes = coordinator.round_outcomes(tid)
    assert [(o.round, o.finalized, o.model_root) for o in outcomes] == [
        (r_, True, models[r_]) for r_ in (1, 2, 3)
    ]
    for o in outcomes:
        assert o.reward_per_weight == per_weight
        assert coordinator.reward_per_weight(tid, o.round) == per_weight
        assert o.rewards_credited == per_weight * total
    credited = sum(o.rewards_credited for o in outcomes)

    # Rewards: rounds 1-2 credited at the members' commits, round 3 pending.
    for i, m in enumerate(members):
        info = coordinator.get_member(tid, m.address)
        assert info.claimable == 2 * per_weight * declared[i]
        assert info.pending == per_weight * declared[i]
        before = token.balance_of(m.address)
        r = coordinator.claim(m, tid)
        expected = 3 * per_weight * declared[i]
        assert token.balance_of(m.address) - before == expected
        (claimed,) = events(coordinator.contract, r, "RewardsClaimed")
        assert claimed["amount"] == expected
        info = coordinator.get_member(tid, m.address)
        assert (info.claimable, info.pending, info.stake) == (0, 0, STAKE)
        assert accounting_holds(coordinator, token)

    # The sponsor gets the rounding leftovers back.
    t = coordinator.get_task(tid)
    assert t.pool == 3 * REWARD - credited > 0
    before = token.balance_of(sponsor.address)
    coordinator.withdraw_pool(sponsor, tid)
    assert token.balance_of(sponsor.address) - before == 3 * REWARD - credited
    assert coordinator.get_task(tid).pool == 0
    assert accounting_holds(coordinator, token)

    # Members leave a completed task with their stake.
    for m in members:
        before = token.balance_of(m.address)
        coordinator.leave_task(m, tid)
        assert token.balance_of(m.address) - before == STAKE
    assert token.balance_of(coordinator.address) == 0
    assert accounting_holds(coordinator, token)


def test_leaving_between_rounds_returns_stake_and_rewards(
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
    tid = make_task(members, declared=[10, 20, 30])
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    _post(coordinator, digest, members[0], tid, 1)
    _travel_past(chain, coordinator.get_task(tid).deadline)
    coordinator.advance(members[1], tid)  # finalize round 1, open round 2
    t = coordinator.get_task(tid)
    assert (t.round, t.phase) == (2, Phase.COMMIT)
    per_weight = REWARD // 60

    leaver = members[2]
    info = coordinator.get_member(tid, leaver.address)
    assert info.pending == 30 * per_weight and info.claimable == 0
    before = token.balance_of(leaver.address)
    r = coordinator.leave_task(leaver, tid)
    assert token.balance_of(leaver.address) - before == STAKE + 30 * per_weight
    (left,) = events(coordinator.contract, r, "Left")
    assert (left["stake"], left["rewards"]) == (STAKE, 30 * per_weight)
    info = coordinator.get_member(tid, leaver.address)
    assert (info.active, info.stake, info.claimable, info.pending) == (False, 0, 0, 0)
    assert coordinator.get_task(tid).members == 2
    assert accounting_holds(coordinator, token)

    # The aggregator of a finalized round may leave too (its bond is no longer held).
    before = token.balance_of(members[0].address)
    coordinator.leave_task(members[0], tid)
    assert token.balance_of(members[0].address) - before == STAKE + 10 * per_weight
    assert accounting_holds(coordinator, token)

    # Rejoining later starts afresh: a new stake, no old rewards, weight capped at the cap.
    token.approve(leaver, coordinator.address, STAKE)
    coordinator.join(leaver, tid, 1000)
    info = coordinator.get_member(tid, leaver.address)
    assert (info.active, info.stake, info.claimable, info.pending) == (True, STAKE, 0, 0)
    assert info.weight == coordinator.get_task(tid).weight_cap == 40  # 200% of median 20
    assert coordinator.members(tid) == [m.address for m in members]  # first-join order
    assert accounting_holds(coordinator, token)


def test_late_joiner_takes_part_from_the_next_round(
    chain: Any,
    coordinator: Any,
    token: Any,
    accounts: Any,
    make_task: Any,
    accounting_holds: Any,
    digest: Any,
) -> None:
    members = accounts.members[:2]
    late = accounts.members[3]
    tid = make_task(members, num_rounds=2)
    token.transfer(accounts.sponsor, late.address, STAKE)
    token.approve(late, coordinator.address, STAKE)
    coordinator.join(late, tid, 10)  # joins during round 1's commit window
    assert coordinator.get_task(tid).members == 2  # counts from round 2
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    _post(coordinator, digest, late, tid, 1)  # any member with a stake may aggregate
    _travel_past(chain, coordinator.get_task(tid).deadline)
    coordinator.advance(members[0], tid)
    t = coordinator.get_task(tid)
    assert (t.round, t.members) == (2, 3)
    assert coordinator.get_member(tid, late.address).pending == 0  # it had no update in round 1
    assert coordinator.get_member(tid, members[0].address).pending == 10 * (REWARD // 20)
    for m in [*members, late]:
        _commit(coordinator, digest, m, tid, 2)
    _post(coordinator, digest, late, tid, 2)  # the last aggregator holds the window's grace
    _travel_past(chain, coordinator.get_task(tid).deadline)
    coordinator.advance(members[0], tid)
    assert coordinator.get_member(tid, late.address).pending == 10 * (REWARD // 30)
    assert accounting_holds(coordinator, token)


def test_abort_too_few_updates_keeps_model_and_loses_no_tokens(
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
    tid = make_task(members, min_participants=2, declared=[50, 60, 70])
    t0 = coordinator.get_task(tid)
    _commit(coordinator, digest, members[0], tid, 1)
    _travel_past(chain, t0.deadline)
    assert coordinator.get_task(tid).phase == Phase.AGGREGATE
    r = coordinator.advance(members[1], tid)
    (aborted,) = events(coordinator.contract, r, "RoundAborted")
    assert (aborted["round"], aborted["reason"]) == (1, AbortReason.TOO_FEW_UPDATES)
    t = coordinator.get_task(tid)
    assert (t.round, t.phase, t.pool) == (2, Phase.COMMIT, t0.pool)
    assert t.global_model_root == t0.global_model_root
    assert coordinator.reward_per_weight(tid, 1) == 0
    info = coordinator.get_member(tid, members[0].address)
    assert (info.pending, info.claimable) == (0, 0)
    assert accounting_holds(coordinator, token)

    # Folded abort: a commit to round 3 after round 2's commit deadline aborts round 2 first.
    _commit(coordinator, digest, members[1], tid, 2)
    _travel_past(chain, t.deadline)
    r = _commit(coordinator, digest, members[2], tid, 3)
    (aborted,) = events(coordinator.contract, r, "RoundAborted")
    assert (aborted["round"], aborted["reason"]) == (2, AbortReason.TOO_FEW_UPDATES)
    t = coordinator.get_task(tid)
    assert (t.round, t.committed, t.total_weight) == (3, 1, 70)
    assert t.global_model_root == t0.global_model_root and t.pool == t0.pool
    outcomes = coordinator.round_outcomes(tid)
    assert [(o.round, o.finalized, o.abort_reason) for o in outcomes] == [
        (1, False, AbortReason.TOO_FEW_UPDATES),
        (2, False, AbortReason.TOO_FEW_UPDATES),
    ]
    assert accounting_holds(coordinator, token)
    # Nobody was paid for aborted rounds.
    for m in members:
        info = coordinator.get_member(tid, m.address)
        assert (info.claimable, info.pending) == (0, 0)


def test_abort_no_aggregate_then_completion_returns_every_token(
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
    holders = [accounts.sponsor, *members]
    tid = make_task(members, num_rounds=1)
    # make_task moved tokens from the sponsor to the members: record the post-setup balances.
    start_balances = {a.address: token.balance_of(a.address) for a in holders}
    t0 = coordinator.get_task(tid)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    # Commit window closed with enough updates, but no aggregate: nothing to do until the
    # aggregate deadline passes.
    _travel_past(chain, t0.deadline)
    assert coordinator.get_task(tid).phase == Phase.AGGREGATE
    _travel_past(chain, t0.deadline + t0.aggregate_duration)
    r = coordinator.advance(accounts.sponsor, tid)
    (aborted,) = events(coordinator.contract, r, "RoundAborted")
    assert (aborted["round"], aborted["reason"]) == (1, AbortReason.NO_AGGREGATE)
    assert len(events(coordinator.contract, r, "TaskCompleted")) == 1
    t = coordinator.get_task(tid)
    assert t.phase == Phase.COMPLETED and t.global_model_root == t0.global_model_root
    assert t.pool == REWARD
    assert accounting_holds(coordinator, token)

    coordinator.withdraw_pool(accounts.sponsor, tid)
    for m in members:
        coordinator.leave_task(m, tid)
    assert token.balance_of(coordinator.address) == 0
    # Pool back to the sponsor, stakes back to the members: no token lost or created.
    end = {a.address: token.balance_of(a.address) for a in holders}
    assert end[accounts.sponsor.address] == start_balances[accounts.sponsor.address] + REWARD
    for m in members:
        assert end[m.address] == start_balances[m.address] + STAKE
    assert accounting_holds(coordinator, token)


def test_excluded_participant_gets_nothing_and_its_share_stays_in_the_pool(
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
    declared = [100, 200, 300, 400]  # median 200, cap 400: nobody is capped
    tid = make_task(members, num_rounds=2, min_participants=2, declared=declared)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    bad = {
        members[1].address: ExclusionReason.UNAVAILABLE,
        members[3].address: ExclusionReason.MALFORMED,
    }
    _, r = _post(coordinator, digest, members[0], tid, 1, excluded=bad)
    got = {e["participant"]: e["reason"] for e in events(coordinator.contract, r, "UpdateExcluded")}
    assert got == bad
    assert coordinator.excluded(tid, 1) == bad
    (posted,) = events(coordinator.contract, r, "AggregatePosted")
    assert posted["includedWeight"] == 400
    t = coordinator.get_task(tid)
    assert t.total_weight == 1000 and t.committed == 4
    assert accounting_holds(coordinator, token)

    _travel_past(chain, t.deadline)
    coordinator.advance(members[2], tid)
    # Paid over the committed weight: the excluded shares stay in the pool.
    per_weight = REWARD // 1000
    assert coordinator.reward_per_weight(tid, 1) == per_weight
    (outcome,) = coordinator.round_outcomes(tid)
    assert outcome.rewards_credited == per_weight * 400
    assert coordinator.get_task(tid).pool == 2 * REWARD - per_weight * 400
    expected = [per_weight * 100, 0, per_weight * 300, 0]
    for m, exp in zip(members, expected, strict=True):
        assert coordinator.get_member(tid, m.address).pending == exp
    assert accounting_holds(coordinator, token)

    # The excluded take part again in the next round, and leaving pays them only their stake.
    before = token.balance_of(members[1].address)
    coordinator.leave_task(members[1], tid)
    assert token.balance_of(members[1].address) - before == STAKE
    r = _commit(coordinator, digest, members[3], tid, 2)
    (committed,) = events(coordinator.contract, r, "UpdateCommitted")
    assert (committed["creditedRound"], committed["credited"]) == (1, 0)
    info = coordinator.get_member(tid, members[3].address)
    assert (info.claimable, info.weight, info.last_round) == (0, 400, 2)
    assert accounting_holds(coordinator, token)


def test_excluding_others_does_not_raise_the_aggregators_reward(
    chain: Any,
    coordinator: Any,
    token: Any,
    accounts: Any,
    make_task: Any,
    accounting_holds: Any,
    digest: Any,
) -> None:
    """The same round twice, side by side: once with every update included, once with the
    aggregator excluding two others. The aggregator (and every included member) earns exactly
    the same; only the pool keeps the excluded shares."""
    members = accounts.members[:4]
    declared = [40, 30, 20, 10]
    kw: dict[str, Any] = {"num_rounds": 1, "min_participants": 2, "declared": declared}
    fair = make_task(members, label="fair", **kw)
    greedy = make_task(members, label="greedy", **kw)
    for tid in (fair, greedy):
        for m in members:
            _commit(coordinator, digest, m, tid, 1)
    aggregator = members[0]
    _post(coordinator, digest, aggregator, fair, 1)
    left_out = {m.address: ExclusionReason.UNAVAILABLE for m in members[2:]}
    _post(coordinator, digest, aggregator, greedy, 1, excluded=left_out)
    _travel_past(chain, coordinator.get_task(greedy).deadline)
    for tid in (fair, greedy):
        coordinator.advance(aggregator, tid)

    per_weight = REWARD // sum(declared)
    assert coordinator.reward_per_weight(fair, 1) == coordinator.reward_per_weight(greedy, 1)
    for m, n in zip(members[:2], declared[:2], strict=True):
        fair_pay = coordinator.get_member(fair, m.address).pending
        greedy_pay = coordinator.get_member(greedy, m.address).pending
        assert fair_pay == greedy_pay == n * per_weight
    for m in members[2:]:
        assert coordinator.get_member(greedy, m.address).pending == 0
    assert coordinator.get_task(greedy).pool - coordinator.get_task(fair).pool == (
        (declared[2] + declared[3]) * per_weight
    )
    assert accounting_holds(coordinator, token)


def test_many_tasks_side_by_side_keep_separate_accounts(
    chain: Any,
    coordinator: Any,
    token: Any,
    accounts: Any,
    make_task: Any,
    accounting_holds: Any,
    digest: Any,
) -> None:
    a = make_task(accounts.members[:2], num_rounds=1, label="a", declared=3)
    b = make_task(accounts.members[1:4], num_rounds=2, reward_per_round=7 * 10**18, label="b")
    assert coordinator.task_ids() == [a, b]
    for m in accounts.members[:2]:
        _commit(coordinator, digest, m, a, 1)
    for m in accounts.members[1:4]:
        _commit(coordinator, digest, m, b, 1)
    _post(coordinator, digest, accounts.members[0], a, 1)
    assert accounting_holds(coordinator, token)
    _travel_past(chain, coordinator.get_task(a).deadline)
    coordinator.advance(accounts.members[0], a)
    assert coordinator.get_task(a).phase == Phase.COMPLETED
    assert coordinator.get_task(b).phase == Phase.AGGREGATE
    m1 = coordinator.get_member(a, accounts.members[1].address)
    assert m1.pending == 3 * (REWARD // 6)
    assert coordinator.get_member(b, accounts.members[1].address).pending == 0
    assert accounting_holds(coordinator, token)
    assert accounting_holds(coordinator, token, [a, b])


def test_commitment_slot_binds_round_root_norm_and_commit_index(
    coordinator: Any, accounts: Any, make_task: Any, digest: Any
) -> None:
    from eth_abi import encode
    from eth_utils import keccak

    tid = make_task()
    first, second = accounts.members[0], accounts.members[1]
    _commit(coordinator, digest, first, tid, 1, sum_sq=77)
    _commit(coordinator, digest, second, tid, 1, sum_sq=2**40)  # the bound itself is allowed
    types = ["uint256", "bytes32", "uint256", "uint256"]
    for index, (m, sum_sq) in enumerate(((first, 77), (second, 2**40)), start=1):
        root = _root(tid, 1, m, digest)
        info = coordinator.get_member(tid, m.address)
        assert info.commitment == keccak(encode(types, [1, root, sum_sq, index]))
    u1, u2 = coordinator.updates(tid, 1)
    assert (u1.participant, u1.merkle_root, u1.sum_sq, u1.commit_index) == (
        first.address,
        _root(tid, 1, first, digest),
        77,
        1,
    )
    assert (u2.participant, u2.sum_sq, u2.commit_index) == (second.address, 2**40, 2)
    assert u2.opening().as_tuple() == (second.address, _root(tid, 1, second, digest), 2**40, 2)


def test_reward_pool_beyond_uint96_is_refused_and_the_largest_is_paid_in_full(
    chain: Any,
    tx: Any,
    accounts: Any,
    create_task: Any,
    accounting_holds: Any,
    digest: Any,
) -> None:
    """A member's claimable balance is a uint96: createTask refuses a pool of 2**96 or more
    (rather than truncating a credit later, which would lock the difference forever), and a
    pool of exactly 2**96 - 1 is paid out in full."""
    from fedchain.chain import ContractRevert, CoordinatorClient, TokenClient, deploy

    dep = deploy(tx, accounts.sponsor, supply=2**120)  # a token with room for such a pool
    token = TokenClient(tx, dep.token)
    coordinator = CoordinatorClient(tx, dep.coordinator, from_block=dep.deploy_block)
    members = accounts.members[:2]
    for reward, rounds in ((2**97 + 12345, 1), (2**95, 2)):
        try:
            create_task(
                coordinator,
                token,
                accounts.sponsor,
                members,
                reward_per_round=reward,
                num_rounds=rounds,
            )
        except ContractRevert as exc:
            assert exc.error == "CoordinatorInvalidParams"
            assert exc.args_by_name["reason"] == "reward pool too large"
        else:
            raise AssertionError(f"a pool of {reward * rounds} was accepted")
    assert coordinator.task_count() == 0
    assert accounting_holds(coordinator, token)

    reward = 2**96 - 1
    tid = create_task(
        coordinator,
        token,
        accounts.sponsor,
        members,
        reward_per_round=reward,
        num_rounds=1,
        declared=[1, 2],
    )
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    _post(coordinator, digest, members[0], tid, 1)
    _travel_past(chain, coordinator.get_task(tid).deadline)
    coordinator.advance(members[0], tid)
    per_weight = reward // 3
    assert coordinator.get_member(tid, members[1].address).pending == 2 * per_weight
    assert accounting_holds(coordinator, token)
    before = token.balance_of(members[1].address)
    coordinator.claim(members[1], tid)
    assert token.balance_of(members[1].address) - before == 2 * per_weight
    assert accounting_holds(coordinator, token)

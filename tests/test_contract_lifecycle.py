"""TaskCoordinator lifecycle on the embedded chain: rounds, rewards, folded finalize, leaving,
claiming, withdrawing the pool, aborts and exclusion. Every scenario ends (and most steps end)
with the token-accounting invariant."""

from __future__ import annotations

from typing import Any

from fedchain.chain import AbortReason, Phase

STAKE = 10**18
BOND = 10**17
REWARD = 10**19


def _root(task_id: int, rnd: int, who: Any, digest: Any) -> bytes:
    return digest(f"root:{task_id}:{rnd}:{who.address}")


def _commit(
    coordinator: Any, digest: Any, member: Any, task_id: int, rnd: int, samples: int
) -> Any:
    return coordinator.commit_update(
        member,
        task_id,
        rnd,
        _root(task_id, rnd, member, digest),
        digest(f"blob:{task_id}:{rnd}:{member.address}"),
        samples,
    )


def _post(
    coordinator: Any,
    digest: Any,
    aggregator: Any,
    task_id: int,
    rnd: int,
    excluded: list[str] | None = None,
) -> tuple[bytes, Any]:
    model = digest(f"model:{task_id}:{rnd}")
    r = coordinator.post_aggregate(
        aggregator,
        task_id,
        rnd,
        digest(f"aggroot:{task_id}:{rnd}"),
        digest(f"aggblob:{task_id}:{rnd}"),
        model,
        excluded,
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


def test_full_task_pro_rata_rewards_folded_finalize_claim_and_withdraw(
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
    tid = make_task(members)
    assert accounting_holds(coordinator, token)
    t = coordinator.get_task(tid)
    assert (t.round, t.phase, t.members, t.pool) == (1, Phase.COMMIT, 3, 3 * REWARD)
    initial_model = t.global_model_digest

    samples = {1: [100, 250, 333], 2: [120, 80, 7], 3: [1, 2, 4]}
    per_sample: dict[int, int] = {}
    models: dict[int, bytes] = {}
    aggregator = members[0]

    for rnd in (1, 2, 3):
        for i, m in enumerate(members):
            r = _commit(coordinator, digest, m, tid, rnd, samples[rnd][i])
            finalized = events(coordinator.contract, r, "RoundFinalized")
            (committed,) = events(coordinator.contract, r, "UpdateCommitted")
            if rnd > 1 and i == 0:
                # Folded finalize: the first commit to round r finalizes round r-1 in the same tx.
                assert [f["round"] for f in finalized] == [rnd - 1]
                assert finalized[0]["modelDigest"] == models[rnd - 1]
                assert finalized[0]["rewardPerSample"] == per_sample[rnd - 1]
                assert [o["round"] for o in events(coordinator.contract, r, "RoundOpened")] == [rnd]
                assert coordinator.get_task(tid).global_model_digest == models[rnd - 1]
                # ... and the others' rewards of round r-1 are pending until their next commit.
                for j, other in enumerate(members[1:], start=1):
                    info = coordinator.get_member(tid, other.address)
                    assert info.pending == per_sample[rnd - 1] * samples[rnd - 1][j]
            else:
                assert finalized == []
            if rnd > 1:
                # The commit credits the member's previous round (carried on UpdateCommitted).
                assert committed["creditedRound"] == rnd - 1
                assert committed["credited"] == per_sample[rnd - 1] * samples[rnd - 1][i]
            info = coordinator.get_member(tid, m.address)
            assert (info.last_round, info.samples, info.pending) == (rnd, samples[rnd][i], 0)
            assert accounting_holds(coordinator, token)

        t = coordinator.get_task(tid)
        total = sum(samples[rnd])
        assert (t.round, t.committed, t.total_samples) == (rnd, 3, total)
        assert t.phase == Phase.AGGREGATE  # everyone committed: the window closed early
        models[rnd], r = _post(coordinator, digest, aggregator, tid, rnd)
        (posted,) = events(coordinator.contract, r, "AggregatePosted")
        assert posted["totalSamples"] == total and posted["bond"] == BOND
        t = coordinator.get_task(tid)
        assert t.phase == Phase.CHALLENGE and t.bond_held == BOND
        assert t.aggregator == aggregator.address
        assert t.pending_model_digest == models[rnd]
        assert t.global_model_digest == (initial_model if rnd == 1 else models[rnd - 1])
        assert coordinator.reward_per_sample(tid, rnd) == 0
        assert accounting_holds(coordinator, token)
        per_sample[rnd] = REWARD // total
        _travel_past(chain, t.deadline)

    # The last round has no next commit to fold into: anyone may advance.
    r = coordinator.advance(accounts.members[5], tid)
    assert [e["round"] for e in events(coordinator.contract, r, "RoundFinalized")] == [3]
    (done,) = events(coordinator.contract, r, "TaskCompleted")
    assert done["finalModelDigest"] == models[3]
    t = coordinator.get_task(tid)
    assert t.phase == Phase.COMPLETED and t.global_model_digest == models[3] and t.bond_held == 0
    assert accounting_holds(coordinator, token)

    outcomes = coordinator.round_outcomes(tid)
    assert [(o.round, o.finalized, o.model_digest) for o in outcomes] == [
        (r_, True, models[r_]) for r_ in (1, 2, 3)
    ]
    for o in outcomes:
        total = sum(samples[o.round])
        assert o.reward_per_sample == per_sample[o.round]
        assert coordinator.reward_per_sample(tid, o.round) == per_sample[o.round]
        assert o.rewards_credited == per_sample[o.round] * total
    credited = sum(o.rewards_credited for o in outcomes)

    # Rewards: rounds 1-2 credited at the members' commits, round 3 pending.
    for i, m in enumerate(members):
        info = coordinator.get_member(tid, m.address)
        assert info.claimable == sum(per_sample[r_] * samples[r_][i] for r_ in (1, 2))
        assert info.pending == per_sample[3] * samples[3][i]
        before = token.balance_of(m.address)
        r = coordinator.claim(m, tid)
        expected = sum(per_sample[r_] * samples[r_][i] for r_ in (1, 2, 3))
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
    tid = make_task(members)
    for m, n in zip(members, (10, 20, 30), strict=True):
        _commit(coordinator, digest, m, tid, 1, n)
    _, _ = _post(coordinator, digest, members[0], tid, 1)
    _travel_past(chain, coordinator.get_task(tid).deadline)
    coordinator.advance(members[1], tid)  # finalize round 1, open round 2
    t = coordinator.get_task(tid)
    assert (t.round, t.phase) == (2, Phase.COMMIT)
    per_sample = REWARD // 60

    leaver = members[2]
    info = coordinator.get_member(tid, leaver.address)
    assert info.pending == 30 * per_sample and info.claimable == 0
    before = token.balance_of(leaver.address)
    r = coordinator.leave_task(leaver, tid)
    assert token.balance_of(leaver.address) - before == STAKE + 30 * per_sample
    (left,) = events(coordinator.contract, r, "Left")
    assert (left["stake"], left["rewards"]) == (STAKE, 30 * per_sample)
    info = coordinator.get_member(tid, leaver.address)
    assert (info.active, info.stake, info.claimable, info.pending) == (False, 0, 0, 0)
    assert coordinator.get_task(tid).members == 2
    assert accounting_holds(coordinator, token)

    # The aggregator of a finalized round may leave too (its bond is no longer held).
    before = token.balance_of(members[0].address)
    coordinator.leave_task(members[0], tid)
    assert token.balance_of(members[0].address) - before == STAKE + 10 * per_sample
    assert accounting_holds(coordinator, token)

    # Rejoining later starts afresh: a new stake, no old rewards.
    token.approve(leaver, coordinator.address, STAKE)
    coordinator.join(leaver, tid)
    info = coordinator.get_member(tid, leaver.address)
    assert (info.active, info.stake, info.claimable, info.pending) == (True, STAKE, 0, 0)
    assert coordinator.members(tid) == [m.address for m in members]  # first-join order
    assert accounting_holds(coordinator, token)


def test_late_joiner_takes_part_from_its_next_commit(
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
    coordinator.join(late, tid)  # joins during round 1's commit window
    assert coordinator.get_task(tid).members == 3
    for m, n in zip([*members, late], (5, 5, 10), strict=True):
        _commit(coordinator, digest, m, tid, 1, n)
    _post(coordinator, digest, late, tid, 1)  # any member with a stake may aggregate
    _travel_past(chain, coordinator.get_task(tid).deadline)
    coordinator.advance(members[0], tid)
    assert coordinator.get_member(tid, late.address).pending == 10 * (REWARD // 20)
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
    tid = make_task(members, min_participants=2)
    t0 = coordinator.get_task(tid)
    _commit(coordinator, digest, members[0], tid, 1, 50)
    _travel_past(chain, t0.deadline)
    assert coordinator.get_task(tid).phase == Phase.AGGREGATE
    r = coordinator.advance(members[1], tid)
    (aborted,) = events(coordinator.contract, r, "RoundAborted")
    assert (aborted["round"], aborted["reason"]) == (1, AbortReason.TOO_FEW_UPDATES)
    t = coordinator.get_task(tid)
    assert (t.round, t.phase, t.pool) == (2, Phase.COMMIT, t0.pool)
    assert t.global_model_digest == t0.global_model_digest
    assert coordinator.reward_per_sample(tid, 1) == 0
    info = coordinator.get_member(tid, members[0].address)
    assert (info.pending, info.claimable) == (0, 0)
    assert accounting_holds(coordinator, token)

    # Folded abort: a commit to round 3 after round 2's commit deadline aborts round 2 first.
    _commit(coordinator, digest, members[1], tid, 2, 50)
    _travel_past(chain, t.deadline)
    r = _commit(coordinator, digest, members[2], tid, 3, 70)
    (aborted,) = events(coordinator.contract, r, "RoundAborted")
    assert (aborted["round"], aborted["reason"]) == (2, AbortReason.TOO_FEW_UPDATES)
    t = coordinator.get_task(tid)
    assert (t.round, t.committed, t.total_samples) == (3, 1, 70)
    assert t.global_model_digest == t0.global_model_digest and t.pool == t0.pool
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
    for m, n in zip(members, (1, 2, 3), strict=True):
        _commit(coordinator, digest, m, tid, 1, n)
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
    assert t.phase == Phase.COMPLETED and t.global_model_digest == t0.global_model_digest
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


def test_excluded_participant_gets_nothing_and_total_samples_shrink(
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
    tid = make_task(members, num_rounds=2, min_participants=2)
    samples = [100, 200, 300, 400]
    for m, n in zip(members, samples, strict=True):
        _commit(coordinator, digest, m, tid, 1, n)
    bad = [members[1].address, members[3].address]
    _, r = _post(coordinator, digest, members[0], tid, 1, excluded=bad)
    assert [e["participant"] for e in events(coordinator.contract, r, "UpdateExcluded")] == bad
    assert coordinator.excluded(tid, 1) == bad
    (posted,) = events(coordinator.contract, r, "AggregatePosted")
    assert posted["totalSamples"] == 400
    t = coordinator.get_task(tid)
    assert t.total_samples == 400 and t.committed == 4
    for addr in bad:
        assert coordinator.get_member(tid, addr).samples == 0
    assert accounting_holds(coordinator, token)

    _travel_past(chain, t.deadline)
    coordinator.advance(members[2], tid)
    per_sample = REWARD // 400
    assert coordinator.reward_per_sample(tid, 1) == per_sample
    (outcome,) = coordinator.round_outcomes(tid)
    assert outcome.rewards_credited == per_sample * 400
    expected = [per_sample * 100, 0, per_sample * 300, 0]
    for m, exp in zip(members, expected, strict=True):
        assert coordinator.get_member(tid, m.address).pending == exp
    assert accounting_holds(coordinator, token)

    # The excluded take part again in the next round, and leaving pays them only their stake.
    before = token.balance_of(members[1].address)
    coordinator.leave_task(members[1], tid)
    assert token.balance_of(members[1].address) - before == STAKE
    _commit(coordinator, digest, members[3], tid, 2, 10)
    info = coordinator.get_member(tid, members[3].address)
    assert (info.claimable, info.samples) == (0, 10)
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
    a = make_task(accounts.members[:2], num_rounds=1, label="a")
    b = make_task(accounts.members[1:4], num_rounds=2, reward_per_round=7 * 10**18, label="b")
    assert coordinator.task_ids() == [a, b]
    for m in accounts.members[:2]:
        _commit(coordinator, digest, m, a, 1, 3)
    for m in accounts.members[1:4]:
        _commit(coordinator, digest, m, b, 1, 5)
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


def test_commitment_slot_binds_round_root_blob_and_samples(
    coordinator: Any, accounts: Any, make_task: Any, digest: Any
) -> None:
    from eth_abi import encode
    from eth_utils import keccak

    tid = make_task()
    m = accounts.members[0]
    _commit(coordinator, digest, m, tid, 1, 77)
    info = coordinator.get_member(tid, m.address)
    root, blob = _root(tid, 1, m, digest), digest(f"blob:{tid}:1:{m.address}")
    expected = keccak(encode(["uint256", "bytes32", "bytes32", "uint256"], [1, root, blob, 77]))
    assert info.commitment == expected
    (update,) = coordinator.updates(tid, 1)
    assert (update.participant, update.merkle_root, update.blob_digest, update.samples) == (
        m.address,
        root,
        blob,
        77,
    )


def test_large_reward_pool_is_paid_in_full_or_refused(
    chain: Any,
    tx: Any,
    accounts: Any,
    create_task: Any,
    accounting_holds: Any,
    digest: Any,
) -> None:
    """createTask accepts any pool up to 2**128 - 1, but a member's claimable balance is a
    uint96: a reward of 2**96 or more must either be refused at createTask or paid in full,
    never silently truncated (which would lock the difference in the contract forever)."""
    from fedchain.chain import ContractRevert, CoordinatorClient, TokenClient, deploy

    dep = deploy(tx, accounts.sponsor, supply=2**120)  # a token with room for such a pool
    token = TokenClient(tx, dep.token)
    coordinator = CoordinatorClient(tx, dep.coordinator, from_block=dep.deploy_block)
    members = accounts.members[:2]
    reward = 2**97 + 12345
    try:
        tid = create_task(
            coordinator, token, accounts.sponsor, members, reward_per_round=reward, num_rounds=1
        )
    except ContractRevert as exc:
        assert exc.error == "InvalidParams"
        assert accounting_holds(coordinator, token)
        return
    for m, n in zip(members, (1, 2), strict=True):
        _commit(coordinator, digest, m, tid, 1, n)
    _post(coordinator, digest, members[0], tid, 1)
    _travel_past(chain, coordinator.get_task(tid).deadline)
    coordinator.advance(members[0], tid)
    per_sample = reward // 3
    assert coordinator.get_member(tid, members[1].address).pending == 2 * per_sample
    assert accounting_holds(coordinator, token)
    before = token.balance_of(members[1].address)
    coordinator.claim(members[1], tid)
    assert token.balance_of(members[1].address) - before == 2 * per_sample
    assert accounting_holds(coordinator, token)

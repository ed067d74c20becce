"""Every refusal of the TaskCoordinator surfaces as a ContractRevert with the Solidity error's
(prefixed) name and arguments, changes nothing it should not, and leaves every token accounted
for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from fedchain.chain import ContractRevert, ExclusionReason, Phase
from fedchain.chain.contracts import GAS_LIMITS

STAKE = 10**18
BOND = 10**17
REWARD = 10**19
ZERO = b"\x00" * 32


@pytest.fixture
def refused(
    coordinator: Any, token: Any, accounts: Any, accounting_holds: Any
) -> Callable[..., Any]:
    """``with refused("ErrorName", task_id, **args): ...`` asserts the revert and its decoded
    arguments, then that the task, its members' records and the token balances of the sponsor,
    the coordinator and the task's members are unchanged, and that the accounting holds."""

    @contextmanager
    def _refused(error: str, task_id: int | None = None, **expected_args: Any) -> Iterator[Any]:
        ids = [task_id] if task_id is not None else []
        members = {t: coordinator.members(t) for t in ids}
        watched = {accounts.sponsor.address, coordinator.address}
        watched.update(a for ms in members.values() for a in ms)

        def stored(info: Any) -> Any:
            # The view reports Aggregate once the commit deadline passed: the clock moving is not
            # a state change, so compare the stored phase.
            return replace(info, phase=Phase.COMMIT) if info.phase == Phase.AGGREGATE else info

        def snapshot() -> tuple[Any, ...]:
            return (
                [stored(coordinator.get_task(t)) for t in ids],
                {(t, a): coordinator.get_member(t, a) for t, ms in members.items() for a in ms},
                {a: token.balance_of(a) for a in watched},
                coordinator.task_count(),
            )

        before = snapshot()
        with pytest.raises(ContractRevert) as info:
            yield info
        assert info.value.error == error, str(info.value)
        for k, v in expected_args.items():
            got = info.value.args_by_name[k]
            if isinstance(v, str):  # addresses: compare case-insensitively (see test below)
                got, v = str(got).lower(), v.lower()
            assert got == v, (k, info.value.args_by_name)
        assert snapshot() == before
        assert accounting_holds(coordinator, token)

    return _refused


def _commit(
    coordinator: Any,
    digest: Any,
    member: Any,
    task_id: int,
    rnd: int,
    sum_sq: int = 10,
    root: bytes | None = None,
) -> Any:
    return coordinator.commit_update(
        member,
        task_id,
        rnd,
        digest(f"root:{rnd}:{member.address}") if root is None else root,
        sum_sq,
    )


def _post(
    coordinator: Any,
    digest: Any,
    aggregator: Any,
    task_id: int,
    rnd: int,
    excluded: list[str] | None = None,
) -> Any:
    return coordinator.post_aggregate(
        aggregator,
        task_id,
        rnd,
        digest(f"aggroot:{rnd}"),
        digest(f"model:{rnd}"),
        {a: ExclusionReason.UNAVAILABLE for a in excluded or []},
    )


def _post_raw(
    coordinator: Any,
    digest: Any,
    aggregator: Any,
    task_id: int,
    rnd: int,
    excluded: list[str],
    reasons: list[int],
) -> Any:
    """postAggregate with lists the client cannot build (a name twice, lengths that differ)."""
    call = coordinator.contract.functions.postAggregate(
        task_id, rnd, digest(f"aggroot:{rnd}"), digest(f"model:{rnd}"), excluded, reasons
    )
    gas = GAS_LIMITS["post_aggregate"] + GAS_LIMITS["post_aggregate_per_excluded"] * len(excluded)
    return coordinator.tx.send(aggregator, call, gas=gas, operation="post_aggregate")


def _travel_to(chain: Any, ts: int) -> None:
    """Advance the clock so that the next transaction's block is at ``ts`` or later."""
    chain.advance_time(max(ts - chain.now(), 2))


def _stored_bound(bound: int) -> int:
    """The norm bound as the contract stores it: rounded down to a 24-bit mantissa << shift."""
    shift = 0
    while bound >> shift > 2**24 - 1:
        shift += 1
    return (bound >> shift) << shift


# ---------------------------------------------------------------- commitUpdate


def test_commit_after_deadline(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    m = accounts.members[0]
    deadline = coordinator.get_task(tid).deadline
    _travel_to(chain, deadline + 60)
    with refused("CoordinatorCommitWindowClosed", tid, taskId=tid, round=1, deadline=deadline):
        _commit(coordinator, digest, m, tid, 1)


def test_commit_exactly_at_deadline_is_decoded(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    """The window is [start, deadline): a commit in the block stamped `deadline` is refused, and
    the client must say why (CommitWindowClosed), not that the replay disagreed."""
    tid = make_task()
    deadline = coordinator.get_task(tid).deadline
    # eth-tester's time_travel(ts): the next block (the commit's) is stamped exactly ts.
    chain.tester.time_travel(deadline)
    with refused("CoordinatorCommitWindowClosed", tid, nowTs=deadline):
        _commit(coordinator, digest, accounts.members[0], tid, 1)


def test_commit_twice(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    m = accounts.members[0]
    _commit(coordinator, digest, m, tid, 1)
    with refused("CoordinatorAlreadyCommitted", tid, round=1, account=m.address):
        _commit(coordinator, digest, m, tid, 1, sum_sq=99, root=digest("another root"))


def test_commit_from_non_member(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task(accounts.members[:3])
    outsider = accounts.members[5]
    with refused("CoordinatorNotMember", tid, account=outsider.address):
        _commit(coordinator, digest, outsider, tid, 1)
    with refused("CoordinatorNotMember", tid, account=accounts.sponsor.address):
        _commit(coordinator, digest, accounts.sponsor, tid, 1)


def test_commit_from_member_who_left(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task(accounts.members[:3])
    m = accounts.members[2]
    coordinator.leave_task(m, tid)
    with refused("CoordinatorNotMember", tid):
        _commit(coordinator, digest, m, tid, 1)


def test_commit_wrong_round(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    m = accounts.members[0]
    for wrong in (0, 2, 7):  # 2 = next round, with nothing due to advance
        with refused("CoordinatorRoundMismatch", tid, currentRound=1, givenRound=wrong):
            _commit(coordinator, digest, m, tid, wrong)


def test_commit_unknown_task(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    with refused("CoordinatorUnknownTask", tid, taskId=tid + 1):
        _commit(coordinator, digest, accounts.members[0], tid + 1, 1)
    with refused("CoordinatorUnknownTask", tid, taskId=0):
        _commit(coordinator, digest, accounts.members[0], 0, 1)


def test_commit_zero_commitment(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    with refused("CoordinatorZeroCommitment", tid):
        _commit(coordinator, digest, accounts.members[0], tid, 1, root=ZERO)


@pytest.mark.parametrize("bound", [2**40, 10**12 + 7, 2**24 - 1, 1])
def test_commit_norm_above_bound(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any, bound: int
) -> None:
    """The bound is stored rounded down to a 24-bit mantissa; a commit at the stored bound is
    accepted, one above it refused with both numbers."""
    tid = make_task(norm_bound=bound)
    stored = coordinator.get_task(tid).norm_bound
    assert stored == _stored_bound(bound) <= bound
    assert bound - stored < max(bound >> 23, 1)
    m, other = accounts.members[0], accounts.members[1]
    with refused("CoordinatorNormAboveBound", tid, taskId=tid, sumSq=stored + 1, bound=stored):
        _commit(coordinator, digest, m, tid, 1, sum_sq=stored + 1)
    with refused("CoordinatorNormAboveBound", tid, sumSq=2**256 - 1):
        _commit(coordinator, digest, m, tid, 1, sum_sq=2**256 - 1)
    _commit(coordinator, digest, m, tid, 1, sum_sq=stored)
    _commit(coordinator, digest, other, tid, 1, sum_sq=0)


def test_commit_while_registering_then_start_twice(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task(start=False)
    m = accounts.members[0]
    with refused("CoordinatorWrongPhase", tid, expected=Phase.COMMIT, actual=Phase.REGISTRATION):
        _commit(coordinator, digest, m, tid, 1)
    coordinator.start_task(accounts.sponsor, tid, 10)
    with refused("CoordinatorWrongPhase", tid, expected=Phase.REGISTRATION, actual=Phase.COMMIT):
        coordinator.start_task(accounts.sponsor, tid, 10)


# ---------------------------------------------------------------- postAggregate


def test_post_aggregate_while_commit_window_open(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:3]
    tid = make_task(members)
    for m in members[:2]:
        _commit(coordinator, digest, m, tid, 1)
    deadline = coordinator.get_task(tid).deadline
    with refused("CoordinatorCommitWindowOpen", tid, round=1, deadline=deadline):
        _post(coordinator, digest, members[0], tid, 1)


def test_post_aggregate_excluding_a_non_committer_or_one_twice(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:3]
    tid = make_task(members, min_participants=1)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    outsider = accounts.members[4].address
    with refused("CoordinatorNotCommitted", tid, round=1, account=outsider):
        _post(coordinator, digest, members[0], tid, 1, excluded=[outsider])
    # Naming the same participant twice is refused too (the client's dict cannot say it).
    twice = [members[1].address, members[1].address]
    with refused("CoordinatorNotCommitted", tid, account=members[1].address):
        _post_raw(coordinator, digest, members[0], tid, 1, twice, [0, 1])
    # One reason per exclusion.
    with refused("CoordinatorInvalidParams", tid, reason="one reason per exclusion"):
        _post_raw(coordinator, digest, members[0], tid, 1, [members[1].address], [])


def test_post_aggregate_with_too_few_included(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:3]
    tid = make_task(members, min_participants=2)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    excluded = [members[1].address, members[2].address]
    with refused("CoordinatorTooFewParticipants", tid, have=1, need=2):
        _post(coordinator, digest, members[0], tid, 1, excluded=excluded)


def test_post_aggregate_other_refusals(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:2]
    tid = make_task(members)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    with refused("CoordinatorRoundMismatch", tid, currentRound=1, givenRound=2):
        _post(coordinator, digest, members[0], tid, 2)
    with refused("CoordinatorNotMember", tid, account=accounts.members[5].address):
        _post(coordinator, digest, accounts.members[5], tid, 1)
    with refused("CoordinatorZeroCommitment", tid):
        coordinator.post_aggregate(members[0], tid, 1, digest("r"), ZERO)
    with refused("CoordinatorZeroCommitment", tid):
        coordinator.post_aggregate(members[0], tid, 1, ZERO, digest("m"))
    with refused("CoordinatorUnknownTask", tid, taskId=tid + 1):
        _post(coordinator, digest, members[0], tid + 1, 1)
    t = coordinator.get_task(tid)
    _travel_to(chain, t.deadline + t.aggregate_duration + 1)
    with refused(
        "CoordinatorAggregateWindowClosed", tid, deadline=t.deadline + t.aggregate_duration
    ):
        _post(coordinator, digest, members[0], tid, 1)


def test_post_aggregate_twice(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:2]
    tid = make_task(members)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    _post(coordinator, digest, members[0], tid, 1)
    with refused("CoordinatorWrongPhase", tid, expected=Phase.COMMIT, actual=Phase.CHALLENGE):
        _post(coordinator, digest, members[1], tid, 1)


# ---------------------------------------------------------------- members


def test_leave_while_in_open_round(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:3]
    tid = make_task(members)
    _commit(coordinator, digest, members[0], tid, 1)
    with refused("CoordinatorInOpenRound", tid, round=1, account=members[0].address):
        coordinator.leave_task(members[0], tid)
    for m in members[1:]:
        _commit(coordinator, digest, m, tid, 1)
    with refused("CoordinatorInOpenRound", tid):  # window closed, round not finalized
        coordinator.leave_task(members[1], tid)
    _post(coordinator, digest, members[0], tid, 1)
    for m in members:  # in the challenge window: committers and the aggregator are locked
        with refused("CoordinatorInOpenRound", tid):
            coordinator.leave_task(m, tid)


def test_aggregator_bond_locked_during_challenge(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:3]
    tid = make_task(members)
    for m in members[:2]:
        _commit(coordinator, digest, m, tid, 1)
    _travel_to(chain, coordinator.get_task(tid).deadline + 1)
    # members[2] did not commit; it aggregates, so its bond is held until finalization.
    _post(coordinator, digest, members[2], tid, 1)
    assert coordinator.get_task(tid).bond_held == BOND
    with refused("CoordinatorInOpenRound", tid, round=1, account=members[2].address):
        coordinator.leave_task(members[2], tid)


def test_join_refusals(
    chain: Any,
    coordinator: Any,
    token: Any,
    make_task: Any,
    accounts: Any,
    refused: Any,
    digest: Any,
) -> None:
    members = accounts.members[:2]
    tid = make_task(members, num_rounds=1)
    with refused("CoordinatorAlreadyMember", tid, account=members[0].address):
        coordinator.join(members[0], tid, 10)
    with refused("CoordinatorUnknownTask", tid, taskId=tid + 1):
        coordinator.join(members[0], tid + 1, 10)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    _post(coordinator, digest, members[0], tid, 1)
    _travel_to(chain, coordinator.get_task(tid).deadline + 1)
    coordinator.advance(members[0], tid)
    late = accounts.members[4]
    token.transfer(accounts.sponsor, late.address, STAKE)
    token.approve(late, coordinator.address, STAKE)
    with refused("CoordinatorWrongPhase", tid, expected=Phase.REGISTRATION, actual=Phase.COMPLETED):
        coordinator.join(late, tid, 10)


def test_join_with_a_bad_sample_count(
    coordinator: Any, token: Any, make_task: Any, accounts: Any, refused: Any
) -> None:
    tid = make_task(accounts.members[:2], start=False)
    m = accounts.members[3]
    token.transfer(accounts.sponsor, m.address, STAKE)
    token.approve(m, coordinator.address, STAKE)
    for bad in (0, 2**24, 2**256 - 1):
        with refused("CoordinatorInvalidSampleCount", tid, samples=bad):
            coordinator.join(m, tid, bad)
    coordinator.join(m, tid, 2**24 - 1)  # MAX_SAMPLES is accepted
    assert coordinator.get_member(tid, m.address).weight == 2**24 - 1  # capped only at start


def test_join_whose_stake_would_not_fit_is_refused(
    coordinator: Any, token: Any, make_task: Any, accounts: Any, refused: Any
) -> None:
    """stake = stakeAmount + stakePerSample × declared must fit the uint96 member record."""
    per_sample = 2**80
    tid = make_task(accounts.members[:2], start=False, stake_per_sample=per_sample, declared=1)
    m = accounts.members[3]
    with refused("CoordinatorInvalidSampleCount", tid, samples=2**20):
        coordinator.join(m, tid, 2**20)  # 2**100 > 2**96 - 1


def test_leave_by_non_member(coordinator: Any, make_task: Any, accounts: Any, refused: Any) -> None:
    tid = make_task(accounts.members[:2])
    with refused("CoordinatorNotMember", tid, account=accounts.members[4].address):
        coordinator.leave_task(accounts.members[4], tid)


def test_claim_with_nothing(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:2]
    tid = make_task(members)
    with refused("CoordinatorNothingToClaim", tid, account=members[0].address):
        coordinator.claim(members[0], tid)
    with refused("CoordinatorNothingToClaim", tid):  # never joined
        coordinator.claim(accounts.members[5], tid)
    _commit(coordinator, digest, members[0], tid, 1)
    with refused("CoordinatorNothingToClaim", tid):  # committed, round not finalized
        coordinator.claim(members[0], tid)


# ---------------------------------------------------------------- advance / sponsor


def test_advance_with_nothing_due(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:2]
    tid = make_task(members, start=False)
    with refused("CoordinatorNothingToAdvance", tid, phase=Phase.REGISTRATION):
        coordinator.advance(members[0], tid)
    coordinator.start_task(accounts.sponsor, tid, 10)
    with refused("CoordinatorNothingToAdvance", tid, phase=Phase.COMMIT):  # window open
        coordinator.advance(members[0], tid)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    t = coordinator.get_task(tid)
    _travel_to(chain, t.deadline + 1)
    with refused("CoordinatorNothingToAdvance", tid):  # enough updates, aggregate window open
        coordinator.advance(members[0], tid)
    _post(coordinator, digest, members[0], tid, 1)
    with refused("CoordinatorNothingToAdvance", tid, phase=Phase.CHALLENGE):  # challenge open
        coordinator.advance(members[0], tid)
    with refused("CoordinatorUnknownTask", tid):
        coordinator.advance(members[0], tid + 1)


def test_start_task_refusals(
    coordinator: Any, token: Any, make_task: Any, accounts: Any, refused: Any
) -> None:
    tid = make_task(accounts.members[:2], start=False, min_participants=3)
    with refused("CoordinatorNotSponsor", tid, caller=accounts.members[0].address):
        coordinator.start_task(accounts.members[0], tid, 10)
    with refused("CoordinatorTooFewParticipants", tid, have=2, need=3):
        coordinator.start_task(accounts.sponsor, tid, 10)
    with refused("CoordinatorUnknownTask", tid):
        coordinator.start_task(accounts.sponsor, tid + 1, 10)


def test_start_task_with_a_hint_that_is_not_a_median(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any
) -> None:
    """Declared 10, 20, 30, 40: any hint in [20, 30] has at most half below and half above."""
    tid = make_task(accounts.members[:4], start=False, declared=[10, 20, 30, 40])
    for hint, below, above in ((19, 1, 3), (31, 3, 1), (1, 0, 4), (2**256 - 1, 4, 0)):
        with refused("CoordinatorNotMedian", tid, hint=hint, below=below, above=above):
            coordinator.start_task(accounts.sponsor, tid, hint)
    coordinator.start_task(accounts.sponsor, tid, 25)
    assert coordinator.get_task(tid).weight_cap == 50


def test_withdraw_pool_refusals(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:2]
    tid = make_task(members, num_rounds=1, declared=1)  # weight 2 in all: REWARD divides evenly
    with refused("CoordinatorWrongPhase", tid, expected=Phase.COMPLETED):
        coordinator.withdraw_pool(accounts.sponsor, tid)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    _post(coordinator, digest, members[0], tid, 1)
    _travel_to(chain, coordinator.get_task(tid).deadline + 1)
    coordinator.advance(members[0], tid)
    with refused("CoordinatorNotSponsor", tid, caller=members[0].address):
        coordinator.withdraw_pool(members[0], tid)
    assert coordinator.get_task(tid).pool == 0  # everything was paid out as rewards
    with refused("CoordinatorNothingToClaim", tid, account=accounts.sponsor.address):
        coordinator.withdraw_pool(accounts.sponsor, tid)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"initial_model_root": ZERO}, "roots and digests must be non-zero"),
        ({"config_digest": ZERO}, "roots and digests must be non-zero"),
        ({"stake_amount": 0, "aggregator_bond": 0}, "stakeAmount must be positive"),
        ({"aggregator_bond": 2 * STAKE}, "aggregatorBond exceeds stakeAmount"),
        ({"aggregator_bond": 0}, "bonds must be positive"),
        ({"challenge_bond": 0}, "bonds must be positive"),
        ({"num_rounds": 0}, "numRounds must be positive"),
        ({"min_participants": 0}, "minParticipants must be positive"),
        ({"num_parameters": 0}, "empty model or chunk"),
        ({"chunk_elems": 0}, "empty model or chunk"),
        ({"commit_duration": 0}, "phase durations must be positive"),
        ({"aggregate_duration": 0}, "phase durations must be positive"),
        ({"challenge_duration": 0}, "phase durations must be positive"),
        ({"response_duration": 0}, "phase durations must be positive"),
        ({"norm_bound": 0}, "normBound must be positive"),
        ({"reward_per_round": 2**95, "num_rounds": 2}, "reward pool too large"),
        ({"reward_per_round": 2**128 - 1, "num_rounds": 2}, "reward pool too large"),
    ],
)
def test_create_task_with_bad_params(
    coordinator: Any,
    token: Any,
    accounts: Any,
    refused: Any,
    create_task: Any,
    override: dict[str, Any],
    reason: str,
) -> None:
    with refused("CoordinatorInvalidParams", None, reason=reason):
        create_task(coordinator, token, accounts.sponsor, [], join=False, **override)
    assert coordinator.task_count() == 0


def test_dispute_game_is_set_once_and_only_it_may_call_the_hooks(
    tx: Any, coordinator: Any, deployment: Any, make_task: Any, accounts: Any, refused: Any
) -> None:
    f = coordinator.contract.functions
    assert f.disputeGame().call() == deployment.disputes
    with refused("CoordinatorDisputeGameSet", None, game=deployment.disputes):
        tx.send(
            accounts.sponsor,
            f.setDisputeGame(accounts.sponsor.address),
            gas=80_000,
            operation="set_dispute_game",
        )
    tid = make_task()
    m = accounts.members[0]
    hooks = [
        f.lockChallengeBond(tid, 1, m.address),
        f.settleChallenge(tid, 1, 0, m.address, 0, 0),
        f.voidAggregate(tid, 1, 0, 0, m.address),
        f.slashMember(tid, 1, m.address, 5, m.address),
    ]
    for call in hooks:
        with refused("CoordinatorNotDisputeGame", tid, caller=m.address):
            tx.send(m, call, gas=200_000, operation="hook")


def test_revert_arguments_carry_checksummed_addresses(
    coordinator: Any, make_task: Any, accounts: Any, digest: Any
) -> None:
    """Decoded address arguments should compare equal to the addresses web3 hands out
    everywhere else (checksummed), so callers can branch on ``args_by_name["account"]``."""
    tid = make_task()
    m = accounts.members[0]
    _commit(coordinator, digest, m, tid, 1)
    with pytest.raises(ContractRevert) as info:
        _commit(coordinator, digest, m, tid, 1)
    assert info.value.args_by_name["account"] == m.address


def test_views_of_an_unknown_task_raise_contract_revert(
    coordinator: Any, make_task: Any, accounts: Any
) -> None:
    """CoordinatorClient views (served by the lens module through the coordinator's fallback)
    decode the contract's errors like transactions do."""
    tid = make_task()
    with pytest.raises(ContractRevert) as info:
        coordinator.get_task(tid + 1)
    assert info.value.error == "CoordinatorUnknownTask"
    assert info.value.args_by_name["taskId"] == tid + 1
    with pytest.raises(ContractRevert) as info:
        coordinator.get_member(tid + 1, accounts.members[0].address)
    assert info.value.error == "CoordinatorUnknownTask"

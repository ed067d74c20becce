"""Every refusal of the TaskCoordinator surfaces as a ContractRevert with the Solidity error's
name, changes nothing it should not, and leaves every token accounted for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest

from fedchain.chain import ContractRevert, Phase

STAKE = 10**18
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
    samples: int = 10,
    root: bytes | None = None,
    blob: bytes | None = None,
) -> Any:
    return coordinator.commit_update(
        member,
        task_id,
        rnd,
        digest(f"root:{rnd}:{member.address}") if root is None else root,
        digest(f"blob:{rnd}:{member.address}") if blob is None else blob,
        samples,
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
        digest(f"aggblob:{rnd}"),
        digest(f"model:{rnd}"),
        excluded,
    )


def _travel_to(chain: Any, ts: int) -> None:
    """Advance the clock so that the next transaction's block is at ``ts`` or later."""
    chain.advance_time(max(ts - chain.now(), 2))


# ---------------------------------------------------------------- commitUpdate


def test_commit_after_deadline(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    m = accounts.members[0]
    deadline = coordinator.get_task(tid).deadline
    _travel_to(chain, deadline + 60)
    with refused("CommitWindowClosed", tid, taskId=tid, round=1, deadline=deadline):
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
    with refused("CommitWindowClosed", tid, nowTs=deadline):
        _commit(coordinator, digest, accounts.members[0], tid, 1)


def test_commit_twice(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    m = accounts.members[0]
    _commit(coordinator, digest, m, tid, 1)
    with refused("AlreadyCommitted", tid, account=m.address):
        _commit(coordinator, digest, m, tid, 1, samples=99)


def test_commit_from_non_member(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task(accounts.members[:3])
    outsider = accounts.members[5]
    with refused("NotMember", tid, account=outsider.address):
        _commit(coordinator, digest, outsider, tid, 1)
    with refused("NotMember", tid, account=accounts.sponsor.address):
        _commit(coordinator, digest, accounts.sponsor, tid, 1)


def test_commit_from_member_who_left(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task(accounts.members[:3])
    m = accounts.members[2]
    coordinator.leave_task(m, tid)
    with refused("NotMember", tid):
        _commit(coordinator, digest, m, tid, 1)


def test_commit_wrong_round(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    m = accounts.members[0]
    for wrong in (0, 2, 7):  # 2 = next round, with nothing due to advance
        with refused("RoundMismatch", tid, currentRound=1, givenRound=wrong):
            _commit(coordinator, digest, m, tid, wrong)


def test_commit_unknown_task(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    with refused("UnknownTask", tid, taskId=tid + 1):
        _commit(coordinator, digest, accounts.members[0], tid + 1, 1)
    with refused("UnknownTask", tid, taskId=0):
        _commit(coordinator, digest, accounts.members[0], 0, 1)


def test_commit_bad_sample_count(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    m = accounts.members[0]
    for bad in (0, 2**24):
        with refused("InvalidSampleCount", tid, samples=bad):
            _commit(coordinator, digest, m, tid, 1, samples=bad)
    _commit(coordinator, digest, m, tid, 1, samples=2**24 - 1)  # MAX_SAMPLES is accepted


def test_commit_zero_commitment(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task()
    m = accounts.members[0]
    with refused("ZeroCommitment", tid):
        _commit(coordinator, digest, m, tid, 1, root=ZERO)
    with refused("ZeroCommitment", tid):
        _commit(coordinator, digest, m, tid, 1, blob=ZERO)


def test_wrong_phase_before_start_and_start_twice(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    tid = make_task(start=False)
    m = accounts.members[0]
    with refused("WrongPhase", tid, expected=Phase.COMMIT, actual=Phase.REGISTRATION):
        _commit(coordinator, digest, m, tid, 1)
    coordinator.start_task(accounts.sponsor, tid)
    with refused("WrongPhase", tid, expected=Phase.REGISTRATION, actual=Phase.COMMIT):
        coordinator.start_task(accounts.sponsor, tid)


# ---------------------------------------------------------------- postAggregate


def test_post_aggregate_while_commit_window_open(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:3]
    tid = make_task(members)
    for m in members[:2]:
        _commit(coordinator, digest, m, tid, 1)
    with refused("CommitWindowOpen", tid, round=1):
        _post(coordinator, digest, members[0], tid, 1)


def test_post_aggregate_excluding_a_non_committer(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:3]
    tid = make_task(members, min_participants=1)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    outsider = accounts.members[4].address
    with refused("NotCommitted", tid, account=outsider):
        _post(coordinator, digest, members[0], tid, 1, excluded=[outsider])
    # Naming the same participant twice is refused too.
    twice = [members[1].address, members[1].address]
    with refused("NotCommitted", tid, account=members[1].address):
        _post(coordinator, digest, members[0], tid, 1, excluded=twice)


def test_post_aggregate_with_too_few_included(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:3]
    tid = make_task(members, min_participants=2)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    excluded = [members[1].address, members[2].address]
    with refused("TooFewParticipants", tid, have=1, need=2):
        _post(coordinator, digest, members[0], tid, 1, excluded=excluded)


def test_post_aggregate_other_refusals(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:2]
    tid = make_task(members)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    with refused("RoundMismatch", tid):
        _post(coordinator, digest, members[0], tid, 2)
    with refused("NotMember", tid):
        _post(coordinator, digest, accounts.members[5], tid, 1)
    with refused("ZeroCommitment", tid):
        coordinator.post_aggregate(members[0], tid, 1, digest("r"), digest("b"), ZERO)
    with refused("UnknownTask", tid):
        _post(coordinator, digest, members[0], tid + 1, 1)
    t = coordinator.get_task(tid)
    _travel_to(chain, t.deadline + t.aggregate_duration + 1)
    with refused("AggregateWindowClosed", tid):
        _post(coordinator, digest, members[0], tid, 1)


# ---------------------------------------------------------------- members


def test_leave_while_in_open_round(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:3]
    tid = make_task(members)
    _commit(coordinator, digest, members[0], tid, 1)
    with refused("InOpenRound", tid, round=1, account=members[0].address):
        coordinator.leave_task(members[0], tid)
    for m in members[1:]:
        _commit(coordinator, digest, m, tid, 1)
    with refused("InOpenRound", tid):  # window closed, round not finalized
        coordinator.leave_task(members[1], tid)
    _post(coordinator, digest, members[0], tid, 1)
    for m in members:  # in the challenge window: committers and the aggregator are locked
        with refused("InOpenRound", tid):
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
    assert coordinator.get_task(tid).bond_held == 10**17
    with refused("InOpenRound", tid, round=1, account=members[2].address):
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
    with refused("AlreadyMember", tid, account=members[0].address):
        coordinator.join(members[0], tid)
    with refused("UnknownTask", tid):
        coordinator.join(members[0], tid + 1)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    _post(coordinator, digest, members[0], tid, 1)
    _travel_to(chain, coordinator.get_task(tid).deadline + 1)
    coordinator.advance(members[0], tid)
    late = accounts.members[4]
    token.transfer(accounts.sponsor, late.address, STAKE)
    token.approve(late, coordinator.address, STAKE)
    with refused("WrongPhase", tid, actual=Phase.COMPLETED):
        coordinator.join(late, tid)


def test_leave_by_non_member(coordinator: Any, make_task: Any, accounts: Any, refused: Any) -> None:
    tid = make_task(accounts.members[:2])
    with refused("NotMember", tid, account=accounts.members[4].address):
        coordinator.leave_task(accounts.members[4], tid)


def test_claim_with_nothing(
    coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:2]
    tid = make_task(members)
    with refused("NothingToClaim", tid, account=members[0].address):
        coordinator.claim(members[0], tid)
    with refused("NothingToClaim", tid):  # never joined
        coordinator.claim(accounts.members[5], tid)
    _commit(coordinator, digest, members[0], tid, 1)
    with refused("NothingToClaim", tid):  # committed, round not finalized
        coordinator.claim(members[0], tid)


# ---------------------------------------------------------------- advance / sponsor


def test_advance_with_nothing_due(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:2]
    tid = make_task(members, start=False)
    with refused("NothingToAdvance", tid, phase=Phase.REGISTRATION):
        coordinator.advance(members[0], tid)
    coordinator.start_task(accounts.sponsor, tid)
    with refused("NothingToAdvance", tid, phase=Phase.COMMIT):  # window open
        coordinator.advance(members[0], tid)
    for m in members:
        _commit(coordinator, digest, m, tid, 1)
    t = coordinator.get_task(tid)
    _travel_to(chain, t.deadline + 1)
    with refused("NothingToAdvance", tid):  # enough updates, aggregate window still open
        coordinator.advance(members[0], tid)
    _post(coordinator, digest, members[0], tid, 1)
    with refused("NothingToAdvance", tid, phase=Phase.CHALLENGE):  # challenge window open
        coordinator.advance(members[0], tid)
    with refused("UnknownTask", tid):
        coordinator.advance(members[0], tid + 1)


def test_start_task_refusals(
    coordinator: Any, token: Any, make_task: Any, accounts: Any, refused: Any
) -> None:
    tid = make_task(accounts.members[:2], start=False, min_participants=3)
    with refused("NotSponsor", tid, caller=accounts.members[0].address):
        coordinator.start_task(accounts.members[0], tid)
    with refused("TooFewParticipants", tid, have=2, need=3):
        coordinator.start_task(accounts.sponsor, tid)
    with refused("UnknownTask", tid):
        coordinator.start_task(accounts.sponsor, tid + 1)


def test_withdraw_pool_refusals(
    chain: Any, coordinator: Any, make_task: Any, accounts: Any, refused: Any, digest: Any
) -> None:
    members = accounts.members[:2]
    tid = make_task(members, num_rounds=1)
    with refused("WrongPhase", tid, expected=Phase.COMPLETED):
        coordinator.withdraw_pool(accounts.sponsor, tid)
    for m in members:
        _commit(coordinator, digest, m, tid, 1, samples=1)  # 2 samples: REWARD divides evenly
    _post(coordinator, digest, members[0], tid, 1)
    _travel_to(chain, coordinator.get_task(tid).deadline + 1)
    coordinator.advance(members[0], tid)
    with refused("NotSponsor", tid):
        coordinator.withdraw_pool(members[0], tid)
    assert coordinator.get_task(tid).pool == 0  # everything was paid out as rewards
    with refused("NothingToClaim", tid, account=accounts.sponsor.address):
        coordinator.withdraw_pool(accounts.sponsor, tid)


@pytest.mark.parametrize(
    ("override", "reason"),
    [
        ({"initial_model_digest": ZERO}, "digests must be non-zero"),
        ({"config_digest": ZERO}, "digests must be non-zero"),
        ({"stake_amount": 0, "aggregator_bond": 0}, "stakeAmount must be positive"),
        ({"aggregator_bond": 2 * STAKE}, "aggregatorBond exceeds stakeAmount"),
        ({"num_rounds": 0}, "numRounds must be positive"),
        ({"min_participants": 0}, "minParticipants must be positive"),
        ({"commit_duration": 0}, "phase durations must be positive"),
        ({"aggregate_duration": 0}, "phase durations must be positive"),
        ({"challenge_duration": 0}, "phase durations must be positive"),
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
    with refused("InvalidParams", None, reason=reason):
        create_task(coordinator, token, accounts.sponsor, [], join=False, **override)
    assert coordinator.task_count() == 0


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
    """CoordinatorClient views decode the contract's UnknownTask like transactions do."""
    tid = make_task()
    with pytest.raises(ContractRevert) as info:
        coordinator.get_task(tid + 1)
    assert info.value.error == "UnknownTask"
    with pytest.raises(ContractRevert) as info:
        coordinator.get_member(tid + 1, accounts.members[0].address)
    assert info.value.error == "UnknownTask"

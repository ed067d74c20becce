"""The SecAgg+ round seed mixes members' nonces, committed a round ahead and revealed with their
key adverts; a committed nonce that is not revealed costs a small liveness slash."""

from __future__ import annotations

from typing import Any

import pytest

from fedchain.chain import ContractRevert, Fault, Phase
from fedchain.chain.contracts import nonce_commitment, round_nonce
from tests.conftest import advert_keys, digest


def _to_round_two(coordinator: Any, chain: Any, sponsor: Any, members: list[Any], tid: int) -> None:
    """Round 1: everyone advertises and shares (committing a nonce for round 2), nobody commits
    a masked input; the round aborts and round 2 opens at Advertise."""
    for i, m in enumerate(members):
        coordinator.advertise_keys(m, tid, 1, *advert_keys(f"advert-{i}"))
    for i, m in enumerate(members):
        coordinator.share_keys(m, tid, 1, digest(f"shares-{i}"), digest(f"commit-{i}"))
    info = coordinator.get_task(tid)
    assert info.phase == Phase.COMMIT
    chain.advance_time(info.deadline - chain.now() + 1)
    coordinator.advance(sponsor, tid)
    info = coordinator.get_task(tid)
    assert (info.round, info.phase) == (2, Phase.ADVERTISE)


@pytest.fixture
def secure_task(
    make_task: Any, accounts: Any, coordinator: Any, chain: Any
) -> tuple[int, list[Any]]:
    members = accounts.members[:4]
    tid = make_task(members, secure_aggregation=True, min_participants=2, num_rounds=3)
    _to_round_two(coordinator, chain, accounts.sponsor, members, tid)
    return tid, members


def _nonce_events(coordinator: Any, tid: int, event: str) -> list[Any]:
    return coordinator._logs(event, taskId=tid)


def test_shares_commit_a_nonce_for_the_next_round_and_adverts_reveal_it(
    secure_task: tuple[int, list[Any]], coordinator: Any
) -> None:
    # Prepare
    tid, members = secure_task

    # Execute
    coordinator.advertise_keys(members[0], tid, 2, *advert_keys("advert-2-0"))

    # Assert: round 1's shares committed every member's round-2 nonce hash, and the advert
    # revealed exactly the nonce behind it (nothing was committed for round 1: no reveal there)
    committed = {
        e["args"]["participant"]: bytes(e["args"]["nonceHash"])
        for e in _nonce_events(coordinator, tid, "NonceCommitted")
    }
    assert committed == {m.address: nonce_commitment(m, tid, 2) for m in members}
    (revealed,) = _nonce_events(coordinator, tid, "NonceRevealed")
    assert revealed["args"]["round"] == 2 and revealed["args"]["participant"] == members[0].address
    assert bytes(revealed["args"]["nonce"]) == round_nonce(members[0], tid, 2)


def test_a_revealed_nonce_other_than_the_committed_one_is_refused(
    secure_task: tuple[int, list[Any]], coordinator: Any, accounting_holds: Any, token: Any
) -> None:
    # Prepare
    tid, members = secure_task
    call = coordinator.contract.functions.advertiseKeys(tid, 2, *advert_keys("x"), b"\x07" * 32)

    # Execute
    with pytest.raises(ContractRevert) as exc:
        coordinator.tx.send(members[1], call, gas=200_000, operation="advertise_keys")

    # Assert: refused by name, nothing recorded
    assert exc.value.error == "CoordinatorNonceMismatch"
    assert coordinator.get_task(tid).advertised == 0
    assert accounting_holds(coordinator, token)


def test_a_member_that_does_not_reveal_is_slashed_once_after_the_advertise_phase(
    secure_task: tuple[int, list[Any]],
    coordinator: Any,
    chain: Any,
    accounts: Any,
    token: Any,
    accounting_holds: Any,
) -> None:
    # Prepare: three of four reveal; the fourth stays silent
    tid, members = secure_task
    silent = members[3]
    for i, m in enumerate(members[:3]):
        coordinator.advertise_keys(m, tid, 2, *advert_keys(f"advert-2-{i}"))
    # not while the advertise phase is open
    with pytest.raises(ContractRevert) as early:
        coordinator.slash_unrevealed(accounts.sponsor, tid, 2, silent.address)
    assert early.value.error == "CoordinatorWrongPhase"
    info = coordinator.get_task(tid)
    chain.advance_time(info.deadline - chain.now() + 1)
    coordinator.advance(accounts.sponsor, tid)
    assert coordinator.get_task(tid).phase == Phase.SHARE
    stake = coordinator.get_member(tid, silent.address).stake
    before = token.balance_of(accounts.sponsor.address)

    # Execute
    coordinator.slash_unrevealed(accounts.sponsor, tid, 2, silent.address)

    # Assert: 1 % of its stake, half to the caller, half to the pool; once only; a revealer
    # cannot be slashed
    amount = stake * 100 // 10_000
    assert coordinator.get_member(tid, silent.address).stake == stake - amount
    assert token.balance_of(accounts.sponsor.address) == before + amount // 2
    (slash,) = [s for s in coordinator.slashes(tid) if s["fault"] == Fault.UNREVEALED]
    assert (slash["address"], slash["amount"], slash["round"]) == (silent.address, amount, 2)
    for who in (silent, members[0]):
        with pytest.raises(ContractRevert) as again:
            coordinator.slash_unrevealed(accounts.sponsor, tid, 2, who.address)
        assert again.value.error == "CoordinatorNotWithheld"
    assert accounting_holds(coordinator, token)

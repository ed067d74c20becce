"""The same contracts on a local anvil node: state survives a restart on the same state file,
custom errors are decoded, and the node is stopped on close."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fedchain.chain import (
    AnvilChain,
    ContractRevert,
    CoordinatorClient,
    Phase,
    TokenClient,
    Transactor,
    deploy,
)

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

SUPPLY = 10**27


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is not running anvil any more.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def open_anvil() -> Iterator[Any]:
    """``open_anvil(state_file)`` starts an AnvilChain; every one is closed (and checked)."""
    started: list[AnvilChain] = []

    def _open(state_file: Path | None = None) -> AnvilChain:
        c = AnvilChain(state_file)
        started.append(c)
        return c

    try:
        yield _open
    finally:
        for c in started:
            c.close()
        for c in started:
            assert c.process.poll() is not None, f"anvil pid {c.process.pid} still running"
            assert not _alive(c.process.pid)


def _setup(chain: Any, make_accounts: Any) -> tuple[Any, Any, Any, Any]:
    tx = Transactor(chain)
    accounts = make_accounts(chain)
    dep = deploy(tx, accounts.sponsor, supply=SUPPLY)
    token = TokenClient(tx, dep.token)
    coordinator = CoordinatorClient(tx, dep.coordinator, from_block=dep.deploy_block)
    return tx, accounts, dep, (token, coordinator)


def test_state_survives_restart_and_reverts_decode(
    tmp_path: Path,
    open_anvil: Any,
    make_accounts: Any,
    create_task: Any,
    accounting_holds: Any,
    digest: Any,
) -> None:
    state = tmp_path / "chain" / "anvil-state.json"
    chain = open_anvil(state)
    assert chain.chain_id == 31337
    _, accounts, dep, (token, coordinator) = _setup(chain, make_accounts)
    members = accounts.members[:2]
    tid = create_task(coordinator, token, accounts.sponsor, members)
    m = members[0]
    root, sum_sq = digest("anvil-root"), 42
    coordinator.commit_update(m, tid, 1, root, sum_sq)
    # Custom errors are decoded on anvil too.
    with pytest.raises(ContractRevert) as info:
        coordinator.commit_update(m, tid, 1, root, sum_sq)
    assert info.value.error == "CoordinatorAlreadyCommitted"
    with pytest.raises(ContractRevert) as info:
        coordinator.advance(m, tid)
    assert info.value.error == "CoordinatorNothingToAdvance"
    assert accounting_holds(coordinator, token)
    task_before = coordinator.get_task(tid)
    block_before = chain.w3.eth.block_number
    pid = chain.process.pid
    chain.close()
    assert chain.process.poll() is not None and not _alive(pid)
    assert state.is_file() and state.stat().st_size > 0

    chain2 = open_anvil(state)
    tx2 = Transactor(chain2)
    token2 = TokenClient(tx2, dep.token)
    coordinator2 = CoordinatorClient(tx2, dep.coordinator, from_block=dep.deploy_block)
    assert chain2.w3.eth.block_number >= block_before
    assert coordinator2.task_count() == 1
    task_after = coordinator2.get_task(tid)
    assert task_after == task_before or (
        # the effective phase depends on the clock; everything stored must be the same
        task_after.phase in (Phase.COMMIT, Phase.AGGREGATE)
        and task_after.__dict__ | {"phase": None} == task_before.__dict__ | {"phase": None}
    )
    (update,) = coordinator2.updates(tid, 1)
    assert (update.participant, update.merkle_root, update.sum_sq) == (m.address, root, sum_sq)
    assert coordinator2.member_weights(tid) == {x.address: 10 for x in members}
    assert coordinator2.members(tid) == [x.address for x in members]
    assert token2.total_supply() == SUPPLY
    assert accounting_holds(coordinator2, token2)
    # The restarted chain keeps working: the other member commits, a revert still decodes.
    coordinator2.commit_update(members[1], tid, 1, digest("r2"), 8)
    with pytest.raises(ContractRevert) as info:
        coordinator2.commit_update(m, tid, 1, root, sum_sq)
    assert info.value.error == "CoordinatorAlreadyCommitted"
    assert coordinator2.get_task(tid).total_weight == 20  # two members, 10 declared samples each


def test_round_on_anvil_with_time_travel(
    open_anvil: Any, make_accounts: Any, create_task: Any, accounting_holds: Any, digest: Any
) -> None:
    chain = open_anvil()
    _, accounts, _, (token, coordinator) = _setup(chain, make_accounts)
    members = accounts.members[:2]
    tid = create_task(coordinator, token, accounts.sponsor, members, declared=[3, 5])
    before = chain.now()
    chain.advance_time(100)
    assert chain.now() >= before + 100
    for m, n in zip(members, (3, 5), strict=True):
        coordinator.commit_update(m, tid, 1, digest(f"r{n}"), n)
    coordinator.post_aggregate(members[0], tid, 1, digest("ar"), digest("model1"))
    t = coordinator.get_task(tid)
    chain.advance_time(t.deadline - chain.now() + 2)
    # Folded finalize on anvil too.
    coordinator.commit_update(members[1], tid, 2, digest("r2"), 5)
    (outcome,) = coordinator.round_outcomes(tid)
    assert outcome.finalized and outcome.model_root == digest("model1")
    # weights are the declared counts (3 and 5: the cap, 200% of the median 3, is 6)
    assert outcome.reward_per_weight == 10**19 // 8
    assert coordinator.get_member(tid, members[0].address).pending == 3 * (10**19 // 8)
    assert accounting_holds(coordinator, token)


def test_commit_at_deadline_decodes_on_anvil(
    open_anvil: Any, make_accounts: Any, create_task: Any, digest: Any
) -> None:
    """A commit in the first block at or after the deadline is refused with
    CoordinatorCommitWindowClosed
    (and the client must say so, not that its replay passed)."""
    chain = open_anvil()
    _, accounts, _, (token, coordinator) = _setup(chain, make_accounts)
    tid = create_task(coordinator, token, accounts.sponsor, accounts.members[:2])
    deadline = coordinator.get_task(tid).deadline
    chain.w3.provider.make_request("evm_setNextBlockTimestamp", [deadline])
    with pytest.raises(ContractRevert) as info:
        coordinator.commit_update(accounts.members[0], tid, 1, digest("r"), 1)
    assert info.value.error == "CoordinatorCommitWindowClosed"

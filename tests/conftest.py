"""Shared fixtures: a fresh embedded chain per test, funded accounts, deployed contracts, and
helpers to set up a task and to check that every token is accounted for.

Fixtures (function scope):
    chain        EmbeddedChain (closed after the test)
    tx           Transactor on ``chain``
    accounts     Accounts(sponsor, members): sponsor + 6 members from ``derive_account``, with ether
    deployment   FedToken (supply 10**27 to the sponsor) + TaskCoordinator
    token        TokenClient
    coordinator  CoordinatorClient (events read from the deployment block on)
    make_task    factory: fund members with tokens, approve, create, join, start -> task id
    accounting_holds
                 the function ``accounting_holds(coordinator, token, task_ids=None)`` (asserts)
    digest       the function ``digest(label) -> bytes32`` (deterministic non-zero test digests)
    events       the function ``events(contract, receipt, name) -> [args]`` (one receipt's events)
    make_accounts, create_task
                 the plain helpers behind ``accounts`` and ``make_task``, for other chains
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.logs import DISCARD

from fedchain.chain import (
    CoordinatorClient,
    Deployment,
    EmbeddedChain,
    TaskParams,
    TokenClient,
    Transactor,
    deploy,
    derive_account,
)

ACCOUNT_SEED = "fedchain-tests"
N_MEMBERS = 6
ETHER = 10**18
SUPPLY = 10**27

#: TaskParams defaults used by ``make_task`` (override any by keyword).
TASK_DEFAULTS: dict[str, Any] = {
    "stake_amount": 10**18,
    "aggregator_bond": 10**17,
    "reward_per_round": 10**19,
    "num_rounds": 3,
    "min_participants": 2,
    "commit_duration": 3600,
    "aggregate_duration": 3600,
    "challenge_duration": 600,
}


def digest(label: str | int) -> bytes:
    """A deterministic, non-zero 32-byte value for roots, blob and model digests in tests."""
    return keccak(text=f"fedchain-test-digest:{label}")


@dataclass(frozen=True)
class Accounts:
    sponsor: LocalAccount
    members: list[LocalAccount]

    @property
    def all(self) -> list[LocalAccount]:
        return [self.sponsor, *self.members]


@pytest.fixture
def chain() -> Iterator[EmbeddedChain]:
    c = EmbeddedChain()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def tx(chain: EmbeddedChain) -> Transactor:
    return Transactor(chain)


def make_accounts(chain: Any, seed: str = ACCOUNT_SEED, n_members: int = N_MEMBERS) -> Accounts:
    """Sponsor (index 0) and members (1..n) from ``derive_account``, each given 100 ether."""
    sponsor = derive_account(seed, 0)
    members = [derive_account(seed, i) for i in range(1, n_members + 1)]
    for acct in (sponsor, *members):
        chain.fund(acct.address, 100 * ETHER)
    return Accounts(sponsor, members)


@pytest.fixture
def accounts(chain: EmbeddedChain) -> Accounts:
    return make_accounts(chain)


@pytest.fixture
def deployment(tx: Transactor, accounts: Accounts) -> Deployment:
    return deploy(tx, accounts.sponsor, supply=SUPPLY)


@pytest.fixture
def token(tx: Transactor, deployment: Deployment) -> TokenClient:
    return TokenClient(tx, deployment.token)


@pytest.fixture
def coordinator(tx: Transactor, deployment: Deployment) -> CoordinatorClient:
    return CoordinatorClient(tx, deployment.coordinator, from_block=deployment.deploy_block)


def task_params(**overrides: Any) -> TaskParams:
    """TaskParams with the test defaults, digests derived from ``label`` if not given."""
    label = overrides.pop("label", "task")
    fields = {
        "initial_model_digest": digest(f"{label}:model0"),
        "config_digest": digest(f"{label}:config"),
        **TASK_DEFAULTS,
    }
    fields.update(overrides)
    return TaskParams(**fields)


def create_task(
    coordinator: CoordinatorClient,
    token: TokenClient,
    sponsor: LocalAccount,
    members: Sequence[LocalAccount],
    *,
    join: bool = True,
    start: bool = True,
    **overrides: Any,
) -> int:
    """Fund ``members`` with tokens for their stake, approve, create the task, join, start."""
    params = task_params(**overrides)
    pool = params.reward_per_round * params.num_rounds
    token.approve(sponsor, coordinator.address, pool)
    task_id = coordinator.create_task(sponsor, params)
    if join:
        for m in members:
            if token.balance_of(m.address) < params.stake_amount:
                token.transfer(sponsor, m.address, params.stake_amount)
            token.approve(m, coordinator.address, params.stake_amount)
            coordinator.join(m, task_id)
        if start:
            coordinator.start_task(sponsor, task_id)
    return task_id


MakeTask = Callable[..., int]


@pytest.fixture
def make_task(coordinator: CoordinatorClient, token: TokenClient, accounts: Accounts) -> MakeTask:
    """``make_task(members=None, *, sponsor=None, join=True, start=True, **param_overrides)``.

    ``members`` defaults to the first three test members. Param overrides use TaskParams
    field names (``num_rounds=1``, ``min_participants=3``, ...) plus ``label`` for digests.
    """

    def _make(
        members: Sequence[LocalAccount] | None = None,
        *,
        sponsor: LocalAccount | None = None,
        join: bool = True,
        start: bool = True,
        **overrides: Any,
    ) -> int:
        return create_task(
            coordinator,
            token,
            sponsor or accounts.sponsor,
            accounts.members[:3] if members is None else members,
            join=join,
            start=start,
            **overrides,
        )

    return _make


def token_holders(token: TokenClient, from_block: int = 0) -> set[str]:
    """Every address that ever received tokens (from the Transfer events)."""
    logs = token.contract.events.Transfer().get_logs(from_block=from_block)
    return {e["args"]["to"] for e in logs}


def accounting_holds(
    coordinator: CoordinatorClient, token: TokenClient, task_ids: Sequence[int] | None = None
) -> bool:
    """Assert that every token is accounted for; returns True so ``assert`` reads naturally.

    - the coordinator's token balance == Σ over tasks of the pool + Σ over every member who ever
      joined of (stake + claimable + pending);
    - Σ of all holders' balances == the total supply.

    ``task_ids`` defaults to every task created on this coordinator (the balance covers all).
    """
    ids = coordinator.task_ids() if task_ids is None else list(task_ids)
    owed = 0
    detail: list[str] = []
    for tid in ids:
        pool = coordinator.get_task(tid).pool
        owed += pool
        detail.append(f"task {tid}: pool {pool}")
        for addr in coordinator.members(tid):
            m = coordinator.get_member(tid, addr)
            owed += m.stake + m.claimable + m.pending
            detail.append(
                f"  {addr}: stake {m.stake} claimable {m.claimable} pending {m.pending}"
                f" active {m.active} lastRound {m.last_round} samples {m.samples}"
            )
    held = token.balance_of(coordinator.address)
    assert held == owed, (
        f"coordinator holds {held} but owes {owed} (diff {held - owed}):\n" + "\n".join(detail)
    )
    holders = token_holders(token, coordinator.from_block)
    total = sum(token.balance_of(h) for h in holders)
    supply = token.total_supply()
    assert total == supply, f"holders' balances sum to {total}, total supply is {supply}"
    return True


@pytest.fixture(name="accounting_holds")
def accounting_holds_fixture() -> Callable[..., bool]:
    return accounting_holds


@pytest.fixture(name="digest")
def digest_fixture() -> Callable[[str | int], bytes]:
    return digest


def events(contract: Any, receipt: Any, name: str) -> list[dict[str, Any]]:
    """Args of every ``name`` event that ``contract`` emitted in one transaction."""
    logs = receipt.logs if hasattr(receipt, "logs") else receipt["logs"]
    ev = getattr(contract.events, name)()
    return [dict(e["args"]) for e in ev.process_receipt({"logs": logs}, errors=DISCARD)]


@pytest.fixture(name="events")
def events_fixture() -> Callable[..., list[dict[str, Any]]]:
    return events


@pytest.fixture(name="make_accounts")
def make_accounts_fixture() -> Callable[..., Accounts]:
    return make_accounts


@pytest.fixture(name="create_task")
def create_task_fixture() -> Callable[..., int]:
    return create_task

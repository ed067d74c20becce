"""Shared fixtures: an embedded chain, funded accounts, deployed contracts, and helpers to set
up a task and to check that every token is accounted for.

Tests that use the deployed contracts share one session-wide chain on which the accounts were
funded and the contracts deployed once; each such test starts from an eth-tester snapshot of
that state (``revert_to_snapshot``), with fresh clients (nonce and view caches are per client).
Tests that ask only for ``chain`` get a fresh EmbeddedChain of their own.

Fixtures (function scope):
    chain        EmbeddedChain (the shared one, reverted, when the test uses the contracts)
    tx           Transactor on ``chain``
    accounts     Accounts(sponsor, members): sponsor + 6 members from ``derive_account``, with ether
    deployment   FedToken (supply 10**27 to the sponsor), the coordinator with its two modules,
                 and RoundDisputes
    token        TokenClient
    coordinator  CoordinatorClient (events read from the deployment block on)
    disputes     DisputeClient
    make_task    factory: fund members with tokens, approve, create, join (declared counts),
                 start with a median hint -> task id
    accounting_holds
                 the function ``accounting_holds(coordinator, token, task_ids=None)`` (asserts)
    digest       the function ``digest(label) -> bytes32`` (deterministic non-zero test digests)
    events       the function ``events(contract, receipt, name) -> [args]`` (one receipt's events)
    make_accounts, create_task
                 the plain helpers behind ``accounts`` and ``make_task``, for other chains
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3.logs import DISCARD

from fedchain.chain import (
    CoordinatorClient,
    Deployment,
    DisputeClient,
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
#: Sample count each member declares in ``make_task`` unless told otherwise.
DEFAULT_DECLARED = 10

#: TaskParams defaults used by ``make_task`` (override any by keyword).
TASK_DEFAULTS: dict[str, Any] = {
    "stake_amount": 10**18,
    "aggregator_bond": 10**17,
    "reward_per_round": 10**19,
    "num_rounds": 3,
    "min_participants": 2,
    "num_parameters": 100,
    "chunk_elems": 16,
    "norm_bound": 2**40,
    "commit_duration": 3600,
    "aggregate_duration": 3600,
    "challenge_duration": 600,
}


def digest(label: str | int) -> bytes:
    """A deterministic, non-zero 32-byte value for roots and digests in tests."""
    return keccak(text=f"fedchain-test-digest:{label}")


def advert_keys(label: str | int) -> tuple[bytes, bytes]:
    """Two distinct, valid X25519 public keys (enc, mask) for an advert in tests."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    return tuple(  # type: ignore[return-value]
        X25519PrivateKey.from_private_bytes(keccak(text=f"fedchain-test-key:{label}:{part}"))
        .public_key()
        .public_bytes_raw()
        for part in ("enc", "mask")
    )


@dataclass(frozen=True)
class Accounts:
    sponsor: LocalAccount
    members: list[LocalAccount]

    @property
    def all(self) -> list[LocalAccount]:
        return [self.sponsor, *self.members]


def make_accounts(chain: Any, seed: str = ACCOUNT_SEED, n_members: int = N_MEMBERS) -> Accounts:
    """Sponsor (index 0) and members (1..n) from ``derive_account``, each given 100 ether."""
    sponsor = derive_account(seed, 0)
    members = [derive_account(seed, i) for i in range(1, n_members + 1)]
    for acct in (sponsor, *members):
        chain.fund(acct.address, 100 * ETHER)
    return Accounts(sponsor, members)


@dataclass
class DeployedWorld:
    """The session's chain with the accounts funded and the contracts deployed, and a snapshot."""

    chain: EmbeddedChain
    accounts: Accounts
    deployment: Deployment
    snapshot: int = 0
    scalars: dict[str, Any] = field(default_factory=dict)

    def save(self) -> None:
        self.snapshot = self.chain.tester.take_snapshot()
        # The backend's own caches (the clock's block, the clock offset): plain values only.
        self.scalars = {k: v for k, v in vars(self.chain).items() if _is_scalar(v)}

    def reset(self) -> None:
        self.chain.tester.revert_to_snapshot(self.snapshot)
        for k in [k for k, v in vars(self.chain).items() if _is_scalar(v)]:
            if k not in self.scalars:
                delattr(self.chain, k)
        for k, v in self.scalars.items():
            setattr(self.chain, k, v)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, int | float | str | bytes)


#: Fixtures that live on the shared, deployed chain.
_DEPLOYED = frozenset({"accounts", "deployment", "token", "coordinator", "disputes", "make_task"})


@pytest.fixture(scope="session")
def deployed_world() -> Iterator[DeployedWorld]:
    c = EmbeddedChain()
    accounts = make_accounts(c)
    dep = deploy(Transactor(c), accounts.sponsor, supply=SUPPLY)
    world = DeployedWorld(c, accounts, dep)
    world.save()
    try:
        yield world
    finally:
        c.close()


@pytest.fixture
def _world(request: pytest.FixtureRequest) -> DeployedWorld | None:
    """The shared world, reverted to its snapshot, for tests that use the contracts."""
    if not _DEPLOYED.intersection(request.fixturenames):
        return None
    world: DeployedWorld = request.getfixturevalue("deployed_world")
    world.reset()
    return world


@pytest.fixture
def chain(_world: DeployedWorld | None) -> Iterator[EmbeddedChain]:
    if _world is not None:
        yield _world.chain
        return
    c = EmbeddedChain()
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def tx(chain: EmbeddedChain) -> Transactor:
    return Transactor(chain)


@pytest.fixture
def accounts(chain: EmbeddedChain, _world: DeployedWorld | None) -> Accounts:
    return _world.accounts if _world is not None else make_accounts(chain)


@pytest.fixture
def deployment(tx: Transactor, accounts: Accounts, _world: DeployedWorld | None) -> Deployment:
    return _world.deployment if _world is not None else deploy(tx, accounts.sponsor, supply=SUPPLY)


@pytest.fixture
def token(tx: Transactor, deployment: Deployment) -> TokenClient:
    return TokenClient(tx, deployment.token)


@pytest.fixture
def coordinator(tx: Transactor, deployment: Deployment) -> CoordinatorClient:
    return CoordinatorClient(tx, deployment.coordinator, from_block=deployment.deploy_block)


@pytest.fixture
def disputes(tx: Transactor, deployment: Deployment) -> DisputeClient:
    return DisputeClient(tx, deployment.disputes, from_block=deployment.deploy_block)


def task_params(**overrides: Any) -> TaskParams:
    """TaskParams with the test defaults, digests derived from ``label`` if not given."""
    label = overrides.pop("label", "task")
    fields = {
        "initial_model_root": digest(f"{label}:model0"),
        "config_digest": digest(f"{label}:config"),
        **TASK_DEFAULTS,
    }
    fields.update(overrides)
    return TaskParams(**fields)


def median_hint(declared: Sequence[int]) -> int:
    """A median of ``declared`` that startTask accepts: the lower median (at most half of the
    counts are below it, at most half above)."""
    if not declared:
        return 1
    ordered = sorted(declared)
    return ordered[(len(ordered) - 1) // 2]


def stake_of(params: TaskParams, declared: int) -> int:
    """What joining with ``declared`` samples escrows."""
    return params.stake_amount + params.stake_per_sample * declared


def join_member(
    coordinator: CoordinatorClient,
    token: TokenClient,
    sponsor: LocalAccount,
    member: LocalAccount,
    task_id: int,
    declared: int = DEFAULT_DECLARED,
) -> Any:
    """Give ``member`` the tokens its stake needs (from the sponsor), approve, join."""
    t = coordinator.get_task(task_id)
    stake = t.stake_amount + t.stake_per_sample * declared
    have = token.balance_of(member.address)
    if have < stake:
        token.transfer(sponsor, member.address, stake - have)
    token.approve(member, coordinator.address, stake)
    return coordinator.join(member, task_id, declared)


def create_task(
    coordinator: CoordinatorClient,
    token: TokenClient,
    sponsor: LocalAccount,
    members: Sequence[LocalAccount],
    *,
    join: bool = True,
    start: bool = True,
    declared: int | Sequence[int] = DEFAULT_DECLARED,
    median: int | None = None,
    **overrides: Any,
) -> int:
    """Create a task (escrowing its pool), let ``members`` join with their ``declared`` sample
    counts (one int for all, or one per member; their stake is funded by the sponsor), and
    start it with ``median`` or else a valid median hint of the declared counts."""
    params = task_params(**overrides)
    pool = params.reward_per_round * params.num_rounds
    token.approve(sponsor, coordinator.address, pool)
    task_id = coordinator.create_task(sponsor, params)
    counts = [declared] * len(members) if isinstance(declared, int) else list(declared)
    assert len(counts) == len(members), "one declared count per member"
    if join:
        for m, n in zip(members, counts, strict=True):
            join_member(coordinator, token, sponsor, m, task_id, n)
        if start:
            coordinator.start_task(
                sponsor, task_id, median_hint(counts) if median is None else median
            )
    return task_id


MakeTask = Callable[..., int]


@pytest.fixture
def make_task(coordinator: CoordinatorClient, token: TokenClient, accounts: Accounts) -> MakeTask:
    """``make_task(members=None, *, sponsor=None, join=True, start=True, declared=10,
    median=None, **param_overrides)``.

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


#: Per token client: (next block to scan, every address that received tokens so far).
_HOLDERS: weakref.WeakKeyDictionary[TokenClient, tuple[int, set[str]]] = weakref.WeakKeyDictionary()


def token_holders(token: TokenClient, from_block: int = 0) -> set[str]:
    """Every address that ever received tokens (from the Transfer events), scanning only the
    blocks not seen before by this client (eth-tester's log scans are slow)."""
    next_block, seen = _HOLDERS.get(token, (from_block, set()))
    latest = int(token.contract.w3.eth.block_number)
    if next_block <= latest:
        logs = token.contract.events.Transfer().get_logs(from_block=next_block, to_block=latest)
        seen = seen | {e["args"]["to"] for e in logs}
        _HOLDERS[token] = (latest + 1, seen)
    return set(seen)


def accounting_holds(
    coordinator: CoordinatorClient, token: TokenClient, task_ids: Sequence[int] | None = None
) -> bool:
    """Assert that every token is accounted for; returns True so ``assert`` reads naturally.

    - the coordinator's token balance == Σ over tasks of (the pool + the challenge bonds held)
      + Σ over every member who ever joined of (stake + claimable + pending);
    - Σ of all holders' balances == the total supply.

    ``task_ids`` defaults to every task created on this coordinator (the balance covers all).
    """
    ids = coordinator.task_ids() if task_ids is None else list(task_ids)
    owed = 0
    detail: list[str] = []
    for tid in ids:
        t = coordinator.get_task(tid)
        owed += t.pool + t.challenge_bonds_held
        detail.append(f"task {tid}: pool {t.pool} challenge bonds {t.challenge_bonds_held}")
        for addr in coordinator.members(tid):
            m = coordinator.get_member(tid, addr)
            owed += m.stake + m.claimable + m.pending
            detail.append(
                f"  {addr}: stake {m.stake} claimable {m.claimable} pending {m.pending}"
                f" active {m.active} lastRound {m.last_round} weight {m.weight} flags {m.flags}"
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

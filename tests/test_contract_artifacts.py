"""The shipped artifacts are what the sources compile to, every deployed contract fits EIP-170,
the coordinator's ABI covers its modules, and FedToken behaves as documented (fixed supply,
EIP-2612 permit with nonces, ERC20Votes delegation)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from fedchain.chain import ContractRevert
from fedchain.chain.artifacts import CONTRACT_NAMES, load_artifact

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "src" / "fedchain" / "contracts" / "artifacts"
SUPPLY = 10**27
GAS = 200_000
#: EIP-170: the largest deployed (runtime) code a contract may have.
EIP170_LIMIT = 24_576
DEPLOYED = CONTRACT_NAMES  # every shipped contract is deployed


@pytest.fixture(scope="module")
def fresh_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node = shutil.which("node")
    assert node, "node is needed to compile the contracts (solc-js)"
    assert (ROOT / "node_modules" / "solc").is_dir(), "run `make setup` (npm ci) first"
    out = tmp_path_factory.mktemp("artifacts")
    proc = subprocess.run(
        [node, str(ROOT / "scripts" / "compile_contracts.mjs"), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"compile failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_shipped_artifacts_match_a_fresh_compile(fresh_artifacts: Path) -> None:
    fresh = sorted(p.name for p in fresh_artifacts.glob("*.json"))
    shipped = sorted(p.name for p in SHIPPED.glob("*.json"))
    assert shipped == fresh == sorted(f"{n}.json" for n in CONTRACT_NAMES)
    stale = []
    for name in CONTRACT_NAMES:
        new = json.loads((fresh_artifacts / f"{name}.json").read_text())
        old = json.loads((SHIPPED / f"{name}.json").read_text())
        for key in ("abi", "bytecode", "deployedBytecode"):
            if new[key] != old[key]:
                stale.append(f"{name}.{key}")
    assert not stale, (
        f"shipped artifacts are stale ({', '.join(stale)}): run `make contracts` and commit them"
    )


def test_load_artifact_reads_the_shipped_files() -> None:
    for name in CONTRACT_NAMES:
        art = load_artifact(name)
        raw = json.loads((SHIPPED / f"{name}.json").read_text())
        assert (art.abi, art.bytecode, art.deployed_bytecode) == (
            raw["abi"],
            raw["bytecode"],
            raw["deployedBytecode"],
        )
        assert art.bytecode.startswith("0x") and len(art.bytecode) > 1000
    with pytest.raises(KeyError):
        load_artifact("ChunkCommitment")


def _code_size(hex_code: str) -> int:
    code = hex_code[2:] if hex_code.startswith("0x") else hex_code
    return len(code) // 2


@pytest.mark.parametrize("name", DEPLOYED)
def test_every_deployed_contract_fits_eip170(name: str, fresh_artifacts: Path) -> None:
    shipped = _code_size(load_artifact(name).deployed_bytecode)
    fresh = _code_size(
        json.loads((fresh_artifacts / f"{name}.json").read_text())["deployedBytecode"]
    )
    assert 0 < shipped == fresh
    assert shipped <= EIP170_LIMIT, f"{name}: {shipped} bytes of runtime code > {EIP170_LIMIT}"


def test_deployed_code_on_chain_is_the_shipped_runtime_code(tx: Any, deployment: Any) -> None:
    """What deploy() put on the chain is the artifacts' runtime code (immutables aside: their
    slots are filled at construction, so only the sizes must agree)."""
    w3 = tx.chain.w3
    coordinator = w3.eth.contract(
        address=deployment.coordinator, abi=load_artifact("TaskCoordinator").abi
    )
    f = coordinator.functions
    addresses = {
        "FedToken": deployment.token,
        "TaskCoordinator": deployment.coordinator,
        "SecAggPhases": f.secAggPhases().call(),
        "CoordinatorLens": f.lens().call(),
        "RoundDisputes": deployment.disputes,
    }
    disputes = w3.eth.contract(address=deployment.disputes, abi=load_artifact("RoundDisputes").abi)
    addresses["SecureTerms"] = disputes.functions.secureTerms().call()
    assert f.disputeGame().call() == deployment.disputes
    assert f.token().call() == deployment.token
    for name, address in addresses.items():
        size = len(w3.eth.get_code(address))
        assert size == _code_size(load_artifact(name).deployed_bytecode), name
        assert size <= EIP170_LIMIT, name


def test_the_coordinator_abi_is_the_union_of_its_own_and_its_modules() -> None:
    """Clients call the modules' functions (and decode their events and errors) through the
    coordinator's address, so its shipped ABI must hold every entry of both modules."""

    def entries(name: str) -> set[tuple[str, str, str]]:
        return {
            (i["type"], i.get("name", ""), json.dumps(i.get("inputs", []), sort_keys=True))
            for i in load_artifact(name).abi
            if i["type"] in ("function", "event", "error")
        }

    own = entries("TaskCoordinator")
    for module in ("SecAggPhases", "CoordinatorLens"):
        missing = entries(module) - own
        assert not missing, f"{module} entries missing from TaskCoordinator's ABI: {missing}"
    names = {n for t, n, _ in own if t == "function"}
    assert {"getTask", "getMember", "rewardPerWeight", "advertiseKeys", "commitUpdate"} <= names
    assert "verifyChunk" not in names
    errors = {n for t, n, _ in own if t == "error" and n.startswith("Coordinator")}
    assert {"CoordinatorWrongPhase", "CoordinatorNotMedian", "CoordinatorNormAboveBound"} <= errors
    unprefixed = {
        n for t, n, _ in own if t == "error" and not n.startswith(("Coordinator", "ERC20", "Safe"))
    }
    assert not unprefixed - {"ReentrancyGuardReentrantCall"}, unprefixed


# ---------------------------------------------------------------- FedToken


def test_supply_is_fixed(token: Any, accounts: Any, tx: Any, make_task: Any) -> None:
    names = {i["name"] for i in token.contract.abi if i.get("type") == "function"}
    assert not names & {"mint", "burn", "burnFrom"}, "FedToken must not mint or burn"
    assert token.total_supply() == SUPPLY
    assert token.balance_of(accounts.sponsor.address) == SUPPLY
    make_task()  # transfers, approvals, escrow
    assert token.total_supply() == SUPPLY
    f = token.contract.functions
    block = tx.chain.w3.eth.block_number
    tx.chain.advance_time(10)  # getPastTotalSupply needs a past block
    assert int(f.getPastTotalSupply(block).call()) == SUPPLY
    assert int(f.decimals().call()) == 18
    assert (f.name().call(), f.symbol().call()) == ("FedChain Token", "FED")


def test_permit_uses_nonces(token: Any, accounts: Any, tx: Any) -> None:
    owner, spender = accounts.members[0], accounts.members[1]
    f = token.contract.functions
    assert int(f.nonces(owner.address).call()) == 0
    deadline = tx.chain.now() + 3600

    def sign(value: int, nonce: int) -> Any:
        return Account.sign_typed_data(
            owner.key,
            domain_data={
                "name": "FedChain Token",
                "version": "1",
                "chainId": tx.chain.chain_id,
                "verifyingContract": token.address,
            },
            message_types={
                "Permit": [
                    {"name": "owner", "type": "address"},
                    {"name": "spender", "type": "address"},
                    {"name": "value", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ]
            },
            message_data={
                "owner": owner.address,
                "spender": spender.address,
                "value": value,
                "nonce": nonce,
                "deadline": deadline,
            },
        )

    sig = sign(5 * 10**18, 0)
    permit = f.permit(
        owner.address,
        spender.address,
        5 * 10**18,
        deadline,
        sig.v,
        sig.r.to_bytes(32, "big"),
        sig.s.to_bytes(32, "big"),
    )
    tx.send(spender, permit, gas=GAS, operation="permit")  # the spender pays the gas
    assert int(f.allowance(owner.address, spender.address).call()) == 5 * 10**18
    assert int(f.nonces(owner.address).call()) == 1
    # The same signature cannot be replayed: the nonce moved on.
    with pytest.raises(ContractRevert) as info:
        tx.send(spender, permit, gas=GAS, operation="permit")
    assert info.value.error == "ERC2612InvalidSigner"
    assert int(f.nonces(owner.address).call()) == 1


def test_votes_follow_delegation_and_balances(token: Any, accounts: Any, tx: Any) -> None:
    sponsor, a, b = accounts.sponsor, accounts.members[0], accounts.members[1]
    f = token.contract.functions
    token.transfer(sponsor, a.address, 100)
    assert int(f.getVotes(a.address).call()) == 0  # no votes until delegated
    tx.send(a, f.delegate(a.address), gas=GAS, operation="delegate")
    assert f.delegates(a.address).call() == a.address
    assert int(f.getVotes(a.address).call()) == 100
    block = tx.chain.w3.eth.block_number
    tx.send(a, f.transfer(b.address, 30), gas=GAS, operation="transfer")
    assert int(f.getVotes(a.address).call()) == 70
    # Delegating to someone else moves the votes.
    tx.send(a, f.delegate(b.address), gas=GAS, operation="delegate")
    assert int(f.getVotes(a.address).call()) == 0
    assert int(f.getVotes(b.address).call()) == 70  # b's own 30 are not delegated
    tx.chain.advance_time(10)
    assert int(f.getPastVotes(a.address, block).call()) == 100
    assert int(f.numCheckpoints(a.address).call()) >= 2
    assert token.total_supply() == SUPPLY


def test_transfer_gas_limit_covers_vote_checkpoints(tx: Any, token: Any, accounts: Any) -> None:
    """FedToken is an ERC20Votes token: moving tokens to or from an account that delegated
    writes vote checkpoints. TokenClient.transfer's fixed gas limit must cover that."""
    f = token.contract.functions
    a, b = accounts.members[0], accounts.members[1]
    tx.send(a, f.delegate(accounts.members[2].address), gas=GAS, operation="delegate")
    tx.send(b, f.delegate(accounts.members[3].address), gas=GAS, operation="delegate")
    token.transfer(accounts.sponsor, a.address, 10**18)  # to a delegating account
    token.transfer(a, b.address, 1)  # between delegating accounts
    assert int(f.getVotes(accounts.members[3].address).call()) == 1


def test_claim_and_leave_gas_limits_cover_vote_checkpoints(
    chain: Any,
    tx: Any,
    token: Any,
    coordinator: Any,
    accounts: Any,
    make_task: Any,
    accounting_holds: Any,
    digest: Any,
) -> None:
    """The coordinator's payouts (claim, leave) transfer to members; members who delegated
    their votes (as DAO members will) must still be able to claim and leave."""
    f = token.contract.functions
    members = accounts.members[:3]
    tid = make_task(members, num_rounds=1)
    # After joining, members hold no tokens; they delegate to delegatees with no checkpoints yet.
    for i, m in enumerate(members):
        tx.send(m, f.delegate(accounts.members[3 + i].address), gas=GAS, operation="delegate")
    for m in members:
        coordinator.commit_update(m, tid, 1, digest(f"r{m.address}"), 10)
    coordinator.post_aggregate(members[0], tid, 1, digest("ar"), digest("m"))
    chain.advance_time(coordinator.get_task(tid).deadline - chain.now() + 2)
    coordinator.advance(members[0], tid)
    coordinator.leave_task(members[1], tid)
    coordinator.claim(members[0], tid)
    assert accounting_holds(coordinator, token)

"""Typed clients of the two contracts; the only code that builds their calls."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from fedchain.chain.artifacts import load_artifact
from fedchain.chain.backends import ChainBackend
from fedchain.chain.errors import ChainError, ContractRevert, _abi_type, decode_revert, revert_data
from fedchain.chain.transactor import Receipt, Transactor
from fedchain.chain.types import (
    AbortReason,
    AggregateCommitment,
    MemberInfo,
    Phase,
    RoundOutcome,
    TaskInfo,
    TaskParams,
    UpdateCommitment,
)

__all__ = ["Deployment", "deploy", "TokenClient", "CoordinatorClient", "GAS_LIMITS"]

#: Explicit gas limits per operation (generous: unused gas is not charged).
GAS_LIMITS = {
    "deploy_token": 3_000_000,
    "deploy_coordinator": 6_000_000,
    "approve": 80_000,
    "transfer": 150_000,
    "create_task": 500_000,
    "start_task": 120_000,
    "join": 250_000,
    "leave_task": 200_000,
    "claim": 180_000,
    "commit_update": 150_000,
    "post_aggregate": 200_000,
    "post_aggregate_per_excluded": 40_000,
    "advance": 200_000,
    "secure_phase": 150_000,
    "withdraw_pool": 200_000,
}


@dataclass(frozen=True)
class Deployment:
    """Where the contracts live; saved in the workdir so later commands find them."""

    chain_id: int
    token: str
    coordinator: str
    deploy_block: int

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        if not path.is_file():
            raise ChainError(f"no deployment at {path}: run `fedchain demo --workdir` first")
        return cls(**json.loads(path.read_text()))


def deploy(tx: Transactor, deployer: LocalAccount, *, supply: int) -> Deployment:
    """Deploy FedToken (whole supply to ``deployer``) and the TaskCoordinator."""
    w3 = tx.chain.w3
    token_art = load_artifact("FedToken")
    token_factory = w3.eth.contract(abi=token_art.abi, bytecode=token_art.bytecode)
    r1 = tx.send(
        deployer,
        token_factory.constructor("FedChain Token", "FED", deployer.address, supply),
        gas=GAS_LIMITS["deploy_token"],
        operation="deploy_token",
    )
    coord_art = load_artifact("TaskCoordinator")
    coord_factory = w3.eth.contract(abi=coord_art.abi, bytecode=coord_art.bytecode)
    r2 = tx.send(
        deployer,
        coord_factory.constructor(r1.contract_address),
        gas=GAS_LIMITS["deploy_coordinator"],
        operation="deploy_coordinator",
    )
    assert r1.contract_address and r2.contract_address
    return Deployment(tx.chain.chain_id, r1.contract_address, r2.contract_address, r1.block)


class TokenClient:
    def __init__(self, tx: Transactor, address: str) -> None:
        self.tx = tx
        self.contract: Contract = tx.chain.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=load_artifact("FedToken").abi
        )
        self.address = self.contract.address

    def balance_of(self, account: str) -> int:
        return int(self.contract.functions.balanceOf(account).call())

    def total_supply(self) -> int:
        return int(self.contract.functions.totalSupply().call())

    def transfer(self, sender: LocalAccount, to: str, amount: int) -> Receipt:
        return self.tx.send(
            sender,
            self.contract.functions.transfer(to, amount),
            gas=GAS_LIMITS["transfer"],
            operation="transfer",
        )

    def approve(self, owner: LocalAccount, spender: str, amount: int) -> Receipt:
        return self.tx.send(
            owner,
            self.contract.functions.approve(spender, amount),
            gas=GAS_LIMITS["approve"],
            operation="approve",
        )


def _b32(v: Any) -> bytes:
    return bytes(v)


class CoordinatorClient:
    """Every call and event of ``TaskCoordinator``, typed."""

    def __init__(self, tx: Transactor, address: str, *, from_block: int = 0) -> None:
        self.tx = tx
        self.contract: Contract = tx.chain.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=load_artifact("TaskCoordinator").abi
        )
        self.address = self.contract.address
        self.from_block = from_block
        self._events = EventIndex(self.contract, from_block)
        self._view_lock = threading.Lock()
        self._view_block = -1
        self._view_cache: dict[tuple[Any, ...], Any] = {}

    @property
    def chain(self) -> ChainBackend:
        return self.tx.chain

    # ------------------------------------------------------------ transactions
    def create_task(self, sponsor: LocalAccount, params: TaskParams) -> int:
        r = self.tx.send(
            sponsor,
            self.contract.functions.createTask(params.as_tuple()),
            gas=GAS_LIMITS["create_task"],
            operation="create_task",
        )
        (ev,) = self.contract.events.TaskCreated().process_receipt(_as_receipt(r), errors=DISCARD)
        return int(ev["args"]["taskId"])

    def start_task(self, sponsor: LocalAccount, task_id: int) -> Receipt:
        return self.tx.send(
            sponsor,
            self.contract.functions.startTask(task_id),
            gas=GAS_LIMITS["start_task"],
            operation="start_task",
            task_id=task_id,
        )

    def join(self, member: LocalAccount, task_id: int) -> Receipt:
        return self.tx.send(
            member,
            self.contract.functions.join(task_id),
            gas=GAS_LIMITS["join"],
            operation="join",
            task_id=task_id,
        )

    def leave_task(self, member: LocalAccount, task_id: int) -> Receipt:
        return self.tx.send(
            member,
            self.contract.functions.leaveTask(task_id),
            gas=GAS_LIMITS["leave_task"],
            operation="leave_task",
            task_id=task_id,
        )

    def claim(self, member: LocalAccount, task_id: int) -> Receipt:
        return self.tx.send(
            member,
            self.contract.functions.claim(task_id),
            gas=GAS_LIMITS["claim"],
            operation="claim",
            task_id=task_id,
        )

    def withdraw_pool(self, sponsor: LocalAccount, task_id: int) -> Receipt:
        return self.tx.send(
            sponsor,
            self.contract.functions.withdrawPool(task_id),
            gas=GAS_LIMITS["withdraw_pool"],
            operation="withdraw_pool",
            task_id=task_id,
        )

    def commit_update(
        self,
        member: LocalAccount,
        task_id: int,
        round: int,
        merkle_root: bytes,
        blob_digest: bytes,
        samples: int,
    ) -> Receipt:
        return self.tx.send(
            member,
            self.contract.functions.commitUpdate(task_id, round, merkle_root, blob_digest, samples),
            gas=GAS_LIMITS["commit_update"],
            operation="commit_update",
            task_id=task_id,
            round=round,
        )

    def post_aggregate(
        self,
        aggregator: LocalAccount,
        task_id: int,
        round: int,
        merkle_root: bytes,
        blob_digest: bytes,
        model_digest: bytes,
        excluded: list[str] | None = None,
    ) -> Receipt:
        excluded = list(excluded or [])
        gas = GAS_LIMITS["post_aggregate"] + GAS_LIMITS["post_aggregate_per_excluded"] * len(
            excluded
        )
        return self.tx.send(
            aggregator,
            self.contract.functions.postAggregate(
                task_id, round, merkle_root, blob_digest, model_digest, excluded
            ),
            gas=gas,
            operation="post_aggregate",
            task_id=task_id,
            round=round,
        )

    # secure aggregation phases (SecAgg+) ------------------------------------
    def advertise_keys(
        self, member: LocalAccount, task_id: int, round: int, digest: bytes
    ) -> Receipt:
        return self._secure_tx(member, "advertiseKeys", "advertise_keys", task_id, round, digest)

    def share_keys(
        self, member: LocalAccount, task_id: int, round: int, digest: bytes, samples: int
    ) -> Receipt:
        """Publish the key shares' digest and the samples the masked input will be weighted by."""
        return self._secure_tx(member, "shareKeys", "share_keys", task_id, round, digest, samples)

    def complain(self, member: LocalAccount, task_id: int, round: int, digest: bytes) -> Receipt:
        """Publish a complaint about neighbours' key shares (before committing a masked input)."""
        return self._secure_tx(member, "complain", "complain", task_id, round, digest)

    def unmask(self, member: LocalAccount, task_id: int, round: int, digest: bytes) -> Receipt:
        return self._secure_tx(member, "unmask", "unmask", task_id, round, digest)

    def _secure_tx(
        self,
        member: LocalAccount,
        fn: str,
        op: str,
        task_id: int,
        round: int,
        digest: bytes,
        *extra: int,
    ) -> Receipt:
        return self.tx.send(
            member,
            getattr(self.contract.functions, fn)(task_id, round, digest, *extra),
            gas=GAS_LIMITS["secure_phase"],
            operation=op,
            task_id=task_id,
            round=round,
        )

    def post_secure_aggregate(
        self,
        aggregator: LocalAccount,
        task_id: int,
        round: int,
        merkle_root: bytes,
        blob_digest: bytes,
        model_digest: bytes,
        excluded: list[str] | None = None,
        withheld: list[str] | None = None,
    ) -> Receipt:
        excluded = list(excluded or [])
        withheld = list(withheld or [])
        gas = GAS_LIMITS["post_aggregate"] + GAS_LIMITS["post_aggregate_per_excluded"] * (
            len(excluded) + len(withheld)
        )
        return self.tx.send(
            aggregator,
            self.contract.functions.postSecureAggregate(
                task_id, round, merkle_root, blob_digest, model_digest, excluded, withheld
            ),
            gas=gas,
            operation="post_aggregate",
            task_id=task_id,
            round=round,
        )

    def advance(self, caller: LocalAccount, task_id: int, round: int | None = None) -> Receipt:
        return self.tx.send(
            caller,
            self.contract.functions.advance(task_id),
            gas=GAS_LIMITS["advance"],
            operation="advance",
            task_id=task_id,
            round=round,
        )

    # ------------------------------------------------------------ views
    def _view(self, fn: str, *args: Any) -> Any:
        """Call a view at the latest block, memoized per block.

        Chain state only changes from block to block, and many nodes poll the same task in
        one block; answering repeats from memory keeps polling cheap (each eth_call is a full
        EVM execution on the embedded chain) without ever returning stale state.
        """
        block = int(self.chain.w3.eth.block_number)
        with self._view_lock:
            if self._view_block != block:
                self._view_cache.clear()
                self._view_block = block
            key = (fn, args)
            if key in self._view_cache:
                return self._view_cache[key]
        value = getattr(self.contract.functions, fn)(*args).call(block_identifier=block)
        with self._view_lock:
            if self._view_block == block:
                self._view_cache[key] = value
        return value

    def task_count(self) -> int:
        return int(self.contract.functions.taskCount().call())

    def get_task(self, task_id: int) -> TaskInfo:
        try:
            v = self._view("getTask", task_id)
        except Exception as exc:
            raise _decode_call_error(exc, "get_task") from exc
        return TaskInfo(
            task_id=task_id,
            sponsor=v[0],
            num_rounds=int(v[1]),
            min_participants=int(v[2]),
            commit_duration=int(v[3]),
            aggregate_duration=int(v[4]),
            challenge_duration=int(v[5]),
            stake_amount=int(v[6]),
            aggregator_bond=int(v[7]),
            reward_per_round=int(v[8]),
            pool=int(v[9]),
            round=int(v[10]),
            phase=Phase(v[11]),
            deadline=int(v[12]),
            total_samples=int(v[13]),
            committed=int(v[14]),
            members=int(v[15]),
            aggregator=v[16],
            bond_held=int(v[17]),
            config_digest=_b32(v[18]),
            global_model_digest=_b32(v[19]),
            pending_model_digest=_b32(v[20]),
            secure=bool(v[21]),
            advertised=int(v[22]),
            shared=int(v[23]),
            unmasked=int(v[24]),
        )

    def get_member(self, task_id: int, account: str) -> MemberInfo:
        try:
            m, pending, commitment = self._view("getMember", task_id, account)
        except Exception as exc:
            raise _decode_call_error(exc, "get_member") from exc
        return MemberInfo(
            int(m[0]), int(m[1]), int(m[2]), int(m[3]), bool(m[4]), int(pending), _b32(commitment)
        )

    def reward_per_sample(self, task_id: int, round: int) -> int:
        return int(self.contract.functions.rewardPerSample(task_id, round).call())

    def verify_chunk(self, root: bytes, proof: list[bytes], index: int, chunk: bytes) -> bool:
        return bool(self.contract.functions.verifyChunk(root, proof, index, chunk).call())

    # ------------------------------------------------------------ events (the history)
    def _logs(self, event: str, **filters: Any) -> list[Any]:
        """Decoded logs of one event, filtered by argument values (from the local index)."""
        self._events.sync()
        return [
            e
            for e in self._events.by_event.get(event, [])
            if all(e["args"][k] == v for k, v in filters.items())
        ]

    def task_ids(self) -> list[int]:
        return [int(e["args"]["taskId"]) for e in self._logs("TaskCreated")]

    def task_created(self, task_id: int) -> dict[str, Any]:
        (e,) = self._logs("TaskCreated", taskId=task_id)
        return dict(e["args"])

    def members(self, task_id: int) -> list[str]:
        """Everyone who ever joined the task, in order of first joining."""
        seen: dict[str, None] = {}
        for e in self._logs("Joined", taskId=task_id):
            seen.setdefault(e["args"]["account"], None)
        return list(seen)

    def updates(self, task_id: int, round: int) -> list[UpdateCommitment]:
        return [
            UpdateCommitment(
                task_id,
                round,
                a["participant"],
                _b32(a["merkleRoot"]),
                _b32(a["blobDigest"]),
                int(a["samples"]),
            )
            for a in (e["args"] for e in self._logs("UpdateCommitted", taskId=task_id, round=round))
        ]

    def excluded(self, task_id: int, round: int) -> list[str]:
        return [
            e["args"]["participant"]
            for e in self._logs("UpdateExcluded", taskId=task_id, round=round)
        ]

    def aggregate(self, task_id: int, round: int) -> AggregateCommitment | None:
        logs = self._logs("AggregatePosted", taskId=task_id, round=round)
        if not logs:
            return None
        a = logs[-1]["args"]
        return AggregateCommitment(
            task_id,
            round,
            a["aggregator"],
            _b32(a["merkleRoot"]),
            _b32(a["blobDigest"]),
            _b32(a["modelDigest"]),
            int(a["totalSamples"]),
            int(a["bond"]),
        )

    def round_outcomes(self, task_id: int) -> list[RoundOutcome]:
        out = [
            RoundOutcome(
                task_id,
                int(a["round"]),
                True,
                _b32(a["modelDigest"]),
                int(a["rewardPerSample"]),
                int(a["rewardsCredited"]),
                None,
            )
            for a in (e["args"] for e in self._logs("RoundFinalized", taskId=task_id))
        ]
        out += [
            RoundOutcome(task_id, int(a["round"]), False, None, 0, 0, AbortReason(a["reason"]))
            for a in (e["args"] for e in self._logs("RoundAborted", taskId=task_id))
        ]
        return sorted(out, key=lambda o: o.round)

    def phase_digests(self, task_id: int, round: int, event: str) -> dict[str, bytes]:
        """participant -> digest of its message in one secure phase ("KeysAdvertised",
        "KeysShared", "SharesComplained", "UnmaskSharesPosted"), in on-chain order."""
        return {
            e["args"]["participant"]: _b32(e["args"]["digest"])
            for e in self._logs(event, taskId=task_id, round=round)
        }

    def shared_samples(self, task_id: int, round: int) -> dict[str, int]:
        """participant -> samples it declared with its key shares (they fix the ring width)."""
        return {
            e["args"]["participant"]: int(e["args"]["samples"])
            for e in self._logs("KeysShared", taskId=task_id, round=round)
        }

    def round_seed(self, task_id: int, round: int) -> bytes:
        logs = self._logs("RoundSeed", taskId=task_id, round=round)
        if not logs:
            raise ChainError(f"task {task_id} round {round} has no seed (not a secure round?)")
        return _b32(logs[-1]["args"]["seed"])

    def withheld(self, task_id: int, round: int) -> list[str]:
        return [
            e["args"]["participant"]
            for e in self._logs("UnmaskWithheld", taskId=task_id, round=round)
        ]

    def rewards_credited(self, task_id: int) -> list[tuple[int, str, int]]:
        """(round, account, amount) of every credit: RewardsCredited events plus the credits
        that ride on UpdateCommitted (a member's previous round, settled at its next commit)."""
        riding = [
            (int(a["creditedRound"]), a["participant"], int(a["credited"]))
            for a in (e["args"] for e in self._logs("UpdateCommitted", taskId=task_id))
            if int(a["credited"]) > 0
        ]
        return self._explicit_credits(task_id) + riding

    def _explicit_credits(self, task_id: int) -> list[tuple[int, str, int]]:
        return [
            (int(a["round"]), a["account"], int(a["amount"]))
            for a in (e["args"] for e in self._logs("RewardsCredited", taskId=task_id))
        ]


class EventIndex:
    """Every log a contract emitted, fetched incrementally and decoded once.

    Nodes and auditors ask many small questions of the history ("the updates of round 7");
    asking the node each time costs a scan per question (eth-tester scans receipts, remote
    nodes limit log ranges), so the client keeps the logs it has seen and fetches only new
    blocks, in bounded ranges.
    """

    MAX_RANGE = 5_000

    def __init__(self, contract: Contract, from_block: int) -> None:
        self.contract = contract
        self.next_block = from_block
        self.by_event: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._decoders: dict[bytes, Any] = {}
        for item in load_artifact("TaskCoordinator").abi:
            if item.get("type") == "event":
                types = ",".join(_abi_type(i) for i in item["inputs"])
                topic = keccak(text=f"{item['name']}({types})")
                self._decoders[topic] = getattr(contract.events, item["name"])()

    def sync(self) -> None:
        w3 = self.contract.w3
        with self._lock:
            latest = int(w3.eth.block_number)
            while self.next_block <= latest:
                end = min(latest, self.next_block + self.MAX_RANGE - 1)
                raw = w3.eth.get_logs(
                    {"address": self.contract.address, "fromBlock": self.next_block, "toBlock": end}
                )
                for log in raw:
                    decoder = self._decoders.get(bytes(log["topics"][0])) if log["topics"] else None
                    if decoder is None:
                        continue
                    ev = decoder.process_log(log)
                    self.by_event.setdefault(ev["event"], []).append(ev)
                self.next_block = end + 1


def _as_receipt(r: Receipt) -> dict[str, Any]:
    return {"logs": r.logs}


def _decode_call_error(exc: Exception, operation: str) -> Exception:
    data = revert_data(exc)
    return decode_revert(data, operation) if data is not None else exc


__all__ += ["ContractRevert"]

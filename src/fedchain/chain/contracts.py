"""Typed clients of the two contracts; the only code that builds their calls."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from eth_abi import encode
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
    ChallengeOutcome,
    CommitOpening,
    ExclusionReason,
    Fault,
    GameInfo,
    GameKind,
    GameState,
    MemberInfo,
    Phase,
    RoundOutcome,
    SecureMemberInfo,
    SecureRoundInfo,
    Target,
    TaskInfo,
    TaskParams,
    UpdateCommitment,
)

__all__ = [
    "Deployment",
    "deploy",
    "TokenClient",
    "CoordinatorClient",
    "DisputeClient",
    "GAS_LIMITS",
]

#: Explicit gas limits per operation (generous: unused gas is not charged).
GAS_LIMITS = {
    "deploy_token": 3_000_000,
    "deploy_coordinator": 6_000_000,
    "deploy_module": 4_000_000,
    "deploy_disputes": 6_000_000,
    # a secure step: PRG chunk, two X25519 ladders, HKDF and the O(n) neighbour graph
    "secure_step": 12_000_000,
    "set_dispute_game": 80_000,
    "approve": 80_000,
    "transfer": 150_000,
    "create_task": 700_000,
    "start_task": 150_000,
    "start_task_per_member": 12_000,
    "join": 250_000,
    "leave_task": 200_000,
    "claim": 180_000,
    "commit_update": 150_000,
    "post_aggregate": 220_000,
    "post_aggregate_per_excluded": 40_000,
    "advance": 200_000,
    "yield_grace": 100_000,
    "secure_phase": 150_000,
    "withdraw_pool": 200_000,
    # disputes (measured in benchmarks/disputes.py; limits generous, all far below 2**24)
    "challenge": 400_000,
    "dispute_move": 400_000,
    "dispute_proof": 2_000_000,
    "dispute_timeout": 300_000,
}


@dataclass(frozen=True)
class Deployment:
    """Where the contracts live; saved in the workdir so later commands find them."""

    chain_id: int
    token: str
    coordinator: str
    disputes: str
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
    """Deploy FedToken (whole supply to ``deployer``), the coordinator with its two modules
    (SecAgg+ phases, views), and the dispute game with its verifier of secure rounds' terms,
    and name the game in the coordinator."""
    w3 = tx.chain.w3

    def create(name: str, *args: object, operation: str) -> str:
        art = load_artifact(name)
        factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        r = tx.send(
            deployer, factory.constructor(*args), gas=GAS_LIMITS[operation], operation=operation
        )
        assert r.contract_address
        return r.contract_address

    first_block = int(w3.eth.block_number) + 1
    token = create(
        "FedToken", "FedChain Token", "FED", deployer.address, supply, operation="deploy_token"
    )
    phases = create("SecAggPhases", token, operation="deploy_module")
    lens = create("CoordinatorLens", token, operation="deploy_module")
    coordinator = create("TaskCoordinator", token, phases, lens, operation="deploy_coordinator")
    terms = create("SecureTerms", operation="deploy_module")
    disputes = create("RoundDisputes", coordinator, terms, operation="deploy_disputes")
    contract = w3.eth.contract(
        address=Web3.to_checksum_address(coordinator), abi=load_artifact("TaskCoordinator").abi
    )
    tx.send(
        deployer,
        contract.functions.setDisputeGame(disputes),
        gas=GAS_LIMITS["set_dispute_game"],
        operation="set_dispute_game",
    )
    return Deployment(tx.chain.chain_id, token, coordinator, disputes, first_block)


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
        self._events = EventIndex(self.contract, from_block, "TaskCoordinator")
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

    def start_task(self, sponsor: LocalAccount, task_id: int, median_hint: int = 1) -> Receipt:
        """Open round 1; ``median_hint`` is a median of the declared sample counts (checked)."""
        members = self.get_task(task_id).members
        return self.tx.send(
            sponsor,
            self.contract.functions.startTask(task_id, median_hint),
            gas=GAS_LIMITS["start_task"] + GAS_LIMITS["start_task_per_member"] * members,
            operation="start_task",
            task_id=task_id,
        )

    def join(self, member: LocalAccount, task_id: int, declared: int) -> Receipt:
        """Join with ``declared`` samples (fixed for the membership; they price the stake)."""
        return self.tx.send(
            member,
            self.contract.functions.join(task_id, declared),
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
        sum_sq: int,
    ) -> Receipt:
        return self.tx.send(
            member,
            self.contract.functions.commitUpdate(task_id, round, merkle_root, sum_sq),
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
        model_root: bytes,
        excluded: dict[str, ExclusionReason] | None = None,
    ) -> Receipt:
        """Post the aggregate's and the new model's roots; ``excluded`` maps who to why."""
        excluded = dict(excluded or {})
        gas = GAS_LIMITS["post_aggregate"] + GAS_LIMITS["post_aggregate_per_excluded"] * len(
            excluded
        )
        return self.tx.send(
            aggregator,
            self.contract.functions.postAggregate(
                task_id,
                round,
                merkle_root,
                model_root,
                list(excluded),
                [int(r) for r in excluded.values()],
            ),
            gas=gas,
            operation="post_aggregate",
            task_id=task_id,
            round=round,
        )

    # secure aggregation phases (SecAgg+) ------------------------------------
    def advertise_keys(
        self, member: LocalAccount, task_id: int, round: int, enc_pk: bytes, mask_pk: bytes
    ) -> Receipt:
        """Advertise the round's two X25519 public keys (raw 32 bytes each, on-chain) and reveal
        the member's nonce for this round's seed (ignored when none was committed)."""
        return self._secure_tx(
            member,
            "advertiseKeys",
            "advertise_keys",
            task_id,
            round,
            enc_pk,
            mask_pk,
            round_nonce(member, task_id, round),
        )

    def share_keys(
        self,
        member: LocalAccount,
        task_id: int,
        round: int,
        digest: bytes,
        self_mask_commitment: bytes,
    ) -> Receipt:
        """Publish the key shares' digest and sha256 of the self-mask seed (the event carries
        the member's weight), and commit the member's nonce for the next round's seed."""
        return self._secure_tx(
            member,
            "shareKeys",
            "share_keys",
            task_id,
            round,
            digest,
            nonce_commitment(member, task_id, round + 1),
            self_mask_commitment,
        )

    def slash_unrevealed(
        self, caller: LocalAccount, task_id: int, round: int, member: str
    ) -> Receipt:
        """Slash a member that committed a nonce for ``round`` and did not reveal it."""
        return self.tx.send(
            caller,
            self.contract.functions.slashUnrevealed(task_id, round, member),
            gas=GAS_LIMITS["secure_phase"],
            operation="slash_unrevealed",
            task_id=task_id,
            round=round,
        )

    def complain(self, member: LocalAccount, task_id: int, round: int, digest: bytes) -> Receipt:
        """Publish a complaint about neighbours' key shares (before committing a masked input)."""
        return self._secure_tx(member, "complain", "complain", task_id, round, digest)

    def unmask(
        self, member: LocalAccount, task_id: int, round: int, digest: bytes, revealed: bytes
    ) -> Receipt:
        """Publish the unmask shares' digest and ``revealed`` (:func:`revealed_hash` of the U1
        indices whose self-mask share they hold)."""
        return self._secure_tx(member, "unmask", "unmask", task_id, round, digest, revealed)

    def _secure_tx(
        self,
        member: LocalAccount,
        fn: str,
        op: str,
        task_id: int,
        round: int,
        *args: int | bytes,
    ) -> Receipt:
        return self.tx.send(
            member,
            getattr(self.contract.functions, fn)(task_id, round, *args),
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
        model_root: bytes,
        excluded: dict[str, ExclusionReason] | None = None,
        withheld: list[str] | None = None,
    ) -> Receipt:
        excluded = dict(excluded or {})
        withheld = list(withheld or [])
        gas = GAS_LIMITS["post_aggregate"] + GAS_LIMITS["post_aggregate_per_excluded"] * (
            len(excluded) + len(withheld)
        )
        return self.tx.send(
            aggregator,
            self.contract.functions.postSecureAggregate(
                task_id,
                round,
                merkle_root,
                model_root,
                list(excluded),
                [int(r) for r in excluded.values()],
                withheld,
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

    def yield_grace(self, incumbent: LocalAccount, task_id: int, round: int) -> Receipt:
        """Give up the round's aggregate as the incumbent (no liveness slash follows)."""
        return self.tx.send(
            incumbent,
            self.contract.functions.yieldGrace(task_id, round),
            gas=GAS_LIMITS["yield_grace"],
            operation="yield_grace",
            task_id=task_id,
            round=round,
        )

    def yielded(self, task_id: int) -> list[tuple[int, str]]:
        """(round, incumbent) of every grace given up."""
        return [
            (int(a["round"]), a["incumbent"])
            for a in (e["args"] for e in self._logs("GraceYielded", taskId=task_id))
        ]

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
        f = dict(zip(_TASK_VIEW_FIELDS, v, strict=True))
        f["phase"] = Phase(f["phase"])
        for k in ("config_digest", "global_model_root", "pending_model_root"):
            f[k] = _b32(f[k])
        f["secure"] = bool(f["secure"])
        return TaskInfo(task_id=task_id, **f)

    def get_member(self, task_id: int, account: str) -> MemberInfo:
        try:
            m, pending, commitment = self._view("getMember", task_id, account)
        except Exception as exc:
            raise _decode_call_error(exc, "get_member") from exc
        return MemberInfo(
            int(m[0]), int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(pending), _b32(commitment)
        )

    def aggregate_grace(self, task_id: int) -> tuple[str | None, int]:
        """(holder, grace end) of the open aggregate window: the incumbent aggregator that may
        post alone until then, or (None, 0) when any member may post now."""
        holder, end = self._view("aggregateGrace", task_id)
        return (None, 0) if int(holder, 16) == 0 else (holder, int(end))

    def silent_aggregators(self, task_id: int) -> list[tuple[int, str]]:
        """(round, incumbent) of every grace that passed without the incumbent's post."""
        return [
            (int(a["round"]), a["incumbent"])
            for a in (e["args"] for e in self._logs("AggregatorSilent", taskId=task_id))
        ]

    def reward_per_weight(self, task_id: int, round: int) -> int:
        return int(self.contract.functions.rewardPerWeight(task_id, round).call())

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
        """The round's commitments, in commit order."""
        return [
            UpdateCommitment(
                task_id,
                round,
                a["participant"],
                _b32(a["merkleRoot"]),
                int(a["sumSq"]),
                int(a["commitIndex"]),
            )
            for a in (e["args"] for e in self._logs("UpdateCommitted", taskId=task_id, round=round))
        ]

    def joined_detail(self, task_id: int) -> list[tuple[str, int, int, bool]]:
        """(account, declared samples, weight at join, joined before the start) in order."""
        started = self._logs("WeightsCapped", taskId=task_id)
        start_block = int(started[0]["blockNumber"]) if started else None
        return [
            (
                e["args"]["account"],
                int(e["args"]["declared"]),
                int(e["args"]["weight"]),
                start_block is None or int(e["blockNumber"]) < start_block,
            )
            for e in self._logs("Joined", taskId=task_id)
        ]

    def stakes_paid(self, task_id: int) -> dict[str, int]:
        """account -> stake it escrowed at its latest join."""
        return {
            e["args"]["account"]: int(e["args"]["stake"])
            for e in self._logs("Joined", taskId=task_id)
        }

    def stake_changes(self, task_id: int) -> list[tuple[str, str, int]]:
        """(event, account, amount) of every join, slash and leave, in chain order: what a
        member's stake is, replayed (a join escrows, a slash takes, a leave returns it all)."""
        logs = [
            (e, e["args"]["account"], int(e["args"]["stake" if name != "Slashed" else "amount"]))
            for name in ("Joined", "Slashed", "Left")
            for e in self._logs(name, taskId=task_id)
        ]
        logs.sort(key=lambda x: (int(x[0]["blockNumber"]), int(x[0]["logIndex"])))
        return [(str(e["event"]), account, amount) for e, account, amount in logs]

    def member_weights(self, task_id: int) -> dict[str, int]:
        """Each member's aggregation weight as the chain fixed it: its latest join's weight,
        capped by the cap drawn at start for members who joined before it."""
        cap = self.weight_cap_event(task_id)
        out: dict[str, int] = {}
        for account, _declared, weight, before_start in self.joined_detail(task_id):
            out[account] = min(weight, cap) if (before_start and cap) else weight
        return out

    def round_weights(self, task_id: int, round: int) -> dict[str, int]:
        """participant -> weight of every commitment of the round."""
        weights = self.member_weights(task_id)
        return {u.participant: weights.get(u.participant, 0) for u in self.updates(task_id, round)}

    def round_weight(self, task_id: int, round: int) -> int:
        """The round's committed weight (what its reward is shared over)."""
        return sum(self.round_weights(task_id, round).values())

    def weight_cap_event(self, task_id: int) -> int:
        """The weight cap drawn at the task's start (0 before it started)."""
        logs = self._logs("WeightsCapped", taskId=task_id)
        return int(logs[0]["args"]["cap"]) if logs else 0

    def excluded(
        self, task_id: int, round: int, epoch: int | None = None
    ) -> dict[str, ExclusionReason]:
        """Who the round's last (or the given epoch's) aggregate left out, and why."""
        posts = {
            bytes(e["transactionHash"]): int(e["args"]["epoch"])
            for e in self._logs("AggregatePosted", taskId=task_id, round=round)
        }
        if not posts:
            return {}
        want = max(posts.values()) if epoch is None else epoch
        return {
            e["args"]["participant"]: ExclusionReason(e["args"]["reason"])
            for e in self._logs("UpdateExcluded", taskId=task_id, round=round)
            # a post and its exclusions share one transaction
            if posts.get(bytes(e["transactionHash"])) == want
        }

    def invalidated(self, task_id: int, round: int) -> dict[str, Fault]:
        """Members whose commitment of the round was proven false (slashed and left out)."""
        return {
            a["account"]: Fault(a["fault"])
            for a in (e["args"] for e in self._logs("Slashed", taskId=task_id, round=round))
            if Fault(a["fault"]) in (Fault.NORM_LIE, Fault.COPY)
        }

    def aggregate(self, task_id: int, round: int) -> AggregateCommitment | None:
        """The round's last posted aggregate (the one that finalized, for a finished round)."""
        logs = self.aggregates(task_id, round)
        return logs[-1] if logs else None

    def aggregates(self, task_id: int, round: int) -> list[AggregateCommitment]:
        """Every aggregate posted for the round, refuted ones included, in order."""
        return [
            AggregateCommitment(
                task_id,
                round,
                a["aggregator"],
                _b32(a["merkleRoot"]),
                _b32(a["modelRoot"]),
                int(a["includedWeight"]),
                int(a["epoch"]),
                int(a["bond"]),
            )
            for a in (e["args"] for e in self._logs("AggregatePosted", taskId=task_id, round=round))
        ]

    def voided(self, task_id: int) -> list[tuple[int, str, int, Fault]]:
        """(round, aggregator, epoch, fault) of every refuted aggregate."""
        return [
            (int(a["round"]), a["aggregator"], int(a["epoch"]), Fault(a["fault"]))
            for a in (e["args"] for e in self._logs("AggregateVoided", taskId=task_id))
        ]

    def slashes(self, task_id: int) -> list[dict[str, Any]]:
        """Every slash: round, account, amount, fault, beneficiary and its share."""
        return [
            {
                "round": int(a["round"]),
                "address": a["account"],
                "amount": int(a["amount"]),
                "fault": Fault(a["fault"]),
                "beneficiary": a["beneficiary"],
                "to_beneficiary": int(a["toBeneficiary"]),
            }
            for a in (e["args"] for e in self._logs("Slashed", taskId=task_id))
        ]

    def pool_withdrawals(self, task_id: int) -> int:
        """Σ of what the sponsor withdrew from the task's pool."""
        return sum(int(e["args"]["amount"]) for e in self._logs("PoolWithdrawn", taskId=task_id))

    def challenge_bonds_locked(self, task_id: int) -> int:
        """Σ of every challenge bond ever locked for the task."""
        return sum(
            int(e["args"]["bond"]) for e in self._logs("ChallengeBondLocked", taskId=task_id)
        )

    def challenge_settlements(self, task_id: int) -> list[dict[str, Any]]:
        return [
            {
                "round": int(a["round"]),
                "challenger": a["challenger"],
                "outcome": ChallengeOutcome(a["outcome"]),
                "to_challenger": int(a["toChallenger"]),
                "to_aggregator": int(a["toAggregator"]),
                "to_pool": int(a["toPool"]),
            }
            for a in (e["args"] for e in self._logs("ChallengeSettled", taskId=task_id))
        ]

    def round_outcomes(self, task_id: int) -> list[RoundOutcome]:
        out = [
            RoundOutcome(
                task_id,
                int(a["round"]),
                True,
                _b32(a["modelRoot"]),
                int(a["rewardPerWeight"]),
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
        """participant -> digest of its message in one secure phase ("KeysShared",
        "SharesComplained", "UnmaskSharesPosted"), in on-chain order."""
        return {
            e["args"]["participant"]: _b32(e["args"]["digest"])
            for e in self._logs(event, taskId=task_id, round=round)
        }

    def key_adverts(self, task_id: int, round: int) -> dict[str, tuple[bytes, bytes]]:
        """U1: participant -> (enc_pk, mask_pk), in the order of advertisement (which is the
        order the round's neighbour graph is drawn over)."""
        return {
            e["args"]["participant"]: (_b32(e["args"]["encPk"]), _b32(e["args"]["maskPk"]))
            for e in sorted(
                self._logs("KeysAdvertised", taskId=task_id, round=round),
                key=lambda e: int(e["args"]["index"]),
            )
        }

    def shared_samples(self, task_id: int, round: int) -> dict[str, int]:
        """participant -> the weight its masked input carries (emitted with its key shares;
        the round's weights fix the ring width)."""
        return {
            e["args"]["participant"]: int(e["args"]["samples"])
            for e in self._logs("KeysShared", taskId=task_id, round=round)
        }

    def self_mask_commitments(self, task_id: int, round: int) -> dict[str, bytes]:
        """U2: participant -> sha256 of its self-mask seed, as committed on-chain."""
        return {
            e["args"]["participant"]: _b32(e["args"]["selfMaskCommitment"])
            for e in self._logs("KeysShared", taskId=task_id, round=round)
        }

    def round_seed(self, task_id: int, round: int) -> bytes:
        logs = self._logs("RoundSeed", taskId=task_id, round=round)
        if not logs:
            raise ChainError(f"task {task_id} round {round} has no seed (not a secure round?)")
        return _b32(logs[-1]["args"]["seed"])

    def secure_round_of(self, task_id: int) -> SecureRoundInfo:
        """The open secure round: counts, Σ weights of U2, ring width b, graph seed."""
        a, sh, u, w, b, seed = self.contract.functions.secureRoundOf(task_id).call()
        return SecureRoundInfo(int(a), int(sh), int(u), int(w), int(b), _b32(seed))

    def secure_member_of(self, task_id: int, account: str) -> SecureMemberInfo:
        """A member's last secure-round record (what a secure dispute checks secrets against)."""
        ar, sr, ur, idx, pk, com, rev = self.contract.functions.secureMemberOf(
            task_id, account
        ).call()
        return SecureMemberInfo(int(ar), int(sr), int(ur), int(idx), _b32(pk), _b32(com), _b32(rev))

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


class DisputeClient:
    """Every call and event of ``RoundDisputes``, typed. Chunks are raw payload bytes (as the
    blob holds them); proofs are lists of (hash, sum) pairs from ``fedchain.codec.merkle``."""

    def __init__(self, tx: Transactor, address: str, *, from_block: int = 0) -> None:
        self.tx = tx
        self.contract: Contract = tx.chain.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=load_artifact("RoundDisputes").abi
        )
        self.address = self.contract.address
        self._events = EventIndex(self.contract, from_block, "RoundDisputes")

    def _send(
        self,
        who: LocalAccount,
        call: Any,
        op: str,
        gas: str,
        task_id: int | None = None,
        round: int | None = None,
    ) -> Receipt:
        return self.tx.send(
            who, call, gas=GAS_LIMITS[gas], operation=op, task_id=task_id, round=round
        )

    def _move(self, who: LocalAccount, game: int, call: Any, op: str, gas: str) -> Receipt:
        """A move in a game, booked in the gas ledger under the game's task and round."""
        g = self.contract.functions.game(game).call()
        return self._send(who, call, op, gas, int(g[0]), int(g[1]))

    # bonded, interactive -------------------------------------------------------------------
    def challenge_sum(self, who: LocalAccount, task_id: int, round: int, chunk: int) -> int:
        r = self._send(
            who,
            self.contract.functions.challengeSum(task_id, round, chunk),
            "challenge_sum",
            "challenge",
            task_id,
            round,
        )
        return self._game_id(r)

    def challenge_availability(
        self,
        who: LocalAccount,
        task_id: int,
        round: int,
        target: Target,
        member: str | None,
        chunk: int,
    ) -> int:
        call = self.contract.functions.challengeAvailability(
            task_id, round, int(target), member or _ZERO_ADDRESS, chunk
        )
        return self._game_id(
            self._send(who, call, "challenge_availability", "challenge", task_id, round)
        )

    def open_aggregate_chunk(
        self, who: LocalAccount, game: int, chunk: bytes, proof: Proof
    ) -> Receipt:
        call = self.contract.functions.openAggregateChunk(game, chunk, flatten_proof(proof))
        return self._move(who, game, call, "dispute_open", "dispute_move")

    def defend(self, who: LocalAccount, game: int, running_sum: bytes) -> Receipt:
        call = self.contract.functions.defend(game, running_sum)
        return self._move(who, game, call, "dispute_defend", "dispute_move")

    def bisect(self, who: LocalAccount, game: int, agree: bool) -> Receipt:
        call = self.contract.functions.bisect(game, agree)
        return self._move(who, game, call, "dispute_bisect", "dispute_move")

    def prove_step(
        self,
        who: LocalAccount,
        game: int,
        p_lo: bytes,
        p_hi: bytes,
        opening: CommitOpening,
        update: bytes,
        update_sum: int,
        proof: Proof,
    ) -> Receipt:
        call = self.contract.functions.proveStep(
            game, p_lo, p_hi, opening.as_tuple(), update, update_sum, flatten_proof(proof)
        )
        return self._move(who, game, call, "prove_step", "dispute_proof")

    def challenge_secure_sum(self, who: LocalAccount, task_id: int, round: int, chunk: int) -> int:
        r = self._send(
            who,
            self.contract.functions.challengeSecureSum(task_id, round, chunk),
            "challenge_secure_sum",
            "challenge",
            task_id,
            round,
        )
        return self._game_id(r)

    def open_secure_aggregate_chunk(
        self, who: LocalAccount, game: int, chunk: bytes, proof: Proof, running_sum: bytes
    ) -> Receipt:
        call = self.contract.functions.openSecureAggregateChunk(
            game, chunk, flatten_proof(proof), running_sum
        )
        return self._move(who, game, call, "dispute_open", "dispute_move")

    def prove_secure_step(
        self,
        who: LocalAccount,
        game: int,
        p_lo: bytes,
        p_hi: bytes,
        opening: CommitOpening,
        peer: str,
        secret: bytes,
        masked: bytes,
        proof: Proof,
    ) -> Receipt:
        """Prove one term of a secure game wrong (see ``fedchain.node.secure_terms``)."""
        term = (opening.as_tuple(), peer, secret, masked, flatten_proof(proof))
        call = self.contract.functions.proveSecureStep(game, p_lo, p_hi, term)
        return self._move(who, game, call, "prove_secure_step", "secure_step")

    def answer_availability(
        self,
        who: LocalAccount,
        game: int,
        chunk: bytes,
        chunk_sum: int,
        proof: Proof,
        opening: CommitOpening | None = None,
    ) -> Receipt:
        op = opening or CommitOpening(_ZERO_ADDRESS, b"\0" * 32, 0, 0)
        call = self.contract.functions.answerAvailability(
            game, chunk, chunk_sum, flatten_proof(proof), op.as_tuple()
        )
        return self._move(who, game, call, "answer_availability", "dispute_move")

    def timeout(self, who: LocalAccount, game: int) -> Receipt:
        call = self.contract.functions.timeout(game)
        return self._move(who, game, call, "dispute_timeout", "dispute_timeout")

    # one-step ------------------------------------------------------------------------------
    def prove_model(
        self,
        who: LocalAccount,
        task_id: int,
        round: int,
        chunk: int,
        global_chunk: bytes,
        global_proof: Proof,
        aggregate_chunk: bytes,
        aggregate_proof: Proof,
        model_chunk: bytes,
        model_proof: Proof,
    ) -> Receipt:
        call = self.contract.functions.proveModel(
            task_id,
            round,
            chunk,
            global_chunk,
            flatten_proof(global_proof),
            aggregate_chunk,
            flatten_proof(aggregate_proof),
            model_chunk,
            flatten_proof(model_proof),
        )
        return self._send(who, call, "prove_model", "dispute_proof", task_id, round)

    def prove_revealed_exclusion(
        self,
        who: LocalAccount,
        task_id: int,
        round: int,
        survivor: str,
        bitmap: list[int],
        member: str,
    ) -> Receipt:
        """Void a secure aggregate that left out ``member`` although ``survivor`` revealed its
        self-mask share (``bitmap``: what the survivor committed at unmask)."""
        call = self.contract.functions.proveRevealedExclusion(
            task_id, round, survivor, bitmap, member
        )
        return self._send(who, call, "prove_revealed_exclusion", "dispute_proof", task_id, round)

    def prove_duplicate(
        self, who: LocalAccount, task_id: int, round: int, a: CommitOpening, b: CommitOpening
    ) -> Receipt:
        call = self.contract.functions.proveDuplicate(task_id, round, a.as_tuple(), b.as_tuple())
        return self._send(who, call, "prove_duplicate", "dispute_proof", task_id, round)

    def prove_norm_lie(
        self,
        who: LocalAccount,
        task_id: int,
        round: int,
        opening: CommitOpening,
        chunk: int,
        update: bytes,
        chunk_sum: int,
        proof: Proof,
    ) -> Receipt:
        call = self.contract.functions.proveNormLie(
            task_id, round, opening.as_tuple(), chunk, update, chunk_sum, flatten_proof(proof)
        )
        return self._send(who, call, "prove_norm_lie", "dispute_proof", task_id, round)

    def prove_copy(
        self,
        who: LocalAccount,
        task_id: int,
        round: int,
        opening: CommitOpening,
        owner: str,
        chunk: int,
        update: bytes,
        chunk_sum: int,
        proof: Proof,
    ) -> Receipt:
        call = self.contract.functions.proveCopy(
            task_id,
            round,
            opening.as_tuple(),
            owner,
            chunk,
            update,
            chunk_sum,
            flatten_proof(proof),
        )
        return self._send(who, call, "prove_copy", "dispute_proof", task_id, round)

    # views and history ---------------------------------------------------------------------
    def verify_opening(
        self,
        root: bytes,
        owner: str,
        index: int,
        chunk_sum: int,
        chunk: bytes,
        proof: Proof,
        num_chunks: int,
    ) -> tuple[bool, int]:
        ok, top = self.contract.functions.verifyOpening(
            root, owner, index, chunk_sum, chunk, flatten_proof(proof), num_chunks
        ).call()
        return bool(ok), int(top)

    def game(self, game_id: int) -> GameInfo:
        g = self.contract.functions.game(game_id).call()
        return GameInfo(
            id=game_id,
            task_id=int(g[0]),
            round=int(g[1]),
            epoch=int(g[2]),
            chunk=int(g[3]),
            kind=GameKind(g[4]),
            state=GameState(g[5]),
            target=Target(g[6]),
            challenger=g[7],
            lo=int(g[8]),
            hi=int(g[9]),
            query=int(g[10]),
            aggregator=g[11],
            deadline=int(g[12]),
            member=g[13],
        )

    def games(self, task_id: int, round: int | None = None) -> list[GameInfo]:
        """Every bonded challenge of a task (of one round), as it stands now."""
        self._events.sync()
        ids = [
            int(e["args"]["id"])
            for e in self._events.by_event.get("ChallengeOpened", [])
            if int(e["args"]["taskId"]) == task_id
            and (round is None or int(e["args"]["round"]) == round)
        ]
        return [self.game(i) for i in ids]

    def openings(self, game_id: int) -> dict[int, bytes]:
        """position -> chunk bytes opened on-chain in a game."""
        self._events.sync()
        return {
            int(e["args"]["position"]): bytes(e["args"]["chunk"])
            for e in self._events.by_event.get("ChunkOpened", [])
            if int(e["args"]["id"]) == game_id
        }

    def revealed_opening(self, game_id: int) -> tuple[int, bytes, Proof] | None:
        """(chunk index, chunk bytes, Merkle proof) that the accused side opened on-chain in an
        availability answer or a sum game's first move, read back from that transaction's
        calldata (the proof is not in the event; any RPC node serves the transaction)."""
        self._events.sync()
        for e in self._events.by_event.get("ChunkOpened", []):
            if int(e["args"]["id"]) != game_id:
                continue
            tx = self.tx.chain.w3.eth.get_transaction(e["transactionHash"])
            fn, args = self.contract.decode_function_input(tx["input"])
            if fn.fn_name not in ("answerAvailability", "openAggregateChunk"):
                continue
            proof = unflatten_proof([bytes(w) for w in args["proof"]])
            return self.game(game_id).chunk, bytes(args["chunk"]), proof
        return None

    def faults_proven(self, task_id: int) -> list[dict[str, Any]]:
        self._events.sync()
        return [
            {
                "round": int(a["round"]),
                "fault": Fault(a["fault"]),
                "accused": a["accused"],
                "prover": a["prover"],
                "block": int(e["blockNumber"]),
                "tx": bytes(e["transactionHash"]),
            }
            for e in self._events.by_event.get("FaultProven", [])
            if int((a := e["args"])["taskId"]) == task_id
        ]

    def resolutions(self) -> dict[int, ChallengeOutcome]:
        self._events.sync()
        return {
            int(e["args"]["id"]): ChallengeOutcome(e["args"]["outcome"])
            for e in self._events.by_event.get("ChallengeResolved", [])
        }

    def _game_id(self, r: Receipt) -> int:
        (ev,) = self.contract.events.ChallengeOpened().process_receipt(
            _as_receipt(r), errors=DISCARD
        )
        return int(ev["args"]["id"])


Proof = list[tuple[bytes, int]]
_ZERO_ADDRESS = "0x" + "00" * 20


def flatten_proof(proof: Proof) -> list[bytes]:
    """(hash, sum) pairs as the contract's bytes32[]: hash, then sum, level by level."""
    out: list[bytes] = []
    for h, total in proof:
        out += [bytes(h), int(total % 2**256).to_bytes(32, "big")]
    return out


def unflatten_proof(words: list[bytes]) -> Proof:
    """The contract's bytes32[] back into (hash, sum) pairs (the inverse of flatten_proof)."""
    return [(words[k], int.from_bytes(words[k + 1], "big")) for k in range(0, len(words), 2)]


def revealed_bitmap(indices: Iterable[int], n: int) -> list[int]:
    """Bit i of word i // 256 set for each U1 index in ``indices`` (``n`` = |U1|)."""
    words = [0] * ((n + 255) // 256)
    for i in indices:
        words[i // 256] |= 1 << (i % 256)
    return words


def revealed_hash(bitmap: list[int]) -> bytes:
    """keccak256(abi.encode(bitmap)): what ``unmask`` commits on-chain."""
    return keccak(encode(["uint256[]"], [bitmap]))


def round_nonce(member: LocalAccount, task_id: int, round: int) -> bytes:
    """The member's nonce for a round's seed: derived from its key (so a restarted node finds it
    again without storing it), unknown to everyone else until revealed."""
    return keccak(
        b"fedchain-round-nonce"
        + bytes(member.key)
        + task_id.to_bytes(32, "big")
        + round.to_bytes(32, "big")
    )


def nonce_commitment(member: LocalAccount, task_id: int, round: int) -> bytes:
    """keccak256(abi.encode(nonce, member, taskId, round)), as the contract checks it."""
    return keccak(
        encode(
            ["bytes32", "address", "uint256", "uint256"],
            [round_nonce(member, task_id, round), member.address, task_id, round],
        )
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


#: TaskInfo's fields in the order ``getTask`` returns them (from the ABI).
_TASK_VIEW_FIELDS = tuple(
    _snake(c["name"])
    for item in load_artifact("TaskCoordinator").abi
    if item.get("name") == "getTask"
    for c in item["outputs"][0]["components"]
)


class EventIndex:
    """Every log a contract emitted, fetched incrementally and decoded once.

    Nodes and auditors ask many small questions of the history ("the updates of round 7");
    asking the node each time costs a scan per question (eth-tester scans receipts, remote
    nodes limit log ranges), so the client keeps the logs it has seen and fetches only new
    blocks, in bounded ranges.
    """

    MAX_RANGE = 5_000

    def __init__(self, contract: Contract, from_block: int, artifact: str) -> None:
        self.contract = contract
        self.next_block = from_block
        self.by_event: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._decoders: dict[bytes, Any] = {}
        for item in load_artifact(artifact).abi:
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

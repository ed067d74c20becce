"""`fedchain demo`: a consortium trains one model on a chain, then everything is audited.

The hospitals scenario: each data owner holds a non-IID shard of a medical data set
(Dirichlet partition), trains locally, and commits its update on-chain; an aggregator posts
the exact weighted sum; rewards follow sample counts; the auditor replays every round.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import BaseModel, Field, model_validator

from fedchain.audit import audit_all
from fedchain.chain import ChallengeOutcome, GasLedger, open_chain
from fedchain.codec.blob import BlobKind
from fedchain.codec.fixedpoint import dequantize
from fedchain.learning import (
    ModelSpec,
    TrainConfig,
    build_model,
    evaluate,
    load_dataset,
    load_flat_params,
    partition,
    train_centralized,
)
from fedchain.node import (
    AggregatorNode,
    KeeperNode,
    LocalData,
    NodeAction,
    TaskBlobs,
    TaskConfig,
    TrainerNode,
)
from fedchain.node.secure import SecureAggregatorNode, SecureTrainerNode
from fedchain.node.watcher import WatcherNode
from fedchain.sim.consortium import TOKEN, Consortium
from fedchain.sim.faults import (
    AGGREGATOR_FAULTS,
    FAULT_KINDS,
    SECURE_AGGREGATOR_FAULTS,
    SECURE_FAULT_KINDS,
    DropoutNode,
    DropoutPlan,
    FaultKind,
    FaultyTrainer,
    RogueAggregator,
    SecureFaultyTrainer,
    SecureRogueAggregator,
)
from fedchain.sim.runner import Node, RoundRecord, run_task
from fedchain.storage import LocalDirStore

__all__ = ["DemoConfig", "DemoReport", "run_demo"]


class DemoConfig(BaseModel):
    """Everything `fedchain demo` can be asked to do."""

    clients: int = Field(10, ge=2, le=200)
    rounds: int = Field(10, ge=1, le=1000)
    dataset: Literal["breast_cancer", "digits"] = "breast_cancer"
    alpha: float | None = Field(0.5, gt=0, description="Dirichlet α; None = IID")
    model: Literal["logreg", "mlp"] = "mlp"
    hidden: tuple[int, ...] = (32,)
    chain: str = "embedded"
    workdir: Path | None = None
    seed: int = 0
    local_epochs: int = Field(2, ge=1)
    batch_size: int = Field(16, ge=1)
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    min_participants: int | None = None
    secure_aggregation: bool = Field(False, description="SecAgg+: nobody sees one update")
    dropout: float = Field(0.0, ge=0, lt=1, description="fraction of owners vanishing each round")
    challenge_window: int | None = Field(
        None, ge=1, description="seconds; default 600 on local chains, 5 on RPC"
    )
    faults: dict[int, tuple[FaultKind, int]] = Field(
        default_factory=dict, description="client index -> (fault, from round)"
    )
    watcher: bool = Field(True, description="run a watcher that disputes faults on-chain")

    @model_validator(mode="after")
    def _check_faults(self) -> DemoConfig:
        allowed = SECURE_FAULT_KINDS if self.secure_aggregation else FAULT_KINDS
        for index, (kind, at_round) in self.faults.items():
            if kind not in allowed:
                mode = "secure" if self.secure_aggregation else "plaintext"
                raise ValueError(
                    f"fault {kind!r} on owner {index}: {mode} rounds take {', '.join(allowed)}"
                )
            if not 0 <= index < self.clients:
                raise ValueError(f"fault on owner {index}, but owners are 0..{self.clients - 1}")
            if at_round < 1:
                raise ValueError(
                    f"fault {kind!r} on owner {index} starts at round {at_round} (< 1)"
                )
        if len(self.faults) >= self.clients:
            raise ValueError("every owner is faulty: at least one must behave (and aggregate)")
        if 0 in self.faults and self.faults[0][0] in AGGREGATOR_FAULTS:
            pass  # owner 0 is then the rogue; the honest aggregator is the first other owner
        return self


class ParticipantReward(BaseModel):
    name: str
    address: str
    samples: int
    rounds_included: int
    rewards: float  # FED, claimed at the end
    stake_returned: float
    stake_paid: float = 0.0  # FED escrowed at join (priced by the declared sample count)


class DisputeRecord(BaseModel):
    round: int
    kind: str
    challenger: str
    accused: str
    outcome: str  # "refuted" | "upheld" | "timeout"
    gas: int
    game: int | None = None


class SlashRecord(BaseModel):
    address: str
    amount: float  # FED
    reason: str
    round: int
    beneficiary: str
    to_beneficiary: float = 0.0  # FED; a liveness slash credits it to the backup aggregator


class DemoReport(BaseModel):
    chain: str
    dataset: str
    clients: int
    rounds_requested: int
    final_accuracy: float
    centralized_accuracy: float
    rounds: list[dict[str, object]]
    gas_per_participant_round: float
    gas_by_operation: dict[str, dict[str, int]]
    rewards: list[ParticipantReward]
    audit: dict[str, object]
    disputes: list[DisputeRecord] = []
    slashed: list[SlashRecord] = []
    wall_seconds: float
    workdir: str | None


class Progress:
    """Callbacks the CLI implements; the defaults do nothing (library use, tests)."""

    def stage(self, message: str) -> None: ...

    def round_done(self, record: RoundRecord) -> None: ...

    def action(self, action: NodeAction) -> None: ...


def run_demo(cfg: DemoConfig, progress: Progress | None = None) -> DemoReport:
    """Set up a consortium on the chosen chain, run the task, claim rewards, audit."""
    progress = progress or Progress()
    started = time.perf_counter()
    torch.set_num_threads(1)  # tiny models: threads cost more than they give
    with ExitStack() as stack:
        workdir = cfg.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="fedchain-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        progress.stage(f"starting the {cfg.chain} chain")
        chain = stack.enter_context(open_chain(cfg.chain, workdir=workdir))
        store = LocalDirStore(workdir / "store")
        ledger = GasLedger()

        progress.stage(f"loading {cfg.dataset} and splitting it across {cfg.clients} data owners")
        data = load_dataset(cfg.dataset, seed=cfg.seed)
        parts = partition(data.y_train, cfg.clients, alpha=cfg.alpha, seed=cfg.seed)
        hidden = cfg.hidden if cfg.model == "mlp" else ()
        spec = ModelSpec(
            arch=cfg.model, input_dim=data.num_features, num_classes=data.num_classes, hidden=hidden
        )
        train_cfg = TrainConfig(
            epochs=cfg.local_epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum
        )
        task_cfg = TaskConfig.build(dataset=cfg.dataset, model=spec, train=train_cfg)

        progress.stage("deploying contracts, funding participants, creating the task")
        consortium = Consortium.create(
            chain,
            store,
            num_participants=cfg.clients,
            seed=cfg.seed,
            ledger=ledger,
            deployment_file=workdir / "deployment.json",
        )
        min_participants = cfg.min_participants or max(2, cfg.clients // 2)
        local = chain.is_local
        task_id = consortium.create_task(
            task_cfg,
            rounds=cfg.rounds,
            min_participants=min_participants,
            seed=cfg.seed,
            # On a real chain time cannot be skipped: short windows keep the demo watchable.
            commit_duration=3600 if local else 120,
            aggregate_duration=3600 if local else 120,
            challenge_duration=cfg.challenge_window or (600 if local else 5),
            secure_aggregation=cfg.secure_aggregation,
        )
        nodes, trainers = _build_nodes(cfg, consortium, task_id, data, parts)
        consortium.join_all(task_id, [t.declared_samples for t in trainers])
        consortium.start(task_id)

        blobs = TaskBlobs(store, task_cfg)
        eval_model = build_model(spec, seed=0)

        def observe(rec: RoundRecord) -> None:
            root = rec.model_root or consortium.coordinator.get_task(task_id).global_model_root
            values = blobs.get_vector(BlobKind.MODEL, root).values
            load_flat_params(eval_model, dequantize(values, frac_bits=task_cfg.frac_bits))
            rec.accuracy, rec.loss = evaluate(eval_model, data.x_test, data.y_test)
            progress.round_done(rec)

        progress.stage(f"training: {cfg.rounds} rounds")
        actions: list[NodeAction] = []

        def on_action(action: NodeAction) -> None:
            actions.append(action)
            progress.action(action)

        records = run_task(
            consortium.coordinator,
            task_id,
            nodes,
            ledger=ledger,
            on_round=observe,
            on_action=on_action,
        )

        progress.stage("participants claim rewards and leave")
        rewards = _settle_all(consortium, task_id, parts)

        progress.stage("centralized baseline (same model, same budget)")
        central_acc, _ = train_centralized(
            spec, data, train_cfg, epochs=cfg.rounds * cfg.local_epochs, seed=cfg.seed
        )

        progress.stage("auditing every round from chain + store")
        report = audit_all(consortium.coordinator, consortium.token, store, tasks=[task_id])

        participant_rounds = sum(r.included for r in records if r.finalized) or 1
        round_gas = sum(r.gas_used for r in records)
        by_op = {op: {"transactions": n, "gas": g} for op, (n, g) in ledger.by_operation().items()}
        return DemoReport(
            chain=cfg.chain,
            dataset=cfg.dataset,
            clients=cfg.clients,
            rounds_requested=cfg.rounds,
            final_accuracy=records[-1].accuracy
            if records and records[-1].accuracy is not None
            else 0.0,
            centralized_accuracy=central_acc,
            rounds=[_round_json(r, consortium, task_id) for r in records],
            gas_per_participant_round=round_gas / participant_rounds,
            gas_by_operation=by_op,
            rewards=rewards,
            audit={
                "passed": report.passed,
                "rounds_verified": report.rounds_verified,
                "first_failure": None
                if report.first_failure is None
                else {
                    "task": report.first_failure.task_id,
                    "round": report.first_failure.round,
                    "problems": report.first_failure.problems,
                },
            },
            disputes=_disputes(consortium, task_id, actions),
            slashed=[
                SlashRecord(
                    address=x["address"],
                    amount=x["amount"] / TOKEN,
                    reason=x["fault"].name.lower().replace("_", "-"),
                    round=x["round"],
                    beneficiary=x["beneficiary"],
                    to_beneficiary=x["to_beneficiary"] / TOKEN,
                )
                for x in consortium.coordinator.slashes(task_id)
            ],
            wall_seconds=time.perf_counter() - started,
            workdir=str(cfg.workdir) if cfg.workdir else None,
        )


def _build_nodes(
    cfg: DemoConfig, c: Consortium, task_id: int, data: object, parts: list[np.ndarray]
) -> tuple[list[Node], list[TrainerNode]]:
    """The nodes in polling order (trainers, rogue aggregators, the aggregator, the watcher,
    the keeper) and the trainers themselves (they declare their samples when joining)."""
    plan = DropoutPlan(
        num_participants=len(c.participants),
        fraction=cfg.dropout,
        seed=cfg.seed,
        secure=cfg.secure_aggregation,
    )
    nodes: list[Node] = []
    trainers: list[TrainerNode] = []
    rogues: list[Node] = []
    for i, (acct, idx) in enumerate(zip(c.participants, parts, strict=True)):
        local = LocalData(data.x_train[idx], data.y_train[idx])  # type: ignore[attr-defined]
        name = f"owner-{i:02d}"
        trainer: TrainerNode
        kind, at = cfg.faults.get(i, (None, 1))
        rogue_kinds = SECURE_AGGREGATOR_FAULTS if cfg.secure_aggregation else AGGREGATOR_FAULTS
        if kind in rogue_kinds:
            rogue = SecureRogueAggregator if cfg.secure_aggregation else RogueAggregator
            rogues.append(
                rogue(
                    f"rogue-aggregator(owner-{i:02d})",
                    acct,
                    c.coordinator,
                    c.store,
                    task_id=task_id,
                    disputes=c.disputes,
                    fault=kind,
                    at_round=at,
                )
            )
            kind = None  # its trainer behaves
        if kind is not None:
            faulty = SecureFaultyTrainer if cfg.secure_aggregation else FaultyTrainer
            trainer = faulty(
                name,
                acct,
                c.coordinator,
                c.store,
                local,
                task_id=task_id,
                seed=cfg.seed,
                fault=kind,
                at_round=at,
            )
        elif cfg.secure_aggregation:
            trainer = SecureTrainerNode(
                name, acct, c.coordinator, c.store, local, task_id=task_id, seed=cfg.seed
            )
        else:
            trainer = TrainerNode(
                name, acct, c.coordinator, c.store, local, task_id=task_id, seed=cfg.seed
            )
        trainers.append(trainer)
        nodes.append(DropoutNode(trainer, i, plan) if cfg.dropout > 0 else trainer)
    nodes += rogues
    # The aggregator is one of the staked owners (the first one that behaves); anyone could be.
    agg_index = next(i for i in range(len(c.participants)) if i not in cfg.faults)
    agg_name = f"aggregator(owner-{agg_index:02d})"
    agg_account = c.participants[agg_index]
    if cfg.secure_aggregation:
        nodes.append(
            SecureAggregatorNode(
                agg_name, agg_account, c.coordinator, c.store, task_id=task_id, disputes=c.disputes
            )
        )
    else:
        nodes.append(
            AggregatorNode(
                agg_name, agg_account, c.coordinator, c.store, task_id=task_id, disputes=c.disputes
            )
        )
    if cfg.watcher:
        # Anyone may watch; the sponsor does here (it holds tokens for the challenge bond).
        nodes.append(
            WatcherNode(
                "watcher(sponsor)",
                c.sponsor,
                c.coordinator,
                c.store,
                task_id=task_id,
                disputes=c.disputes,
                token=c.token,
            )
        )
    nodes.append(KeeperNode("keeper(sponsor)", c.sponsor, c.coordinator, task_id=task_id))
    return nodes, trainers


_OUTCOMES = {
    ChallengeOutcome.AGGREGATOR_FAULT: "refuted",
    ChallengeOutcome.CHALLENGER_FAULT: "upheld",
    ChallengeOutcome.ANSWERED: "upheld",
    ChallengeOutcome.STALE: "refuted",
}


def _disputes(c: Consortium, task_id: int, actions: list[NodeAction]) -> list[DisputeRecord]:
    """Every dispute of the run: bonded games (gas of all their moves, both sides) and one-step
    proofs, with their on-chain outcome."""
    out: list[DisputeRecord] = []
    resolutions = c.disputes.resolutions()
    gas: dict[int, int] = {}
    for a in actions:
        game = a.detail.get("game")
        if isinstance(game, int):
            gas[game] = gas.get(game, 0) + int(a.detail.get("gas", 0))  # type: ignore[call-overload]
    timed_out = {a.detail["game"] for a in actions if a.detail.get("move") == "timeout"}
    for a in actions:
        if a.kind == "challenge":
            game = int(a.detail["game"])  # type: ignore[call-overload]
            outcome = resolutions.get(game)
            label = "open" if outcome is None else _OUTCOMES[outcome]
            if outcome == ChallengeOutcome.AGGREGATOR_FAULT and game in timed_out:
                label = "timeout"
            out.append(
                DisputeRecord(
                    round=a.round,
                    kind=str(a.detail["kind"]),
                    challenger=c.sponsor.address,
                    accused=str(a.detail["accused"]),
                    outcome=label,
                    gas=gas.get(game, 0),
                    game=game,
                )
            )
        elif a.kind == "proof":
            out.append(
                DisputeRecord(
                    round=a.round,
                    kind=str(a.detail["kind"]),
                    challenger=c.sponsor.address,
                    accused=str(a.detail["accused"]),
                    outcome="refuted",
                    gas=int(a.detail.get("gas", 0)),  # type: ignore[call-overload]
                )
            )
    return out


def _settle_all(c: Consortium, task_id: int, parts: list[np.ndarray]) -> list[ParticipantReward]:
    """Every owner leaves (stake + rewards back); the sponsor takes the pool's remainder."""
    included: dict[str, int] = {}
    for outcome in c.coordinator.round_outcomes(task_id):
        if not outcome.finalized:
            continue
        excluded = set(c.coordinator.excluded(task_id, outcome.round))
        excluded |= set(c.coordinator.invalidated(task_id, outcome.round))
        for u in c.coordinator.updates(task_id, outcome.round):
            if u.participant not in excluded:
                included[u.participant] = included.get(u.participant, 0) + 1
    out = []
    paid = c.coordinator.stakes_paid(task_id)
    for i, (acct, idx) in enumerate(zip(c.participants, parts, strict=True)):
        m = c.coordinator.get_member(task_id, acct.address)
        rewards = m.claimable + m.pending
        if m.active:
            c.coordinator.leave_task(acct, task_id)
        out.append(
            ParticipantReward(
                name=f"owner-{i:02d}",
                address=acct.address,
                samples=len(idx),
                rounds_included=included.get(acct.address, 0),
                rewards=rewards / TOKEN,
                stake_returned=m.stake / TOKEN,
                stake_paid=paid.get(acct.address, 0) / TOKEN,
            )
        )
    if c.coordinator.get_task(task_id).pool > 0:
        c.coordinator.withdraw_pool(c.sponsor, task_id)
    return out


def _round_json(r: RoundRecord, c: Consortium, task_id: int) -> dict[str, object]:
    posted = c.coordinator.aggregate(task_id, r.round) if r.finalized else None
    return {
        "aggregator": posted.aggregator if posted else None,
        "round": r.round,
        "finalized": r.finalized,
        "accuracy": r.accuracy,
        "loss": r.loss,
        "gas_used": r.gas_used,
        "seconds": round(r.seconds, 4),
        "included": r.included,
        "excluded": sorted(r.excluded),
        "withheld": r.withheld,
        "abort_reason": r.abort_reason,
        "refusals": [{"node": x.node, "error": x.error} for x in r.refusals],
        # the model's identity on-chain: its Merkle-sum root (also its address in the store)
        "model_digest": r.model_root.hex() if r.model_root else None,
    }


ProgressCallback = Callable[[str], None]

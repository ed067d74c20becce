"""Drive a task's nodes until it completes: each node acts only on what the chain shows.

When no node can act, the simulated world waits: the chain's clock jumps to the next
deadline (on a real chain, time simply passes). Rounds are reported as they end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from fedchain.chain import ChainError, CoordinatorClient, GasLedger, Phase, RoundOutcome
from fedchain.chain.errors import ContractRevert
from fedchain.errors import FedchainError
from fedchain.node import NodeAction, next_deadline

__all__ = ["Node", "RoundRecord", "run_task", "Refusal"]


class Node(Protocol):
    name: str

    def poll(self) -> NodeAction | None: ...


@dataclass
class Refusal:
    """A node's action that was refused (by the contract or its own checks)."""

    node: str
    round: int
    error: str


@dataclass
class RoundRecord:
    round: int
    finalized: bool
    model_root: bytes | None
    gas_used: int
    seconds: float
    included: int = 0
    excluded: dict[str, str] = field(default_factory=dict)
    withheld: list[str] = field(default_factory=list)
    abort_reason: str | None = None
    accuracy: float | None = None
    loss: float | None = None
    refusals: list[Refusal] = field(default_factory=list)


def run_task(
    coordinator: CoordinatorClient,
    task_id: int,
    nodes: Sequence[Node],
    *,
    ledger: GasLedger,
    on_round: Callable[[RoundRecord], None] | None = None,
    on_action: Callable[[NodeAction], None] | None = None,
    max_steps: int = 100_000,
) -> list[RoundRecord]:
    """Poll nodes in order until the task completes; return one record per round."""
    chain = coordinator.chain
    records: list[RoundRecord] = []
    refusals: list[Refusal] = []
    actions: dict[int, list[NodeAction]] = {}
    seen = 0
    # A round's work ends when its aggregate is posted (its finalization rides on the next
    # round's first commit), so rounds are timed from one aggregate to the next.
    round_started = time.perf_counter()
    posted_at: dict[int, float] = {}
    for _ in range(max_steps):
        acted = False
        for node in nodes:
            try:
                action = node.poll()
            except (ContractRevert, FedchainError) as exc:
                info = coordinator.get_task(task_id)
                refusals.append(Refusal(node.name, info.round, str(exc)))
                continue
            if action is not None:
                acted = True
                actions.setdefault(action.round, []).append(action)
                if action.kind == "aggregate":
                    posted_at[action.round] = time.perf_counter()
                if on_action:
                    on_action(action)
        info = coordinator.get_task(task_id)
        finished = info.round - 1 if info.phase not in (Phase.COMPLETED,) else info.round
        if finished > seen:
            for outcome in coordinator.round_outcomes(task_id):
                if outcome.round <= seen:
                    continue
                ended = posted_at.get(outcome.round, time.perf_counter())
                rec = _record(
                    outcome,
                    actions.get(outcome.round, []),
                    ledger,
                    task_id,
                    ended - round_started,
                )
                rec.refusals = [r for r in refusals if r.round == outcome.round]
                round_started = ended
                records.append(rec)
                if on_round:
                    on_round(rec)
            seen = finished
        if info.phase == Phase.COMPLETED:
            return records
        if not acted:
            now = chain.now()
            target = next_deadline(info, now)
            if target is None:
                raise ChainError(f"task {task_id} is stuck in phase {info.phase.name}")
            chain.advance_time(max(1, target - now + 1))
    raise ChainError(f"task {task_id} did not complete within {max_steps} steps")


def _record(
    outcome: RoundOutcome, acts: list[NodeAction], ledger: GasLedger, task_id: int, seconds: float
) -> RoundRecord:
    # the last post is the one that finalized (earlier ones were refuted)
    agg = next((a for a in reversed(acts) if a.kind == "aggregate"), None)
    included = int(agg.detail["included"]) if agg else 0  # type: ignore[call-overload]
    excluded = dict(agg.detail["excluded"]) if agg else {}  # type: ignore[call-overload]
    withheld = list(agg.detail.get("withheld", [])) if agg else []  # type: ignore[call-overload]
    return RoundRecord(
        round=outcome.round,
        finalized=outcome.finalized,
        model_root=outcome.model_root,
        gas_used=ledger.for_round(task_id, outcome.round),
        seconds=seconds,
        included=included,
        excluded=excluded,
        withheld=withheld,
        abort_reason=outcome.abort_reason.name if outcome.abort_reason is not None else None,
    )

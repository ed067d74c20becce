"""The auditor role: replay a task's whole history from chain + store and check every round.

For each finalized round: every included update blob matches its on-chain commitment (digest
and Merkle root) and is well-formed; every exclusion was justified (the blob really is missing
or malformed); the aggregate blob matches its commitment and equals the exact weighted sum of
the included updates; the new model follows from the previous one by the one rounding rule and
has the recorded digest; the reward per sample and the credits match the samples. Aborted
rounds leave the model unchanged. Finally every token the coordinator holds is accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedchain.aggregation import apply_aggregate, weighted_sum
from fedchain.chain import CoordinatorClient, TokenClient
from fedchain.codec.blob import BlobKind
from fedchain.errors import FedchainError
from fedchain.node.aggregator import collect_round_inputs
from fedchain.node.blobs import TaskBlobs
from fedchain.node.secure import SecureRoundView
from fedchain.node.task_config import TaskConfig
from fedchain.storage import BlobStore

__all__ = ["RoundVerdict", "AuditReport", "audit_task", "audit_all"]


@dataclass
class RoundVerdict:
    """PASS/FAIL of one round (round 0 is the task's setup: config and initial model)."""

    task_id: int
    round: int
    status: str  # "finalized", "aborted", "setup", "accounting"
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


@dataclass
class AuditReport:
    verdicts: list[RoundVerdict]

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    @property
    def rounds_verified(self) -> int:
        return sum(1 for v in self.verdicts if v.status in ("finalized", "aborted") and v.passed)

    @property
    def first_failure(self) -> RoundVerdict | None:
        return next((v for v in self.verdicts if not v.passed), None)


def _setup_verdict(
    coordinator: CoordinatorClient, store: BlobStore, task_id: int
) -> tuple[RoundVerdict, TaskBlobs | None, np.ndarray | None]:
    v = RoundVerdict(task_id, 0, "setup")
    created = coordinator.task_created(task_id)
    try:
        config = TaskConfig.from_bytes(store.get(bytes(created["configDigest"])))
    except FedchainError as exc:
        v.problems.append(f"task config: {exc}")
        return v, None, None
    blobs = TaskBlobs(store, config)
    try:
        model = blobs.get_vector(BlobKind.MODEL, bytes(created["initialModelDigest"])).values
    except FedchainError as exc:
        v.problems.append(f"initial model: {exc}")
        return v, blobs, None
    return v, blobs, model


def audit_task(
    coordinator: CoordinatorClient, store: BlobStore, task_id: int
) -> list[RoundVerdict]:
    """Verify one task round by round; stops at the first round whose model cannot be trusted."""
    setup, blobs, model = _setup_verdict(coordinator, store, task_id)
    verdicts = [setup]
    if blobs is None or model is None:
        return verdicts
    info = coordinator.get_task(task_id)
    credits = coordinator.rewards_credited(task_id)
    for outcome in coordinator.round_outcomes(task_id):
        v = RoundVerdict(task_id, outcome.round, "finalized" if outcome.finalized else "aborted")
        verdicts.append(v)
        if not outcome.finalized:
            continue  # the model stays; nothing was aggregated
        model = _check_round(
            coordinator, blobs, task_id, outcome.round, model, v, info.reward_per_round, info.secure
        )
        _check_credits(coordinator, task_id, outcome.round, outcome.reward_per_sample, credits, v)
        if model is None:
            break  # later rounds build on a model we could not reproduce
    if model is not None and info.global_model_digest != blobs.model_digest(model):
        last = verdicts[-1]
        last.problems.append("the on-chain global model is not the one the replay reproduces")
    return verdicts


def _plaintext_inputs(
    coordinator: CoordinatorClient, blobs: TaskBlobs, task_id: int, round: int, v: RoundVerdict
) -> tuple[np.ndarray, int] | None:
    """Σ nᵢ·vᵢ and Σ nᵢ recomputed from the committed plaintext updates."""
    inputs = collect_round_inputs(coordinator, blobs, task_id, round)
    _check_exclusions(inputs.excluded, set(coordinator.excluded(task_id, round)), v)
    if v.problems:
        return None
    return weighted_sum(inputs.values, inputs.weights), sum(inputs.weights)  # type: ignore[arg-type]


def _secure_inputs(
    coordinator: CoordinatorClient, blobs: TaskBlobs, task_id: int, round: int, v: RoundVerdict
) -> tuple[np.ndarray, int] | None:
    """Σ nᵢ·vᵢ and Σ nᵢ unmasked from what the secure phases published (chain + store)."""
    view = SecureRoundView(coordinator, blobs, task_id, round)
    _check_exclusions(view.excluded, set(coordinator.excluded(task_id, round)), v)
    withheld = view.u3 - set(view.unmask_messages)
    recorded = set(coordinator.withheld(task_id, round))
    if withheld != recorded:
        v.problems.append(
            f"unmask withheld by {sorted(withheld)}, but the chain records {sorted(recorded)}"
        )
    if v.problems:
        return None
    try:
        return view.aggregate(), view.total_samples()
    except FedchainError as exc:
        v.problems.append(f"cannot unmask the round from its published shares: {exc}")
        return None


def _check_exclusions(invalid: dict[str, str], on_chain: set[str], v: RoundVerdict) -> None:
    for p, why in invalid.items():
        if p not in on_chain:
            v.problems.append(f"update of {p} is invalid ({why}) but was aggregated")
    for p in on_chain:
        if p not in invalid:
            v.problems.append(f"update of {p} was valid but excluded")


def _check_round(
    coordinator: CoordinatorClient,
    blobs: TaskBlobs,
    task_id: int,
    round: int,
    model: np.ndarray,
    v: RoundVerdict,
    reward_per_round: int,
    secure: bool = False,
) -> np.ndarray | None:
    agg = coordinator.aggregate(task_id, round)
    if agg is None:
        v.problems.append("finalized without an aggregate")
        return None
    recomputed = (_secure_inputs if secure else _plaintext_inputs)(
        coordinator, blobs, task_id, round, v
    )
    if recomputed is None:
        return None
    expected, total = recomputed
    if total != agg.total_samples:
        v.problems.append(
            f"aggregate claims {agg.total_samples} samples, included updates have {total}"
        )
    try:
        posted = blobs.get_vector(BlobKind.AGGREGATE, agg.blob_digest, root=agg.merkle_root).values
    except FedchainError as exc:
        v.problems.append(f"aggregate blob: {exc}")
        return None
    if not np.array_equal(posted, expected):
        bad = int(np.flatnonzero(posted != expected)[0])
        v.problems.append(f"aggregate differs from Σ nᵢ·vᵢ (first at element {bad})")
        return None
    new_model = apply_aggregate(model, expected, total)
    if blobs.model_digest(new_model) != agg.model_digest:
        v.problems.append("the posted model digest is not global + round(Σ nᵢ·vᵢ / Σ nᵢ)")
        return None
    try:
        stored = blobs.get_vector(BlobKind.MODEL, agg.model_digest).values
    except FedchainError as exc:
        v.problems.append(f"model blob: {exc}")
        return None
    if not np.array_equal(stored, new_model):
        v.problems.append("the stored model differs from the replayed one")
        return None
    per_sample = reward_per_round // total if total else 0
    outcome_rps = coordinator.reward_per_sample(task_id, round)
    if outcome_rps != per_sample:
        v.problems.append(f"reward per sample {outcome_rps}, expected {per_sample}")
    return new_model


def _check_credits(
    coordinator: CoordinatorClient,
    task_id: int,
    round: int,
    per_sample: int,
    credits: list[tuple[int, str, int]],
    v: RoundVerdict,
) -> None:
    excluded = set(coordinator.excluded(task_id, round))
    samples = {
        u.participant: u.samples
        for u in coordinator.updates(task_id, round)
        if u.participant not in excluded
    }
    for r, account, amount in credits:
        if r != round:
            continue
        want = samples.get(account, 0) * per_sample
        if amount != want:
            v.problems.append(f"{account} was credited {amount} for round {round}, expected {want}")


def accounting_verdict(
    coordinator: CoordinatorClient, token: TokenClient, task_ids: list[int]
) -> RoundVerdict:
    """Every token the coordinator holds is a stake, a credited or pending reward, or pool."""
    v = RoundVerdict(0, 0, "accounting")
    expected = 0
    for t in task_ids:
        expected += coordinator.get_task(t).pool
        for m in coordinator.members(t):
            info = coordinator.get_member(t, m)
            expected += info.stake + info.claimable + info.pending
    held = token.balance_of(coordinator.address)
    if held != expected:
        v.problems.append(
            f"coordinator holds {held}, stakes + rewards + pools add up to {expected}"
        )
    return v


def audit_all(coordinator: CoordinatorClient, token: TokenClient, store: BlobStore) -> AuditReport:
    """Audit every task on this coordinator, then the token accounting."""
    verdicts: list[RoundVerdict] = []
    task_ids = coordinator.task_ids()
    for t in task_ids:
        verdicts += audit_task(coordinator, store, t)
    verdicts.append(accounting_verdict(coordinator, token, task_ids))
    return AuditReport(verdicts)

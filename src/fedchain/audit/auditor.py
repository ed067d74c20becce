"""The auditor role: replay a task's whole history from chain + store and check every round.

For each finalized round, against its final (un-refuted) aggregate: every included update
opens to its on-chain root and is valid; every exclusion is justified or at least reported;
the aggregate equals the exact weighted sum of the included updates; the new model follows from
the previous on-chain model by the one rounding rule; the reward per weight and every credit
match the committed weights. Every refuted aggregate and every slash is replayed: the
recorded fault must hold. Aborted rounds leave the model unchanged. Finally every token the
coordinator holds is accounted for (stakes, rewards, pools, challenge bonds), with a surplus
(tokens sent to it by anyone) reported, not failed.

The audit cannot be poisoned: a blob that vanished or was altered after its round was
aggregated fails the audit as *data lost* (the history cannot be verified there) without blaming
the aggregator, and every later round is still verified from its own on-chain inputs (from the
model the audit recomputed, whose root matched the chain), so one bad round never hides the
rest; every failure is reported, not only the first. Tokens sent to the coordinator by anyone and
tasks that are not fedchain tasks are reported, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedchain.aggregation import apply_aggregate, weighted_sum
from fedchain.chain import CoordinatorClient, ExclusionReason, Fault, TokenClient
from fedchain.codec.blob import BlobKind
from fedchain.codec.committed import decode_committed
from fedchain.codec.merkle import ZERO_OWNER, MerkleSumTree
from fedchain.errors import FedchainError
from fedchain.node.blobs import TaskBlobs
from fedchain.node.round_inputs import RoundInputs, collect_round_inputs
from fedchain.node.secure import SecureRoundView
from fedchain.node.task_config import TaskConfig
from fedchain.storage import BlobStore
from fedchain.storage.errors import BlobNotFound

__all__ = [
    "RoundVerdict",
    "AuditReport",
    "PoolLedger",
    "audit_task",
    "audit_all",
    "accounting_verdict",
    "LOST",
]

LOST = "data lost after the round (not a fault of the aggregator): "
"""How a problem that is the store's, not any participant's, starts: the history cannot be
verified there (the audit fails), but nobody is blamed and later rounds are still checked."""


@dataclass
class RoundVerdict:
    """PASS/FAIL of one round (round 0 is the task's setup: config and initial model).

    ``problems`` fail the audit; ``notes`` are reported (an exclusion nobody can prove wrong,
    a blob that vanished after its round, tokens donated to the coordinator).
    """

    task_id: int
    round: int
    status: str  # "finalized", "aborted", "setup", "accounting", "unverifiable", "not auditable"
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    aggregator: str | None = None

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

    @property
    def failures(self) -> list[RoundVerdict]:
        return [v for v in self.verdicts if not v.passed]


def _setup_verdict(
    coordinator: CoordinatorClient, store: BlobStore, task_id: int
) -> tuple[RoundVerdict, TaskBlobs | None]:
    v = RoundVerdict(task_id, 0, "setup")
    params = coordinator.task_created(task_id)["params"]
    try:
        config = TaskConfig.from_bytes(store.get(bytes(params["configDigest"])))
    except FedchainError as exc:
        v.problems.append(f"task config: {exc}")
        return v, None
    if config.num_parameters != int(params["numParameters"]) or config.chunk_elems != int(
        params["chunkElems"]
    ):
        v.problems.append("the task's on-chain vector layout differs from its config")
    blobs = TaskBlobs(store, config)
    try:
        blobs.get_vector(BlobKind.MODEL, bytes(params["initialModelRoot"]))
    except FedchainError as exc:
        v.problems.append(f"initial model: {exc}")
    return v, blobs


def audit_task(
    coordinator: CoordinatorClient, store: BlobStore, task_id: int
) -> list[RoundVerdict]:
    """Verify one task round by round; every round is checked from its own on-chain inputs."""
    setup, blobs = _setup_verdict(coordinator, store, task_id)
    verdicts = [setup]
    if blobs is None:
        return verdicts
    info = coordinator.get_task(task_id)
    params = coordinator.task_created(task_id)["params"]
    base_root = bytes(params["initialModelRoot"])
    credits = coordinator.rewards_credited(task_id)
    # Models this audit recomputed and matched against their on-chain roots: a later round
    # replays from them even when the stored blob vanished.
    known: dict[bytes, np.ndarray] = {}
    incumbent: str | None = None  # who posted the last aggregate before the round
    for outcome in coordinator.round_outcomes(task_id):
        v = RoundVerdict(task_id, outcome.round, "finalized" if outcome.finalized else "aborted")
        verdicts.append(v)
        _check_refutations(coordinator, blobs, task_id, outcome.round, base_root, v)
        incumbent = _check_silent(coordinator, task_id, outcome.round, incumbent, v)
        if not outcome.finalized:
            continue  # the model stays; nothing was aggregated
        agg = coordinator.aggregate(task_id, outcome.round)
        v.aggregator = agg.aggregator if agg else None
        _check_round(coordinator, blobs, task_id, outcome.round, base_root, v, info.secure, known)
        _check_credits(coordinator, task_id, outcome.round, outcome.reward_per_weight, credits, v)
        if outcome.model_root is not None:
            base_root = outcome.model_root  # the next round builds on the on-chain model
    if info.global_model_root != base_root:
        verdicts[-1].problems.append("the on-chain global model is not the last finalized one")
    return verdicts


def _opens(blobs: TaskBlobs, kind: BlobKind, root: bytes, owner: str | bytes) -> bool:
    """Whether what is stored under ``root`` is exactly what ``root`` commits to (valid for the
    task or not). If not, the object vanished or was damaged after the fact: as good as missing,
    nobody's fault the auditor can name."""
    try:
        blob, sums = decode_committed(
            blobs.store.get_named(root), kind=kind, chunk_elems=blobs.config.chunk_elems
        )
        tree = MerkleSumTree(blob, chunk_elems=blobs.config.chunk_elems, owner=owner, sums=sums)
    except (FedchainError, ValueError):
        return False
    return tree.root == bytes(root)


def _exclusions(
    blobs: TaskBlobs,
    inputs: RoundInputs,
    on_chain: dict[str, ExclusionReason],
    invalid: set[str],
    v: RoundVerdict,
) -> None:
    for u in inputs.updates:
        p = u.participant
        left_out = p in on_chain or p in invalid
        if u.problem is not None and not left_out:
            gone = u.problem in (ExclusionReason.UNAVAILABLE, ExclusionReason.MALFORMED) and not (
                _opens(blobs, BlobKind.UPDATE, u.commitment.merkle_root, p)
            )
            if u.opened is None and gone:
                v.status = "unverifiable"
                v.problems.append(
                    f"{LOST}the update of {p} is no longer in the store as committed, so this "
                    "round cannot be recomputed"
                )
            else:
                v.problems.append(f"update of {p} is invalid ({u.detail}) but was aggregated")
        if u.problem is None and p in on_chain:
            v.notes.append(
                f"update of {p} is valid now but was excluded as {on_chain[p].name.lower()} "
                "(not provable either way; it earned nothing, and nobody gained its share)"
            )


def _plaintext_inputs(
    coordinator: CoordinatorClient, blobs: TaskBlobs, task_id: int, round: int, v: RoundVerdict
) -> tuple[np.ndarray, int] | None:
    """Σ wᵢ·vᵢ and Σ wᵢ recomputed over the updates the final aggregate included."""
    inputs = collect_round_inputs(coordinator, blobs, task_id, round)
    on_chain = coordinator.excluded(task_id, round)
    invalid = set(coordinator.invalidated(task_id, round))
    _exclusions(blobs, inputs, on_chain, invalid, v)
    used = [
        u for u in inputs.updates if u.participant not in on_chain and u.participant not in invalid
    ]
    if any(u.opened is None for u in used) or v.problems:
        return None
    return (
        weighted_sum([u.opened.values for u in used], [u.weight for u in used]),  # type: ignore[union-attr]
        sum(u.weight for u in used),
    )


def _secure_inputs(
    coordinator: CoordinatorClient, blobs: TaskBlobs, task_id: int, round: int, v: RoundVerdict
) -> tuple[np.ndarray, int] | None:
    """Σ wᵢ·vᵢ and Σ wᵢ unmasked from what the secure phases published (chain + store)."""
    view = SecureRoundView(coordinator, blobs, task_id, round)
    on_chain = set(coordinator.excluded(task_id, round))
    for p, why in view.excluded.items():
        if p not in on_chain:
            v.problems.append(f"update of {p} is invalid ({why}) but was aggregated")
    for p in on_chain:
        if p not in view.excluded:
            v.problems.append(f"update of {p} was valid but excluded")
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


def _check_round(
    coordinator: CoordinatorClient,
    blobs: TaskBlobs,
    task_id: int,
    round: int,
    base_root: bytes,
    v: RoundVerdict,
    secure: bool,
    known: dict[bytes, np.ndarray],
) -> None:
    agg = coordinator.aggregate(task_id, round)
    if agg is None:
        v.problems.append("finalized without an aggregate")
        return
    base = known.get(bytes(base_root))
    if base is None:
        try:
            base = blobs.get_vector(BlobKind.MODEL, base_root).values
        except FedchainError as exc:
            v.status = "unverifiable"
            v.problems.append(f"{LOST}the previous model is not readable ({exc}); cannot replay")
            return
    recomputed = (_secure_inputs if secure else _plaintext_inputs)(
        coordinator, blobs, task_id, round, v
    )
    if recomputed is None:
        return
    expected, total = recomputed
    if total != agg.included_weight:
        v.problems.append(
            f"aggregate claims weight {agg.included_weight}, included updates have {total}"
        )
    try:
        posted = blobs.get_vector(BlobKind.AGGREGATE, agg.merkle_root).values
    except FedchainError as exc:
        if not isinstance(exc, BlobNotFound) and _opens(
            blobs, BlobKind.AGGREGATE, agg.merkle_root, ZERO_OWNER
        ):
            v.problems.append(f"aggregate: {exc}")  # what was posted is itself malformed
            return
        v.problems.append(
            f"{LOST}the aggregate is no longer in the store as posted (its model root is still "
            "checked against the recomputed sum)"
        )
        posted = expected
    if not np.array_equal(posted, expected):
        bad = int(np.flatnonzero(posted != expected)[0])
        v.problems.append(f"aggregate differs from Σ wᵢ·vᵢ (first at element {bad})")
        return
    new_model = apply_aggregate(base, expected, total)
    if blobs.model_root(new_model) != agg.model_root:
        v.problems.append("the posted model root is not that of global + round(Σ wᵢ·vᵢ / Σ wᵢ)")
        return
    known[bytes(agg.model_root)] = new_model
    if not _opens(blobs, BlobKind.MODEL, agg.model_root, ZERO_OWNER):
        v.problems.append(
            f"{LOST}the stored model of round {round} no longer opens to its on-chain root (the "
            "round itself verifies; later rounds replay from the recomputed model)"
        )
    info = coordinator.get_task(task_id)
    weight = coordinator.round_weight(task_id, round)
    per_weight = info.reward_per_round // weight if weight else 0
    if coordinator.reward_per_weight(task_id, round) != per_weight:
        v.problems.append(
            f"reward per weight {coordinator.reward_per_weight(task_id, round)}, expected {per_weight}"
        )


def _check_refutations(
    coordinator: CoordinatorClient,
    blobs: TaskBlobs,
    task_id: int,
    round: int,
    base_root: bytes,
    v: RoundVerdict,
) -> None:
    """Replay every refuted aggregate and every member slash of the round: the fault the chain
    recorded must hold for what is in the store (or the data must be missing)."""
    voided = [x for x in coordinator.voided(task_id) if x[0] == round]
    if not voided and not coordinator.invalidated(task_id, round):
        return
    inputs = collect_round_inputs(coordinator, blobs, task_id, round)
    by_epoch = {a.epoch: a for a in coordinator.aggregates(task_id, round)}
    for _, aggregator, epoch, fault in voided:
        a = by_epoch.get(epoch)
        if a is None:
            v.problems.append(f"aggregate of epoch {epoch} was voided but never posted")
            continue
        v.notes.append(f"aggregate of {aggregator} (epoch {epoch}) refuted on-chain: {fault.name}")
        excluded = set(coordinator.excluded(task_id, round, epoch))
        used = [u for u in inputs.updates if u.participant not in excluded]
        if fault in (Fault.WRONG_AGGREGATE, Fault.WRONG_MODEL):
            try:
                posted = blobs.get_vector(BlobKind.AGGREGATE, a.merkle_root).values
                model = blobs.get_vector(BlobKind.MODEL, a.model_root).values
                base = blobs.get_vector(BlobKind.MODEL, base_root).values
            except FedchainError:
                continue  # data gone: the on-chain proof stands on its own
            if any(u.opened is None for u in used):
                continue
            truth = weighted_sum([u.opened.values for u in used], [u.weight for u in used])  # type: ignore[union-attr]
            wrong_sum = not np.array_equal(posted, truth)
            wrong_model = not np.array_equal(
                model, apply_aggregate(base, posted, a.included_weight)
            )
            if fault == Fault.WRONG_AGGREGATE and not wrong_sum:
                v.problems.append(f"epoch {epoch} was refuted as a wrong sum, but it is right")
            if fault == Fault.WRONG_MODEL and not wrong_model:
                v.problems.append(f"epoch {epoch} was refuted as a wrong model, but it is right")
    for member, fault in coordinator.invalidated(task_id, round).items():
        u = next((x for x in inputs.updates if x.participant == member), None)
        if u is None:
            v.problems.append(f"{member} was slashed for round {round} without a commitment")
        elif fault == Fault.NORM_LIE and u.problem not in (
            ExclusionReason.NORM_LIE,
            ExclusionReason.UNAVAILABLE,
        ):
            v.problems.append(f"{member} was slashed for a norm lie, but its norm is true")
        elif fault == Fault.COPY and u.problem not in (
            ExclusionReason.COPY,
            ExclusionReason.UNAVAILABLE,
        ):
            v.problems.append(f"{member} was slashed for a copy, but its root is its own")


def _check_silent(
    coordinator: CoordinatorClient, task_id: int, round: int, incumbent: str | None, v: RoundVerdict
) -> str | None:
    """Replay the round's liveness slashes: only the incumbent (the last aggregator before the
    round), whose grace the chain saw pass, and only when another member's aggregate finalized
    the round, paying that member. Returns the incumbent of the next round."""
    posts = coordinator.aggregates(task_id, round)
    voided = {e for r, _, e, _ in coordinator.voided(task_id) if r == round}
    final = posts[-1].aggregator if posts and posts[-1].epoch not in voided else None
    silent = {a for r, a in coordinator.silent_aggregators(task_id) if r == round}
    for x in coordinator.slashes(task_id):
        if x["round"] != round or x["fault"] != Fault.SILENT:
            continue
        who = x["address"]
        if who != incumbent:
            v.problems.append(
                f"{who} was slashed as a silent aggregator, but was not the incumbent"
            )
        elif who not in silent:
            v.problems.append(f"{who} was slashed as a silent aggregator before its grace passed")
        elif final is None or final == who or x["beneficiary"] != final:
            v.problems.append(f"{who}'s liveness slash is not paid to the finalized aggregator")
        else:
            v.notes.append(f"incumbent aggregator {who} let its grace pass: slashed {x['amount']}")
    return posts[-1].aggregator if posts else incumbent


def _check_credits(
    coordinator: CoordinatorClient,
    task_id: int,
    round: int,
    per_weight: int,
    credits: list[tuple[int, str, int]],
    v: RoundVerdict,
) -> None:
    left_out = set(coordinator.excluded(task_id, round)) | set(
        coordinator.invalidated(task_id, round)
    )
    weights = coordinator.round_weights(task_id, round)
    for r, account, amount in credits:
        if r != round:
            continue
        want = 0 if account in left_out else weights.get(account, 0) * per_weight
        if amount != want:
            v.problems.append(f"{account} was credited {amount} for round {round}, expected {want}")


def accounting_verdict(
    coordinator: CoordinatorClient, token: TokenClient, task_ids: list[int]
) -> RoundVerdict:
    """Every token the coordinator holds is a stake, a credited or pending reward, a pool or a
    challenge bond held; anything above that was sent to it by someone (reported). Each task's
    pool and bonds held must also equal what its events add up to (escrow, credits, slashes,
    forfeited bonds, withdrawals: :class:`PoolLedger`)."""
    v = RoundVerdict(0, 0, "accounting")
    expected = 0
    for t in task_ids:
        info = coordinator.get_task(t)
        expected += info.pool + info.challenge_bonds_held
        for m in coordinator.members(t):
            member = coordinator.get_member(t, m)
            expected += member.stake + member.claimable + member.pending
    for t in task_ids:
        v.problems += _ledger_problems(coordinator, t)
    held = token.balance_of(coordinator.address)
    if held < expected:
        v.problems.append(
            f"coordinator holds {held}, stakes + rewards + pools + bonds add up to {expected}"
        )
    elif held > expected:
        v.notes.append(f"coordinator holds {held - expected} more than it tracks (a donation)")
    return v


@dataclass(frozen=True)
class PoolLedger:
    """A task's pool and challenge bonds, replayed from its events alone."""

    escrowed: int  # rewardPerRound × numRounds at createTask
    credited: int  # Σ RoundFinalized.rewardsCredited
    slashed_to_pool: int  # Σ (Slashed.amount − Slashed.toBeneficiary)
    bonds_to_pool: int  # Σ ChallengeSettled.toPool
    withdrawn: int  # Σ PoolWithdrawn.amount
    bonds_locked: int  # Σ ChallengeBondLocked.bond
    bonds_released: int  # Σ over settlements of the bond each released

    def problems(self, pool: int, bonds_held: int) -> list[str]:
        """Where the on-chain pool and bonds held differ from what the events add up to."""
        out = []
        want = (
            self.escrowed
            - self.credited
            + self.slashed_to_pool
            + self.bonds_to_pool
            - self.withdrawn
        )
        if pool != want:
            out.append(
                f"pool {pool}, but escrow − credits + slashed + forfeited bonds − withdrawals = {want}"
            )
        if bonds_held != self.bonds_locked - self.bonds_released:
            out.append(
                f"challenge bonds held {bonds_held}, but locked − released = "
                f"{self.bonds_locked - self.bonds_released}"
            )
        return out


def _ledger_problems(coordinator: CoordinatorClient, task_id: int) -> list[str]:
    params = coordinator.task_created(task_id)["params"]
    info = coordinator.get_task(task_id)
    slashes = coordinator.slashes(task_id)
    settled = coordinator.challenge_settlements(task_id)
    ledger = PoolLedger(
        escrowed=int(params["rewardPerRound"]) * int(params["numRounds"]),
        credited=sum(o.rewards_credited for o in coordinator.round_outcomes(task_id)),
        slashed_to_pool=sum(x["amount"] - x["to_beneficiary"] for x in slashes),
        bonds_to_pool=sum(x["to_pool"] for x in settled),
        withdrawn=coordinator.pool_withdrawals(task_id),
        bonds_locked=coordinator.challenge_bonds_locked(task_id),
        bonds_released=len(settled) * info.challenge_bond,
    )
    problems = ledger.problems(info.pool, info.challenge_bonds_held)
    problems += _stake_problems(coordinator, task_id)
    return [f"task {task_id}: {p}" for p in problems]


def _stake_problems(coordinator: CoordinatorClient, task_id: int) -> list[str]:
    """Each member's stake replayed from its events (escrowed at join, minus every slash,
    returned whole at leave) must be what it got back, or what the chain holds for it now."""
    out: list[str] = []
    stake: dict[str, int] = {}
    for event, account, amount in coordinator.stake_changes(task_id):
        if event == "Joined":
            stake[account] = amount
        elif event == "Slashed":
            stake[account] = stake.get(account, 0) - amount
            if stake[account] < 0:
                out.append(f"{account} was slashed more than it had staked")
        elif stake.pop(account, 0) != amount:
            out.append(f"{account} left with stake {amount}, but its events add up to otherwise")
    for account, want in stake.items():
        have = coordinator.get_member(task_id, account).stake
        if have != want:
            out.append(f"{account} holds stake {have}, but join − slashes = {want}")
    return out


def audit_all(
    coordinator: CoordinatorClient,
    token: TokenClient,
    store: BlobStore,
    *,
    tasks: list[int] | None = None,
) -> AuditReport:
    """Audit the given tasks (default: every task on this coordinator), task by task, then the
    token accounting. Unasked-for tasks whose config is not a fedchain config (anyone can
    create a task) are reported as not auditable instead of failing the audit."""
    verdicts: list[RoundVerdict] = []
    all_ids = coordinator.task_ids()
    for t in tasks if tasks is not None else all_ids:
        try:
            found = audit_task(coordinator, store, t)
        except FedchainError as exc:
            found = [RoundVerdict(t, 0, "setup", [f"cannot audit task {t}: {exc}"])]
        if tasks is None and found[0].problems and len(found) == 1:
            found[0].notes += [f"not auditable: {p}" for p in found[0].problems]
            found[0].problems = []
            found[0].status = "not auditable"
        verdicts += found
    verdicts.append(accounting_verdict(coordinator, token, all_ids))
    return AuditReport(verdicts)

"""Dropouts in secure rounds, property style: for seeded random dropout patterns (each owner
vanishes with probability 0.4, at a uniformly random stage), every round does what the
protocol promises and nothing is lost.

The rule under test (issue 3; ``fedchain.secagg``: "the round survives dropouts down to the
Shamir threshold"): with U1 ⊇ U2 ⊇ U3 ⊇ U4 the owners that advertised keys, shared them, sent
a masked input and posted unmask shares, a round whose on-chain sets all reach minParticipants
completes iff |U4| ≥ t, the round's Shamir threshold; otherwise it aborts on-chain. In a
completed round the owners of U3 \\ U4 are recorded as withheld and their inputs are in the sum
(each at the weight the chain fixed when its owner joined); an aborted round leaves the model as
it was for the next round; stakes (priced by the declared counts) and rewards all add up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from recording_trainer import RecordingTrainer

from fedchain.aggregation import apply_aggregate, weighted_sum
from fedchain.audit import accounting_verdict, audit_all
from fedchain.chain import AbortReason, EmbeddedChain, GasLedger
from fedchain.codec.blob import BlobKind
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import KeeperNode, LocalData, TaskBlobs, TaskConfig
from fedchain.node.secure import SecureAggregatorNode, SecureRoundView
from fedchain.sim.consortium import TOKEN, Consortium, TokenPlan
from fedchain.sim.faults import DropoutNode
from fedchain.sim.runner import run_task
from fedchain.storage import LocalDirStore

SAMPLES = (23, 37, 51, 29, 44, 60)
MIN_PARTICIPANTS = 3
AGGREGATOR = 5  # the account that also aggregates (its trainer role may drop out)
PLAN = TokenPlan()
STAGES = 4  # 0: before advertising keys, 1: before sharing them, 2: before the masked input,
#             3: after it (never unmasks); None: stays the whole round


def _local_data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


class SeededPlan:
    """Each round, each owner independently vanishes with probability 0.4 at a random stage."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def pattern(self, round: int) -> dict[int, int]:
        rng = np.random.default_rng([self.seed, round, 0x5ECA])
        return {i: int(rng.integers(0, STAGES)) for i in range(len(SAMPLES)) if rng.random() < 0.4}

    def stage(self, round: int, index: int) -> int | None:
        return self.pattern(round).get(index)


class FixedPlan(SeededPlan):
    """The same interface with the patterns spelled out (rounds not listed: nobody drops)."""

    def __init__(self, patterns: dict[int, dict[int, int]]) -> None:
        super().__init__(0)
        self.patterns = patterns

    def pattern(self, round: int) -> dict[int, int]:
        return self.patterns.get(round, {})


@dataclass
class Run:
    store: LocalDirStore
    c: Consortium
    blobs: TaskBlobs
    task_id: int
    rounds: int
    trainers: list[RecordingTrainer]
    balances: dict[str, int]


def _run(chain: EmbeddedChain, tmp_path: Path, plan: SeededPlan, rounds: int) -> Run:
    store = LocalDirStore(tmp_path / "store")
    c = Consortium.create(chain, store, num_participants=len(SAMPLES), seed=31, plan=PLAN)
    spec = ModelSpec(arch="logreg", input_dim=4, num_classes=2)
    cfg = TaskConfig.build(
        dataset="synthetic", model=spec, train=TrainConfig(epochs=1, batch_size=8), chunk_elems=4
    )
    tid = c.create_task(
        cfg,
        rounds=rounds,
        min_participants=MIN_PARTICIPANTS,
        seed=0,
        plan=PLAN,
        secure_aggregation=True,
    )
    balances = {a.address: c.token.balance_of(a.address) for a in c.participants}
    c.join_all(tid, list(SAMPLES))
    c.start(tid)
    # every count is under the cap (200 % of the median): each weight is the declared count
    assert c.coordinator.member_weights(tid) == {
        a.address: n for a, n in zip(c.participants, SAMPLES, strict=True)
    }
    trainers = [
        RecordingTrainer(f"owner-{i}", a, c.coordinator, store, _local_data(n, i), task_id=tid)
        for i, (a, n) in enumerate(zip(c.participants, SAMPLES, strict=True))
    ]
    nodes = [DropoutNode(t, i, plan) for i, t in enumerate(trainers)]  # type: ignore[arg-type]
    nodes += [
        SecureAggregatorNode("agg", c.participants[AGGREGATOR], c.coordinator, store, task_id=tid),
        KeeperNode("keeper", c.sponsor, c.coordinator, task_id=tid),
    ]
    run_task(c.coordinator, tid, nodes, ledger=GasLedger())  # type: ignore[arg-type]
    return Run(store, c, TaskBlobs(store, cfg), tid, rounds, trainers, balances)


@dataclass
class Expected:
    """What the plan and the rule say about one round: the sets the chain will show (only
    phases the round reaches) and how it ends."""

    u1: set[int]
    u2: set[int]
    u3: set[int]
    u4: set[int]
    finalized: bool
    abort_reason: AbortReason | None
    why: str


def _expected(run: Run, pattern: dict[int, int], round: int) -> Expected:
    n = len(SAMPLES)

    def stays(stage: int) -> set[int]:
        return {i for i in range(n) if pattern.get(i, STAGES) > stage}

    u1 = stays(0)
    u2 = stays(1) if len(u1) >= MIN_PARTICIPANTS else set()
    u3 = stays(2) if len(u2) >= MIN_PARTICIPANTS else set()
    if len(u3) < MIN_PARTICIPANTS:
        short = min(len(u1), len(u2), len(u3))
        return Expected(
            u1, u2, u3, set(), False, AbortReason.TOO_FEW_UPDATES, f"a phase reached {short}"
        )
    t = SecureRoundView(run.c.coordinator, run.blobs, run.task_id, round).context.threshold
    u4 = stays(3) if len(u3) >= t else set()
    if len(u4) >= t:
        return Expected(u1, u2, u3, u4, True, None, f"|U4| = {len(u4)} ≥ t = {t}")
    return Expected(u1, u2, u3, u4, False, AbortReason.NO_AGGREGATE, f"|U4| = {len(u4)} < t = {t}")


def _round_opened(run: Run) -> dict[int, bytes]:
    co = run.c.coordinator
    logs = co.contract.events.RoundOpened().get_logs(from_block=co.from_block)
    return {
        int(e["args"]["round"]): bytes(e["args"]["globalModelRoot"])
        for e in logs
        if int(e["args"]["taskId"]) == run.task_id
    }


def _check_rounds(run: Run, plan: SeededPlan) -> list[str]:
    """Every way the rounds differ from the rule, as readable lines (empty: all as promised)."""
    co, tid = run.c.coordinator, run.task_id
    index = {a.address: i for i, a in enumerate(run.c.participants)}
    outcomes = {o.round: o for o in co.round_outcomes(tid)}
    opened = _round_opened(run)
    problems: list[str] = []
    if sorted(outcomes) != list(range(1, run.rounds + 1)):
        return [f"rounds ended: {sorted(outcomes)}, expected 1..{run.rounds}"]
    model_root_before = bytes(co.task_created(tid)["params"]["initialModelRoot"])
    model = run.blobs.get_vector(BlobKind.MODEL, model_root_before).values
    for r in range(1, run.rounds + 1):
        pattern = plan.pattern(r)
        want = _expected(run, pattern, r)
        where = f"round {r} (dropouts {pattern}, {want.why})"
        got_sets = [
            {index[a] for a in co.key_adverts(tid, r)},
            {index[a] for a in co.phase_digests(tid, r, "KeysShared")},
            {index[u.participant] for u in co.updates(tid, r)},
            {index[a] for a in co.phase_digests(tid, r, "UnmaskSharesPosted")},
        ]
        for name, got, exp in zip(
            ("U1", "U2", "U3", "U4"), got_sets, (want.u1, want.u2, want.u3, want.u4), strict=True
        ):
            if got != exp:
                problems.append(f"{where}: {name} on-chain {sorted(got)}, expected {sorted(exp)}")
        if len(got_sets[0]) >= 3:
            ctx = SecureRoundView(co, run.blobs, tid, r).context
            if ctx.k != len(ctx.participants) - 1:
                problems.append(f"{where}: not a complete graph (k = {ctx.k}); rule assumes one")
        # the next round opens on the model this round leaves
        if r > 1 and opened.get(r) != model_root_before:
            problems.append(f"{where}: opened on another model than round {r - 1} left")
        o = outcomes[r]
        if o.finalized != want.finalized or o.abort_reason != want.abort_reason:
            ended = "finalized" if o.finalized else f"aborted {o.abort_reason!r}"
            wanted = "finalized" if want.finalized else f"aborted {want.abort_reason!r}"
            problems.append(f"{where}: {ended}, expected {wanted}")
        withheld = {index[a] for a in co.withheld(tid, r)}
        if o.finalized:
            if withheld != want.u3 - want.u4:
                problems.append(f"{where}: withheld {sorted(withheld)}, expected U3 \\ U4")
            included = sorted(want.u3 - {index[a] for a in co.excluded(tid, r)})
            agg = co.aggregate(tid, r)
            expected_sum = weighted_sum(
                [run.trainers[i].updates[r] for i in included], [SAMPLES[i] for i in included]
            )
            weight = sum(SAMPLES[i] for i in included)
            posted = (
                None
                if agg is None
                else run.blobs.get_vector(BlobKind.AGGREGATE, agg.merkle_root).values
            )
            if (
                agg is None
                or agg.included_weight != weight
                or not np.array_equal(posted, expected_sum)  # type: ignore[arg-type]
            ):
                problems.append(f"{where}: the aggregate is not Σ wᵢ·vᵢ over U3 {included}")
            model = apply_aggregate(model, expected_sum, weight)
            if o.model_root != run.blobs.model_root(model):
                problems.append(f"{where}: the model is not the plaintext rule's")
            model_root_before = o.model_root  # type: ignore[assignment]
        else:
            if withheld or co.aggregate(tid, r) is not None:
                problems.append(f"{where}: aborted yet withheld {withheld} / an aggregate recorded")
            model_root_before = opened.get(r, b"")
    return problems


def _money_problems(run: Run) -> list[str]:
    """Stakes intact, each owner owed exactly its finalized rounds' rewards (weight × reward per
    weight, shared over the committed weight), pool keeps the rest; then everyone leaves with
    exactly that and the coordinator ends up holding nothing."""
    co, tid = run.c.coordinator, run.task_id
    info = co.get_task(tid)
    weights = co.member_weights(tid)
    problems: list[str] = []
    owed = {a.address: 0 for a in run.c.participants}
    paid = 0
    for o in co.round_outcomes(tid):
        if not o.finalized:
            continue
        excluded = set(co.excluded(tid, o.round))
        committed = [u.participant for u in co.updates(tid, o.round)]
        rpw = info.reward_per_round // sum(weights[p] for p in committed)
        if co.reward_per_weight(tid, o.round) != rpw:
            problems.append(f"round {o.round}: reward per weight is not reward // committed weight")
        for p in committed:
            if p not in excluded:
                owed[p] += weights[p] * rpw
                paid += weights[p] * rpw
    if info.pool != info.reward_per_round * run.rounds - paid:
        problems.append(f"pool {info.pool}, expected {info.reward_per_round * run.rounds - paid}")
    verdict = accounting_verdict(co, run.c.token, [tid])
    problems += verdict.problems
    for acct, n in zip(run.c.participants, SAMPLES, strict=True):
        m = co.get_member(tid, acct.address)
        stake = PLAN.stake * TOKEN + PLAN.stake_per_sample_milli * TOKEN // 1000 * n
        if m.stake != stake or m.claimable + m.pending != owed[acct.address]:
            problems.append(f"{acct.address}: stake {m.stake}, owed {m.claimable + m.pending}")
        co.leave_task(acct, tid)
        back = run.c.token.balance_of(acct.address) - run.balances[acct.address]
        if back != owed[acct.address]:  # the stake came back on top of what it had before
            problems.append(f"{acct.address}: left with {back} more than before, owed {owed}")
    if co.get_task(tid).pool > 0:
        co.withdraw_pool(run.c.sponsor, tid)
    if run.c.token.balance_of(co.address) != 0:
        problems.append("the coordinator still holds tokens after everyone left")
    return problems


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_dropouts_follow_the_threshold_rule_and_lose_nothing(
    chain: EmbeddedChain, tmp_path: Path, seed: int, accounting_holds: object
) -> None:
    # Prepare
    plan = SeededPlan(seed)

    # Execute
    run = _run(chain, tmp_path, plan, rounds=2)
    report = audit_all(run.c.coordinator, run.c.token, run.store)
    round_problems = _check_rounds(run, plan)
    money_problems = _money_problems(run)

    # Assert
    assert report.passed, report.first_failure
    assert report.rounds_verified == 2
    assert round_problems == []
    assert money_problems == []
    assert accounting_holds(run.c.coordinator, run.c.token)  # type: ignore[operator]


def test_below_the_threshold_the_round_aborts_and_the_next_starts_from_the_last_model(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: object
) -> None:
    # Prepare: round 1: every owner sends its masked input, but only two (< t = 3 of six)
    # post unmask shares; round 2: nobody drops
    plan = FixedPlan({1: {0: 3, 1: 3, 2: 3, 3: 3}})

    # Execute
    run = _run(chain, tmp_path, plan, rounds=2)
    co, tid = run.c.coordinator, run.task_id
    outcomes = co.round_outcomes(tid)
    opened = _round_opened(run)
    report = audit_all(co, run.c.token, run.store)
    round_problems = _check_rounds(run, plan)
    money_problems = _money_problems(run)

    # Assert
    assert [(o.round, o.finalized, o.abort_reason) for o in outcomes] == [
        (1, False, AbortReason.NO_AGGREGATE),
        (2, True, None),
    ]
    assert opened[2] == opened[1] == bytes(co.task_created(tid)["params"]["initialModelRoot"])
    assert co.withheld(tid, 1) == []
    assert [c for c in co.rewards_credited(tid) if c[0] == 1] == []
    assert report.passed, report.first_failure
    assert round_problems == []
    assert money_problems == []
    assert accounting_holds(co, run.c.token)  # type: ignore[operator]


def test_survivors_exactly_at_the_threshold_complete_the_round(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: six owners (t = 3); all send masked inputs, three then vanish, so exactly
    # t = 3 survivors post their unmask shares
    plan = FixedPlan({1: {0: 3, 1: 3, 2: 3}})

    # Execute
    run = _run(chain, tmp_path, plan, rounds=1)
    co, tid = run.c.coordinator, run.task_id
    ctx = SecureRoundView(co, run.blobs, tid, 1).context
    survivors = co.phase_digests(tid, 1, "UnmaskSharesPosted")
    (outcome,) = co.round_outcomes(tid)

    # Assert
    assert len(survivors) == ctx.threshold
    assert outcome.finalized, f"aborted {outcome.abort_reason!r} with |U4| = t = {ctx.threshold}"
    assert set(co.withheld(tid, 1)) == {run.c.participants[i].address for i in (0, 1, 2)}
    assert _check_rounds(run, plan) == []

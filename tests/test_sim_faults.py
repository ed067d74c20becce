"""Every new fault kind end to end on the embedded chain (`run_demo`, 5 owners, 3 rounds, owner 1
misbehaving from round 2): the fault is refuted or made worthless, no honest member is slashed,
the audit passes, honest members are paid what they are paid in the clean run with the same seed,
and where only the aggregate was attacked the final model is the clean run's.

One clean run is shared by the module; each fault kind gets its own run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fedchain.sim.demo import DemoConfig, DemoReport, run_demo

pytestmark = pytest.mark.slow

CLIENTS, ROUNDS, SEED = 5, 3, 4
CHEATER, FROM_ROUND = 1, 2

#: fault -> (what the watcher records as the dispute kind, the slash reason), None: no dispute
REFUTED = {
    "wrong-aggregate": ("wrong-aggregate", "wrong-aggregate"),
    "wrong-model": ("wrong-model", "wrong-model"),
    "withhold": ("withhold", "unanswered"),
    "copycat": ("copycat", "copy"),
    "norm-lie": ("norm-lie", "norm-lie"),
}
#: faults of the aggregator role: the honest aggregator re-posts, so the model is the clean one
AGGREGATE_ONLY = ("wrong-aggregate", "wrong-model", "withhold")


def _config(tmp: Path, faults: dict[int, tuple[str, int]]) -> DemoConfig:
    return DemoConfig(
        clients=CLIENTS,
        rounds=ROUNDS,
        seed=SEED,
        workdir=tmp,
        faults=faults,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    report = run_demo(_config(tmp_path_factory.mktemp("clean"), {}))
    assert report.audit["passed"] is True and not report.disputes and not report.slashed
    return report


def _run(tmp_path: Path, kind: str) -> DemoReport:
    return run_demo(_config(tmp_path / kind, {CHEATER: (kind, FROM_ROUND)}))


def _slashed(report: DemoReport, address: str) -> float:
    return sum(s.amount for s in report.slashed if s.address == address)


def _net(report: DemoReport, i: int) -> float:
    """Owner i's net token change over the task: rewards claimed minus stake slashed (a stake
    not slashed comes back whole)."""
    p = report.rewards[i]
    return p.rewards - _slashed(report, p.address)


def _common(report: DemoReport, clean: DemoReport) -> str:
    """What holds under every fault; returns the cheater's address."""
    assert report.audit["passed"] is True, report.audit
    assert report.audit["rounds_verified"] == ROUNDS
    assert all(r["finalized"] for r in report.rounds)
    cheater = report.rewards[CHEATER].address
    assert {s.address for s in report.slashed} <= {cheater}  # no honest member slashed
    assert all(d.accused == cheater for d in report.disputes)
    assert [p.address for p in report.rewards] == [p.address for p in clean.rewards]
    return cheater


@pytest.mark.parametrize("kind", sorted(REFUTED))
def test_a_refuted_fault_costs_the_cheater_and_nobody_else(
    tmp_path: Path, clean: DemoReport, kind: str
) -> None:
    # Execute
    report = _run(tmp_path, kind)

    # Assert
    cheater = _common(report, clean)
    dispute_kind, reason = REFUTED[kind]
    rounds = list(range(FROM_ROUND, ROUNDS + 1))
    if kind in AGGREGATE_ONLY:
        # A refuted incumbent loses the incumbency: the honest aggregator that re-posted holds
        # every later grace and posts first, so the rogue cheats once.
        rounds = [FROM_ROUND]
    # every cheating round was disputed and the cheater lost it (a timeout, for withholding)
    want = "timeout" if kind == "withhold" else "refuted"
    assert [(d.round, d.kind, d.outcome) for d in report.disputes] == [
        (r, dispute_kind, want) for r in rounds
    ]
    assert [(s.round, s.reason) for s in report.slashed] == [(r, reason) for r in rounds]
    assert all(s.amount > 0 for s in report.slashed)
    # the cheater ends with fewer tokens than in the clean run, by at least what it was slashed
    # (a trainer's slashed update also loses that round's reward)
    assert _net(report, CHEATER) < _net(clean, CHEATER)
    assert _net(report, CHEATER) <= _net(clean, CHEATER) - _slashed(report, cheater) + 1e-9
    # every honest member is paid exactly what it is paid in the clean run
    for i in range(CLIENTS):
        if i != CHEATER:
            assert report.rewards[i].rewards == clean.rewards[i].rewards, i
            assert report.rewards[i].stake_returned == clean.rewards[i].stake_returned, i
    if kind in AGGREGATE_ONLY:
        # the rogue's posts are voided and the honest aggregator's stand: the clean model
        assert [r["model_digest"] for r in report.rounds] == [
            r["model_digest"] for r in clean.rounds
        ]
        # it aggregated honestly until it turned rogue; it never aggregated again
        assert [r["aggregator"] == cheater for r in report.rounds] == [
            r < FROM_ROUND for r in range(1, ROUNDS + 1)
        ]
        assert report.rewards[CHEATER].rewards == clean.rewards[CHEATER].rewards
    else:
        # a slashed update is left out of its round: the cheater earns nothing for it
        assert report.rewards[CHEATER].rounds_included == FROM_ROUND - 1
        assert all(cheater in r["excluded"] for r in report.rounds[FROM_ROUND - 1 :])


def test_exclude_honest_is_worthless_to_the_excluder(tmp_path: Path, clean: DemoReport) -> None:
    # Execute
    report = _run(tmp_path, "exclude-honest")

    # Assert: not provable on-chain (an honest sum over a wrongful inclusion set), so nothing is
    # disputed or slashed; its aggregate stands in the rounds it posted first
    cheater = _common(report, clean)
    assert report.disputes == [] and report.slashed == []
    excluded: set[str] = set()
    for r in report.rounds[FROM_ROUND - 1 :]:
        assert r["aggregator"] == cheater
        excluded |= set(r["excluded"])  # type: ignore[arg-type]
    assert excluded and cheater not in excluded
    # The cheater gains nothing by it: rewards are shared over the committed weight, so its own
    # pay is the clean run's (its net change is bounded by what honest work earns: >= 0, not < 0)
    assert report.rewards[CHEATER].rewards == clean.rewards[CHEATER].rewards
    assert _net(report, CHEATER) == _net(clean, CHEATER)
    # The excluded honest members lose those rounds' rewards; nobody else gains anything.
    for i, p in enumerate(report.rewards):
        was = clean.rewards[i]
        if p.address in excluded:
            assert p.rewards < was.rewards
            assert p.rounds_included == was.rounds_included - sum(
                p.address in r["excluded"]  # type: ignore[operator]
                for r in report.rounds
            )
        else:
            assert p.rewards == was.rewards, p.name
        assert p.stake_returned == was.stake_returned
    assert sum(p.rewards for p in report.rewards) < sum(p.rewards for p in clean.rewards)


def test_a_silent_incumbent_aggregator_is_slashed_and_its_backup_paid(
    tmp_path: Path, clean: DemoReport
) -> None:
    # Execute: the cheater aggregates round 1 (the incumbent), then stops posting
    report = _run(tmp_path, "silent")

    # Assert: the honest aggregator waits out the grace and posts; the finalized round slashes
    # the incumbent 1 % of its stake, half credited to the backup; it holds no later grace
    cheater = _common(report, clean)
    assert report.disputes == []
    assert [r["aggregator"] == cheater for r in report.rounds] == [
        r < FROM_ROUND for r in range(1, ROUNDS + 1)
    ]
    (slash,) = report.slashed
    assert (slash.address, slash.reason, slash.round) == (cheater, "silent", FROM_ROUND)
    stake = clean.rewards[CHEATER].stake_returned
    assert slash.amount == pytest.approx(stake / 100)
    backup = report.rounds[FROM_ROUND - 1]["aggregator"]
    assert slash.beneficiary == backup and slash.to_beneficiary == pytest.approx(slash.amount / 2)
    assert report.rewards[CHEATER].stake_returned == pytest.approx(stake - slash.amount)
    assert _net(report, CHEATER) < _net(clean, CHEATER)
    # the model is the clean run's; honest members are paid the clean rewards (the backup also
    # gets its half of the slash)
    assert [r["model_digest"] for r in report.rounds] == [r["model_digest"] for r in clean.rounds]
    for i, p in enumerate(report.rewards):
        extra = slash.to_beneficiary if p.address == backup else 0.0
        assert p.rewards == pytest.approx(clean.rewards[i].rewards + extra, abs=1e-12), p.name


def test_inflated_samples_buy_a_bounded_weight(tmp_path: Path, clean: DemoReport) -> None:
    # Execute
    report = _run(tmp_path, "inflate-samples")

    # Assert: nothing to dispute (a declaration is not provably false), nobody slashed
    _common(report, clean)
    assert report.disputes == [] and report.slashed == []
    # The declaration prices its stake (it staked all its tokens)...
    assert report.rewards[CHEATER].stake_returned > 5 * clean.rewards[CHEATER].stake_returned
    # ... and buys at most the weight cap, 200% of the median declared count: with weights
    # w, the cheater's share of each round's reward is cap / Σ w. Its gain is positive but
    # bounded (this is the one fault that pays; the cap is what limits it), and every honest
    # member is still paid weight × reward per weight (the inflated declaration also moves the
    # median, so the cap over the honest ones moves too: their weights are min(n, new cap)).
    honest_samples = [p.samples for i, p in enumerate(clean.rewards) if i != CHEATER]
    cap = 2 * _median([*honest_samples, 2**24 - 1])  # its declaration is above everyone's
    honest_weights = [min(n, cap) for n in honest_samples]
    pool = 100.0 * ROUNDS  # TokenPlan.reward_per_round × rounds
    assert report.rewards[CHEATER].rewards <= pool * cap / (cap + sum(honest_weights)) + 1e-6
    assert report.rewards[CHEATER].rewards > clean.rewards[CHEATER].rewards
    honest = [i for i in range(CLIENTS) if i != CHEATER]
    per_weight = [
        report.rewards[i].rewards / w for i, w in zip(honest, honest_weights, strict=True)
    ]
    assert max(per_weight) == pytest.approx(min(per_weight), rel=1e-9)
    assert sum(report.rewards[i].rewards for i in honest) < sum(
        clean.rewards[i].rewards for i in honest
    )


def _median(xs: list[int]) -> int:
    """The lower median, as the consortium names it to startTask."""
    ordered = sorted(xs)
    return ordered[(len(ordered) - 1) // 2]

"""`run_demo` end to end on the embedded chain: with misbehaving owners (malformed, late, crashed)
the task completes, the audit passes, the faults show in the round records, the faulty earn
nothing for the rounds they failed but keep their stake, and every reward is pro rata to the
weights the chain fixed at join (declared samples, capped at 200% of their median), shared over
the round's committed weight.
Plus one acceptance-like run of the default demo, and on-chain cost independent of model size."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fedchain.chain import ChainError
from fedchain.learning import load_dataset
from fedchain.sim.consortium import TOKEN, TokenPlan
from fedchain.sim.demo import DemoConfig, run_demo

PLAN = TokenPlan()  # what run_demo uses


def _included(cfg: DemoConfig, client: int, rnd: int) -> bool:
    """The plaintext rule: a faulty owner's updates count only before its fault starts."""
    return client not in cfg.faults or rnd < cfg.faults[client][1]


def _committed(cfg: DemoConfig, client: int, rnd: int) -> bool:
    """Who commits in a round: the included, and a malformed owner (it commits, is excluded);
    a late owner's commits are refused and a crashed owner sends none."""
    if _included(cfg, client, rnd):
        return True
    return cfg.faults[client][0] == "malformed"


def _weights(samples: dict[int, int], cap_pct: int = 200) -> dict[int, int]:
    """What the chain fixes at start: each declared count capped at cap_pct% of the (lower)
    median of the declared counts."""
    ordered = sorted(samples.values())
    cap = max(1, ordered[(len(ordered) - 1) // 2] * cap_pct // 100)
    return {i: min(n, cap) for i, n in samples.items()}


def _stake(samples: int) -> float:
    return (PLAN.stake * TOKEN + PLAN.stake_per_sample_milli * TOKEN // 1000 * samples) / TOKEN


@pytest.mark.slow
def test_demo_with_faults_completes_excludes_refuses_and_pays_pro_rata(tmp_path: Path) -> None:
    # Prepare
    cfg = DemoConfig(
        clients=5,
        rounds=3,
        workdir=tmp_path / "w",
        seed=1,
        faults={1: ("malformed", 2), 2: ("late", 2), 3: ("crash", 2)},
    )

    # Execute
    report = run_demo(cfg)

    # Assert: complete and audited
    assert report.audit["passed"] is True, report.audit
    assert report.audit["rounds_verified"] == cfg.rounds
    assert [r["round"] for r in report.rounds] == [1, 2, 3]
    assert all(r["finalized"] for r in report.rounds)
    by_name = {p.name: p for p in report.rewards}
    addr = {i: by_name[f"owner-{i:02d}"].address for i in range(cfg.clients)}

    # ... faults visible in the round records
    for r in report.rounds:
        rnd = int(r["round"])  # type: ignore[call-overload]
        included = [i for i in range(cfg.clients) if _included(cfg, i, rnd)]
        assert r["included"] == len(included)
        malformed = [
            addr[i] for i, (kind, at) in cfg.faults.items() if kind == "malformed" and rnd >= at
        ]
        assert r["excluded"] == sorted(malformed)
        refused = r["refusals"]
        assert isinstance(refused, list)
        late = [
            f"owner-{i:02d}" for i, (kind, at) in cfg.faults.items() if kind == "late" and rnd >= at
        ]
        assert sorted(x["node"] for x in refused) == late
        assert all("CommitWindowClosed" in x["error"] for x in refused)

    # ... nobody loses stake (none of these faults is slashable); rewards are Σ over included
    # rounds of weight × ⌊reward / committed weight⌋ (an excluded share stays in the pool)
    samples = {i: by_name[f"owner-{i:02d}"].samples for i in range(cfg.clients)}
    weight = _weights(samples)
    owed = dict.fromkeys(range(cfg.clients), 0)
    for rnd in range(1, cfg.rounds + 1):
        committed = [i for i in range(cfg.clients) if _committed(cfg, i, rnd)]
        per_weight = PLAN.reward_per_round * TOKEN // sum(weight[i] for i in committed)
        for i in range(cfg.clients):
            if _included(cfg, i, rnd):
                owed[i] += weight[i] * per_weight
    assert report.slashed == [] and report.disputes == []
    for i in range(cfg.clients):
        p = by_name[f"owner-{i:02d}"]
        assert p.stake_returned == pytest.approx(_stake(samples[i]), rel=1e-12)
        assert p.rewards == owed[i] / TOKEN, (p.name, p.rewards, owed[i] / TOKEN)
        assert p.rounds_included == sum(_included(cfg, i, rnd) for rnd in range(1, cfg.rounds + 1))
    for i, (_, at) in cfg.faults.items():
        assert by_name[f"owner-{i:02d}"].rounds_included == at - 1
    # and the samples the report names are the partition's (no owner is empty)
    assert sum(samples.values()) == len(load_dataset(cfg.dataset, seed=cfg.seed).y_train)


@pytest.mark.slow
def test_default_demo_acceptance(tmp_path: Path) -> None:
    """The run people see: 10 hospitals, 10 rounds, federated close to centralized, audited."""
    # Prepare
    cfg = DemoConfig(workdir=tmp_path / "w")
    data = load_dataset(cfg.dataset, seed=cfg.seed)
    majority = float(np.bincount(data.y_test).max() / len(data.y_test))

    # Execute
    report = run_demo(cfg)

    # Assert
    assert report.audit["passed"] is True and report.audit["rounds_verified"] == cfg.rounds == 10
    assert len(report.rounds) == cfg.rounds and all(r["finalized"] for r in report.rounds)
    assert all(r["included"] == cfg.clients for r in report.rounds)
    assert report.final_accuracy > majority + 0.1  # it learned something real
    assert (
        report.final_accuracy >= report.centralized_accuracy - 0.05
    )  # and is close to centralized
    total_rewards = sum(p.rewards for p in report.rewards)
    assert total_rewards <= PLAN.reward_per_round * cfg.rounds
    assert total_rewards == pytest.approx(
        PLAN.reward_per_round * cfg.rounds, rel=1e-9
    )  # only rounding dust stays
    gas = sum(int(r["gas_used"]) for r in report.rounds)  # type: ignore[call-overload]
    assert report.gas_per_participant_round == gas / sum(int(r["included"]) for r in report.rounds)  # type: ignore[call-overload]


def _gas_per_op(report: Any, op: str) -> float:
    entry = report.gas_by_operation[op]
    return entry["gas"] / entry["transactions"]


@pytest.mark.slow
def test_on_chain_cost_does_not_grow_with_the_model(tmp_path: Path) -> None:
    # Prepare: the same run with a ~60-parameter and a ~2400-parameter model
    small = DemoConfig(
        clients=3, rounds=2, dataset="breast_cancer", model="logreg", workdir=tmp_path / "s"
    )
    large = DemoConfig(clients=3, rounds=2, dataset="digits", model="mlp", workdir=tmp_path / "l")

    # Execute
    a, b = run_demo(small), run_demo(large)

    # Assert
    assert a.audit["passed"] and b.audit["passed"]
    for op in ("commit_update", "post_aggregate"):
        ga, gb = _gas_per_op(a, op), _gas_per_op(b, op)
        assert abs(ga - gb) / ga < 0.02, (op, ga, gb)
    assert (
        abs(a.gas_per_participant_round - b.gas_per_participant_round) / a.gas_per_participant_round
        < 0.05
    )


def test_unknown_chain_is_refused_before_anything_runs(tmp_path: Path) -> None:
    # Prepare
    cfg = DemoConfig(clients=2, rounds=1, chain="nowhere", workdir=tmp_path / "w")

    # Execute
    with pytest.raises(ChainError) as exc:
        run_demo(cfg)

    # Assert
    assert "nowhere" in str(exc.value)
    assert not (tmp_path / "w" / "deployment.json").exists()


@pytest.mark.parametrize(
    "faults",
    [
        {0: ("crash", 1), 1: ("crash", 1)},  # nobody left to aggregate
        {7: ("crash", 1)},  # there is no owner 7
    ],
    ids=["all-faulty", "index-out-of-range"],
)
def test_impossible_fault_plans_are_refused_by_the_config(
    faults: dict[int, tuple[str, int]], tmp_path: Path
) -> None:
    # Prepare / Execute
    with pytest.raises(ValueError) as exc:  # pydantic's ValidationError is a ValueError
        DemoConfig(clients=2, rounds=1, workdir=tmp_path / "w", faults=faults)  # type: ignore[arg-type]

    # Assert
    assert "fault" in str(exc.value).lower()

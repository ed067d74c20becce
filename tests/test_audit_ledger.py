"""The audit replays each task's pool and challenge bonds from its events alone."""

from __future__ import annotations

from fedchain.audit.auditor import PoolLedger
from fedchain.sim.demo import DemoConfig, run_demo

LEDGER = PoolLedger(
    escrowed=400,
    credited=250,
    slashed_to_pool=15,
    bonds_to_pool=3,
    withdrawn=100,
    bonds_locked=20,
    bonds_released=15,
)


def test_a_pool_that_matches_its_events_passes() -> None:
    # Execute / Assert: 400 − 250 + 15 + 3 − 100 = 68; 20 − 15 = 5 bonds held
    assert LEDGER.problems(pool=68, bonds_held=5) == []


def test_a_pool_off_by_one_token_unit_is_a_problem() -> None:
    # Execute
    problems = LEDGER.problems(pool=69, bonds_held=5)

    # Assert
    assert len(problems) == 1 and "pool 69" in problems[0] and "= 68" in problems[0]


def test_bonds_held_that_the_events_do_not_explain_are_a_problem() -> None:
    # Execute
    problems = LEDGER.problems(pool=68, bonds_held=6)

    # Assert
    assert len(problems) == 1 and "challenge bonds held 6" in problems[0]


def test_a_run_with_refutations_slashes_and_withdrawals_balances_its_ledger() -> None:
    # Prepare / Execute: a wrong aggregate (bonded game, slash) and a norm lie (member slash)
    report = run_demo(
        DemoConfig(
            clients=5,
            rounds=2,
            seed=3,
            faults={1: ("wrong-aggregate", 2), 3: ("norm-lie", 1)},
        )
    )

    # Assert: the audit's accounting (token identity and per-task ledger) holds after payouts
    assert report.audit["passed"], report.audit
    assert {s.reason for s in report.slashed} == {"wrong-aggregate", "norm-lie"}

"""The audit replays each task's pool, challenge bonds and members' stakes from its events alone."""

from __future__ import annotations

from fedchain.audit.auditor import PoolLedger, _stake_problems
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


class _StakeChain:
    """Just what the stake replay reads: the ordered stake events and the members' stakes."""

    def __init__(self, changes: list[tuple[str, str, int]], stakes: dict[str, int]) -> None:
        self.changes, self.stakes = changes, stakes

    def stake_changes(self, task_id: int) -> list[tuple[str, str, int]]:
        return self.changes

    def get_member(self, task_id: int, account: str) -> object:
        return type("M", (), {"stake": self.stakes.get(account, 0)})()


_HISTORY = [
    ("Joined", "a", 100),
    ("Joined", "b", 120),
    ("Slashed", "a", 10),  # e.g. a refuted aggregate's bond
    ("Left", "b", 120),
    ("Joined", "b", 110),  # rejoined: a fresh stake
    ("Slashed", "b", 1),  # e.g. a liveness slash
]


def test_stakes_that_match_join_minus_slashes_pass() -> None:
    assert _stake_problems(_StakeChain(_HISTORY, {"a": 90, "b": 109}), 1) == []  # type: ignore[arg-type]


def test_a_stake_the_events_do_not_explain_is_a_problem() -> None:
    problems = _stake_problems(_StakeChain(_HISTORY, {"a": 91, "b": 109}), 1)  # type: ignore[arg-type]
    assert len(problems) == 1 and "holds stake 91" in problems[0] and "= 90" in problems[0]


def test_a_leave_that_returns_a_wrong_stake_is_a_problem() -> None:
    bad = [("Joined", "a", 100), ("Slashed", "a", 10), ("Left", "a", 100)]
    problems = _stake_problems(_StakeChain(bad, {}), 1)  # type: ignore[arg-type]
    assert len(problems) == 1 and "left with stake 100" in problems[0]


def test_a_slash_above_the_stake_is_a_problem() -> None:
    bad = [("Joined", "a", 5), ("Slashed", "a", 6)]
    problems = _stake_problems(_StakeChain(bad, {"a": 0}), 1)  # type: ignore[arg-type]
    assert any("slashed more than it had staked" in p for p in problems)

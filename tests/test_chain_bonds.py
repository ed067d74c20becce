"""Bond sizes from measured dispute gas: the step table is not below what the benchmark measured,
the formula is the documented one (exact), and bad input is refused."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fedchain.chain.bonds import STEP_GAS, bisection_rounds, minimum_bonds, worst_game_gas
from fedchain.cli.main import app

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results" / "disputes.json"
#: benchmark step names -> the table's names (availability answers share one row)
_ALIASES = {
    "answer_availability_aggregate": "answer_availability",
    "answer_availability_model": "answer_availability",
    "answer_availability_update": "answer_availability",
}


def test_step_gas_is_at_least_every_measured_step_at_256_element_chunks() -> None:
    rows = [r for r in json.loads(RESULTS.read_text())["steps"] if r["k"] == 256]
    measured: dict[str, int] = {}
    for r in rows:
        name = _ALIASES.get(r["step"], r["step"])
        measured[name] = max(measured.get(name, 0), int(r["gas"]))
    measured.pop("post_aggregate", None)  # not a dispute step
    assert set(measured) <= set(STEP_GAS), set(measured) - set(STEP_GAS)
    for name, gas in measured.items():
        assert gas <= STEP_GAS[name] < gas + 1_000, (name, gas, STEP_GAS[name])


def test_bisection_depth_matches_the_measured_games() -> None:
    games = json.loads(RESULTS.read_text())["sum_disputes"]
    for g in games:
        if g["step"] == "bisection_rounds":
            assert bisection_rounds(g["n"]) == g["count"], g
    assert bisection_rounds(1) == 1 and bisection_rounds(2) == 1 and bisection_rounds(3) == 2


def test_bonds_pay_twice_the_winners_gas_times_the_margin_exactly() -> None:
    s = minimum_bonds(100, 20 * 10**9, Fraction(1000), margin=3)
    gas = worst_game_gas(100)
    assert (
        gas.challenger
        == STEP_GAS["challenge_sum"] + 7 * STEP_GAS["bisect"] + STEP_GAS["prove_step"]
    )
    assert s.aggregator_bond == 2 * 3 * gas.challenger * 20 * 10**9 * 1000
    assert s.challenge_bond == 2 * 3 * gas.aggregator * 20 * 10**9 * 1000
    # half of each bond pays the winner's gas at margin × the price
    assert s.aggregator_bond // 2 >= 3 * gas.challenger * 20 * 10**9 * 1000
    # rounding is up, to a whole base unit
    tiny = minimum_bonds(10, 1, Fraction(1, 10**9))
    assert tiny.aggregator_bond == math.ceil(Fraction(2 * 2 * worst_game_gas(10).challenger, 10**9))


def test_bonds_grow_with_members_only_through_the_bisection_depth() -> None:
    small, large = worst_game_gas(10), worst_game_gas(1000)
    assert large.challenger - small.challenger == (10 - 4) * STEP_GAS["bisect"]
    assert large.aggregator - small.aggregator == (10 - 4) * STEP_GAS["defend"]


@pytest.mark.parametrize(
    ("members", "price", "rate", "margin"),
    [(0, 1, 1, 2), (10, -1, 1, 2), (10, 1, 0, 2), (10, 1, 1, Fraction(1, 2))],
)
def test_bad_input_is_refused(members: int, price: int, rate: int, margin: Fraction) -> None:
    with pytest.raises(ValueError):
        minimum_bonds(members, price, rate, margin=margin)


def test_cli_prints_the_bonds_and_refuses_a_bad_price() -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["bonds", "--members", "10", "--gas-price-gwei", "1"])
    assert ok.exit_code == 0, ok.output
    want = minimum_bonds(10, 10**9, 1000)
    assert f"{want.aggregator_bond / 10**18:.6g}" in ok.output
    assert f"{want.gas.challenger:,}" in ok.output
    bad = runner.invoke(app, ["bonds", "--tokens-per-eth", "zero"])
    assert bad.exit_code != 0 and "error" in bad.output


def test_the_demo_bonds_pay_a_disputes_gas_at_the_prices_they_are_sized_for() -> None:
    from fedchain.sim.consortium import BOND_SIZING, TOKEN, TokenPlan

    plan = TokenPlan()
    need = minimum_bonds(
        BOND_SIZING["members"], BOND_SIZING["gas_price_wei"], BOND_SIZING["tokens_per_eth"]
    )
    assert plan.bond * TOKEN >= need.aggregator_bond
    assert plan.challenge_bond * TOKEN >= need.challenge_bond
    # ... and not for much larger rounds: the sizing is a stated limit, not a coincidence
    big = minimum_bonds(1000, BOND_SIZING["gas_price_wei"], BOND_SIZING["tokens_per_eth"])
    assert plan.challenge_bond * TOKEN < big.challenge_bond

"""Bond sizes from the disputes' measured gas.

A bond must pay the honest side's gas when the other side loses: a refuted aggregator's bond
goes half to the challenger (the rest to the pool), and a failed challenger's bond goes half to
the aggregator. So each bond must be at least twice the winner's gas cost in the longest game
it can be dragged into, priced at the gas price the task expects, in task tokens. The gas per
step is what ``benchmarks/disputes.py`` measured (its largest value over n ∈ {10, 100, 1000}
and d ∈ {10³, 10⁶, 10⁷} at 256-element chunks, rounded up to the next thousand; a test keeps
these numbers at or above the measured ones). A bisection takes ⌈log₂ n⌉ rounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

__all__ = [
    "STEP_GAS",
    "BondSizing",
    "DisputeGas",
    "bisection_rounds",
    "minimum_bonds",
    "worst_game_gas",
]

#: Largest measured gas of each dispute transaction at 256-element chunks, rounded up.
STEP_GAS = MappingProxyType(
    {
        "challenge_sum": 251_000,
        "open_aggregate_chunk": 169_000,
        "defend": 136_000,
        "bisect": 77_000,
        "prove_step": 374_000,
        "timeout": 148_000,
        "timeout_challenger": 90_000,
        "challenge_availability": 238_000,
        "answer_availability": 178_000,
        "prove_model": 485_000,
        "prove_norm_lie": 262_000,
        "prove_copy": 193_000,
        "prove_duplicate": 150_000,
    }
)


def bisection_rounds(members: int) -> int:
    """Rounds of a sum game over ``members`` running sums (one defend and one bisect each)."""
    if members < 1:
        raise ValueError(f"a round has at least one member, got {members}")
    return max(1, math.ceil(math.log2(members)))


@dataclass(frozen=True)
class DisputeGas:
    """Gas each side spends in the longest game it can win."""

    challenger: int  # to refute a wrong aggregate: the worst of the sum game and one-step proofs
    aggregator: int  # to defend an honest aggregate: the worst of the sum and availability games


def worst_game_gas(members: int) -> DisputeGas:
    g, r = STEP_GAS, bisection_rounds(members)
    sum_challenger = g["challenge_sum"] + r * g["bisect"] + g["prove_step"]
    sum_aggregator = g["open_aggregate_chunk"] + r * g["defend"] + g["timeout_challenger"]
    one_step = max(g["prove_model"], g["prove_norm_lie"], g["prove_copy"], g["prove_duplicate"])
    availability_challenger = g["challenge_availability"] + g["timeout"]
    return DisputeGas(
        challenger=max(sum_challenger, one_step, availability_challenger),
        aggregator=max(sum_aggregator, g["answer_availability"]),
    )


@dataclass(frozen=True)
class BondSizing:
    """Smallest bonds (token base units) that pay the winner's gas twice over its half share."""

    members: int
    gas_price_wei: int
    tokens_per_eth: Fraction
    margin: Fraction
    gas: DisputeGas
    aggregator_bond: int
    challenge_bond: int


def minimum_bonds(
    members: int,
    gas_price_wei: int,
    tokens_per_eth: Fraction | int | str,
    *,
    margin: Fraction | int | str = 2,
    token_decimals: int = 18,
) -> BondSizing:
    """Bonds for a task of ``members`` at ``gas_price_wei``, with the token priced at
    ``tokens_per_eth`` whole tokens per ether and a ``margin`` for gas-price swings.

    aggregatorBond ≥ 2 × margin × challenger's gas × price (the challenger gets half of it);
    challengeBond ≥ 2 × margin × aggregator's gas × price (the aggregator gets half of it).
    Exact (fractions), rounded up to a whole base unit.
    """
    rate, m = Fraction(tokens_per_eth), Fraction(margin)
    if gas_price_wei < 0 or rate <= 0 or m < 1:
        raise ValueError("need gas price >= 0, tokens per ether > 0 and margin >= 1")
    gas = worst_game_gas(members)
    # wei of ether → base units of the token: × rate × 10^decimals / 10^18
    per_gas = Fraction(gas_price_wei) * rate * 10**token_decimals / 10**18

    def bond(g: int) -> int:
        return math.ceil(2 * m * g * per_gas)

    return BondSizing(
        members=members,
        gas_price_wei=gas_price_wei,
        tokens_per_eth=rate,
        margin=m,
        gas=gas,
        aggregator_bond=bond(gas.challenger),
        challenge_bond=bond(gas.aggregator),
    )

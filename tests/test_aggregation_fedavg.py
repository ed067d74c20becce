"""Exact integer FedAvg, checked against Python's unbounded ints and Fractions."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedchain.aggregation import (
    AggregationError,
    apply_aggregate,
    divide_round_half_even,
    weighted_sum,
)
from fedchain.errors import FedchainError

INT32 = st.integers(-(2**31), 2**31 - 1)


def _round_half_even(x: Fraction) -> int:
    return round(x)  # Python rounds Fractions half to even, exactly


@st.composite
def updates_and_weights(draw: st.DrawFn) -> tuple[list[list[int]], list[int]]:
    size = draw(st.integers(1, 12))
    k = draw(st.integers(1, 6))
    updates = [draw(st.lists(INT32, min_size=size, max_size=size)) for _ in range(k)]
    weights = [draw(st.integers(1, 10**6)) for _ in range(k)]
    return updates, weights


@settings(max_examples=80, deadline=None)
@given(updates_and_weights())
def test_weighted_sum_matches_python_ints(case: tuple[list[list[int]], list[int]]) -> None:
    # Prepare
    updates, weights = case
    arrays = [np.array(u, dtype=np.int32) for u in updates]

    # Execute
    got = weighted_sum(arrays, weights)

    # Assert
    expected = [
        sum(n * u[j] for n, u in zip(weights, updates, strict=True)) for j in range(len(updates[0]))
    ]
    assert got.dtype == np.int64
    assert got.tolist() == expected


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=10),
    st.integers(1, 2**40),
    st.integers(-(2**40), 2**40),
)
def test_divide_matches_fraction_rounding(values: list[int], w: int, g: int) -> None:
    # Prepare
    agg = np.array(values, dtype=np.int64)
    glob = np.full(len(values), g, dtype=np.int64)

    # Execute
    step = divide_round_half_even(agg, w)
    new = apply_aggregate(glob, agg, w)

    # Assert
    expected = [_round_half_even(Fraction(v, w)) for v in values]
    assert step.tolist() == expected
    assert new.tolist() == [g + e for e in expected]


@settings(max_examples=100, deadline=None)
@given(st.integers(-(10**6), 10**6), st.integers(1, 1000))
def test_ties_round_to_even(q: int, half_w: int) -> None:
    # Prepare: aggregate = (q + 1/2) * w exactly, with w = 2 * half_w
    w = 2 * half_w
    agg = np.array([q * w + half_w, -(q * w + half_w)], dtype=np.int64)

    # Execute
    step = divide_round_half_even(agg, w)

    # Assert
    even = q if q % 2 == 0 else q + 1
    assert step.tolist() == [even, -even]


def test_known_values() -> None:
    # Prepare
    agg = np.array([5, -5, 7, -7, 3, -3, 1, -1, 0], dtype=np.int64)

    # Execute
    step = divide_round_half_even(agg, 2)

    # Assert: 2.5->2, -2.5->-2, 3.5->4, -3.5->-4, 1.5->2, -1.5->-2, .5->0, -.5->0
    assert step.tolist() == [2, -2, 4, -4, 2, -2, 0, 0, 0]


def test_full_round_matches_fraction_mean() -> None:
    # Prepare
    rng = np.random.default_rng(1)
    updates = [rng.integers(-(2**30), 2**30, size=1000, dtype=np.int32) for _ in range(5)]
    weights = [120, 7, 3000, 55, 1]
    glob = rng.integers(-(2**40), 2**40, size=1000, dtype=np.int64)

    # Execute
    new = apply_aggregate(glob, weighted_sum(updates, weights), sum(weights))

    # Assert
    total = sum(weights)
    for j in range(0, 1000, 37):
        mean = Fraction(sum(n * int(u[j]) for n, u in zip(weights, updates, strict=True)), total)
        assert int(new[j]) == int(glob[j]) + round(mean)


def test_extreme_bound_is_exact() -> None:
    # Prepare: Σ n·max|v| = 2**63 - 1 exactly, the largest allowed
    v = np.array([7, -7, 0], dtype=np.int64)
    n = (2**63 - 1) // 7
    assert n * 7 == 2**63 - 1

    # Execute
    got = weighted_sum([v], [n])

    # Assert
    assert got.tolist() == [2**63 - 1, -(2**63 - 1), 0]
    with pytest.raises(AggregationError, match="overflow"):
        weighted_sum([v, v], [n, 1])


@pytest.mark.parametrize(
    ("updates", "weights", "message"),
    [
        ([], [], "no updates"),
        ([np.zeros(3, np.int32)], [1, 2], "1 updates but 2 weights"),
        ([np.zeros(3, np.int32), np.zeros(4, np.int32)], [1, 1], "update 1 has 4 elements"),
        ([np.zeros(3, np.int32)], [0], "positive"),
        ([np.zeros(3, np.int32)], [-5], "positive"),
        ([np.zeros(3, np.int32)], [True], "must be an int"),
        ([np.zeros(3, np.int32)], [1.5], "must be an int"),
        ([np.zeros(3)], [1], "integers"),
        ([np.zeros((2, 2), np.int32)], [1], "1-D"),
        ([np.array([2**31 - 1], np.int32)], [2**32 + 3], "overflow"),
        ([np.array([2**62], np.int64)] * 2, [1, 1], "overflow"),
        ([np.array([-(2**63)], np.int64)], [1], "overflow"),
        ([np.zeros(1, np.int32)], [2**63], "total weight"),
    ],
)
def test_weighted_sum_refusals(updates: list[np.ndarray], weights: list[int], message: str) -> None:
    # Execute / Assert
    with pytest.raises(AggregationError, match=message):
        weighted_sum(updates, weights)


def test_apply_aggregate_refusals() -> None:
    # Prepare
    g = np.zeros(3, np.int64)

    # Execute / Assert
    with pytest.raises(AggregationError, match="3 elements but the aggregate has 4"):
        apply_aggregate(g, np.zeros(4, np.int64), 1)
    with pytest.raises(AggregationError, match="positive"):
        apply_aggregate(g, np.zeros(3, np.int64), 0)
    with pytest.raises(AggregationError, match="overflows int64 at index 1"):
        apply_aggregate(np.array([0, 2**63 - 1], np.int64), np.array([0, 1], np.int64), 1)
    with pytest.raises(AggregationError, match="overflows int64 at index 0"):
        apply_aggregate(np.array([-(2**63)], np.int64), np.array([-2], np.int64), 2)
    assert issubclass(AggregationError, FedchainError)

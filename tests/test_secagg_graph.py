"""The neighbour graph (Harary graph on a seeded permutation), parameters, and round context."""

from __future__ import annotations

import hashlib
import math

import pytest
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from fedchain.secagg import (
    RoundContext,
    SecAggError,
    canonical_order,
    choose_parameters,
    neighbours,
    parameter_risks,
)
from fedchain.secagg.graph import (
    DESIGN_CORRUPT_FRACTION,
    DESIGN_DROPOUT_FRACTION,
)


def addresses(n: int, tag: str = "p") -> list[str]:
    return [
        to_checksum_address(hashlib.sha256(f"{tag}{i}".encode()).digest()[:20]) for i in range(n)
    ]


SEED = hashlib.sha256(b"round seed").digest()


def _valid_k(n: int, k: int) -> bool:
    return k == n - 1 or k % 2 == 0 or n % 2 == 0


@settings(max_examples=80, deadline=None)
@given(n=st.integers(2, 40), k_seed=st.integers(0, 10**6), seed=st.binary(min_size=32, max_size=32))
def test_graph_is_symmetric_and_k_regular(n: int, k_seed: int, seed: bytes) -> None:
    # Prepare
    k = 1 + k_seed % (n - 1)
    if not _valid_k(n, k):
        k -= 1
    if k == 0:
        k = n - 1
    people = addresses(n)

    # Execute
    graph = neighbours(people, k=k, seed=seed)

    # Assert
    assert set(graph) == set(people)
    for p, near in graph.items():
        assert len(near) == k, (p, k, n)
        assert p not in near
        for q in near:
            assert p in graph[q]


def test_graph_is_deterministic_per_seed_and_drawn_over_the_given_order() -> None:
    # Prepare: the graph shuffles indices in the order given (the order of advertisement)
    people = addresses(30)

    # Execute
    one = neighbours(people, k=6, seed=SEED)
    again = neighbours(list(people), k=6, seed=SEED)
    reordered = neighbours(list(reversed(people)), k=6, seed=SEED)
    other = neighbours(people, k=6, seed=hashlib.sha256(b"other").digest())
    by_index = neighbours([str(i) for i in range(30)], k=6, seed=SEED)

    # Assert: same seed and order, same graph; the edges are those of the indices' graph
    assert one == again
    assert one != other and one != reordered
    assert one == {
        people[int(i)]: frozenset(people[int(j)] for j in near) for i, near in by_index.items()
    }


def test_graph_is_complete_at_k_n_minus_1() -> None:
    people = addresses(7)
    graph = neighbours(people, k=6, seed=SEED)
    assert all(graph[p] == frozenset(people) - {p} for p in people)


def test_graph_refuses_impossible_degrees() -> None:
    people = addresses(9)
    with pytest.raises(SecAggError, match="both odd"):
        neighbours(people, k=3, seed=SEED)
    with pytest.raises(SecAggError, match=r"k must be an int in \[1, n − 1\]"):
        neighbours(people, k=9, seed=SEED)
    with pytest.raises(SecAggError, match="32 bytes"):
        neighbours(people, k=4, seed=b"short")


def test_neighbourhoods_look_random() -> None:
    # Prepare: over many seeds, how often is a fixed pair adjacent? Should be ≈ k / (n − 1).
    people = addresses(20)
    a, b = people[0], people[1]
    trials = 400

    # Execute
    hits = sum(
        b in neighbours(people, k=4, seed=hashlib.sha256(bytes([i % 256, i // 256])).digest())[a]
        for i in range(trials)
    )

    # Assert: expected 400 * 4/19 ≈ 84, sd ≈ 8
    assert 84 - 40 < hits < 84 + 40


@pytest.mark.parametrize(
    ("n", "expected"),
    [(3, (2, 2)), (4, (3, 2)), (10, (9, 5)), (33, (32, 17)), (100, (40, 21)), (1000, (60, 31))],
)
def test_choose_parameters(n: int, expected: tuple[int, int]) -> None:
    # Execute
    k, t = choose_parameters(n)

    # Assert
    assert (k, t) == expected
    assert k == n - 1 or k % 2 == 0
    assert 2 <= t <= k


def test_choose_parameters_refuses_fewer_than_three() -> None:
    with pytest.raises(SecAggError, match="at least 3"):
        choose_parameters(2)


@pytest.mark.parametrize("n", [3, 10, 50, 64, 100, 300, 510, 1000, 1020, 3000, 10_000])
def test_chosen_parameters_meet_the_design_targets(n: int) -> None:
    # Prepare
    k, t = choose_parameters(n)

    # Execute
    risks = parameter_risks(
        n, k, t, corrupt_fraction=DESIGN_CORRUPT_FRACTION, dropout_fraction=DESIGN_DROPOUT_FRACTION
    )

    # Assert: σ = 40 bits of security, η = 30 bits of correctness
    assert risks.disconnect < -40
    assert risks.privacy < -40
    assert risks.abort < -30


def test_parameter_risks_grow_with_dropouts() -> None:
    low = parameter_risks(100, 40, 21, corrupt_fraction=0.05, dropout_fraction=0.1)
    high = parameter_risks(100, 40, 21, corrupt_fraction=0.05, dropout_fraction=0.3)
    assert low.abort == -math.inf or low.abort < high.abort
    assert -10 < high.abort < 0  # 30 % dropout at n = 100: a few percent of rounds abort


def test_canonical_order_is_numeric_not_string_order() -> None:
    # Prepare: EIP-55 mixed case makes plain string order differ from address order
    people = addresses(200)

    # Execute
    ordered = canonical_order(people)

    # Assert
    assert list(ordered) == sorted(people, key=lambda a: int(a, 16))
    assert list(ordered) != sorted(people)
    with pytest.raises(SecAggError, match="distinct"):
        canonical_order([people[0], people[0]])
    with pytest.raises(SecAggError, match="checksummed"):
        canonical_order([people[0].lower()])


def test_round_context_derives_x_and_neighbours() -> None:
    # Prepare
    people = addresses(12)

    # Execute
    ctx = RoundContext.for_round(task_id=5, round=2, u1=people, seed=SEED, k=4, threshold=3)

    # Assert
    assert ctx.participants == canonical_order(people)
    assert [ctx.x_of(p) for p in ctx.participants] == list(range(1, 13))
    assert all(len(ctx.neighbours_of(p)) == 4 for p in people)
    with pytest.raises(SecAggError, match="not a participant"):
        ctx.x_of(addresses(1, "stranger")[0])


def test_round_context_refuses_bad_parameters() -> None:
    people = addresses(6)
    with pytest.raises(SecAggError, match="canonical order"):
        RoundContext(
            task_id=1,
            round=1,
            participants=tuple(reversed(canonical_order(people))),
            seed=SEED,
            k=2,
            threshold=2,
        )
    with pytest.raises(SecAggError, match=r"threshold must be in \[2, k\]"):
        RoundContext.for_round(task_id=1, round=1, u1=people, seed=SEED, k=2, threshold=3)
    with pytest.raises(SecAggError, match="at least 3"):
        RoundContext.for_round(task_id=1, round=1, u1=people[:2], seed=SEED)
    with pytest.raises(SecAggError, match="subset of U2"):
        RoundContext.for_round(task_id=1, round=1, u1=people, seed=SEED).check_sets(
            people[:2], people[2:3]
        )

"""Shamir t-of-n over p = 2**521 − 1: any t shares rebuild the secret, t − 1 do not, and
``combine_verified`` outvotes wrong shares."""

from __future__ import annotations

import random
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedchain.secagg import SecAggError, combine, combine_verified, split
from fedchain.secagg.shamir import PRIME

SECRET = bytes(range(32))


def _checker(secret: bytes):
    return lambda candidate: candidate == secret


def test_round_trip_with_all_shares() -> None:
    # Prepare
    shares = split(SECRET, threshold=3, xs=[1, 2, 3, 4, 5])

    # Execute
    got = combine(shares, threshold=3)

    # Assert
    assert got == SECRET
    assert len(got) == 32
    assert all(0 <= y < PRIME for y in shares.values())


def test_any_t_of_n_reconstruct() -> None:
    # Prepare
    xs = [3, 5, 8, 13, 21, 34]
    shares = split(SECRET, threshold=3, xs=xs, rng=random.Random(1))

    # Execute / Assert: all C(6, 3) = 20 subsets
    for subset in combinations(xs, 3):
        assert combine({x: shares[x] for x in subset}, threshold=3) == SECRET


@settings(max_examples=60, deadline=None)
@given(
    secret=st.binary(min_size=32, max_size=32),
    n=st.integers(1, 12),
    data=st.data(),
)
def test_random_t_subset_reconstructs(secret: bytes, n: int, data: st.DataObject) -> None:
    # Prepare
    t = data.draw(st.integers(1, n))
    xs = data.draw(st.lists(st.integers(1, 2**32), min_size=n, max_size=n, unique=True))
    shares = split(secret, threshold=t, xs=xs)
    subset = data.draw(st.permutations(xs))[:t]

    # Execute
    got = combine({x: shares[x] for x in subset}, threshold=t)

    # Assert
    assert got == secret


def test_t_minus_1_shares_refused_with_counts() -> None:
    # Prepare
    shares = split(SECRET, threshold=4, xs=[1, 2, 3, 4, 5])
    few = {x: shares[x] for x in (1, 2, 3)}

    # Execute / Assert
    with pytest.raises(SecAggError, match="3 shares available, 4 needed"):
        combine(few, threshold=4)
    with pytest.raises(SecAggError, match="3 shares available, 4 needed"):
        combine_verified(few, threshold=4, check=_checker(SECRET))


def test_t_minus_1_shares_with_lower_threshold_give_a_value_check_rejects() -> None:
    # Prepare: interpolating 3 shares of a degree-3 polynomial gives the wrong constant term
    shares = split(SECRET, threshold=4, xs=[1, 2, 3, 4, 5], rng=random.Random(7))
    few = {x: shares[x] for x in (1, 2, 3)}

    # Execute / Assert: either it does not even fit 32 bytes, or the check rejects it
    try:
        wrong = combine(few, threshold=3)
    except SecAggError:
        pass
    else:
        assert wrong != SECRET
    with pytest.raises(SecAggError, match="no 3 of the 3 available shares passed the check"):
        combine_verified(few, threshold=3, check=_checker(SECRET))


def test_t_minus_1_shares_are_consistent_with_every_secret() -> None:
    # Prepare: the information-theoretic argument, concretely: for any candidate secret s',
    # the t − 1 shares plus the point (0, s') lie on one polynomial of degree t − 1.
    shares = split(SECRET, threshold=3, xs=[1, 2, 3], rng=random.Random(3))
    few = {x: shares[x] for x in (1, 2)}
    for candidate in (bytes(32), b"\xff" * 32, SECRET):
        # Execute: interpolate through (0, s') and the two shares, evaluate at x = 3
        pts = [(0, int.from_bytes(candidate, "big")), *few.items()]
        y3 = 0
        for i, (xi, yi) in enumerate(pts):
            num, den = 1, 1
            for j, (xj, _) in enumerate(pts):
                if j != i:
                    num = num * (3 - xj) % PRIME
                    den = den * (xi - xj) % PRIME
            y3 = (y3 + yi * num * pow(den, -1, PRIME)) % PRIME

        # Assert: that polynomial is a valid sharing of s' with the same two shares
        assert combine({**few, 3: y3}, threshold=3) == candidate


@pytest.mark.parametrize("bad_position", [0, 1, 4, 6])
def test_combine_verified_survives_one_corrupted_share(bad_position: int) -> None:
    # Prepare: t = 5 of 7, one share wrong
    xs = list(range(1, 8))
    shares = split(SECRET, threshold=5, xs=xs)
    bad_x = xs[bad_position]
    shares[bad_x] = (shares[bad_x] + 1) % PRIME

    # Execute
    got = combine_verified(shares, threshold=5, check=_checker(SECRET))

    # Assert
    assert got == SECRET


def test_combine_verified_survives_two_corrupted_shares_among_many() -> None:
    # Prepare: t = 11 of 20 (a large neighbourhood), two wrong shares at the front
    xs = list(range(1, 21))
    shares = split(SECRET, threshold=11, xs=xs)
    for x in (1, 2):
        shares[x] = random.Random(x).randrange(PRIME)

    # Execute
    got = combine_verified(shares, threshold=11, check=_checker(SECRET))

    # Assert
    assert got == SECRET


def test_combine_verified_gives_up_with_a_clear_message() -> None:
    # Prepare: 4 shares, t = 3, two wrong: no clean 3-subset exists
    shares = split(SECRET, threshold=3, xs=[1, 2, 3, 4])
    shares[1] = random.Random(1).randrange(PRIME)
    shares[2] = random.Random(2).randrange(PRIME)

    # Execute / Assert
    with pytest.raises(SecAggError, match="the seed of X: no 3 of the 4 available shares"):
        combine_verified(shares, threshold=3, check=_checker(SECRET), label="the seed of X")


def test_combine_verified_respects_max_subsets() -> None:
    # Prepare
    shares = split(SECRET, threshold=3, xs=[1, 2, 3, 4, 5])
    shares[1] = (shares[1] + 1) % PRIME

    # Execute / Assert: the first subset contains the bad share; one try is not enough
    with pytest.raises(SecAggError, match="1 subsets tried"):
        combine_verified(shares, threshold=3, check=_checker(SECRET), max_subsets=1)


@pytest.mark.parametrize(
    ("secret", "threshold", "xs", "message"),
    [
        (b"short", 2, [1, 2], "must be 32 bytes"),
        (SECRET, 3, [1, 2], "exceeds the number of shares"),
        (SECRET, 2, [1, 1], "distinct"),
        (SECRET, 2, [0, 1], r"x-coordinate must be an int in \[1, p\)"),
        (SECRET, 0, [1, 2], "threshold must be a positive int"),
    ],
)
def test_split_refuses_bad_arguments(
    secret: bytes, threshold: int, xs: list[int], message: str
) -> None:
    with pytest.raises(SecAggError, match=message):
        split(secret, threshold=threshold, xs=xs)


def test_split_uses_fresh_randomness_by_default() -> None:
    # Prepare / Execute
    a = split(SECRET, threshold=2, xs=[1, 2])
    b = split(SECRET, threshold=2, xs=[1, 2])

    # Assert: same secret, different polynomials
    assert a != b

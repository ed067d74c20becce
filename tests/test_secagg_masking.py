"""Masks from ChaCha20, computed mod 2^64: deterministic, pinned to RFC 7539, they cancel, and
reduced to any ring Z_2^b they still cancel."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

import fedchain.secagg.masking as masking
from fedchain.secagg import (
    SecAggError,
    add_masks,
    expand_mask,
    mask_input,
    pairwise_sign,
    reduce_to_ring,
    ring_to_int64,
    sum_masked,
)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _addr(i: int) -> str:
    return to_checksum_address(hashlib.sha256(f"m{i}".encode()).digest()[:20])


def test_mask_is_the_rfc7539_chacha20_keystream() -> None:
    # RFC 7539 appendix A.1, test vector 1: key = 0, nonce = 0, block counter = 0.
    keystream = bytes.fromhex(
        "76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
        "da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"
    )
    expected = [int.from_bytes(keystream[i : i + 8], "little") for i in range(0, 64, 8)]
    assert expand_mask(bytes(32), 8).tolist() == expected


def test_mask_is_deterministic_and_prefix_stable() -> None:
    seed = hashlib.sha256(b"seed").digest()
    long = expand_mask(seed, 100_003)
    assert long.dtype == np.uint64
    assert np.array_equal(expand_mask(seed, 100_003), long)
    assert np.array_equal(expand_mask(seed, 17), long[:17])
    assert not np.array_equal(expand_mask(hashlib.sha256(b"other").digest(), 17), long[:17])
    assert expand_mask(seed, 0).size == 0


def test_mask_refuses_bad_seed_or_length() -> None:
    with pytest.raises(SecAggError, match="32 bytes"):
        expand_mask(b"x" * 31, 4)
    with pytest.raises(SecAggError, match="length"):
        expand_mask(bytes(32), -1)


@pytest.mark.parametrize("length", [1, 7, 64, 65, 200])
def test_chunked_add_masks_equals_whole_masks(monkeypatch: pytest.MonkeyPatch, length: int) -> None:
    # Prepare: tiny chunks so that every boundary case is exercised cheaply
    monkeypatch.setattr(masking, "_CHUNK_WORDS", 64)
    seeds = [(hashlib.sha256(bytes([i])).digest(), 1 if i % 2 else -1) for i in range(5)]
    expected = np.zeros(length, dtype=np.uint64)
    for seed, sign in seeds:
        m = expand_mask(seed, length)
        expected = expected + m if sign == 1 else expected - m

    # Execute
    acc = np.zeros(length, dtype=np.uint64)
    add_masks(acc, seeds)

    # Assert
    assert np.array_equal(acc, expected)


def test_pairwise_sign_is_antisymmetric() -> None:
    a, b = _addr(1), _addr(2)
    assert pairwise_sign(a, b) == -pairwise_sign(b, a)
    with pytest.raises(SecAggError, match="itself"):
        pairwise_sign(a, a)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(2, 8),
    length=st.integers(1, 40),
    data=st.data(),
)
def test_masks_cancel_without_dropouts(n: int, length: int, data: st.DataObject) -> None:
    # Prepare: every pair shares a seed; inputs anywhere in int64 whose sum stays in range
    people = [_addr(i) for i in range(n)]
    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    bound = INT64_MAX // n
    xs = {
        p: np.array([rnd.randint(-bound, bound) for _ in range(length)], dtype=np.int64)
        for p in people
    }
    pair_seed = {frozenset((p, q)): rnd.randbytes(32) for p in people for q in people if p != q}
    self_seeds = {p: rnd.randbytes(32) for p in people}

    # Execute
    ys = {
        p: mask_input(
            xs[p],
            self_seed=self_seeds[p],
            pairwise={
                q: (pair_seed[frozenset((p, q))], pairwise_sign(p, q)) for q in people if q != p
            },
        )
        for p in people
    }
    total = sum_masked(ys)
    add_masks(total, [(self_seeds[p], -1) for p in people])

    # Assert: Σ y − Σ PRG(b) = Σ x exactly (pairwise masks cancelled on their own)
    assert ring_to_int64(total, 64).tolist() == [
        sum(int(xs[p][i]) for p in people) for i in range(length)
    ]


def test_extreme_values_survive_the_ring() -> None:
    # Prepare: the sum hits both ends of int64 on the way
    x1 = np.array([INT64_MAX, INT64_MIN, INT64_MAX, -1], dtype=np.int64)
    x2 = np.array([-1, 1, INT64_MIN + 1, INT64_MIN + 1], dtype=np.int64)
    seeds = [hashlib.sha256(bytes([i])).digest() for i in range(2)]

    # Execute
    y1 = mask_input(x1, self_seed=seeds[0], pairwise={})
    y2 = mask_input(x2, self_seed=seeds[1], pairwise={})
    total = sum_masked({"a": y1, "b": y2})
    add_masks(total, [(s, -1) for s in seeds])

    # Assert
    assert ring_to_int64(total, 64).tolist() == [INT64_MAX - 1, INT64_MIN + 1, 0, INT64_MIN]


def test_mask_input_refuses_non_int64_vectors() -> None:
    seed = bytes(32)
    with pytest.raises(SecAggError, match="1-D int64"):
        mask_input(np.zeros(3, dtype=np.int32), self_seed=seed, pairwise={})
    with pytest.raises(SecAggError, match="1-D int64"):
        mask_input(np.zeros((2, 2), dtype=np.int64), self_seed=seed, pairwise={})


def test_sum_masked_refuses_mixed_lengths_and_dtypes() -> None:
    with pytest.raises(SecAggError, match="differ in length"):
        sum_masked({"a": np.zeros(3, np.uint64), "b": np.zeros(4, np.uint64)})
    with pytest.raises(SecAggError, match="uint64"):
        sum_masked({"a": np.zeros(3, np.int64)})
    with pytest.raises(SecAggError, match="no masked inputs"):
        sum_masked({})


@settings(max_examples=40, deadline=None)
@given(bits=st.integers(2, 64), n=st.integers(2, 6), data=st.data())
def test_masks_reduced_to_a_smaller_ring_still_cancel(
    bits: int, n: int, data: st.DataObject
) -> None:
    # Prepare: inputs whose sum fits b bits; each masked vector is reduced mod 2^b on its own
    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    bound = (2 ** (bits - 1) - 1) // n
    xs = [
        np.array([rnd.randint(-bound, bound) for _ in range(16)], dtype=np.int64) for _ in range(n)
    ]
    seeds = [rnd.randbytes(32) for _ in range(n)]
    shared = rnd.randbytes(32)

    # Execute: participant 0 and 1 also share a pairwise mask
    ys = {}
    for i, (x, seed) in enumerate(zip(xs, seeds, strict=True)):
        pairwise = {"peer": (shared, 1 if i == 0 else -1)} if i < 2 else {}
        ys[str(i)] = reduce_to_ring(mask_input(x, self_seed=seed, pairwise=pairwise), bits)
    total = sum_masked(ys)
    add_masks(total, [(s, -1) for s in seeds])

    # Assert: every word was in the ring, and the sum is exact
    assert all(bits == 64 or int(y.max()) < 2**bits for y in ys.values())
    assert ring_to_int64(total, bits).tolist() == [sum(int(x[i]) for x in xs) for i in range(16)]

"""A single masked vector carries no information about its update.

Statistically: whatever the input, the masked words are uniform over the ring Z_2^b and the masked
vectors of two very different inputs are indistinguishable. Structurally: what the protocol
lets the aggregator learn about a participant who did not make U3 still leaves its self-mask
on, so even its late masked input stays hidden. The statistical tests use deterministic seeds
(so they cannot flake), except one that runs the real protocol with fresh OS randomness and
a 10⁻⁹ significance level.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest
from eth_utils import to_checksum_address
from scipy import stats

from fedchain.secagg import (
    ClientRound,
    RoundContext,
    mask_input,
    pairwise_seed,
    pairwise_sign,
)
from fedchain.secagg.keys import private_from_bytes
from fedchain.secagg.masking import add_masks
from fedchain.secagg.shamir import combine

WORDS = 1 << 16
ALPHA = 1e-6  # deterministic seeds: the p-values below are fixed numbers, far above this


def _addr(i: int) -> str:
    return to_checksum_address(hashlib.sha256(f"priv{i}".encode()).digest()[:20])


def _inputs() -> dict[str, np.ndarray]:
    rnd = np.random.default_rng(0)
    return {
        "zeros": np.zeros(WORDS, dtype=np.int64),
        "max": np.full(WORDS, 2**62 - 1, dtype=np.int64),
        "ramp": np.arange(WORDS, dtype=np.int64) * 2**40,
        "alternating": np.where(np.arange(WORDS) % 2 == 0, -(2**62), 2**62).astype(np.int64),
        "gaussian update": (rnd.normal(0, 1, WORDS) * 2**20).astype(np.int64) * 5_000,
    }


def _masked(x: np.ndarray, fresh: int, neighbours: int = 4) -> np.ndarray:
    """x masked as a participant with ``neighbours`` neighbours would, under fresh seeds."""
    rnd = random.Random(fresh)
    pairwise = {_addr(j): (rnd.randbytes(32), 1 if j % 2 else -1) for j in range(neighbours)}
    return mask_input(x, self_seed=rnd.randbytes(32), pairwise=pairwise)


def _top_byte_counts(y: np.ndarray) -> np.ndarray:
    return np.bincount((y >> np.uint64(56)).astype(np.int64), minlength=256)


@pytest.mark.parametrize("name", list(_inputs()))
def test_masked_words_are_uniform_whatever_the_input(name: str) -> None:
    # Prepare
    x = _inputs()[name]

    # Execute
    y = _masked(x, fresh=sorted(_inputs()).index(name))

    # Assert: top byte uniform over 256 values; every bit set half the time (±5σ)
    assert stats.chisquare(_top_byte_counts(y)).pvalue > ALPHA
    bits = np.unpackbits(y.view(np.uint8)).reshape(-1, 64).mean(axis=0)
    assert np.all(np.abs(bits - 0.5) < 5 * 0.5 / np.sqrt(WORDS))
    # and the masked value tells nothing about where x sits: no rank correlation with it
    if np.ptp(x) > 0:
        assert abs(stats.spearmanr(x, y.astype(np.float64)).statistic) < 5 / np.sqrt(WORDS)


@pytest.mark.parametrize(
    "pair", [("zeros", "max"), ("zeros", "alternating"), ("ramp", "gaussian update")]
)
def test_masked_vectors_of_different_inputs_are_indistinguishable(pair: tuple[str, str]) -> None:
    # Prepare
    inputs = _inputs()
    a, b = pair

    # Execute: fresh masks for each
    ya, yb = _masked(inputs[a], fresh=1), _masked(inputs[b], fresh=2)

    # Assert: same distribution by two-sample KS and a homogeneity test on the top byte
    ks = stats.ks_2samp(ya.astype(np.float64), yb.astype(np.float64))
    table = np.vstack([_top_byte_counts(ya), _top_byte_counts(yb)])
    assert ks.pvalue > ALPHA
    assert stats.chi2_contingency(table).pvalue > ALPHA


@pytest.mark.parametrize("bits", [64, 20])
def test_real_protocol_masked_input_is_uniform_with_fresh_keys(bits: int) -> None:
    # Prepare: a real round, OS randomness, ring Z_2^b; one input all zeros, another large
    people = [_addr(i) for i in range(5)]
    ctx = RoundContext.for_round(task_id=1, round=1, u1=people, seed=bytes(32), k=4, threshold=3)
    clients = {p: ClientRound(task_id=1, round=1, address=p) for p in ctx.participants}
    adverts = {p: c.advertise() for p, c in clients.items()}
    for c in clients.values():
        c.share_keys(ctx, adverts)
    a, b = ctx.participants[:2]

    # Execute
    zeros = np.zeros(WORDS, dtype=np.int64)
    big = np.full(WORDS, 2 ** (bits - 3), dtype=np.int64)
    ya = clients[a].masked_input(ctx, adverts, set(people), zeros, ring_bits=bits)
    yb = clients[b].masked_input(ctx, adverts, set(people), big, ring_bits=bits)

    # Assert (1e-9: a false alarm once in a billion runs): the top byte of the ring's words
    shift = np.uint64(bits - 8)
    for y in (ya, yb):
        assert int(y.max()) < 2**bits or bits == 64
        top = np.bincount((y >> shift).astype(np.int64), minlength=256)
        assert top.size == 256 and stats.chisquare(top).pvalue > 1e-9
    assert stats.ks_2samp(ya.astype(np.float64), yb.astype(np.float64)).pvalue > 1e-9


def test_what_the_aggregator_learns_about_a_late_participant_leaves_it_masked() -> None:
    # Prepare: j computes its masked input but misses the deadline, so it is not in U3. The
    # survivors reveal j's mask key (j ∈ U2 \ U3), never its self-mask seed.
    people = [_addr(i) for i in range(7)]
    ctx = RoundContext.for_round(task_id=2, round=9, u1=people, seed=bytes(32), k=6, threshold=3)
    clients = {p: ClientRound(task_id=2, round=9, address=p) for p in ctx.participants}
    adverts = {p: c.advertise() for p, c in clients.items()}
    key_shares = {p: c.share_keys(ctx, adverts) for p, c in clients.items()}
    u2 = frozenset(people)
    j = ctx.participants[0]
    x_j = np.full(WORDS, 123_456_789, dtype=np.int64)
    late = clients[j].masked_input(ctx, adverts, u2, x_j, ring_bits=64)
    u3 = u2 - {j}
    reveals = {p: clients[p].unmask(ctx, adverts, key_shares, u2, u3, {}) for p in u3}

    # Execute: the aggregator does everything the revealed shares allow
    assert all(j not in m.self_mask_shares for m in reveals.values())
    key_points = {m.mask_key_shares[j][0]: m.mask_key_shares[j][1] for m in reveals.values()}
    mask_key = private_from_bytes(combine(key_points, threshold=3))
    stripped = late.copy()
    add_masks(
        stripped,
        [
            (pairwise_seed(ctx, mask_key, j, i, adverts[i].mask_pk), -pairwise_sign(j, i))
            for i in ctx.neighbours_of(j)
        ],
    )

    # Assert: all pairwise masks are gone, yet what is left is still uniform, not x_j
    assert not np.any(stripped.view(np.int64) == x_j)
    assert stats.chisquare(_top_byte_counts(stripped)).pvalue > 1e-9

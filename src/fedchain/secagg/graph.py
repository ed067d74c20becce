"""Who masks with whom: a random k-regular graph over the round's participants (SecAgg+).

Full SecAgg (Bonawitz et al., CCS 2017) pairs every participant with every other: O(n) key
agreements, shares and mask expansions per participant. SecAgg+ (Bell et al., CCS 2020) keeps
the same guarantees with high probability when each participant only has k = O(log n)
neighbours drawn at random, so that the honest survivors stay connected and no participant has
``threshold`` colluding neighbours. As in SecAgg+ deployments, the graph is a Harary graph
H(k, n) — a ring where each node neighbours the k/2 nearest on each side — laid on a random
permutation of the participants. The permutation comes from the on-chain ``seed``, so every
participant derives the same graph with no message, and nobody could pick it: the seed must be
fixed *after* the participant set U1 is (otherwise colluders could arrange to surround a
victim). k = n − 1 is the complete graph, i.e. full SecAgg.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

from fedchain.secagg.errors import SecAggError

__all__ = [
    "DEGREE_FACTOR",
    "DESIGN_CORRUPT_FRACTION",
    "DESIGN_DROPOUT_FRACTION",
    "ParameterRisks",
    "choose_parameters",
    "neighbours",
    "parameter_risks",
    "shuffled",
]

DEGREE_FACTOR = 6
"""c in k ≈ c·log2(n); see :func:`choose_parameters` for why 6."""
DESIGN_CORRUPT_FRACTION = 0.10
"""Fraction of participants assumed to collude with the aggregator when choosing k."""
DESIGN_DROPOUT_FRACTION = 0.10
"""Fraction of participants assumed to drop out when choosing k."""

_GRAPH_TAG = b"fedchain/secagg/v1/graph-permutation"


class _SeededStream:
    """Uniform integers from a ChaCha20 keystream (deterministic per key)."""

    def __init__(self, key: bytes) -> None:
        self._enc = Cipher(algorithms.ChaCha20(key, bytes(16)), mode=None).encryptor()

    def below(self, bound: int) -> int:
        """Uniform in [0, bound) by rejection sampling over 64-bit draws (no modulo bias)."""
        limit = (2**64 // bound) * bound
        while True:
            draw = int.from_bytes(self._enc.update(bytes(8)), "little")
            if draw < limit:
                return draw % bound


def shuffled(items: Sequence[str], seed: bytes) -> list[str]:
    """``items`` in a uniformly random order fixed by ``seed`` (Fisher–Yates over ChaCha20).

    The stream key is SHA-256(tag ‖ seed), so this use of the round seed is separate from any
    other use of it.
    """
    if len(seed) != 32:
        raise SecAggError(f"graph seed must be 32 bytes, got {len(seed)}")
    stream = _SeededStream(hashlib.sha256(_GRAPH_TAG + bytes(seed)).digest())
    out = list(items)
    for i in range(len(out) - 1, 0, -1):
        j = stream.below(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def neighbours(participants: Sequence[str], *, k: int, seed: bytes) -> dict[str, frozenset[str]]:
    """Each participant's neighbours in H(k, n) over a permutation of ``participants`` from ``seed``.

    The permutation shuffles the participants' indices in ``participants`` (0..n−1, as given:
    the order of advertisement on-chain), so one edge can be recomputed from the seed, n and
    two indices alone (``SecureTerms.isNeighbour`` does, in a dispute). Symmetric
    (j ∈ N(i) ⇔ i ∈ N(j)), k-regular, nobody is its own neighbour. k must be even, or n − 1
    (complete graph), or odd with n even (each node also neighbours the opposite one); for odd
    k and odd n no k-regular graph exists.
    """
    order = list(participants)
    if len(set(order)) != len(order):
        raise SecAggError("participants must be distinct")
    n = len(order)
    if n < 2:
        raise SecAggError(f"a neighbour graph needs at least 2 participants, got {n}")
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n - 1:
        raise SecAggError(f"k must be an int in [1, n − 1] = [1, {n - 1}], got {k!r}")
    if k == n - 1:
        everyone = frozenset(order)
        return {p: everyone - {p} for p in order}
    if k % 2 and n % 2:
        raise SecAggError(f"no {k}-regular graph on {n} participants exists (k and n both odd)")
    ring = shuffled(order, seed)
    result: dict[str, frozenset[str]] = {}
    for pos, p in enumerate(ring):
        near = {ring[(pos + d) % n] for d in range(1, k // 2 + 1)}
        near |= {ring[(pos - d) % n] for d in range(1, k // 2 + 1)}
        if k % 2:
            near.add(ring[(pos + n // 2) % n])
        result[p] = frozenset(near)
    return result


def choose_parameters(n: int) -> tuple[int, int]:
    """``(k, threshold)`` for ``n`` participants: k = min(n − 1, even ⌈6·log2 n⌉), t = k//2 + 1.

    Degree. Bell et al. (CCS 2020) show (§3, the analysis of the random k-regular
    communication graph, and their concrete-parameter table) that k = O(log n) neighbours
    suffice for statistical security σ = 40 and correctness η = 30 bits, the constant depending
    on the assumed fractions of corrupt (γ) and dropped (δ) clients. With c = 6 and
    γ = δ = 10 % (:data:`DESIGN_CORRUPT_FRACTION`, :data:`DESIGN_DROPOUT_FRACTION`),
    :func:`parameter_risks` bounds, for every n from 3 to 10⁴, the probability that the honest
    survivors' graph disconnects or that any honest participant has ``threshold`` colluding
    neighbours below 2⁻⁴⁰, and the probability that the round aborts for lack of shares below
    2⁻³⁰; c = 5 misses σ = 40 near n = 1000. Up to n ≈ 32, 6·log2 n ≥ n − 1 and the graph is
    complete (full SecAgg), which costs little at that size.

    Threshold. t trades privacy against dropouts: the aggregator legitimately learns one of a
    participant's two secrets, so t colluding neighbours holding shares of the other one could
    unmask it (privacy wants t large); but a secret whose owner's neighbours are mostly gone
    cannot be reconstructed and the round aborts (liveness wants t small: at most k − t
    neighbours may vanish). t = k//2 + 1, a strict majority of the neighbours, also ensures that
    two disjoint groups of neighbours can never each reconstruct a different secret of the same
    participant — defence in depth should the bulletin board ever show two survivor sets. The
    price: more than ~half of someone's neighbours dropping out aborts the round (at 30 %
    dropout and n ≈ 100 that happens in a few percent of rounds; see :func:`parameter_risks`).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 3:
        raise SecAggError(
            f"secure aggregation needs at least 3 participants (with 2, the sum reveals the "
            f"other's update), got {n!r}"
        )
    wanted = math.ceil(DEGREE_FACTOR * math.log2(n))
    k = min(n - 1, wanted + wanted % 2)
    return k, max(2, k // 2 + 1)


@dataclass(frozen=True)
class ParameterRisks:
    """log2 of union bounds on the three ways a (k, t) choice can fail (−inf = impossible)."""

    disconnect: float
    """Some removal of the corrupt and dropped participants splits the honest survivors."""
    privacy: float
    """Some participant has ≥ t corrupt neighbours (who could rebuild its second secret)."""
    abort: float
    """Some participant has < t surviving neighbours (its secret cannot be rebuilt)."""


def _log2_ratio(num: int, den: int) -> float:
    """log2(num / den) for exact (possibly huge) integers; −inf when num is 0."""
    return math.log2(num) - math.log2(den) if num > 0 else -math.inf


def _hypergeometric_tail(
    population: int, marked: int, draws: int, at_least: int
) -> tuple[int, int]:
    """P[≥ at_least marked among ``draws`` taken without replacement], as an exact ratio."""
    hits = sum(
        math.comb(marked, i) * math.comb(population - marked, draws - i)
        for i in range(max(at_least, 0), min(marked, draws) + 1)
    )
    return hits, math.comb(population, draws)


def parameter_risks(
    n: int, k: int, threshold: int, *, corrupt_fraction: float, dropout_fraction: float
) -> ParameterRisks:
    """Bounds the failure probabilities of H(k, n) with threshold t on a random permutation.

    Assumes ⌊γn⌋ corrupt and ⌊δn⌋ dropped participants chosen before the seed is known. A node's
    k neighbours are then a uniform k-subset of the n − 1 others (hypergeometric counts). The
    honest survivors can only be split if the removed set covers two disjoint runs of k/2
    consecutive ring positions: at most n·(n − k − 1)/2 pairs of runs, each needing k given
    nodes removed. Semi-honest model: corrupt participants follow the protocol, so only
    dropouts withhold shares.
    """
    corrupt = math.floor(corrupt_fraction * n + 1e-9)
    lost = math.floor(dropout_fraction * n + 1e-9)
    removed = corrupt + lost
    if k >= n - 1 or removed < k:
        disconnect = -math.inf
    else:  # pairs of runs × P[k given nodes all removed]
        disconnect = _log2_ratio(
            n * (n - k - 1) * math.comb(n - k, removed - k), 2 * math.comb(n, removed)
        )
    hits, total = _hypergeometric_tail(n - 1, corrupt, k, threshold)
    privacy = _log2_ratio(n * hits, total)
    hits, total = _hypergeometric_tail(n - 1, lost, k, k - threshold + 1)
    abort = _log2_ratio(n * hits, total)
    return ParameterRisks(disconnect=disconnect, privacy=privacy, abort=abort)

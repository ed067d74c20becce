"""t-of-n Shamir secret sharing of 32-byte secrets over the prime field p = 2**521 − 1.

Why this field: p is a Mersenne prime larger than every 32-byte secret (self-mask seeds and
X25519 private keys), so a secret is one field element and a share is one 66-byte number.
Any ``threshold`` shares determine the secret (Lagrange interpolation at 0); fewer reveal
nothing about it.

A wrong share (a lying or buggy neighbour) makes interpolation return a random-looking field
element. :func:`combine` refuses results that do not fit 32 bytes, and :func:`combine_verified`
tries further subsets of the shares until a caller-supplied ``check`` (a commitment, a public
key) accepts the result, so one bad share cannot stop a round while enough good ones remain.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import combinations
from typing import Protocol

from fedchain.secagg.errors import SecAggError

__all__ = [
    "PRIME",
    "SECRET_BYTES",
    "SHARE_BYTES",
    "RandRange",
    "combine",
    "combine_verified",
    "split",
]

PRIME = 2**521 - 1
"""The field modulus: a Mersenne prime, larger than any 32-byte secret."""

SECRET_BYTES = 32
"""Every shared secret is exactly this long (seeds, X25519 private keys)."""

SHARE_BYTES = (PRIME.bit_length() + 7) // 8
"""Bytes needed for one share value ``y < PRIME`` (66)."""


class RandRange(Protocol):
    """Anything with ``randrange(stop)``: ``secrets.SystemRandom()`` or, in tests, ``random.Random``."""

    def randrange(self, stop: int, /) -> int: ...


def _check_x(x: int) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or not 0 < x < PRIME:
        raise SecAggError(f"share x-coordinate must be an int in [1, p), got {x!r}")
    return x


def _check_threshold(threshold: int) -> int:
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
        raise SecAggError(f"threshold must be a positive int, got {threshold!r}")
    return threshold


def split(
    secret: bytes, *, threshold: int, xs: Sequence[int], rng: RandRange | None = None
) -> dict[int, int]:
    """Shares ``{x: f(x)}`` of ``secret`` for each ``x`` in ``xs``; any ``threshold`` recover it.

    ``f`` is a random polynomial of degree ``threshold − 1`` with ``f(0) = secret``. Its
    coefficients come from the OS's CSPRNG unless ``rng`` is given (tests only).
    """
    if len(secret) != SECRET_BYTES:
        raise SecAggError(f"secret must be {SECRET_BYTES} bytes, got {len(secret)}")
    t = _check_threshold(threshold)
    points = [_check_x(x) for x in xs]
    if len(set(points)) != len(points):
        raise SecAggError(f"share x-coordinates must be distinct, got {sorted(points)}")
    if t > len(points):
        raise SecAggError(f"threshold {t} exceeds the number of shares {len(points)}")
    source: RandRange = rng if rng is not None else secrets.SystemRandom()
    coeffs = [int.from_bytes(secret, "big")] + [source.randrange(PRIME) for _ in range(t - 1)]
    shares: dict[int, int] = {}
    for x in points:
        y = 0
        for c in reversed(coeffs):  # Horner
            y = (y * x + c) % PRIME
        shares[x] = y
    return shares


def _interpolate_at_zero(points: Sequence[tuple[int, int]]) -> int:
    total = 0
    for i, (xi, yi) in enumerate(points):
        num, den = 1, 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                num = num * xj % PRIME
                den = den * (xj - xi) % PRIME
        total = (total + yi * num * pow(den, -1, PRIME)) % PRIME
    return total


def _checked_points(shares: Mapping[int, int]) -> list[tuple[int, int]]:
    points = []
    for x, y in sorted(shares.items()):
        _check_x(x)
        if isinstance(y, bool) or not isinstance(y, int) or not 0 <= y < PRIME:
            raise SecAggError(f"share value at x={x} must be an int in [0, p)")
        points.append((x, y))
    return points


def _to_secret(value: int) -> bytes:
    if value.bit_length() > 8 * SECRET_BYTES:
        raise SecAggError(
            f"reconstructed value does not fit {SECRET_BYTES} bytes: a share is wrong"
        )
    return value.to_bytes(SECRET_BYTES, "big")


def combine(shares: Mapping[int, int], *, threshold: int) -> bytes:
    """The 32-byte secret from the ``threshold`` shares with the smallest x.

    Raises :class:`SecAggError` with fewer than ``threshold`` shares, or when the result cannot
    be a secret (a wrong share, or a threshold lower than the one used to split).
    """
    t = _check_threshold(threshold)
    points = _checked_points(shares)
    if len(points) < t:
        raise SecAggError(f"{len(points)} shares available, {t} needed")
    return _to_secret(_interpolate_at_zero(points[:t]))


def _subsets(n: int, t: int) -> Iterator[tuple[int, ...]]:
    """t-subsets of range(n), ordered so that a few wrong shares are skipped early.

    Level e yields the subsets of the first t + e shares that contain share t + e − 1 (those
    not seen at a lower level). If at most e of the first t + e shares are wrong, a clean
    subset appears by level e, after at most C(t + e, e) tries.
    """
    for e in range(n - t + 1):
        last = t + e - 1
        for rest in combinations(range(last), t - 1):
            yield (*rest, last)


def combine_verified(
    shares: Mapping[int, int],
    *,
    threshold: int,
    check: Callable[[bytes], bool],
    max_subsets: int = 2000,
    label: str = "secret",
) -> bytes:
    """The secret from the first ``threshold``-subset of ``shares`` whose result ``check`` accepts.

    Defends against wrong shares: with ``m`` shares of which a few are wrong, some subset of
    ``threshold`` good ones exists as long as ``m − wrong ≥ threshold``; subsets are tried in a
    deterministic order (see ``_subsets``), at most ``max_subsets`` of them. ``label`` names the
    secret in the error (e.g. whose self-mask seed it is).
    """
    t = _check_threshold(threshold)
    points = _checked_points(shares)
    if len(points) < t:
        raise SecAggError(f"cannot reconstruct {label}: {len(points)} shares available, {t} needed")
    tried = 0
    for subset in _subsets(len(points), t):
        if tried >= max_subsets:
            break
        tried += 1
        value = _interpolate_at_zero([points[i] for i in subset])
        if value.bit_length() > 8 * SECRET_BYTES:
            continue
        candidate = value.to_bytes(SECRET_BYTES, "big")
        if check(candidate):
            return candidate
    raise SecAggError(
        f"cannot reconstruct {label}: no {t} of the {len(points)} available shares passed the "
        f"check ({tried} subsets tried; too many wrong shares)"
    )

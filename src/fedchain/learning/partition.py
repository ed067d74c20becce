"""Split a training set among simulated data owners.

A partition is a list of index arrays into the training labels, one per client. Every index is
used exactly once, each client's indices are sorted (a canonical order, so equal partitions
compare equal), and the result is a pure function of the arguments and ``seed``.
"""

from __future__ import annotations

import numbers

import numpy as np

from fedchain.errors import FedchainError

__all__ = [
    "MAX_DIRICHLET_ATTEMPTS",
    "PartitionError",
    "dirichlet_partition",
    "iid_partition",
    "partition",
]

MAX_DIRICHLET_ATTEMPTS = 1000
"""How many Dirichlet draws :func:`dirichlet_partition` tries before giving up."""


class PartitionError(FedchainError):
    """The requested partition is impossible or was not found."""


def _check(labels: np.ndarray, num_clients: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise PartitionError(f"labels must be a 1-D array, got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise PartitionError(f"labels must be integers, got dtype {labels.dtype}")
    if isinstance(num_clients, bool) or not isinstance(num_clients, int | np.integer):
        raise PartitionError(f"num_clients must be an int, got {num_clients!r}")
    if num_clients < 1:
        raise PartitionError(f"num_clients must be >= 1, got {num_clients}")
    if num_clients > labels.size:
        raise PartitionError(
            f"cannot give {num_clients} clients at least one of {labels.size} samples"
        )
    return labels


def iid_partition(labels: np.ndarray, num_clients: int, *, seed: int) -> list[np.ndarray]:
    """Shuffle the indices and deal them out in near-equal shares (sizes differ by at most 1).

    This is the idealised baseline: every client sees the global label distribution.
    """
    labels = _check(labels, num_clients)
    perm = np.random.default_rng(seed).permutation(labels.size)
    return [np.sort(part).astype(np.int64) for part in np.array_split(perm, num_clients)]


def dirichlet_partition(
    labels: np.ndarray,
    num_clients: int,
    *,
    alpha: float,
    seed: int,
    min_samples: int = 5,
) -> list[np.ndarray]:
    """Label-skewed (non-IID) split: per class, Dirichlet(α) shares over the clients.

    For each class we draw proportions ``p ~ Dir(α·1)`` over the clients and cut that class's
    (shuffled) indices at the cumulative proportions; this is the usual way of simulating the
    label skew studied by Hsu et al. (2019), "Measuring the Effects of Non-Identical Data
    Distribution for Federated Visual Classification". Small α (0.1) gives each client a few
    dominant classes, large α (100) approaches IID.

    A client with almost no data is useless (and divides by small numbers), so the whole draw is
    repeated until every client has at least ``min_samples`` samples, at most
    :data:`MAX_DIRICHLET_ATTEMPTS` times; then :class:`PartitionError` says to raise ``alpha``
    or lower ``min_samples`` / ``num_clients``.
    """
    labels = _check(labels, num_clients)
    is_real = isinstance(alpha, numbers.Real) and not isinstance(alpha, bool)
    alpha_f = float(alpha) if is_real else float("nan")
    if not (np.isfinite(alpha_f) and alpha_f > 0):
        raise PartitionError(f"alpha must be a finite number > 0, got {alpha!r}")
    if min_samples < 0:
        raise PartitionError(f"min_samples must be >= 0, got {min_samples}")
    if num_clients * min_samples > labels.size:
        raise PartitionError(
            f"{num_clients} clients x {min_samples} samples each exceeds the "
            f"{labels.size} samples available"
        )
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    by_class = [np.flatnonzero(labels == c) for c in classes]
    for _ in range(MAX_DIRICHLET_ATTEMPTS):
        shares: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for idx in by_class:
            idx = rng.permutation(idx)
            props = rng.dirichlet(np.full(num_clients, alpha_f))
            cuts = (np.cumsum(props)[:-1] * idx.size).astype(np.int64)
            for client, chunk in enumerate(np.split(idx, cuts)):
                shares[client].append(chunk)
        parts = [np.sort(np.concatenate(s)).astype(np.int64) for s in shares]
        if min(p.size for p in parts) >= min_samples:
            return parts
    raise PartitionError(
        f"no Dirichlet(alpha={alpha}) split of {labels.size} samples gave all {num_clients} "
        f"clients >= {min_samples} samples in {MAX_DIRICHLET_ATTEMPTS} attempts; "
        "raise alpha or lower min_samples / num_clients"
    )


def partition(
    labels: np.ndarray, num_clients: int, *, alpha: float | None, seed: int
) -> list[np.ndarray]:
    """One entry point for configs: ``alpha=None`` means IID, a number means Dirichlet(α)."""
    if alpha is None:
        return iid_partition(labels, num_clients, seed=seed)
    return dirichlet_partition(labels, num_clients, alpha=alpha, seed=seed)

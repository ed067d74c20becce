from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedchain.learning import (
    PartitionError,
    dirichlet_partition,
    iid_partition,
    load_dataset,
    partition,
)


def _assert_exact_cover(parts: list[np.ndarray], n: int) -> None:
    for p in parts:
        assert p.dtype == np.int64 and p.ndim == 1
        assert np.all(np.diff(p) > 0), "each client's indices are sorted and distinct"
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(n))


def _label_skew(labels: np.ndarray, parts: list[np.ndarray]) -> float:
    """Mean total-variation distance between each client's label mix and the global one."""
    k = int(labels.max()) + 1
    overall = np.bincount(labels, minlength=k) / labels.size
    return float(
        np.mean(
            [
                0.5 * np.abs(np.bincount(labels[p], minlength=k) / p.size - overall).sum()
                for p in parts
            ]
        )
    )


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(20, 400),
    classes=st.integers(1, 6),
    clients=st.integers(1, 8),
    alpha=st.sampled_from([0.1, 0.5, 1.0, 10.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_dirichlet_uses_every_index_exactly_once(
    n: int, classes: int, clients: int, alpha: float, seed: int
) -> None:
    labels = np.random.default_rng(seed).integers(0, classes, size=n)
    # min_samples=0 accepts the first draw, so every example checks the cover.
    parts = dirichlet_partition(labels, clients, alpha=alpha, seed=seed, min_samples=0)
    assert len(parts) == clients
    _assert_exact_cover(parts, n)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 300), clients=st.integers(1, 20), seed=st.integers(0, 2**32 - 1))
def test_iid_exact_cover_and_balanced(n: int, clients: int, seed: int) -> None:
    labels = np.zeros(n, dtype=np.int64)
    if clients > n:
        with pytest.raises(PartitionError, match="clients"):
            iid_partition(labels, clients, seed=seed)
        return
    parts = iid_partition(labels, clients, seed=seed)
    _assert_exact_cover(parts, n)
    sizes = [p.size for p in parts]
    assert max(sizes) - min(sizes) <= 1


def test_deterministic_under_seed() -> None:
    labels = load_dataset("digits").y_train
    a = dirichlet_partition(labels, 10, alpha=0.5, seed=4)
    b = dirichlet_partition(labels, 10, alpha=0.5, seed=4)
    c = dirichlet_partition(labels, 10, alpha=0.5, seed=5)
    assert min(p.size for p in a + c) >= 5  # the default min_samples
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert all(
        np.array_equal(x, y)
        for x, y in zip(
            iid_partition(labels, 7, seed=1), iid_partition(labels, 7, seed=1), strict=True
        )
    )


@pytest.mark.parametrize("name", ["breast_cancer", "digits"])
def test_small_alpha_is_non_iid(name: str) -> None:
    labels = load_dataset(name).y_train
    iid = _label_skew(labels, iid_partition(labels, 10, seed=0))
    skewed = _label_skew(labels, dirichlet_partition(labels, 10, alpha=0.5, seed=0))
    near_iid = _label_skew(labels, dirichlet_partition(labels, 10, alpha=100.0, seed=0))
    assert iid < 0.15 and near_iid < 0.1
    assert skewed > 0.2 and skewed > 2.5 * iid
    if name == "digits":
        very = _label_skew(labels, dirichlet_partition(labels, 10, alpha=0.1, seed=0))
        assert very > skewed


def test_partition_dispatches_on_alpha() -> None:
    labels = load_dataset("breast_cancer").y_train
    for a, b in zip(
        partition(labels, 5, alpha=None, seed=3), iid_partition(labels, 5, seed=3), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        partition(labels, 5, alpha=0.5, seed=3),
        dirichlet_partition(labels, 5, alpha=0.5, seed=3),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_min_samples_impossible_is_refused_upfront() -> None:
    with pytest.raises(PartitionError, match="exceeds"):
        dirichlet_partition(np.zeros(40, dtype=np.int64), 10, alpha=1.0, seed=0, min_samples=5)


def test_resampling_is_bounded_with_clear_error() -> None:
    labels = np.repeat([0, 1], 50)
    with pytest.raises(PartitionError, match="attempts; raise alpha"):
        dirichlet_partition(labels, 10, alpha=0.01, seed=0, min_samples=9)


@pytest.mark.parametrize("alpha", [0, -1.0, float("nan"), float("inf"), True, "0.5"])
def test_bad_alpha_refused(alpha: object) -> None:
    with pytest.raises(PartitionError, match="alpha"):
        dirichlet_partition(np.arange(50) % 2, 2, alpha=alpha, seed=0)  # type: ignore[arg-type]


def test_bad_labels_and_clients_refused() -> None:
    with pytest.raises(PartitionError, match="integers"):
        iid_partition(np.zeros(10, dtype=np.float32), 2, seed=0)
    with pytest.raises(PartitionError, match="1-D"):
        iid_partition(np.zeros((5, 2), dtype=np.int64), 2, seed=0)
    with pytest.raises(PartitionError, match="num_clients"):
        iid_partition(np.zeros(10, dtype=np.int64), 0, seed=0)

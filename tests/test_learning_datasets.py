from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from fedchain.errors import FedchainError
from fedchain.learning import DATASETS, UnknownDataset, load_dataset

EXPECTED = {"breast_cancer": (569, 30, 2), "digits": (1797, 64, 10)}


@pytest.mark.parametrize("name", DATASETS)
def test_shapes_dtypes_and_labels(name: str) -> None:
    total, features, classes = EXPECTED[name]
    ds = load_dataset(name)
    assert ds.name == name
    assert (ds.num_features, ds.num_classes) == (features, classes)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.x_train.shape == (ds.y_train.size, features)
    assert ds.x_test.shape == (ds.y_test.size, features)
    assert ds.y_train.size + ds.y_test.size == total
    assert ds.y_test.size == pytest.approx(0.2 * total, abs=1)
    assert set(np.unique(ds.y_train)) == set(range(classes))
    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.x_test).all()


@pytest.mark.parametrize("name", DATASETS)
def test_split_is_stratified(name: str) -> None:
    ds = load_dataset(name, seed=3)
    train = np.bincount(ds.y_train) / ds.y_train.size
    test = np.bincount(ds.y_test) / ds.y_test.size
    assert np.abs(train - test).max() < 0.02


@pytest.mark.parametrize(
    ("name", "loader"), [("breast_cancer", load_breast_cancer), ("digits", load_digits)]
)
def test_standardized_with_train_statistics_only(name: str, loader) -> None:
    ds = load_dataset(name, test_fraction=0.25, seed=7)
    x, y = loader(return_X_y=True)
    x_tr, x_te, _, _ = train_test_split(x, y, test_size=0.25, random_state=7, stratify=y)
    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std[std == 0] = 1.0
    np.testing.assert_allclose(ds.x_train, (x_tr - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds.x_test, (x_te - mean) / std, rtol=1e-5, atol=1e-5)
    varying = x_tr.std(axis=0) > 0
    np.testing.assert_allclose(ds.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(ds.x_train.std(axis=0)[varying], 1.0, atol=1e-4)
    # The test split was not standardized with its own statistics.
    assert np.abs(ds.x_test.mean(axis=0)).max() > 1e-3


def test_deterministic_per_seed() -> None:
    a, b = load_dataset("digits", seed=1), load_dataset("digits", seed=1)
    c = load_dataset("digits", seed=2)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)


def test_unknown_dataset_is_a_fedchain_error() -> None:
    with pytest.raises(UnknownDataset, match="breast_cancer") as info:
        load_dataset("mnist")
    assert isinstance(info.value, FedchainError)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_bad_test_fraction_refused(fraction: float) -> None:
    with pytest.raises(FedchainError, match="test_fraction"):
        load_dataset("breast_cancer", test_fraction=fraction)

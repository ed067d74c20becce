"""Small tabular classification data sets that ship with scikit-learn.

The demo and the benchmarks must run offline and quickly, so the learning layer only uses the
data sets bundled inside scikit-learn (no download at run time). Loading is deterministic: the
same ``(name, test_fraction, seed)`` always gives bit-identical arrays on every machine, which
the audit and the federated-vs-centralized comparison rely on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from fedchain.errors import FedchainError

__all__ = ["DATASETS", "Dataset", "UnknownDataset", "load_dataset"]

DATASETS: tuple[str, ...] = ("breast_cancer", "digits")

_LOADERS: dict[str, Callable[..., tuple[np.ndarray, np.ndarray]]] = {
    "breast_cancer": load_breast_cancer,
    "digits": load_digits,
}


class UnknownDataset(FedchainError):
    """A data set name that this layer cannot load."""


@dataclass(frozen=True)
class Dataset:
    """A train/test split ready for torch: float32 features, int64 labels ``0..num_classes-1``."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_features: int
    num_classes: int


def load_dataset(name: str, *, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """Load a bundled scikit-learn data set, split it and standardize it.

    The split is stratified by label (small test sets would otherwise swing the accuracy by
    whole classes) and reproducible from ``seed``. Features are standardized with the mean and
    standard deviation of the *train* split only, so nothing about the test set leaks into
    training; constant features (e.g. blank border pixels in ``digits``) keep a scale of 1.

    Simplification, documented on purpose: a real federation has no pooled train split, each
    data owner would only know its own data, so these global statistics are something no
    single participant could compute. We accept it because the statistics are fixed
    preprocessing shared by the federated run and the centralized baseline alike, and it keeps
    the comparison about the training algorithm rather than about preprocessing.
    """
    if name not in _LOADERS:
        raise UnknownDataset(f"unknown data set {name!r}; available: {', '.join(DATASETS)}")
    if not 0.0 < test_fraction < 1.0:
        raise FedchainError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    x, y = _LOADERS[name](return_X_y=True)
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y
    )
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0.0] = 1.0
    return Dataset(
        name=name,
        x_train=((x_train - mean) / std).astype(np.float32),
        y_train=np.ascontiguousarray(y_train, dtype=np.int64),
        x_test=((x_test - mean) / std).astype(np.float32),
        y_test=np.ascontiguousarray(y_test, dtype=np.int64),
        num_features=int(x.shape[1]),
        num_classes=int(np.unique(y).size),
    )

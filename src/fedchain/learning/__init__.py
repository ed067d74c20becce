"""The learning layer: data sets, partitions, models, local training, FedAvg reference.

Pure logic on numpy arrays and torch modules: no chain, no disk, no network, no global torch
settings. Higher layers move models around as a :class:`ModelSpec` plus a flat float32 vector.
"""

from __future__ import annotations

from fedchain.learning.centralized import train_centralized
from fedchain.learning.datasets import DATASETS, Dataset, UnknownDataset, load_dataset
from fedchain.learning.fedavg_plain import run_plain_fedavg
from fedchain.learning.models import (
    ModelSpec,
    ModelSpecError,
    ParameterLengthError,
    build_model,
    flatten_params,
    load_flat_params,
    num_parameters,
    spec_for_parameter_count,
)
from fedchain.learning.partition import (
    PartitionError,
    dirichlet_partition,
    iid_partition,
    partition,
)
from fedchain.learning.train import (
    TrainConfig,
    TrainConfigError,
    TrainDataError,
    TrainResult,
    evaluate,
    train_local,
)

__all__ = [
    "DATASETS",
    "Dataset",
    "ModelSpec",
    "ModelSpecError",
    "ParameterLengthError",
    "PartitionError",
    "TrainConfig",
    "TrainConfigError",
    "TrainDataError",
    "TrainResult",
    "UnknownDataset",
    "build_model",
    "dirichlet_partition",
    "evaluate",
    "flatten_params",
    "iid_partition",
    "load_dataset",
    "load_flat_params",
    "num_parameters",
    "partition",
    "run_plain_fedavg",
    "spec_for_parameter_count",
    "train_centralized",
    "train_local",
]

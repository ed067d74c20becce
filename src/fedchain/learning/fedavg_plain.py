"""Plain FedAvg in memory: the no-chain, no-encoding reference for benchmarks.

Every round all clients start from the global weights, train locally (``train_local``), and the
new global weights are the sample-weighted mean ``Σ nᵢ·wᵢ / Σ nᵢ`` of their models, in float64
then cast to float32. The on-chain pipeline does the same with fixed-point integers; comparing
the two isolates what the chain, the encoding and secure aggregation cost in accuracy.
"""

from __future__ import annotations

import numpy as np

from fedchain.errors import FedchainError
from fedchain.learning.datasets import Dataset
from fedchain.learning.models import ModelSpec, build_model, flatten_params, load_flat_params
from fedchain.learning.train import TrainConfig, evaluate, train_local

__all__ = ["run_plain_fedavg"]


def _client_seed(seed: int, round_index: int, client: int) -> int:
    """Independent, reproducible shuffling seed for one client in one round."""
    return int(np.random.SeedSequence([seed, round_index, client]).generate_state(1)[0])


def run_plain_fedavg(
    spec: ModelSpec,
    dataset: Dataset,
    parts: list[np.ndarray],
    cfg: TrainConfig,
    *,
    rounds: int,
    seed: int,
) -> list[float]:
    """Run ``rounds`` of full-participation FedAvg; return test accuracy after each round.

    ``parts`` are index arrays into the train split (see :mod:`fedchain.learning.partition`).
    ``seed`` fixes the initial global model (same as the centralized baseline's) and every
    client's shuffling.
    """
    if rounds < 1:
        raise FedchainError(f"rounds must be >= 1, got {rounds}")
    if not parts:
        raise FedchainError("FedAvg needs at least one client partition")
    n_train = dataset.y_train.shape[0]
    for i, p in enumerate(parts):
        p = np.asarray(p)
        if p.ndim != 1 or p.size == 0:
            raise FedchainError(f"client {i} has no samples (or a non 1-D index array)")
        if p.min() < 0 or p.max() >= n_train:
            raise FedchainError(f"client {i} has indices outside the {n_train} train samples")

    global_model = build_model(spec, seed=seed)
    global_flat = flatten_params(global_model)
    worker = build_model(spec, seed=seed)
    accuracies: list[float] = []
    for r in range(rounds):
        acc_sum = np.zeros(global_flat.size, dtype=np.float64)
        total = 0
        for i, idx in enumerate(parts):
            load_flat_params(worker, global_flat)
            result = train_local(
                worker,
                dataset.x_train[idx],
                dataset.y_train[idx],
                cfg,
                seed=_client_seed(seed, r, i),
            )
            acc_sum += result.num_samples * flatten_params(worker).astype(np.float64)
            total += result.num_samples
        global_flat = (acc_sum / total).astype(np.float32)
        load_flat_params(global_model, global_flat)
        accuracies.append(evaluate(global_model, dataset.x_test, dataset.y_test)[0])
    return accuracies

"""The centralized baseline: what the same model would reach if all data were pooled.

Federated accuracy only means something next to this number, so it uses the same model spec,
the same initial weights (same seed), the same optimizer settings and the same number of passes
over the data: ``epochs = rounds × local epochs``.
"""

from __future__ import annotations

from dataclasses import replace

from fedchain.learning.datasets import Dataset
from fedchain.learning.models import ModelSpec, build_model
from fedchain.learning.train import TrainConfig, evaluate, train_local

__all__ = ["train_centralized"]


def train_centralized(
    spec: ModelSpec, dataset: Dataset, cfg: TrainConfig, *, epochs: int, seed: int
) -> tuple[float, float]:
    """Train on the whole train split and return (accuracy, mean loss) on the test split.

    ``epochs`` overrides ``cfg.epochs`` (the budget), the rest of ``cfg`` is used as is. One
    optimizer runs the whole budget, as a centralized trainer would. ``seed`` drives both the
    initial weights and the shuffling.
    """
    model = build_model(spec, seed=seed)
    train_local(model, dataset.x_train, dataset.y_train, replace(cfg, epochs=epochs), seed=seed)
    return evaluate(model, dataset.x_test, dataset.y_test)

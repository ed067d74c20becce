"""Local training and evaluation: the only place where gradients are computed.

``train_local`` is one FedAvg client step: a fresh SGD optimizer every call (no optimizer state
crosses rounds, as in McMahan et al. 2017), mini-batches shuffled by a private generator, so the
same model, data, config and seed give the same weights. Nothing here sets torch's thread count;
callers (CLI, sim, benchmarks) own that policy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from fedchain.errors import FedchainError

__all__ = [
    "TrainConfig",
    "TrainConfigError",
    "TrainDataError",
    "TrainResult",
    "evaluate",
    "train_local",
]

_EVAL_BATCH = 4096


class TrainConfigError(FedchainError):
    """A training configuration with a value that cannot work."""


class TrainDataError(FedchainError):
    """Training or evaluation data that is empty or malformed."""


def _number(v: object) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


@dataclass(frozen=True)
class TrainConfig:
    """Client-side hyper-parameters; part of a task's published (content-addressed) config.

    Defaults are what measured best for FedAvg on the bundled data sets: plain SGD with
    momentum 0.9 and lr 0.05 (Adam with a fresh state every round under-trains).
    """

    epochs: int = 1
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
                raise TrainConfigError(f"{name} must be an int >= 1, got {v!r}")
            object.__setattr__(self, name, int(v))
        for name in ("lr", "momentum", "weight_decay"):
            v = getattr(self, name)
            if not _number(v) or not math.isfinite(v):
                raise TrainConfigError(f"{name} must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if self.lr <= 0:
            raise TrainConfigError(f"lr must be > 0, got {self.lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise TrainConfigError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.weight_decay < 0:
            raise TrainConfigError(f"weight_decay must be >= 0, got {self.weight_decay}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; ``from_dict`` inverts it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Parse a dict made by :meth:`to_dict`; unknown keys are refused, missing take defaults."""
        if not isinstance(data, dict):
            raise TrainConfigError(f"train config must be a dict, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise TrainConfigError(f"unknown train config keys: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class TrainResult:
    """What a client reports: mean training loss, its sample count (the FedAvg weight), steps."""

    loss: float
    num_samples: int
    steps: int


def _tensors(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    x = np.asarray(x)
    y = np.asarray(y)
    if x.ndim != 2:
        raise TrainDataError(f"x must be 2-D (samples, features), got shape {x.shape}")
    if y.ndim != 1:
        raise TrainDataError(f"y must be 1-D, got shape {y.shape}")
    if x.shape[0] != y.shape[0]:
        raise TrainDataError(f"x has {x.shape[0]} samples but y has {y.shape[0]}")
    if x.shape[0] == 0:
        raise TrainDataError("no samples: cannot train or evaluate on empty data")
    if not np.issubdtype(y.dtype, np.integer):
        raise TrainDataError(f"labels must be integers, got dtype {y.dtype}")
    if y.min() < 0:
        raise TrainDataError(f"labels must be >= 0, got {int(y.min())}")
    return (
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)),
    )


def train_local(
    model: nn.Module, x: np.ndarray, y: np.ndarray, cfg: TrainConfig, *, seed: int
) -> TrainResult:
    """Train ``model`` in place for ``cfg.epochs`` epochs of mini-batch SGD with momentum.

    The reported loss is the sample-weighted mean of the mini-batch losses seen during the
    call (each measured just before its step), a cheap progress signal, not an evaluation.
    """
    xt, yt = _tensors(x, y)
    n = xt.shape[0]
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.SGD(
        model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
    )
    was_training = model.training
    model.train()
    total_loss = 0.0
    steps = 0
    try:
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, cfg.batch_size):
                idx = perm[start : start + cfg.batch_size]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(xt[idx]), yt[idx])
                loss.backward()
                opt.step()
                total_loss += float(loss.detach()) * idx.numel()
                steps += 1
    finally:
        model.train(was_training)
    return TrainResult(loss=total_loss / (n * cfg.epochs), num_samples=n, steps=steps)


def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy in [0, 1] and mean cross-entropy of ``model`` on ``(x, y)``, without gradients."""
    xt, yt = _tensors(x, y)
    was_training = model.training
    model.eval()
    correct = 0
    loss_sum = 0.0
    try:
        with torch.no_grad():
            for start in range(0, xt.shape[0], _EVAL_BATCH):
                logits = model(xt[start : start + _EVAL_BATCH])
                target = yt[start : start + _EVAL_BATCH]
                loss_sum += float(F.cross_entropy(logits, target, reduction="sum"))
                correct += int((logits.argmax(dim=1) == target).sum())
    finally:
        model.train(was_training)
    n = xt.shape[0]
    return correct / n, loss_sum / n

"""The training configuration a task commits to on-chain (by the digest of its canonical JSON).

Everything a participant needs to produce a valid update for the task lives here, so that an
auditor can re-derive every rule from the chain plus the store: the model architecture, the
local training recipe, and the fixed-point encoding parameters.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fedchain.errors import FedchainError
from fedchain.learning import ModelSpec, TrainConfig, num_parameters

__all__ = ["TaskConfig", "InvalidTaskConfig"]

FORMAT = "fedchain-task/1"


class InvalidTaskConfig(FedchainError):
    """A task's config blob is not a valid fedchain task config."""


class TaskConfig(BaseModel):
    """What every participant of a task agrees to (its digest is on-chain)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = FORMAT
    dataset: str = Field(description="name of the data set family the task is about")
    model: dict[str, Any] = Field(description="ModelSpec.to_dict()")
    train: dict[str, Any] = Field(description="TrainConfig.to_dict()")
    frac_bits: int = Field(ge=1, le=30, description="fixed-point fractional bits")
    clip_norm: float = Field(gt=0, description="L2 clip of an update before encoding")
    chunk_elems: int = Field(ge=1, description="elements per Merkle chunk")
    num_parameters: int = Field(ge=1)

    @classmethod
    def build(
        cls,
        *,
        dataset: str,
        model: ModelSpec,
        train: TrainConfig,
        frac_bits: int = 20,
        clip_norm: float = 10.0,
        chunk_elems: int = 256,
    ) -> TaskConfig:
        return cls(
            dataset=dataset,
            model=model.to_dict(),
            train=train.to_dict(),
            frac_bits=frac_bits,
            clip_norm=clip_norm,
            chunk_elems=chunk_elems,
            num_parameters=num_parameters(model),
        )

    @property
    def model_spec(self) -> ModelSpec:
        return ModelSpec.from_dict(self.model)

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.train)

    def to_bytes(self) -> bytes:
        """Canonical JSON: the same config always has the same digest."""
        return json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> TaskConfig:
        try:
            cfg = cls.model_validate_json(data)
        except ValidationError as exc:
            raise InvalidTaskConfig(f"task config blob is invalid: {exc}") from exc
        if cfg.format != FORMAT:
            raise InvalidTaskConfig(
                f"unsupported task config format {cfg.format!r}, want {FORMAT!r}"
            )
        try:
            spec = cfg.model_spec
            cfg.train_config  # noqa: B018 - validates
        except FedchainError as exc:
            raise InvalidTaskConfig(f"task config blob is invalid: {exc}") from exc
        if num_parameters(spec) != cfg.num_parameters:
            raise InvalidTaskConfig(
                f"task config says {cfg.num_parameters} parameters, its model has {num_parameters(spec)}"
            )
        return cfg

"""Typed views of on-chain state and events (what Python sees of the coordinator's ABI)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "Phase",
    "AbortReason",
    "TaskParams",
    "TaskInfo",
    "MemberInfo",
    "UpdateCommitment",
    "AggregateCommitment",
    "RoundOutcome",
]


class Phase(IntEnum):
    """Mirrors ``TaskCoordinator.Phase``."""

    NONE = 0
    REGISTRATION = 1
    COMMIT = 2
    AGGREGATE = 3
    CHALLENGE = 4
    COMPLETED = 5
    ADVERTISE = 6
    SHARE = 7
    UNMASK = 8


class AbortReason(IntEnum):
    TOO_FEW_UPDATES = 0
    NO_AGGREGATE = 1


@dataclass(frozen=True)
class TaskParams:
    """What a sponsor sets when creating a task (amounts in token base units, durations in s)."""

    initial_model_digest: bytes
    config_digest: bytes
    stake_amount: int
    aggregator_bond: int
    reward_per_round: int
    num_rounds: int
    min_participants: int
    commit_duration: int = 3600
    aggregate_duration: int = 3600
    challenge_duration: int = 600
    secure_aggregation: bool = False

    def as_tuple(self) -> tuple[object, ...]:
        return (
            self.initial_model_digest,
            self.config_digest,
            self.stake_amount,
            self.aggregator_bond,
            self.reward_per_round,
            self.num_rounds,
            self.min_participants,
            self.commit_duration,
            self.aggregate_duration,
            self.challenge_duration,
            self.secure_aggregation,
        )


@dataclass(frozen=True)
class TaskInfo:
    task_id: int
    sponsor: str
    num_rounds: int
    min_participants: int
    commit_duration: int
    aggregate_duration: int
    challenge_duration: int
    stake_amount: int
    aggregator_bond: int
    reward_per_round: int
    pool: int
    round: int
    phase: Phase
    deadline: int
    total_samples: int
    committed: int
    members: int
    aggregator: str
    bond_held: int
    config_digest: bytes
    global_model_digest: bytes
    pending_model_digest: bytes
    secure: bool = False
    advertised: int = 0
    shared: int = 0
    unmasked: int = 0


@dataclass(frozen=True)
class MemberInfo:
    stake: int
    claimable: int
    last_round: int
    samples: int
    active: bool
    pending: int
    commitment: bytes


@dataclass(frozen=True)
class UpdateCommitment:
    """One participant's commitment to its update for one round (from ``UpdateCommitted``)."""

    task_id: int
    round: int
    participant: str
    merkle_root: bytes
    blob_digest: bytes
    samples: int


@dataclass(frozen=True)
class AggregateCommitment:
    task_id: int
    round: int
    aggregator: str
    merkle_root: bytes
    blob_digest: bytes
    model_digest: bytes
    total_samples: int
    bond: int


@dataclass(frozen=True)
class RoundOutcome:
    """How a round ended: finalized with a model and a reward per sample, or aborted."""

    task_id: int
    round: int
    finalized: bool
    model_digest: bytes | None
    reward_per_sample: int
    rewards_credited: int
    abort_reason: AbortReason | None

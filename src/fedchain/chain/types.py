"""Typed views of on-chain state and events (what Python sees of the contracts' ABI)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "Phase",
    "AbortReason",
    "ExclusionReason",
    "Fault",
    "ChallengeOutcome",
    "GameKind",
    "GameState",
    "Target",
    "TaskParams",
    "TaskInfo",
    "MemberInfo",
    "UpdateCommitment",
    "AggregateCommitment",
    "RoundOutcome",
    "CommitOpening",
    "GameInfo",
]


class Phase(IntEnum):
    """Mirrors ``ITaskCoordinator.Phase``."""

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


class ExclusionReason(IntEnum):
    """Why an aggregator left an update out (``ITaskCoordinator.ExclusionReason``)."""

    UNAVAILABLE = 0
    MALFORMED = 1
    NORM_LIE = 2
    COPY = 3
    DUPLICATE = 4


class Fault(IntEnum):
    """Objective faults proven on-chain (``ITaskCoordinator.Fault``)."""

    WRONG_AGGREGATE = 0
    WRONG_MODEL = 1
    DUPLICATE_INCLUDED = 2
    INVALID_INCLUDED = 3
    UNANSWERED = 4
    NORM_LIE = 5
    COPY = 6
    UNREVEALED = 7
    SILENT = 8
    REVEALED_EXCLUDED = 9  # void, not slashed (see ``RoundDisputes.proveRevealedExclusion``)


class ChallengeOutcome(IntEnum):
    AGGREGATOR_FAULT = 0
    CHALLENGER_FAULT = 1
    ANSWERED = 2
    STALE = 3


class GameKind(IntEnum):
    NONE = 0
    SUM = 1
    AVAILABILITY = 2
    SECURE_SUM = 3  # the sum game over a secure round's terms (``fedchain.node.secure_terms``)


class GameState(IntEnum):
    """Whose move it is in a bonded challenge (``IRoundDisputes.GameState``)."""

    NONE = 0
    AWAIT_AGGREGATE = 1
    AWAIT_DEFENDER = 2
    AWAIT_CHALLENGER = 3
    AWAIT_PROOF = 4
    AWAIT_ANSWER = 5
    RESOLVED = 6


class Target(IntEnum):
    AGGREGATE = 0
    MODEL = 1
    UPDATE = 2


@dataclass(frozen=True)
class TaskParams:
    """What a sponsor sets when creating a task (amounts in token base units, durations in s).

    ``norm_bound`` is the largest squared L2 norm (fixed-point units²) an update may commit to
    (stored on-chain rounded down to a 24-bit mantissa); ``weight_cap_pct`` caps every member's
    weight at that percentage of the median declared sample count (0: uniform weights).
    """

    initial_model_root: bytes
    config_digest: bytes
    stake_amount: int
    aggregator_bond: int
    reward_per_round: int
    num_rounds: int
    min_participants: int
    num_parameters: int
    chunk_elems: int
    norm_bound: int
    stake_per_sample: int = 0
    challenge_bond: int = 1
    commit_duration: int = 3600
    aggregate_duration: int = 3600
    challenge_duration: int = 600
    response_duration: int = 600
    weight_cap_pct: int = 200
    secure_aggregation: bool = False

    def as_tuple(self) -> tuple[object, ...]:
        return (
            self.initial_model_root,
            self.config_digest,
            self.stake_amount,
            self.stake_per_sample,
            self.aggregator_bond,
            self.challenge_bond,
            self.reward_per_round,
            self.norm_bound,
            self.num_parameters,
            self.chunk_elems,
            self.num_rounds,
            self.min_participants,
            self.commit_duration,
            self.aggregate_duration,
            self.challenge_duration,
            self.response_duration,
            self.weight_cap_pct,
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
    response_duration: int
    stake_amount: int
    stake_per_sample: int
    aggregator_bond: int
    challenge_bond: int
    reward_per_round: int
    pool: int
    round: int
    phase: Phase
    deadline: int
    total_weight: int
    committed: int
    members: int
    aggregator: str
    bond_held: int
    config_digest: bytes
    global_model_root: bytes
    pending_model_root: bytes
    secure: bool
    advertised: int
    shared: int
    unmasked: int
    weight_cap: int
    norm_bound: int
    num_parameters: int
    chunk_elems: int
    open_challenges: int
    epoch: int
    challenge_bonds_held: int


@dataclass(frozen=True)
class MemberInfo:
    stake: int
    claimable: int
    last_round: int
    weight: int
    flags: int
    pending: int
    commitment: bytes

    @property
    def active(self) -> bool:
        return bool(self.flags & 1)


@dataclass(frozen=True)
class SecureRoundInfo:
    """The open secure round as a dispute sees it (``secureRoundOf``)."""

    advertised: int
    shared: int
    unmasked: int
    shared_weight: int
    ring_bits: int
    seed: bytes


@dataclass(frozen=True)
class SecureMemberInfo:
    """A member's on-chain secure-round record (``secureMemberOf``)."""

    advert_round: int
    share_round: int
    unmask_round: int
    advert_index: int
    mask_pk: bytes
    self_mask_commitment: bytes
    revealed_self_shares: bytes


@dataclass(frozen=True)
class UpdateCommitment:
    """One participant's commitment to its update for one round (from ``UpdateCommitted``)."""

    task_id: int
    round: int
    participant: str
    merkle_root: bytes
    sum_sq: int
    commit_index: int

    def opening(self) -> CommitOpening:
        return CommitOpening(self.participant, self.merkle_root, self.sum_sq, self.commit_index)


@dataclass(frozen=True)
class CommitOpening:
    """A commitment's preimage, as the dispute game checks it (``IRoundDisputes.CommitOpening``)."""

    member: str
    root: bytes
    sum_sq: int
    index: int

    def as_tuple(self) -> tuple[object, ...]:
        return (self.member, self.root, self.sum_sq, self.index)


@dataclass(frozen=True)
class AggregateCommitment:
    task_id: int
    round: int
    aggregator: str
    merkle_root: bytes
    model_root: bytes
    included_weight: int
    epoch: int
    bond: int


@dataclass(frozen=True)
class RoundOutcome:
    """How a round ended: finalized with a model and a reward per weight, or aborted."""

    task_id: int
    round: int
    finalized: bool
    model_root: bytes | None
    reward_per_weight: int
    rewards_credited: int
    abort_reason: AbortReason | None


@dataclass(frozen=True)
class GameInfo:
    """A bonded challenge in ``RoundDisputes`` (see ``IRoundDisputes``)."""

    id: int
    task_id: int
    round: int
    epoch: int
    chunk: int
    kind: GameKind
    state: GameState
    target: Target
    challenger: str
    lo: int
    hi: int
    query: int
    aggregator: str
    deadline: int
    member: str

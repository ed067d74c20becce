"""What a round's committed updates are worth, read the same way by every role that checks it.

The aggregator decides from it what to include, the watcher what to dispute, the auditor what
to verify: one read model below all three (as Flower's strategy_utils sits below its
strategies), so they can never disagree about whether an update is valid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fedchain.aggregation import weighted_sum
from fedchain.chain import CoordinatorClient, ExclusionReason, UpdateCommitment
from fedchain.codec.blob import BlobKind, MalformedBlob
from fedchain.errors import FedchainError
from fedchain.node.blobs import CommitmentMismatch, NormLie, OpenedVector, TaskBlobs
from fedchain.storage.errors import BlobNotFound

__all__ = ["CheckedUpdate", "RoundInputs", "collect_round_inputs", "running_sum"]


@dataclass
class CheckedUpdate:
    """One commitment of the round, its weight, and what opening it from the store showed."""

    commitment: UpdateCommitment
    weight: int
    opened: OpenedVector | None = None
    problem: ExclusionReason | None = None
    detail: str = ""
    norm_lie: NormLie | None = None
    copied_from: str | None = None
    proven_invalid: bool = False
    missing: bool = False  # nothing under its root (yet): its owner may still publish it

    @property
    def participant(self) -> str:
        return self.commitment.participant

    @property
    def valid(self) -> bool:
        return self.problem is None and not self.proven_invalid


@dataclass
class RoundInputs:
    """The round's updates in commit order, with the usable ones split out."""

    updates: list[CheckedUpdate] = field(default_factory=list)

    @property
    def included(self) -> list[str]:
        return [u.participant for u in self.updates if u.valid]

    @property
    def values(self) -> list[np.ndarray]:
        return [u.opened.values for u in self.updates if u.valid and u.opened is not None]

    @property
    def weights(self) -> list[int]:
        return [u.weight for u in self.updates if u.valid]

    @property
    def excluded(self) -> dict[str, str]:
        """participant -> why (the members to name when posting; proven-invalid ones are left
        out by the contract itself)."""
        return {
            u.participant: u.detail
            for u in self.updates
            if u.problem is not None and not u.proven_invalid
        }

    @property
    def reasons(self) -> dict[str, ExclusionReason]:
        return {
            u.participant: u.problem
            for u in self.updates
            if u.problem is not None and not u.proven_invalid
        }

    def aggregate(self) -> np.ndarray:
        return weighted_sum(self.values, self.weights)


def collect_round_inputs(
    coordinator: CoordinatorClient, blobs: TaskBlobs, task_id: int, round: int
) -> RoundInputs:
    """Open and check every committed update of a round, in commit order."""
    commits = coordinator.updates(task_id, round)
    invalid = coordinator.invalidated(task_id, round)
    weights = coordinator.member_weights(task_id)
    by_root: dict[bytes, list[str]] = {}
    for c in commits:
        by_root.setdefault(c.merkle_root, []).append(c.participant)
    out = RoundInputs()
    for c in commits:
        u = CheckedUpdate(c, weights.get(c.participant, 0))
        out.updates.append(u)
        u.proven_invalid = c.participant in invalid
        try:
            u.opened = blobs.open_vector(
                BlobKind.UPDATE, c.merkle_root, owner=c.participant, sum_sq=c.sum_sq
            )
        except BlobNotFound as exc:
            u.problem, u.detail = ExclusionReason.UNAVAILABLE, f"update not in the store ({exc})"
            u.missing = True
        except NormLie as exc:
            u.problem, u.detail, u.norm_lie = ExclusionReason.NORM_LIE, str(exc), exc
        except CommitmentMismatch as exc:
            others = [p for p in by_root[c.merkle_root] if p != c.participant]
            if others:
                u.problem, u.copied_from = ExclusionReason.COPY, others[0]
                u.detail = f"commits the same root as {others[0]}"
            else:
                u.problem, u.detail = ExclusionReason.UNAVAILABLE, str(exc)
        except MalformedBlob as exc:
            u.problem, u.detail = ExclusionReason.MALFORMED, str(exc)
        except FedchainError as exc:
            u.problem, u.detail = ExclusionReason.MALFORMED, str(exc)
    return out


def running_sum(
    inputs: RoundInputs, included: set[str], upto: int, start: int, stop: int
) -> np.ndarray:
    """P_upto restricted to elements [start, stop): Σ wⱼ·vⱼ over the first ``upto`` commits
    that the aggregate under dispute includes (the dispute game's running sums)."""
    acc = np.zeros(stop - start, dtype=np.int64)
    for u in inputs.updates[:upto]:
        if u.participant in included:
            if u.opened is None:
                raise FedchainError(f"the update of {u.participant} is included but cannot be read")
            acc += u.opened.values[start:stop].astype(np.int64) * np.int64(u.weight)
    return acc

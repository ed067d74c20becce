"""What the chain's clock allows next: the contract's deadline rules, mirrored for nodes.

Nodes never act on a guess: they read the task from the chain and these rules say which
transaction the contract would accept now, and when the next deadline falls.
"""

from __future__ import annotations

from fedchain.chain.types import Phase, TaskInfo

__all__ = ["commit_target", "advance_due", "aggregate_marks", "next_deadline", "SECURE_PHASES"]

#: Phases of a secure round that end at their deadline through `advance` (or early, when
#: everyone expected acted, inside the last participant's own transaction).
SECURE_PHASES = (Phase.ADVERTISE, Phase.SHARE, Phase.COMMIT, Phase.UNMASK, Phase.AGGREGATE)


def commit_target(info: TaskInfo, now: int) -> tuple[int, bytes] | None:
    """(round, base model digest) a trainer may commit to now, or None.

    While a round's challenge window is over but nobody finalized it yet, the next round is
    already committable: the contract finalizes the old round in the first commit of the new
    one, and the base model is the pending one.
    """
    if info.secure:
        return None  # secure rounds have their own phases (node.secure)
    if info.phase == Phase.COMMIT and now < info.deadline:
        return info.round, info.global_model_root
    if (
        info.phase == Phase.CHALLENGE
        and now >= info.deadline
        and info.open_challenges == 0
        and info.round < info.num_rounds
    ):
        return info.round + 1, info.pending_model_root
    return None


def advance_due(info: TaskInfo, now: int) -> bool:
    """True when `advance` would succeed (mirrors TaskCoordinator._advanceIfDue)."""
    if info.secure and info.phase in SECURE_PHASES:
        return now >= info.deadline
    if info.phase == Phase.CHALLENGE:
        return now >= info.deadline and info.open_challenges == 0
    if info.phase in (Phase.COMMIT, Phase.AGGREGATE):
        if now >= info.deadline + info.aggregate_duration:
            return True
        return now >= info.deadline and info.committed < info.min_participants
    return False


def aggregate_marks(info: TaskInfo) -> tuple[int, int, int]:
    """(publications due, the incumbent's grace ends, the window ends) of the open aggregate
    window. Trainers publish once the commit window closed; an incumbent that still cannot read
    enough updates a quarter into the window gives the round up (``yieldGrace``), and backups may
    post after the first half."""
    quarter, half = info.aggregate_duration // 4, info.aggregate_duration // 2
    opens = info.deadline - info.aggregate_duration if info.secure else info.deadline
    return opens + quarter, opens + half, opens + info.aggregate_duration


def next_deadline(info: TaskInfo, now: int) -> int | None:
    """The next timestamp at which something new becomes possible (None: nothing will)."""
    if info.secure and info.phase in SECURE_PHASES:
        if info.phase == Phase.AGGREGATE:
            later = [t for t in aggregate_marks(info) if t > now]
            return later[0] if later else info.deadline
        return info.deadline
    if info.phase in (Phase.COMMIT, Phase.AGGREGATE):
        if now < info.deadline:
            return info.deadline
        later = [t for t in aggregate_marks(info) if t > now]
        return later[0] if later else info.deadline + info.aggregate_duration
    if info.phase == Phase.CHALLENGE:
        if now >= info.deadline and info.open_challenges > 0:
            # Finalizing waits for the open challenges; each move or timeout is due within
            # one response window.
            return now + info.response_duration
        return info.deadline
    return None

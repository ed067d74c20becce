"""Complaints about bad share bundles, and the inputs they exclude: the set E.

Why this exists. A participant i that seals bad bundles (undecryptable, undecodable, wrong x)
for its neighbours and then sends a masked input leaves nobody holding a valid share of its
self-mask seed b_i; unmasking y_i is then impossible and, without this module, the whole round
would abort. Instead, each neighbour j that cannot open i's bundle posts a
:class:`~fedchain.secagg.messages.Complaint` before committing its own masked input, and i's
masked input is *excluded* from the sum (treated like a dropout) when the complaints show that
b_i can no longer be rebuilt:

    A_i = 1 (i's own share) + |{j ∈ N(i) ∩ U3 : j did not complain about i}|,  i ∈ E ⇔ A_i < t

A complaint only counts when the complainer is in U2 and every accused is one of its
neighbours in U2 (:func:`complaint_problems`); :func:`check_complaint` lets a node record the
ones that do not.

Why E may be larger than that (privacy). Excluding l reveals every pairwise seed s_jl between
l and an included neighbour j (the aggregator must take that mask off y_j), and a complaint
reveals the seed of its pair. An included participant i whose every pairwise mask is revealed
that way — all its included neighbours are excluded, complained about by i, or complained
about i — would have y_i fully unmasked once b_i is rebuilt: its input would be public. So i
also joins E unless it keeps a *hidden partner*: an included neighbour m with no complaint
between them either way, whose mask s_im is never revealed (m ∈ U3, so no one reveals m's
mask key; m ∉ E, so no one reveals s_im). Joining E can take another participant's last
hidden partner, so this is iterated to a fixed point. Without complaints this changes nothing
in a round that could be unmasked before (each i ∈ U3 then has ≥ t − 1 neighbours in U3).

Everything here is a function of public data (the context, U2, U3, the posted complaints), so
every participant, the aggregator and the auditor compute the same E; I = U3 \\ E.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from fedchain.secagg.addresses import order_key
from fedchain.secagg.context import RoundContext
from fedchain.secagg.errors import MalformedMessage
from fedchain.secagg.messages import Complaint

__all__ = [
    "check_complaint",
    "complaint_problems",
    "excluded_by_complaints",
    "included",
    "usable_complaints",
]


def complaint_problems(
    ctx: RoundContext, u2: Collection[str], complainer: str, msg: Complaint
) -> list[str]:
    """Every reason ``msg``, filed under ``complainer``, does not count (empty: it counts).

    It counts when it is ``complainer``'s for this round, the complainer is in U2 and every
    accused is one of its neighbours in U2 (nobody else shares a mask with it). An honest
    participant only ever accuses such neighbours, so a complaint with any other entry is
    faulty and ignored as a whole.
    """
    s2, _ = ctx.check_sets(u2, ())
    if msg.participant != complainer or msg.task_id != ctx.task_id or msg.round != ctx.round:
        return [
            f"complaint filed under {complainer} is from {msg.participant} for task "
            f"{msg.task_id} round {msg.round}"
        ]
    if complainer not in s2:
        return [f"{complainer} is not in U2 and may not complain"]
    near = ctx.neighbours_of(complainer)
    problems: list[str] = []
    for accused in msg.seeds:
        if accused not in near:
            problems.append(f"{complainer} complains about non-neighbour {accused}")
        elif accused not in s2:
            problems.append(f"{complainer} complains about {accused}, which is not in U2")
    return problems


def check_complaint(
    ctx: RoundContext, u2: Collection[str], complainer: str, msg: Complaint
) -> None:
    """Raise :class:`MalformedMessage` listing every reason ``msg`` does not count."""
    problems = complaint_problems(ctx, u2, complainer, msg)
    if problems:
        raise MalformedMessage("; ".join(problems))


def usable_complaints(
    ctx: RoundContext, u2: Collection[str], complaints: Mapping[str, Complaint]
) -> dict[str, Complaint]:
    """The complaints that count (see :func:`complaint_problems`), keyed by complainer.

    Every function here applies it to what it is given, so filtering beforehand changes
    nothing: whoever passes the posted complaints, filtered or not, gets the same E.
    """
    return {
        complainer: msg
        for complainer, msg in complaints.items()
        if not complaint_problems(ctx, u2, complainer, msg)
    }


def _names(addresses: Collection[str]) -> str:
    return ", ".join(sorted(addresses, key=order_key))


def excluded_by_complaints(
    ctx: RoundContext,
    u2: Collection[str],
    u3: Collection[str],
    complaints: Mapping[str, Complaint],
) -> dict[str, str]:
    """E: the members of U3 whose masked input is left out of the sum, each with the reason.

    ``complaints`` maps each complainer to its complaint (those that do not count are
    ignored: :func:`complaint_problems`). See the module docstring for the two rules: too few holders of a share of the
    self-mask seed (A_i < t), then no hidden partner left (iterated to a fixed point).
    """
    s2, s3 = ctx.check_sets(u2, u3)
    t = ctx.threshold
    accused_by: dict[str, set[str]] = {i: set() for i in s3}
    linked: dict[str, set[str]] = {i: set() for i in s2}  # a complaint between them, either way
    for complainer, msg in usable_complaints(ctx, s2, complaints).items():
        for i in msg.seeds:
            linked[i].add(complainer)
            linked[complainer].add(i)
            if i in s3:
                accused_by[i].add(complainer)

    excluded: dict[str, str] = {}
    for i in sorted(s3, key=order_key):
        near = ctx.neighbours_of(i) & s3
        complainers = near & accused_by[i]
        holders = 1 + len(near - complainers)
        if holders < t:
            why = f"complaints by {_names(complainers)}" if complainers else "no complaints"
            excluded[i] = (
                f"{why} leave {holders} holder(s) of a share of its self-mask seed in U3 "
                f"(itself included), fewer than the threshold {t}: it cannot be unmasked"
            )

    changed = True
    while changed:
        changed = False
        for i in sorted(s3 - excluded.keys(), key=order_key):
            near = ctx.neighbours_of(i) & s3
            if near - excluded.keys() - linked[i]:
                continue  # a hidden partner remains
            gone = near & excluded.keys()
            parts = [f"complaints with {_names(near & linked[i])}"] if near & linked[i] else []
            if gone:
                parts.append(f"excluded neighbours {_names(gone)}")
            excluded[i] = (
                "every pairwise mask it shares with an included neighbour would be revealed ("
                + ("; ".join(parts) or "no neighbour in U3")
                + "): unmasking it would expose its input"
            )
            changed = True
    return excluded


def included(
    ctx: RoundContext,
    u2: Collection[str],
    u3: Collection[str],
    complaints: Mapping[str, Complaint],
) -> frozenset[str]:
    """I = U3 \\ E: the participants whose inputs make up the sum."""
    s2, s3 = ctx.check_sets(u2, u3)
    return s3 - excluded_by_complaints(ctx, s2, s3, complaints).keys()

"""The excluded set E from public data: which complaints count, who is excluded and why.

Whole rounds with participants sealing bad shares are in test_secagg_protocol.py; here E is
computed from hand-made complaints (no cryptography needed: the seeds are never checked)."""

from __future__ import annotations

import hashlib
from collections.abc import Collection

import pytest
from eth_utils import to_checksum_address

from fedchain.secagg import (
    Complaint,
    MalformedMessage,
    RoundContext,
    SecAggError,
    check_complaint,
    complaint_problems,
    excluded_by_complaints,
    included,
    usable_complaints,
)

TASK, ROUND = 5, 2


def context(n: int, k: int, t: int) -> tuple[RoundContext, list[str]]:
    people = [to_checksum_address(hashlib.sha256(f"c{i}".encode()).digest()[:20]) for i in range(n)]
    ctx = RoundContext.for_round(
        task_id=TASK, round=ROUND, u1=people, seed=hashlib.sha256(b"e").digest(), k=k, threshold=t
    )
    return ctx, list(ctx.participants)


def accuse(complainer: str, accused: Collection[str], *, round: int = ROUND) -> Complaint:
    return Complaint(
        task_id=TASK,
        round=round,
        participant=complainer,
        seeds={a: hashlib.sha256(f"{complainer}{a}".encode()).digest() for a in accused},
    )


def test_a_complaint_counts_only_if_it_accuses_nothing_but_neighbours_in_u2() -> None:
    # Prepare: SecAgg+ k = 4 on 10; `out` never shared keys (not in U2)
    ctx, people = context(10, 4, 3)
    me = people[0]
    near = sorted(ctx.neighbours_of(me))
    stranger = next(p for p in people if p != me and p not in ctx.neighbours_of(me))
    out = near[0]
    u2 = set(people) - {out}
    mixed = accuse(me, [near[1], near[2], stranger, out])
    good = accuse(me, [near[1], near[2]])

    # Execute
    problems = complaint_problems(ctx, u2, me, mixed)

    # Assert: the faulty complaint is refused as a whole, with every reason
    assert sorted(problems) == sorted(
        [
            f"{me} complains about non-neighbour {stranger}",
            f"{me} complains about {out}, which is not in U2",
        ]
    )
    with pytest.raises(MalformedMessage, match=f"non-neighbour {stranger}"):
        check_complaint(ctx, u2, me, mixed)
    assert usable_complaints(ctx, u2, {me: mixed}) == {}
    check_complaint(ctx, u2, me, good)
    assert usable_complaints(ctx, u2, {me: good}) == {me: good}


def test_filtering_the_complaints_first_gives_the_same_e() -> None:
    # Prepare: full SecAgg on 7, `gone` not in U2, t = 3; four of target's five neighbours in
    # U2 complain about it, but one also accuses `gone`, so its complaint does not count:
    # A = 1 + (5 − 3) = 3
    ctx, people = context(7, 6, 3)
    target, gone, others = people[0], people[1], people[2:]
    u2 = set(people) - {gone}
    complaints = {p: accuse(p, [target]) for p in others[:4]}
    complaints[others[0]] = accuse(others[0], [target, gone])

    # Execute
    raw = excluded_by_complaints(ctx, u2, u2, complaints)
    filtered = excluded_by_complaints(ctx, u2, u2, usable_complaints(ctx, u2, complaints))

    # Assert
    assert raw == filtered == {}
    del complaints[others[0]]
    complaints[others[0]] = accuse(others[0], [target])
    assert set(excluded_by_complaints(ctx, u2, u2, complaints)) == {target}


def test_a_complaint_from_outside_u2_or_filed_under_another_name_does_not_count() -> None:
    ctx, people = context(6, 5, 3)
    a, b, c = people[:3]
    u2 = set(people) - {a}
    with pytest.raises(MalformedMessage, match=f"{a} is not in U2 and may not complain"):
        check_complaint(ctx, u2, a, accuse(a, [b]))
    with pytest.raises(MalformedMessage, match=f"complaint filed under {c} is from {b}"):
        check_complaint(ctx, u2, c, accuse(b, [c]))
    with pytest.raises(MalformedMessage, match=f"for task {TASK} round 9"):
        check_complaint(ctx, u2, b, accuse(b, [c], round=9))
    complaints = {a: accuse(a, [b]), c: accuse(b, [c]), b: accuse(b, [c], round=9)}
    assert usable_complaints(ctx, u2, complaints) == {}


@pytest.mark.parametrize(("complainers", "is_excluded"), [(0, False), (4, False), (5, True)])
def test_excluded_when_fewer_than_t_shares_of_the_self_mask_remain(
    complainers: int, is_excluded: bool
) -> None:
    # Prepare: full SecAgg on 7, t = 3: A = 1 + (6 − complainers)
    ctx, people = context(7, 6, 3)
    target, others = people[3], [p for p in people if p != people[3]]
    complaints = {p: accuse(p, [target]) for p in others[:complainers]}

    # Execute
    e = excluded_by_complaints(ctx, people, people, complaints)

    # Assert
    assert set(e) == ({target} if is_excluded else set())
    if is_excluded:
        assert e[target].startswith(f"complaints by {', '.join(others[:complainers])} leave 2 ")
        assert "fewer than the threshold 3" in e[target]
        assert included(ctx, people, people, complaints) == set(others)


def test_only_complainers_in_u3_take_a_share_holder_away() -> None:
    # Prepare: 7, t = 3; four complain about `target` but two of them drop before masking: its
    # U3 neighbours are 4, two of which complained, so A = 1 + 2 = 3 ≥ t
    ctx, people = context(7, 6, 3)
    target, others = people[0], people[1:]
    complaints = {p: accuse(p, [target]) for p in others[:4]}
    u3 = set(people) - set(others[:2])

    # Execute / Assert
    assert excluded_by_complaints(ctx, people, u3, complaints) == {}
    # one more complaint from a survivor is one too many
    complaints[others[4]] = accuse(others[4], [target])
    assert set(excluded_by_complaints(ctx, people, u3, complaints)) == {target}


def test_without_complaints_a_survivor_without_enough_neighbours_is_excluded() -> None:
    # Prepare: SecAgg+ k = 4 on 10, t = 3; all but one neighbour of `lone` drop before masking
    ctx, people = context(10, 4, 3)
    lone = people[0]
    near = sorted(ctx.neighbours_of(lone))
    u3 = set(people) - set(near[1:])

    # Execute
    e = excluded_by_complaints(ctx, people, u3, {})

    # Assert: 1 + 1 holders < 3; its input cannot be unmasked, so it is left out, not fatal
    assert lone in e and e[lone].startswith("no complaints leave 2 holder(s)")


def test_a_participant_that_complained_about_every_included_neighbour_is_excluded() -> None:
    # Prepare: 5, t = 2; me could open nobody's bundle. Nobody complained about me, so my
    # self-mask could be rebuilt — but my complaint revealed every pairwise seed I have, so
    # my input would be readable: I am excluded for my own protection; the others stay
    ctx, people = context(5, 4, 2)
    me = people[2]
    complaints = {me: accuse(me, set(people) - {me})}

    # Execute
    e = excluded_by_complaints(ctx, people, people, complaints)

    # Assert
    assert set(e) == {me}
    assert e[me].startswith("every pairwise mask it shares with an included neighbour")
    assert "complaints with" in e[me]


@pytest.mark.parametrize("against_z", [3, 4])
def test_exclusion_cascades_until_everyone_included_keeps_a_hidden_mask(against_z: int) -> None:
    # Prepare: full SecAgg on 6, t = 3. w complained about everyone but z, so z is the only
    # neighbour whose pairwise mask with w stays hidden. `against_z` of the others complain
    # about z: with 4, z keeps 1 + 1 holders (< 3) and is excluded — which leaves w with no
    # hidden mask, so w is excluded too; with 3, z keeps 3 holders and both stay.
    ctx, people = context(6, 5, 3)
    w, z, rest = people[0], people[1], people[2:]
    complaints = {p: accuse(p, [z]) for p in rest[:against_z]}
    complaints[w] = accuse(w, rest)

    # Execute
    e = excluded_by_complaints(ctx, people, people, complaints)

    # Assert
    if against_z == 3:
        assert e == {}
    else:
        assert set(e) == {z, w}
        assert e[z].startswith("complaints by")
        assert e[w].startswith("every pairwise mask it shares with an included neighbour")
        assert f"excluded neighbours {z}" in e[w]


def test_e_depends_on_the_complaints_not_their_order() -> None:
    ctx, people = context(8, 7, 3)
    complaints = {p: accuse(p, people[:2]) for p in people[2:]}
    backwards = dict(reversed(list(complaints.items())))
    assert excluded_by_complaints(ctx, people, people, complaints) == excluded_by_complaints(
        ctx, people, people, backwards
    )
    assert set(excluded_by_complaints(ctx, people, people, complaints)) == set(people[:2])


def test_sets_are_checked() -> None:
    ctx, people = context(5, 4, 2)
    with pytest.raises(SecAggError, match="U3 must be a subset of U2"):
        excluded_by_complaints(ctx, people[:3], people, {})

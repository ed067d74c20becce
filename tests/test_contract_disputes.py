"""The on-chain dispute game (RoundDisputes) on the embedded chain: sum games won and lost,
timeouts, availability, one-step proofs, and what each outcome does to bonds, stakes,
rewards and the round. The token identity is checked after (nearly) every transaction."""

from __future__ import annotations

import numpy as np
import pytest
from dispute_world import AGG_BOND, CHALLENGE_BOND, REWARD, World, revert_name, wide

from fedchain.chain import (
    ChallengeOutcome,
    ContractRevert,
    ExclusionReason,
    Fault,
    GameState,
    Phase,
    Target,
)

NORM_LIE_BPS = 5_000
COPY_BPS = 1_000


def _clean_pending() -> dict[str, int]:
    """Every member's credit for round 1 in a run without any dispute."""
    w = World()
    w.commit_all(1)
    w.post(w.members[0], 1)
    w.finalize()
    return {m.address: w.member(m).pending for m in w.members}


def _last_chunk_plus_one(w: World) -> object:
    e = (w.num_chunks - 1) * w.k + 3  # inside the short last chunk

    def tamper(agg: np.ndarray) -> np.ndarray:
        agg[e] += 1
        return agg

    return tamper


# ---------------------------------------------------------------- sum game


def test_honest_aggregate_cannot_be_refuted_and_the_challenger_loses_its_bond() -> None:
    w = World()
    agg, ch = w.members[0], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    p = w.post(agg, 1)
    w.assert_identity()
    assert w.task().phase == Phase.CHALLENGE
    before_ch = w.balance(ch)
    pool0 = w.task().pool
    c = w.num_chunks - 1
    gid = w.disputes.challenge_sum(ch, w.task_id, 1, c)
    assert w.balance(ch) == before_ch - CHALLENGE_BOND
    assert w.task().challenge_bonds_held == CHALLENGE_BOND
    assert w.task().open_challenges == 1
    w.assert_identity()

    p_lo, p_hi = w.play_sum_game(gid, ch, p, 1)
    g = w.disputes.game(gid)
    # An honest challenger agreed with every honest statement: the step left is the last one.
    assert (g.lo, g.hi, g.state) == (len(w.members) - 1, len(w.members), GameState.AWAIT_PROOF)
    with pytest.raises(ContractRevert) as e:
        w.prove_step(ch, gid, 1, p_lo, p_hi)
    assert revert_name(e.value) == "DisputeNoFault"
    w.assert_identity()

    # The challenger cannot prove anything and lets the deadline pass.
    w.travel_past(g.deadline)
    w.disputes.timeout(w.outsiders[1], gid)
    assert w.disputes.game(gid).state == GameState.RESOLVED
    assert w.disputes.resolutions()[gid] == ChallengeOutcome.CHALLENGER_FAULT
    (s,) = w.coord.challenge_settlements(w.task_id)
    assert s["outcome"] == ChallengeOutcome.CHALLENGER_FAULT
    assert s["to_challenger"] == 0
    assert s["to_aggregator"] == CHALLENGE_BOND // 2
    assert s["to_pool"] == CHALLENGE_BOND - CHALLENGE_BOND // 2
    assert w.balance(ch) == before_ch - CHALLENGE_BOND
    assert w.member(agg).claimable == CHALLENGE_BOND // 2
    assert w.task().pool == pool0 + CHALLENGE_BOND - CHALLENGE_BOND // 2
    assert w.task().challenge_bonds_held == 0 and w.task().open_challenges == 0
    assert w.coord.voided(w.task_id) == [] and w.coord.slashes(w.task_id) == []
    w.assert_identity()

    w.finalize()
    assert w.round() == 2
    assert [o.round for o in w.coord.round_outcomes(w.task_id) if o.finalized] == [1]
    assert w.task().global_model_root == p.model_tree.root
    for m in w.members:
        assert w.member(m).pending == REWARD // len(w.members)
    w.assert_identity()


def test_wrong_aggregate_in_the_last_chunk_is_refuted_and_the_round_still_pays() -> None:
    clean = _clean_pending()
    w = World()
    cheat, reposter, ch = w.members[0], w.members[1], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    bad = w.post(cheat, 1, tamper_aggregate=_last_chunk_plus_one(w))
    w.assert_identity()
    stake0, pool0, ch0 = w.member(cheat).stake, w.task().pool, w.balance(ch)

    gid = w.disputes.challenge_sum(ch, w.task_id, 1, w.num_chunks - 1)
    w.assert_identity()
    # The cheater defends with honest running sums: the lie surfaces at the last step.
    p_lo, p_hi = w.play_sum_game(gid, ch, bad, 1)
    g = w.disputes.game(gid)
    assert (g.lo, g.hi) == (len(w.members) - 1, len(w.members))
    w.prove_step(ch, gid, 1, p_lo, p_hi)
    w.assert_identity()

    assert w.disputes.resolutions()[gid] == ChallengeOutcome.AGGREGATOR_FAULT
    (s,) = w.coord.challenge_settlements(w.task_id)
    assert s["outcome"] == ChallengeOutcome.AGGREGATOR_FAULT
    assert s["to_challenger"] == CHALLENGE_BOND + AGG_BOND // 2
    assert w.balance(ch) == ch0 + AGG_BOND // 2
    assert w.coord.voided(w.task_id) == [(1, cheat.address, 0, Fault.WRONG_AGGREGATE)]
    (sl,) = w.coord.slashes(w.task_id)
    assert sl["address"] == cheat.address and sl["amount"] == AGG_BOND
    assert sl["fault"] == Fault.WRONG_AGGREGATE
    assert sl["beneficiary"] == ch.address and sl["to_beneficiary"] == AGG_BOND // 2
    assert w.member(cheat).stake == stake0 - AGG_BOND
    assert w.task().pool == pool0 + AGG_BOND - AGG_BOND // 2
    faults = w.disputes.faults_proven(w.task_id)
    assert [(f["fault"], f["accused"], f["prover"]) for f in faults] == [
        (Fault.WRONG_AGGREGATE, cheat.address, ch.address)
    ]
    t = w.task()
    assert t.phase == Phase.AGGREGATE and t.epoch == 1 and t.challenge_bonds_held == 0

    with pytest.raises(ContractRevert) as e:
        w.post(cheat, 1)
    assert revert_name(e.value) == "CoordinatorBarred"
    w.assert_identity()

    good = w.post(reposter, 1)
    assert w.task().phase == Phase.CHALLENGE and w.task().aggregator == reposter.address
    w.assert_identity()
    w.finalize()
    assert w.task().global_model_root == good.model_tree.root
    assert {m.address: w.member(m).pending for m in w.members} == clean
    w.assert_identity()
    # Claiming moves the credit out; the identity still holds.
    for m in w.members:
        w.coord.claim(m, w.task_id)
        w.assert_identity()


def test_wrong_aggregate_with_a_lie_in_a_middle_running_sum_is_refuted() -> None:
    w = World()
    cheat, ch = w.members[0], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    c = 1
    e = c * w.k + 17

    def tamper(agg: np.ndarray) -> np.ndarray:
        agg[e] -= 5
        return agg

    bad = w.post(cheat, 1, tamper_aggregate=tamper)
    truth = w.running_sums(1, c, bad.included)

    def lie(q: int) -> np.ndarray:
        # The cheater claims the error crept in by member 2: from P_2 on its sums follow A.
        v = truth[q].copy()
        if q >= 2:
            v[e - c * w.k] -= 5
        return v

    gid = w.disputes.challenge_sum(ch, w.task_id, 1, c)
    p_lo, p_hi = w.play_sum_game(gid, ch, bad, 1, stated=lie)
    g = w.disputes.game(gid)
    assert (g.lo, g.hi) == (1, 2)
    w.prove_step(w.outsiders[1], gid, 1, p_lo, p_hi)  # anyone may send it: the challenger is paid
    (s,) = w.coord.challenge_settlements(w.task_id)
    assert s["challenger"] == ch.address and s["outcome"] == ChallengeOutcome.AGGREGATOR_FAULT
    assert w.coord.voided(w.task_id)[0][3] == Fault.WRONG_AGGREGATE
    w.assert_identity()


@pytest.mark.parametrize("stop", ["before_opening", "before_defending"])
def test_an_aggregator_that_does_not_answer_loses_by_timeout(stop: str) -> None:
    w = World()
    agg, ch = w.members[0], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    p = w.post(agg, 1)
    gid = w.disputes.challenge_sum(ch, w.task_id, 1, 0)
    if stop == "before_defending":
        w.disputes.open_aggregate_chunk(agg, gid, p.agg_tree.chunk(0), p.agg_tree.proof(0))
        assert w.disputes.game(gid).state == GameState.AWAIT_DEFENDER
    else:
        assert w.disputes.game(gid).state == GameState.AWAIT_AGGREGATE
    ch0 = w.balance(ch)
    w.travel_past(w.disputes.game(gid).deadline)
    w.disputes.timeout(w.members[3], gid)
    assert w.disputes.resolutions()[gid] == ChallengeOutcome.AGGREGATOR_FAULT
    (s,) = w.coord.challenge_settlements(w.task_id)
    assert s["to_challenger"] == CHALLENGE_BOND + AGG_BOND // 2
    assert w.balance(ch) == ch0 + CHALLENGE_BOND + AGG_BOND // 2
    assert w.coord.voided(w.task_id) == [(1, agg.address, 0, Fault.WRONG_AGGREGATE)]
    assert w.task().phase == Phase.AGGREGATE
    w.assert_identity()


def test_a_challenger_that_stops_answering_loses_by_timeout() -> None:
    w = World()
    agg, ch = w.members[0], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    p = w.post(agg, 1)
    gid = w.disputes.challenge_sum(ch, w.task_id, 1, 0)
    w.disputes.open_aggregate_chunk(agg, gid, p.agg_tree.chunk(0), p.agg_tree.proof(0))
    q = w.disputes.game(gid).query
    w.disputes.defend(agg, gid, wide(w.running_sums(1, 0, p.included)[q]))
    assert w.disputes.game(gid).state == GameState.AWAIT_CHALLENGER
    w.travel_past(w.disputes.game(gid).deadline)
    w.disputes.timeout(agg, gid)
    assert w.disputes.resolutions()[gid] == ChallengeOutcome.CHALLENGER_FAULT
    assert w.member(agg).claimable == CHALLENGE_BOND // 2
    assert w.coord.voided(w.task_id) == []
    w.assert_identity()


# ---------------------------------------------------------------- availability


@pytest.mark.parametrize("target", [Target.AGGREGATE, Target.MODEL, Target.UPDATE])
def test_an_answered_availability_challenge_splits_the_bond(target: Target) -> None:
    w = World()
    agg, ch = w.members[0], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    p = w.post(agg, 1)
    c = w.num_chunks - 1
    member = w.members[2].address if target == Target.UPDATE else None
    gid = w.disputes.challenge_availability(ch, w.task_id, 1, target, member, c)
    g = w.disputes.game(gid)
    assert g.state == GameState.AWAIT_ANSWER
    w.assert_identity()
    ch0 = w.balance(ch)
    if target == Target.UPDATE:
        assert member is not None
        tree = w.rounds[1].trees[member]
        w.disputes.answer_availability(
            w.outsiders[2], gid, tree.chunk(c), tree.sums[c], tree.proof(c), w.openings(1)[member]
        )
        opened = tree.chunk(c)
    else:
        tree = p.agg_tree if target == Target.AGGREGATE else p.model_tree
        w.disputes.answer_availability(agg, gid, tree.chunk(c), 0, tree.proof(c))
        opened = tree.chunk(c)
    assert w.disputes.openings(gid) == {c: opened}
    assert w.disputes.resolutions()[gid] == ChallengeOutcome.ANSWERED
    (s,) = w.coord.challenge_settlements(w.task_id)
    assert s["to_aggregator"] == CHALLENGE_BOND // 2
    assert s["to_challenger"] == CHALLENGE_BOND - CHALLENGE_BOND // 2
    assert w.balance(ch) == ch0 + CHALLENGE_BOND - CHALLENGE_BOND // 2
    assert w.member(agg).claimable == CHALLENGE_BOND // 2
    assert w.coord.voided(w.task_id) == []
    w.assert_identity()
    w.finalize()
    assert w.round() == 2
    w.assert_identity()


def test_an_unanswered_availability_challenge_voids_the_aggregate() -> None:
    w = World()
    agg, ch = w.members[0], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    w.post(agg, 1)
    gid = w.disputes.challenge_availability(ch, w.task_id, 1, Target.AGGREGATE, None, 1)
    with pytest.raises(ContractRevert) as e:
        w.disputes.timeout(ch, gid)
    assert revert_name(e.value) == "DisputeDeadlineNotPassed"
    w.travel_past(w.disputes.game(gid).deadline)
    ch0 = w.balance(ch)
    w.disputes.timeout(ch, gid)
    assert w.disputes.resolutions()[gid] == ChallengeOutcome.AGGREGATOR_FAULT
    assert w.coord.voided(w.task_id) == [(1, agg.address, 0, Fault.UNANSWERED)]
    assert w.balance(ch) == ch0 + CHALLENGE_BOND + AGG_BOND // 2
    assert w.task().phase == Phase.AGGREGATE
    w.assert_identity()
    w.post(w.members[1], 1)
    w.finalize()
    assert w.round() == 2
    w.assert_identity()


def _with_padding(tree: object, junk: bytes) -> bytes:
    """The root of ``tree`` with its last (padding) leaf replaced by ``junk``: a commitment no
    blob can open, since every blob's tree pads with the empty node."""
    from fedchain.codec.merkle import SumNode, parent

    levels = [SumNode(h, s) for h, s in zip(*tree._levels[0], strict=True)]  # type: ignore[attr-defined]
    levels[-1] = SumNode(junk, 0)
    while len(levels) > 1:
        levels = [parent(levels[i], levels[i + 1]) for i in range(0, len(levels), 2)]
    return levels[0].h


def test_a_padding_leaf_of_the_aggregate_must_open_to_the_empty_node() -> None:
    w = World()
    agg, ch = w.members[0], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    p = w.post(agg, 1)
    pad = 1 << p.agg_tree.depth  # leaves 0 .. pad-1; chunks 0 .. num_chunks-1
    assert w.num_chunks < pad, "the world must have padding"
    for target, member, chunk in (
        (Target.AGGREGATE, None, pad),
        (Target.UPDATE, w.members[1].address, w.num_chunks),
    ):
        with pytest.raises(ContractRevert) as e:
            w.disputes.challenge_availability(ch, w.task_id, 1, target, member, chunk)
        assert revert_name(e.value) == "DisputeChunkOutOfRange"
    # an honest aggregate answers for its padding leaf with nothing and the empty node's path
    gid = w.disputes.challenge_availability(ch, w.task_id, 1, Target.AGGREGATE, None, pad - 1)
    with pytest.raises(ContractRevert) as e:
        w.disputes.answer_availability(agg, gid, b"\x00" * 8, 0, p.agg_tree.proof(pad - 1))
    assert revert_name(e.value) == "DisputeBadChunkLength"
    w.disputes.answer_availability(agg, gid, b"", 0, p.agg_tree.proof(pad - 1))
    assert w.disputes.resolutions()[gid] == ChallengeOutcome.ANSWERED
    w.assert_identity()


def test_an_aggregate_root_with_junk_padding_cannot_answer_and_is_voided() -> None:
    w = World()
    agg, ch = w.members[0], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    honest = w.post(agg, 1)  # to have the trees; its root is replaced below
    w.finalize()
    w.commit_all(2)
    w.travel_past_commit()
    agg_values, model, _ = w.honest(2, w.default_included(2))
    from dispute_world import aggregate_tree, model_tree

    tree, mtree = aggregate_tree(agg_values, w.k), model_tree(model, w.k)
    bad_root = _with_padding(tree, b"\x11" * 32)
    w.coord.post_aggregate(agg, w.task_id, 2, bad_root, mtree.root, {})
    pad = (1 << tree.depth) - 1
    gid = w.disputes.challenge_availability(ch, w.task_id, 2, Target.AGGREGATE, None, pad)
    with pytest.raises(ContractRevert) as e:  # the empty node's path does not climb to it
        w.disputes.answer_availability(agg, gid, b"", 0, tree.proof(pad))
    assert revert_name(e.value) == "DisputeOpeningInvalid"
    w.travel_past(w.disputes.game(gid).deadline)
    w.disputes.timeout(ch, gid)
    assert w.coord.voided(w.task_id) == [(2, agg.address, 0, Fault.UNANSWERED)]
    assert honest.agg_tree.root != bad_root
    w.assert_identity()


# ---------------------------------------------------------------- one-step proofs


def _prove_model(w: World, who: object, p: object, c: int) -> None:
    g, a, m = w.global_tree, p.agg_tree, p.model_tree  # type: ignore[attr-defined]
    w.disputes.prove_model(
        who,  # type: ignore[arg-type]
        w.task_id,
        w.round(),
        c,
        g.chunk(c),
        g.proof(c),
        a.chunk(c),
        a.proof(c),
        m.chunk(c),
        m.proof(c),
    )


def test_a_wrong_model_is_voided_in_one_step_and_a_right_one_is_not() -> None:
    w = World()
    agg, prover = w.members[0], w.outsiders[0]
    w.commit_all(1)
    w.travel_past_commit()
    e = 2 * w.k + 40

    def tamper(model: np.ndarray) -> np.ndarray:
        model[e] += 1
        return model

    p = w.post(agg, 1, tamper_model=tamper)
    for c in (0, 1):  # the model is right in these chunks
        with pytest.raises(ContractRevert) as exc:
            _prove_model(w, prover, p, c)
        assert revert_name(exc.value) == "DisputeNoFault"
    w.assert_identity()
    stake0, pr0 = w.member(agg).stake, w.balance(prover)
    _prove_model(w, prover, p, 2)
    assert w.coord.voided(w.task_id) == [(1, agg.address, 0, Fault.WRONG_MODEL)]
    assert w.member(agg).stake == stake0 - AGG_BOND
    assert w.balance(prover) == pr0 + AGG_BOND // 2
    assert w.task().phase == Phase.AGGREGATE
    w.assert_identity()
    good = w.post(w.members[1], 1)
    for c in range(w.num_chunks):
        with pytest.raises(ContractRevert) as exc:
            _prove_model(w, prover, good, c)
        assert revert_name(exc.value) == "DisputeNoFault"
    w.finalize()
    assert w.task().global_model_root == good.model_tree.root
    w.assert_identity()


def _fake_sums(w: World, v: np.ndarray, c: int, delta: int) -> list[int]:
    from fedchain.codec.blob import BlobKind
    from fedchain.codec.merkle import chunk_sums

    sums = chunk_sums(BlobKind.UPDATE, v, chunk_elems=w.k)
    sums[c] -= delta  # declares a smaller norm than it has
    return sums


@pytest.mark.parametrize("when", ["before_post", "after_post_excluded", "after_post_included"])
def test_a_norm_lie_is_slashed_and_earns_nothing(when: str) -> None:
    w = World()
    agg, prover = w.members[0], w.outsiders[0]
    liar = w.members[3]
    for m in w.members:
        if m is liar:
            v = w.random_update()
            w.commit(m, 1, v, sums=_fake_sums(w, v, 1, 10**6))
        else:
            w.commit(m, 1)
    w.travel_past_commit()
    tree = w.rounds[1].trees[liar.address]
    opening = w.openings(1)[liar.address]
    honest_chunk = 0
    with pytest.raises(ContractRevert) as exc:  # chunk 0's declared sum is true
        w.disputes.prove_norm_lie(
            prover,
            w.task_id,
            1,
            opening,
            honest_chunk,
            tree.chunk(honest_chunk),
            tree.sums[honest_chunk],
            tree.proof(honest_chunk),
        )
    assert revert_name(exc.value) == "DisputeNoFault"
    if when == "after_post_excluded":
        w.post(agg, 1, excluded={liar.address: ExclusionReason.NORM_LIE})
    elif when == "after_post_included":
        w.post(agg, 1)
    stake0, pr0, pool0 = w.member(liar).stake, w.balance(prover), w.task().pool
    agg_stake0 = w.member(agg).stake
    w.disputes.prove_norm_lie(
        prover, w.task_id, 1, opening, 1, tree.chunk(1), tree.sums[1], tree.proof(1)
    )
    w.assert_identity()
    slashed = stake0 * NORM_LIE_BPS // 10_000
    assert w.member(liar).stake == stake0 - slashed
    assert w.coord.invalidated(w.task_id, 1) == {liar.address: Fault.NORM_LIE}
    sl = w.coord.slashes(w.task_id)
    assert sl[0]["address"] == liar.address and sl[0]["amount"] == slashed
    void_reward = 0
    if when == "after_post_included":
        assert w.coord.voided(w.task_id) == [(1, agg.address, 0, Fault.INVALID_INCLUDED)]
        assert w.member(agg).stake == agg_stake0 - AGG_BOND
        void_reward = AGG_BOND // 2
        assert w.task().phase == Phase.AGGREGATE
    else:
        assert w.coord.voided(w.task_id) == []
    assert w.balance(prover) == pr0 + slashed // 2 + void_reward
    assert w.task().pool == pool0 + (slashed - slashed // 2) + (AGG_BOND - void_reward) * (
        void_reward > 0
    )
    # A second proof of the same fault is refused.
    with pytest.raises(ContractRevert) as exc:
        w.disputes.prove_norm_lie(
            prover, w.task_id, 1, opening, 1, tree.chunk(1), tree.sums[1], tree.proof(1)
        )
    assert revert_name(exc.value) == "CoordinatorAlreadyProven"
    if when != "after_post_excluded":
        p = w.post(w.members[1] if when == "after_post_included" else agg, 1)
        assert liar.address not in p.included
        assert w.task().pool >= 0
    w.finalize()
    w.assert_identity()
    assert w.member(liar).pending == 0
    for m in w.members:
        if m is not liar:
            assert w.member(m).pending == REWARD // len(w.members)
    w.assert_identity()


def test_a_copied_root_is_slashed_and_a_duplicate_aggregate_is_voided() -> None:
    w = World()
    agg, prover = w.members[0], w.outsiders[0]
    a, b = w.members[1], w.members[2]
    for m in w.members:
        if m is b:
            w.commit(b, 1, root_of=a)  # B commits A's root and norm
        else:
            w.commit(m, 1)
    w.travel_past_commit()
    op = w.openings(1)
    assert op[a.address].root == op[b.address].root
    # An aggregate counting both (what B's root opens to: A's vector, twice).
    p = w.post(agg, 1)
    assert a.address in p.included and b.address in p.included
    with pytest.raises(ContractRevert) as exc:
        w.disputes.prove_duplicate(prover, w.task_id, 1, op[a.address], op[w.members[3].address])
    assert revert_name(exc.value) == "DisputeNoFault"
    pr0 = w.balance(prover)
    w.disputes.prove_duplicate(prover, w.task_id, 1, op[a.address], op[b.address])
    assert w.coord.voided(w.task_id) == [(1, agg.address, 0, Fault.DUPLICATE_INCLUDED)]
    assert w.balance(prover) == pr0 + AGG_BOND // 2
    w.assert_identity()

    # The copy itself: B's root opens as A's vector.
    tree = w.rounds[1].trees[a.address]
    with pytest.raises(ContractRevert) as exc:  # A's own root as A: no copy
        w.disputes.prove_copy(
            prover,
            w.task_id,
            1,
            op[a.address],
            a.address,
            0,
            tree.chunk(0),
            tree.sums[0],
            tree.proof(0),
        )
    assert revert_name(exc.value) == "DisputeNoFault"
    stake_b = w.member(b).stake
    w.disputes.prove_copy(
        prover,
        w.task_id,
        1,
        op[b.address],
        a.address,
        0,
        tree.chunk(0),
        tree.sums[0],
        tree.proof(0),
    )
    slashed = stake_b * COPY_BPS // 10_000
    assert w.member(b).stake == stake_b - slashed
    assert w.coord.invalidated(w.task_id, 1) == {b.address: Fault.COPY}
    assert w.balance(prover) == pr0 + AGG_BOND // 2 + slashed // 2
    w.assert_identity()
    good = w.post(w.members[3], 1)
    assert b.address not in good.included
    w.finalize()
    assert w.member(b).pending == 0 and w.member(a).pending == REWARD // len(w.members)
    w.assert_identity()


def test_two_sum_challenges_one_wins_and_the_other_is_refunded_as_stale() -> None:
    w = World()
    cheat, x, y = w.members[0], w.outsiders[0], w.outsiders[1]
    w.commit_all(1)
    w.travel_past_commit()
    bad = w.post(cheat, 1, tamper_aggregate=_last_chunk_plus_one(w))
    gx = w.disputes.challenge_sum(x, w.task_id, 1, w.num_chunks - 1)
    gy = w.disputes.challenge_sum(y, w.task_id, 1, 0)
    assert w.task().open_challenges == 2
    assert w.task().challenge_bonds_held == 2 * CHALLENGE_BOND
    w.assert_identity()
    # Y's game gets going too.
    w.disputes.open_aggregate_chunk(cheat, gy, bad.agg_tree.chunk(0), bad.agg_tree.proof(0))
    y0 = w.balance(y)
    p_lo, p_hi = w.play_sum_game(gx, x, bad, 1)
    w.prove_step(x, gx, 1, p_lo, p_hi)
    assert w.task().challenge_bonds_held == CHALLENGE_BOND
    w.assert_identity()
    # Y's game is about a refuted aggregate: settled at once (no deadline), bond refunded.
    w.disputes.timeout(w.outsiders[2], gy)
    assert w.disputes.game(gy).state == GameState.RESOLVED
    s = w.coord.challenge_settlements(w.task_id)
    assert [x_["outcome"] for x_ in s] == [
        ChallengeOutcome.AGGREGATOR_FAULT,
        ChallengeOutcome.STALE,
    ]
    assert s[1]["to_challenger"] == CHALLENGE_BOND and s[1]["to_pool"] == 0
    assert w.balance(y) == y0 + CHALLENGE_BOND
    assert w.task().challenge_bonds_held == 0 and w.task().open_challenges == 0
    w.assert_identity()
    w.post(w.members[1], 1)
    w.finalize()
    w.assert_identity()


# ---------------------------------------------------------------- bugs found


def test_norm_lie_proof_with_a_chunk_sum_shifted_by_2_128_cannot_slash_an_honest_member() -> None:
    """Regression (found here, fixed in 9cd57e1): MerkleSumTree.leaf hashes uint128(sum) but
    climb() adds the full uint256 sum, and a proof's sibling sums are not bound to their
    hashes. chunkSum' = s + 2**128 with the first sibling's sum lowered by 2**128 (mod 2**256)
    leaves every hash, the root and the top sum unchanged: before the fix the opening verified
    and proveNormLie slashed an honest member (squares != chunkSum')."""
    w = World()
    prover, victim = w.outsiders[0], w.members[2]
    w.commit_all(1)
    w.travel_past_commit()
    tree = w.rounds[1].trees[victim.address]
    opening = w.openings(1)[victim.address]
    c = 0
    proof = list(tree.proof(c))
    h0, s0 = proof[0]
    proof[0] = (h0, (s0 - 2**128) % 2**256)
    fake_sum = tree.sums[c] + 2**128
    ok, top = w.disputes.verify_opening(
        tree.root, victim.address, c, fake_sum, tree.chunk(c), proof, w.num_chunks
    )
    stake0 = w.member(victim).stake
    try:
        w.disputes.prove_norm_lie(prover, w.task_id, 1, opening, c, tree.chunk(c), fake_sum, proof)
    except ContractRevert as exc:
        assert exc.error in ("DisputeOpeningInvalid", "DisputeNoFault")
    assert w.coord.invalidated(w.task_id, 1) == {}, (
        f"honest member slashed by a non-canonical opening (verifyOpening says {ok}, top {top})"
    )
    assert not ok, "verifyOpening accepts a chunk sum wider than uint128"
    assert w.member(victim).stake == stake0


def test_availability_challenge_of_a_member_absent_from_the_round_voids_an_honest_aggregate() -> (
    None
):
    """BUG: challengeAvailability(Target.Update) checks only commitView(...).included, which
    reads the UNSETTLED flag of the member's *last* round. A member that committed in round 1
    and skipped round 2 still has it set in round 2 (settled lazily), so the challenge opens;
    nobody can answer it (the opening must be of the current round), and the timeout voids
    an honest aggregate and pays the challenger half the aggregator's bond."""
    w = World()
    agg, ch = w.members[0], w.outsiders[0]
    absent = w.members[4]
    w.commit_all(1)
    w.travel_past_commit()
    w.post(agg, 1)
    w.finalize()
    assert w.round() == 2
    w.commit_all(2, w.members[:4])  # `absent` does not commit to round 2
    w.travel_past_commit()
    w.post(agg, 2)
    w.assert_identity()
    try:
        gid = w.disputes.challenge_availability(ch, w.task_id, 2, Target.UPDATE, absent.address, 0)
    except ContractRevert as exc:
        assert exc.error == "DisputeNotIncluded"
        return
    w.travel_past(w.disputes.game(gid).deadline)
    w.disputes.timeout(ch, gid)
    w.assert_identity()
    assert w.coord.voided(w.task_id) == [], "an honest round-2 aggregate was voided"


def test_a_stale_game_is_reported_stale_by_the_dispute_game_too() -> None:
    """BUG: RoundDisputes.timeout (and _resolve) emits ChallengeResolved with the outcome it
    computed from whose move it was (AggregatorFault here) and FaultProven(WrongAggregate)
    against the aggregator, while the coordinator settles the same game as Stale (full
    refund, nobody at fault). Clients reading the dispute game's events (DisputeClient.
    resolutions(), faults_proven(); the demo's dispute table) see a second refutation."""
    w = World()
    cheat, x, y = w.members[0], w.outsiders[0], w.outsiders[1]
    w.commit_all(1)
    w.travel_past_commit()
    bad = w.post(cheat, 1, tamper_aggregate=_last_chunk_plus_one(w))
    gx = w.disputes.challenge_sum(x, w.task_id, 1, w.num_chunks - 1)
    gy = w.disputes.challenge_sum(y, w.task_id, 1, 0)
    p_lo, p_hi = w.play_sum_game(gx, x, bad, 1)
    w.prove_step(x, gx, 1, p_lo, p_hi)
    w.disputes.timeout(w.outsiders[2], gy)
    settled = [s["outcome"] for s in w.coord.challenge_settlements(w.task_id)]
    assert settled == [ChallengeOutcome.AGGREGATOR_FAULT, ChallengeOutcome.STALE]
    faults = w.disputes.faults_proven(w.task_id)
    assert len(faults) == len(w.coord.voided(w.task_id)) == 1, faults
    assert w.disputes.resolutions()[gy] == ChallengeOutcome.STALE

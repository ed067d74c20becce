"""Every dispute call made wrongly reverts with its own custom error, changes nothing (task,
games, balances, member records) and leaves the token identity intact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dispute_world import Posted, World, derive_account_for_test, wide

from fedchain.chain import ContractRevert, GameState, Target


def _state(w: World, gids: tuple[int, ...]) -> tuple[Any, ...]:
    accounts = [w.sponsor, *w.members, *w.outsiders]
    return (
        w.task(),
        [w.disputes.game(g) for g in gids],
        int(w.disputes.contract.functions.gameCount().call()),
        [w.balance(a) for a in accounts],
        [w.member(m) for m in w.members],
    )


def expect(w: World, error: str, call: Callable[[], object], *gids: int) -> ContractRevert:
    before = _state(w, gids)
    with pytest.raises(ContractRevert) as exc:
        call()
    assert exc.value.error == error, f"{exc.value} (wanted {error})"
    assert _state(w, gids) == before, "a reverted call changed state"
    w.assert_identity()
    return exc.value


def _posted() -> tuple[World, Posted]:
    w = World()
    w.commit_all(1)
    w.travel_past_commit()
    return w, w.post(w.members[0], 1)


def _prove_model_call(w: World, p: Posted, c: int, rnd: int = 1) -> Callable[[], object]:
    g, a, m = w.global_tree, p.agg_tree, p.model_tree
    return lambda: w.disputes.prove_model(
        w.outsiders[0], w.task_id, rnd, c, g.chunk(c), g.proof(c), a.chunk(c), a.proof(c),
        m.chunk(c), m.proof(c),
    )  # fmt: skip


# ---------------------------------------------------------------- windows and rounds


def test_challenges_and_proofs_after_the_challenge_window() -> None:
    w, p = _posted()
    ch = w.outsiders[0]
    w.travel_past_challenge()
    expect(
        w, "CoordinatorChallengeWindowClosed", lambda: w.disputes.challenge_sum(ch, w.task_id, 1, 0)
    )
    expect(
        w,
        "CoordinatorChallengeWindowClosed",
        lambda: w.disputes.challenge_availability(ch, w.task_id, 1, Target.AGGREGATE, None, 0),
    )
    # Proofs are checked before the window: a false one is still DisputeNoFault.
    expect(w, "DisputeNoFault", _prove_model_call(w, p, 0))
    m = w.members[1].address
    tree = w.rounds[1].trees[m]
    opening = w.openings(1)[m]
    expect(
        w,
        "DisputeNoFault",
        lambda: w.disputes.prove_norm_lie(
            ch, w.task_id, 1, opening, 0, tree.chunk(0), tree.sums[0], tree.proof(0)
        ),
    )


def test_a_true_fault_proven_after_the_challenge_window_is_refused() -> None:
    w = World()
    w.commit_all(1)
    w.travel_past_commit()

    def tamper(model: Any) -> Any:
        model[0] += 1
        return model

    p = w.post(w.members[0], 1, tamper_model=tamper)
    w.travel_past_challenge()
    expect(w, "CoordinatorChallengeWindowClosed", _prove_model_call(w, p, 0))
    op = w.openings(1)
    a, b = w.members[1].address, w.members[2].address
    # Norm lie and copy of honest members are no fault; a duplicate of two distinct roots neither.
    expect(
        w,
        "DisputeNoFault",
        lambda: w.disputes.prove_duplicate(w.outsiders[0], w.task_id, 1, op[a], op[b]),
    )
    w.coord.advance(w.sponsor, w.task_id)  # finalizes the (wrong, unrefuted) round
    assert w.round() == 2


def test_challenges_before_any_aggregate_of_another_round_and_of_a_finalized_round() -> None:
    w = World()
    ch = w.outsiders[0]
    w.commit_all(1)
    # Aggregate phase: nothing posted yet.
    expect(w, "DisputeNoAggregate", lambda: w.disputes.challenge_sum(ch, w.task_id, 1, 0))
    w.travel_past_commit()
    p = w.post(w.members[0], 1)
    for rnd in (0, 2):
        expect(
            w, "DisputeNoAggregate", lambda rnd=rnd: w.disputes.challenge_sum(ch, w.task_id, rnd, 0)
        )
        expect(
            w,
            "DisputeNoAggregate",
            lambda rnd=rnd: w.disputes.challenge_availability(
                ch, w.task_id, rnd, Target.MODEL, None, 0
            ),
        )
        expect(w, "DisputeNoAggregate", _prove_model_call(w, p, 0, rnd))
    w.finalize()
    assert w.round() == 2
    expect(w, "DisputeNoAggregate", lambda: w.disputes.challenge_sum(ch, w.task_id, 1, 0))
    expect(w, "DisputeNoAggregate", _prove_model_call(w, p, 0, 1))
    op = w.openings(1)
    m = w.members[1].address
    tree = w.rounds[1].trees[m]
    expect(
        w,
        "DisputeCommitmentMismatch",  # round 2 is open: the round-1 commitment is not current
        lambda: w.disputes.prove_norm_lie(
            ch, w.task_id, 2, op[m], 0, tree.chunk(0), tree.sums[0], tree.proof(0)
        ),
    )
    expect(
        w,
        "DisputeNoAggregate",
        lambda: w.disputes.prove_norm_lie(
            ch, w.task_id, 1, op[m], 0, tree.chunk(0), tree.sums[0], tree.proof(0)
        ),
    )


# ---------------------------------------------------------------- malformed arguments


def test_unknown_chunks_and_malformed_chunks_and_proofs() -> None:
    w, p = _posted()
    ch, agg = w.outsiders[0], w.members[0]
    m = w.num_chunks
    leaves = 1 << p.agg_tree.depth  # availability may also name a padding leaf (m .. leaves-1)
    for bad in (m, m + 1, 2**32):
        expect(
            w,
            "DisputeChunkOutOfRange",
            lambda bad=bad: w.disputes.challenge_sum(ch, w.task_id, 1, bad),
        )
    for bad in (leaves, leaves + 1, 2**32):
        expect(
            w,
            "DisputeChunkOutOfRange",
            lambda bad=bad: w.disputes.challenge_availability(
                ch, w.task_id, 1, Target.AGGREGATE, None, bad
            ),
        )
    g, a, mo = w.global_tree, p.agg_tree, p.model_tree
    expect(
        w,
        "DisputeChunkOutOfRange",
        lambda: w.disputes.prove_model(
            ch,
            w.task_id,
            1,
            m,
            g.chunk(0),
            g.proof(0),
            a.chunk(0),
            a.proof(0),
            mo.chunk(0),
            mo.proof(0),
        ),
    )
    last = m - 1
    gid = w.disputes.challenge_sum(ch, w.task_id, 1, last)
    chunk, proof = a.chunk(last), a.proof(last)
    expect(
        w,
        "DisputeBadProofLength",
        lambda: w.disputes.open_aggregate_chunk(agg, gid, chunk, proof[:-1]),
        gid,
    )
    expect(
        w,
        "DisputeBadProofLength",
        lambda: w.disputes.open_aggregate_chunk(agg, gid, chunk, [*proof, proof[0]]),
        gid,
    )
    expect(
        w,
        "DisputeBadChunkLength",
        lambda: w.disputes.open_aggregate_chunk(agg, gid, chunk[:-8], proof),
        gid,
    )
    expect(
        w,
        "DisputeBadChunkLength",
        lambda: w.disputes.open_aggregate_chunk(agg, gid, a.chunk(0), proof),
        gid,
    )
    # A valid opening of another chunk, or of the model, does not open this one.
    expect(
        w,
        "DisputeOpeningInvalid",
        lambda: w.disputes.open_aggregate_chunk(agg, gid, mo.chunk(last), mo.proof(last)),
        gid,
    )
    expect(
        w,
        "DisputeOpeningInvalid",
        lambda: w.disputes.open_aggregate_chunk(agg, gid, chunk, [(proof[0][0], 1), *proof[1:]]),
        gid,
    )
    w.disputes.open_aggregate_chunk(agg, gid, chunk, proof)
    assert w.disputes.game(gid).state == GameState.AWAIT_DEFENDER
    n = w.chunk_len(last)
    expect(w, "DisputeBadChunkLength", lambda: w.disputes.defend(agg, gid, bytes(8 * n + 8)), gid)
    expect(w, "DisputeBadChunkLength", lambda: w.disputes.defend(agg, gid, bytes(8 * n - 8)), gid)
    expect(w, "DisputeBadChunkLength", lambda: w.disputes.defend(agg, gid, b""), gid)


def test_openings_for_the_wrong_member() -> None:
    w, p = _posted()
    ch = w.outsiders[0]
    op = w.openings(1)
    m2, m3 = w.members[2].address, w.members[3].address
    t2, t3 = w.rounds[1].trees[m2], w.rounds[1].trees[m3]
    gid = w.disputes.challenge_availability(ch, w.task_id, 1, Target.UPDATE, m2, 1)
    answer = w.disputes.answer_availability
    expect(
        w,
        "DisputeCommitmentMismatch",
        lambda: answer(ch, gid, t3.chunk(1), t3.sums[1], t3.proof(1), op[m3]),
        gid,
    )
    expect(
        w,
        "DisputeOpeningInvalid",
        lambda: answer(ch, gid, t3.chunk(1), t3.sums[1], t3.proof(1), op[m2]),
        gid,
    )
    expect(
        w,
        "DisputeOpeningInvalid",
        lambda: answer(ch, gid, t2.chunk(1), t2.sums[1] + 1, t2.proof(1), op[m2]),
        gid,
    )
    forged = type(op[m2])(m2, op[m2].root, op[m2].sum_sq + 1, op[m2].index)
    expect(
        w,
        "DisputeCommitmentMismatch",
        lambda: answer(ch, gid, t2.chunk(1), t2.sums[1], t2.proof(1), forged),
        gid,
    )
    moved = type(op[m2])(m2, op[m2].root, op[m2].sum_sq, op[m2].index + 1)
    expect(
        w,
        "DisputeCommitmentMismatch",
        lambda: answer(ch, gid, t2.chunk(1), t2.sums[1], t2.proof(1), moved),
        gid,
    )
    expect(
        w,
        "DisputeBadChunkLength",
        lambda: answer(ch, gid, t2.chunk(2), t2.sums[1], t2.proof(1), op[m2]),
        gid,
    )
    # Norm-lie and copy proofs about an honest member, with someone else's opening.
    expect(
        w,
        "DisputeOpeningInvalid",
        lambda: w.disputes.prove_norm_lie(
            ch, w.task_id, 1, op[m2], 0, t3.chunk(0), t3.sums[0], t3.proof(0)
        ),
    )
    expect(
        w,
        "DisputeOpeningInvalid",
        lambda: w.disputes.prove_copy(
            ch, w.task_id, 1, op[m2], m3, 0, t3.chunk(0), t3.sums[0], t3.proof(0)
        ),
    )
    expect(
        w,
        "DisputeNoFault",
        lambda: w.disputes.prove_copy(
            ch, w.task_id, 1, op[m2], m2, 0, t2.chunk(0), t2.sums[0], t2.proof(0)
        ),
    )
    # An update availability challenge of someone who is not in the aggregate.
    expect(
        w,
        "DisputeNotIncluded",
        lambda: w.disputes.challenge_availability(
            ch, w.task_id, 1, Target.UPDATE, w.outsiders[1].address, 0
        ),
    )
    del p


def test_prove_step_with_wrong_sums_or_the_wrong_member() -> None:
    w, p = _posted()
    ch, agg = w.outsiders[0], w.members[0]
    c = 0
    gid = w.disputes.challenge_sum(ch, w.task_id, 1, c)
    p_lo, p_hi = w.play_sum_game(gid, ch, p, 1)
    g = w.disputes.game(gid)
    assert g.state == GameState.AWAIT_PROOF
    tree_of = w.rounds[1].trees
    right = w.opening_at(1, g.hi)
    other = w.opening_at(1, g.lo)
    t_right, t_other = tree_of[right.member], tree_of[other.member]

    def step(lo: bytes, hi: bytes, op: Any, tree: Any) -> Callable[[], object]:
        return lambda: w.disputes.prove_step(
            ch, gid, lo, hi, op, tree.chunk(c), tree.sums[c], tree.proof(c)
        )

    flipped = bytearray(p_hi)
    flipped[-1] ^= 1
    expect(w, "DisputeHashMismatch", step(p_lo, bytes(flipped), right, t_right), gid)
    expect(w, "DisputeHashMismatch", step(p_hi, p_lo, right, t_right), gid)
    expect(w, "DisputeCommitmentMismatch", step(p_lo, p_hi, other, t_other), gid)
    expect(w, "DisputeOpeningInvalid", step(p_lo, p_hi, right, t_other), gid)
    expect(w, "DisputeNoFault", step(p_lo, p_hi, right, t_right), gid)
    # The wrong side, the wrong state.
    expect(w, "DisputeWrongState", lambda: w.disputes.bisect(ch, gid, True), gid)
    expect(w, "DisputeWrongState", lambda: w.disputes.defend(agg, gid, p_lo), gid)
    del p


# ---------------------------------------------------------------- who, when, twice


def test_a_second_challenge_of_the_same_chunk_by_the_same_challenger_is_refused() -> None:
    w, p = _posted()
    x, y = w.outsiders[0], w.outsiders[1]
    gid = w.disputes.challenge_sum(x, w.task_id, 1, 1)
    expect(w, "DisputeAlreadyChallenged", lambda: w.disputes.challenge_sum(x, w.task_id, 1, 1), gid)
    aid = w.disputes.challenge_availability(x, w.task_id, 1, Target.MODEL, None, 1)
    expect(
        w,
        "DisputeAlreadyChallenged",
        lambda: w.disputes.challenge_availability(x, w.task_id, 1, Target.MODEL, None, 1),
        gid,
        aid,
    )
    # Nobody can keep anyone else from asking (a sock puppet that challenges first and plays
    # to lose would otherwise shield a wrong chunk): another challenger may ask the same.
    gy = w.disputes.challenge_sum(y, w.task_id, 1, 1)
    w.disputes.challenge_availability(y, w.task_id, 1, Target.MODEL, None, 1)
    # Other chunks, other targets are fine.
    w.disputes.challenge_availability(x, w.task_id, 1, Target.AGGREGATE, None, 1)
    w.disputes.challenge_sum(x, w.task_id, 1, 2)
    assert w.task().open_challenges == 6
    w.assert_identity()
    # Both games on chunk 1 are answered by the same opening.
    for g in (gid, gy):
        w.disputes.open_aggregate_chunk(p.aggregator, g, p.agg_tree.chunk(1), p.agg_tree.proof(1))
    w.assert_identity()


def test_a_challenger_without_allowance_or_balance_gets_the_token_error() -> None:
    w, _ = _posted()
    # The sponsor holds tokens, but its allowance to the coordinator went into the pool.
    expect(
        w,
        "ERC20InsufficientAllowance",
        lambda: w.disputes.challenge_sum(w.sponsor, w.task_id, 1, 0),
    )
    poor = derive_account_for_test(w, "poor")
    w.token.approve(poor, w.coord.address, 2**255)
    expect(w, "ERC20InsufficientBalance", lambda: w.disputes.challenge_sum(poor, w.task_id, 1, 0))
    # After either failure the chunk is still free to challenge.
    w.disputes.challenge_sum(w.outsiders[0], w.task_id, 1, 0)
    w.assert_identity()


def test_moves_by_the_wrong_side_after_the_deadline_and_early_timeouts() -> None:
    w, p = _posted()
    ch, agg, other = w.outsiders[0], w.members[0], w.members[1]
    c = 0
    gid = w.disputes.challenge_sum(ch, w.task_id, 1, c)
    chunk, proof = p.agg_tree.chunk(c), p.agg_tree.proof(c)
    for who in (ch, other):
        expect(
            w,
            "DisputeNotYourMove",
            lambda who=who: w.disputes.open_aggregate_chunk(who, gid, chunk, proof),
            gid,
        )
    expect(w, "DisputeWrongState", lambda: w.disputes.bisect(ch, gid, True), gid)
    expect(w, "DisputeDeadlineNotPassed", lambda: w.disputes.timeout(ch, gid), gid)
    w.disputes.open_aggregate_chunk(agg, gid, chunk, proof)
    g = w.disputes.game(gid)
    truth = w.running_sums(1, c, p.included)
    expect(w, "DisputeNotYourMove", lambda: w.disputes.defend(ch, gid, wide(truth[g.query])), gid)
    expect(w, "DisputeDeadlineNotPassed", lambda: w.disputes.timeout(agg, gid), gid)
    w.disputes.defend(agg, gid, wide(truth[g.query]))
    expect(w, "DisputeNotYourMove", lambda: w.disputes.bisect(agg, gid, True), gid)
    expect(w, "DisputeNotYourMove", lambda: w.disputes.bisect(other, gid, True), gid)
    expect(w, "DisputeDeadlineNotPassed", lambda: w.disputes.timeout(ch, gid), gid)
    w.travel_past(w.disputes.game(gid).deadline)
    expect(w, "DisputeDeadlinePassed", lambda: w.disputes.bisect(ch, gid, True), gid)
    w.disputes.timeout(other, gid)
    assert w.disputes.game(gid).state == GameState.RESOLVED
    expect(w, "DisputeWrongState", lambda: w.disputes.timeout(other, gid), gid)
    expect(w, "DisputeWrongState", lambda: w.disputes.bisect(ch, gid, True), gid)


def test_late_opening_late_answer_and_late_proof() -> None:
    w, p = _posted()
    ch, agg = w.outsiders[0], w.members[0]
    gid = w.disputes.challenge_sum(ch, w.task_id, 1, 0)
    aid = w.disputes.challenge_availability(ch, w.task_id, 1, Target.AGGREGATE, None, 1)
    w.travel_past(w.disputes.game(gid).deadline)
    expect(
        w,
        "DisputeDeadlinePassed",
        lambda: w.disputes.open_aggregate_chunk(agg, gid, p.agg_tree.chunk(0), p.agg_tree.proof(0)),
        gid,
    )
    expect(
        w,
        "DisputeDeadlinePassed",
        lambda: w.disputes.answer_availability(
            agg, aid, p.agg_tree.chunk(1), 0, p.agg_tree.proof(1)
        ),
        aid,
    )


def test_a_late_step_proof_is_refused() -> None:
    w = World()
    w.commit_all(1)
    w.travel_past_commit()
    e = 5

    def tamper(agg: Any) -> Any:
        agg[e] += 1
        return agg

    p = w.post(w.members[0], 1, tamper_aggregate=tamper)
    ch = w.outsiders[0]
    gid = w.disputes.challenge_sum(ch, w.task_id, 1, 0)
    p_lo, p_hi = w.play_sum_game(gid, ch, p, 1)
    w.travel_past(w.disputes.game(gid).deadline)
    expect(w, "DisputeDeadlinePassed", lambda: w.prove_step(ch, gid, 1, p_lo, p_hi), gid)
    # The challenger missed its own deadline: it loses, the wrong aggregate is not refuted here.
    w.disputes.timeout(ch, gid)
    assert w.coord.voided(w.task_id) == []
    w.assert_identity()


def test_the_coordinator_hooks_refuse_everyone_but_the_dispute_game() -> None:
    w, _ = _posted()
    ch = w.outsiders[0]
    f = w.coord.contract.functions
    calls = {
        "lock": f.lockChallengeBond(w.task_id, 1, ch.address),
        "settle": f.settleChallenge(w.task_id, 1, 0, ch.address, 0, 0),
        "void": f.voidAggregate(w.task_id, 1, 0, 0, ch.address),
        "slash": f.slashMember(w.task_id, 1, w.members[1].address, 5, ch.address),
    }
    for name, call in calls.items():
        expect(
            w,
            "CoordinatorNotDisputeGame",
            lambda call=call, name=name: w.tx.send(ch, call, gas=500_000, operation=name),
        )


def test_an_unknown_game_id_reverts_with_dispute_unknown_game() -> None:
    """IRoundDisputes declares DisputeUnknownGame ("No game with this id") but RoundDisputes never
    raises it: every move on an unknown id reverts DisputeWrongState(id, None) instead."""
    w, _ = _posted()
    expect(w, "DisputeUnknownGame", lambda: w.disputes.timeout(w.outsiders[0], 999))

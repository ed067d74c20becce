"""Random sequences of task and dispute calls, reverting ones included: after every step the
coordinator holds exactly what it accounts for (pool + members' stake, claimable and pending
rewards + challenge bonds held), no call panics or runs out of gas, and every game is either
resolved or still waiting on a move.

One chain per process: each example reverts it to the started task (see dispute_world)."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np
from dispute_world import World, WorldSpec, wide
from hypothesis import HealthCheck, seed, settings
from hypothesis import Phase as HPhase
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from fedchain.chain import ContractRevert, ExclusionReason, GameState, Phase, Target

SPEC = WorldSpec(num_rounds=3, n_outsiders=3, seed="dispute-stateful")
N_ACCOUNTS = SPEC.n_members + SPEC.n_outsiders
TIME_STEPS = [1, 200, 650, 3700]


class DisputeMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.w = World(SPEC)
        self.accounts = [*self.w.members, *self.w.outsiders]
        self.models: dict[bytes, np.ndarray] = {self.w.global_tree.root: self.w.global_model.copy()}
        self.games: list[int] = []
        self.reverts: Counter[str] = Counter()
        self.phase = Phase.COMMIT
        self.open_games: list[int] = []

    # ------------------------------------------------------------ plumbing
    def _try(self, fn: Any) -> Any:
        try:
            return fn()
        except ContractRevert as exc:
            assert exc.error != "Panic", f"a call panicked: {exc}"
            self.reverts[exc.error] += 1
            return None

    def _sync_model(self) -> None:
        root = self.w.task().global_model_root
        assert root in self.models, "the global model is none that was posted"
        self.w.global_model = self.models[root].copy()
        from dispute_world import model_tree

        self.w.global_tree = model_tree(self.w.global_model, self.w.k)

    def _posted(self, rnd: int, epoch: int) -> Any:
        posts = self.w.posted.get(rnd, [])
        return posts[epoch] if epoch < len(posts) else None

    # ------------------------------------------------------------ task calls
    @rule(who=st.integers(0, N_ACCOUNTS - 1), lie=st.booleans(), ahead=st.booleans())
    def commit(self, who: int, lie: bool, ahead: bool) -> None:
        a = self.accounts[who]
        rnd = self.w.round() + (1 if ahead else 0)
        v = self.w.random_update()
        sums = None
        if lie:
            from fedchain.codec.blob import BlobKind
            from fedchain.codec.merkle import chunk_sums

            sums = chunk_sums(BlobKind.UPDATE, v, chunk_elems=self.w.k)
            sums[0] = max(sums[0] - 12345, 0)
        self._try(lambda: self.w.commit(a, rnd, v, sums=sums))

    @rule(who=st.integers(0, N_ACCOUNTS - 1), wrong=st.booleans(), exclude=st.booleans())
    def post(self, who: int, wrong: bool, exclude: bool) -> None:
        rnd = self.w.round()
        if rnd not in self.w.rounds:
            return
        self._sync_model()
        excluded = {}
        inc = self.w.default_included(rnd)
        if exclude and len(inc) > 1:
            excluded = {inc[-1]: ExclusionReason.UNAVAILABLE}
        if not inc:
            return  # nothing to aggregate (a post would revert on the count anyway)

        def tamper(agg: np.ndarray) -> np.ndarray:
            agg[int(self.w.rng.integers(0, self.w.d))] += 1
            return agg

        p = self._try(
            lambda: self.w.post(
                self.accounts[who],
                rnd,
                excluded=excluded,
                tamper_aggregate=tamper if wrong else None,
            )
        )
        if p is not None:
            self.models[p.model_tree.root] = p.model.copy()

    @initialize(wrong=st.booleans(), chunk=st.integers(0, 2), who=st.integers(5, N_ACCOUNTS - 1))
    def first_round(self, wrong: bool, chunk: int, who: int) -> None:
        """Start every example with a posted aggregate under a sum challenge."""
        self.run_round(wrong)
        self.challenge_sum(who, chunk)

    @rule(wrong=st.booleans())
    def run_round(self, wrong: bool) -> None:
        """Everyone commits, the commit window passes, member 0 posts."""
        rnd = self.w.round()
        for a in self.w.members:
            self._try(lambda a=a: self.w.commit(a, rnd))
        self.w.travel_past_deadline()
        self.post(0, wrong, False)

    @rule(who=st.integers(0, N_ACCOUNTS - 1))
    def join(self, who: int) -> None:
        self._try(lambda: self.w.coord.join(self.accounts[who], self.w.task_id, 10))

    @rule(who=st.integers(0, N_ACCOUNTS - 1))
    def leave(self, who: int) -> None:
        self._try(lambda: self.w.coord.leave_task(self.accounts[who], self.w.task_id))

    @rule(who=st.integers(0, N_ACCOUNTS - 1))
    def claim(self, who: int) -> None:
        self._try(lambda: self.w.coord.claim(self.accounts[who], self.w.task_id))

    @rule()
    def advance(self) -> None:
        self._try(lambda: self.w.coord.advance(self.w.sponsor, self.w.task_id))

    @rule(seconds=st.sampled_from(TIME_STEPS))
    def advance_time(self, seconds: int) -> None:
        self.w.chain.advance_time(seconds)

    # ------------------------------------------------------------ disputes
    @precondition(lambda self: self.phase == Phase.CHALLENGE)
    @rule(who=st.integers(0, N_ACCOUNTS - 1), chunk=st.integers(0, 3))
    def challenge_sum(self, who: int, chunk: int) -> None:
        gid = self._try(
            lambda: self.w.disputes.challenge_sum(
                self.accounts[who], self.w.task_id, self.w.round(), chunk
            )
        )
        if gid is not None:
            self.games.append(gid)

    @precondition(lambda self: self.phase == Phase.CHALLENGE)
    @rule(
        who=st.integers(0, N_ACCOUNTS - 1),
        kind=st.sampled_from(list(Target)),
        member=st.integers(0, N_ACCOUNTS - 1),
        chunk=st.integers(0, 2),
    )
    def challenge_availability(self, who: int, kind: Target, member: int, chunk: int) -> None:
        m = self.accounts[member].address if kind == Target.UPDATE else None
        gid = self._try(
            lambda: self.w.disputes.challenge_availability(
                self.accounts[who], self.w.task_id, self.w.round(), kind, m, chunk
            )
        )
        if gid is not None:
            self.games.append(gid)

    @precondition(lambda self: bool(self.open_games))
    @rule(data=st.data(), honest=st.booleans())
    def move(self, data: st.DataObject, honest: bool) -> None:
        """The next move of a game, by the side whose move it is (honest or not)."""
        if not self.games:
            return
        gid = data.draw(st.sampled_from(self.open_games))
        w = self.w
        g = w.disputes.game(gid)
        p = self._posted(g.round, g.epoch)
        if p is None or g.round not in w.rounds:
            return
        c = g.chunk
        ch = next(a for a in self.accounts + [w.sponsor] if a.address == g.challenger)
        if g.state == GameState.AWAIT_ANSWER:
            if g.target == Target.UPDATE:
                tree = w.rounds[g.round].trees.get(g.member)
                if tree is None:
                    return
                op = w.openings(g.round).get(g.member)
                self._try(
                    lambda: w.disputes.answer_availability(
                        ch, gid, tree.chunk(c), tree.sums[c], tree.proof(c), op
                    )
                )
            else:
                tree = p.agg_tree if g.target == Target.AGGREGATE else p.model_tree
                self._try(
                    lambda: w.disputes.answer_availability(ch, gid, tree.chunk(c), 0, tree.proof(c))
                )
            return
        truth = w.running_sums(g.round, c, p.included)
        if g.state == GameState.AWAIT_AGGREGATE:
            self._try(
                lambda: w.disputes.open_aggregate_chunk(
                    p.aggregator, gid, p.agg_tree.chunk(c), p.agg_tree.proof(c)
                )
            )
        elif g.state == GameState.AWAIT_DEFENDER:
            value = truth[g.query].copy()
            if not honest:
                value[0] += 1
            self._try(lambda: w.disputes.defend(p.aggregator, gid, wide(value)))
        elif g.state == GameState.AWAIT_CHALLENGER:
            stated = w.disputes.openings(gid).get(g.query)
            agree = stated == wide(truth[g.query]) if honest else data.draw(st.booleans())
            self._try(lambda: w.disputes.bisect(ch, gid, agree))
        elif g.state == GameState.AWAIT_PROOF:
            opened = w.disputes.openings(gid)
            p_lo = bytes(8 * w.chunk_len(c)) if g.lo == 0 else opened.get(g.lo)
            p_hi = opened.get(g.hi)
            if p_lo is None or p_hi is None:
                return
            self._try(lambda: w.prove_step(ch, gid, g.round, p_lo, p_hi))

    @precondition(lambda self: bool(self.open_games))
    @rule(data=st.data(), honest=st.lists(st.booleans(), min_size=1, max_size=6))
    def play(self, data: st.DataObject, honest: list[bool]) -> None:
        """Several moves in a row (a whole game, often)."""
        for h in honest:
            self.move(data, h)

    @precondition(lambda self: bool(self.open_games))
    @rule(data=st.data())
    def timeout(self, data: st.DataObject) -> None:
        if self.games:
            gid = data.draw(st.sampled_from(self.open_games))
            self._try(lambda: self.w.disputes.timeout(self.w.sponsor, gid))

    @rule(who=st.integers(0, N_ACCOUNTS - 1), chunk=st.integers(0, 2))
    def prove_norm_lie(self, who: int, chunk: int) -> None:
        w = self.w
        rnd = w.round()
        a = self.accounts[who].address
        tree = w.rounds.get(rnd, None) and w.rounds[rnd].trees.get(a)
        op = w.openings(rnd).get(a)
        if not tree or op is None or op.root != tree.root:
            return
        self._try(
            lambda: w.disputes.prove_norm_lie(
                w.outsiders[0],
                w.task_id,
                rnd,
                op,
                chunk,
                tree.chunk(chunk),
                tree.sums[chunk],
                tree.proof(chunk),
            )
        )

    @precondition(lambda self: self.phase == Phase.CHALLENGE)
    @rule(chunk=st.integers(0, 2))
    def prove_model(self, chunk: int) -> None:
        w = self.w
        t = w.task()
        if t.phase != Phase.CHALLENGE:
            return
        p = self._posted(t.round, t.epoch)
        g = w.global_tree
        self._sync_model()
        g = w.global_tree
        if p is None:
            return
        self._try(
            lambda: w.disputes.prove_model(
                w.outsiders[1], w.task_id, t.round, chunk, g.chunk(chunk), g.proof(chunk),
                p.agg_tree.chunk(chunk), p.agg_tree.proof(chunk),
                p.model_tree.chunk(chunk), p.model_tree.proof(chunk),
            )
        )  # fmt: skip

    def teardown(self) -> None:
        if os.environ.get("DISPUTE_STATS"):
            outcomes = Counter(o.name for o in self.w.disputes.resolutions().values())
            print(
                "\nreverts", dict(self.reverts), "outcomes", dict(outcomes),
                "voided", len(self.w.coord.voided(self.w.task_id)),
                "slashes", len(self.w.coord.slashes(self.w.task_id)), "round", self.w.round(),
            )  # fmt: skip

    # ------------------------------------------------------------ invariants
    @invariant()
    def tokens_are_accounted_for(self) -> None:
        self.w.assert_identity()

    @invariant()
    def bonds_held_match_the_unresolved_games(self) -> None:
        t = self.w.task()
        # Every bond still held belongs to a game not yet resolved (stale ones included).
        self.open_games = [
            gid for gid in self.games if self.w.disputes.game(gid).state != GameState.RESOLVED
        ]
        self.phase = t.phase
        unresolved = len(self.open_games)
        assert t.challenge_bonds_held == unresolved * t.challenge_bond
        assert t.open_challenges <= unresolved


DisputeMachine.TestCase.settings = settings(
    max_examples=4,
    stateful_step_count=12,
    deadline=None,
    derandomize=False,
    database=None,
    phases=[HPhase.explicit, HPhase.reuse, HPhase.generate],  # no shrinking: keep CI fast
    suppress_health_check=list(HealthCheck),
)
TestDisputeConservation = seed(20251201)(DisputeMachine.TestCase)

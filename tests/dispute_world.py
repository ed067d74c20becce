"""A self-contained world for the dispute-game tests, built from ``fedchain.chain`` directly.

One plaintext task with ``n`` members on the embedded chain. Building the chain, deploying and
starting the task is done once per parameter set; every test (and every hypothesis example)
then reverts the chain to that snapshot and gets fresh clients (the clients cache nonces,
views and events by block number, which a revert invalidates).

The world keeps every vector it made (updates, aggregates, models) so that tests can play
any side of a game: honest running sums, lies, openings and proofs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from eth_account.signers.local import LocalAccount

from fedchain.aggregation.fedavg import apply_aggregate
from fedchain.chain import (
    CommitOpening,
    ContractRevert,
    CoordinatorClient,
    DisputeClient,
    EmbeddedChain,
    GameState,
    TaskInfo,
    TaskParams,
    TokenClient,
    Transactor,
    deploy,
    derive_account,
)
from fedchain.codec.blob import BlobKind, encode_vector_blob
from fedchain.codec.merkle import ZERO_OWNER, MerkleSumTree

FRAC_BITS = 20
STAKE = 10**18
AGG_BOND = 10**17
CHALLENGE_BOND = 10**16
REWARD = 10**19
SUPPLY = 10**27
MEMBER_TOKENS = 10 * STAKE
CHALLENGER_TOKENS = 100 * CHALLENGE_BOND
ETH = 10**21


@dataclass(frozen=True)
class WorldSpec:
    """What a world is made of (a cache key: one chain and snapshot per spec)."""

    n_members: int = 5
    n_outsiders: int = 3  # challengers / late joiners, funded with tokens but not members
    d: int = 600
    k: int = 256
    num_rounds: int = 2
    min_participants: int = 3
    commit_duration: int = 3600
    aggregate_duration: int = 3600
    challenge_duration: int = 600
    response_duration: int = 600
    seed: str = "dispute-world"


@dataclass
class RoundData:
    """What the world knows of one round: every committed vector and tree, in commit order."""

    updates: dict[str, np.ndarray] = field(default_factory=dict)  # address -> int32 vector
    trees: dict[str, MerkleSumTree] = field(default_factory=dict)  # address -> its tree
    order: list[str] = field(default_factory=list)  # commit order (index = position + 1)


@dataclass
class Posted:
    """One posted aggregate: its vectors, trees, and the set it claims to sum."""

    aggregator: LocalAccount
    aggregate: np.ndarray  # int64, what was posted (possibly wrong)
    model: np.ndarray  # int64, what was posted (possibly wrong)
    agg_tree: MerkleSumTree
    model_tree: MerkleSumTree
    included: list[str]  # addresses counted (commit order)
    weight: int  # included weight


class _Base:
    """A built chain with the contracts deployed and the task started, plus its snapshot."""

    def __init__(self, spec: WorldSpec) -> None:
        self.spec = spec
        self.chain = EmbeddedChain()
        tx = Transactor(self.chain)
        self.sponsor = derive_account(spec.seed, 0)
        self.members = [derive_account(spec.seed, 1 + i) for i in range(spec.n_members)]
        self.outsiders = [derive_account(spec.seed, 100 + i) for i in range(spec.n_outsiders)]
        for a in [self.sponsor, *self.members, *self.outsiders]:
            self.chain.fund(a.address, ETH)
        self.dep = deploy(tx, self.sponsor, supply=SUPPLY)
        token = TokenClient(tx, self.dep.token)
        coord = CoordinatorClient(tx, self.dep.coordinator, from_block=self.dep.deploy_block)
        rng = np.random.default_rng(7)
        self.global_model = rng.integers(-(2**24), 2**24, size=spec.d).astype(np.int64)
        self.global_tree = model_tree(self.global_model, spec.k)
        self.params = TaskParams(
            initial_model_root=self.global_tree.root,
            config_digest=b"\x11" * 32,
            stake_amount=STAKE,
            aggregator_bond=AGG_BOND,
            reward_per_round=REWARD,
            num_rounds=spec.num_rounds,
            min_participants=spec.min_participants,
            num_parameters=spec.d,
            chunk_elems=spec.k,
            norm_bound=2**100,
            challenge_bond=CHALLENGE_BOND,
            commit_duration=spec.commit_duration,
            aggregate_duration=spec.aggregate_duration,
            challenge_duration=spec.challenge_duration,
            response_duration=spec.response_duration,
            weight_cap_pct=0,
        )
        token.approve(self.sponsor, coord.address, REWARD * spec.num_rounds)
        self.task_id = coord.create_task(self.sponsor, self.params)
        for m in self.members:
            token.transfer(self.sponsor, m.address, MEMBER_TOKENS)
            token.approve(m, coord.address, 2**255)
            coord.join(m, self.task_id, 10)
        for o in self.outsiders:
            token.transfer(self.sponsor, o.address, CHALLENGER_TOKENS + MEMBER_TOKENS)
            # Challengers approve the coordinator (which pulls challenge bonds and stakes).
            token.approve(o, coord.address, 2**255)
        coord.start_task(self.sponsor, self.task_id, 10)
        self.snapshot = self.chain.tester.take_snapshot()


_BASES: dict[WorldSpec, _Base] = {}


def model_tree(model: np.ndarray, k: int) -> MerkleSumTree:
    blob = encode_vector_blob(BlobKind.MODEL, model.astype(np.int64), frac_bits=FRAC_BITS)
    return MerkleSumTree(blob, chunk_elems=k, owner=ZERO_OWNER)


def aggregate_tree(aggregate: np.ndarray, k: int) -> MerkleSumTree:
    blob = encode_vector_blob(BlobKind.AGGREGATE, aggregate.astype(np.int64), frac_bits=FRAC_BITS)
    return MerkleSumTree(blob, chunk_elems=k, owner=ZERO_OWNER)


def update_tree(
    v: np.ndarray, k: int, owner: str, sums: Sequence[int] | None = None
) -> MerkleSumTree:
    blob = encode_vector_blob(BlobKind.UPDATE, v.astype(np.int32), frac_bits=FRAC_BITS)
    return MerkleSumTree(blob, chunk_elems=k, owner=owner, sums=sums)


def wide(v: np.ndarray) -> bytes:
    """A chunk of int64s as the contract reads it (big-endian)."""
    return np.asarray(v, dtype=np.int64).astype(">i8").tobytes()


class World:
    """A fresh view of the task at its snapshot: clients, accounts, and the round records."""

    def __init__(self, spec: WorldSpec | None = None) -> None:
        spec = spec or WorldSpec()
        base = _BASES.get(spec)
        if base is None:
            base = _BASES[spec] = _Base(spec)
        base.chain.tester.revert_to_snapshot(base.snapshot)
        base.chain._clock_block = -1  # the clock cache is keyed by block number
        self.spec = spec
        self.base = base
        self.chain = base.chain
        self.tx = Transactor(self.chain)
        self.dep = base.dep
        self.token = TokenClient(self.tx, self.dep.token)
        self.coord = CoordinatorClient(
            self.tx, self.dep.coordinator, from_block=self.dep.deploy_block
        )
        self.disputes = DisputeClient(self.tx, self.dep.disputes, from_block=self.dep.deploy_block)
        self.sponsor = base.sponsor
        self.members = list(base.members)
        self.outsiders = list(base.outsiders)
        self.task_id = base.task_id
        self.params = base.params
        self.d = spec.d
        self.k = spec.k
        self.num_chunks = -(-spec.d // spec.k)
        self.global_model = base.global_model.copy()
        self.global_tree = base.global_tree
        self.rounds: dict[int, RoundData] = {}
        self.posted: dict[int, list[Posted]] = {}
        self.rng = np.random.default_rng(11)
        self._weights: dict[str, int] | None = None

    # ------------------------------------------------------------ reading
    def task(self) -> TaskInfo:
        return self.coord.get_task(self.task_id)

    def round(self) -> int:
        return self.task().round

    def chunk_len(self, c: int) -> int:
        return min(self.k, self.d - c * self.k)

    def chunk_slice(self, c: int) -> slice:
        return slice(c * self.k, c * self.k + self.chunk_len(c))

    def balance(self, who: LocalAccount | str) -> int:
        return self.token.balance_of(who if isinstance(who, str) else who.address)

    def member(self, who: LocalAccount | str) -> Any:
        return self.coord.get_member(self.task_id, who if isinstance(who, str) else who.address)

    def identity(self) -> tuple[int, int]:
        """(balance of the coordinator, Σ pool + Σ members' stake+claimable+pending + bonds held)."""
        t = self.task()
        total = t.pool + t.challenge_bonds_held
        for a in self.coord.members(self.task_id):
            m = self.coord.get_member(self.task_id, a)
            total += m.stake + m.claimable + m.pending
        return self.token.balance_of(self.coord.address), total

    def assert_identity(self) -> None:
        held, accounted = self.identity()
        assert held == accounted, f"coordinator holds {held}, accounts for {accounted}"

    def openings(self, rnd: int) -> dict[str, CommitOpening]:
        return {u.participant: u.opening() for u in self.coord.updates(self.task_id, rnd)}

    def opening_at(self, rnd: int, index: int) -> CommitOpening:
        (u,) = [u for u in self.coord.updates(self.task_id, rnd) if u.commit_index == index]
        return u.opening()

    def weights(self) -> dict[str, int]:
        """Every member's weight (fixed at join, so read once per set of members)."""
        members = self.coord.members(self.task_id)
        if self._weights is None or set(self._weights) != set(members):
            self._weights = {a: self.coord.get_member(self.task_id, a).weight for a in members}
        return self._weights

    # ------------------------------------------------------------ clock
    def travel_past(self, deadline: int) -> None:
        """Move the clock so that the next transaction runs at or after ``deadline``."""
        self.chain.advance_time(max(deadline - self.chain.now(), 0) + 1)

    def travel_past_deadline(self) -> None:
        """Past the stored deadline of the round's phase (commit or challenge window)."""
        self.travel_past(self.task().deadline)

    travel_past_commit = travel_past_deadline
    travel_past_challenge = travel_past_deadline

    # ------------------------------------------------------------ members
    def random_update(self, scale: int = 2**12) -> np.ndarray:
        return self.rng.integers(-scale, scale, size=self.d).astype(np.int32)

    def commit(
        self,
        member: LocalAccount,
        rnd: int,
        v: np.ndarray | None = None,
        *,
        sums: Sequence[int] | None = None,
        root_of: LocalAccount | None = None,
        sum_sq: int | None = None,
    ) -> MerkleSumTree:
        """Commit ``member``'s update (random if not given). ``sums`` declares false chunk sums
        (a norm lie); ``root_of`` commits another member's root and norm (a copy)."""
        data = self.rounds.setdefault(rnd, RoundData())
        if root_of is not None:
            tree = data.trees[root_of.address]
            v = data.updates[root_of.address]
        else:
            v = self.random_update() if v is None else v
            tree = update_tree(v, self.k, member.address, sums)
        self.coord.commit_update(
            member, self.task_id, rnd, tree.root, tree.top_sum if sum_sq is None else sum_sq
        )
        data.updates[member.address] = v
        data.trees[member.address] = tree
        data.order.append(member.address)
        return tree

    def commit_all(self, rnd: int, members: Iterable[LocalAccount] | None = None) -> None:
        for m in self.members if members is None else members:
            self.commit(m, rnd)

    # ------------------------------------------------------------ aggregates
    def honest(self, rnd: int, included: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
        """The true aggregate, model and weight over ``included``."""
        data = self.rounds[rnd]
        w = self.weights()
        agg = np.zeros(self.d, dtype=np.int64)
        for a in included:
            agg += w[a] * data.updates[a].astype(np.int64)
        weight = sum(w[a] for a in included)
        return agg, apply_aggregate(self.global_model, agg, weight), weight

    def default_included(self, rnd: int, excluded: Iterable[str] = ()) -> list[str]:
        """Committed, not excluded, not proven invalid, in commit order."""
        ex = set(excluded)
        return [
            a
            for a in self.rounds[rnd].order
            if a not in ex and not self.coord.get_member(self.task_id, a).flags >> 2 == 63
        ]

    def post(
        self,
        aggregator: LocalAccount,
        rnd: int,
        *,
        excluded: dict[str, Any] | None = None,
        tamper_aggregate: Callable[[np.ndarray], np.ndarray] | None = None,
        tamper_model: Callable[[np.ndarray], np.ndarray] | None = None,
        included: Sequence[str] | None = None,
    ) -> Posted:
        """Post an aggregate over the default included set; the tamper functions make it wrong
        (the model of a tampered aggregate follows the tampered aggregate unless told)."""
        inc = list(included) if included is not None else self.default_included(rnd, excluded or {})
        agg, _, weight = self.honest(rnd, inc)
        if tamper_aggregate is not None:
            agg = tamper_aggregate(agg.copy())
        model = apply_aggregate(self.global_model, agg, weight)
        if tamper_model is not None:
            model = tamper_model(model.copy())
        at, mt = aggregate_tree(agg, self.k), model_tree(model, self.k)
        self.coord.post_aggregate(aggregator, self.task_id, rnd, at.root, mt.root, excluded or {})
        p = Posted(aggregator, agg, model, at, mt, inc, weight)
        self.posted.setdefault(rnd, []).append(p)
        return p

    def finalize(self, caller: LocalAccount | None = None) -> None:
        """Let the challenge window pass and advance (finalizing the round); the world's global
        model follows the last posted one."""
        rnd = self.round()
        self.travel_past_challenge()
        self.coord.advance(caller or self.sponsor, self.task_id)
        self.global_model = self.posted[rnd][-1].model.copy()
        self.global_tree = self.posted[rnd][-1].model_tree

    # ------------------------------------------------------------ sum game
    def running_sums(self, rnd: int, c: int, included: Sequence[str]) -> list[np.ndarray]:
        """The true P_0..P_n of chunk c over the commit order (P_0 = 0)."""
        data = self.rounds[rnd]
        w = self.weights()
        inc = set(included)
        sl = self.chunk_slice(c)
        out = [np.zeros(self.chunk_len(c), dtype=np.int64)]
        for a in data.order:
            step = w[a] * data.updates[a][sl].astype(np.int64) if a in inc else 0
            out.append(out[-1] + step)
        return out

    def play_sum_game(
        self,
        gid: int,
        challenger: LocalAccount,
        posted: Posted,
        rnd: int,
        *,
        stated: Callable[[int], np.ndarray] | None = None,
    ) -> tuple[bytes, bytes]:
        """Play a sum game to AwaitProof: the aggregator opens its chunk and states ``stated(q)``
        (its honest running sums by default); the challenger agrees iff the statement is true.
        Returns (P_lo, P_hi) bytes as the game holds them. Identity checked after every move."""
        g = self.disputes.game(gid)
        c = g.chunk
        truth = self.running_sums(rnd, c, posted.included)
        claimed = stated or (lambda q: truth[q])
        known: dict[int, bytes] = {0: bytes(8 * self.chunk_len(c))}
        self.disputes.open_aggregate_chunk(
            posted.aggregator, gid, posted.agg_tree.chunk(c), posted.agg_tree.proof(c)
        )
        known[g.hi] = posted.agg_tree.chunk(c)
        self.assert_identity()
        while (g := self.disputes.game(gid)).state != GameState.AWAIT_PROOF:
            assert g.state == GameState.AWAIT_DEFENDER, g
            q = g.query
            value = claimed(q)
            known[q] = wide(value)
            self.disputes.defend(posted.aggregator, gid, known[q])
            self.assert_identity()
            self.disputes.bisect(challenger, gid, bool(np.array_equal(value, truth[q])))
            self.assert_identity()
        return known[g.lo], known[g.hi]

    def prove_step(self, who: LocalAccount, gid: int, rnd: int, p_lo: bytes, p_hi: bytes) -> Any:
        g = self.disputes.game(gid)
        opening = self.opening_at(rnd, g.hi)
        tree = self.rounds[rnd].trees[opening.member]
        return self.disputes.prove_step(
            who,
            gid,
            p_lo,
            p_hi,
            opening,
            tree.chunk(g.chunk),
            tree.sums[g.chunk],
            tree.proof(g.chunk),
        )


def derive_account_for_test(w: World, name: str) -> LocalAccount:
    """A new account with ether for gas and no tokens."""
    acct = derive_account(f"{w.spec.seed}:{name}", 0)
    w.chain.fund(acct.address, ETH)
    return acct


def world(**overrides: Any) -> World:
    return World(replace(WorldSpec(), **overrides))


def revert_name(exc: BaseException) -> str:
    assert isinstance(exc, ContractRevert), f"not a contract revert: {exc!r}"
    return exc.error

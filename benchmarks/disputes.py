"""Gas of every dispute step (RoundDisputes) against members n and parameters d, and the happy path.

    python -m benchmarks.disputes            # full run (n 10/100/1000 × d 10³/10⁶/10⁷, k sweep)
    python -m benchmarks.disputes --quick    # n 10/100, d 10³/10⁶, no k sweep

Everything is a real transaction on one ``EmbeddedChain`` (eth-tester + py-evm, Prague rules)
with one ``deploy``; every number is a receipt's gasUsed. One task per (n, d, k), all in round 1:

* Commit order: n − 2 "notional" members, then the copier C, then the real member R (commit
  index n). The contract only ever opens ONE member's tree per step, so only R has a real
  Merkle-sum tree over a d-element UPDATE blob (chunk 0 dense, the rest zero); the notional
  members commit random roots and the benchmark knows their chunk-0 values (random int32 with
  every byte non-zero: the worst case for calldata), which is all the running sums need. C
  commits R's root (a copy, and a duplicate). R commits its true squared norm + 1 (a norm lie).
  Weights are uniform (weight_cap_pct = 0, w = 1).
* The aggregate A (real AGGREGATE tree) is Σ v over all n members in chunk 0, +1 in the chunk's
  LAST element (so every element loop runs to the end: the worst case), zero elsewhere; the
  model M (real MODEL tree) is G + round_half_even(A / n) with its last chunk-0 element +1; G
  (the task's initial model, real MODEL tree) is dense in chunk 0. Chunk 0 is a full chunk and
  every proof has the tree's fixed depth ⌈log2(⌈d/k⌉)⌉.
* Epoch 0, sum game on chunk 0: challenge_sum, open_aggregate_chunk, then ⌈log2 n⌉ × (defend
  with the honest running sum P_q, bisect agree) — always agreeing walks the longest path and
  ends at lo = n − 1, hi = n — then prove_step with R's chunk: P_n ≠ P_{n−1} + v_R. Voids.
* Epoch 1 (a new aggregator re-posts): availability of the aggregate, model and R's update
  chunk, each answered; a sum game left by the challenger after one defend plus an unanswered
  availability game, then the clock passes the response window: timeout_challenger (the
  challenger loses) and timeout (the aggregator loses; voids).
* Epochs 2-5: prove_model, prove_duplicate (R, C), prove_norm_lie (R: slashed, voids),
  prove_copy (C opens as R: slashed, voids); each after a fresh post_aggregate.

Every dispute transaction is sent with a gas limit of 2**24 (EIP-7825's per-transaction cap)
instead of the client's ``GAS_LIMITS``, so that a measurement is never cut off; each row says
whether the client's own limit would have been enough.

Happy path (plaintext, no dispute): n = 5, 10, 50 members with random declared sample counts
(weight cap 200% of the median), 4 rounds of commit → post_aggregate → challenge window passes
→ the next round's first commit finalizes (the last round: advance). Gas per participant per
round = all of it / (rounds × n), as ``benchmarks/gas.py`` counts it.

Writes benchmarks/results/disputes.json and prints tables. Nothing is asserted; the targets
(flat in n, every step ≤ 500,000 and ≤ 2**24; happy path ≤ 60,000 at n = 10) are checked and
printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np
from eth_account.signers.local import LocalAccount
from rich.console import Console
from rich.table import Table
from web3.logs import DISCARD

from benchmarks.provenance import evm_versions, run_meta
from fedchain.aggregation.fedavg import divide_round_half_even
from fedchain.chain import (
    ChainBackend,
    ChallengeOutcome,
    CommitOpening,
    CoordinatorClient,
    DisputeClient,
    EmbeddedChain,
    Fault,
    GameState,
    Phase,
    Target,
    TaskParams,
    TokenClient,
    Transactor,
    deploy,
    derive_account,
)
from fedchain.chain import contracts as chain_contracts
from fedchain.chain.artifacts import load_artifact
from fedchain.chain.transactor import Receipt
from fedchain.codec.blob import BlobKind, encode_vector_blob
from fedchain.codec.merkle import ZERO_OWNER, MerkleSumTree

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

MEMBERS = (10, 100, 1000)
PARAMETERS = (10**3, 10**6, 10**7)
CHUNK = 256
CHUNK_SWEEP = (64, 1024, 4096)  # at n = 10, d = 10⁶ (plus CHUNK from the main grid)
CHUNK_SWEEP_AT = (10, 10**6)
HAPPY_MEMBERS = (5, 10, 50)
HAPPY_ROUNDS = 4
FRAC_BITS = 20

TARGET_STEP = 500_000
EIP_7825_CAP = 2**24  # 16,777,216: the per-transaction gas cap of EIP-7825
HAPPY_TARGET = 60_000
HAPPY_TARGET_AT = 10
PREVIOUS_HAPPY_AT_10 = 57_212  # the previous design, as the issue quotes it

TOKEN = 10**18
STAKE = 100 * TOKEN
AGGREGATOR_BOND = 50 * TOKEN
CHALLENGE_BOND = 5 * TOKEN
LONG = 10**7  # commit / aggregate / challenge windows of the dispute tasks (s)
RESPONSE = 600
NORM_BOUND = 2**127
NUM_AGGREGATORS = 6  # one per epoch: a refuted aggregator is barred for the round

#: Client operation (GAS_LIMITS key) each measured step goes through.
CLIENT_LIMIT_OF = {
    "challenge_sum": "challenge",
    "challenge_availability": "challenge",
    "open_aggregate_chunk": "dispute_move",
    "defend": "dispute_move",
    "bisect": "dispute_move",
    "answer_availability_aggregate": "dispute_move",
    "answer_availability_model": "dispute_move",
    "answer_availability_update": "dispute_move",
    "prove_step": "dispute_proof",
    "prove_model": "dispute_proof",
    "prove_duplicate": "dispute_proof",
    "prove_norm_lie": "dispute_proof",
    "prove_copy": "dispute_proof",
    "timeout": "dispute_timeout",
    "timeout_challenger": "dispute_timeout",
}
DISPUTE_LIMIT_KEYS = ("challenge", "dispute_move", "dispute_proof", "dispute_timeout")
CLIENT_GAS_LIMITS = {k: chain_contracts.GAS_LIMITS[k] for k in DISPUTE_LIMIT_KEYS}

#: Step order in tables.
STEP_ORDER = (
    "challenge_sum",
    "open_aggregate_chunk",
    "defend",
    "bisect",
    "prove_step",
    "challenge_availability",
    "answer_availability_aggregate",
    "answer_availability_model",
    "answer_availability_update",
    "timeout",
    "timeout_challenger",
    "prove_model",
    "prove_norm_lie",
    "prove_copy",
    "prove_duplicate",
    "post_aggregate",
)

console = Console()
if not console.is_terminal:  # logs and pipes: wide enough for the tables
    console = Console(width=200)


# --------------------------------------------------------------------------- world


@dataclass
class World:
    chain: ChainBackend
    tx: Transactor
    token: TokenClient
    coord: CoordinatorClient
    disputes: DisputeClient
    sponsor: LocalAccount
    challenger: LocalAccount
    real: LocalAccount  # R: the member with a real tree, always the last to commit
    pool: list[LocalAccount]  # notional members and the copier, funded and approved once
    funded: int = 0
    setup_txs: int = 0


def make_world(chain: ChainBackend, pool_size: int, seed: int) -> World:
    tx = Transactor(chain)
    sponsor = derive_account(f"disputes-{seed}", 0)
    chain.fund(sponsor.address, 10**22)
    dep = deploy(tx, sponsor, supply=10**27)
    token = TokenClient(tx, dep.token)
    coord = CoordinatorClient(tx, dep.coordinator, from_block=dep.deploy_block)
    disputes = DisputeClient(tx, dep.disputes, from_block=dep.deploy_block)
    w = World(
        chain,
        tx,
        token,
        coord,
        disputes,
        sponsor,
        derive_account(f"disputes-{seed}-challenger", 0),
        derive_account(f"disputes-{seed}-real", 0),
        [],
    )
    token.approve(sponsor, coord.address, 2**256 - 1)
    for a in (w.challenger, w.real):
        _fund(w, a)
    grow_pool(w, pool_size, seed)
    return w


def _fund(w: World, a: LocalAccount) -> None:
    """Ether for gas, tokens for stakes and bonds, one unlimited approval to the coordinator."""
    w.chain.fund(a.address, 10**19)
    w.token.transfer(w.sponsor, a.address, 10**4 * TOKEN)
    w.token.approve(a, w.coord.address, 2**256 - 1)
    w.setup_txs += 3


def grow_pool(w: World, size: int, seed: int) -> None:
    while len(w.pool) < size:
        a = derive_account(f"disputes-{seed}-member", len(w.pool))
        _fund(w, a)
        w.pool.append(a)


def _random_root(rng: np.random.Generator) -> bytes:
    return bytes(rng.integers(1, 256, size=32, dtype=np.uint8))


def _dense_int32(rng: np.random.Generator, size: int) -> np.ndarray:
    """int32 values whose four big-endian bytes are all non-zero (calldata's worst case)."""
    raw = rng.integers(1, 256, size=(size, 4), dtype=np.uint8)
    return raw.view(">i4").reshape(size).astype(np.int32)


def _dense_int64(rng: np.random.Generator, size: int) -> np.ndarray:
    """int64 values with all eight bytes non-zero and |x| < 2**62 (room to add to)."""
    raw = rng.integers(1, 256, size=(size, 8), dtype=np.uint8)
    raw[:, 0] = rng.integers(1, 0x40, size=size, dtype=np.uint8)
    return raw.view(">i8").reshape(size).astype(np.int64)


def _wide(values: np.ndarray) -> bytes:
    return np.asarray(values, dtype=np.int64).astype(">i8").tobytes()


# --------------------------------------------------------------------------- trees


@dataclass
class SharedTrees:
    """Per (d, k): the real member's update tree and the initial model's tree."""

    d: int
    k: int
    update_chunk0: np.ndarray  # R's chunk 0 (int32)
    update: MerkleSumTree
    global_chunk0: np.ndarray  # G's chunk 0 (int64)
    global_model: MerkleSumTree
    seconds: float


def build_shared(d: int, k: int, owner: str, rng: np.random.Generator) -> SharedTrees:
    t0 = time.perf_counter()
    len0 = min(k, d)
    v = np.zeros(d, dtype=np.int32)
    v[:len0] = _dense_int32(rng, len0)
    update = MerkleSumTree(
        encode_vector_blob(BlobKind.UPDATE, v, frac_bits=FRAC_BITS), chunk_elems=k, owner=owner
    )
    g = np.zeros(d, dtype=np.int64)
    g[:len0] = _dense_int64(rng, len0)
    gtree = MerkleSumTree(
        encode_vector_blob(BlobKind.MODEL, g, frac_bits=FRAC_BITS), chunk_elems=k, owner=ZERO_OWNER
    )
    return SharedTrees(
        d, k, v[:len0].copy(), update, g[:len0].copy(), gtree, time.perf_counter() - t0
    )


def build_round_trees(
    sh: SharedTrees, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, MerkleSumTree, MerkleSumTree]:
    """Running sums P_0..P_n of chunk 0, and the (wrong) aggregate and model trees."""
    len0 = sh.update_chunk0.size
    contrib = np.empty((n, len0), dtype=np.int64)
    contrib[: n - 2] = _dense_int32(rng, (n - 2) * len0).reshape(n - 2, len0)
    contrib[n - 2] = sh.update_chunk0  # C copied R's update
    contrib[n - 1] = sh.update_chunk0  # R
    running = np.zeros((n + 1, len0), dtype=np.int64)
    np.cumsum(contrib, axis=0, out=running[1:])
    agg = np.zeros(sh.d, dtype=np.int64)
    agg[:len0] = running[n]
    agg[len0 - 1] += 1  # the aggregator's fault, in the chunk's last element
    atree = MerkleSumTree(
        encode_vector_blob(BlobKind.AGGREGATE, agg, frac_bits=FRAC_BITS),
        chunk_elems=sh.k,
        owner=ZERO_OWNER,
    )
    model = np.zeros(sh.d, dtype=np.int64)
    model[:len0] = sh.global_chunk0 + divide_round_half_even(agg[:len0], n)
    model[len0 - 1] += 1  # a wrong model element, again the chunk's last
    mtree = MerkleSumTree(
        encode_vector_blob(BlobKind.MODEL, model, frac_bits=FRAC_BITS),
        chunk_elems=sh.k,
        owner=ZERO_OWNER,
    )
    return running, atree, mtree


# --------------------------------------------------------------------------- one dispute task


@dataclass
class StepGas:
    gas: list[int]

    def summary(self) -> dict[str, Any]:
        return {
            "gas": max(self.gas),
            "count": len(self.gas),
            "gas_min": min(self.gas),
            "gas_mean": round(mean(self.gas), 1),
        }


def _outcomes(w: World, r: Receipt) -> dict[int, ChallengeOutcome]:
    """Games resolved in one transaction (from its receipt: eth-tester's log queries scan
    every block, so the event index is far too slow on a chain this long)."""
    evs = w.disputes.contract.events.ChallengeResolved().process_receipt(
        {"logs": r.logs}, errors=DISCARD
    )
    return {int(e["args"]["id"]): ChallengeOutcome(e["args"]["outcome"]) for e in evs}


def _slashed(w: World, r: Receipt) -> set[tuple[str, Fault]]:
    evs = w.coord.contract.events.Slashed().process_receipt({"logs": r.logs}, errors=DISCARD)
    return {(e["args"]["account"], Fault(e["args"]["fault"])) for e in evs}


def _expect_state(w: World, game: int, state: GameState) -> None:
    got = w.disputes.game(game).state
    if got != state:
        raise RuntimeError(f"game {game}: expected {state.name}, is {got.name}")


def _expect_phase(w: World, task: int, phase: Phase, epoch: int) -> None:
    info = w.coord.get_task(task)
    # A voided aggregate reopens the aggregate window: stored Commit, reported as Aggregate.
    want = {Phase.COMMIT, Phase.AGGREGATE} if phase == Phase.COMMIT else {phase}
    if info.phase not in want or info.epoch != epoch:
        raise RuntimeError(
            f"task {task}: expected {phase.name} epoch {epoch}, is {info.phase.name} epoch {info.epoch}"
        )


def measure_disputes(w: World, n: int, sh: SharedTrees, rng: np.random.Generator) -> dict[str, Any]:
    """One task with n members and d = sh.d parameters, chunk sh.k; every dispute step once."""
    d, k = sh.d, sh.k
    t0 = time.perf_counter()
    running, atree, mtree = build_round_trees(sh, n, rng)
    trees_s = time.perf_counter() - t0 + sh.seconds
    c, dc = w.coord, w.disputes
    steps: dict[str, StepGas] = defaultdict(lambda: StepGas([]))

    def rec(step: str, r: Receipt) -> Receipt:
        steps[step].gas.append(r.gas_used)
        return r

    t1 = time.perf_counter()
    params = TaskParams(
        initial_model_root=sh.global_model.root,
        config_digest=hashlib.sha256(f"disputes n={n} d={d} k={k}".encode()).digest(),
        stake_amount=STAKE,
        aggregator_bond=AGGREGATOR_BOND,
        reward_per_round=1000 * TOKEN,
        num_rounds=1,
        min_participants=2,
        num_parameters=d,
        chunk_elems=k,
        norm_bound=NORM_BOUND,
        challenge_bond=CHALLENGE_BOND,
        commit_duration=LONG,
        aggregate_duration=LONG,
        challenge_duration=LONG,
        response_duration=RESPONSE,
        weight_cap_pct=0,
    )
    task = c.create_task(w.sponsor, params)
    notional = w.pool[: n - 2]
    copier = w.pool[n - 2]
    order = [*notional, copier, w.real]
    for m in order:
        c.join(m, task, 1)
    c.start_task(w.sponsor, task, 1)
    true_sq = sh.update.top_sum
    openings: dict[str, CommitOpening] = {}
    for i, m in enumerate(order, start=1):
        if m is w.real:
            root, sq = sh.update.root, true_sq + 1  # R's norm lie
        elif m is copier:
            root, sq = sh.update.root, true_sq  # a copy of R's root
        else:
            root, sq = _random_root(rng), int(rng.integers(1, 2**62))
        c.commit_update(m, task, 1, root, sq)
        openings[m.address] = CommitOpening(m.address, root, sq, i)
    setup_s = time.perf_counter() - t1

    t2 = time.perf_counter()
    aggs = notional[:NUM_AGGREGATORS]

    def post(epoch: int) -> None:
        rec("post_aggregate", c.post_aggregate(aggs[epoch], task, 1, atree.root, mtree.root, {}))
        _expect_phase(w, task, Phase.CHALLENGE, epoch)

    ch = w.challenger
    a_chunk, a_proof = atree.chunk(0), atree.proof(0)

    # epoch 0: the whole sum game, won by the challenger
    post(0)
    game = dc.challenge_sum(ch, task, 1, 0)
    steps["challenge_sum"].gas.append(w.tx.ledger.records[-1].gas_used)
    rec("open_aggregate_chunk", dc.open_aggregate_chunk(aggs[0], game, a_chunk, a_proof))
    lo, hi = 0, n
    rounds = 0
    while hi - lo > 1:
        q = (lo + hi) // 2
        g = dc.game(game)
        if g.state != GameState.AWAIT_DEFENDER or g.query != q:
            raise RuntimeError(f"game {game}: expected a query at {q}, got {g}")
        rec("defend", dc.defend(aggs[0], game, _wide(running[q])))
        rec("bisect", dc.bisect(ch, game, True))  # P_q is honest: the fault lies above
        lo = q
        rounds += 1
    g = dc.game(game)
    if g.state != GameState.AWAIT_PROOF or (g.lo, g.hi) != (n - 1, n):
        raise RuntimeError(f"game {game}: expected AwaitProof at ({n - 1}, {n}), got {g}")
    r = rec(
        "prove_step",
        dc.prove_step(
            ch,
            game,
            _wide(running[n - 1]),
            a_chunk,
            openings[w.real.address],
            sh.update.chunk(0),
            sh.update.sums[0],
            sh.update.proof(0),
        ),
    )
    if _outcomes(w, r) != {game: ChallengeOutcome.AGGREGATOR_FAULT}:
        raise RuntimeError(f"game {game} did not end with the aggregator's fault")
    _expect_phase(w, task, Phase.COMMIT, 1)
    sum_total = sum(
        sum(steps[s].gas)
        for s in ("challenge_sum", "open_aggregate_chunk", "defend", "bisect", "prove_step")
    )

    # epoch 1: availability, answered three times, then both kinds of timeout
    post(1)
    for target, member, label, chunk, csum, proof, op in (
        (Target.AGGREGATE, None, "aggregate", a_chunk, 0, a_proof, None),
        (Target.MODEL, None, "model", mtree.chunk(0), 0, mtree.proof(0), None),
        (
            Target.UPDATE,
            w.real.address,
            "update",
            sh.update.chunk(0),
            sh.update.sums[0],
            sh.update.proof(0),
            openings[w.real.address],
        ),
    ):
        game = dc.challenge_availability(ch, task, 1, target, member, 0)
        steps["challenge_availability"].gas.append(w.tx.ledger.records[-1].gas_used)
        r = rec(
            f"answer_availability_{label}",
            dc.answer_availability(aggs[1], game, chunk, csum, proof, op),
        )
        if _outcomes(w, r) != {game: ChallengeOutcome.ANSWERED}:
            raise RuntimeError(f"availability game {game} ({label}) was not answered")
    sum_game = dc.challenge_sum(ch, task, 1, 0)
    dc.open_aggregate_chunk(aggs[1], sum_game, a_chunk, a_proof)
    dc.defend(aggs[1], sum_game, _wide(running[n // 2]))  # now the challenger stays silent
    silent = dc.challenge_availability(ch, task, 1, Target.AGGREGATE, None, 1 % atree.num_chunks)
    w.chain.advance_time(RESPONSE + 1)
    res = _outcomes(w, rec("timeout_challenger", dc.timeout(ch, sum_game)))
    res |= _outcomes(w, rec("timeout", dc.timeout(ch, silent)))
    if (
        res.get(sum_game) != ChallengeOutcome.CHALLENGER_FAULT
        or res.get(silent) != ChallengeOutcome.AGGREGATOR_FAULT
    ):
        raise RuntimeError(f"timeouts ended {res.get(sum_game)}, {res.get(silent)}")
    _expect_phase(w, task, Phase.COMMIT, 2)

    # epochs 2-5: the one-step proofs
    post(2)
    rec(
        "prove_model",
        dc.prove_model(
            ch, task, 1, 0,
            sh.global_model.chunk(0), sh.global_model.proof(0),
            a_chunk, a_proof,
            mtree.chunk(0), mtree.proof(0),
        ),
    )  # fmt: skip
    _expect_phase(w, task, Phase.COMMIT, 3)
    post(3)
    rec(
        "prove_duplicate",
        dc.prove_duplicate(ch, task, 1, openings[w.real.address], openings[copier.address]),
    )
    _expect_phase(w, task, Phase.COMMIT, 4)
    post(4)
    slashed = _slashed(w, rec(
        "prove_norm_lie",
        dc.prove_norm_lie(
            ch, task, 1, openings[w.real.address], 0,
            sh.update.chunk(0), sh.update.sums[0], sh.update.proof(0),
        ),
    ))  # fmt: skip
    _expect_phase(w, task, Phase.COMMIT, 5)
    post(5)
    slashed |= _slashed(w, rec(
        "prove_copy",
        dc.prove_copy(
            ch, task, 1, openings[copier.address], w.real.address, 0,
            sh.update.chunk(0), sh.update.sums[0], sh.update.proof(0),
        ),
    ))  # fmt: skip
    _expect_phase(w, task, Phase.COMMIT, 6)
    # The two members' faults, and the four aggregators refuted in the proofs' transactions.
    want = {(w.real.address, Fault.NORM_LIE), (copier.address, Fault.COPY)}
    want |= {(aggs[e].address, Fault.INVALID_INCLUDED) for e in (4, 5)}
    if slashed != want:
        raise RuntimeError(f"expected {want} slashed, got {slashed}")
    disputes_s = time.perf_counter() - t2

    rows = []
    for step in STEP_ORDER:
        if step not in steps:
            continue
        row = {"n": n, "d": d, "k": k, "step": step, **steps[step].summary()}
        if step in CLIENT_LIMIT_OF:
            limit = CLIENT_GAS_LIMITS[CLIENT_LIMIT_OF[step]]
            row["client_gas_limit"] = limit
            row["fits_client_gas_limit"] = row["gas"] < limit
        rows.append(row)
    rows.append({"n": n, "d": d, "k": k, "step": "bisection_rounds", "gas": None, "count": rounds})
    rows.append({"n": n, "d": d, "k": k, "step": "sum_dispute_total", "gas": sum_total, "count": 1})
    return {
        "rows": rows,
        "bisection_rounds": rounds,
        "num_chunks": atree.num_chunks,
        "proof_pairs": atree.depth,
        "seconds": {
            "trees": round(trees_s, 2),
            "setup": round(setup_s, 2),
            "disputes": round(disputes_s, 2),
        },
        "setup_txs": 1 + 2 * n + 1,
    }


# --------------------------------------------------------------------------- happy path


def _finalized(w: World, r: Receipt) -> int:
    return len(
        w.coord.contract.events.RoundFinalized().process_receipt({"logs": r.logs}, errors=DISCARD)
    )


def measure_happy(w: World, n: int, rounds: int, rng: np.random.Generator) -> dict[str, Any]:
    c = w.coord
    params = TaskParams(
        initial_model_root=_random_root(rng),
        config_digest=hashlib.sha256(f"happy n={n}".encode()).digest(),
        stake_amount=STAKE,
        aggregator_bond=AGGREGATOR_BOND,
        reward_per_round=1000 * TOKEN,
        num_rounds=rounds,
        min_participants=max(2, n // 2),
        num_parameters=10**6,
        chunk_elems=CHUNK,
        norm_bound=2**80,
        challenge_bond=CHALLENGE_BOND,
        challenge_duration=600,
        weight_cap_pct=200,
    )
    task = c.create_task(w.sponsor, params)
    members = w.pool[:n]
    declared = [int(x) for x in rng.integers(20, 120, size=n)]
    for m, s in zip(members, declared, strict=True):
        c.join(m, task, s)
    c.start_task(w.sponsor, task, sorted(declared)[(n - 1) // 2])
    per_round: list[dict[str, Any]] = []
    finalized = 0
    for r in range(1, rounds + 1):
        commits = []
        for m in members:
            rc = c.commit_update(m, task, r, _random_root(rng), int(rng.integers(1, 2**60)))
            commits.append(rc.gas_used)
            finalized += _finalized(w, rc)
        posted = c.post_aggregate(
            members[0], task, r, _random_root(rng), _random_root(rng), {}
        ).gas_used
        w.chain.advance_time(600 + 1)
        per_round.append({"round": r, "commits": commits, "post_aggregate": posted})
    ra = c.advance(w.sponsor, task, rounds)
    advance = ra.gas_used
    finalized += _finalized(w, ra)
    info = c.get_task(task)
    if info.phase != Phase.COMPLETED or finalized != rounds:
        raise RuntimeError(
            f"happy path task: {info.phase}, {finalized} of {rounds} rounds finalized"
        )
    total = sum(sum(x["commits"]) + x["post_aggregate"] for x in per_round) + advance
    plain = [g for x in per_round for g in (x["commits"][1:] if x["round"] > 1 else x["commits"])]
    finalizing = [x["commits"][0] for x in per_round[1:]]
    # What finalizing adds to the commit that carries it, against the same round's plain commits.
    extra = [x["commits"][0] - mean(x["commits"][1:]) for x in per_round[1:]]
    return {
        "n": n,
        "rounds": rounds,
        "gas_per_participant_round": round(total / (rounds * n), 1),
        "commit_mean": round(mean(plain), 1),
        "commit_that_finalizes_mean": round(mean(finalizing), 1) if finalizing else None,
        "finalize_extra_mean": round(mean(extra), 1) if extra else None,
        "post_aggregate_mean": round(mean(x["post_aggregate"] for x in per_round), 1),
        "advance_last_round": advance,
        "total_gas": total,
    }


# --------------------------------------------------------------------------- checks and report


def _for_json(result: dict[str, Any]) -> dict[str, Any]:
    """`steps` keeps one row per transaction of the default chunk size (each carries `n`, `d`,
    `step`, `gas`); whole-game totals and bisection counts go to `sum_disputes`, and the other
    chunk sizes (measured to choose the default, several far over the step target) to
    `chunk_sweep` with their gas under `step_gas`, so that no reader mistakes either for a step
    of the default configuration."""
    out = dict(result)
    rows = result["steps"]
    out["steps"] = [
        r
        for r in rows
        if r["k"] == CHUNK and r["gas"] is not None and r["step"] != "sum_dispute_total"
    ]
    out["sum_disputes"] = [
        {**{k: v for k, v in r.items() if k != "gas"}, "total_gas": r["gas"]}
        for r in rows
        if r["k"] == CHUNK and r["step"] in ("sum_dispute_total", "bisection_rounds")
    ]
    out["chunk_sweep"] = [
        {**{k: v for k, v in r.items() if k != "gas"}, "step_gas": r["gas"]}
        for r in rows
        if r["k"] != CHUNK
    ]
    over = result["checks"].get("over_client_gas_limit", [])
    out["checks"] = {
        **result["checks"],
        "over_client_gas_limit": [
            {**{k: v for k, v in r.items() if k != "gas"}, "step_gas": r["gas"]} for r in over
        ],
    }
    return out


def checks(steps: list[dict[str, Any]], happy: list[dict[str, Any]]) -> dict[str, Any]:
    main = [
        r
        for r in steps
        if r["k"] == CHUNK and r["gas"] is not None and r["step"] != "sum_dispute_total"
    ]
    over_target = [r for r in main if r["gas"] > TARGET_STEP]
    over_cap = [
        r
        for r in steps
        if r["gas"] is not None and r["step"] != "sum_dispute_total" and r["gas"] > EIP_7825_CAP
    ]
    over_client = [r for r in steps if r.get("fits_client_gas_limit") is False]
    flat: list[dict[str, Any]] = []
    by: dict[tuple[int, str], dict[int, int]] = defaultdict(dict)
    for r in main:
        by[(r["d"], r["step"])][r["n"]] = r["gas"]
    for (d, step), per_n in sorted(by.items()):
        if len(per_n) < 2:
            continue
        lo, hi = min(per_n.values()), max(per_n.values())
        flat.append(
            {
                "d": d,
                "step": step,
                "min": lo,
                "max": hi,
                "spread": hi - lo,
                "spread_pct": round(100 * (hi - lo) / lo, 2),
            }
        )
    worst_flat = max(flat, key=lambda f: f["spread_pct"]) if flat else None
    at = [h for h in happy if h["n"] == HAPPY_TARGET_AT]
    return {
        "max_step_gas_k256": max((r["gas"] for r in main), default=None),
        "max_step_k256": max(main, key=lambda r: r["gas"])["step"] if main else None,
        "every_step_le_500k_at_k256": not over_target,
        "over_500k_at_k256": [
            {k: r[k] for k in ("n", "d", "k", "step", "gas")} for r in over_target
        ],
        "every_step_le_eip7825_cap": not over_cap,
        "over_eip7825_cap": [{k: r[k] for k in ("n", "d", "k", "step", "gas")} for r in over_cap],
        "over_client_gas_limit": [
            {k: r[k] for k in ("n", "d", "k", "step", "gas", "client_gas_limit")}
            for r in over_client
        ],
        "flat_in_n": flat,
        "flat_in_n_worst": worst_flat,
        "happy_path_at_10": at[0]["gas_per_participant_round"] if at else None,
        "happy_path_le_60k_at_10": (at[0]["gas_per_participant_round"] <= HAPPY_TARGET)
        if at
        else None,
        "happy_path_previous_design_at_10": PREVIOUS_HAPPY_AT_10,
    }


def _fmt(x: float | int | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def print_tables(result: dict[str, Any]) -> None:
    steps = result["steps"]
    grid = sorted({(r["n"], r["d"]) for r in steps if r["k"] == CHUNK})
    t = Table(title=f"RoundDisputes gas per step (receipt gasUsed, max over repeats), k = {CHUNK}")
    t.add_column("step")
    for n, d in grid:
        t.add_column(f"n={n}\nd=10^{round(math.log10(d))}", justify="right")
    for step in (*STEP_ORDER, "bisection_rounds", "sum_dispute_total"):
        vals = {(r["n"], r["d"]): r for r in steps if r["k"] == CHUNK and r["step"] == step}
        if not vals:
            continue
        cells = []
        for key in grid:
            r = vals.get(key)
            if r is None:
                cells.append("")
            elif step == "bisection_rounds":
                cells.append(str(r["count"]))
            else:
                mark = " !" if step != "sum_dispute_total" and r["gas"] > TARGET_STEP else ""
                cells.append(_fmt(r["gas"]) + mark)
        t.add_row(step, *cells)
    console.print(t)

    sweep = sorted({r["k"] for r in steps if (r["n"], r["d"]) == CHUNK_SWEEP_AT})
    if len(sweep) > 1:
        t = Table(title=f"chunk size sweep at n = {CHUNK_SWEEP_AT[0]}, d = {CHUNK_SWEEP_AT[1]:,}")
        t.add_column("step")
        for k in sweep:
            t.add_column(f"k={k}", justify="right")
        for step in (*STEP_ORDER, "sum_dispute_total"):
            vals = {
                r["k"]: r for r in steps if (r["n"], r["d"]) == CHUNK_SWEEP_AT and r["step"] == step
            }
            if vals:
                cells = []
                for k in sweep:
                    r = vals.get(k)
                    if r is None:
                        cells.append("")
                        continue
                    mark = " !" if step != "sum_dispute_total" and r["gas"] > TARGET_STEP else ""
                    mark += " (>client)" if r.get("fits_client_gas_limit") is False else ""
                    cells.append(_fmt(r["gas"]) + mark)
                t.add_row(step, *cells)
        console.print(t)

    t = Table(title="happy path, plaintext (commit + amortized post + finalize)")
    for col in (
        "n",
        "commit",
        "commit that finalizes",
        "post_aggregate",
        "advance (last)",
        "gas / participant / round",
    ):
        t.add_column(col, justify="right")
    for h in result["happy_path"]:
        t.add_row(
            str(h["n"]),
            _fmt(h["commit_mean"]),
            _fmt(h["commit_that_finalizes_mean"]),
            _fmt(h["post_aggregate_mean"]),
            _fmt(h["advance_last_round"]),
            _fmt(h["gas_per_participant_round"]),
        )
    console.print(t)

    ck = result["checks"]
    ok = lambda b: "[green]yes[/]" if b else "[red]NO[/]"  # noqa: E731
    console.print(
        f"max step gas at k={CHUNK}: {_fmt(ck['max_step_gas_k256'])} ({ck['max_step_k256']}); "
        f"every step ≤ {TARGET_STEP:,}: {ok(ck['every_step_le_500k_at_k256'])}; "
        f"every step ≤ 2**24 = {EIP_7825_CAP:,} (EIP-7825, all k): {ok(ck['every_step_le_eip7825_cap'])}"
    )
    wf = ck["flat_in_n_worst"]
    if wf:
        console.print(
            f"flat in n: largest spread over n of one step at one d is {wf['spread']:,} gas "
            f"({wf['spread_pct']}%, {wf['step']} at d={wf['d']:,})"
        )
    if ck["over_client_gas_limit"]:
        console.print(
            "[yellow]over the client's GAS_LIMITS (would fail as out of gas):[/] "
            + "; ".join(
                f"{r['step']} n={r['n']} d={r['d']:,} k={r['k']}: {r['gas']:,} > {r['client_gas_limit']:,}"
                for r in ck["over_client_gas_limit"]
            )
        )
    if ck["happy_path_at_10"] is not None:
        console.print(
            f"happy path at n=10: {_fmt(ck['happy_path_at_10'])} gas/participant/round "
            f"(≤ {HAPPY_TARGET:,}: {ok(ck['happy_path_le_60k_at_10'])}; previous design {PREVIOUS_HAPPY_AT_10:,})"
        )


def _meta(started: float) -> dict[str, Any]:
    return {
        **run_meta(ROOT),
        "chain": f"embedded ({evm_versions()}, Prague rules)",
        "bytecode_sha256": {
            name: hashlib.sha256(load_artifact(name).deployed_bytecode.encode()).hexdigest()[:16]
            for name in ("RoundDisputes", "TaskCoordinator")
        },
        "client_gas_limits": CLIENT_GAS_LIMITS,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "started_monotonic": started,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="n 10/100, d 10³/10⁶, no chunk sweep")
    ap.add_argument("--members", type=int, nargs="+", help="override the member counts n")
    ap.add_argument("--parameters", type=int, nargs="+", help="override the model sizes d")
    ap.add_argument("--happy", type=int, nargs="*", help="override the happy-path member counts")
    ap.add_argument("--no-sweep", action="store_true", help="skip the chunk-size sweep")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for disputes.json")
    args = ap.parse_args(argv)
    members = MEMBERS[:2] if args.quick else MEMBERS
    sizes = PARAMETERS[:2] if args.quick else PARAMETERS
    sweep = () if args.quick or args.no_sweep else CHUNK_SWEEP
    members = tuple(args.members or members)
    sizes = tuple(args.parameters or sizes)
    started = time.perf_counter()
    cpu_started = time.process_time()
    meta = _meta(started)
    rng = np.random.default_rng(args.seed)

    # Dispute transactions get the EIP-7825 cap, not the client's limits (see the docstring).
    saved = dict(chain_contracts.GAS_LIMITS)
    for key in DISPUTE_LIMIT_KEYS:
        chain_contracts.GAS_LIMITS[key] = EIP_7825_CAP
    rows: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    try:
        with EmbeddedChain() as chain:
            block_limit = int(chain.w3.eth.get_block("latest")["gasLimit"])
            t0 = time.perf_counter()
            w = make_world(chain, max(max(members), max(HAPPY_MEMBERS)), args.seed)
            world_s = time.perf_counter() - t0
            console.log(f"deployed and funded {len(w.pool) + 2} accounts in {world_s:.1f} s")

            happy = []
            for n in HAPPY_MEMBERS if args.happy is None else args.happy:
                h = measure_happy(w, n, HAPPY_ROUNDS, rng)
                happy.append(h)
                console.log(
                    f"happy path n={n}: {h['gas_per_participant_round']:,.0f} gas/participant/round"
                )

            combos = [(n, d, CHUNK) for d in sizes for n in members]
            if sweep:
                combos += [(CHUNK_SWEEP_AT[0], CHUNK_SWEEP_AT[1], k) for k in sweep]
            shared: dict[tuple[int, int], SharedTrees] = {}
            for n, d, k in combos:
                if (d, k) not in shared:
                    shared.clear()  # one d at a time in memory (10⁷ elements: ~0.5 GB of trees)
                    shared[(d, k)] = build_shared(d, k, w.real.address, rng)
                run = measure_disputes(w, n, shared[(d, k)], rng)
                rows += run["rows"]
                runs.append(
                    {
                        "n": n,
                        "d": d,
                        "k": k,
                        **{
                            x: run[x]
                            for x in ("bisection_rounds", "num_chunks", "proof_pairs", "seconds")
                        },
                    }
                )
                top = max(
                    (
                        r
                        for r in run["rows"]
                        if r["gas"] is not None and r["step"] != "sum_dispute_total"
                    ),
                    key=lambda r: r["gas"],
                )
                total = next(r["gas"] for r in run["rows"] if r["step"] == "sum_dispute_total")
                console.log(
                    f"n={n} d={d:,} k={k}: max step {top['gas']:,} ({top['step']}), sum dispute {total:,} "
                    f"over {run['bisection_rounds']} bisections; {run['seconds']}"
                )
    finally:
        chain_contracts.GAS_LIMITS.clear()
        chain_contracts.GAS_LIMITS.update(saved)

    meta.pop("started_monotonic")
    meta["block_gas_limit"] = block_limit
    meta["wall_seconds"] = round(time.perf_counter() - started, 1)
    # CPU time of this process: what the wall time would be on an otherwise idle machine.
    meta["cpu_seconds"] = round(time.process_time() - cpu_started, 1)
    meta["world_setup_seconds"] = round(world_s, 1)
    meta["note"] = (
        "one EmbeddedChain and one deployment; one task per (n, d, k); only the member opened "
        "(commit index n) has a real update tree, the other members' roots are random and their "
        "chunk-0 values notional (dense int32, every byte non-zero); aggregate/model/global trees "
        "are real (chunk 0 dense, the rest zero); faults sit in the last element of chunk 0; "
        "dispute txs sent with gas limit 2**24; challenge bond approved to the coordinator"
    )
    result = {
        "benchmark": "disputes",
        "meta": meta,
        "config": {
            "members": list(members),
            "parameters": list(sizes),
            "chunk_elems": CHUNK,
            "chunk_sweep": {"n": CHUNK_SWEEP_AT[0], "d": CHUNK_SWEEP_AT[1], "k": [CHUNK, *sweep]},
            "response_duration": RESPONSE,
            "weights": "uniform (weight_cap_pct = 0)",
            "happy_path": {
                "members": list(HAPPY_MEMBERS),
                "rounds": HAPPY_ROUNDS,
                "weight_cap_pct": 200,
            },
        },
        "targets": {
            "step_gas": TARGET_STEP,
            "eip7825_cap": EIP_7825_CAP,
            "happy_path_at_10": HAPPY_TARGET,
        },
        "steps": rows,
        "runs": runs,
        "happy_path": happy,
    }
    result["checks"] = checks(rows, happy)
    print_tables(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "disputes.json").write_text(json.dumps(_for_json(result), indent=2) + "\n")
    console.print(
        f"wrote {args.out / 'disputes.json'} in {meta['wall_seconds']} s "
        f"({meta['cpu_seconds']} s of CPU; load average at start {meta['load_average_at_start']})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

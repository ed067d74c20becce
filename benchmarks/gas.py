"""Gas per participant per round: fedchain (commitments on-chain) vs. the naive design (updates on-chain).

    python -m benchmarks.gas            # full run (~5 min on 2 loaded cores)
    python -m benchmarks.gas --quick    # 10³ and 10⁴ parameters only, fewer participant counts

fedchain side. For each model size a fresh embedded chain gets a consortium and a task whose
TaskConfig is a one-hidden-layer MLP of that size (``spec_for_parameter_count``). Every
participant declares a random sample count once, at ``join``. No training: each round, every
participant commits to a random update of the model's length (N(0, 0.01) weight deltas clipped
and encoded by ``encode_update``) as its owner-bound Merkle-sum root and squared norm
(``TaskBlobs.commit_vector``, ``commit_update``); the last commit closes the commit window, and
then every participant publishes its update under its root. The real ``AggregatorNode`` fetches
and verifies every update, computes the exact Σ wᵢ·vᵢ and the new model and posts both roots;
the clock then passes the challenge window, so the next round's first commit finalizes the round
(the last round is finalized by ``advance``). Every receipt's gasUsed is recorded and attributed
to the round it belongs to.

Naive side. ``benchmarks/contracts/NaiveOnChainUpdates.sol`` (compiled here with the project's
solc-js, same settings as the shipped contracts) stores each whole update from calldata and
computes Σ nᵢ·vᵢ on-chain over ranges of storage words (a whole aggregate does not fit a
block). It is measured at 10³ and 10⁴ parameters; 10⁵ and 10⁶ are extrapolated from the
measured per-byte (commit) and per-word (aggregate) slopes, because they exceed the block gas
limit. A calldata-only variant (the update is sent but not stored) gives the floor of any
design that moves updates through the chain.

Writes benchmarks/results/gas.json and gas.png and prints tables. Nothing here is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np
from eth_typing import ChecksumAddress
from rich.console import Console
from rich.table import Table
from web3 import Web3

from benchmarks.provenance import run_meta
from fedchain.chain import EmbeddedChain, GasLedger, Phase, Transactor, derive_account
from fedchain.chain.artifacts import load_artifact
from fedchain.codec.blob import BlobKind
from fedchain.codec.fixedpoint import encode_update
from fedchain.learning import TrainConfig, num_parameters, spec_for_parameter_count
from fedchain.node import AggregatorNode, TaskBlobs, TaskConfig
from fedchain.sim.consortium import Consortium
from fedchain.storage import LocalDirStore

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

SIZES = (10**3, 10**4, 10**5, 10**6)
NAIVE_MEASURED_SIZES = (10**3, 10**4)
CALLDATA_MEASURED_SIZES = (10**3, 10**4, 10**5)
PARTICIPANT_SWEEP = (5, 10, 20, 50)
SWEEP_SIZE = 10**4
# A digits-like input layer (64 features, 10 classes); the hidden width sets the size.
INPUT_DIM, NUM_CLASSES = 64, 10
CHALLENGE_DURATION = 600
UPDATE_SCALE = 0.01  # updates are N(0, 0.01) weight deltas, quantized with the task's frac_bits

console = Console()
if not console.is_terminal:  # logs and pipes: wide enough for the tables
    console = Console(width=180)


# --------------------------------------------------------------------------- fedchain


@dataclass
class OpRecord:
    round: int
    op: str  # commit | commit+finalize | post_aggregate | advance
    gas: int


@dataclass
class FedchainRun:
    target_params: int
    parameters: int
    participants: int
    rounds: int
    ops: list[OpRecord] = field(default_factory=list)
    setup_gas: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    stored_bytes: int = 0  # one update as published: the blob and its chunk-sums trailer

    def round_totals(self) -> list[int]:
        return [sum(o.gas for o in self.ops if o.round == r) for r in range(1, self.rounds + 1)]

    def gas_of(self, op: str) -> list[int]:
        return [o.gas for o in self.ops if o.op == op]

    def per_participant_round(self) -> float:
        return sum(self.round_totals()) / (self.rounds * self.participants)

    def summary(self) -> dict[str, Any]:
        commits = self.gas_of("commit")
        finalizing = self.gas_of("commit+finalize")
        posts = self.gas_of("post_aggregate")
        advance = self.gas_of("advance")
        # What finalizing adds to the commit that carries it, against the same round's plain commits.
        extra = []
        for r in range(2, self.rounds + 1):
            plain = [o.gas for o in self.ops if o.round == r and o.op == "commit"]
            fin = [o.gas for o in self.ops if o.round == r and o.op == "commit+finalize"]
            if plain and fin:
                extra.append(fin[0] - mean(plain))
        totals = self.round_totals()
        return {
            "target_parameters": self.target_params,
            "parameters": self.parameters,
            "update_stored_bytes": self.stored_bytes,
            "participants": self.participants,
            "rounds": self.rounds,
            "gas_per_participant_per_round": round(self.per_participant_round(), 1),
            "round_total_gas": totals,
            "round_total_gas_mean": round(mean(totals), 1),
            "operations": {
                "commit": _stats(commits),
                "commit+finalize": _stats(finalizing),
                "finalize_extra_in_commit": _stats([round(x) for x in extra]),
                "post_aggregate": _stats(posts),
                "advance (last round)": _stats(advance),
            },
            "transactions_per_round": round(len(self.ops) / self.rounds, 2),
            "setup_gas_once": self.setup_gas,
            "wall_seconds": round(self.seconds, 2),
        }


def _stats(xs: list[int] | list[float]) -> dict[str, float | int]:
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "mean": round(mean(xs), 1), "min": min(xs), "max": max(xs)}


def measure_fedchain(target_params: int, participants: int, rounds: int, seed: int) -> FedchainRun:
    """One task on a fresh embedded chain, driven round by round as described in the module doc."""
    spec = spec_for_parameter_count(target_params, INPUT_DIM, NUM_CLASSES)
    n = num_parameters(spec)
    cfg = TaskConfig.build(
        dataset="synthetic",
        model=spec,
        train=TrainConfig(epochs=2, batch_size=16, lr=0.05, momentum=0.9),
    )
    run = FedchainRun(target_params, n, participants, rounds)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fedchain-bench-gas-") as tmp, EmbeddedChain() as chain:
        store = LocalDirStore(Path(tmp) / "store")
        ledger = GasLedger()
        c = Consortium.create(chain, store, num_participants=participants, seed=seed, ledger=ledger)
        task_id = c.create_task(
            cfg,
            rounds=rounds,
            min_participants=max(2, participants // 2),
            seed=seed,
            challenge_duration=CHALLENGE_DURATION,
        )
        rng = np.random.default_rng(seed)
        samples = [int(x) for x in rng.integers(20, 120, size=participants)]
        c.join_all(task_id, samples)
        c.start(task_id)
        for op, (_, gas) in ledger.by_operation().items():
            run.setup_gas[op] = gas
        blobs = TaskBlobs(store, cfg)
        aggregator = AggregatorNode(
            "aggregator", c.participants[0], c.coordinator, store, task_id=task_id
        )
        for r in range(1, rounds + 1):
            committed = []
            for i, p in enumerate(c.participants):
                v = encode_update(
                    rng.normal(0.0, UPDATE_SCALE, size=n),
                    frac_bits=cfg.frac_bits,
                    clip_norm=cfg.clip_norm,
                )
                vec = blobs.commit_vector(BlobKind.UPDATE, v, owner=p.address)
                rec = c.coordinator.commit_update(p, task_id, r, vec.root, vec.sum_sq)
                run.ops.append(
                    OpRecord(r, "commit+finalize" if (r > 1 and i == 0) else "commit", rec.gas_used)
                )
                committed.append(vec)
            # Everyone committed, so the commit window is closed: publish (off-chain, no gas).
            for vec in committed:
                blobs.publish(vec)
            run.stored_bytes = len(committed[-1].data)
            before = len(ledger.records)
            action = aggregator.poll()
            if action is None or action.round != r:
                raise RuntimeError(f"the aggregator did not post round {r}: {action}")
            (post,) = [x for x in ledger.records[before:] if x.operation == "post_aggregate"]
            run.ops.append(OpRecord(r, "post_aggregate", post.gas_used))
            chain.advance_time(CHALLENGE_DURATION + 1)
        rec = c.coordinator.advance(c.sponsor, task_id, rounds)
        run.ops.append(OpRecord(rounds, "advance", rec.gas_used))
        info = c.coordinator.get_task(task_id)
        outcomes = c.coordinator.round_outcomes(task_id)
        if (
            info.phase != Phase.COMPLETED
            or len(outcomes) != rounds
            or not all(o.finalized for o in outcomes)
        ):
            raise RuntimeError(
                f"task did not complete with {rounds} finalized rounds: {info.phase}, {outcomes}"
            )
        # Cross-check: the ledger (tagged by round) agrees with our attribution.
        for r, total in enumerate(run.round_totals(), start=1):
            if ledger.for_round(task_id, r) != total:
                raise RuntimeError(
                    f"round {r}: ledger says {ledger.for_round(task_id, r)}, we counted {total}"
                )
    run.seconds = time.perf_counter() - started
    return run


# --------------------------------------------------------------------------- naive


def compile_naive() -> dict[str, Any]:
    """ABI and bytecode of NaiveOnChainUpdates, compiled now with the project's solc-js."""
    script = HERE / "compile_naive.mjs"
    try:
        proc = subprocess.run(
            ["node", str(script)], cwd=ROOT, capture_output=True, text=True, check=False
        )
    except FileNotFoundError:
        sys.exit(
            "node is not on PATH: the naive contract is compiled with solc-js (run `make setup`)"
        )
    if proc.returncode != 0:
        sys.exit(f"compiling benchmarks/contracts failed:\n{proc.stderr}")
    out = json.loads(proc.stdout)
    art = out["contracts"]["NaiveOnChainUpdates"]
    art["compiler"] = out["compiler"]
    return art


def _address(a: str | None) -> ChecksumAddress:
    if a is None:
        raise RuntimeError("deployment returned no contract address")
    return Web3.to_checksum_address(a)


def measure_naive(
    art: dict[str, Any], n: int, participants: int, rounds: int, seed: int, *, scale: float
) -> dict[str, Any]:
    """Commit every participant's full update, then aggregate in ranges that fit a block."""
    with EmbeddedChain() as chain:
        w3 = chain.w3
        limit = int(w3.eth.get_block("latest")["gasLimit"])
        tx_gas = limit - 50_000
        tx = Transactor(chain)
        accounts = [derive_account(f"naive-{seed}", i) for i in range(participants)]
        for a in accounts:
            chain.fund(a.address, 10**22)
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        r = tx.send(accounts[0], factory.constructor(n), gas=3_000_000, operation="deploy_naive")
        c = w3.eth.contract(address=_address(r.contract_address), abi=art["abi"])
        words = int(c.functions.updateWords().call())
        rng = np.random.default_rng(seed)
        samples = rng.integers(20, 120, size=participants)
        per_round = []
        for rnd in range(1, rounds + 1):
            vectors = []
            commits = []
            for i, a in enumerate(accounts):
                v = np.rint(rng.normal(0.0, scale, size=n)).astype(np.int32)
                vectors.append(v)
                rec = tx.send(
                    a,
                    c.functions.commit(v.astype(">i4").tobytes(), int(samples[i])),
                    gas=tx_gas,
                    operation="commit",
                )
                commits.append(rec.gas_used)
            # Aggregate in word ranges sized from a first probe so that each tx fits a block.
            agg_gas: list[int] = []
            start = 0
            step = min(words, 32)
            while start < words:
                end = min(words, start + step)
                rec = tx.send(
                    accounts[0],
                    c.functions.aggregate(start, end),
                    gas=tx_gas,
                    operation="aggregate",
                )
                agg_gas.append(rec.gas_used)
                if len(agg_gas) == 1:
                    per_word = rec.gas_used / (end - start)
                    step = max(1, int(0.8 * limit / per_word))
                start = end
            # Check the contract's sum against Python's on a few elements.
            expect = np.zeros(n, dtype=np.int64)
            for s, v in zip(samples, vectors, strict=True):
                expect += int(s) * v.astype(np.int64)
            for idx in (0, n // 2, n - 1):
                got = int(c.functions.aggregateAt(idx).call())
                if got != int(expect[idx]):
                    raise RuntimeError(
                        f"naive aggregate wrong at {idx}: {got} != {int(expect[idx])}"
                    )
            tx.send(accounts[0], c.functions.nextRound(), gas=100_000, operation="next_round")
            per_round.append(
                {
                    "round": rnd,
                    "commit": _stats(commits),
                    "aggregate_total": sum(agg_gas),
                    "aggregate_transactions": len(agg_gas),
                    "aggregate_max_tx": max(agg_gas),
                    "gas_per_participant_per_round": round(
                        mean(commits) + sum(agg_gas) / participants, 1
                    ),
                }
            )
        return {
            "parameters": n,
            "calldata_bytes": 4 * n,
            "storage_words": words,
            "participants": participants,
            "rounds": per_round,
        }


def measure_calldata_only(art: dict[str, Any], n: int, seed: int, *, scale: float) -> int:
    with EmbeddedChain() as chain:
        w3 = chain.w3
        limit = int(w3.eth.get_block("latest")["gasLimit"])
        tx = Transactor(chain)
        a = derive_account(f"naive-{seed}", 0)
        chain.fund(a.address, 10**22)
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        r = tx.send(a, factory.constructor(n), gas=3_000_000, operation="deploy_naive")
        c = w3.eth.contract(address=_address(r.contract_address), abi=art["abi"])
        v = np.rint(np.random.default_rng(seed).normal(0.0, scale, size=n)).astype(np.int32)
        rec = tx.send(
            a,
            c.functions.commitCalldataOnly(v.astype(">i4").tobytes()),
            gas=limit - 50_000,
            operation="calldata_only",
        )
        return rec.gas_used


def _line(x1: float, y1: float, x2: float, y2: float) -> tuple[float, float]:
    slope = (y2 - y1) / (x2 - x1)
    return slope, y1 - slope * x1


def naive_model(
    measured: list[dict[str, Any]], calldata: dict[int, int], sizes: list[int], limit: int
) -> dict[str, Any]:
    """Fit gas = a + b·x through the two measured sizes and evaluate it at every size."""
    lo, hi = measured[0], measured[-1]
    p = lo["participants"]
    out: dict[str, Any] = {"fits": {}, "by_size": []}
    for label, idx in (("round 1 (fresh storage)", 0), ("later rounds (storage rewritten)", -1)):
        c_slope, c_icpt = _line(
            lo["calldata_bytes"],
            lo["rounds"][idx]["commit"]["mean"],
            hi["calldata_bytes"],
            hi["rounds"][idx]["commit"]["mean"],
        )
        a_slope, a_icpt = _line(
            lo["storage_words"],
            lo["rounds"][idx]["aggregate_total"],
            hi["storage_words"],
            hi["rounds"][idx]["aggregate_total"],
        )
        out["fits"][label] = {
            "commit_gas_per_calldata_byte": round(c_slope, 2),
            "commit_gas_intercept": round(c_icpt),
            "aggregate_gas_per_storage_word": round(a_slope, 1),
            "aggregate_gas_intercept": round(a_icpt),
        }
    cd_x = sorted(calldata)
    cd_slope, cd_icpt = _line(4 * cd_x[-2], calldata[cd_x[-2]], 4 * cd_x[-1], calldata[cd_x[-1]])
    out["fits"]["calldata only"] = {
        "gas_per_calldata_byte": round(cd_slope, 2),
        "intercept": round(cd_icpt),
    }
    by_n = {m["parameters"]: m for m in measured}
    for n in sizes:
        row: dict[str, Any] = {
            "parameters": n,
            "calldata_bytes": 4 * n,
            "storage_words": math.ceil(4 * n / 32),
        }
        for label, idx in (("round1", 0), ("later", -1)):
            fit = out["fits"][
                "round 1 (fresh storage)" if idx == 0 else "later rounds (storage rewritten)"
            ]
            if n in by_n:
                rr = by_n[n]["rounds"][idx]
                commit, agg, measured_flag = rr["commit"]["mean"], rr["aggregate_total"], True
                agg_txs = rr["aggregate_transactions"]
            else:
                commit = fit["commit_gas_intercept"] + fit["commit_gas_per_calldata_byte"] * 4 * n
                agg = fit["aggregate_gas_intercept"] + fit[
                    "aggregate_gas_per_storage_word"
                ] * math.ceil(4 * n / 32)
                measured_flag = False
                agg_txs = None
            round_total = p * commit + agg
            row[label] = {
                "measured": measured_flag,
                "commit_per_participant": round(commit),
                "commit_blocks": math.ceil(commit / limit),
                "aggregate_total": round(agg),
                "aggregate_blocks": math.ceil(agg / limit),
                "aggregate_transactions_measured": agg_txs,
                "round_total": round(round_total),
                "round_blocks": math.ceil(round_total / limit),
                "gas_per_participant_per_round": round(round_total / p),
                "note": _limit_note(commit, round_total, limit),
            }
        if n in calldata:
            row["calldata_only"] = {"measured": True, "gas": calldata[n]}
        else:
            row["calldata_only"] = {"measured": False, "gas": round(cd_icpt + cd_slope * 4 * n)}
        row["calldata_only"]["blocks"] = math.ceil(row["calldata_only"]["gas"] / limit)
        out["by_size"].append(row)
    return out


def _limit_note(commit: float, round_total: float, limit: int) -> str:
    if commit > limit:
        return f"exceeds the block gas limit ({math.ceil(commit / limit)} blocks for one participant's commit)"
    if round_total > limit:
        return f"round exceeds the block gas limit ({math.ceil(round_total / limit)} blocks)"
    return "fits one block"


# --------------------------------------------------------------------------- report


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def print_tables(result: dict[str, Any]) -> None:
    limit = result["block_gas_limit"]
    t = Table(
        title=f"fedchain: gas by model size ({result['config']['participants']} participants, {result['config']['rounds']} rounds)"
    )
    for col in (
        "parameters",
        "commit",
        "commit+finalize",
        "post_aggregate",
        "advance (last)",
        "round total (mean)",
        "per participant per round",
    ):
        t.add_column(col, justify="right")
    for s in result["fedchain_by_size"]:
        ops = s["operations"]
        t.add_row(
            _fmt(s["parameters"]),
            _fmt(ops["commit"]["mean"]),
            _fmt(ops["commit+finalize"]["mean"]),
            _fmt(ops["post_aggregate"]["mean"]),
            _fmt(ops["advance (last round)"]["mean"]),
            _fmt(s["round_total_gas_mean"]),
            f"[bold]{_fmt(s['gas_per_participant_per_round'])}[/bold]",
        )
    console.print(t)

    t = Table(
        title=f"fedchain: amortizing the fixed round cost ({_fmt(result['fedchain_by_participants'][0]['parameters'])} parameters)"
    )
    for col in (
        "participants",
        "commit",
        "post_aggregate",
        "finalize extra",
        "round total (mean)",
        "per participant per round",
    ):
        t.add_column(col, justify="right")
    for s in result["fedchain_by_participants"]:
        ops = s["operations"]
        t.add_row(
            str(s["participants"]),
            _fmt(ops["commit"]["mean"]),
            _fmt(ops["post_aggregate"]["mean"]),
            _fmt(ops["finalize_extra_in_commit"].get("mean", 0)),
            _fmt(s["round_total_gas_mean"]),
            f"[bold]{_fmt(s['gas_per_participant_per_round'])}[/bold]",
        )
    console.print(t)

    naive = result["naive"]
    t = Table(
        title=f"naive design (whole update stored on-chain), {naive['participants']} participants; "
        f"block gas limit {_fmt(limit)}; 'r1' = round 1 (fresh storage), 'later' = rounds ≥ 2"
    )
    for col in (
        "parameters",
        "source",
        "commit, 1 participant\nlater | r1",
        "aggregate, all\nlater (txs)",
        "per participant per round\nlater | r1",
        "later vs\nfedchain",
        "calldata-only\nfloor",
        "r1 vs block gas limit",
    ):
        t.add_column(col, justify="right")
    fed = {s["parameters"]: s["gas_per_participant_per_round"] for s in result["fedchain_by_size"]}
    for row in naive["model"]["by_size"]:
        later, first = row["later"], row["round1"]
        txs = later["aggregate_transactions_measured"]
        ratio = (
            later["gas_per_participant_per_round"] / fed[row["parameters"]]
            if row["parameters"] in fed
            else float("nan")
        )
        t.add_row(
            _fmt(row["parameters"]),
            "measured" if later["measured"] else "extrapolated",
            f"{_fmt(later['commit_per_participant'])} | {_fmt(first['commit_per_participant'])}",
            f"{_fmt(later['aggregate_total'])} ({txs if txs else '≥' + str(later['aggregate_blocks'])})",
            f"[bold]{_fmt(later['gas_per_participant_per_round'])}[/bold] | {_fmt(first['gas_per_participant_per_round'])}",
            f"{ratio:,.0f}×",
            f"{_fmt(row['calldata_only']['gas'])}{'' if row['calldata_only']['measured'] else ' (extrap.)'}",
            first["note"],
        )
    console.print(t)


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limit = result["block_gas_limit"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    fed = result["fedchain_by_size"]
    ax.plot(
        [s["parameters"] for s in fed],
        [s["gas_per_participant_per_round"] for s in fed],
        "o-",
        color="tab:green",
        lw=2,
        label="fedchain (commitments only), measured",
    )
    rows = result["naive"]["model"]["by_size"]
    for key, color, label in (
        ("later", "tab:red", "naive: update stored on-chain (later rounds)"),
        ("round1", "tab:orange", "naive: round 1 (fresh storage)"),
    ):
        xs = [r["parameters"] for r in rows]
        ys = [r[key]["gas_per_participant_per_round"] for r in rows]
        meas = [r[key]["measured"] for r in rows]
        ax.plot(
            [x for x, m in zip(xs, meas, strict=True) if m],
            [y for y, m in zip(ys, meas, strict=True) if m],
            "s-",
            color=color,
            label=f"{label}, measured",
        )
        k = max(i for i, m in enumerate(meas) if m)
        ax.plot(
            xs[k:],
            ys[k:],
            "s--",
            color=color,
            alpha=0.6,
            mfc="none",
            label=f"{label}, extrapolated",
        )
    xs = [r["parameters"] for r in rows]
    ys = [r["calldata_only"]["gas"] for r in rows]
    ax.plot(
        xs,
        ys,
        "^:",
        color="tab:purple",
        label="floor: update as calldata only, not stored (10⁶ extrapolated)",
    )
    ax.axhline(limit, color="black", ls="-.", lw=1)
    ax.text(xs[-1], limit * 1.25, f"block gas limit {limit / 1e6:.1f}M", fontsize=8, ha="right")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("model parameters")
    ax.set_ylabel("gas per participant per round")
    ax.set_title(f"On-chain cost vs model size ({result['config']['participants']} participants)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")

    sweep = result["fedchain_by_participants"]
    ps = [s["participants"] for s in sweep]
    ax2.plot(
        ps,
        [s["gas_per_participant_per_round"] for s in sweep],
        "o-",
        color="tab:green",
        label="per participant per round",
    )
    ax2.plot(
        ps,
        [s["operations"]["commit"]["mean"] for s in sweep],
        "--",
        color="gray",
        label="one commit (the floor)",
    )
    ax2.set_xlabel("participants")
    ax2.set_ylabel("gas")
    ax2.set_title(f"fedchain: fixed round cost amortizes ({sweep[0]['parameters']:,} params)")
    ax2.grid(True, alpha=0.3)
    ax2.set_ylim(0, max(s["gas_per_participant_per_round"] for s in sweep) * 1.15)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _machine() -> dict[str, Any]:
    coord = load_artifact("TaskCoordinator")
    return {
        **run_meta(ROOT),
        "task_coordinator_bytecode_sha256": hashlib.sha256(
            coord.deployed_bytecode.encode()
        ).hexdigest()[:16],
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--quick", action="store_true", help="10³ and 10⁴ parameters only, participants 5 and 10"
    )
    ap.add_argument("--participants", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for gas.json and gas.png")
    args = ap.parse_args(argv)
    sizes = list(SIZES[:2] if args.quick else SIZES)
    sweep = [p for p in PARTICIPANT_SWEEP if not args.quick or p <= 10]
    started = time.perf_counter()

    with EmbeddedChain() as chain:
        limit = int(chain.w3.eth.get_block("latest")["gasLimit"])

    by_size: dict[int, FedchainRun] = {}
    for size in sizes:
        with console.status(
            f"fedchain: {size:,} parameters, {args.participants} participants, {args.rounds} rounds"
        ):
            run = measure_fedchain(size, args.participants, args.rounds, args.seed)
        by_size[size] = run
        console.log(
            f"fedchain {run.parameters:,} params: {run.per_participant_round():,.0f} gas/participant/round ({run.seconds:.1f} s)"
        )
    by_participants: list[FedchainRun] = []
    for p in sweep:
        if p == args.participants and SWEEP_SIZE in by_size:
            run = by_size[SWEEP_SIZE]
        else:
            with console.status(f"fedchain: {SWEEP_SIZE:,} parameters, {p} participants"):
                run = measure_fedchain(SWEEP_SIZE, p, args.rounds, args.seed)
            console.log(
                f"fedchain {p} participants: {run.per_participant_round():,.0f} gas/participant/round ({run.seconds:.1f} s)"
            )
        by_participants.append(run)

    art = compile_naive()
    scale = UPDATE_SCALE * 2**20
    naive_measured = []
    for size in NAIVE_MEASURED_SIZES:
        n = num_parameters(spec_for_parameter_count(size, INPUT_DIM, NUM_CLASSES))
        with console.status(f"naive: {n:,} parameters"):
            t0 = time.perf_counter()
            m = measure_naive(art, n, args.participants, 2, args.seed, scale=scale)
        m["wall_seconds"] = round(time.perf_counter() - t0, 2)
        naive_measured.append(m)
        console.log(
            f"naive {n:,} params: {m['rounds'][-1]['gas_per_participant_per_round']:,.0f} gas/participant/round (later rounds)"
        )
    calldata: dict[int, int] = {}
    for size in CALLDATA_MEASURED_SIZES[: len(sizes) if args.quick else None]:
        n = num_parameters(spec_for_parameter_count(size, INPUT_DIM, NUM_CLASSES))
        calldata[n] = measure_calldata_only(art, n, args.seed, scale=scale)
    all_n = [by_size[s].parameters for s in sizes]
    model = naive_model(naive_measured, calldata, all_n, limit)

    result = {
        "benchmark": "gas",
        **_machine(),
        "chain": "embedded (eth-tester + py-evm, Prague rules)",
        "block_gas_limit": limit,
        "config": {
            "participants": args.participants,
            "rounds": args.rounds,
            "model": f"MLP {INPUT_DIM}-h-{NUM_CLASSES} (spec_for_parameter_count)",
            "update_values": f"N(0, {UPDATE_SCALE}) weight deltas clipped and encoded by encode_update (int32 fixed point, 20 fractional bits)",
            "participant_sweep_parameters": by_size[SWEEP_SIZE].parameters
            if SWEEP_SIZE in by_size
            else SWEEP_SIZE,
            "seed": args.seed,
        },
        "fedchain_by_size": [by_size[s].summary() for s in sizes],
        "fedchain_by_participants": [r.summary() for r in by_participants],
        "naive": {
            "contract": "benchmarks/contracts/NaiveOnChainUpdates.sol",
            "compiler": art["compiler"],
            "participants": args.participants,
            "measured": naive_measured,
            "calldata_only_measured": {str(k): v for k, v in calldata.items()},
            "model": model,
        },
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print_tables(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gas.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.out / "gas.png")
    console.print(
        f"wrote {args.out / 'gas.json'} and {args.out / 'gas.png'} in {result['wall_seconds']} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Gas of the secure sum game, measured in real secure rounds: every move of a dispute that
refutes a wrong SecAgg+ aggregate, for each kind of term the bisection can end at.

    python -m benchmarks.secure_game            # n ∈ {5, 10, 20}: ~3-6 min on 2 loaded cores
    python -m benchmarks.secure_game --quick    # n = 5 only

Each run is one secure round on an ``EmbeddedChain``: n owners (synthetic data, a logistic
regression over 255 features: d = 512 parameters, two chunks of 256), the honest aggregator as
backup, the watcher, and a rogue incumbent that posts Σ + 1 (last element) and states running
sums that are honest up to one term: the last one (a zero pairwise term), a masked input
(t = 1), a self mask (t = 2), or, with one owner dropping out after sharing its keys, the
first mask taken off for it (a pairwise term: revealed mask key checked against the advertised
public key, X25519 agreement, HKDF, ChaCha20 chunk and the neighbour graph recomputed). Every
gas number is a receipt's gasUsed from the run's ``GasLedger``.

The pairwise step recomputes the neighbour graph (a Fisher–Yates shuffle of U1's indices,
O(n)); ``SecureTerms.isNeighbour`` is also measured alone at n ∈ {10, 100, 1000} members
(members 0 and 1, sent as transactions).

Writes benchmarks/results/secure_game.json (rows with n, d, step, gas) and prints a table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.provenance import evm_versions, run_meta
from fedchain.chain import EmbeddedChain
from fedchain.chain.artifacts import load_artifact
from fedchain.chain.gas import GasLedger
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import KeeperNode, LocalData, TaskConfig
from fedchain.node.secure import SecureAggregatorNode, SecureTrainerNode
from fedchain.node.secure_terms import SecureTerms
from fedchain.node.watcher import WatcherNode
from fedchain.sim.consortium import Consortium
from fedchain.sim.faults import SecureRogueAggregator
from fedchain.sim.runner import run_task
from fedchain.storage import LocalDirStore

RESULTS = Path(__file__).resolve().parent / "results"
FEATURES = 255  # (255 + 1) · 2 classes = 512 parameters
CHUNK = 256
GAME_OPS = (
    "challenge_secure_sum",
    "dispute_open",
    "dispute_defend",
    "dispute_bisect",
    "prove_secure_step",
)
CASES = ("last-term", "masked-input", "self-mask", "dropout-pairwise")


class _Dropout(SecureTrainerNode):
    """Shares its keys, then vanishes before its masked input."""

    def poll(self) -> Any:
        if self.coordinator.get_task(self.task_id).phase.name in ("COMMIT", "UNMASK"):
            return None
        return super().poll()


class _FromFirstPairwise(SecureRogueAggregator):
    """Lies from the first mask taken off for a dropout."""

    def running_sum_for(self, terms: SecureTerms, chunk: int, upto: int) -> np.ndarray:
        self.lie_from = terms.pairwise_terms()[0]
        return super().running_sum_for(terms, chunk, upto)


def _data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    return LocalData(x, (x[:, 0] > 0).astype(np.int64))


def run_case(n: int, case: str, workdir: Path) -> dict[str, Any]:
    """One secure round with the rogue; the gas of each game move, and what was proven."""
    chain = EmbeddedChain()
    store = LocalDirStore(workdir / f"{n}-{case}")
    ledger = GasLedger()
    c = Consortium.create(chain, store, num_participants=n, seed=7, ledger=ledger)
    cfg = TaskConfig.build(
        dataset="synthetic",
        model=ModelSpec(arch="logreg", input_dim=FEATURES, num_classes=2),
        train=TrainConfig(epochs=1, batch_size=16),
        chunk_elems=CHUNK,
    )
    tid = c.create_task(cfg, rounds=1, min_participants=3, seed=0, secure_aggregation=True)
    samples = [20 + 3 * i for i in range(n)]
    for i, s in enumerate(samples):
        info = c.coordinator.get_task(tid)
        c.token.approve(
            c.participants[i], c.coordinator.address, info.stake_amount + info.stake_per_sample * s
        )
        c.coordinator.join(c.participants[i], tid, s)
    c.start(tid)
    dropout = 2 if case == "dropout-pairwise" else None
    nodes: list[Any] = [
        (_Dropout if i == dropout else SecureTrainerNode)(
            f"owner-{i}", c.participants[i], c.coordinator, store, _data(s, i), task_id=tid
        )
        for i, s in enumerate(samples)
    ]
    lie_from = {"last-term": None, "masked-input": 1, "self-mask": 2}.get(case)
    rogue_cls = _FromFirstPairwise if case == "dropout-pairwise" else SecureRogueAggregator
    common = {"task_id": tid, "disputes": c.disputes}
    nodes.append(
        rogue_cls(
            "rogue",
            c.participants[0],
            c.coordinator,
            store,
            fault="wrong-aggregate",
            lie_from=lie_from,
            **common,
        )
    )
    nodes.append(SecureAggregatorNode("agg", c.participants[n - 1], c.coordinator, store, **common))
    nodes.append(WatcherNode("watcher", c.sponsor, c.coordinator, store, token=c.token, **common))
    nodes.append(KeeperNode("keeper", c.sponsor, c.coordinator, task_id=tid))
    started = time.perf_counter()
    run_task(c.coordinator, tid, nodes, ledger=ledger)
    (game,) = c.disputes.games(tid, 1)
    refuted = [(r, a) for r, a, _, _ in c.coordinator.voided(tid)] == [
        (1, c.participants[0].address)
    ]
    per_op: dict[str, list[int]] = {}
    for e in ledger.records:
        if e.operation in GAME_OPS:
            per_op.setdefault(e.operation, []).append(e.gas_used)
    return {
        "n": n,
        "d": cfg.num_parameters,
        "case": case,
        "term": game.hi,
        "terms": n * (2 + n) if dropout is None else (n - 1) * (2 + n),
        "refuted": refuted,
        "moves": {op: len(g) for op, g in per_op.items()},
        "gas": {op: max(g) for op, g in per_op.items()},
        "dispute_total_gas": sum(sum(g) for g in per_op.values()),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def measure_graph(sizes: list[int]) -> list[dict[str, Any]]:
    """gasUsed of SecureTerms.isNeighbour(seed, n, 0, 1), sent as a transaction."""
    chain = EmbeddedChain()
    art = load_artifact("SecureTerms")
    w3 = chain.w3
    acct = w3.eth.accounts[0]
    tx = w3.eth.contract(abi=art.abi, bytecode=art.bytecode).constructor().transact({"from": acct})
    address = w3.eth.get_transaction_receipt(tx)["contractAddress"]
    terms = w3.eth.contract(address=address, abi=art.abi)
    rows = []
    for n in sizes:
        h = terms.functions.isNeighbour(b"\x07" * 32, n, 0, 1).transact(
            {"from": acct, "gas": 16_777_216}
        )
        rows.append(
            {
                "n": n,
                "step": "isNeighbour",
                "gas": int(w3.eth.get_transaction_receipt(h)["gasUsed"]),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="n = 5 only, graph at n ≤ 100")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/fedchain-secure-game"))
    args = ap.parse_args(argv)
    sizes = [5] if args.quick else [5, 10, 20]
    started = time.perf_counter()
    runs = [run_case(n, case, args.workdir) for n in sizes for case in CASES]
    graph = measure_graph([10, 100] if args.quick else [10, 100, 1000])
    rows = [
        {"n": r["n"], "d": r["d"], "case": r["case"], "step": op, "gas": g}
        for r in runs
        for op, g in r["gas"].items()
    ] + graph
    out = {
        "benchmark": "secure_game",
        "meta": {**run_meta(), "chain": f"embedded ({evm_versions()})"},
        "config": {"sizes": sizes, "cases": list(CASES), "chunk_elems": CHUNK},
        "runs": runs,
        "rows": rows,
        "summary": {
            "all_refuted": all(r["refuted"] for r in runs),
            "max_step_gas": max(r["gas"].get("prove_secure_step", 0) for r in runs),
            "wall_seconds": round(time.perf_counter() - started, 1),
        },
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "secure_game.json").write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'n':>4} {'case':>17} {'term':>6} {'prove_secure_step':>18} {'whole dispute':>14}")
    for r in runs:
        print(
            f"{r['n']:>4} {r['case']:>17} {r['term']:>6} "
            f"{r['gas'].get('prove_secure_step', 0):>18,} {r['dispute_total_gas']:>14,}"
        )
    for g in graph:
        print(f"isNeighbour n={g['n']}: {g['gas']:,} gas")
    return 0 if out["summary"]["all_refuted"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

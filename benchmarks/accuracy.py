"""Federated (through the real on-chain protocol) vs centralized accuracy.

    python -m benchmarks.accuracy                 # full run: 2 data sets × (10, 30 rounds) × 5 seeds
    python -m benchmarks.accuracy --seeds-30 3    # fewer seeds for the 30-round runs
    python -m benchmarks.accuracy --quick         # 1 seed, 10 rounds (a smoke run)

Each federated run is ``fedchain.sim.demo.run_demo`` on the embedded chain: 10 data owners with a
Dirichlet(α = 0.5) split, the demo's defaults (MLP with one hidden layer of 32, 2 local epochs,
batch 16, SGD lr 0.05 momentum 0.9), every update clipped, encoded with 20 fractional bits,
committed on-chain, aggregated exactly, finalized and finally audited. Its report carries the
centralized baseline (same model, same initial weights, rounds × local epochs over the pooled
training split) and the accuracy after every round.

Beside it, two in-memory references on the same data, split and initial model:
- ``run_plain_fedavg`` (the learning layer's float FedAvg, its own client shuffling seeds);
- a float "mirror" of the protocol: the same per-client training seeds the trainer nodes use
  (``fedchain.node.trainer.round_seed``) and the same clipping, but no fixed-point encoding,
  no chain, no store. Chain vs mirror isolates what the protocol itself changes.

Writes benchmarks/results/accuracy.json and accuracy.png and prints tables. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from benchmarks.provenance import git_state

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"

DATASETS = ("breast_cancer", "digits")
ROUNDS = (10, 30)
CLIENTS = 10
ALPHA = 0.5
WEIGHT_CAP_PCT = 200  # Consortium.create_task's default, which the demo keeps
TARGET_PP = 1.0  # federated within 1 percentage point of centralized (on average over seeds)

console = Console()
if not console.is_terminal:
    console = Console(width=170)


# --------------------------------------------------------------------------- one job


def _demo_config(dataset: str, rounds: int, seed: int) -> Any:
    from fedchain.sim.demo import DemoConfig

    return DemoConfig(
        clients=CLIENTS,
        rounds=rounds,
        dataset=dataset,
        alpha=ALPHA,
        model="mlp",
        hidden=(32,),
        chain="embedded",
        seed=seed,
        local_epochs=2,
        batch_size=16,
        lr=0.05,
        momentum=0.9,
    )


def run_chain(dataset: str, rounds: int, seed: int) -> dict[str, Any]:
    """One federated run through the real protocol (embedded chain), summarized."""
    from fedchain.sim.demo import run_demo

    rep = run_demo(_demo_config(dataset, rounds, seed))
    return {
        "kind": "chain",
        "dataset": dataset,
        "rounds": rounds,
        "seed": seed,
        "final_accuracy": rep.final_accuracy,
        "centralized_accuracy": rep.centralized_accuracy,
        "per_round_accuracy": [r["accuracy"] for r in rep.rounds],
        "finalized_rounds": sum(1 for r in rep.rounds if r["finalized"]),
        "gas_per_participant_round": rep.gas_per_participant_round,
        "audit_passed": bool(rep.audit["passed"]),
        "wall_seconds": round(rep.wall_seconds, 2),
    }


def run_references(dataset: str, rounds: int, seed: int) -> dict[str, Any]:
    """Plain FedAvg and the float mirror of the protocol, on the demo's data, split and model."""
    import torch

    from fedchain.chain import derive_account
    from fedchain.codec.fixedpoint import DEFAULT_FRAC_BITS
    from fedchain.learning import (
        ModelSpec,
        TrainConfig,
        build_model,
        evaluate,
        flatten_params,
        load_dataset,
        load_flat_params,
        partition,
        run_plain_fedavg,
        train_local,
    )
    from fedchain.node import TaskConfig
    from fedchain.node.trainer import round_seed

    torch.set_num_threads(1)
    started = time.perf_counter()
    cfg = _demo_config(dataset, rounds, seed)
    data = load_dataset(dataset, seed=seed)
    parts = partition(data.y_train, CLIENTS, alpha=ALPHA, seed=seed)
    spec = ModelSpec(
        arch="mlp",
        input_dim=data.num_features,
        num_classes=data.num_classes,
        hidden=tuple(cfg.hidden),
    )
    train_cfg = TrainConfig(
        epochs=cfg.local_epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum
    )
    task_cfg = TaskConfig.build(dataset=dataset, model=spec, train=train_cfg)
    assert task_cfg.frac_bits == DEFAULT_FRAC_BITS

    plain = run_plain_fedavg(spec, data, parts, train_cfg, rounds=rounds, seed=seed)

    # The mirror: what the trainer nodes compute, in float64/float32, without the protocol.
    # The demo creates exactly one task (id 1); participant i holds derive_account(seed, i + 1).
    addresses = [derive_account(seed, i + 1).address for i in range(CLIENTS)]
    # Weights are the counts declared at join (the true ones), capped by the contract at
    # WEIGHT_CAP_PCT% of the median the sponsor names at start (Consortium.start: the lower one).
    declared = [int(len(p)) for p in parts]
    median = sorted(declared)[(len(declared) - 1) // 2]
    cap = max(1, median * WEIGHT_CAP_PCT // 100)
    weights = [min(d, cap) for d in declared]
    global_flat = flatten_params(build_model(spec, seed=seed)).astype(np.float64)
    worker = build_model(spec, seed=0)
    mirror: list[float] = []
    for r in range(1, rounds + 1):
        acc = np.zeros_like(global_flat)
        total = 0
        start = global_flat.astype(np.float32)
        for idx, addr, weight in zip(parts, addresses, weights, strict=True):
            load_flat_params(worker, start)
            train_local(
                worker,
                data.x_train[idx],
                data.y_train[idx],
                train_cfg,
                seed=round_seed(seed, 1, r, addr),
            )
            delta = flatten_params(worker).astype(np.float64) - start.astype(np.float64)
            norm = float(np.linalg.norm(delta))
            if norm > task_cfg.clip_norm:
                delta *= task_cfg.clip_norm / norm
            acc += weight * delta
            total += weight
        global_flat = global_flat + acc / total
        load_flat_params(worker, global_flat.astype(np.float32))
        mirror.append(evaluate(worker, data.x_test, data.y_test)[0])
    return {
        "kind": "references",
        "dataset": dataset,
        "rounds": rounds,
        "seed": seed,
        "plain_fedavg_per_round": plain,
        "mirror_per_round": mirror,
        "client_samples": declared,
        "client_weights": weights,
        "test_samples": int(len(data.y_test)),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def _job(args: tuple[str, str, int, int]) -> dict[str, Any]:
    kind, dataset, rounds, seed = args
    return (
        run_chain(dataset, rounds, seed)
        if kind == "chain"
        else run_references(dataset, rounds, seed)
    )


# --------------------------------------------------------------------------- summary


def _pp(x: float) -> float:
    return round(100.0 * x, 2)


def summarize(
    chain_runs: list[dict[str, Any]], refs: dict[tuple[str, int], dict[str, Any]]
) -> list[dict[str, Any]]:
    rows = []
    for ds in DATASETS:
        for rounds in sorted({r["rounds"] for r in chain_runs}):
            runs = sorted(
                (r for r in chain_runs if r["dataset"] == ds and r["rounds"] == rounds),
                key=lambda r: r["seed"],
            )
            if not runs:
                continue
            fed_gap, plain_gap, mirror_diff, per_seed = [], [], [], []
            for r in runs:
                ref = refs[(ds, r["seed"])]
                plain = ref["plain_fedavg_per_round"][rounds - 1]
                mirror = ref["mirror_per_round"][:rounds]
                fed_gap.append(r["final_accuracy"] - r["centralized_accuracy"])
                plain_gap.append(plain - r["centralized_accuracy"])
                diffs = [abs(a - b) for a, b in zip(r["per_round_accuracy"], mirror, strict=True)]
                mirror_diff.append(max(diffs))
                per_seed.append(
                    {
                        "seed": r["seed"],
                        "federated_chain": r["final_accuracy"],
                        "plain_fedavg": plain,
                        "mirror_float": mirror[-1],
                        "centralized": r["centralized_accuracy"],
                        "chain_minus_centralized_pp": _pp(fed_gap[-1]),
                        "plain_minus_centralized_pp": _pp(plain_gap[-1]),
                        "max_abs_chain_minus_mirror_pp_any_round": _pp(mirror_diff[-1]),
                        "rounds_where_chain_differs_from_mirror": sum(d > 0 for d in diffs),
                        "audit_passed": r["audit_passed"],
                        "wall_seconds": r["wall_seconds"],
                    }
                )
            mean_gap = mean(fed_gap)
            rows.append(
                {
                    "dataset": ds,
                    "rounds": rounds,
                    "seeds": [r["seed"] for r in runs],
                    "test_samples": refs[(ds, runs[0]["seed"])]["test_samples"],
                    "one_test_sample_pp": round(
                        100.0 / refs[(ds, runs[0]["seed"])]["test_samples"], 2
                    ),
                    "federated_chain_accuracy_mean": round(
                        mean(r["final_accuracy"] for r in runs), 4
                    ),
                    "centralized_accuracy_mean": round(
                        mean(r["centralized_accuracy"] for r in runs), 4
                    ),
                    "plain_fedavg_accuracy_mean": round(
                        mean(p["plain_fedavg"] for p in per_seed), 4
                    ),
                    "chain_minus_centralized_pp": {
                        "mean": _pp(mean_gap),
                        "min": _pp(min(fed_gap)),
                        "max": _pp(max(fed_gap)),
                    },
                    "plain_minus_centralized_pp": {
                        "mean": _pp(mean(plain_gap)),
                        "min": _pp(min(plain_gap)),
                        "max": _pp(max(plain_gap)),
                    },
                    "chain_minus_plain_pp_mean": _pp(mean_gap - mean(plain_gap)),
                    "max_abs_chain_minus_mirror_pp": _pp(max(mirror_diff)),
                    "target_within_1pp_met": bool(mean_gap >= -TARGET_PP / 100.0),
                    "all_audits_passed": all(r["audit_passed"] for r in runs),
                    "seconds_per_run_mean": round(mean(r["wall_seconds"] for r in runs), 2),
                    "per_seed": per_seed,
                }
            )
    return rows


def determinism_check(chain_runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A 30-round run's accuracy after round 10 equals the 10-round run's final accuracy."""
    out = []
    for r30 in (r for r in chain_runs if r["rounds"] == max(ROUNDS)):
        r10 = next(
            (
                r
                for r in chain_runs
                if r["rounds"] == min(ROUNDS)
                and r["dataset"] == r30["dataset"]
                and r["seed"] == r30["seed"]
            ),
            None,
        )
        if r10 is not None:
            out.append(
                {
                    "dataset": r30["dataset"],
                    "seed": r30["seed"],
                    "same_first_10_rounds": r10["per_round_accuracy"]
                    == r30["per_round_accuracy"][: len(r10["per_round_accuracy"])],
                }
            )
    return out


def print_tables(result: dict[str, Any]) -> None:
    t = Table(
        title=f"federated (on-chain protocol) vs centralized accuracy: {CLIENTS} clients, Dirichlet α={ALPHA}, "
        "MLP(32), 2 local epochs, batch 16, SGD 0.05/0.9"
    )
    for col in (
        "data set",
        "rounds",
        "seeds",
        "chain acc\n(mean)",
        "centralized\n(mean)",
        "chain − central, pp\nmean [min, max]",
        "plain FedAvg − central, pp\nmean [min, max]",
        "max |chain − mirror|\npp, any round",
        "within 1 pp",
        "audit",
        "s/run",
    ):
        t.add_column(col, justify="right")
    for r in result["summary"]:
        g, p = r["chain_minus_centralized_pp"], r["plain_minus_centralized_pp"]
        t.add_row(
            r["dataset"],
            str(r["rounds"]),
            str(len(r["seeds"])),
            f"{100 * r['federated_chain_accuracy_mean']:.2f}%",
            f"{100 * r['centralized_accuracy_mean']:.2f}%",
            f"{g['mean']:+.2f} [{g['min']:+.2f}, {g['max']:+.2f}]",
            f"{p['mean']:+.2f} [{p['min']:+.2f}, {p['max']:+.2f}]",
            f"{r['max_abs_chain_minus_mirror_pp']:.2f}",
            "[green]yes[/green]" if r["target_within_1pp_met"] else "[red]no[/red]",
            "pass" if r["all_audits_passed"] else "[red]FAIL[/red]",
            f"{r['seconds_per_run_mean']:.1f}",
        )
    console.print(t)
    console.print(
        "one test sample is "
        + ", ".join(
            f"{r['one_test_sample_pp']} pp on {r['dataset']}"
            for r in result["summary"]
            if r["rounds"] == min(ROUNDS)
        )
    )


def plot(
    result: dict[str, Any],
    chain_runs: list[dict[str, Any]],
    refs: dict[tuple[str, int], dict[str, Any]],
    path: Path,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seed = result["plot_seed"]
    fig, axes = plt.subplots(1, len(DATASETS), figsize=(12, 4.5))
    for ax, ds in zip(axes, DATASETS, strict=True):
        runs = {r["rounds"]: r for r in chain_runs if r["dataset"] == ds and r["seed"] == seed}
        if not runs:
            continue
        longest = runs[max(runs)]
        xs = list(range(1, len(longest["per_round_accuracy"]) + 1))
        ref = refs[(ds, seed)]
        ax.plot(
            xs,
            [100 * a for a in longest["per_round_accuracy"]],
            "o-",
            ms=3,
            color="tab:green",
            label="federated, on-chain protocol",
        )
        ax.plot(
            xs,
            [100 * a for a in ref["mirror_per_round"][: len(xs)]],
            "x",
            ms=5,
            color="black",
            label="float mirror (same seeds, no chain)",
        )
        ax.plot(
            xs,
            [100 * a for a in ref["plain_fedavg_per_round"][: len(xs)]],
            "--",
            color="tab:blue",
            label="plain FedAvg in memory",
        )
        for rounds, style in ((max(runs), "-"), (min(runs), ":")):
            if rounds in runs:
                ax.axhline(
                    100 * runs[rounds]["centralized_accuracy"],
                    color="tab:red",
                    ls=style,
                    label=f"centralized, {2 * rounds} epochs (= {rounds} rounds' budget)",
                )
        ax.set_title(f"{ds} (seed {seed}, {CLIENTS} clients, Dirichlet α={ALPHA})")
        ax.set_xlabel("round")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 for the 10-round runs")
    ap.add_argument("--seeds-30", type=int, default=5, help="seeds 0..N-1 for the 30-round runs")
    ap.add_argument(
        "--jobs", type=int, default=min(2, os.cpu_count() or 1), help="runs in parallel (processes)"
    )
    ap.add_argument("--quick", action="store_true", help="1 seed, 10 rounds only")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    plan = {10: args.seeds, 30: args.seeds_30} if not args.quick else {10: 1}
    started = time.perf_counter()
    load_at_start = [round(x, 2) for x in os.getloadavg()]

    jobs: list[tuple[str, str, int, int]] = []
    for ds in DATASETS:
        for rounds, n_seeds in plan.items():
            jobs += [("chain", ds, rounds, s) for s in range(n_seeds)]
        max_rounds = max(plan)
        jobs += [("references", ds, max_rounds, s) for s in range(max(plan.values()))]
    # Longest first, so the two workers finish together.
    jobs.sort(key=lambda j: (-(j[2] * (3 if j[1] == "digits" else 1)), j[0] != "chain"))

    results: list[dict[str, Any]] = []
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            for res in pool.map(_job, jobs):
                results.append(res)
                _log(res)
    else:
        for j in jobs:
            results.append(_job(j))
            _log(results[-1])

    chain_runs = [r for r in results if r["kind"] == "chain"]
    refs = {(r["dataset"], r["seed"]): r for r in results if r["kind"] == "references"}
    commit, dirty = git_state(ROOT)
    result = {
        "benchmark": "accuracy",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "git_commit": commit,
        "git_dirty_src_or_contracts": dirty,
        "load_average_at_start": load_at_start,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "config": {
            "clients": CLIENTS,
            "alpha": ALPHA,
            "model": "mlp hidden (32,)",
            "local_epochs": 2,
            "batch_size": 16,
            "lr": 0.05,
            "momentum": 0.9,
            "frac_bits": 20,
            "chain": "embedded",
            "seeds_per_rounds": {str(k): list(range(v)) for k, v in plan.items()},
            "parallel_jobs": args.jobs,
            "target": f"mean(chain − centralized) ≥ −{TARGET_PP} pp",
        },
        "plot_seed": 0,
        "summary": summarize(chain_runs, refs),
        "determinism_round10_of_30_equals_10_round_run": determinism_check(chain_runs),
        "runs": sorted(chain_runs, key=lambda r: (r["dataset"], r["rounds"], r["seed"])),
        "references": sorted(refs.values(), key=lambda r: (r["dataset"], r["seed"])),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    print_tables(result)
    det = determinism_check(chain_runs)
    if det:
        same = sum(d["same_first_10_rounds"] for d in det)
        console.print(
            f"determinism: the first 10 rounds of each 30-round run equal the 10-round run in {same}/{len(det)} cases"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result, chain_runs, refs, args.out / "accuracy.png")
    console.print(
        f"wrote {args.out / 'accuracy.json'} and {args.out / 'accuracy.png'} in {result['wall_seconds']} s"
    )
    return 0


def _log(res: dict[str, Any]) -> None:
    if res["kind"] == "chain":
        console.log(
            f"{res['dataset']} {res['rounds']} rounds seed {res['seed']}: chain {100 * res['final_accuracy']:.2f}% "
            f"centralized {100 * res['centralized_accuracy']:.2f}% ({res['wall_seconds']:.1f} s)"
        )
    else:
        console.log(f"{res['dataset']} references seed {res['seed']} ({res['wall_seconds']:.1f} s)")


if __name__ == "__main__":
    raise SystemExit(main())

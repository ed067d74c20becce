"""Wall time of one federated job, three ways, side by side: ``python -m benchmarks.walltime``.

Contenders, all on the same job (data set, Dirichlet split, model, local recipe, seed):

(a) ``plain``   — in-memory FedAvg, no chain (``fedchain.learning.run_plain_fedavg``);
(b) ``fedchain`` — the demo on the embedded chain (``fedchain.sim.demo.run_demo``): deploy,
    stake, train, commit, aggregate, finalize, settle, plus the demo's extras (a centralized
    baseline and a full audit), each timed separately;
(c) ``flower``  — Flower's own simulation (``benchmarks/flower_job.py``, in a child process).

Two jobs: the demo's small one (breast_cancer, 10 clients, α = 0.5, 30 rounds, MLP(32), 2 local
epochs, batch 16, SGD lr 0.05 momentum 0.9, seed 0) where coordination dominates, and a
training-heavy one (a ~10⁶-parameter MLP from ``spec_for_parameter_count``, 5 rounds) where
it should not. Every contender trains with one torch thread per client; Flower runs
``--flower-cpus`` (default: all cores) client actors of one CPU each in parallel, which
fedchain's in-process simulation does not do.

Outputs: ``benchmarks/results/walltime.json`` (every number, per repeat), ``walltime.png``
(bar chart), optional ``walltime_profile.json`` (``--profile``: where fedchain's rounds spend
their time), and a table on the terminal. A benchmark, not a test: nothing here asserts a
time; targets are reported as met or not.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import platform
import pstats
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import fedchain.sim.demo as demo_module
from fedchain.learning import (
    ModelSpec,
    TrainConfig,
    build_model,
    load_dataset,
    num_parameters,
    partition,
    run_plain_fedavg,
    spec_for_parameter_count,
    train_local,
)
from fedchain.sim.demo import DemoConfig, Progress, run_demo

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]

# Targets from the issue.
TARGET_HEAVY_RATIO = 1.10  # fedchain federated rounds / plain FedAvg, training-heavy job


@dataclass(frozen=True)
class Job:
    """One federated job, as every contender runs it."""

    name: str
    dataset: str
    clients: int
    alpha: float
    rounds: int
    hidden: tuple[int, ...]
    epochs: int = 2
    batch_size: int = 16
    lr: float = 0.05
    momentum: float = 0.9
    seed: int = 0

    def data(self) -> Any:
        return load_dataset(self.dataset, seed=self.seed)

    def spec(self) -> ModelSpec:
        d = self.data()
        return ModelSpec(
            arch="mlp", input_dim=d.num_features, num_classes=d.num_classes, hidden=self.hidden
        )

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, momentum=self.momentum
        )

    def demo_config(self, workdir: Path, chain: str = "embedded") -> DemoConfig:
        return DemoConfig(
            clients=self.clients,
            rounds=self.rounds,
            dataset=self.dataset,
            alpha=self.alpha,  # type: ignore[arg-type]
            model="mlp",
            hidden=self.hidden,
            chain=chain,
            workdir=workdir,
            seed=self.seed,
            local_epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            momentum=self.momentum,
        )

    def flower_json(self) -> str:
        return json.dumps(
            {
                "dataset": self.dataset,
                "clients": self.clients,
                "alpha": self.alpha,
                "rounds": self.rounds,
                "seed": self.seed,
                "model": self.spec().to_dict(),
                "train": self.train_config().to_dict(),
            },
            sort_keys=True,
        )

    def describe(self) -> dict[str, Any]:
        spec = self.spec()
        return {
            "name": self.name,
            "dataset": self.dataset,
            "clients": self.clients,
            "dirichlet_alpha": self.alpha,
            "rounds": self.rounds,
            "model": spec.to_dict(),
            "parameters": num_parameters(spec),
            "train": self.train_config().to_dict(),
            "seed": self.seed,
        }


def small_job(rounds: int) -> Job:
    return Job("demo job", "breast_cancer", 10, 0.5, rounds, (32,))


def heavy_job(params: int, dataset: str, rounds: int) -> Job:
    d = load_dataset(dataset, seed=0)
    spec = spec_for_parameter_count(params, d.num_features, d.num_classes)
    return Job("training-heavy job", dataset, 10, 0.5, rounds, spec.hidden)


# --------------------------------------------------------------------------- contenders
def run_plain(job: Job) -> dict[str, Any]:
    """(a) plain FedAvg: data set + split + ``run_plain_fedavg`` (which evaluates every round)."""
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = job.data()
    parts = partition(data.y_train, job.clients, alpha=job.alpha, seed=job.seed)
    t1 = time.perf_counter()
    accs = run_plain_fedavg(
        job.spec(), data, parts, job.train_config(), rounds=job.rounds, seed=job.seed
    )
    t2 = time.perf_counter()
    return {
        "wall_seconds": t2 - t0,
        "setup_seconds": t1 - t0,
        "rounds_seconds": t2 - t1,
        "final_accuracy": accs[-1],
        "accuracies": accs,
    }


class StageClock(Progress):
    """Timestamps of the demo's stages (its progress callbacks), to split its wall time."""

    def __init__(self) -> None:
        self.stamps: list[tuple[str, float]] = []

    def stage(self, message: str) -> None:
        self.stamps.append((message, time.perf_counter()))


def _stage_key(message: str) -> str:
    for prefix, key in (
        ("starting", "chain_start"),
        ("loading", "data"),
        ("deploying", "deploy_fund_task"),
        ("training", "rounds"),
        ("participants", "settle"),
        ("centralized", "centralized_baseline"),
        ("auditing", "audit"),
    ):
        if message.startswith(prefix):
            return key
    return message


def run_fedchain(job: Job, workdir: Path, chain: str = "embedded") -> dict[str, Any]:
    """(b) fedchain's demo on a chain (embedded by default), timed end to end and stage by stage."""
    if workdir.exists():
        shutil.rmtree(workdir)
    clock = StageClock()
    t0 = time.perf_counter()
    report = run_demo(job.demo_config(workdir, chain), clock)
    t_returned = time.perf_counter()
    shutil.rmtree(workdir, ignore_errors=True)  # what run_demo's temporary directory would cost
    t_end = time.perf_counter()
    stamps = clock.stamps + [("end", t_returned)]
    stages = {_stage_key(m): b - a for (m, a), (_, b) in zip(stamps, stamps[1:], strict=False)}
    stages["before_first_stage"] = stamps[0][1] - t0
    stages["workdir_cleanup"] = t_end - t_returned
    round_seconds = [float(r["seconds"]) for r in report.rounds]  # type: ignore[arg-type]
    extras = stages.get("centralized_baseline", 0.0) + stages.get("audit", 0.0)
    return {
        "wall_seconds": t_end - t0,
        "report_wall_seconds": report.wall_seconds,
        "job_seconds": (t_end - t0) - extras,
        "rounds_seconds": sum(round_seconds),
        "run_task_seconds": stages.get("rounds", 0.0),
        "round_seconds": round_seconds,
        "stages": stages,
        "final_accuracy": report.final_accuracy,
        "accuracies": [r["accuracy"] for r in report.rounds],
        "centralized_accuracy": report.centralized_accuracy,
        "rounds_finalized": sum(1 for r in report.rounds if r["finalized"]),
        "audit_passed": report.audit["passed"],
        "gas_per_participant_round": report.gas_per_participant_round,
    }


def _session_pids(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the Flower child and everything Ray started for it)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 3 and fields[0] != "Z" and int(fields[3]) == sid:
            out.append(int(entry))
    return out


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .replace(b"\0", b" ")
            .decode(errors="replace")
            .strip()
        )
    except OSError:
        return "?"


def run_flower(
    job: Job, scratch: Path, *, cpus: int, log: Path, python: str | None = None
) -> dict[str, Any]:
    """(c) Flower's simulation in a child process (its own session, so that whatever Ray starts
    can be found afterwards and, if still alive after a grace period, stopped by pid)."""
    out = scratch / "flower_result.json"
    ray_tmp = scratch / "ray"
    out.unlink(missing_ok=True)
    cmd = [
        python or sys.executable,
        "-m",
        "benchmarks.flower_job",
        "--job",
        job.flower_json(),
        "--out",
        str(out),
        "--num-cpus",
        str(cpus),
        "--cpus-per-client",
        "1",
        "--ray-tmp",
        str(ray_tmp),
    ]
    # REPO for benchmarks.flower_job, REPO/src for fedchain.learning (a separate Flower venv
    # needs only torch, numpy and scikit-learn besides flwr[simulation]).
    pythonpath = os.pathsep.join(
        p for p in (str(REPO), str(REPO / "src"), os.environ.get("PYTHONPATH", "")) if p
    )
    env = dict(os.environ, FLWR_TELEMETRY_ENABLED="0", PYTHONPATH=pythonpath)
    t0 = time.perf_counter()
    with open(log, "a", encoding="utf-8") as fh:
        proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            rc = proc.wait(timeout=1800)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    wall = time.perf_counter() - t0
    # Ray's actors and daemons outlive the driver for a moment; wait for them, then stop them.
    leftovers: list[str] = []
    deadline = time.monotonic() + 20
    while _session_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    waited = time.perf_counter() - t0 - wall
    for pid in _session_pids(proc.pid):
        leftovers.append(f"{pid} {_cmdline(pid)}")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    shutil.rmtree(ray_tmp, ignore_errors=True)
    if rc != 0 or not out.exists():
        raise RuntimeError(f"Flower job failed (exit {rc}); see {log}")
    result = json.loads(out.read_text())
    rs = result["round_seconds"]
    result.update(
        {
            "wall_seconds": wall,
            "process_seconds": wall,
            "rounds_after_first_seconds": sum(rs[1:]),
            "final_accuracy": result["accuracies"][-1],
            "leftover_processes_after_exit": leftovers,
            "seconds_until_ray_processes_gone": round(waited, 2),
        }
    )
    return result


# --------------------------------------------------------------------------- profiling
PROFILE_CATEGORIES: list[tuple[str, list[tuple[str, str]]]] = [
    ("local training (train_local)", [("fedchain/learning/train.py", "train_local")]),
    ("evaluation of each new model", [("fedchain/learning/train.py", "evaluate")]),
    ("model construction (build_model)", [("fedchain/learning/models.py", "build_model")]),
    ("contract reads (eth_call)", [("web3/contract/contract.py", "call")]),
    ("event index (eth_getLogs)", [("fedchain/chain/contracts.py", "sync")]),
    ("transactions (build, sign, send, mine)", [("fedchain/chain/transactor.py", "send")]),
    (
        "chain clock (latest block, time travel)",
        [("fedchain/chain/backends.py", "now"), ("fedchain/chain/backends.py", "advance_time")],
    ),
    # MerkleSumTree.__init__ is the only __init__ in merkle.py (SumNode's is generated).
    ("Merkle-sum commitments (keccak)", [("fedchain/codec/merkle.py", "__init__")]),
    (
        "blob store (sha256, write+fsync, read)",
        [
            ("fedchain/storage/local.py", "put"),
            ("fedchain/storage/local.py", "get"),
            ("fedchain/storage/local.py", "put_named"),
            ("fedchain/storage/local.py", "get_named"),
        ],
    ),
    (
        "fixed-point + blob encoding",
        [
            ("fedchain/codec/fixedpoint.py", "encode_update"),
            ("fedchain/codec/fixedpoint.py", "dequantize"),
            ("fedchain/codec/fixedpoint.py", "quantize"),
            ("fedchain/codec/blob.py", "encode_vector_blob"),
            ("fedchain/codec/blob.py", "decode_vector_blob"),
        ],
    ),
    (
        "exact aggregation",
        [
            ("fedchain/aggregation/fedavg.py", "weighted_sum"),
            ("fedchain/aggregation/fedavg.py", "apply_aggregate"),
        ],
    ),
]
DETAIL_FUNCTIONS = [
    ("fedchain/chain/contracts.py", "get_task"),
    ("fedchain/chain/contracts.py", "get_member"),
    ("web3/providers/eth_tester/middleware.py", "guess_from"),
    ("eth_tester/backends/pyevm/main.py", "send_raw_transaction"),
    ("fedchain/chain/transactor.py", "send"),
    ("web3/contract/contract.py", "call"),
]


def _find(stats: pstats.Stats, path: str, func: str) -> tuple[int, float]:
    calls, cum = 0, 0.0
    for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if name == func and filename.replace(os.sep, "/").endswith(path):
            calls += nc
            cum += ct
    return calls, cum


def profile_fedchain(job: Job, workdir: Path) -> dict[str, Any]:
    """cProfile of fedchain's federated rounds only (``run_task`` inside ``run_demo``)."""
    prof = cProfile.Profile()
    real_run_task = demo_module.run_task
    spent: dict[str, float] = {}

    def profiled_run_task(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return prof.runcall(real_run_task, *args, **kwargs)
        finally:
            spent["run_task"] = time.perf_counter() - t0

    demo_module.run_task = profiled_run_task  # type: ignore[assignment]
    try:
        if workdir.exists():
            shutil.rmtree(workdir)
        run_demo(job.demo_config(workdir))
    finally:
        demo_module.run_task = real_run_task  # type: ignore[assignment]
        shutil.rmtree(workdir, ignore_errors=True)
    stats = pstats.Stats(prof)
    total = stats.total_tt  # type: ignore[attr-defined]
    categories = {}
    for label, keys in PROFILE_CATEGORIES:
        calls, cum = 0, 0.0
        for path, func in keys:
            c, t = _find(stats, path, func)
            calls, cum = calls + c, cum + t
        categories[label] = {
            "calls": calls,
            "seconds": round(cum, 3),
            "share": round(cum / total, 4),
        }
    accounted = sum(c["seconds"] for c in categories.values())
    categories["everything else (web3 plumbing, node logic, runner)"] = {
        "calls": 0,
        "seconds": round(total - accounted, 3),
        "share": round((total - accounted) / total, 4),
    }
    details = {
        f"{p}:{f}": dict(zip(("calls", "cumulative_seconds"), _find(stats, p, f), strict=True))
        for p, f in DETAIL_FUNCTIONS
    }

    def top(sort: str, n: int = 25) -> list[dict[str, Any]]:
        rows = []
        entries = stats.stats.items()  # type: ignore[attr-defined]
        idx = 3 if sort == "cumulative" else 2
        for (filename, line, name), vals in sorted(
            entries, key=lambda kv: kv[1][idx], reverse=True
        )[:n]:
            short = filename.split("site-packages/")[-1].split("src/")[-1]
            rows.append(
                {
                    "function": f"{short}:{line}({name})",
                    "calls": vals[1],
                    "tottime": round(vals[2], 3),
                    "cumtime": round(vals[3], 3),
                }
            )
        return rows

    return {
        "job": job.describe(),
        "note": "cProfile slows Python-heavy code (the EVM, web3) far more than torch kernels: "
        "use the shares, not the seconds, and compare with the unprofiled run.",
        "profiled_run_task_seconds": round(spent.get("run_task", 0.0), 3),
        "profile_total_seconds": round(total, 3),
        "categories": categories,
        "details": details,
        "top_cumulative": top("cumulative"),
        "top_tottime": top("tottime"),
    }


# --------------------------------------------------------------------------- driver
def _median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def _summary(samples: list[dict[str, Any]], keys: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"repeats": len(samples)}
    for k in keys:
        vals = [float(s[k]) for s in samples if k in s]
        if vals:
            out[k] = {
                "median": round(_median(vals), 4),
                "min": round(min(vals), 4),
                "max": round(max(vals), 4),
            }
    return out


def warm_up() -> None:
    """First torch calls in a process pay for lazy initialisation: pay it before timing."""
    torch.set_num_threads(1)
    data = load_dataset("breast_cancer", seed=0)
    m = build_model(ModelSpec("mlp", data.num_features, data.num_classes, (32,)), seed=0)
    train_local(m, data.x_train[:64], data.y_train[:64], TrainConfig(), seed=0)


def run_job(
    job: Job, args: argparse.Namespace, scratch: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    plain: list[dict[str, Any]] = []
    chain: list[dict[str, Any]] = []
    anvil: list[dict[str, Any]] = []
    flower: list[dict[str, Any]] = []
    loads: list[float] = []
    for i in range(args.repeat):
        tag = f"{job.name}, repeat {i + 1}/{args.repeat}"
        loads.append(os.getloadavg()[0])
        say(f"[{tag}] plain FedAvg")
        plain.append(run_plain(job))
        say(f"[{tag}] fedchain demo on the embedded chain")
        chain.append(run_fedchain(job, scratch / "fedchain-workdir"))
        if args.anvil:
            say(f"[{tag}] fedchain demo on anvil (extra)")
            anvil.append(run_fedchain(job, scratch / "fedchain-anvil", chain="anvil"))
        if not args.no_flower and not (job.name.startswith("training") and args.no_heavy_flower):
            say(f"[{tag}] Flower simulation (child process)")
            flower.append(
                run_flower(
                    job,
                    scratch,
                    cpus=args.flower_cpus,
                    log=scratch / "flower.log",
                    python=args.flower_python,
                )
            )
    loads.append(os.getloadavg()[0])
    rounds = job.rounds
    res: dict[str, Any] = {
        "job": job.describe(),
        "load_average_1min_during": loads,
        "plain": {"summary": _summary(plain, ["wall_seconds", "rounds_seconds"]), "samples": plain},
        "fedchain": {
            "summary": _summary(
                chain, ["wall_seconds", "job_seconds", "rounds_seconds", "report_wall_seconds"]
            ),
            "samples": chain,
        },
    }
    if anvil:
        res["fedchain_anvil"] = {
            "summary": _summary(anvil, ["wall_seconds", "job_seconds", "rounds_seconds"]),
            "samples": anvil,
        }
    if flower:
        res["flower"] = {
            "summary": _summary(
                flower,
                [
                    "wall_seconds",
                    "simulation_seconds",
                    "rounds_seconds",
                    "rounds_after_first_seconds",
                ],
            ),
            "samples": flower,
        }
    plain_rounds = _median([s["rounds_seconds"] for s in plain])
    chain_rounds = _median([s["rounds_seconds"] for s in chain])
    # Pair repeats (same load conditions) for the overhead, then take the median.
    per_round_ms = [
        (c["rounds_seconds"] - p["rounds_seconds"]) / rounds * 1000
        for p, c in zip(plain, chain, strict=True)
    ]
    ratios = [c["rounds_seconds"] / p["rounds_seconds"] for p, c in zip(plain, chain, strict=True)]
    derived: dict[str, Any] = {
        "plain_ms_per_round": round(plain_rounds / rounds * 1000, 2),
        "fedchain_ms_per_round": round(chain_rounds / rounds * 1000, 2),
        "fedchain_overhead_ms_per_round": round(_median(per_round_ms), 2),
        "fedchain_over_plain_rounds_ratio": round(_median(ratios), 3),
    }
    if anvil:
        derived["anvil_fedchain_ms_per_round"] = round(
            _median([s["rounds_seconds"] for s in anvil]) / rounds * 1000, 2
        )
        derived["anvil_fedchain_overhead_ms_per_round"] = round(
            _median(
                [
                    (c["rounds_seconds"] - p["rounds_seconds"]) / rounds * 1000
                    for p, c in zip(plain, anvil, strict=True)
                ]
            ),
            2,
        )
        derived["anvil_fedchain_over_plain_rounds_ratio"] = round(
            _median(
                [
                    c["rounds_seconds"] / p["rounds_seconds"]
                    for p, c in zip(plain, anvil, strict=True)
                ]
            ),
            3,
        )
    if flower:
        fl_sim = _median([s["simulation_seconds"] for s in flower])
        fl_rounds = _median([s["rounds_seconds"] for s in flower])
        ch_job = _median([s["job_seconds"] for s in chain])
        ch_wall = _median([s["wall_seconds"] for s in chain])
        derived.update(
            {
                "flower_ms_per_round": round(fl_rounds / rounds * 1000, 2),
                "flower_ms_per_round_after_first": round(
                    _median([s["rounds_after_first_seconds"] for s in flower])
                    / max(1, rounds - 1)
                    * 1000,
                    2,
                ),
                "fedchain_job_over_flower_simulation": round(ch_job / fl_sim, 3),
                "fedchain_whole_demo_over_flower_process": round(
                    ch_wall / _median([s["wall_seconds"] for s in flower]), 3
                ),
                "fedchain_rounds_over_flower_rounds": round(chain_rounds / fl_rounds, 3),
            }
        )
    res["derived"] = derived
    return res


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    small = results["jobs"].get("small")
    heavy = results["jobs"].get("heavy")
    if small and "flower" in small:
        d = small["derived"]
        out.append(
            {
                "target": "fedchain wall time <= Flower's (demo job; fedchain job = chain start..settle, "
                "no baseline/audit, vs Flower's run_simulation)",
                "value": d["fedchain_job_over_flower_simulation"],
                "limit": 1.0,
                "met": d["fedchain_job_over_flower_simulation"] <= 1.0,
            }
        )
        out.append(
            {
                "target": "fedchain federated rounds <= Flower's federated rounds (demo job)",
                "value": d["fedchain_rounds_over_flower_rounds"],
                "limit": 1.0,
                "met": d["fedchain_rounds_over_flower_rounds"] <= 1.0,
            }
        )
    if heavy:
        d = heavy["derived"]
        out.append(
            {
                "target": f"training-heavy job: fedchain rounds / plain FedAvg <= {TARGET_HEAVY_RATIO}",
                "value": d["fedchain_over_plain_rounds_ratio"],
                "limit": TARGET_HEAVY_RATIO,
                "met": d["fedchain_over_plain_rounds_ratio"] <= TARGET_HEAVY_RATIO,
            }
        )
        if "flower" in heavy:
            hd = heavy["derived"]
            out.append(
                {
                    "target": "training-heavy job: fedchain wall time <= Flower's",
                    "value": hd["fedchain_job_over_flower_simulation"],
                    "limit": 1.0,
                    "met": hd["fedchain_job_over_flower_simulation"] <= 1.0,
                }
            )
    return out


def print_table(results: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    for job in results["jobs"].values():
        j = job["job"]
        t = Table(
            title=f"{j['name']}: {j['dataset']}, {j['clients']} clients, α={j['dirichlet_alpha']}, "
            f"{j['rounds']} rounds, MLP{tuple(j['model']['hidden'])} ({j['parameters']:,} params); "
            f"median of {job['plain']['summary']['repeats']}"
        )
        for col in (
            "contender",
            "wall s",
            "rounds s",
            "ms / round",
            "final acc",
            "what the wall includes",
        ):
            t.add_column(
                col, justify="left" if col in ("contender", "what the wall includes") else "right"
            )
        p, c = job["plain"], job["fedchain"]
        med = lambda s, k: s["summary"][k]["median"]  # noqa: E731
        rounds = j["rounds"]
        t.add_row(
            "(a) plain FedAvg",
            f"{med(p, 'wall_seconds'):.2f}",
            f"{med(p, 'rounds_seconds'):.2f}",
            f"{med(p, 'rounds_seconds') / rounds * 1000:.1f}",
            f"{p['samples'][0]['final_accuracy']:.4f}",
            "data + split + rounds (in-process)",
        )
        stages = c["samples"][0]["stages"]
        t.add_row(
            "(b) fedchain, job",
            f"{med(c, 'job_seconds'):.2f}",
            f"{med(c, 'rounds_seconds'):.2f}",
            f"{med(c, 'rounds_seconds') / rounds * 1000:.1f}",
            f"{c['samples'][0]['final_accuracy']:.4f}",
            "chain, deploy, task, rounds, settle, cleanup",
        )
        t.add_row(
            "(b) fedchain, whole demo",
            f"{med(c, 'wall_seconds'):.2f}",
            "",
            "",
            "",
            f"+ centralized baseline {stages.get('centralized_baseline', 0):.2f}s + audit {stages.get('audit', 0):.2f}s",
        )
        if "fedchain_anvil" in job:
            a = job["fedchain_anvil"]
            t.add_row(
                "(b') fedchain on anvil, job",
                f"{med(a, 'job_seconds'):.2f}",
                f"{med(a, 'rounds_seconds'):.2f}",
                f"{med(a, 'rounds_seconds') / rounds * 1000:.1f}",
                f"{a['samples'][0]['final_accuracy']:.4f}",
                "extra: same as (b) on a local anvil node",
            )
        if "flower" in job:
            f = job["flower"]
            t.add_row(
                "(c) Flower simulation",
                f"{med(f, 'simulation_seconds'):.2f}",
                f"{med(f, 'rounds_seconds'):.2f}",
                f"{med(f, 'rounds_seconds') / rounds * 1000:.1f}",
                f"{f['samples'][0]['final_accuracy']:.4f}",
                f"run_simulation: Ray, {f['samples'][0]['parallel_clients']} actors, rounds, shutdown",
            )
            t.add_row(
                "(c) Flower, process",
                f"{med(f, 'wall_seconds'):.2f}",
                "",
                "",
                "",
                "+ interpreter and imports (torch, flwr, ray)",
            )
        console.print(t)
        d = job["derived"]
        console.print(
            f"  fedchain coordination overhead: [bold]{d['fedchain_overhead_ms_per_round']:.1f} ms/round[/]; "
            f"fedchain/plain rounds = [bold]{d['fedchain_over_plain_rounds_ratio']:.2f}×[/]"
            + (
                f"; fedchain job / Flower simulation = [bold]{d['fedchain_job_over_flower_simulation']:.2f}×[/]"
                if "fedchain_job_over_flower_simulation" in d
                else ""
            )
            + (
                f"; on anvil: overhead {d['anvil_fedchain_overhead_ms_per_round']:.1f} ms/round, "
                f"{d['anvil_fedchain_over_plain_rounds_ratio']:.2f}× plain"
                if "anvil_fedchain_overhead_ms_per_round" in d
                else ""
            )
        )
    if results.get("targets"):
        t = Table(title="targets")
        for col in ("target", "value", "limit", "met"):
            t.add_column(col)
        for tg in results["targets"]:
            t.add_row(
                tg["target"],
                f"{tg['value']:.3f}",
                f"{tg['limit']:.2f}",
                "[green]yes[/]" if tg["met"] else "[red]no[/]",
            )
        console.print(t)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jobs = list(results["jobs"].values())
    fig, axes = plt.subplots(1, len(jobs), figsize=(6.5 * len(jobs), 4.2), squeeze=False)
    colors = {
        "setup": "#bbbbbb",
        "rounds": "#4c72b0",
        "after": "#55a868",
        "warmup": "#dd8452",
        "extras": "#c6d3e6",
    }
    for ax, job in zip(axes[0], jobs, strict=True):
        j = job["job"]
        rows: list[tuple[str, list[tuple[str, float]]]] = []
        p = job["plain"]["samples"]
        c = job["fedchain"]["samples"]
        med = _median
        rows.append(
            (
                "plain FedAvg",
                [
                    ("setup", med([s["setup_seconds"] for s in p])),
                    ("rounds", med([s["rounds_seconds"] for s in p])),
                ],
            )
        )
        st = [s["stages"] for s in c]
        setup = med(
            [
                s.get("before_first_stage", 0)
                + s.get("chain_start", 0)
                + s.get("data", 0)
                + s.get("deploy_fund_task", 0)
                for s in st
            ]
        )
        after = med([s.get("settle", 0) + s.get("workdir_cleanup", 0) for s in st])
        extras = med([s.get("centralized_baseline", 0) + s.get("audit", 0) for s in st])
        rows.append(
            (
                "fedchain",
                [
                    ("setup", setup),
                    ("rounds", med([s["rounds_seconds"] for s in c])),
                    ("after", after),
                    ("extras", extras),
                ],
            )
        )
        if "fedchain_anvil" in job:
            a = job["fedchain_anvil"]["samples"]
            st = [s["stages"] for s in a]
            rows.append(
                (
                    "fedchain (anvil)",
                    [
                        (
                            "setup",
                            med(
                                [
                                    s.get("before_first_stage", 0)
                                    + s.get("chain_start", 0)
                                    + s.get("data", 0)
                                    + s.get("deploy_fund_task", 0)
                                    for s in st
                                ]
                            ),
                        ),
                        ("rounds", med([s["rounds_seconds"] for s in a])),
                        (
                            "after",
                            med([s.get("settle", 0) + s.get("workdir_cleanup", 0) for s in st]),
                        ),
                        (
                            "extras",
                            med([s.get("centralized_baseline", 0) + s.get("audit", 0) for s in st]),
                        ),
                    ],
                )
            )
        if "flower" in job:
            f = job["flower"]["samples"]
            sim = med([s["simulation_seconds"] for s in f])
            rnd = med([s["rounds_seconds"] for s in f])
            first = med([s["round_seconds"][0] for s in f])
            rows.append(
                ("Flower sim.", [("setup", sim - rnd), ("warmup", first), ("rounds", rnd - first)])
            )
        labels_done: set[str] = set()
        names = {
            "setup": "set-up / tear-down",
            "rounds": "federated rounds",
            "after": "settle rewards + cleanup",
            "warmup": "round 1 (Ray actors start)",
            "extras": "demo extras: centralized baseline + audit",
        }
        for y, (_label, segs) in enumerate(rows):
            left = 0.0
            for kind, secs in segs:
                ax.barh(
                    y,
                    secs,
                    left=left,
                    color=colors[kind],
                    edgecolor="white",
                    label=names[kind] if kind not in labels_done else None,
                )
                labels_done.add(kind)
                left += secs
            ax.text(left, y, f" {left:.1f} s", va="center", fontsize=9)
        ax.set_yticks(range(len(rows)), [r[0] for r in rows])
        ax.invert_yaxis()
        ax.set_xlabel("wall time (s)")
        ax.set_title(
            f"{j['dataset']}, {j['clients']} clients, {j['rounds']} rounds, {j['parameters']:,} params",
            fontsize=10,
        )
        ax.set_xlim(0, ax.get_xlim()[1] * 1.12)
        d = job["derived"]
        ax.annotate(
            f"fedchain overhead {d['fedchain_overhead_ms_per_round']:.0f} ms/round, "
            f"fedchain/plain rounds {d['fedchain_over_plain_rounds_ratio']:.2f}×",
            xy=(0.01, -0.22),
            xycoords="axes fraction",
            fontsize=8.5,
        )
    handles, labels = axes[0][0].get_legend_handles_labels()
    for ax in axes[0][1:]:
        h, lab = ax.get_legend_handles_labels()
        for hh, ll in zip(h, lab, strict=True):
            if ll not in labels:
                handles.append(hh)
                labels.append(ll)
    fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=8.5, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Wall time: plain FedAvg vs fedchain vs Flower on one job."
    )
    ap.add_argument("--rounds", type=int, default=30, help="rounds of the demo job (default 30)")
    ap.add_argument(
        "--heavy-params", type=int, default=1_000_000, help="parameters of the heavy job's MLP"
    )
    ap.add_argument("--heavy-dataset", default="digits", choices=["digits", "breast_cancer"])
    ap.add_argument("--heavy-rounds", type=int, default=5)
    ap.add_argument("--no-heavy", action="store_true", help="skip the training-heavy job")
    ap.add_argument(
        "--no-flower", action="store_true", help="skip Flower (e.g. flwr[simulation] not installed)"
    )
    ap.add_argument(
        "--no-heavy-flower", action="store_true", help="run Flower on the demo job only"
    )
    ap.add_argument(
        "--flower-cpus",
        type=int,
        default=os.cpu_count() or 1,
        help="CPUs Ray may use; one per client actor (default: all cores)",
    )
    ap.add_argument(
        "--flower-python",
        default=None,
        help="interpreter of a separate venv with flwr[simulation] (default: this one)",
    )
    ap.add_argument(
        "--anvil",
        action="store_true",
        help="also run fedchain on a local anvil node (needs node_modules or $FEDCHAIN_ANVIL)",
    )
    ap.add_argument(
        "--repeat", type=int, default=1, help="runs of every contender per job (median reported)"
    )
    ap.add_argument(
        "--profile", action="store_true", help="also cProfile fedchain's rounds (separate run)"
    )
    ap.add_argument(
        "--scratch",
        type=Path,
        default=None,
        help="scratch directory (default: a new temporary one)",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="directory for walltime.json/png (or a path ending in .json)",
    )
    args = ap.parse_args(argv)
    if args.out.suffix != ".json":
        args.out = args.out / "walltime.json"

    if not args.no_flower and args.flower_python is None:
        try:
            import flwr  # noqa: F401
            import ray  # noqa: F401
        except ImportError:
            print(
                "flwr[simulation] is not installed here (see benchmarks/README.md, or pass "
                "--flower-python); running without Flower",
                file=sys.stderr,
            )
            args.no_flower = True

    own_scratch = args.scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="fedchain-walltime-")) if own_scratch else args.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def say(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    try:
        warm_up()
        jobs = {"small": small_job(args.rounds)}
        if not args.no_heavy:
            jobs["heavy"] = heavy_job(args.heavy_params, args.heavy_dataset, args.heavy_rounds)
        results: dict[str, Any] = {
            "benchmark": "walltime",
            "command": "python -m benchmarks.walltime "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "git_commit": _git_commit(),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "torch": torch.__version__,
                "torch_threads_per_client": 1,
                "load_average_at_start": os.getloadavg(),
            },
            "versions": _versions(),
            "definitions": {
                "plain.wall_seconds": "load data + Dirichlet split + run_plain_fedavg (rounds incl. per-round test evaluation)",
                "fedchain.rounds_seconds": "sum of the demo report's per-round seconds (= run_task: train, commit, aggregate, finalize, evaluate)",
                "fedchain.job_seconds": "run_demo end to end + workdir removal, minus the centralized baseline and the audit",
                "fedchain.wall_seconds": "run_demo end to end incl. centralized baseline, audit and workdir removal",
                "flower.simulation_seconds": "flwr.simulation.run_simulation call: Ray start, actor pool, rounds, shutdown",
                "flower.rounds_seconds": "strategy rounds, from evaluate_fn before round 1 to after the last round",
                "flower.wall_seconds": "child process: interpreter, imports (torch, flwr, ray), simulation, exit",
                "overhead_ms_per_round": "(fedchain rounds_seconds - plain rounds_seconds) / rounds, paired per repeat, median",
            },
            "jobs": {},
        }
        for key, job in jobs.items():
            results["jobs"][key] = run_job(job, args, scratch, say)
        results["targets"] = targets(results)
        results["machine"]["load_average_at_end"] = os.getloadavg()
        if args.profile:
            say("profiling fedchain's rounds (separate run, cProfile)")
            prof = {
                key: profile_fedchain(job, scratch / "fedchain-profile")
                for key, job in jobs.items()
            }
            (args.out.parent / "walltime_profile.json").write_text(json.dumps(prof, indent=2))
            results["profile_file"] = (
                str((args.out.parent / "walltime_profile.json").relative_to(REPO))
                if args.out.parent.is_relative_to(REPO)
                else str(args.out.parent / "walltime_profile.json")
            )
            results["profile_summary"] = {k: v["categories"] for k, v in prof.items()}
        args.out.write_text(json.dumps(results, indent=2))
        png = args.out.with_suffix(".png")
        plot(results, png)
        print_table(results)
        if args.profile:
            _print_profile(results["profile_summary"])
        say(f"wrote {args.out} and {png}")
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _print_profile(summary: dict[str, Any]) -> None:
    from rich.table import Table

    for key, cats in summary.items():
        t = Table(title=f"where fedchain's rounds spend their time ({key} job, cProfile shares)")
        t.add_column("category")
        t.add_column("calls", justify="right")
        t.add_column("share", justify="right")
        for label, c in sorted(cats.items(), key=lambda kv: -kv[1]["share"]):
            t.add_row(label, str(c["calls"] or ""), f"{c['share'] * 100:.1f}%")
        _console().print(t)


def _console() -> Any:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=150)  # no wrapping into a log file


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("fedchain", "web3", "eth-tester", "py-evm", "torch", "numpy", "flwr", "ray"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


if __name__ == "__main__":
    sys.exit(main())

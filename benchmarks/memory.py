"""Peak resident memory of one federated job, several ways: ``python -m benchmarks.memory``.

Every variant runs in its own child process (``python -m benchmarks.memory --child ...``), so
no two peaks mix. A child imports the same modules whatever it runs (torch,
``fedchain.learning``, ``fedchain.sim.demo``, which pulls in web3 and the embedded chain),
sets torch to one thread, notes its RSS after the imports, runs its job and reports
``getrusage(RUSAGE_SELF).ru_maxrss``. Variants:

- ``imports_torch``     — ``import torch`` only;
- ``baseline``          — imports only, no job: what any of the others costs before it starts;
- ``baseline_trained``  — the imports plus one ``train_local`` epoch of MLP(32) on 16 random
                          samples: torch's one-time cost of a first training step;
- ``plain``             — (a) in-memory FedAvg: data set, Dirichlet split,
                          ``fedchain.learning.run_plain_fedavg``;
- ``fedchain``          — (b) ``fedchain.sim.demo.run_demo`` on the embedded chain (py-evm lives
                          in the same process), including the demo's centralized baseline and
                          audit;
- ``fedchain_secure``   — (c) the same with ``secure_aggregation=True`` (SecAgg+);
- ``fedchain_anvil``    — (d) the demo on a local anvil node: the Python process's peak, plus
                          the anvil process's VmHWM read from ``/proc/<pid>/status`` just
                          before ``AnvilChain.close`` stops it.

Two jobs: the demo job (``DemoConfig()`` defaults: breast_cancer, 10 clients, Dirichlet 0.5,
10 rounds, MLP(32)) and a larger model (digits, MLP(1500), 112,510 parameters, 3 rounds).
Plain FedAvg reads every hyper-parameter from the same ``DemoConfig``.

Besides the peaks, each child samples its own VmRSS/VmHWM at the demo's stage and round
callbacks, and the parent samples the child's (and anvil's) VmRSS every 0.1 s for the plot.
Outputs: ``benchmarks/results/memory.json``, ``memory.png`` and a table on the terminal.
A benchmark, not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]

KIB_PER_MIB = 1024.0
BASELINES = ("imports_torch", "baseline", "baseline_trained")
VARIANTS = (*BASELINES, "plain", "fedchain", "fedchain_secure", "fedchain_anvil")
LABELS = {
    "imports_torch": "import torch only",
    "baseline": "imports only (torch + fedchain)",
    "baseline_trained": "imports + one toy torch training step",
    "plain": "(a) plain FedAvg, in memory",
    "fedchain": "(b) fedchain, embedded chain",
    "fedchain_secure": "(c) fedchain, embedded, secure aggregation",
    "fedchain_anvil": "(d) fedchain on anvil: Python process",
}


# --------------------------------------------------------------------------- jobs
def jobs(rounds: int, heavy_hidden: int, heavy_rounds: int) -> dict[str, dict[str, Any]]:
    """DemoConfig keyword arguments of each job (everything else: DemoConfig's defaults)."""
    return {
        "demo": {"rounds": rounds},
        "larger": {
            "dataset": "digits",
            "model": "mlp",
            "hidden": [heavy_hidden],
            "rounds": heavy_rounds,
        },
    }


# --------------------------------------------------------------------------- /proc helpers
def _status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM / RssAnon / RssFile of a process, in KiB ({} once it is gone)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "VmPeak", "Threads"):
            out[key] = int(rest.split()[0])
    return out


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _mib(kib: float | None) -> float | None:
    return None if kib is None else kib / KIB_PER_MIB


# --------------------------------------------------------------------------- child side
def child(variant: str, job: dict[str, Any], workdir: str | None, out: str) -> None:
    """Runs in the child process: import, note RSS, run one variant, write a JSON result."""
    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(1)  # run_demo does this too; plain FedAvg and the baselines match it
    if variant == "imports_torch":
        ru = resource.getrusage(resource.RUSAGE_SELF)
        st = _status()
        Path(out).write_text(
            json.dumps(
                {
                    "variant": variant,
                    "ru_maxrss_kib": ru.ru_maxrss,
                    "after_import_kib": st.get("VmRSS"),
                    "after_import_hwm_kib": st.get("VmHWM"),
                    "import_seconds": time.perf_counter() - t0,
                    "job_seconds": 0.0,
                    "samples": [{"at": "after imports", "t": time.perf_counter() - t0, **st}],
                    "anvil": None,
                }
            )
        )
        return
    import fedchain.learning as fl
    import fedchain.sim.demo as demo
    from fedchain.chain import backends

    after_import = _status()
    t_imported = time.perf_counter()
    samples: list[dict[str, Any]] = [{"at": "after imports", "t": t_imported - t0, **after_import}]
    anvil: dict[str, Any] = {}
    result: dict[str, Any] = {"variant": variant}

    def sample(at: str) -> None:
        s: dict[str, Any] = {"at": at, "t": time.perf_counter() - t0, **_status()}
        if anvil.get("pid"):
            s["anvil"] = _status(anvil["pid"])
        samples.append(s)

    if variant == "baseline_trained":
        # torch's first training step (autograd, optimizer, kernels paged in) on a toy batch
        import numpy as np

        spec = fl.ModelSpec(arch="mlp", input_dim=30, num_classes=2, hidden=(32,))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(16, 30)).astype(np.float32)
        y = rng.integers(0, 2, size=16)
        fl.train_local(fl.build_model(spec, seed=0), x, y, fl.TrainConfig(epochs=1), seed=0)
        sample("one training step of MLP(32) on 16 random samples")
    elif variant != "baseline":
        cfg_kwargs = dict(job)
        if variant == "fedchain_secure":
            cfg_kwargs["secure_aggregation"] = True
        if variant == "fedchain_anvil":
            cfg_kwargs["chain"] = "anvil"
        if workdir is not None:
            cfg_kwargs["workdir"] = workdir
        cfg = demo.DemoConfig(**cfg_kwargs)
        result["config"] = json.loads(cfg.model_dump_json())
        if variant == "plain":
            data = fl.load_dataset(cfg.dataset, seed=cfg.seed)
            parts = fl.partition(data.y_train, cfg.clients, alpha=cfg.alpha, seed=cfg.seed)
            spec = fl.ModelSpec(
                arch=cfg.model,
                input_dim=data.num_features,
                num_classes=data.num_classes,
                hidden=cfg.hidden if cfg.model == "mlp" else (),
            )
            train = fl.TrainConfig(
                epochs=cfg.local_epochs, batch_size=cfg.batch_size, lr=cfg.lr, momentum=cfg.momentum
            )
            sample("data loaded and split")
            accs = fl.run_plain_fedavg(spec, data, parts, train, rounds=cfg.rounds, seed=cfg.seed)
            sample("FedAvg done")
            result["final_accuracy"] = accs[-1]
            result["parameters"] = fl.num_parameters(spec)
        else:
            if variant == "fedchain_anvil":
                real_init, real_close = backends.AnvilChain.__init__, backends.AnvilChain.close

                def init(self: Any, *a: Any, **k: Any) -> None:
                    real_init(self, *a, **k)
                    anvil["pid"] = self.process.pid
                    anvil["binary"] = str(self.binary)

                def close(self: Any) -> None:
                    proc = getattr(self, "process", None)
                    if proc is not None and proc.poll() is None:
                        anvil["status_before_stop"] = _status(proc.pid)
                        sample("anvil about to stop")
                    real_close(self)

                backends.AnvilChain.__init__ = init  # type: ignore[method-assign]
                backends.AnvilChain.close = close  # type: ignore[method-assign]

            class Sampler(demo.Progress):
                def stage(self, message: str) -> None:
                    sample(f"stage: {message}")

                def round_done(self, record: Any) -> None:
                    sample(f"round {record.round} done")

            report = demo.run_demo(cfg, Sampler())
            sample("run_demo returned")
            result["final_accuracy"] = report.final_accuracy
            result["audit_passed"] = report.audit["passed"]
            result["rounds_finalized"] = sum(1 for r in report.rounds if r["finalized"])
            result["gas_per_participant_round"] = report.gas_per_participant_round
    t_end = time.perf_counter()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    result.update(
        {
            "ru_maxrss_kib": ru.ru_maxrss,  # Linux: KiB
            "after_import_kib": after_import.get("VmRSS"),
            "after_import_hwm_kib": after_import.get("VmHWM"),
            "import_seconds": t_imported - t0,
            "job_seconds": t_end - t_imported,
            "samples": samples,
            "anvil": anvil or None,
        }
    )
    Path(out).write_text(json.dumps(result))


# --------------------------------------------------------------------------- parent side
def run_child(
    variant: str, job: dict[str, Any], scratch: Path, *, timeout: float = 600.0
) -> dict[str, Any]:
    """Start one child, sample its RSS (and its children's) every 0.1 s, reap it with wait4."""
    out = scratch / f"{variant}.json"
    out.unlink(missing_ok=True)
    workdir = scratch / f"{variant}-workdir"
    shutil.rmtree(workdir, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.memory",
        "--child",
        variant,
        "--child-job",
        json.dumps(job),
        "--child-out",
        str(out),
    ]
    if variant.startswith("fedchain"):
        cmd += ["--child-workdir", str(workdir)]
    env = dict(os.environ, TMPDIR=str(scratch))
    log = scratch / f"{variant}.log"
    timeline: list[tuple[float, float, float | None]] = []  # (t, child MiB, descendants MiB)
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            st = _status(proc.pid)
            if st.get("VmRSS") is not None:
                kids = [_status(c).get("VmRSS") or 0 for c in _children(proc.pid)]
                timeline.append(
                    (
                        time.perf_counter() - t0,
                        st["VmRSS"] / KIB_PER_MIB,
                        sum(kids) / KIB_PER_MIB if kids else None,
                    )
                )
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.1)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"{variant} failed (exit {proc.returncode}); see {log}")
    result = json.loads(out.read_text())
    result["process_wall_seconds"] = wall
    # wait4's rusage covers the child and the descendants it reaped (RUSAGE_BOTH), so with
    # anvil it would be max(python, anvil); kept as a cross-check of ru_maxrss_kib.
    result["wait4_ru_maxrss_kib"] = ru.ru_maxrss
    result["timeline"] = [
        [round(t, 2), round(m, 1), None if k is None else round(k, 1)] for t, m, k in timeline
    ]
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def _hwm_before(samples: list[dict[str, Any]], prefix: str) -> float | None:
    """VmHWM (MiB) at the first sample whose label starts with ``prefix`` (peak so far)."""
    for s in samples:
        if s["at"].startswith(prefix):
            return _mib(s.get("VmHWM"))
    return None


def summarize(r: dict[str, Any], baseline_mib: float, trained_mib: float) -> dict[str, Any]:
    peak = r["ru_maxrss_kib"] / KIB_PER_MIB
    out: dict[str, Any] = {
        "peak_rss_mib": peak,
        "after_import_rss_mib": _mib(r["after_import_kib"]),
        "added_over_baseline_mib": peak - baseline_mib,
        "added_over_trained_baseline_mib": peak - trained_mib,
        "added_over_own_imports_mib": peak - (_mib(r["after_import_kib"]) or 0.0),
        "job_seconds": r["job_seconds"],
        "process_wall_seconds": r["process_wall_seconds"],
    }
    s = r["samples"]
    if r["variant"].startswith("fedchain"):
        # peak up to the end of the federated rounds (before settling, baseline and audit)
        out["peak_through_rounds_mib"] = _hwm_before(s, "stage: participants")
        out["peak_before_rounds_mib"] = _hwm_before(s, "stage: training")
        rounds = [x for x in s if x["at"].startswith("round ")]
        if len(rounds) >= 2:
            out["rss_after_round_1_mib"] = _mib(rounds[0]["VmRSS"])
            out["rss_after_last_round_mib"] = _mib(rounds[-1]["VmRSS"])
            out["rss_growth_per_round_mib"] = (
                _mib(rounds[-1]["VmRSS"] - rounds[0]["VmRSS"]) / (len(rounds) - 1)  # type: ignore[operator]
            )
    a = r.get("anvil")
    if a and a.get("status_before_stop"):
        out["anvil_vmhwm_mib"] = _mib(a["status_before_stop"].get("VmHWM"))
        out["anvil_vmrss_at_stop_mib"] = _mib(a["status_before_stop"].get("VmRSS"))
        out["python_plus_anvil_mib"] = peak + out["anvil_vmhwm_mib"]
    return out


def _median_result(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median peak (the JSON keeps every run's peak too)."""
    ordered = sorted(runs, key=lambda r: r["ru_maxrss_kib"])
    return ordered[(len(ordered) - 1) // 2]


def derive(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    d: dict[str, Any] = {}
    p = summary.get("plain")
    f = summary.get("fedchain")
    s = summary.get("fedchain_secure")
    a = summary.get("fedchain_anvil")
    if p and f:
        d["fedchain_over_plain_peak"] = f["peak_rss_mib"] / p["peak_rss_mib"]
        d["fedchain_over_plain_added"] = f["added_over_baseline_mib"] / p["added_over_baseline_mib"]
        if f.get("peak_through_rounds_mib"):
            d["fedchain_rounds_over_plain_peak"] = f["peak_through_rounds_mib"] / p["peak_rss_mib"]
    if p and f and p["added_over_trained_baseline_mib"] > 0:
        d["fedchain_over_plain_added_over_trained"] = (
            f["added_over_trained_baseline_mib"] / p["added_over_trained_baseline_mib"]
        )
    if s and f:
        d["secure_over_plaintext_peak"] = s["peak_rss_mib"] / f["peak_rss_mib"]
        d["secure_over_plaintext_added"] = (
            s["added_over_baseline_mib"] / f["added_over_baseline_mib"]
        )
        d["secure_minus_plaintext_mib"] = s["peak_rss_mib"] - f["peak_rss_mib"]
    if s and p:
        d["secure_over_plain_peak"] = s["peak_rss_mib"] / p["peak_rss_mib"]
        d["secure_over_plain_added"] = s["added_over_baseline_mib"] / p["added_over_baseline_mib"]
    if a and p:
        d["anvil_python_over_plain_peak"] = a["peak_rss_mib"] / p["peak_rss_mib"]
        if a.get("python_plus_anvil_mib"):
            d["anvil_python_plus_node_over_plain_peak"] = (
                a["python_plus_anvil_mib"] / p["peak_rss_mib"]
            )
    if a and f:
        d["embedded_minus_anvil_python_mib"] = f["peak_rss_mib"] - a["peak_rss_mib"]
    return d


# --------------------------------------------------------------------------- output
def _console() -> Any:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def print_table(results: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    t = Table(title="baselines: child processes that run no federated job")
    for col, just in (
        ("process", "left"),
        ("peak RSS MiB", "right"),
        ("RSS after imports MiB", "right"),
        ("imports s", "right"),
    ):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for v, b in results["baselines"].items():
        t.add_row(
            b["label"] + (" [bold](the baseline)[/]" if v == "baseline" else ""),
            f"{b['peak_rss_mib']:.1f}",
            f"{b['after_import_rss_mib']:.1f}",
            f"{b['import_seconds']:.1f}",
        )
    console.print(t)
    for job in results["jobs"].values():
        j = job["job"]
        t = Table(
            title=f"peak RSS — {j['dataset']}, {j['clients']} clients, {j['rounds']} rounds, "
            f"MLP{tuple(j['hidden'])}, {j['parameters']:,} parameters"
        )
        for col, just in (
            ("variant", "left"),
            ("peak RSS MiB", "right"),
            ("− baseline MiB", "right"),
            ("− trained baseline MiB", "right"),
            ("peak through rounds MiB", "right"),
            ("growth / round MiB", "right"),
            ("anvil VmHWM MiB", "right"),
            ("job s", "right"),
            ("× plain (peak)", "right"),
        ):
            t.add_column(col, justify=just)  # type: ignore[arg-type]
        plain = job["summary"].get("plain")
        for v, s in job["summary"].items():
            g = s.get("rss_growth_per_round_mib")
            t.add_row(
                LABELS[v],
                f"{s['peak_rss_mib']:.1f}",
                f"{s['added_over_baseline_mib']:+.1f}",
                f"{s['added_over_trained_baseline_mib']:+.1f}",
                f"{s['peak_through_rounds_mib']:.1f}" if s.get("peak_through_rounds_mib") else "",
                f"{g:+.2f}" if g is not None else "",
                f"{s['anvil_vmhwm_mib']:.1f}" if s.get("anvil_vmhwm_mib") else "",
                f"{s['job_seconds']:.1f}",
                f"{s['peak_rss_mib'] / plain['peak_rss_mib']:.2f}×" if plain else "",
            )
        console.print(t)
        d = job["derived"]
        parts = []
        if "fedchain_over_plain_peak" in d:
            parts.append(
                f"fedchain / plain: peak [bold]{d['fedchain_over_plain_peak']:.2f}×[/], "
                f"added over baseline {d['fedchain_over_plain_added']:.2f}×"
            )
        if "secure_over_plaintext_peak" in d:
            parts.append(
                f"secure / plaintext: peak [bold]{d['secure_over_plaintext_peak']:.2f}×[/] "
                f"({d['secure_minus_plaintext_mib']:+.1f} MiB), added "
                f"{d['secure_over_plaintext_added']:.2f}×"
            )
        for p in parts:
            console.print("  " + p)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    jobs_ = list(results["jobs"].values())
    fig, axes = plt.subplots(2, len(jobs_), figsize=(7.0 * len(jobs_), 8.4), squeeze=False)
    colors = {
        "plain": "#55a868",
        "fedchain": "#4c72b0",
        "fedchain_secure": "#c44e52",
        "fedchain_anvil": "#8172b2",
    }
    base = results["baseline"]["peak_rss_mib"]
    warm = results["baselines"]["baseline_trained"]["peak_rss_mib"] - base
    for col, job in enumerate(jobs_):
        j = job["job"]
        ax = axes[0][col]
        rows = list(job["summary"].items())
        for y, (v, s) in enumerate(rows):
            added = s["peak_rss_mib"] - base
            ax.barh(
                y,
                min(warm, added),
                color="#cccccc",
                edgecolor="white",
                label="one toy torch training step" if y == 0 else None,
            )
            ax.barh(
                y,
                max(0.0, added - warm),
                left=min(warm, added),
                color=colors[v],
                edgecolor="white",
            )
            end = added
            txt = f" +{added:.1f} MiB (peak {s['peak_rss_mib']:.0f})"
            if s.get("anvil_vmhwm_mib"):
                ax.barh(
                    y,
                    s["anvil_vmhwm_mib"],
                    left=added,
                    color="#e0d3f0",
                    edgecolor="#8172b2",
                    hatch="//",
                    label="anvil node, own process (VmHWM)",
                )
                end = added + s["anvil_vmhwm_mib"]
                txt = f" +{added:.1f} MiB, + anvil {s['anvil_vmhwm_mib']:.1f} MiB"
            ax.text(end, y, txt, va="center", fontsize=8.5)
        ax.set_yticks(range(len(rows)), [LABELS[v].replace(", ", "\n", 1) for v, _ in rows])
        ax.tick_params(axis="y", labelsize=8.5)
        ax.invert_yaxis()
        ax.set_xlabel(f"peak RSS above the imports-only baseline ({base:.0f} MiB), MiB")
        ax.set_xlim(0, ax.get_xlim()[1] * 1.75)
        ax.set_title(
            f"{j['dataset']}, {j['clients']} clients, {j['rounds']} rounds, "
            f"MLP{tuple(j['hidden'])}, {j['parameters']:,} params",
            fontsize=10,
        )
        ax.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)
        ax = axes[1][col]
        top = 0.0
        for v, r in job["runs"].items():
            tl = r["timeline"]
            if not tl:
                continue
            ax.plot([x[0] for x in tl], [x[1] for x in tl], color=colors[v], label=LABELS[v])
            top = max(top, *(x[1] for x in tl))
        ax.axhline(base, color="#999999", linestyle=":", linewidth=1, label="imports-only peak")
        ax.axhline(
            base + warm,
            color="#555555",
            linestyle="--",
            linewidth=1,
            label="imports + one toy training step",
        )
        ax.set_ylim(base - 60, top + 10)
        ax.set_xlabel("seconds since the child process started (sampled every 0.1 s)")
        ax.set_ylabel("VmRSS of the Python process (MiB)")
        ax.legend(fontsize=7.5, loc="lower right")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("fedchain", "web3", "eth-tester", "py-evm", "torch", "numpy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _anvil_available() -> bool:
    try:
        from fedchain.chain.backends import find_anvil

        find_anvil()
        return True
    except Exception:
        return False


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Peak RSS: plain FedAvg vs fedchain (plaintext, secure)."
    )
    ap.add_argument("--rounds", type=int, default=10, help="rounds of the demo job (default 10)")
    ap.add_argument("--heavy-hidden", type=int, default=1500, help="hidden width of the larger job")
    ap.add_argument("--heavy-rounds", type=int, default=3)
    ap.add_argument("--no-heavy", action="store_true", help="skip the larger job")
    ap.add_argument("--no-anvil", action="store_true", help="skip (d), fedchain on anvil")
    ap.add_argument("--no-anvil-heavy", action="store_true", help="run (d) on the demo job only")
    ap.add_argument("--repeat", type=int, default=1, help="runs per variant (median reported)")
    ap.add_argument("--scratch", type=Path, default=None, help="scratch directory")
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory or path ending in .json")
    # child mode (internal)
    ap.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    ap.add_argument("--child-job", default="{}", help=argparse.SUPPRESS)
    ap.add_argument("--child-workdir", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        child(args.child, json.loads(args.child_job), args.child_workdir, args.child_out)
        return 0

    if args.out.suffix != ".json":
        args.out = args.out / "memory.json"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    own_scratch = args.scratch is None
    scratch = Path(tempfile.mkdtemp(prefix="fedchain-memory-")) if own_scratch else args.scratch
    scratch.mkdir(parents=True, exist_ok=True)
    anvil = not args.no_anvil and _anvil_available()
    if not args.no_anvil and not anvil:
        print("anvil not found (make setup, or $FEDCHAIN_ANVIL): skipping (d)", file=sys.stderr)

    def say(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    try:
        results: dict[str, Any] = {
            "benchmark": "memory",
            "command": "python -m benchmarks.memory "
            + " ".join(sys.argv[1:] if argv is None else argv),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "git_commit": _git("rev-parse", "HEAD"),
            "git_dirty_src": bool(_git("status", "--porcelain", "src")),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
                "mem_total_kib": int(Path("/proc/meminfo").read_text().split("\n")[0].split()[1]),
                "load_average_at_start": os.getloadavg(),
            },
            "versions": _versions(),
            "definitions": {
                "peak_rss_mib": "getrusage(RUSAGE_SELF).ru_maxrss of the child process (its own, "
                "not anvil's), KiB / 1024",
                "after_import_rss_mib": "VmRSS right after the child imported torch, "
                "fedchain.learning and fedchain.sim.demo and set torch to 1 thread",
                "added_over_baseline_mib": "peak_rss_mib minus the baseline child's peak_rss_mib",
                "added_over_trained_baseline_mib": "peak_rss_mib minus the peak of a child that "
                "imports the same and runs one train_local epoch of MLP(32) on 16 random "
                "samples (torch's first-use cost: autograd, optimizer, kernels paged in)",
                "peak_through_rounds_mib": "VmHWM when the demo enters 'participants claim "
                "rewards' (after the last round; before settling, centralized baseline, audit)",
                "rss_growth_per_round_mib": "(VmRSS after the last round - VmRSS after round 1) "
                "/ (rounds - 1), sampled in the demo's round_done callback",
                "anvil_vmhwm_mib": "VmHWM of the anvil process, read from /proc just before "
                "AnvilChain.close sends SIGTERM (after the audit)",
                "wait4_ru_maxrss_kib": "ru_maxrss from the parent's wait4 (RUSAGE_BOTH: the "
                "child and the descendants it reaped, i.e. max(python, anvil)); a cross-check",
            },
            "jobs": {},
        }
        baselines: dict[str, Any] = {}
        for v in BASELINES:
            runs_b = []
            for i in range(args.repeat):
                say(f"{LABELS[v]}, run {i + 1}/{args.repeat}")
                runs_b.append(run_child(v, {}, scratch))
            b = _median_result(runs_b)
            baselines[v] = {
                "label": LABELS[v],
                "peak_rss_mib": b["ru_maxrss_kib"] / KIB_PER_MIB,
                "after_import_rss_mib": _mib(b["after_import_kib"]),
                "import_seconds": b["import_seconds"],
                "peaks_mib_all_runs": [r["ru_maxrss_kib"] / KIB_PER_MIB for r in runs_b],
                "run": b,
            }
        results["baselines"] = baselines
        results["baseline"] = baselines["baseline"]
        baseline_mib = baselines["baseline"]["peak_rss_mib"]
        all_jobs = jobs(args.rounds, args.heavy_hidden, args.heavy_rounds)
        if args.no_heavy:
            del all_jobs["larger"]
        from fedchain.learning import ModelSpec, load_dataset, num_parameters
        from fedchain.sim.demo import DemoConfig

        for key, job in all_jobs.items():
            cfg = DemoConfig(**job)
            d = load_dataset(cfg.dataset, seed=cfg.seed)
            spec = ModelSpec(
                arch=cfg.model,
                input_dim=d.num_features,
                num_classes=d.num_classes,
                hidden=cfg.hidden,
            )
            variants = ["plain", "fedchain", "fedchain_secure"]
            if anvil and (key == "demo" or not args.no_anvil_heavy):
                variants.append("fedchain_anvil")
            runs: dict[str, dict[str, Any]] = {}
            summary: dict[str, dict[str, Any]] = {}
            peaks_all: dict[str, list[float]] = {}
            for v in variants:
                rs = []
                for i in range(args.repeat):
                    say(f"{key} job: {v}, run {i + 1}/{args.repeat}")
                    rs.append(run_child(v, job, scratch))
                runs[v] = _median_result(rs)
                peaks_all[v] = [r["ru_maxrss_kib"] / KIB_PER_MIB for r in rs]
                summary[v] = summarize(
                    runs[v], baseline_mib, baselines["baseline_trained"]["peak_rss_mib"]
                )
                summary[v]["peaks_mib_all_runs"] = peaks_all[v]
                if len(rs) > 1:
                    summary[v]["peak_spread_mib"] = max(peaks_all[v]) - min(peaks_all[v])
            results["jobs"][key] = {
                "job": {
                    "dataset": cfg.dataset,
                    "clients": cfg.clients,
                    "dirichlet_alpha": cfg.alpha,
                    "rounds": cfg.rounds,
                    "model": cfg.model,
                    "hidden": list(cfg.hidden),
                    "parameters": num_parameters(spec),
                    "local_epochs": cfg.local_epochs,
                    "batch_size": cfg.batch_size,
                    "seed": cfg.seed,
                    "demo_config": job,
                },
                "summary": summary,
                "derived": derive(summary),
                "runs": runs,
            }
        results["machine"]["load_average_at_end"] = os.getloadavg()
        results["wall_seconds"] = time.perf_counter() - started
        args.out.write_text(json.dumps(results, indent=2))
        png = args.out.with_suffix(".png")
        plot(results, png)
        print_table(results)
        say(f"wrote {args.out} and {png} ({results['wall_seconds']:.0f} s)")
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

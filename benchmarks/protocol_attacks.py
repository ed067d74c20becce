"""Protocol-attack matrix: every fault kind the chain referees, × seeds, against a clean run.

    python -m benchmarks.protocol_attacks              # 9 kinds × 5 seeds (+ 5 clean runs)
    python -m benchmarks.protocol_attacks --seeds 1    # a smoke run

Each run is ``fedchain.sim.demo.run_demo`` on the embedded chain (breast_cancer, 10 owners,
Dirichlet 0.5, 4 rounds, the demo's defaults, a watcher run by the sponsor). For each
(kind, seed) it reports, against the clean run with the same seed:
- ``refuted``: the fault was refuted on-chain (a dispute with outcome refuted/timeout; for
  silent, a liveness slash of the incumbent once the backup's aggregate finalized); for
  exclude-honest (not provable) it means made worthless: the cheater earns no more than it
  would have honestly; for inflate-samples (a claim nobody can verify) it means bounded: the
  cheater's share of the rewards is at most 2 × max(its true sample share, 1/n);
- ``honest_slashed``: slashes of anyone but the cheater (target 0);
- ``cheater_gain``: the cheater's net token change minus its clean-run net change, FED (target
  < 0; 0 means worthless but free);
- ``honest_rewards_equal``: every other member's rewards equal the clean run's (exclude-honest
  breaks this by construction: the excluded lose that round's reward, nobody gains it);
- ``final_model_equal``: the final model root equals the clean run's;
- ``dispute_gas``: gas of all dispute transactions (both sides).
Beside it, the watcher's wall-time cost: clean runs with and without the watcher, side by side.
Writes benchmarks/results/protocol_attacks.json. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path
from statistics import median
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.provenance import git_state
from fedchain.sim.demo import DemoConfig, DemoReport, run_demo

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

#: kind -> (owner index, from round). Aggregator faults start in round 2 so a clean round 1
#: exists; trainer faults start in round 1.
FAULTS: dict[str, tuple[int, int]] = {
    "wrong-aggregate": (2, 2),
    "wrong-model": (3, 2),
    "withhold": (3, 2),
    "withhold-wrong": (3, 2),
    "exclude-honest": (3, 2),
    "norm-lie": (6, 1),
    "copycat": (5, 1),
    "inflate-samples": (4, 1),
    "silent": (3, 2),
}
UNPROVABLE = {"exclude-honest", "inflate-samples"}

console = Console(width=170)


def _run(
    seed: int, faults: dict[int, tuple[str, int]] | None = None, watcher: bool = True
) -> DemoReport:
    cfg = DemoConfig(
        clients=10,
        rounds=4,
        dataset="breast_cancer",
        seed=seed,
        faults=faults or {},
        watcher=watcher,
    )
    return run_demo(cfg)


def _net(r: DemoReport, i: int) -> float:
    p = r.rewards[i]
    return p.rewards + p.stake_returned - p.stake_paid


def _final(r: DemoReport) -> object:
    done = [x for x in r.rounds if x.get("finalized")]
    return done[-1].get("model_digest") if done else None


def compare(kind: str, seed: int, clean: DemoReport, bad: DemoReport) -> dict[str, Any]:
    i, _ = FAULTS[kind]
    cheater = bad.rewards[i].address
    proven = [d for d in bad.disputes if d.outcome in ("refuted", "timeout")]
    gain = _net(bad, i) - _net(clean, i)
    others = [j for j in range(len(bad.rewards)) if j != i]
    total = sum(p.rewards for p in bad.rewards) or 1.0
    share = bad.rewards[i].rewards / total
    true_share = clean.rewards[i].samples / sum(p.samples for p in clean.rewards)
    bound = 2 * max(true_share, 1 / len(bad.rewards))
    # A liveness slash is credited to the backup that aggregated: not part of a clean reward.
    proceeds = {s.beneficiary: 0.0 for s in bad.slashed}
    for s in bad.slashed:
        if s.reason == "silent":
            proceeds[s.beneficiary] += s.to_beneficiary
    if kind == "inflate-samples":
        refuted, how = share <= bound, "bounded"
    elif kind in UNPROVABLE:
        refuted, how = gain <= 1e-9, "worthless"
    elif kind == "silent":
        slashed = any(s.address == cheater and s.reason == "silent" for s in bad.slashed)
        refuted, how = slashed, "liveness slash" if slashed else "none"
    else:
        refuted, how = bool(proven), "on-chain proof" if proven else "none"
    return {
        "kind": kind,
        "seed": seed,
        "refuted": refuted,
        "how": how,
        "reward_share": round(share, 4),
        "share_bound": round(bound, 4),
        "honest_slashed": sum(1 for s in bad.slashed if s.address != cheater),
        "cheater_gain": round(gain, 6),
        "cheater_net": round(_net(bad, i), 6),
        "honest_rewards_equal": all(
            abs(
                bad.rewards[j].rewards
                - proceeds.get(bad.rewards[j].address, 0.0)
                - clean.rewards[j].rewards
            )
            < 1e-9
            for j in others
        ),
        "final_model_equal": _final(bad) == _final(clean),
        "disputes": len(bad.disputes),
        "dispute_gas": sum(d.gas for d in bad.disputes),
        "audit_passed": bool(bad.audit["passed"]),
        "wall_seconds": round(bad.wall_seconds, 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--kinds", nargs="*", default=list(FAULTS))
    ap.add_argument(
        "--merge",
        action="store_true",
        help="replace only these kinds' rows in an existing results file (keeps the watcher rows)",
    )
    args = ap.parse_args()
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    watch: list[dict[str, float]] = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        clean = _run(seed)
        t1 = time.perf_counter()
        unwatched = _run(seed, watcher=False)
        t2 = time.perf_counter()
        watch.append({"seed": seed, "with_watcher_s": t1 - t0, "without_watcher_s": t2 - t1})
        for kind in args.kinds:
            i, at = FAULTS[kind]
            rows.append(compare(kind, seed, clean, _run(seed, {i: (kind, at)})))
            console.print(rows[-1])
        assert _final(unwatched) == _final(clean)
    path = RESULTS / "protocol_attacks.json"
    if args.merge and path.exists():
        old = json.loads(path.read_text())
        rows = [r for r in old["runs"] if r["kind"] not in args.kinds] + rows
        watch = old["watcher_walltime"]["runs"]
        args.kinds = list(dict.fromkeys(r["kind"] for r in rows))
    ratio = [w["with_watcher_s"] / w["without_watcher_s"] for w in watch]
    out = {
        "meta": {
            "commit": git_state()[0],
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "setup": "breast_cancer, 10 owners, Dirichlet 0.5, 4 rounds, embedded chain",
            "seconds": round(time.perf_counter() - started, 1),
        },
        "runs": rows,
        "watcher_walltime": {
            "runs": watch,
            "ratio_median": median(ratio),
            "ratio_min": min(ratio),
            "ratio_max": max(ratio),
            "note": "whole clean demo (4 rounds, incl. set-up, audit, baseline), with / without "
            "the watcher, same seed, run back to back",
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "protocol_attacks.json").write_text(json.dumps(out, indent=1) + "\n")
    t = Table(title="Protocol attacks (per kind, over seeds)")
    for col in (
        "kind",
        "refuted/worthless",
        "honest slashed",
        "cheater gain FED (max)",
        "honest rewards =",
        "final model =",
        "dispute gas (median)",
    ):
        t.add_column(col, justify="right")
    for kind in args.kinds:
        rs = [r for r in rows if r["kind"] == kind]
        t.add_row(
            kind,
            f"{sum(r['refuted'] for r in rs)}/{len(rs)}",
            str(sum(r["honest_slashed"] for r in rs)),
            f"{max(r['cheater_gain'] for r in rs):.3f}",
            f"{sum(r['honest_rewards_equal'] for r in rs)}/{len(rs)}",
            f"{sum(r['final_model_equal'] for r in rs)}/{len(rs)}",
            f"{median(r['dispute_gas'] for r in rs):,.0f}",
        )
    console.print(t)
    console.print(
        f"watcher wall-time ratio (with/without, whole demo): median {median(ratio):.3f} [{min(ratio):.3f}–{max(ratio):.3f}]"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

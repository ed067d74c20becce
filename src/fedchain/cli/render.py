"""Rich rendering of demo progress, round tables, rewards and audit verdicts."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from fedchain.audit import AuditReport
from fedchain.node import NodeAction
from fedchain.sim.demo import DemoReport
from fedchain.sim.demo import Progress as DemoProgress
from fedchain.sim.runner import RoundRecord

__all__ = ["RichProgress", "rounds_table", "rewards_table", "audit_table", "summary_table"]


class RichProgress(DemoProgress):
    """Shows set-up stages, a bar over rounds and each round's line as it ends."""

    def __init__(self, console: Console, rounds: int) -> None:
        self.console = console
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.rounds = rounds
        self.task: TaskID | None = None
        self.commits = 0

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def stage(self, message: str) -> None:
        self.console.log(message)
        if message.startswith("training") and self.task is None:
            self.task = self.bar.add_task("rounds", total=self.rounds)

    def action(self, action: NodeAction) -> None:
        if self.task is not None:
            self.bar.update(
                self.task, description=f"round {action.round}: {action.node} {action.kind}"
            )

    def round_done(self, r: RoundRecord) -> None:
        if self.task is not None:
            self.bar.advance(self.task)
        status = "[green]finalized" if r.finalized else f"[yellow]aborted ({r.abort_reason})"
        acc = f"{r.accuracy:.3f}" if r.accuracy is not None else "-"
        extra = f" excluded {len(r.excluded)}" if r.excluded else ""
        extra += f" refused {len(r.refusals)}" if r.refusals else ""
        self.console.log(
            f"round {r.round:>3} {status}[/] acc {acc} gas {r.gas_used:,} "
            f"({r.included} updates){extra} {r.seconds:.2f}s"
        )


def rounds_table(report: DemoReport) -> Table:
    t = Table(title="Rounds", show_lines=False)
    for col in ("round", "status", "updates", "accuracy", "loss", "gas", "time (s)"):
        t.add_column(col, justify="right")
    for r in report.rounds:
        status = "finalized" if r["finalized"] else f"aborted: {r['abort_reason']}"
        acc = r["accuracy"]
        loss = r["loss"]
        t.add_row(
            str(r["round"]),
            status,
            str(r["included"]),
            f"{acc:.4f}" if isinstance(acc, float) else "-",
            f"{loss:.4f}" if isinstance(loss, float) else "-",
            f"{r['gas_used']:,}",
            f"{r['seconds']:.2f}",
        )
    return t


def rewards_table(report: DemoReport) -> Table:
    t = Table(title="Rewards (FED) — by weight (declared samples, capped) of included updates")
    for col in ("participant", "address", "samples", "rounds", "rewards", "stake back"):
        t.add_column(col, justify="right")
    for p in report.rewards:
        t.add_row(
            p.name,
            p.address[:10] + "…",
            str(p.samples),
            str(p.rounds_included),
            f"{p.rewards:.4f}",
            f"{p.stake_returned:.0f}",
        )
    return t


def summary_table(report: DemoReport) -> Table:
    t = Table(title="Federated vs. centralized", show_header=False)
    t.add_column("what")
    t.add_column("value", justify="right")
    t.add_row("federated accuracy (final global model)", f"{report.final_accuracy:.4f}")
    t.add_row("centralized accuracy (same model and budget)", f"{report.centralized_accuracy:.4f}")
    t.add_row(
        "difference (pp)", f"{100 * (report.final_accuracy - report.centralized_accuracy):+.2f}"
    )
    t.add_row("gas per participant per round", f"{report.gas_per_participant_round:,.0f}")
    t.add_row("wall time (s)", f"{report.wall_seconds:.1f}")
    return t


def audit_table(report: AuditReport) -> Table:
    t = Table(title="Audit")
    for col in ("task", "round", "kind", "verdict", "problem (or note)"):
        t.add_column(col)
    for v in report.verdicts:
        verdict = "[green]PASS" if v.passed else "[red]FAIL"
        t.add_row(
            str(v.task_id) if v.task_id else "-",
            str(v.round) if v.status != "accounting" else "-",
            v.status,
            verdict,
            # every failing round's problems; a passing round's notes (e.g. why unverifiable)
            "; ".join(v.problems or v.notes)[:160],
        )
    return t


def disputes_table(report: DemoReport) -> Table:
    """Every dispute of the run and every slash, as the chain settled them."""
    t = Table(title="Disputes and slashes (settled on-chain)")
    for col in ("round", "what", "accused", "outcome", "gas", "slashed (FED)"):
        t.add_column(col, justify="right")
    slashed: dict[tuple[int, str], float] = {}
    for s in report.slashed:
        slashed[(s.round, s.address)] = slashed.get((s.round, s.address), 0.0) + s.amount
    for d in report.disputes:
        t.add_row(
            str(d.round),
            d.kind,
            d.accused[:10] + "…",
            d.outcome,
            f"{d.gas:,}",
            f"{slashed.get((d.round, d.accused), 0.0):.2f}",
        )
    return t

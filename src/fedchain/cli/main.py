"""The `fedchain` command: run the demo consortium, audit a history."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, NoReturn, Optional

import typer
from rich.console import Console
from rich.markup import escape

from fedchain.errors import FedchainError

app = typer.Typer(
    help="fedchain: federated learning whose coordinator is a smart contract.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(log_path=False)

ChainOpt = Annotated[
    str,
    typer.Option(
        "--chain",
        help="Where the contracts run: 'embedded' (in-process EVM, default, gone when the command "
        "ends), 'anvil' (a local node started for you; with --workdir its state persists), or an "
        "http(s):// RPC URL of any EVM chain (keys from FEDCHAIN_PRIVATE_KEYS).",
    ),
]
WorkdirOpt = Annotated[
    Optional[Path],  # noqa: UP045 - typer needs Optional here
    typer.Option(
        "--workdir",
        help="Directory for everything a run leaves behind: the blob store, anvil's chain state, "
        "the deployment addresses. A later command with the same --workdir sees the same tasks.",
    ),
]


@app.command()
def demo(
    clients: Annotated[
        int, typer.Option(help="Number of data owners (each a node with its own key).")
    ] = 10,
    rounds: Annotated[int, typer.Option(help="Federated rounds the task runs.")] = 10,
    dataset: Annotated[
        str, typer.Option(help="breast_cancer (the hospitals scenario) or digits.")
    ] = "breast_cancer",
    alpha: Annotated[
        float,
        typer.Option(help="Dirichlet α of the non-IID split (smaller = more skewed); 0 = IID."),
    ] = 0.5,
    model: Annotated[str, typer.Option(help="mlp (one hidden layer of 32) or logreg.")] = "mlp",
    chain: ChainOpt = "embedded",
    workdir: WorkdirOpt = None,
    seed: Annotated[
        int, typer.Option(help="Seed of the split, the initial model and local training.")
    ] = 0,
    local_epochs: Annotated[
        int, typer.Option(help="Local epochs per round (centralized gets rounds × this).")
    ] = 2,
    faults: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            help="Misbehaving owners, e.g. '2:wrong-aggregate:3,5:copycat' "
            "(index:kind[:from round]). Plaintext kinds: crash, malformed, late, "
            "inflate-samples, copycat, norm-lie (as a trainer); wrong-aggregate, wrong-model, "
            "exclude-honest, withhold, withhold-wrong, silent (as the incumbent aggregator "
            "turning rogue at that round; the demo's watcher disputes it on-chain, the honest "
            "aggregator posts after a refutation or the grace). "
            "Secure kinds: crash, malformed, bad-shares; wrong-aggregate, wrong-model (refuted "
            "by the secure sum game over the masked terms, or in one step), exclude-honest "
            "(voided from the survivors' on-chain record of what they revealed)."
        ),
    ] = None,
    secure_aggregation: Annotated[
        bool,
        typer.Option(
            "--secure-aggregation",
            help="SecAgg+ rounds: owners publish only masked inputs; the aggregator (and anyone) "
            "learns only the sum, and rounds survive dropouts above the threshold.",
        ),
    ] = False,
    dropout: Annotated[
        float,
        typer.Option(
            help="Fraction of owners that vanish in each round (after sending their masked input, "
            "or earlier); a fresh random set every round."
        ),
    ] = 0.0,
    challenge_window: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            help="Seconds an aggregate can be challenged before it is final (default 600 on local chains, whose clock the demo skips forward; 5 on an RPC chain, where it is waited out)."
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write the run's JSON report here (schema in README).")
    ] = None,  # noqa: UP045
) -> None:
    """Run a consortium: deploy, train ROUNDS federated rounds on-chain, pay rewards, audit."""
    from fedchain.cli.render import (
        RichProgress,
        disputes_table,
        rewards_table,
        rounds_table,
        summary_table,
    )
    from fedchain.sim.demo import DemoConfig, run_demo

    try:
        cfg = DemoConfig(
            clients=clients,
            rounds=rounds,
            dataset=dataset,
            alpha=alpha if alpha > 0 else None,
            model=model,
            chain=chain,
            workdir=workdir,
            seed=seed,
            local_epochs=local_epochs,
            faults=_parse_faults(faults),
            challenge_window=challenge_window,
            secure_aggregation=secure_aggregation,
            dropout=dropout,
        )
    except Exception as exc:  # pydantic's message names the bad option
        _fail(f"invalid option: {exc}")
    try:
        with RichProgress(console, cfg.rounds) as progress:
            result = run_demo(cfg, progress)
    except FedchainError as exc:
        _fail(str(exc))
    console.print(rounds_table(result))
    console.print(rewards_table(result))
    if result.disputes or result.slashed:
        console.print(disputes_table(result))
    console.print(summary_table(result))
    audit = result.audit
    if audit["passed"]:
        console.print(
            f"[bold green]audit PASS[/]: {audit['rounds_verified']} rounds verified from chain + store"
        )
    else:
        console.print(f"[bold red]audit FAIL[/]: {audit['first_failure']}")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
        console.print(f"report written to {report}")
    if not audit["passed"]:
        raise typer.Exit(1)


@app.command()
def audit(
    chain: ChainOpt = "anvil",
    workdir: WorkdirOpt = None,
    task: Annotated[
        Optional[list[int]],  # noqa: UP045
        typer.Option(
            help="Audit only this task (repeatable). Without it every task is audited, and a "
            "task whose config is not a fedchain config (anyone can create one) is reported as "
            "not auditable instead of failing."
        ),
    ] = None,
) -> None:
    """Replay every round from chain + store; exit 1 listing every failing round."""
    from fedchain.audit import audit_all
    from fedchain.chain import CoordinatorClient, Deployment, TokenClient, Transactor, open_chain
    from fedchain.cli.render import audit_table
    from fedchain.storage import LocalDirStore

    if workdir is None:
        _fail("audit needs --workdir (the directory a `fedchain demo --workdir` run left behind)")
    if chain == "embedded":
        _fail(
            "the embedded chain lives only inside the process that ran it (the demo audits it "
            "before exiting); use --chain anvil with --workdir for a history that outlives a command"
        )
    try:
        deployment = Deployment.load(workdir / "deployment.json")
        with open_chain(chain, workdir=workdir) as backend:
            if backend.chain_id != deployment.chain_id:
                _fail(f"chain id {backend.chain_id} is not the deployment's {deployment.chain_id}")
            tx = Transactor(backend)
            coordinator = CoordinatorClient(
                tx, deployment.coordinator, from_block=deployment.deploy_block
            )
            token = TokenClient(tx, deployment.token)
            result = audit_all(coordinator, token, LocalDirStore(workdir / "store"), tasks=task)
    except FedchainError as exc:
        _fail(str(exc))
    if result.passed:
        console.print(audit_table(result))
        console.print(f"[bold green]PASS[/]: {result.rounds_verified} rounds verified")
        return
    bad = result.first_failure
    assert bad is not None
    where = (
        "token accounting"
        if bad.status == "accounting"
        else (
            f"task {bad.task_id} setup"
            if bad.round == 0
            else f"task {bad.task_id} round {bad.round}"
        )
    )
    headline = f"FAIL: first failing: {where}: {'; '.join(bad.problems)}"
    console.print(f"[bold red]{headline}[/]", soft_wrap=True)
    console.print(audit_table(result))
    console.print(f"[bold red]{headline}[/]", soft_wrap=True)
    raise typer.Exit(1)


@app.command()
def bonds(
    members: Annotated[
        int, typer.Option(min=1, help="Members of a round (sets the bisection depth).")
    ] = 10,
    gas_price_gwei: Annotated[
        float, typer.Option(min=0, help="Gas price the task should stay safe at, in gwei.")
    ] = 20.0,
    tokens_per_eth: Annotated[
        str,
        typer.Option(help="Price of the task token: whole tokens per ether (e.g. 1000 or 1/3)."),
    ] = "1000",
    margin: Annotated[str, typer.Option(help="Safety factor on the gas price (>= 1).")] = "2",
) -> None:
    """Smallest aggregator and challenge bonds that pay a dispute's winner its gas.

    A refuted aggregator's bond pays the challenger half of it and a failed challenge pays the
    aggregator half, so each bond covers twice the winner's gas in the longest game (measured:
    benchmarks/results/disputes.json), times the margin.
    """
    from fractions import Fraction

    from rich.table import Table

    from fedchain.chain.bonds import minimum_bonds

    try:
        sizing = minimum_bonds(
            members, round(gas_price_gwei * 10**9), Fraction(tokens_per_eth), margin=margin
        )
    except (ValueError, ZeroDivisionError) as exc:
        _fail(str(exc))
    table = Table(
        title=f"Bonds for {members} members at {gas_price_gwei:g} gwei, {tokens_per_eth} tokens/ETH"
    )
    for col in ("bond", "pays for", "winner's gas", "minimum (tokens)"):
        table.add_column(col, justify="right" if col != "pays for" else "left")
    table.add_row(
        "aggregatorBond",
        "the challenger's refutation",
        f"{sizing.gas.challenger:,}",
        f"{sizing.aggregator_bond / 10**18:.6g}",
    )
    table.add_row(
        "challengeBond",
        "the aggregator's defence",
        f"{sizing.gas.aggregator:,}",
        f"{sizing.challenge_bond / 10**18:.6g}",
    )
    console.print(table)


def _parse_faults(spec: str | None) -> dict[int, tuple[str, int]]:
    out: dict[int, tuple[str, int]] = {}
    if not spec:
        return out
    for item in spec.split(","):
        parts = item.strip().split(":")
        if len(parts) not in (2, 3):
            raise typer.BadParameter(f"fault {item!r}: want index:kind[:from_round]")
        out[int(parts[0])] = (parts[1], int(parts[2]) if len(parts) == 3 else 1)
    return out


def _fail(message: str) -> NoReturn:
    console.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(2)


def main() -> None:  # pragma: no cover - console entry
    app(sys.argv[1:])

"""The `fedchain` command through typer's CliRunner: help texts, the demo's JSON report, and
clear refusals (exit code 2 plus a message naming what was wrong)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from fedchain.cli.main import app

runner = CliRunner()
COMMAND: Any = typer.main.get_command(app)  # a group; typer ships its own click


def _options(command: str) -> list[Any]:
    return [p for p in COMMAND.commands[command].params if p.param_type_name == "option"]


def test_app_help_lists_every_command() -> None:
    # Prepare
    commands = COMMAND.commands

    # Execute
    result = runner.invoke(app, ["--help"])

    # Assert
    assert result.exit_code == 0, result.output
    assert {"demo", "audit"} <= set(commands)
    for name, cmd in commands.items():
        assert name in result.output
        assert cmd.help and cmd.help.split()[0] in result.output


@pytest.mark.parametrize("command", ["demo", "audit"])
def test_command_help_mentions_every_option_and_documents_it(command: str) -> None:
    # Prepare
    options = _options(command)

    # Execute
    result = runner.invoke(app, [command, "--help"])

    # Assert
    assert result.exit_code == 0, result.output
    assert len(options) >= 2
    for opt in options:
        for flag in opt.opts:
            assert flag in result.output, f"{flag} missing from `{command} --help`"
        assert opt.help, f"{opt.opts[0]} has no help text"


@pytest.mark.slow
def test_demo_writes_the_json_report(tmp_path: Path) -> None:
    # Prepare
    report = tmp_path / "out" / "report.json"
    args = [
        "demo",
        "--clients",
        "3",
        "--rounds",
        "2",
        "--workdir",
        str(tmp_path / "w"),
        "--report",
        str(report),
    ]

    # Execute
    result = runner.invoke(app, args)

    # Assert
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["chain"] == "embedded"
    assert 0.0 <= data["final_accuracy"] <= 1.0 and 0.0 <= data["centralized_accuracy"] <= 1.0
    assert [r["round"] for r in data["rounds"]] == [1, 2]
    for r in data["rounds"]:
        assert 0.0 <= r["accuracy"] <= 1.0
        assert isinstance(r["gas_used"], int) and r["gas_used"] > 0
    assert data["final_accuracy"] == data["rounds"][-1]["accuracy"]
    gas = sum(r["gas_used"] for r in data["rounds"])
    assert data["gas_per_participant_round"] == pytest.approx(
        gas / sum(r["included"] for r in data["rounds"])
    )
    assert data["audit"]["passed"] is True
    assert data["audit"]["rounds_verified"] == 2
    assert "PASS" in result.output and str(report) in result.output.replace("\n", "")


@pytest.mark.slow
def test_demo_report_lists_disputes_and_slashes(tmp_path: Path) -> None:
    # Prepare: owner 1 posts a wrong aggregate from round 2 on; the watcher refutes it
    report = tmp_path / "report.json"
    args = ["demo", "--clients", "4", "--rounds", "2", "--seed", "5"]
    args += ["--workdir", str(tmp_path / "w"), "--report", str(report)]
    args += ["--faults", "1:wrong-aggregate:2"]

    # Execute
    result = runner.invoke(app, args)

    # Assert
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["audit"]["passed"] is True
    rogue = data["rewards"][1]["address"]
    (dispute,) = [d for d in data["disputes"] if d["kind"] == "wrong-aggregate"]
    assert (dispute["round"], dispute["accused"], dispute["outcome"]) == (2, rogue, "refuted")
    assert dispute["gas"] > 0 and isinstance(dispute["game"], int)
    assert [(x["address"], x["round"]) for x in data["slashed"]] == [(rogue, 2)]
    assert data["slashed"][0]["amount"] > 0
    assert all(r["finalized"] for r in data["rounds"])
    assert data["rounds"][1]["aggregator"] != rogue


def test_audit_of_the_embedded_chain_is_refused_with_a_reason(tmp_path: Path) -> None:
    # Prepare
    workdir = tmp_path / "w"

    # Execute
    result = runner.invoke(app, ["audit", "--chain", "embedded", "--workdir", str(workdir)])

    # Assert
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "embedded" in text and "--chain anvil" in text


def test_audit_without_a_workdir_is_refused_with_a_reason() -> None:
    # Execute
    result = runner.invoke(app, ["audit", "--chain", "anvil"])

    # Assert
    assert result.exit_code == 2, result.output
    assert "--workdir" in result.output


def test_audit_of_an_empty_workdir_says_what_is_missing(tmp_path: Path) -> None:
    # Execute
    result = runner.invoke(app, ["audit", "--chain", "anvil", "--workdir", str(tmp_path)])

    # Assert
    assert result.exit_code == 2, result.output
    assert "deployment" in result.output


@pytest.mark.parametrize(
    ("option", "value", "names", "shows"),
    [
        ("--dataset", "nope", "dataset", "nope"),
        ("--model", "transformer", "model", "transformer"),
        ("--faults", "1:explode:2", "fault", "explode"),
        ("--faults", "garbage", "fault", "garbage"),
    ],
)
def test_invalid_option_value_is_refused_naming_option_and_value(
    option: str, value: str, names: str, shows: str, tmp_path: Path
) -> None:
    # Execute
    result = runner.invoke(
        app, ["demo", "--clients", "2", "--rounds", "1", "--workdir", str(tmp_path), option, value]
    )

    # Assert
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert names in text, text
    assert shows in text, f"the refused value {shows!r} is not shown: {text}"
    assert not (tmp_path / "deployment.json").exists()  # refused before anything ran


def test_fault_plan_with_no_honest_owner_is_refused_cleanly(tmp_path: Path) -> None:
    # Execute
    result = runner.invoke(
        app,
        [
            "demo",
            "--clients",
            "2",
            "--rounds",
            "1",
            "--workdir",
            str(tmp_path),
            "--faults",
            "0:crash:1,1:crash:1",
        ],
    )

    # Assert: a usage error (exit 2, message), not a traceback
    assert not isinstance(result.exception, StopIteration), repr(result.exception)
    assert result.exit_code == 2, result.output
    assert "fault" in result.output.lower()

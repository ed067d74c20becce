"""Helpers for end-to-end tests that start anvil through the CLI."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner

from fedchain.cli.main import app


def anvils_for(workdir: Path) -> list[int]:
    """Live anvil processes whose command line names this workdir (ours, nobody else's)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if (
            state != "Z"
            and cmd
            and b"anvil" in Path(os.fsdecode(cmd[0])).name.encode()
            and str(workdir).encode() in b" ".join(cmd)
        ):
            pids.append(int(entry.name))
    return pids


def audit_anvil(workdir: Path) -> tuple[int, str]:
    """`fedchain audit --chain anvil --workdir W`: (exit code, output)."""
    result = CliRunner().invoke(app, ["audit", "--chain", "anvil", "--workdir", str(workdir)])
    return result.exit_code, result.output

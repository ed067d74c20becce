"""Which code a benchmark result came from: one helper for every script's results metadata."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

__all__ = ["evm_versions", "git_state", "run_meta"]

ROOT = Path(__file__).resolve().parent.parent


def git_state(root: Path = ROOT) -> tuple[str, bool]:
    """(HEAD commit, whether contracts/ or src/ had uncommitted changes); ("", False) without git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "contracts", "src"],
                cwd=root,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    except FileNotFoundError:
        return "", False
    return commit, dirty


def evm_versions() -> str:
    """The embedded chain's versions (py-evm, eth-tester), for a results file."""
    try:
        from importlib.metadata import version

        return f"py-evm {version('py-evm')}, eth-tester {version('eth-tester')}"
    except Exception:  # pragma: no cover - metadata missing
        return "py-evm"


def run_meta(root: Path = ROOT) -> dict[str, Any]:
    """When, where and from which code a benchmark ran: the block every results file starts with."""
    commit, dirty = git_state(root)
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "git_commit": commit,
        "git_dirty_src_or_contracts": dirty,
    }

"""Which code a benchmark result came from: one helper for every script's results metadata."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["git_state"]

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

"""The compiled contracts the package ships.

The ABI is the only contract between Solidity and Python.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["Artifact", "load_artifact", "CONTRACT_NAMES"]

CONTRACT_NAMES = (
    "FedToken",
    "TaskCoordinator",
    "SecAggPhases",
    "CoordinatorLens",
    "RoundDisputes",
    "SecureTerms",
)


@dataclass(frozen=True)
class Artifact:
    """ABI and creation bytecode of one contract, as solc wrote them."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    """Read a shipped artifact (``src/fedchain/contracts/artifacts/<name>.json``)."""
    if name not in CONTRACT_NAMES:
        raise KeyError(f"no artifact named {name!r}; shipped: {', '.join(CONTRACT_NAMES)}")
    text = resources.files("fedchain.contracts").joinpath("artifacts", f"{name}.json").read_text()
    raw = json.loads(text)
    return Artifact(name, raw["abi"], raw["bytecode"], raw["deployedBytecode"])

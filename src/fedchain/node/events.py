"""What a node reports it did (for progress displays and logs; never read back by other nodes)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["NodeAction"]


@dataclass(frozen=True)
class NodeAction:
    node: str
    kind: str  # "commit", "aggregate", "advance", "refused", "skipped"
    round: int
    detail: dict[str, object] = field(default_factory=dict)

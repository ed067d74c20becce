"""Gas accounting by operation: every transaction fedchain sends is recorded here."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass

__all__ = ["GasRecord", "GasLedger"]


@dataclass(frozen=True)
class GasRecord:
    operation: str
    gas_used: int
    sender: str
    block: int
    task_id: int | None = None
    round: int | None = None


class GasLedger:
    """An append-only list of gas records, summarised by operation and by round."""

    def __init__(self) -> None:
        self._records: list[GasRecord] = []
        self._lock = threading.Lock()

    def record(self, rec: GasRecord) -> None:
        with self._lock:
            self._records.append(rec)

    @property
    def records(self) -> list[GasRecord]:
        with self._lock:
            return list(self._records)

    def by_operation(self) -> dict[str, tuple[int, int]]:
        """operation -> (transactions, total gas)."""
        out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for r in self.records:
            out[r.operation][0] += 1
            out[r.operation][1] += r.gas_used
        return {k: (v[0], v[1]) for k, v in out.items()}

    def for_round(self, task_id: int, round: int) -> int:
        """Gas of every transaction tagged with this task and round."""
        return sum(r.gas_used for r in self.records if r.task_id == task_id and r.round == round)

    def total(self) -> int:
        return sum(r.gas_used for r in self.records)

"""The keeper role: anyone may move a task on once a deadline passed (finalize or abort)."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from fedchain.chain import CoordinatorClient
from fedchain.node.events import NodeAction
from fedchain.node.schedule import advance_due

__all__ = ["KeeperNode"]


class KeeperNode:
    """Calls `advance` when due. Trainers usually do it for free in their next commit; the
    keeper covers the last round and rounds that must abort."""

    def __init__(
        self, name: str, account: LocalAccount, coordinator: CoordinatorClient, *, task_id: int
    ) -> None:
        self.name = name
        self.account = account
        self.coordinator = coordinator
        self.task_id = task_id

    def poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        if not advance_due(info, self.coordinator.chain.next_block_time()):
            return None
        self.coordinator.advance(self.account, self.task_id, info.round)
        return NodeAction(self.name, "advance", info.round, {"phase": info.phase.name})

"""What every role has: a name, its own key, its own view of the chain, the shared store."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from fedchain.chain import CoordinatorClient, TaskInfo
from fedchain.node.blobs import TaskBlobs
from fedchain.node.events import NodeAction
from fedchain.node.schedule import aggregate_marks
from fedchain.node.task_config import TaskConfig
from fedchain.storage import BlobStore

__all__ = ["TaskNode", "load_task_config"]


def load_task_config(coordinator: CoordinatorClient, store: BlobStore, task_id: int) -> TaskConfig:
    """The task's config, fetched by its on-chain digest (the store verifies the bytes)."""
    info = coordinator.get_task(task_id)
    return TaskConfig.from_bytes(store.get(info.config_digest))


class TaskNode:
    """A participant in one task. It holds no protocol state of its own: rebuilt at any
    moment, it reads where the task stands from the chain and carries on."""

    def __init__(
        self,
        name: str,
        account: LocalAccount,
        coordinator: CoordinatorClient,
        store: BlobStore,
        *,
        task_id: int,
    ) -> None:
        self.name = name
        self.account = account
        self.coordinator = coordinator
        self.store = store
        self.task_id = task_id
        self._blobs: TaskBlobs | None = None

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def blobs(self) -> TaskBlobs:
        """The task's verified blob access (config fetched once, by its on-chain digest)."""
        if self._blobs is None:
            self._blobs = TaskBlobs(
                self.store, load_task_config(self.coordinator, self.store, self.task_id)
            )
        return self._blobs

    def yield_if_incumbent(self, info: TaskInfo, now: int) -> NodeAction | None:
        """Too few readable updates to aggregate: as the incumbent, once the publications are
        due (a quarter into the window), say so on-chain (once), so backups may post at once and
        no liveness slash follows; otherwise nothing to do (yet)."""
        if info.aggregator != self.address or now < aggregate_marks(info)[0]:
            return None
        round = info.round
        holder, _ = self.coordinator.aggregate_grace(self.task_id)
        if holder != self.address:
            return None  # already yielded, barred, or past its grace
        self.coordinator.yield_grace(self.account, self.task_id, round)
        return NodeAction(self.name, "yield", round, {"reason": "too few readable updates"})

    def barred(self, round: int) -> bool:
        """Whether an aggregate we posted this round was refuted: we may not post again."""
        return any(
            r == round and a == self.address for r, a, _, _ in self.coordinator.voided(self.task_id)
        )

    def waiting_for_incumbent(self, incumbent: str, now: int) -> bool:
        """True while another member (the last aggregator) holds the window's grace: it posts
        first; this node is its backup and posts once the grace has passed."""
        if int(incumbent, 16) == 0 or incumbent == self.address:
            return False  # no eth_call in the usual case: we are the incumbent, or nobody is
        holder, grace_end = self.coordinator.aggregate_grace(self.task_id)
        return holder is not None and holder != self.address and now < grace_end

"""Node layer: role state machines (trainer, aggregator, keeper) driven only by chain state."""

from fedchain.node.aggregator import AggregatorNode, collect_round_inputs
from fedchain.node.base import TaskNode, load_task_config
from fedchain.node.blobs import CommitmentMismatch, TaskBlobs
from fedchain.node.events import NodeAction
from fedchain.node.keeper import KeeperNode
from fedchain.node.schedule import advance_due, commit_target, next_deadline
from fedchain.node.task_config import InvalidTaskConfig, TaskConfig
from fedchain.node.trainer import LocalData, TrainerNode

__all__ = [
    "AggregatorNode",
    "CommitmentMismatch",
    "InvalidTaskConfig",
    "KeeperNode",
    "LocalData",
    "NodeAction",
    "TaskBlobs",
    "TaskConfig",
    "TaskNode",
    "TrainerNode",
    "advance_due",
    "collect_round_inputs",
    "commit_target",
    "load_task_config",
    "next_deadline",
]

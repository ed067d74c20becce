"""Chain layer: the only code that knows web3. Backends, transactions, typed contract clients."""

from fedchain.chain.backends import AnvilChain, ChainBackend, EmbeddedChain, RpcChain, open_chain
from fedchain.chain.contracts import (
    CoordinatorClient,
    Deployment,
    DisputeClient,
    TokenClient,
    deploy,
    flatten_proof,
)
from fedchain.chain.errors import ChainError, ContractRevert, TransactionFailed
from fedchain.chain.gas import GasLedger, GasRecord
from fedchain.chain.transactor import Transactor, derive_account
from fedchain.chain.types import (
    AbortReason,
    AggregateCommitment,
    ChallengeOutcome,
    CommitOpening,
    ExclusionReason,
    Fault,
    GameInfo,
    GameKind,
    GameState,
    MemberInfo,
    Phase,
    RoundOutcome,
    Target,
    TaskInfo,
    TaskParams,
    UpdateCommitment,
)

__all__ = [
    "AbortReason",
    "AggregateCommitment",
    "ChallengeOutcome",
    "CommitOpening",
    "DisputeClient",
    "ExclusionReason",
    "Fault",
    "GameInfo",
    "GameKind",
    "GameState",
    "Target",
    "flatten_proof",
    "AnvilChain",
    "ChainBackend",
    "ChainError",
    "ContractRevert",
    "CoordinatorClient",
    "Deployment",
    "EmbeddedChain",
    "GasLedger",
    "GasRecord",
    "MemberInfo",
    "Phase",
    "RoundOutcome",
    "RpcChain",
    "TaskInfo",
    "TaskParams",
    "TokenClient",
    "TransactionFailed",
    "Transactor",
    "UpdateCommitment",
    "deploy",
    "derive_account",
    "open_chain",
]

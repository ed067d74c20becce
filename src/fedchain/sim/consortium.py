"""A consortium in miniature: one chain, one store, a sponsor and N data owners with keys.

This is set-up only (deploy, fund, create the task, join, start). After it, participants
share nothing but the chain and the store: each node gets its own key, its own data and a
client of the chain; no Python object passes between them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from fedchain.chain import (
    ChainBackend,
    ChainError,
    CoordinatorClient,
    Deployment,
    DisputeClient,
    GasLedger,
    TaskParams,
    TokenClient,
    Transactor,
    deploy,
    derive_account,
)
from fedchain.codec.blob import BlobKind
from fedchain.codec.fixedpoint import norm_bound, quantize
from fedchain.learning import build_model, flatten_params
from fedchain.node.blobs import TaskBlobs
from fedchain.node.task_config import TaskConfig
from fedchain.storage import BlobStore

__all__ = ["BOND_SIZING", "Consortium", "TokenPlan", "TOKEN", "consortium_accounts", "KEYS_ENV"]

KEYS_ENV = "FEDCHAIN_PRIVATE_KEYS"


def consortium_accounts(chain: ChainBackend, n: int, seed: int) -> list[LocalAccount]:
    """Keys for the sponsor and the participants.

    On a local chain they are derived from the seed (test keys, funded by the chain). On a
    real chain they come from $FEDCHAIN_PRIVATE_KEYS (comma-separated hex keys, sponsor
    first), and must already hold ether for gas.
    """
    if chain.is_local:
        return [derive_account(seed, i) for i in range(n)]
    raw = [k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip()]
    if len(raw) < n:
        raise ChainError(
            f"{KEYS_ENV} holds {len(raw)} keys; this run needs {n} (sponsor + participants)"
        )
    return [Account.from_key(k) for k in raw[:n]]


TOKEN = 10**18  # one FED in base units


#: The notional prices the demo's bonds are sized for (`fedchain.chain.bonds.minimum_bonds`):
#: gas at 1 gwei (a local chain's base fee), 1 FED = 0.001 ETH, rounds of up to 100 members,
#: margin 2. A test keeps TokenPlan's bonds at or above that minimum.
BOND_SIZING = {"gas_price_wei": 10**9, "tokens_per_eth": 1000, "members": 100}


@dataclass(frozen=True)
class TokenPlan:
    """Amounts (in whole FED) the demo uses; realistic ratios, arbitrary scale. The bonds pay a
    dispute's winner its measured gas at the prices of ``BOND_SIZING``."""

    supply: int = 1_000_000_000
    grant_per_participant: int = 1_000
    stake: int = 100
    stake_per_sample_milli: int = 100  # 0.1 FED per declared sample
    bond: int = 10
    challenge_bond: int = 5
    reward_per_round: int = 100


@dataclass
class Consortium:
    chain: ChainBackend
    tx: Transactor
    deployment: Deployment
    token: TokenClient
    coordinator: CoordinatorClient
    disputes: DisputeClient
    store: BlobStore
    sponsor: LocalAccount
    participants: list[LocalAccount]

    @classmethod
    def create(
        cls,
        chain: ChainBackend,
        store: BlobStore,
        *,
        num_participants: int,
        seed: int,
        plan: TokenPlan = TokenPlan(),
        ledger: GasLedger | None = None,
        deployment_file: Path | None = None,
    ) -> Consortium:
        """Deploy the contracts and give every participant ether and tokens."""
        tx = Transactor(chain, ledger)
        sponsor, *participants = consortium_accounts(chain, num_participants + 1, seed)
        for acct in [sponsor, *participants]:
            chain.fund(acct.address, 10**21 if chain.is_local else 10**16)
        dep = deploy(tx, sponsor, supply=plan.supply * TOKEN)
        if deployment_file is not None:
            dep.save(deployment_file)
        token = TokenClient(tx, dep.token)
        coordinator = CoordinatorClient(tx, dep.coordinator, from_block=dep.deploy_block)
        disputes = DisputeClient(tx, dep.disputes, from_block=dep.deploy_block)
        for p in participants:
            token.transfer(sponsor, p.address, plan.grant_per_participant * TOKEN)
        return cls(chain, tx, dep, token, coordinator, disputes, store, sponsor, participants)

    def create_task(
        self,
        config: TaskConfig,
        *,
        rounds: int,
        min_participants: int,
        seed: int,
        plan: TokenPlan = TokenPlan(),
        commit_duration: int = 3600,
        aggregate_duration: int = 3600,
        challenge_duration: int = 600,
        response_duration: int = 600,
        weight_cap_pct: int = 200,
        secure_aggregation: bool = False,
    ) -> int:
        """Sponsor: store the config and the initial model, escrow the pool, create the task."""
        config_digest = self.store.put(config.to_bytes())
        model = build_model(config.model_spec, seed=seed)
        initial = quantize(flatten_params(model), frac_bits=config.frac_bits)
        model_root = TaskBlobs(self.store, config).put_vector(BlobKind.MODEL, initial).root
        params = TaskParams(
            initial_model_root=model_root,
            config_digest=config_digest,
            stake_amount=plan.stake * TOKEN,
            stake_per_sample=plan.stake_per_sample_milli * TOKEN // 1000,
            aggregator_bond=plan.bond * TOKEN,
            challenge_bond=plan.challenge_bond * TOKEN,
            reward_per_round=plan.reward_per_round * TOKEN,
            num_rounds=rounds,
            min_participants=min_participants,
            num_parameters=config.num_parameters,
            chunk_elems=config.chunk_elems,
            norm_bound=norm_bound(
                clip_norm=config.clip_norm, frac_bits=config.frac_bits, size=config.num_parameters
            ),
            commit_duration=commit_duration,
            aggregate_duration=aggregate_duration,
            challenge_duration=challenge_duration,
            response_duration=response_duration,
            weight_cap_pct=weight_cap_pct,
            secure_aggregation=secure_aggregation,
        )
        self.token.approve(self.sponsor, self.coordinator.address, params.reward_per_round * rounds)
        return self.coordinator.create_task(self.sponsor, params)

    def join_all(self, task_id: int, declared: list[int]) -> None:
        """Every participant joins, declaring its sample count (which prices its stake)."""
        info = self.coordinator.get_task(task_id)
        for p, n in zip(self.participants, declared, strict=True):
            self.token.approve(
                p, self.coordinator.address, info.stake_amount + info.stake_per_sample * n
            )
            self.coordinator.join(p, task_id, n)

    def start(self, task_id: int) -> None:
        """Open round 1, naming the median of the declared counts (the contract checks it)."""
        declared = sorted(d for _, d, _, _ in self.coordinator.joined_detail(task_id))
        median = declared[(len(declared) - 1) // 2] if declared else 1
        self.coordinator.start_task(self.sponsor, task_id, median)

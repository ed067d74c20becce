"""Misbehaving trainers, to show that bad input is refused and nothing is lost.

They are ordinary trainers with one twist each; they still talk only to the chain and the store.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np
from eth_utils import keccak

from fedchain.aggregation.fedavg import apply_aggregate
from fedchain.chain import ExclusionReason, Phase
from fedchain.codec.blob import BlobKind
from fedchain.codec.merkle import chunk_sums
from fedchain.node import NodeAction, TrainerNode
from fedchain.node.aggregator import AggregatorNode
from fedchain.node.blobs import CommittedVector
from fedchain.node.round_inputs import RoundInputs, collect_round_inputs
from fedchain.node.schedule import commit_target
from fedchain.node.secure import (
    SecureAggregatorNode,
    SecureRoundView,
    SecureTrainerNode,
    secure_commit_target,
)
from fedchain.node.secure_terms import SecureTerms
from fedchain.secagg import ClientRound, KeyShares

__all__ = [
    "FaultKind",
    "FAULT_KINDS",
    "SECURE_FAULT_KINDS",
    "FaultyTrainer",
    "RogueAggregator",
    "SecureFaultyTrainer",
    "TRAINER_FAULTS",
    "AGGREGATOR_FAULTS",
    "SECURE_AGGREGATOR_FAULTS",
    "SecureRogueAggregator",
    "DropoutPlan",
    "DropoutNode",
]

FaultKind = Literal[
    "crash",
    "malformed",
    "late",
    "bad-shares",
    "wrong-aggregate",
    "wrong-model",
    "exclude-honest",
    "inflate-samples",
    "copycat",
    "norm-lie",
    "withhold",
    "withhold-wrong",
    "silent",
]
TRAINER_FAULTS: tuple[str, ...] = (
    "crash",
    "malformed",
    "late",
    "inflate-samples",
    "copycat",
    "norm-lie",
)
"""Faults of a member's trainer in plaintext rounds."""
AGGREGATOR_FAULTS: tuple[str, ...] = (
    "wrong-aggregate",
    "wrong-model",
    "exclude-honest",
    "withhold",
    "withhold-wrong",
    "silent",
)
"""Faults of the incumbent aggregator (it aggregates honestly, then turns rogue)."""
FAULT_KINDS: tuple[str, ...] = TRAINER_FAULTS + AGGREGATOR_FAULTS
"""Faults of plaintext rounds."""
SECURE_AGGREGATOR_FAULTS: tuple[str, ...] = ("wrong-aggregate", "wrong-model", "exclude-honest")
"""Faults of the incumbent aggregator of secure rounds."""
SECURE_FAULT_KINDS: tuple[str, ...] = (
    "crash",
    "malformed",
    "bad-shares",
    *SECURE_AGGREGATOR_FAULTS,
)
"""Faults of secure rounds."""


class FaultyTrainer(TrainerNode):
    """A trainer that, from round ``at_round`` on, misbehaves in one way:

    - crash: stops acting (its stake and earned rewards stay on-chain, claimable later);
    - malformed: commits to bytes that are not a valid update (the aggregator excludes it);
    - late: tries to commit only after the commit window closed (the contract refuses it);
    - inflate-samples: declares the largest sample count its tokens can stake (the weight cap
      bounds what that buys);
    - copycat: commits another member's root of the same round (it cannot open it: the root
      binds its owner; the watcher proves the copy and it is slashed);
    - norm-lie: sends a 4× boosted update (a model-replacement attempt) and declares chunk
      sums that make it look within the norm bound (proven false on-chain; slashed).
    """

    def __init__(
        self, *args: object, fault: FaultKind, at_round: int = 1, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fault = fault
        self.at_round = at_round
        self._committing_round = 0

    @property
    def declared_samples(self) -> int:
        if self.fault != "inflate-samples":
            return super().declared_samples
        info = self.coordinator.get_task(self.task_id)
        balance = TokenBalance.of(self)
        if info.stake_per_sample == 0:
            return MAX_SAMPLES
        return max(1, min(MAX_SAMPLES, (balance - info.stake_amount) // info.stake_per_sample))

    def commit(self, update: np.ndarray) -> CommittedVector:
        round = self._committing_round
        if self.fault != "norm-lie" or round < self.at_round:
            return super().commit(update)
        boosted = (update.astype(np.int64) * 4).clip(-(2**31), 2**31 - 1).astype(np.int32)
        honest = chunk_sums(BlobKind.UPDATE, boosted, chunk_elems=self.blobs.config.chunk_elems)
        fake = [x // 16 for x in honest]  # as if the update were within the bound
        return self.blobs.commit_vector(BlobKind.UPDATE, boosted, owner=self.address, sums=fake)

    def poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        now = self.coordinator.chain.next_block_time()
        target = commit_target(info, now)
        round = target[0] if target else info.round
        self._committing_round = round
        if round < self.at_round or self.fault in ("inflate-samples", "norm-lie"):
            return super().poll()
        if self.fault == "crash":
            return None
        if self.fault == "copycat":
            return self._copy(target)
        if self.fault == "malformed":
            published = self.publish_due(info.round, info.phase)
            if published is not None or target is None:
                return published
            member = self.coordinator.get_member(self.task_id, self.address)
            if member.last_round == round:
                return None
            garbage = (
                b"FCV1 this is not an update " + round.to_bytes(4, "big") + self.address.encode()
            )
            root = keccak(garbage)
            self.store.put_named(root, garbage)
            self.coordinator.commit_update(self.account, self.task_id, round, root, 0)
            return NodeAction(self.name, "commit", round, {"fault": "malformed"})
        # late: act only once the window is closed, once per round
        if info.phase == Phase.AGGREGATE and getattr(self, "_late_tried", 0) != info.round:
            self._late_tried = info.round
            update, _ = self.compute_update(info.global_model_root, info.round)
            vector = self.commit(update)
            self.coordinator.commit_update(
                self.account, self.task_id, info.round, vector.root, vector.sum_sq
            )
        return None

    def _copy(self, target: tuple[int, bytes] | None) -> NodeAction | None:
        """Commit the first root another member committed this round (once one exists)."""
        if target is None:
            return None
        round = target[0]
        member = self.coordinator.get_member(self.task_id, self.address)
        if member.last_round == round:
            return None
        others = [
            u
            for u in self.coordinator.updates(self.task_id, round)
            if u.participant != self.address
        ]
        if not others:
            return None
        victim = others[0]
        self.coordinator.commit_update(
            self.account, self.task_id, round, victim.merkle_root, victim.sum_sq
        )
        return NodeAction(
            self.name, "commit", round, {"fault": "copycat", "victim": victim.participant}
        )


MAX_SAMPLES = 2**24 - 1
"""The largest sample count the coordinator admits (its uint24 member field)."""


class TokenBalance:
    """The faulty trainer's token balance, read through the token the coordinator names."""

    @staticmethod
    def of(node: TrainerNode) -> int:
        w3 = node.coordinator.chain.w3
        token = node.coordinator.contract.functions.token().call()
        erc20 = w3.eth.contract(address=token, abi=_BALANCE_ABI)
        return int(erc20.functions.balanceOf(node.address).call())


_BALANCE_ABI = [
    {
        "name": "balanceOf",
        "type": "function",
        "stateMutability": "view",
        "inputs": [{"name": "a", "type": "address"}],
        "outputs": [{"name": "", "type": "uint256"}],
    }
]


class RogueAggregator(AggregatorNode):
    """A member that aggregates honestly (it is polled before the honest aggregator, so it posts
    round 1 and becomes the incumbent, holding each later window's grace) and, from round
    ``at_round`` on, posts a dishonest aggregate and defends it as a cheater would:

    - wrong-aggregate: one element of Σ wᵢ·vᵢ is off by one (the model follows from the wrong
      sum, so only the sum is wrong); it defends with honest running sums, so the bisection
      ends at the last step, where the step proof refutes it;
    - wrong-model: the sum is right, one model element is off by one (refuted in one step);
    - exclude-honest: it leaves out every valid update it can (all but the minimum needed) as
      "unavailable"; not provable, but worthless: rewards are shared over committed weight;
    - withhold: it posts honest roots but never stores the aggregate or model, and does not
      answer availability challenges (timeout: the aggregate is void);
    - withhold-wrong: a wrong aggregate (as wrong-aggregate) whose data it never stores; it
      answers every availability request truthfully about what it posted, so the watcher finds
      the wrong chunk from its on-chain openings, then wins the sum game;
    - silent: it stops posting; the honest aggregator (its backup) posts once the grace has
      passed, and the finalized round slashes the silent incumbent (``SILENT_SLASH_BPS``).
    """

    def __init__(
        self, *args: object, fault: FaultKind, at_round: int = 1, **kwargs: object
    ) -> None:
        if fault not in AGGREGATOR_FAULTS:
            raise ValueError(f"fault {fault!r} is not one of {', '.join(AGGREGATOR_FAULTS)}")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fault = fault
        self.at_round = at_round
        self._kept: dict[int, tuple[CommittedVector, CommittedVector]] = {}

    def poll(self) -> NodeAction | None:
        info = self.coordinator.get_task(self.task_id)
        if info.round < self.at_round:
            return super().poll()  # an honest aggregator until then
        if self.fault == "silent":
            return None
        if self.fault == "withhold" and info.phase == Phase.CHALLENGE:
            return None  # never answers
        return super().poll()

    def _rogue(self) -> bool:
        return self.coordinator.get_task(self.task_id).round >= self.at_round

    def build(
        self, inputs: RoundInputs, base_root: bytes
    ) -> tuple[CommittedVector, CommittedVector]:
        if (
            self.fault not in ("wrong-aggregate", "wrong-model", "withhold-wrong")
            or not self._rogue()
        ):
            return super().build(inputs, base_root)
        aggregate = inputs.aggregate()
        base = self.blobs.get_vector(BlobKind.MODEL, base_root)
        if self.fault in ("wrong-aggregate", "withhold-wrong"):
            aggregate = aggregate.copy()
            aggregate[-1] += 1
        model = apply_aggregate(base.values, aggregate, sum(inputs.weights))
        if self.fault == "wrong-model":
            model = model.copy()
            model[0] += 1
        return (
            self.blobs.commit_vector(BlobKind.AGGREGATE, aggregate),
            self.blobs.commit_vector(BlobKind.MODEL, model),
        )

    def select(self, inputs: RoundInputs) -> RoundInputs:
        if self.fault != "exclude-honest" or not self._rogue():
            return inputs
        info = self.coordinator.get_task(self.task_id)
        keep = {self.address}
        for p in inputs.included:
            if len(keep) >= info.min_participants:
                break
            keep.add(p)
        for u in inputs.updates:
            if u.valid and u.participant not in keep:
                u.problem, u.detail = (
                    ExclusionReason.UNAVAILABLE,
                    "claimed unavailable (it was not)",
                )
        return inputs

    def publish(self, aggregate: CommittedVector, model: CommittedVector) -> None:
        if self.fault not in ("withhold", "withhold-wrong") or not self._rogue():
            super().publish(aggregate, model)
        elif self.fault == "withhold-wrong":
            round = self.coordinator.get_task(self.task_id).round
            self._kept[round] = (aggregate, model)  # kept to itself, to answer requests

    def _posted(self, round: int) -> tuple[CommittedVector, CommittedVector, RoundInputs]:
        if round not in self._kept:
            return super()._posted(round)
        inputs = collect_round_inputs(self.coordinator, self.blobs, self.task_id, round)
        aggregate, model = self._kept[round]
        return aggregate, model, inputs


class SecureFaultyTrainer(SecureTrainerNode):
    """A secure-round trainer that, from round ``at_round`` on, misbehaves in one way.

    - crash: stops acting (a dropout every round; its stake and earned rewards stay on-chain);
    - malformed: commits to a masked "input" that is not a MASKED blob (excluded on-chain);
    - bad-shares: seals random bytes instead of key shares for every neighbour, then masks and
      commits as usual. Its neighbours complain, it is left out of the sum (set E) and the
      round completes without it.
    """

    def __init__(
        self, *args: object, fault: FaultKind, at_round: int = 1, **kwargs: object
    ) -> None:
        if fault not in SECURE_FAULT_KINDS:
            raise ValueError(f"fault {fault!r} is not one of {', '.join(SECURE_FAULT_KINDS)}")
        super().__init__(*args, **kwargs)
        self.fault = fault
        self.at_round = at_round

    def poll(self) -> NodeAction | None:
        if self.fault == "crash":
            info = self.coordinator.get_task(self.task_id)
            now = self.coordinator.chain.next_block_time()
            round = secure_commit_target(
                info.phase, info.round, info.num_rounds, info.deadline, now
            )
            if round is not None and round >= self.at_round:
                return None
        return super().poll()

    def seal_shares(self, client: ClientRound, view: SecureRoundView) -> KeyShares:
        shares = super().seal_shares(client, view)
        if self.fault != "bad-shares" or view.round < self.at_round:
            return shares
        return KeyShares(
            task_id=shares.task_id,
            round=shares.round,
            participant=shares.participant,
            self_mask_commitment=shares.self_mask_commitment,
            ciphertexts={p: os.urandom(len(ct)) for p, ct in shares.ciphertexts.items()},
        )

    def store_masked(self, masked: np.ndarray, bits: int, round: int) -> bytes:
        if self.fault != "malformed" or round < self.at_round:
            return super().store_masked(masked, bits, round)
        garbage = b"FCV1 not a masked input " + round.to_bytes(4, "big") + self.address.encode()
        root = keccak(garbage)
        self.store.put_named(root, garbage)
        return root


#: Order of the phases a trainer acts in; a dropout at stage s does nothing from phase s on.
_STAGE = {Phase.ADVERTISE: 0, Phase.SHARE: 1, Phase.COMMIT: 2, Phase.UNMASK: 3}


class DropoutPlan:
    """Which participants vanish in which round, and when (seeded, so runs repeat).

    Each round a fresh ``fraction`` of the participants drops out, each at a random stage:
    before advertising keys, after advertising, after sharing keys, or after sending its
    masked input (then it never unmasks). Without secure aggregation a dropout simply never
    commits that round.
    """

    def __init__(self, *, num_participants: int, fraction: float, seed: int, secure: bool) -> None:
        if not 0 <= fraction < 1:
            raise ValueError(f"dropout fraction must be in [0, 1), got {fraction}")
        self.n = num_participants
        self.count = int(round(fraction * num_participants))
        self.seed = seed
        self.secure = secure

    def stage(self, round: int, index: int) -> int | None:
        """The stage at which participant ``index`` vanishes in ``round`` (None: it stays)."""
        rng = np.random.default_rng([self.seed, round, 0xD20])
        dropped = rng.choice(self.n, size=self.count, replace=False)
        stages = rng.integers(0, 4, size=self.count) if self.secure else np.full(self.count, 2)
        hits = np.flatnonzero(dropped == index)
        return int(stages[hits[0]]) if hits.size else None


class DropoutNode:
    """Wraps a trainer: in the rounds the plan says, it stops acting from its stage on."""

    def __init__(self, inner: TrainerNode, index: int, plan: DropoutPlan) -> None:
        self.inner = inner
        self.name = inner.name
        self.index = index
        self.plan = plan

    def poll(self) -> NodeAction | None:
        info = self.inner.coordinator.get_task(self.inner.task_id)
        now = self.inner.coordinator.chain.next_block_time()
        if info.secure:
            round = secure_commit_target(
                info.phase, info.round, info.num_rounds, info.deadline, now
            )
            phase = Phase.ADVERTISE if round != info.round else info.phase
        else:
            target = commit_target(info, now)
            round, phase = (target[0] if target else None), Phase.COMMIT
        if round is None:
            return None
        stage = self.plan.stage(round, self.index)
        if stage is not None and _STAGE.get(phase, 99) >= stage:
            return None
        return self.inner.poll()


class SecureRogueAggregator(SecureAggregatorNode):
    """The secure-round counterpart of :class:`RogueAggregator`: honest (and so the incumbent)
    before ``at_round``, then:

    - wrong-aggregate: the last element of the unmasked sum is off by one; in the secure sum
      game it states honest running sums up to term ``lie_from`` − 1 and the shifted ones from
      there on (default: only the last term's, the cheater's best hope), so the bisection ends
      at that term, whose step proof refutes it;
    - wrong-model: the sum is right, one model element is off by one (refuted in one step);
    - exclude-honest: it records one valid survivor as unavailable. No aggregate over the rest
      exists (that member's pairwise masks never come off, its self-mask share was revealed),
      so the survivors' on-chain bitmaps void it, without a slash; the backup posts the
      honest one.
    """

    def __init__(
        self,
        *args: object,
        fault: FaultKind,
        at_round: int = 1,
        lie_from: int | None = None,
        **kwargs: object,
    ) -> None:
        if fault not in SECURE_AGGREGATOR_FAULTS:
            raise ValueError(f"fault {fault!r} is not one of {', '.join(SECURE_AGGREGATOR_FAULTS)}")
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fault = fault
        self.at_round = at_round
        self.lie_from = lie_from

    def _rogue(self) -> bool:
        return self.coordinator.get_task(self.task_id).round >= self.at_round

    def unmasked(self, view: SecureRoundView) -> np.ndarray:
        total = super().unmasked(view)
        if self.fault == "wrong-aggregate" and self._rogue():
            total = total.copy()
            total[-1] += 1
        return total

    def exclusions(self, view: SecureRoundView) -> dict[str, ExclusionReason]:
        reasons = super().exclusions(view)
        if self.fault == "exclude-honest" and self._rogue():
            victim = min(view.included - {self.address})
            reasons = {**reasons, victim: ExclusionReason.UNAVAILABLE}
        return reasons

    def model_for(self, base: np.ndarray, total: np.ndarray, samples: int) -> np.ndarray:
        model = super().model_for(base, total, samples)
        if self.fault == "wrong-model" and self._rogue():
            model = model.copy()
            model[0] += 1
        return model

    def running_sum_for(self, terms: SecureTerms, chunk: int, upto: int) -> np.ndarray:
        p = super().running_sum_for(terms, chunk, upto)
        lie_from = terms.num_terms if self.lie_from is None else self.lie_from
        last = (self.blobs.config.num_parameters - 1) // self.blobs.config.chunk_elems
        if self.fault == "wrong-aggregate" and chunk == last and upto >= lie_from:
            p = p.copy()
            p[-1] += np.uint64(1)
        return p

"""Bad input in secure rounds (issue 3, "Bad input"): a malformed masked vector, shares that fail
authentication, shares for a non-neighbour, a public key copied from another owner, a second
unmask message, a key advertised twice, an advert from a member who joined mid-round, secure
calls on a plaintext task and a plaintext aggregate on a secure task. Each is refused (by the contract with its custom error, or by every
node reading the same chain + store), recorded where it matters, and the round still completes
when enough honest owners remain. After each, every token is accounted for.

The misbehaving owner is an ordinary SecureTrainerNode whose outgoing bytes are rewritten on the
way to the store (``RewritingStore``, ``TamperingBlobs``): the test crafts its messages, the node
does everything else as usual."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from recording_trainer import RecordingTrainer

from fedchain.aggregation import apply_aggregate, weighted_sum
from fedchain.audit import audit_all
from fedchain.chain import (
    AbortReason,
    ContractRevert,
    EmbeddedChain,
    ExclusionReason,
    GasLedger,
    Phase,
)
from fedchain.codec.blob import BlobKind
from fedchain.codec.merkle import Owner
from fedchain.errors import FedchainError
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import KeeperNode, LocalData, NodeAction, TaskBlobs, TaskConfig
from fedchain.node.blobs import ZERO_OWNER, CommittedVector
from fedchain.node.secure import SecureAggregatorNode, SecureRoundView
from fedchain.secagg import ClientRound, KeyShares
from fedchain.secagg.ring import coordinate_bound, ring_bits, secure_ring_bits
from fedchain.sim.consortium import TOKEN, Consortium
from fedchain.sim.runner import RoundRecord, run_task
from fedchain.storage import LocalDirStore

SAMPLES = (23, 37, 51, 29, 44, 60)
EVIL = 0  # index of the misbehaving owner
VICTIM = 1  # the honest owner it targets, where it targets one
AGGREGATOR = 4


def _local_data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


class RewritingStore:
    """An owner's store whose outgoing protocol messages (JSON) pass through ``rewrite``."""

    def __init__(self, inner: LocalDirStore, rewrite: Callable[[dict[str, Any], bytes], bytes]):
        self.inner = inner
        self.rewrite = rewrite

    def put(self, data: bytes) -> bytes:
        if data[:1] == b"{":
            data = self.rewrite(json.loads(data), data)
        return self.inner.put(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


#: What a tamper returns: the root the owner commits (its masked input's name in the store).
Tamper = Callable[[TaskBlobs, np.ndarray, str, int], bytes]


class TamperingBlobs(TaskBlobs):
    """An owner's blob writer that replaces its masked input by what ``tamper`` stores, and
    commits the root ``tamper`` returns."""

    def __init__(self, store: LocalDirStore, config: TaskConfig, tamper: Tamper) -> None:
        super().__init__(store, config)
        self.tamper = tamper

    def put_vector(
        self,
        kind: BlobKind,
        values: np.ndarray,
        *,
        owner: Owner = ZERO_OWNER,
        ring_bits: int | None = None,
    ) -> CommittedVector:
        if kind == BlobKind.MASKED:
            assert ring_bits is not None and isinstance(owner, str)
            root = self.tamper(self, values, owner, ring_bits)
            return CommittedVector(root, 0, b"", None)  # type: ignore[arg-type]
        return super().put_vector(kind, values, owner=owner, ring_bits=ring_bits)


def _shares_rewriter(
    change: Callable[[dict[str, bytes], KeyShares], dict[str, bytes]],
) -> Callable[[dict[str, Any], bytes], bytes]:
    """Rewrite the ciphertexts of an owner's KeyShares message (other messages pass)."""

    def rewrite(obj: dict[str, Any], data: bytes) -> bytes:
        if obj.get("format") != KeyShares.FORMAT:
            return data
        msg = KeyShares.from_bytes(
            data, task_id=obj["task_id"], round=obj["round"], participant=obj["participant"]
        )
        return KeyShares(
            task_id=msg.task_id,
            round=msg.round,
            participant=msg.participant,
            self_mask_commitment=msg.self_mask_commitment,
            ciphertexts=change(dict(msg.ciphertexts), msg),
        ).to_bytes()

    return rewrite


@dataclass
class World:
    chain: EmbeddedChain
    store: LocalDirStore
    c: Consortium
    cfg: TaskConfig
    task_id: int
    actions: list[NodeAction] = field(default_factory=list)

    @property
    def co(self) -> Any:
        return self.c.coordinator

    @property
    def blobs(self) -> TaskBlobs:
        return TaskBlobs(self.store, self.cfg)

    def addr(self, i: int) -> str:
        return str(self.c.participants[i].address)

    def weight(self, i: int) -> int:
        """Owner ``i``'s aggregation weight, as the chain fixed it at its join."""
        return self.co.get_member(self.task_id, self.addr(i)).weight

    def join(self, i: int, declared: int) -> None:
        """Owner ``i`` joins (its stake priced by ``declared``)."""
        info = self.co.get_task(self.task_id)
        member = self.c.participants[i]
        stake = info.stake_amount + info.stake_per_sample * declared
        self.c.token.approve(member, self.co.address, stake)
        self.co.join(member, self.task_id, declared)

    def trainer(self, i: int, store: Any = None) -> RecordingTrainer:
        return RecordingTrainer(
            f"owner-{i}",
            self.c.participants[i],
            self.c.coordinator,
            store or self.store,
            _local_data(SAMPLES[i], i),
            task_id=self.task_id,
        )

    def run(self, trainers: list[RecordingTrainer]) -> list[RoundRecord]:
        nodes: list[Any] = [
            *trainers,
            SecureAggregatorNode(
                "agg", self.c.participants[AGGREGATOR], self.co, self.store, task_id=self.task_id
            ),
            KeeperNode("keeper", self.c.sponsor, self.co, task_id=self.task_id),
        ]
        return run_task(
            self.co, self.task_id, nodes, ledger=GasLedger(), on_action=self.actions.append
        )

    def view(self, round: int = 1) -> SecureRoundView:
        return SecureRoundView(self.co, self.blobs, self.task_id, round)

    def poll_until(self, trainers: list[RecordingTrainer], phase: Phase) -> None:
        for _ in range(20):
            if self.co.get_task(self.task_id).phase == phase:
                return
            for t in trainers:
                t.poll()
        raise AssertionError(f"never reached {phase.name}")


def _world(
    chain: EmbeddedChain,
    tmp_path: Path,
    *,
    members: int = 5,
    joined: int | None = None,
    secure: bool = True,
    declared: Sequence[int] | None = None,
    weight_cap_pct: int = 200,
    rounds: int = 1,
) -> World:
    """A started task; the first ``joined`` (default: all) of ``members`` owners joined before
    the start, owner i declaring ``declared[i]`` samples (default: its true count SAMPLES[i])."""
    store = LocalDirStore(tmp_path / "store")
    c = Consortium.create(chain, store, num_participants=members, seed=41)
    spec = ModelSpec(arch="logreg", input_dim=4, num_classes=2)
    cfg = TaskConfig.build(
        dataset="synthetic", model=spec, train=TrainConfig(epochs=1, batch_size=8), chunk_elems=4
    )
    tid = c.create_task(
        cfg,
        rounds=rounds,
        min_participants=3,
        seed=0,
        secure_aggregation=secure,
        weight_cap_pct=weight_cap_pct,
    )
    w = World(chain, store, c, cfg, tid)
    counts = list(SAMPLES[:members] if declared is None else declared)
    for i in range(members if joined is None else joined):
        w.join(i, counts[i])
    c.start(tid)
    if declared is None and weight_cap_pct == 200:
        # every true count is under the cap (200 % of the median): weights are the counts
        assert [w.weight(i) for i in range(members if joined is None else joined)] == [
            SAMPLES[i] for i in range(members if joined is None else joined)
        ]
    return w


def _sum_of(
    w: World, trainers: list[RecordingTrainer], indices: list[int]
) -> tuple[np.ndarray, int]:
    """Σ wᵢ·vᵢ and Σ wᵢ over ``indices``, with the weights the chain fixed."""
    weights = [w.weight(i) for i in indices]
    return weighted_sum([trainers[i].updates[1] for i in indices], weights), sum(weights)


def _assert_round_completed_with(
    w: World, trainers: list[RecordingTrainer], included: list[int]
) -> None:
    """Round 1 finalized on exactly Σ wᵢ·vᵢ over ``included``, and the audit agrees."""
    outcome = w.co.round_outcomes(w.task_id)[0]
    assert outcome.finalized, f"round aborted: {outcome.abort_reason!r}"
    expected, weight = _sum_of(w, trainers, included)
    agg = w.co.aggregate(w.task_id, 1)
    assert agg is not None and agg.included_weight == weight
    posted = w.blobs.get_vector(BlobKind.AGGREGATE, agg.merkle_root).values
    assert np.array_equal(posted, expected)
    report = audit_all(w.co, w.c.token, w.store)
    assert report.passed, report.first_failure


# ------------------------------------------------------------------ malformed masked input


def _put(blobs: TaskBlobs, values: np.ndarray, owner: str, bits: int) -> bytes:
    return TaskBlobs.put_vector(blobs, BlobKind.MASKED, values, owner=owner, ring_bits=bits).root


def _short(blobs: TaskBlobs, values: np.ndarray, owner: str, bits: int) -> bytes:
    return _put(blobs, values[:-1], owner, bits)


def _long(blobs: TaskBlobs, values: np.ndarray, owner: str, bits: int) -> bytes:
    return _put(blobs, np.append(values, values[:1]), owner, bits)


def _wider_ring(blobs: TaskBlobs, values: np.ndarray, owner: str, bits: int) -> bytes:
    return _put(blobs, values, owner, bits + 1)


def _not_a_blob(blobs: TaskBlobs, values: np.ndarray, owner: str, bits: int) -> bytes:
    garbage = b"FCV1 this is no masked input " + values.tobytes()[:8]
    root = hashlib.sha256(garbage).digest()
    blobs.store.put_named(root, garbage)
    return root


def _under_another_root(blobs: TaskBlobs, values: np.ndarray, owner: str, bits: int) -> bytes:
    """The honest masked input, stored under (and committed as) a root it does not open to."""
    vector = TaskBlobs.commit_vector(blobs, BlobKind.MASKED, values, owner=owner, ring_bits=bits)
    root = hashlib.sha256(b"a root for some other blob").digest()
    blobs.store.put_named(root, vector.data)
    return root


def _another_owners(blobs: TaskBlobs, values: np.ndarray, owner: str, bits: int) -> bytes:
    """The honest masked input, committed with a root bound to another address."""
    return _put(blobs, values, "0x" + "11" * 20, bits)


def _missing(blobs: TaskBlobs, values: np.ndarray, owner: str, bits: int) -> bytes:
    """A root committed to, with nothing ever stored under it."""
    return TaskBlobs.commit_vector(blobs, BlobKind.MASKED, values, owner=owner, ring_bits=bits).root


MALFORMED, UNAVAILABLE = ExclusionReason.MALFORMED, ExclusionReason.UNAVAILABLE


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (_short, MALFORMED),
        (_long, MALFORMED),
        (_wider_ring, MALFORMED),
        (_not_a_blob, MALFORMED),
        (_under_another_root, MALFORMED),
        (_another_owners, MALFORMED),
        (_missing, UNAVAILABLE),
    ],
    ids=[
        "one word short",
        "one word long",
        "ring one bit wider",
        "not a vector blob",
        "root does not match",
        "bound to another owner",
        "never stored",
    ],
)
def test_malformed_masked_input_is_excluded_on_chain_and_the_round_completes(
    chain: EmbeddedChain,
    tmp_path: Path,
    tamper: Tamper,
    reason: ExclusionReason,
    accounting_holds: Any,
) -> None:
    # Prepare: owner 0 commits to a malformed masked input; owners 1-4 behave
    w = _world(chain, tmp_path)
    trainers = [w.trainer(i) for i in range(5)]
    trainers[EVIL]._blobs = TamperingBlobs(w.store, w.cfg, tamper)

    # Execute
    records = w.run(trainers)

    # Assert: committed, excluded on-chain with a reason, not withheld, earns nothing; the
    # reward is shared over the committed weight, so its share stays in the pool
    evil = w.addr(EVIL)
    assert evil in {u.participant for u in w.co.updates(w.task_id, 1)}
    assert w.co.excluded(w.task_id, 1) == {evil: reason}
    assert set(records[0].excluded) == {evil} and records[0].excluded[evil]
    assert w.co.withheld(w.task_id, 1) == []
    _assert_round_completed_with(w, trainers, [1, 2, 3, 4])
    _assert_paid_all_but(w, EVIL)
    assert accounting_holds(w.co, w.c.token)


def _assert_paid_all_but(w: World, left_out: int) -> None:
    """Round 1 paid weight × (reward // committed weight) to owners 0-4 but ``left_out``, whose
    share stayed in the pool; every stake is what its owner paid at join."""
    info = w.co.get_task(w.task_id)
    rpw = w.co.reward_per_weight(w.task_id, 1)
    assert rpw == info.reward_per_round // sum(w.weight(i) for i in range(5))
    stakes = w.co.stakes_paid(w.task_id)
    paid = 0
    for i in range(5):
        m = w.co.get_member(w.task_id, w.addr(i))
        assert m.claimable + m.pending == (0 if i == left_out else w.weight(i) * rpw)
        assert m.stake == stakes[w.addr(i)]
        paid += m.claimable + m.pending
    assert info.pool == info.reward_per_round * info.num_rounds - paid


# ------------------------------------------------------------------ key shares


def test_a_share_failing_authentication_is_recorded_by_its_recipient_and_the_round_completes(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: owner 0's sealed bundle for owner 1 is random bytes of the right length
    w = _world(chain, tmp_path)
    victim = w.addr(VICTIM)

    def garble_one(cts: dict[str, bytes], _: KeyShares) -> dict[str, bytes]:
        return {**cts, victim: os.urandom(len(cts[victim]))}

    trainers = [w.trainer(i) for i in range(5)]
    trainers[EVIL].store = RewritingStore(w.store, _shares_rewriter(garble_one))

    # Execute
    w.run(trainers)
    unmasked = w.view().unmask_messages

    # Assert: the victim names owner 0, nobody else names anyone; owner 0's input still
    # unmasks (t = 3 of its other neighbours' shares) and counts
    evil = w.addr(EVIL)
    assert set(unmasked) == {w.addr(i) for i in range(5)}
    assert {who: m.bad_senders for who, m in unmasked.items()} == {
        w.addr(i): ((evil,) if i == VICTIM else ()) for i in range(5)
    }
    assert evil not in unmasked[victim].self_mask_shares
    reported = {a.node: a.detail["bad_senders"] for a in w.actions if a.kind == "unmask"}
    assert reported[f"owner-{VICTIM}"] == [evil]
    complaints = w.view().complaints
    assert set(complaints) == {victim} and set(complaints[victim].seeds) == {evil}
    assert w.view().excluded_by_complaints == {}  # one complaint of four: still rebuildable
    assert w.co.excluded(w.task_id, 1) == {} and w.co.withheld(w.task_id, 1) == []
    _assert_round_completed_with(w, trainers, [0, 1, 2, 3, 4])
    assert accounting_holds(w.co, w.c.token)


def test_an_owner_whose_shares_fail_for_every_neighbour_is_left_out_and_the_round_completes(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: owner 0 seals random bytes for every neighbour, then masks and commits as usual,
    # so nobody can ever rebuild its self-mask
    w = _world(chain, tmp_path)

    def garble_all(cts: dict[str, bytes], _: KeyShares) -> dict[str, bytes]:
        return {peer: os.urandom(len(ct)) for peer, ct in cts.items()}

    trainers = [w.trainer(i) for i in range(5)]
    trainers[EVIL].store = RewritingStore(w.store, _shares_rewriter(garble_all))

    # Execute
    records = w.run(trainers)
    view = w.view()

    # Assert: every neighbour complained (before committing), naming owner 0 only; owner 0
    # committed but is excluded on-chain with the reason, earns nothing, and no share of its
    # self-mask was revealed (its pairwise seeds were, instead); the round completes on the
    # other four, exactly, and the audit agrees
    evil = w.addr(EVIL)
    neighbours = view.context.neighbours_of(evil)
    assert set(view.complaints) == set(neighbours)
    assert all(set(c.seeds) == {evil} for c in view.complaints.values())
    complained = {a.node for a in w.actions if a.kind == "complain"}
    assert complained == {f"owner-{i}" for i in range(1, 5)}
    assert evil in view.u3 and set(view.excluded_by_complaints) == {evil}
    assert w.co.excluded(w.task_id, 1) == {evil: MALFORMED} and records[0].excluded[evil]
    for msg in view.unmask_messages.values():
        assert evil not in msg.self_mask_shares
    assert all(evil in m.pairwise_seeds for w_, m in view.unmask_messages.items() if w_ != evil)
    _assert_round_completed_with(w, trainers, [1, 2, 3, 4])
    _assert_paid_all_but(w, EVIL)
    assert accounting_holds(w.co, w.c.token)


def test_shares_addressed_to_a_non_neighbour_are_refused(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: six members; member 5 never advertises keys, so it is nobody's neighbour this
    # round. Owner 0 seals its bundles as it should and adds one for member 5.
    w = _world(chain, tmp_path, members=6)
    stranger = w.addr(5)

    def add_stranger(cts: dict[str, bytes], _: KeyShares) -> dict[str, bytes]:
        return {**cts, stranger: os.urandom(len(next(iter(cts.values()))))}

    trainers = [w.trainer(i) for i in range(5)]
    trainers[EVIL].store = RewritingStore(w.store, _shares_rewriter(add_stranger))

    # Execute
    w.run(trainers)
    view = w.view()
    digest = w.co.phase_digests(w.task_id, 1, "KeysShared")[w.addr(EVIL)]
    sent = KeyShares.from_bytes(
        w.store.get(digest), task_id=w.task_id, round=1, participant=w.addr(EVIL)
    )

    # Assert: the message really did carry a share for a non-neighbour ...
    assert stranger not in view.adverts
    assert set(sent.ciphertexts) == {w.addr(i) for i in range(1, 6)}
    # ... and it was refused: owner 0 shared on-chain (so it is in U2 and its neighbours
    # masked with it), but nobody uses its shares and its input is not in the sum
    assert w.addr(EVIL) in view.u2
    assert w.addr(EVIL) not in view.key_shares, "shares for a non-neighbour were accepted"
    _assert_round_completed_with(w, trainers, [1, 2, 3, 4])
    assert accounting_holds(w.co, w.c.token)


# ------------------------------------------------------------------ key adverts


def test_a_public_key_copied_from_another_owner_does_not_stop_the_round(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: owner 1 advertises; then owner 0 advertises on-chain with owner 1's encryption
    # public key (and a mask key of its own), keys its node does not hold
    w = _world(chain, tmp_path)
    victim = w.addr(VICTIM)
    trainers = [w.trainer(i) for i in range(5)]
    assert trainers[VICTIM].poll() is not None
    theirs = w.co.key_adverts(w.task_id, 1)[victim]
    mine = ClientRound(task_id=w.task_id, round=1, address=w.addr(EVIL)).advertise()
    w.co.advertise_keys(w.c.participants[EVIL], w.task_id, 1, theirs[0], mine.mask_pk)

    # Execute
    w.run(trainers)
    view = w.view()
    advertised = w.co.key_adverts(w.task_id, 1)

    # Assert: the copy is on-chain, after the original ...
    assert list(advertised).index(victim) < list(advertised).index(w.addr(EVIL))
    assert advertised[w.addr(EVIL)][0] == advertised[victim][0]
    # ... and the round completes without the copier (its node has no secrets for that advert)
    _assert_round_completed_with(w, trainers, [1, 2, 3, 4])
    assert victim in view.u3 and w.addr(EVIL) not in view.u3
    assert accounting_holds(w.co, w.c.token)


@pytest.mark.parametrize(
    ("label", "keys"),
    [
        ("zero mask key", lambda enc, mask: (enc, bytes(32))),
        ("small-order key (u = 1)", lambda enc, mask: (enc, (1).to_bytes(32, "little"))),
        (
            "small-order key, bit 255 set",
            lambda enc, mask: ((2**255 + 1).to_bytes(32, "little"), mask),
        ),
        (
            "order-8 point",
            lambda enc, mask: (
                bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
                mask,
            ),
        ),
        ("the same key twice", lambda enc, mask: (mask, mask)),
    ],
)
def test_an_advert_with_a_key_nobody_can_agree_with_is_refused(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any, label: str, keys: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path)
    good = ClientRound(task_id=w.task_id, round=1, address=w.addr(EVIL)).advertise()
    enc_pk, mask_pk = keys(good.enc_pk, good.mask_pk)

    # Execute
    with pytest.raises(ContractRevert) as refused:
        w.co.advertise_keys(w.c.participants[EVIL], w.task_id, 1, enc_pk, mask_pk)

    # Assert: refused by name before anything is recorded
    assert refused.value.error == "CoordinatorBadKey", label
    assert w.co.key_adverts(w.task_id, 1) == {}
    assert w.co.get_task(w.task_id).advertised == 0
    assert accounting_holds(w.co, w.c.token)


def test_a_key_advertised_twice_is_refused_and_the_first_advert_stands(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: owner 0 advertises; then it sends a second, different advert for the round
    w = _world(chain, tmp_path)
    trainers = [w.trainer(i) for i in range(5)]
    assert trainers[EVIL].poll() is not None
    first = w.co.key_adverts(w.task_id, 1)[w.addr(EVIL)]
    other = ClientRound(task_id=w.task_id, round=1, address=w.addr(EVIL)).advertise()
    assert (other.enc_pk, other.mask_pk) != first

    # Execute
    with pytest.raises(ContractRevert) as refused:
        w.co.advertise_keys(w.c.participants[EVIL], w.task_id, 1, other.enc_pk, other.mask_pk)
    advertised = w.co.get_task(w.task_id).advertised
    again = trainers[EVIL].poll()
    w.run(trainers)

    # Assert
    assert refused.value.error == "CoordinatorAlreadySubmitted"
    assert refused.value.args_by_name["phase"] == Phase.ADVERTISE
    assert refused.value.args_by_name["account"] == w.addr(EVIL)
    assert advertised == 1 and again is None
    assert w.co.key_adverts(w.task_id, 1)[w.addr(EVIL)] == first
    _assert_round_completed_with(w, trainers, [0, 1, 2, 3, 4])  # owner 0's secrets fit advert 1
    assert accounting_holds(w.co, w.c.token)


# ------------------------------------------------------------------ unmask


def test_a_second_unmask_message_is_refused_and_the_first_stands(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: everyone reaches the unmask phase; owner 0 posts its unmask shares
    w = _world(chain, tmp_path)
    trainers = [w.trainer(i) for i in range(5)]
    w.poll_until(trainers, Phase.UNMASK)
    assert trainers[EVIL].poll() is not None
    first = w.co.phase_digests(w.task_id, 1, "UnmaskSharesPosted")[w.addr(EVIL)]
    second = w.store.put(b'{"a second unmask message":true}')

    # Execute
    with pytest.raises(ContractRevert) as refused:
        w.co.unmask(w.c.participants[EVIL], w.task_id, 1, second, bytes(32))
    info = w.co.get_task(w.task_id)
    again = trainers[EVIL].poll()
    w.run(trainers)

    # Assert
    assert refused.value.error == "CoordinatorAlreadySubmitted"
    assert refused.value.args_by_name["phase"] == Phase.UNMASK
    assert refused.value.args_by_name["account"] == w.addr(EVIL)
    assert info.phase == Phase.UNMASK and info.unmasked == 1 and again is None
    assert w.co.phase_digests(w.task_id, 1, "UnmaskSharesPosted")[w.addr(EVIL)] == first
    _assert_round_completed_with(w, trainers, [0, 1, 2, 3, 4])
    assert accounting_holds(w.co, w.c.token)


# ------------------------------------------------------------------ secure vs plaintext tasks


def test_secure_phases_on_a_plaintext_task_are_refused(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare
    w = _world(chain, tmp_path, secure=False)
    member = w.c.participants[0]
    digest = w.store.put(b"not a message")
    keys = ClientRound(task_id=w.task_id, round=1, address=member.address).advertise()
    calls = {
        "advertise_keys": lambda: w.co.advertise_keys(
            member, w.task_id, 1, keys.enc_pk, keys.mask_pk
        ),
        "share_keys": lambda: w.co.share_keys(member, w.task_id, 1, digest, digest),
        "complain": lambda: w.co.complain(member, w.task_id, 1, digest),
        "unmask": lambda: w.co.unmask(member, w.task_id, 1, digest, digest),
        "post_secure_aggregate": lambda: w.co.post_secure_aggregate(
            member, w.task_id, 1, digest, digest, {}, []
        ),
    }
    before = w.co.get_task(w.task_id)

    # Execute
    errors: dict[str, str] = {}
    for name, call in calls.items():
        with pytest.raises(ContractRevert) as refused:
            call()
        errors[name] = refused.value.error

    # Assert
    assert errors == dict.fromkeys(calls, "CoordinatorNotSecure")
    assert w.co.get_task(w.task_id) == before
    assert w.co.key_adverts(w.task_id, 1) == {}
    for event in ("KeysShared", "SharesComplained", "UnmaskSharesPosted"):
        assert w.co.phase_digests(w.task_id, 1, event) == {}
    assert accounting_holds(w.co, w.c.token)


def _plaintext_post(w: World) -> ContractRevert:
    """Post the round's (correct) aggregate through the plaintext entry point."""
    view = w.view()
    total = view.aggregate()
    root = w.blobs.put_vector(BlobKind.AGGREGATE, total).root
    base = w.blobs.get_vector(BlobKind.MODEL, w.co.get_task(w.task_id).global_model_root).values
    model_root = w.blobs.put_vector(
        BlobKind.MODEL, apply_aggregate(base, total, view.total_samples())
    ).root
    with pytest.raises(ContractRevert) as refused:
        w.co.post_aggregate(w.c.participants[AGGREGATOR], w.task_id, 1, root, model_root, {})
    return refused.value


def test_a_plaintext_aggregate_on_a_secure_task_is_refused(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: a secure round in its aggregate phase
    w = _world(chain, tmp_path)
    trainers = [w.trainer(i) for i in range(5)]
    w.poll_until(trainers, Phase.AGGREGATE)

    # Execute
    refused = _plaintext_post(w)
    after = w.co.aggregate(w.task_id, 1)
    w.run(trainers)

    # Assert: nothing was posted; the secure aggregator then completes the round
    assert after is None and refused.error == "CoordinatorSecureTask"
    assert w.co.get_task(w.task_id).phase == Phase.COMPLETED
    assert len([a for a in w.actions if a.kind == "aggregate"]) == 1
    assert refused.operation == "post_aggregate"
    _assert_round_completed_with(w, trainers, [0, 1, 2, 3, 4])
    assert accounting_holds(w.co, w.c.token)


def test_a_plaintext_aggregate_on_a_secure_task_is_refused_with_an_error_that_says_why(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: a secure round in its aggregate phase
    w = _world(chain, tmp_path)
    trainers = [w.trainer(i) for i in range(5)]
    w.poll_until(trainers, Phase.AGGREGATE)

    # Execute
    refused = _plaintext_post(w)

    # Assert: the error says the task is a secure one (a phase error, had it been one, must
    # name a phase other than the one the task is in)
    args = refused.args_by_name
    assert refused.error != "CoordinatorWrongPhase" or args["expected"] != args["actual"], (
        f"refused with the self-contradictory {refused}"
    )
    assert refused.error == "CoordinatorSecureTask", refused
    assert args["taskId"] == w.task_id


# ------------------------------------------------------------------ weights, joins, complaints


@pytest.mark.parametrize(
    ("weight_cap_pct", "declared", "weights"),
    [
        # median 37, cap 200 % of it: owner 2's inflated count buys weight 74, not 1000
        (200, (23, 37, 1000, 29, 44), (23, 37, 74, 29, 44)),
        # no cap percentage: uniform weights
        (0, (23, 37, 1000, 29, 44), (1, 1, 1, 1, 1)),
    ],
    ids=["capped at 200 % of the median", "uniform"],
)
def test_key_shares_carry_each_members_on_chain_weight_which_masks_and_sizes_the_ring(
    chain: EmbeddedChain,
    tmp_path: Path,
    weight_cap_pct: int,
    declared: tuple[int, ...],
    weights: tuple[int, ...],
    accounting_holds: Any,
) -> None:
    # Prepare: five owners join declaring ``declared`` (owner 2 inflates its count; it holds
    # 51 samples); weights are fixed at join, so the key shares no longer carry a count
    w = _world(chain, tmp_path, declared=declared, weight_cap_pct=weight_cap_pct)
    trainers = [w.trainer(i) for i in range(5)]

    # Execute: up to the masked inputs, then to the end
    w.poll_until(trainers, Phase.COMMIT)
    shared = w.co.shared_samples(w.task_id, 1)
    bits = w.view().ring_bits
    w.run(trainers)

    # Assert: KeysShared carried each member's on-chain weight (the capped one), the ring was
    # sized by those weights, and the aggregate is Σ wᵢ·vᵢ with them, rewards likewise
    assert [w.weight(i) for i in range(5)] == list(weights)
    assert shared == {w.addr(i): weights[i] for i in range(5)}
    assert w.co.member_weights(w.task_id) == shared
    cfg = w.cfg
    norm_bound = w.co.get_task(w.task_id).norm_bound
    assert bits == secure_ring_bits(norm_bound, sum(weights))
    assert w.co.secure_round_of(w.task_id).ring_bits == bits  # the chain fixes the same ring
    # at most a bit wider than the tightest ring the clip allows
    tight = ring_bits(coordinate_bound(cfg.clip_norm, cfg.frac_bits), sum(weights))
    assert tight <= bits <= tight + 1
    _assert_round_completed_with(w, trainers, [0, 1, 2, 3, 4])
    rpw = w.co.reward_per_weight(w.task_id, 1)
    assert rpw == w.co.get_task(w.task_id).reward_per_round // sum(weights)
    for i in range(5):
        m = w.co.get_member(w.task_id, w.addr(i))
        assert m.claimable + m.pending == weights[i] * rpw
    # the stake is priced by the declared count, whatever the weight
    plan_stake = w.co.get_task(w.task_id)
    assert w.co.stakes_paid(w.task_id)[w.addr(2)] == (
        plan_stake.stake_amount + plan_stake.stake_per_sample * declared[2]
    )
    assert plan_stake.stake_amount == 100 * TOKEN
    assert accounting_holds(w.co, w.c.token)


def test_a_member_joining_mid_round_cannot_advertise_in_it_and_takes_part_in_the_next(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: owners 0-4 joined before the start; owner 5 joins while round 1 takes adverts
    w = _world(chain, tmp_path, members=6, joined=5, rounds=2)
    w.join(5, SAMPLES[5])
    newcomer = w.c.participants[5]
    keys = ClientRound(task_id=w.task_id, round=1, address=newcomer.address).advertise()
    trainers = [w.trainer(i) for i in range(6)]

    # Execute: owner 5 tries to advertise in round 1, directly and through its node; then the
    # task runs to its end
    assert w.co.get_task(w.task_id).phase == Phase.ADVERTISE
    with pytest.raises(ContractRevert) as refused:
        w.co.advertise_keys(newcomer, w.task_id, 1, keys.enc_pk, keys.mask_pk)
    polled = trainers[5].poll()
    records = w.run(trainers)

    # Assert: refused (it may not commit to the round it joined in), its node knew and did not
    # try; round 1 completed without it, round 2 with it at its on-chain weight
    assert refused.value.error == "CoordinatorAlreadyCommitted"
    assert refused.value.args_by_name["account"] == newcomer.address
    assert refused.value.args_by_name["round"] == 1
    assert polled is None
    assert [r.refusals for r in records] == [[], []]
    assert newcomer.address not in w.co.key_adverts(w.task_id, 1)
    _assert_round_completed_with(w, trainers, [0, 1, 2, 3, 4])
    assert w.co.shared_samples(w.task_id, 2)[newcomer.address] == w.weight(5) == SAMPLES[5]
    assert newcomer.address in {u.participant for u in w.co.updates(w.task_id, 2)}
    assert [o.finalized for o in w.co.round_outcomes(w.task_id)] == [True, True]
    assert audit_all(w.co, w.c.token, w.store).passed
    assert accounting_holds(w.co, w.c.token)


def test_complaints_are_accepted_once_per_round_and_only_before_ones_own_commit(
    chain: EmbeddedChain, tmp_path: Path
) -> None:
    # Prepare: keys shared; owner 0 has committed its masked input, owner 1 has not
    w = _world(chain, tmp_path)
    trainers = [w.trainer(i) for i in range(5)]
    w.poll_until(trainers, Phase.SHARE)
    early_digest = w.store.put(b"too early")
    with pytest.raises(ContractRevert) as too_early:
        w.co.complain(w.c.participants[VICTIM], w.task_id, 1, early_digest)
    w.poll_until(trainers, Phase.COMMIT)
    assert trainers[EVIL].poll() is not None  # owner 0 commits
    digest = w.store.put(b"a complaint")

    # Execute
    with pytest.raises(ContractRevert) as after_commit:
        w.co.complain(w.c.participants[EVIL], w.task_id, 1, digest)
    w.co.complain(w.c.participants[VICTIM], w.task_id, 1, digest)
    with pytest.raises(ContractRevert) as twice:
        w.co.complain(w.c.participants[VICTIM], w.task_id, 1, digest)

    # Assert
    assert too_early.value.error == "CoordinatorWrongPhase"
    assert after_commit.value.error == "CoordinatorAlreadyCommitted"
    assert twice.value.error == "CoordinatorAlreadySubmitted"
    assert w.co.phase_digests(w.task_id, 1, "SharesComplained") == {w.addr(VICTIM): digest}


class _WithholdsUnmask:
    """Wraps a trainer that does everything but post its unmask shares."""

    def __init__(self, inner: RecordingTrainer) -> None:
        self.inner = inner
        self.name = inner.name

    def poll(self) -> NodeAction | None:
        info = self.inner.coordinator.get_task(self.inner.task_id)
        return None if info.phase == Phase.UNMASK else self.inner.poll()


def test_an_excluded_owner_plus_a_silent_neighbour_aborts_the_round_cleanly(
    chain: EmbeddedChain, tmp_path: Path, accounting_holds: Any
) -> None:
    # Prepare: owner 0 seals valid shares for owner 1 only and garbage for the others, so three
    # complaints leave 2 < t = 3 holders of its self-mask share: it is excluded. Owner 1 holds
    # the only copy of its pairwise seed with owner 0 that nobody revealed, and then withholds
    # its unmask message: the one double fault complaints cannot repair
    w = _world(chain, tmp_path)
    spared = w.addr(VICTIM)

    def garble_others(cts: dict[str, bytes], _: KeyShares) -> dict[str, bytes]:
        return {p: ct if p == spared else os.urandom(len(ct)) for p, ct in cts.items()}

    trainers = [w.trainer(i) for i in range(5)]
    trainers[EVIL].store = RewritingStore(w.store, _shares_rewriter(garble_others))
    nodes: list[Any] = [*trainers]
    nodes[VICTIM] = _WithholdsUnmask(trainers[VICTIM])
    stakes = {i: w.co.get_member(w.task_id, w.addr(i)).stake for i in range(5)}
    model_before = w.co.get_task(w.task_id).global_model_root

    # Execute
    w.run(nodes)
    view = w.view()

    # Assert: owner 0 excluded by complaints, owner 1 withheld; the aggregate could not be
    # unmasked and the round aborted with nothing lost: no stake moved, no reward credited,
    # the global model unchanged, every token accounted for
    evil = w.addr(EVIL)
    assert set(view.excluded_by_complaints) == {evil}
    assert set(view.complaints) == {w.addr(i) for i in (2, 3, 4)}
    assert spared in view.u3 and spared not in view.unmask_messages
    with pytest.raises(FedchainError, match="unmask|pairwise|seed"):
        view.aggregate()
    (outcome,) = w.co.round_outcomes(w.task_id)
    assert not outcome.finalized and outcome.abort_reason == AbortReason.NO_AGGREGATE
    assert w.co.get_task(w.task_id).global_model_root == model_before
    for i in range(5):
        m = w.co.get_member(w.task_id, w.addr(i))
        assert m.stake == stakes[i] and m.claimable + m.pending == 0
    assert accounting_holds(w.co, w.c.token)

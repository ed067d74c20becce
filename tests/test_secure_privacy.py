"""What a secure round publishes tells nothing about one owner's update, at the integration level
(tests/test_secagg_privacy.py covers the masking functions and a bare protocol round): the masked
blobs the nodes really stored, fetched by their on-chain commitments, look uniform over Z_2^b
whatever the update behind them, and the unmask messages on the store never reveal both secrets
of one owner. Masks come from fresh OS randomness, so the statistical bounds are set at a 10⁻⁹
false-alarm rate; a control shows each test would catch an unmasked update."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from recording_trainer import RecordingTrainer
from scipy import stats

from fedchain.chain import EmbeddedChain, GasLedger
from fedchain.codec.blob import BlobKind
from fedchain.learning import ModelSpec, TrainConfig
from fedchain.node import KeeperNode, LocalData, TaskBlobs, TaskConfig
from fedchain.node.secure import SecureAggregatorNode, SecureRoundView
from fedchain.secagg import reduce_to_ring
from fedchain.sim.consortium import Consortium
from fedchain.sim.faults import DropoutNode
from fedchain.sim.runner import run_task
from fedchain.storage import LocalDirStore

SAMPLES = (23, 37, 51, 29, 44, 60)
FEATURES = 16
HIDDEN = 128  # 2,434 parameters: enough words for the statistics below
NOT_MASKED, WITHHELD = 4, 5  # owner 4 vanishes before its masked input, owner 5 after it
ALPHA = 1e-9


def _local_data(n: int, seed: int) -> LocalData:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return LocalData(x, y)


class Plan:
    def stage(self, round: int, index: int) -> int | None:
        return {NOT_MASKED: 2, WITHHELD: 3}.get(index)


@dataclass
class Done:
    c: Consortium
    blobs: TaskBlobs
    task_id: int
    trainers: list[RecordingTrainer]

    def address(self, i: int) -> str:
        return str(self.c.participants[i].address)


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Done]:
    """One completed secure round of six owners (one not masked, one withheld)."""
    chain = EmbeddedChain()
    try:
        store = LocalDirStore(tmp_path_factory.mktemp("secure-privacy") / "store")
        c = Consortium.create(chain, store, num_participants=len(SAMPLES), seed=51)
        spec = ModelSpec(arch="mlp", input_dim=FEATURES, num_classes=2, hidden=(HIDDEN,))
        cfg = TaskConfig.build(
            dataset="synthetic", model=spec, train=TrainConfig(epochs=1, batch_size=8)
        )
        tid = c.create_task(cfg, rounds=1, min_participants=3, seed=0, secure_aggregation=True)
        c.join_all(tid, list(SAMPLES))
        c.start(tid)
        trainers = [
            RecordingTrainer(f"owner-{i}", a, c.coordinator, store, _local_data(n, i), task_id=tid)
            for i, (a, n) in enumerate(zip(c.participants, SAMPLES, strict=True))
        ]
        nodes: list[object] = [DropoutNode(t, i, Plan()) for i, t in enumerate(trainers)]  # type: ignore[arg-type]
        nodes += [
            SecureAggregatorNode("agg", c.participants[0], c.coordinator, store, task_id=tid),
            KeeperNode("keeper", c.sponsor, c.coordinator, task_id=tid),
        ]
        run_task(c.coordinator, tid, nodes, ledger=GasLedger())  # type: ignore[arg-type]
        yield Done(c, TaskBlobs(store, cfg), tid, trainers)
    finally:
        chain.close()


def _bits(done: Done) -> int:
    return SecureRoundView(done.c.coordinator, done.blobs, done.task_id, 1).ring_bits


def _masked_and_plain(done: Done) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """owner -> (its stored masked input, the weighted update wᵢ·vᵢ it masked), for U3."""
    co = done.c.coordinator
    index = {done.address(i): i for i in range(len(SAMPLES))}
    weights = co.shared_samples(done.task_id, 1)
    bits = _bits(done)
    out = {}
    for u in co.updates(done.task_id, 1):
        i = index[u.participant]
        masked = done.blobs.get_vector(
            BlobKind.MASKED, u.merkle_root, owner=u.participant, ring_bits=bits
        ).values
        assert weights[u.participant] == SAMPLES[i]  # under the cap: the declared count
        plain = done.trainers[i].updates[1].astype(np.int64) * weights[u.participant]
        out[i] = (masked, plain)
    return out


def _top_nibbles(words: np.ndarray, bits: int) -> np.ndarray:
    """How often each value of the ring's 4 highest bits occurs (16 bins)."""
    return np.bincount((words >> np.uint64(bits - 4)).astype(np.int64), minlength=16)


def _bit_frequencies(words: np.ndarray, bits: int) -> np.ndarray:
    """The share of words with bit j set, for each bit j of the ring."""
    return np.array([((words >> np.uint64(j)) & np.uint64(1)).mean() for j in range(bits)])


def test_every_stored_masked_input_looks_uniform_whatever_its_update(done: Done) -> None:
    # Prepare
    (outcome,) = done.c.coordinator.round_outcomes(done.task_id)
    pairs = _masked_and_plain(done)

    # Execute
    bits = _bits(done)
    masked_p = {i: stats.chisquare(_top_nibbles(m, bits)).pvalue for i, (m, _) in pairs.items()}
    in_ring = {i: reduce_to_ring(p.view(np.uint64).copy(), bits) for i, (_, p) in pairs.items()}
    plain_p = {i: stats.chisquare(_top_nibbles(p, bits)).pvalue for i, p in in_ring.items()}
    bit_freq = {i: _bit_frequencies(m, bits) for i, (m, _) in pairs.items()}
    rank_corr = {
        i: abs(stats.spearmanr(p, m.astype(np.float64)).statistic) for i, (m, p) in pairs.items()
    }

    # Assert
    assert outcome.finalized
    assert set(pairs) == set(range(len(SAMPLES))) - {NOT_MASKED}
    words = HIDDEN * (FEATURES + 2) + HIDDEN + 2
    for i, (masked, plain) in pairs.items():
        assert masked.size == plain.size == words
        assert not np.any(masked == in_ring[i]), f"owner {i}: a word left unmasked"
        assert int(masked.max()) < 2**bits and bit_freq[i].size == bits
        assert plain_p[i] < ALPHA, f"control: owner {i}'s plain update passes for uniform"
        assert masked_p[i] > ALPHA, f"owner {i}: high bits of its masked input are not uniform"
        assert np.all(np.abs(bit_freq[i] - 0.5) < 6 * 0.5 / np.sqrt(words)), f"owner {i}"
        assert rank_corr[i] < 6 / np.sqrt(words), f"owner {i}: masked input tracks its update"


def test_masked_inputs_of_very_different_updates_are_indistinguishable(done: Done) -> None:
    # Prepare: the two owners whose weighted updates differ most
    pairs = _masked_and_plain(done)
    norms = {i: float(np.linalg.norm(p.astype(np.float64))) for i, (_, p) in pairs.items()}
    small, large = min(norms, key=norms.__getitem__), max(norms, key=norms.__getitem__)
    (m_small, p_small), (m_large, p_large) = pairs[small], pairs[large]

    # Execute
    bits = _bits(done)
    masked_table = np.vstack([_top_nibbles(m_small, bits), _top_nibbles(m_large, bits)])
    masked_same = stats.chi2_contingency(masked_table).pvalue
    masked_ks = stats.ks_2samp(m_small.astype(np.float64), m_large.astype(np.float64)).pvalue
    plain_ks = stats.ks_2samp(p_small.astype(np.float64), p_large.astype(np.float64)).pvalue

    # Assert
    assert plain_ks < ALPHA, "control: the two plain updates look alike"
    assert masked_same > ALPHA
    assert masked_ks > ALPHA


def test_unmask_messages_reveal_one_secret_per_owner_never_both(done: Done) -> None:
    # Prepare
    co, tid = done.c.coordinator, done.task_id
    view = SecureRoundView(co, done.blobs, tid, 1)

    # Execute: every owner whose self-mask seed / mask key anyone revealed a share of
    selfs: set[str] = set()
    keys: set[str] = set()
    seeds: set[str] = set()
    for msg in view.unmask_messages.values():
        selfs |= set(msg.self_mask_shares)
        keys |= set(msg.mask_key_shares)
        seeds |= set(msg.pairwise_seeds)

    # Assert
    all_owners = {done.address(i) for i in range(len(SAMPLES))}
    assert set(view.unmask_messages) == all_owners - {
        done.address(NOT_MASKED),
        done.address(WITHHELD),
    }
    assert selfs & keys == set() and selfs & seeds == set()
    assert seeds == {done.address(NOT_MASKED)}  # the dropout's pairwise seeds, nobody else's
    assert selfs == view.u3 == all_owners - {done.address(NOT_MASKED)}
    assert keys == view.u2 - view.u3 == {done.address(NOT_MASKED)}
    assert co.withheld(tid, 1) == [done.address(WITHHELD)]
    # the owner whose mask key is out never stored a masked input that key could strip
    assert done.address(NOT_MASKED) not in {u.participant for u in co.updates(tid, 1)}

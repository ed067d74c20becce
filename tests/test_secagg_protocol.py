"""Whole SecAgg+ rounds: participants drop out at every phase or seal bad key shares, the sum
over the included survivors I stays exact, what is published never unmasks anyone's input,
and below threshold the round aborts cleanly."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pytest
from eth_utils import to_checksum_address
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fedchain.aggregation import weighted_sum
from fedchain.secagg import (
    ClientRound,
    Complaint,
    KeyAdvert,
    KeyShares,
    MalformedMessage,
    RoundContext,
    SecAggError,
    UnmaskFailure,
    UnmaskShares,
    check_adverts,
    check_key_shares,
    check_masked_input,
    check_unmask_shares,
    excluded_by_complaints,
    unmask_sum,
)
from fedchain.secagg.keys import public_matches
from fedchain.secagg.masking import self_mask_commitment
from fedchain.secagg.messages import SEALED_BUNDLE_BYTES
from fedchain.secagg.shamir import PRIME, combine_verified

TASK, ROUND = 11, 4
SEED = hashlib.sha256(b"on-chain round seed").digest()

# The last phase a participant completes (everyone advertises: U1 is everyone).
ADVERTISED, SHARED, MASKED, UNMASKED = 1, 2, 3, 4


def addresses(n: int, tag: str = "p") -> list[str]:
    return [
        to_checksum_address(hashlib.sha256(f"{tag}{i}".encode()).digest()[:20]) for i in range(n)
    ]


def by_value(people: Collection[str]) -> list[str]:
    return sorted(people, key=lambda a: int(a, 16))


def junk(sender: str, recipient: str) -> bytes:
    """A sealed bundle of the right length that fails authentication."""
    stream = b"".join(
        hashlib.sha256(f"junk {sender} {recipient} {i}".encode()).digest() for i in range(8)
    )
    return stream[:SEALED_BUNDLE_BYTES]


def seal_garbage(msg: KeyShares, victims: Collection[str]) -> KeyShares:
    """``msg`` with the bundles for ``victims`` replaced by undecryptable bytes."""
    cts = dict(msg.ciphertexts)
    for v in victims:
        cts[v] = junk(msg.participant, v)
    return KeyShares(
        task_id=msg.task_id,
        round=msg.round,
        participant=msg.participant,
        self_mask_commitment=msg.self_mask_commitment,
        ciphertexts=cts,
    )


@dataclass
class Round:
    """One simulated round, phase by phase, with the sets the chain would record."""

    ctx: RoundContext
    clients: dict[str, ClientRound]
    ring_bits: int = 64
    adverts: dict[str, KeyAdvert] = field(default_factory=dict)
    key_shares: dict[str, KeyShares] = field(default_factory=dict)
    garbage: dict[str, frozenset[str]] = field(default_factory=dict)
    complaints: dict[str, Complaint] = field(default_factory=dict)
    masked: dict[str, np.ndarray] = field(default_factory=dict)
    unmask: dict[str, UnmaskShares] = field(default_factory=dict)
    u2: frozenset[str] = frozenset()
    u3: frozenset[str] = frozenset()

    @classmethod
    def start(
        cls, n: int, *, k: int | None = None, t: int | None = None, ring_bits: int = 64
    ) -> Round:
        people = addresses(n)
        ctx = RoundContext.for_round(
            task_id=TASK, round=ROUND, u1=people, seed=SEED, k=k, threshold=t
        )
        clients = {p: ClientRound(task_id=TASK, round=ROUND, address=p) for p in ctx.participants}
        r = cls(ctx=ctx, clients=clients, ring_bits=ring_bits)
        r.adverts = {p: c.advertise() for p, c in clients.items()}
        return r

    def share(
        self, who: Collection[str], garbage: Mapping[str, Collection[str]] | None = None
    ) -> None:
        """Phase 2; ``garbage[p]``: the neighbours p seals undecryptable bundles for."""
        self.key_shares = {
            p: self.clients[p].share_keys(self.ctx, self.adverts) for p in sorted(who)
        }
        for sender, victims in (garbage or {}).items():
            if sender in self.key_shares and victims:
                self.key_shares[sender] = seal_garbage(self.key_shares[sender], victims)
                self.garbage[sender] = frozenset(victims)
        self.u2 = frozenset(self.key_shares)

    def complain(self, who: Collection[str]) -> None:
        """Phase 3, before the masked inputs: ``who`` open their bundles and post complaints."""
        for p in sorted(who):
            c = self.clients[p].open_shares(self.ctx, self.adverts, self.key_shares, self.u2)
            if c is not None:
                self.complaints[p] = c

    def mask(self, inputs: Mapping[str, np.ndarray]) -> None:
        self.masked = {
            p: self.clients[p].masked_input(
                self.ctx, self.adverts, self.u2, x, ring_bits=self.ring_bits
            )
            for p, x in inputs.items()
        }
        self.u3 = frozenset(self.masked)

    def reveal(self, who: Collection[str]) -> None:
        self.unmask = {
            p: self.clients[p].unmask(
                self.ctx, self.adverts, self.key_shares, self.u2, self.u3, self.complaints
            )
            for p in sorted(who)
        }

    def total(self) -> np.ndarray:
        return unmask_sum(
            self.ctx,
            self.adverts,
            self.key_shares,
            self.u2,
            self.u3,
            self.masked,
            self.unmask,
            complaints=self.complaints,
            ring_bits=self.ring_bits,
        )

    @property
    def excluded(self) -> dict[str, str]:
        return excluded_by_complaints(self.ctx, self.u2, self.u3, self.complaints)

    @property
    def included(self) -> frozenset[str]:
        return self.u3 - self.excluded.keys()

    def holds_share(self, holder: str, owner: str) -> bool:
        """Whether ``owner`` sealed a good bundle for ``holder``."""
        return holder not in self.garbage.get(owner, frozenset())


def run(
    n: int,
    stages: Mapping[str, int] | None,
    inputs: Mapping[str, np.ndarray],
    *,
    garbage: Mapping[str, Collection[str]] | None = None,
    ring_bits: int = 64,
    k: int | None = None,
    t: int | None = None,
) -> Round:
    """Every participant goes as far as ``stages[p]`` (default: the whole round); those that
    mask open their shares and complain first."""
    r = Round.start(n, k=k, t=t, ring_bits=ring_bits)
    stage = {p: (stages or {}).get(p, UNMASKED) for p in r.ctx.participants}
    r.share({p for p in r.ctx.participants if stage[p] >= SHARED}, garbage)
    r.complain({p for p in r.u2 if stage[p] >= MASKED})
    r.mask({p: inputs[p] for p in r.ctx.participants if stage[p] >= MASKED})
    r.reveal({p for p in r.ctx.participants if stage[p] >= UNMASKED})
    return r


def plaintext_sum(inputs: Mapping[str, np.ndarray], who: Collection[str]) -> list[int]:
    length = len(next(iter(inputs.values())))
    return [sum(int(inputs[p][i]) for p in who) for i in range(length)]


def random_inputs(
    people: list[str], length: int, rnd: random.Random, bits: int = 64
) -> dict[str, np.ndarray]:
    bound = (2 ** (bits - 1) - 1) // len(people)  # the sum over any subset fits the ring
    return {
        p: np.array([rnd.randint(-bound, bound) for _ in range(length)], dtype=np.int64)
        for p in people
    }


def assert_never_both(r: Round) -> None:
    """Each unmask message (with its sender's complaint) reveals at most one kind of secret
    of any owner, and only what the sets and E allow."""
    e, inc, gone = r.excluded.keys(), r.included, r.u2 - r.u3
    for sender, msg in r.unmask.items():
        selfs, keys = set(msg.self_mask_shares), set(msg.mask_key_shares)
        seeds = set(msg.pairwise_seeds)
        complained = r.complaints[sender].accused if sender in r.complaints else frozenset()
        assert not selfs & (keys | seeds | complained), sender
        assert selfs <= inc and keys <= gone and seeds <= e | gone, sender
        # a survivor also reveals its own self-mask share (it holds one, as in Bonawitz et al.)
        assert ((selfs - {sender}) | keys | seeds) <= r.ctx.neighbours_of(sender)


def _rebuilds(points: dict[int, int], t: int, check: Callable[[bytes], bool]) -> bool:
    try:
        combine_verified(points, threshold=t, check=check)
    except SecAggError:
        return False
    return True


def _is_private_of(public: bytes, private: bytes) -> bool:
    return public_matches(private, public)


def _is_seed_of(commitment: bytes, seed: bytes) -> bool:
    return self_mask_commitment(seed) == commitment


def exposed(r: Round) -> list[str]:
    """Owners whose self-mask seed AND every pairwise seed the published messages give away:
    anyone could read their input. Must always be empty."""
    t = r.ctx.threshold
    pairs: set[frozenset[str]] = set()
    for who, c in r.complaints.items():
        pairs |= {frozenset((who, a)) for a in c.seeds}
    self_points: dict[str, dict[int, int]] = {}
    key_points: dict[str, dict[int, int]] = {}
    for who, msg in r.unmask.items():
        pairs |= {frozenset((who, o)) for o in msg.pairwise_seeds}
        for o, (x, y) in msg.self_mask_shares.items():
            self_points.setdefault(o, {})[x] = y
        for o, (x, y) in msg.mask_key_shares.items():
            key_points.setdefault(o, {})[x] = y
    for o, points in key_points.items():
        if _rebuilds(points, t, partial(_is_private_of, r.adverts[o].mask_pk)):
            pairs |= {frozenset((o, m)) for m in r.ctx.neighbours_of(o) & r.u2}
    out = []
    for o, points in self_points.items():
        if not _rebuilds(points, t, partial(_is_seed_of, r.key_shares[o].self_mask_commitment)):
            continue
        if all(frozenset((o, m)) in pairs for m in r.ctx.neighbours_of(o) & r.u2):
            out.append(o)
    return out


def recoverable(r: Round) -> bool:
    """Whether every secret the aggregator needs is published: ≥ t valid shares of b_l for
    each l ∈ I, and for each mask an included j added for some l ∉ I, l's mask key (l dropped,
    ≥ t valid shares) or the seed from j (its unmask message or its complaint)."""
    t, u4, inc = r.ctx.threshold, set(r.unmask), r.included
    if len(r.u3) < t or len(inc) < t:
        return False
    for l in inc:  # noqa: E741
        if (l in u4) + sum(r.holds_share(j, l) for j in r.ctx.neighbours_of(l) & u4) < t:
            return False
    for l in r.u2 - inc:  # noqa: E741
        key = l not in r.u3 and sum(r.holds_share(j, l) for j in r.ctx.neighbours_of(l) & u4) >= t
        for j in r.ctx.neighbours_of(l) & inc:
            complained = j in r.complaints and l in r.complaints[j].seeds
            if not (key or j in u4 or complained):
                return False
    return True


# --- whole rounds -----------------------------------------------------------------------------


def test_full_round_without_dropouts_sums_exactly() -> None:
    # Prepare
    people = addresses(8)
    inputs = random_inputs(people, 50, random.Random(1))

    # Execute
    r = run(8, None, inputs, k=4, t=3)

    # Assert
    assert r.total().tolist() == plaintext_sum(inputs, people)
    assert not r.complaints and not r.excluded
    assert_never_both(r)
    assert not exposed(r)


def test_unmasked_aggregate_is_the_weighted_sum_of_the_survivors() -> None:
    # Prepare: each trainer masks nᵢ·vᵢ of its int32 fixed-point update; one drops after sharing
    people = addresses(6)
    rnd = np.random.default_rng(5)
    updates = {p: rnd.integers(-(2**31), 2**31, size=300, dtype=np.int32) for p in people}
    samples = {p: int(rnd.integers(1, 10_000)) for p in people}
    inputs = {p: updates[p].astype(np.int64) * samples[p] for p in people}
    gone = by_value(people)[2]

    # Execute
    r = run(6, {gone: SHARED}, inputs, k=4, t=3)

    # Assert: bit-for-bit the plaintext protocol's aggregate over the same survivors
    survivors = sorted(r.u3)
    expected = weighted_sum([updates[p] for p in survivors], [samples[p] for p in survivors])
    assert np.array_equal(r.total(), expected)


def test_full_secagg_k_n_minus_1_with_dropouts_at_every_phase() -> None:
    # Prepare
    people = by_value(addresses(9))
    inputs = random_inputs(people, 20, random.Random(2))
    stages = {people[0]: ADVERTISED, people[1]: SHARED, people[2]: MASKED}

    # Execute
    r = run(9, stages, inputs, k=8, t=5)

    # Assert
    assert r.u3 == frozenset(people[2:])
    assert r.total().tolist() == plaintext_sum(inputs, r.u3)
    assert_never_both(r)
    assert not exposed(r)


@st.composite
def round_shapes(
    draw: st.DrawFn,
) -> tuple[int, int, int | None, list[int], list[int], list[bool], int]:
    n = draw(st.integers(6, 12))
    options = [k for k in range(2, n) if k == n - 1 or k % 2 == 0 or n % 2 == 0]
    k = draw(st.sampled_from(options))
    t = draw(st.one_of(st.none(), st.integers(2, k)))  # None: for_round's default k//2 + 1
    # each participant stops after some phase; most finish (a dropout rate of about 1/3)
    phase = st.sampled_from([UNMASKED] * 6 + [ADVERTISED, SHARED, MASKED])
    stages = draw(st.lists(phase, min_size=n, max_size=n))
    # about one in four seals garbage for some of its neighbours (bit b: its b-th neighbour)
    victims = st.one_of(st.just(0), st.just(0), st.just(0), st.integers(1, 2**k - 1))
    garbage = draw(st.lists(victims, min_size=n, max_size=n))
    # a participant that drops right after sharing may still have posted its complaint
    early = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    return n, k, t, stages, garbage, early, draw(st.integers(0, 2**32))


@settings(max_examples=120, deadline=None)
@given(round_shapes())
def test_random_dropouts_and_bad_shares_never_expose_an_input_and_sum_exactly_or_abort(
    shape: tuple[int, int, int | None, list[int], list[int], list[bool], int],
) -> None:
    # Prepare
    n, k, t, stage_list, garbage_bits, early, seed = shape
    r = Round.start(n, k=k, t=t)
    people = list(r.ctx.participants)
    stages = dict(zip(people, stage_list, strict=True))
    garbage = {}
    for p, bits in zip(people, garbage_bits, strict=True):
        near = by_value(r.ctx.neighbours_of(p))
        garbage[p] = {q for b, q in enumerate(near) if bits >> b & 1}
    inputs = random_inputs(people, 6, random.Random(seed))
    r.share({p for p in people if stages[p] >= SHARED}, garbage)
    r.complain(
        {p for p in r.u2 if stages[p] >= MASKED or (early[people.index(p)] and stages[p] >= SHARED)}
    )
    r.mask({p: inputs[p] for p in people if stages[p] >= MASKED})
    event(f"excluded: {len(r.excluded)}")
    if len(r.included) < r.ctx.threshold:
        event("fewer than t included")
        # Execute / Assert: survivors refuse to unmask, the aggregator refuses to sum
        if r.u3:
            with pytest.raises(SecAggError, match="fewer than the threshold"):
                r.clients[min(r.u3)].unmask(
                    r.ctx, r.adverts, r.key_shares, r.u2, r.u3, r.complaints
                )
        with pytest.raises(UnmaskFailure, match="fewer than the threshold"):
            r.total()
        return

    # Execute
    r.reveal({p for p in people if stages[p] >= UNMASKED})

    # Assert
    assert_never_both(r)
    assert exposed(r) == []
    for who, msg in r.unmask.items():
        assert set(msg.bad_senders) == {g for g in r.u2 if who in r.garbage.get(g, ())}
    if recoverable(r):
        event("recoverable")
        assert r.total().tolist() == plaintext_sum(inputs, r.included)
    else:
        event("not recoverable")
        with pytest.raises(UnmaskFailure) as err:
            r.total()
        assert err.value.unrecoverable


# --- bad shares: complaints and exclusion -----------------------------------------------------


def test_a_participant_sealing_garbage_for_all_neighbours_is_excluded_and_the_rest_sum_exactly() -> (
    None
):
    # Prepare: SecAgg+ with k = 4 of 8; g seals undecryptable bundles for every neighbour
    people = by_value(addresses(8))
    inputs = random_inputs(people, 12, random.Random(10))
    probe = Round.start(8, k=4, t=3)
    g = people[2]
    victims = probe.ctx.neighbours_of(g)

    # Execute
    r = run(8, None, inputs, garbage={g: victims}, k=4, t=3)

    # Assert: every victim complained about g alone, before masking; g alone is excluded
    assert set(r.complaints) == victims
    assert all(c.accused == {g} for c in r.complaints.values())
    assert set(r.excluded) == {g}
    for name in victims:
        assert name in r.excluded[g]
    assert r.total().tolist() == plaintext_sum(inputs, set(people) - {g})
    # nobody revealed a share of b_g (not even g); its neighbours revealed s_jg instead
    for sender, msg in r.unmask.items():
        assert g not in msg.self_mask_shares and g not in msg.mask_key_shares
        if sender in victims:
            assert msg.bad_senders == (g,)
            assert msg.pairwise_seeds == {g: r.complaints[sender].seeds[g]}
        else:
            assert not msg.bad_senders and not msg.pairwise_seeds
    assert g in r.unmask  # g itself may still unmask: its shares of others count
    assert_never_both(r)
    assert exposed(r) == []


@pytest.mark.parametrize(("bad", "is_excluded"), [(1, False), (4, False), (5, True), (6, True)])
def test_garbage_for_some_neighbours_excludes_only_when_too_few_shares_remain(
    bad: int, is_excluded: bool
) -> None:
    # Prepare: full SecAgg on 7, t = 3: A_g = 1 + (6 − bad) valid holders of b_g's shares
    people = by_value(addresses(7))
    inputs = random_inputs(people, 10, random.Random(11))
    g = people[3]
    victims = [p for p in people if p != g][:bad]

    # Execute
    r = run(7, None, inputs, garbage={g: victims}, k=6, t=3)

    # Assert
    assert set(r.complaints) == set(victims)
    assert (g in r.excluded) is is_excluded
    expected = set(people) - {g} if is_excluded else set(people)
    assert r.total().tolist() == plaintext_sum(inputs, expected)
    assert_never_both(r)
    assert exposed(r) == []


def test_garbage_sender_with_dropouts_before_and_after_masking_sums_exactly() -> None:
    # Prepare: g seals garbage for all; d1 drops after sharing, d2 after masking
    people = by_value(addresses(8))
    inputs = random_inputs(people, 10, random.Random(12))
    g, d1, d2 = people[1], people[4], people[6]

    # Execute
    r = run(8, {d1: SHARED, d2: MASKED}, inputs, garbage={g: set(people) - {g}}, k=7, t=3)

    # Assert
    assert set(r.excluded) == {g}
    assert r.included == set(people) - {g, d1}
    assert recoverable(r)
    assert r.total().tolist() == plaintext_sum(inputs, r.included)
    assert_never_both(r)
    assert exposed(r) == []


def test_a_dropped_garbage_sender_is_unmasked_with_the_revealed_seeds() -> None:
    # Prepare: g seals garbage for all, then drops before masking: nobody holds a share of its
    # mask key. j, one of its neighbours, complained about g, masked, then dropped too.
    people = by_value(addresses(7))
    inputs = random_inputs(people, 10, random.Random(13))
    g, j = people[0], people[5]

    # Execute
    r = run(7, {g: SHARED, j: MASKED}, inputs, garbage={g: set(people) - {g}}, k=6, t=3)

    # Assert: the mask j added for g is taken off with the seed from j's complaint
    assert g in r.u2 - r.u3 and j in r.u3 - set(r.unmask)
    assert g in r.complaints[j].seeds
    assert not r.excluded
    assert r.total().tolist() == plaintext_sum(inputs, r.u3)


def test_double_fault_excluded_and_a_silent_neighbour_dropped_names_both() -> None:
    # Prepare: g seals garbage for all but j (so j does not complain), which excludes g
    # (A_g = 2 < 3); then j drops after masking: only j and g know s_jg
    people = by_value(addresses(7))
    inputs = random_inputs(people, 10, random.Random(14))
    g, j = people[2], people[4]
    r = run(7, {j: MASKED}, inputs, garbage={g: set(people) - {g, j}}, k=6, t=3)
    assert set(r.excluded) == {g} and j not in r.complaints

    # Execute / Assert
    with pytest.raises(UnmaskFailure, match=f"the mask {j} added for {g} cannot be removed") as err:
        r.total()
    assert err.value.unrecoverable == (j, g)
    assert not recoverable(r)


def test_garbage_sender_and_dropouts_below_threshold_abort_cleanly() -> None:
    # Prepare: 5, k = 4, t = 3; g seals garbage for all; two others drop before masking
    people = by_value(addresses(5))
    inputs = random_inputs(people, 4, random.Random(15))
    g = people[0]
    stages = {people[1]: SHARED, people[2]: SHARED, g: MASKED, people[3]: MASKED, people[4]: MASKED}
    r = run(5, stages, inputs, garbage={g: set(people) - {g}}, k=4, t=3)
    assert r.u3 == {g, people[3], people[4]} and set(r.excluded) == {g}

    # Execute / Assert: I = 2 < t: survivors refuse to unmask, the aggregator names g
    with pytest.raises(SecAggError, match="once complaints exclude 1, fewer than the threshold 3"):
        r.clients[people[3]].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, r.complaints)
    with pytest.raises(UnmaskFailure, match="fewer than the threshold") as err:
        r.total()
    assert err.value.unrecoverable == (g,)


def test_false_complaints_against_an_honest_participant_do_not_exclude_it() -> None:
    # Prepare: two participants falsely accuse honest h (with made-up seeds); 7, t = 3, so
    # h keeps 1 + 4 holders of shares of b_h
    people = by_value(addresses(7))
    inputs = random_inputs(people, 10, random.Random(16))
    h, liar1, liar2 = people[0], people[3], people[5]
    r = Round.start(7, k=6, t=3)
    r.share(set(people))
    r.complain(set(people))
    assert not r.complaints
    for liar in (liar1, liar2):
        r.complaints[liar] = Complaint(
            task_id=TASK, round=ROUND, participant=liar, seeds={h: bytes([7]) * 32}
        )
    r.mask(inputs)

    # Execute: liar2 leaves after masking; liar1 unmasks as if it had not complained
    r.reveal(set(people) - {liar1, liar2})
    honest_view = {p: c for p, c in r.complaints.items() if p != liar1}
    r.unmask[liar1] = r.clients[liar1].unmask(
        r.ctx, r.adverts, r.key_shares, r.u2, r.u3, honest_view
    )

    # Assert: h is included and the sum over everyone is exact
    assert not r.excluded and h in r.included
    assert r.total().tolist() == plaintext_sum(inputs, people)


def test_a_tampered_bundle_makes_its_sender_a_bad_sender_and_the_round_completes() -> None:
    # Prepare: full SecAgg on 7, t = 3; the bundle from `liar` to `victim` is corrupted
    people = by_value(addresses(7))
    inputs = random_inputs(people, 10, random.Random(3))
    r = Round.start(7, k=6, t=3)
    r.share(set(people))
    liar, victim = people[3], people[5]
    cts = dict(r.key_shares[liar].ciphertexts)
    cts[victim] = cts[victim][:-1] + bytes([cts[victim][-1] ^ 1])
    r.key_shares[liar] = KeyShares(
        task_id=TASK,
        round=ROUND,
        participant=liar,
        self_mask_commitment=r.key_shares[liar].self_mask_commitment,
        ciphertexts=cts,
    )

    # Execute
    r.complain(set(people))
    r.mask(inputs)
    r.reveal(set(people))

    # Assert: the victim complained; one complaint is not enough to exclude the liar
    assert set(r.complaints) == {victim} and r.complaints[victim].accused == {liar}
    assert not r.excluded
    assert r.unmask[victim].bad_senders == (liar,)
    assert liar not in r.unmask[victim].self_mask_shares
    assert liar not in r.unmask[victim].pairwise_seeds
    assert r.total().tolist() == plaintext_sum(inputs, r.u3)


def test_a_wrong_share_value_is_outvoted() -> None:
    # Prepare: one unmasker lies about every share it reveals
    people = by_value(addresses(7))
    inputs = random_inputs(people, 10, random.Random(4))
    r = run(7, {people[6]: SHARED}, inputs, k=6, t=3)
    liar = people[0]
    msg = r.unmask[liar]
    r.unmask[liar] = UnmaskShares(
        task_id=TASK,
        round=ROUND,
        participant=liar,
        self_mask_shares={o: (x, (y + 1) % PRIME) for o, (x, y) in msg.self_mask_shares.items()},
        mask_key_shares={o: (x, (y + 1) % PRIME) for o, (x, y) in msg.mask_key_shares.items()},
        pairwise_seeds=msg.pairwise_seeds,
    )

    # Execute / Assert
    assert r.total().tolist() == plaintext_sum(inputs, r.u3)


# --- participants' own refusals ---------------------------------------------------------------


def test_a_participant_outside_u3_does_not_unmask() -> None:
    people = by_value(addresses(5))
    r = run(
        5,
        {people[0]: SHARED, people[1]: SHARED},
        random_inputs(people, 3, random.Random(0)),
        k=4,
        t=2,
    )
    with pytest.raises(SecAggError, match="not in U3"):
        r.clients[people[0]].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, {})


def test_a_participant_never_answers_unmask_for_two_survivor_sets() -> None:
    # Prepare: the attack — ask first with j dropped (reveals j's mask key share), then with j
    # surviving (would reveal j's self-mask share too)
    people = by_value(addresses(6))
    r = Round.start(6, k=5, t=3)
    r.share(set(people))
    r.mask(random_inputs(people, 3, random.Random(0)))
    me, j = people[0], people[1]
    first = r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3 - {j}, {})
    assert j in first.mask_key_shares and j in first.pairwise_seeds
    assert j not in first.self_mask_shares

    # Execute / Assert
    with pytest.raises(SecAggError, match="other survivor sets"):
        r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, {})
    assert r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3 - {j}, {}) is first


def test_a_participant_never_answers_unmask_for_two_excluded_sets() -> None:
    # Prepare: the same attack through complaints — first with j included (reveals its
    # self-mask share), then with made-up complaints that exclude j (would reveal s_me,j too)
    people = by_value(addresses(6))
    r = Round.start(6, k=5, t=3)
    r.share(set(people))
    r.complain(set(people))
    r.mask(random_inputs(people, 3, random.Random(0)))
    me, j = people[0], people[1]
    first = r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, {})
    assert j in first.self_mask_shares
    forged = {
        p: Complaint(task_id=TASK, round=ROUND, participant=p, seeds={j: bytes(32)})
        for p in people[2:]
    }
    assert j in excluded_by_complaints(r.ctx, r.u2, r.u3, forged)

    # Execute / Assert
    with pytest.raises(SecAggError, match="other survivor sets or complaints"):
        r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, forged)
    assert r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, {}) is first
    # a complaint filed under someone else's name does not count: E, and the answer, stand
    misfiled = {people[3]: forged[people[2]]}
    assert r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, misfiled) is first


def test_open_shares_answers_once_with_the_pairwise_seed() -> None:
    # Prepare: g seals garbage for me; I complain, then drop before masking
    people = by_value(addresses(5))
    r = Round.start(5, k=4, t=2)
    me, g = people[0], people[1]
    c = r.clients[me]
    with pytest.raises(SecAggError, match="share_keys must run before open_shares"):
        c.open_shares(r.ctx, r.adverts, {}, set(people))
    r.share(set(people), {g: {me}})

    # Execute
    first = c.open_shares(r.ctx, r.adverts, r.key_shares, r.u2)

    # Assert: same answer twice, another U2 refused, no complaint where all bundles are good
    assert first is not None and first.accused == {g} and first.participant == me
    assert c.open_shares(r.ctx, r.adverts, r.key_shares, r.u2) is first
    with pytest.raises(SecAggError, match="another U2"):
        c.open_shares(r.ctx, r.adverts, r.key_shares, r.u2 - {people[4]})
    assert r.clients[people[2]].open_shares(r.ctx, r.adverts, r.key_shares, r.u2) is None
    # the seed is s_me,g: g reveals the same one once I have dropped
    r.complaints = {me: first}
    rest = set(people) - {me}
    inputs = random_inputs(people, 3, random.Random(0))
    r.mask({p: inputs[p] for p in rest})
    r.reveal(rest)
    assert r.unmask[g].pairwise_seeds[me] == first.seeds[g]
    assert r.total().tolist() == plaintext_sum(inputs, rest)


def test_a_complaint_recorded_under_my_name_that_i_did_not_make_is_refused() -> None:
    people = by_value(addresses(5))
    r = Round.start(5, k=4, t=2)
    r.share(set(people))
    r.complain(set(people))
    r.mask(random_inputs(people, 3, random.Random(0)))
    me = people[0]
    other = Complaint(task_id=TASK, round=ROUND, participant=me, seeds={people[2]: bytes(32)})
    with pytest.raises(SecAggError, match=f"complaint recorded for {me} is not the one"):
        r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, {me: other})


def test_outside_u2_there_are_no_shares_to_open() -> None:
    people = by_value(addresses(5))
    r = Round.start(5, k=4, t=2)
    r.share(set(people))
    with pytest.raises(SecAggError, match="not in U2"):
        r.clients[people[0]].open_shares(r.ctx, r.adverts, r.key_shares, set(people[1:]))


def test_a_participant_masks_once_and_in_order() -> None:
    people = addresses(4)
    r = Round.start(4, k=3, t=2)
    p = people[0]
    x = np.zeros(3, dtype=np.int64)
    with pytest.raises(SecAggError, match="share_keys must run before"):
        r.clients[p].masked_input(r.ctx, r.adverts, set(people), x, ring_bits=64)
    r.share(set(people))
    for bad_bits in (1, 65):
        with pytest.raises(SecAggError, match="ring width"):
            r.clients[p].masked_input(r.ctx, r.adverts, r.u2, x, ring_bits=bad_bits)
    r.clients[p].masked_input(r.ctx, r.adverts, r.u2, x, ring_bits=64)
    with pytest.raises(SecAggError, match="already produced"):
        r.clients[p].masked_input(r.ctx, r.adverts, r.u2, x, ring_bits=64)
    with pytest.raises(SecAggError, match="already shared"):
        r.clients[p].share_keys(r.ctx, r.adverts)


def test_a_participant_refuses_a_changed_context_or_a_forged_advert() -> None:
    people = addresses(4)
    r = Round.start(4, k=3, t=2)
    p = people[0]
    x = np.zeros(1, dtype=np.int64)
    other = RoundContext.for_round(
        task_id=TASK, round=ROUND, u1=people, seed=bytes(32), k=3, threshold=2
    )
    r.clients[p].share_keys(r.ctx, r.adverts)
    with pytest.raises(SecAggError, match="context changed"):
        r.clients[p].masked_input(other, r.adverts, set(people), x, ring_bits=64)
    forged = dict(r.adverts)
    forged[p] = KeyAdvert(
        task_id=TASK, round=ROUND, participant=p, enc_pk=b"\x09" * 32, mask_pk=b"\x08" * 32
    )
    with pytest.raises(SecAggError, match="not the one this participant made"):
        r.clients[p].masked_input(r.ctx, forged, set(people), x, ring_bits=64)


# --- the ring Z_2^b ---------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [8, 35, 64])
def test_sums_are_exact_in_the_ring_and_masked_words_fill_it(bits: int) -> None:
    # Prepare: inputs whose every partial sum fits b bits; the first two coordinates of the
    # aggregate are the extremes of the b-bit range; one drops after sharing, one after masking
    people = by_value(addresses(6))
    inputs = random_inputs(people, 8192, random.Random(bits), bits=bits)
    top = 2 ** (bits - 1)
    for p in people:
        inputs[p][:2] = 0
    inputs[people[0]][:2] = [top - 1, -top]
    stages = {people[4]: SHARED, people[5]: MASKED}

    # Execute
    r = run(6, stages, inputs, ring_bits=bits, k=5, t=3)
    total = r.total()

    # Assert
    assert total.dtype == np.int64
    assert total.tolist() == plaintext_sum(inputs, r.u3)
    assert total[:2].tolist() == [top - 1, -top]
    for y in r.masked.values():
        assert y.dtype == np.uint64 and (bits == 64 or int(y.max()) < 2**bits)
        if bits == 8:
            assert np.unique(y).size == 256  # every value of the ring shows up (≈ 1 − 1e-11)
        else:
            assert int(y.max()) >= 2 ** (bits - 2)  # the high bits are used


@pytest.mark.parametrize("bits", [8, 35])
def test_a_word_outside_the_ring_is_refused(bits: int) -> None:
    people = by_value(addresses(5))
    r = run(
        5, None, random_inputs(people, 4, random.Random(9), bits=bits), ring_bits=bits, k=4, t=3
    )
    who = people[1]
    ok = r.masked[who]
    assert check_masked_input(who, ok, 4, bits) is ok
    wide = ok.copy()
    wide[2] = np.uint64(2**bits)
    with pytest.raises(MalformedMessage, match=f"word ≥ 2\\^{bits} \\(at index 2\\)"):
        check_masked_input(who, wide, 4, bits)
    r.masked[who] = wide
    with pytest.raises(MalformedMessage, match="not in the ring"):
        r.total()
    with pytest.raises(SecAggError, match="ring width"):
        check_masked_input(who, ok, 4, 65)


# --- bad input from others --------------------------------------------------------------------


def test_forbidden_unmask_entries_are_reported_and_never_used() -> None:
    # Prepare: a U3 member also "reveals" the mask-key share of a survivor (forbidden) and a
    # self-mask share at someone else's x
    people = by_value(addresses(6))
    inputs = random_inputs(people, 5, random.Random(5))
    r = run(6, None, inputs, k=5, t=3)
    cheat, victim, other = people[0], people[1], people[2]
    honest = r.unmask[cheat]
    selfs = dict(honest.self_mask_shares)
    selfs[other] = (r.ctx.x_of(victim), selfs[other][1])
    del selfs[victim]
    bad = UnmaskShares(
        task_id=TASK,
        round=ROUND,
        participant=cheat,
        self_mask_shares=selfs,
        mask_key_shares={victim: (r.ctx.x_of(cheat), 42)},
    )

    # Execute / Assert
    with pytest.raises(MalformedMessage) as err:
        check_unmask_shares(r.ctx, r.u2, r.u3, cheat, bad, ())
    assert "which the sets forbid" in str(err.value)
    assert f"at x={r.ctx.x_of(victim)}" in str(err.value)
    check_unmask_shares(r.ctx, r.u2, r.u3, cheat, honest, ())
    r.unmask[cheat] = bad
    assert r.total().tolist() == plaintext_sum(inputs, r.u3)


def test_unmask_entries_that_e_forbids_are_reported_and_never_used() -> None:
    # Prepare: g is excluded (garbage for all); a cheat reveals its share of b_g, a pairwise
    # seed with an included participant, and g its own self-mask share
    people = by_value(addresses(7))
    inputs = random_inputs(people, 5, random.Random(6))
    g = people[3]
    r = run(7, None, inputs, garbage={g: set(people) - {g}}, k=6, t=3)
    assert set(r.excluded) == {g}
    cheat, inc = people[0], people[1]
    honest = r.unmask[cheat]
    x = r.ctx.x_of(cheat)
    bad = UnmaskShares(
        task_id=TASK,
        round=ROUND,
        participant=cheat,
        self_mask_shares={
            **{o: s for o, s in honest.self_mask_shares.items() if o != inc},
            g: (x, 5),
        },
        pairwise_seeds={inc: bytes(32)},
    )
    g_own = UnmaskShares(
        task_id=TASK,
        round=ROUND,
        participant=g,
        self_mask_shares={**r.unmask[g].self_mask_shares, g: (r.ctx.x_of(g), 5)},
        pairwise_seeds=r.unmask[g].pairwise_seeds,
    )

    # Execute / Assert
    with pytest.raises(MalformedMessage) as err:
        check_unmask_shares(r.ctx, r.u2, r.u3, cheat, bad, r.excluded)
    assert f"self-mask share of {g}, which the sets forbid ({g} is excluded" in str(err.value)
    assert f"pairwise seed with {inc}, which the sets forbid ({inc} is included" in str(err.value)
    with pytest.raises(MalformedMessage, match=f"self-mask share of {g}, which the sets forbid"):
        check_unmask_shares(r.ctx, r.u2, r.u3, g, g_own, r.excluded)
    check_unmask_shares(r.ctx, r.u2, r.u3, g, r.unmask[g], r.excluded)
    with pytest.raises(SecAggError, match="must be in U3"):
        check_unmask_shares(r.ctx, r.u2, r.u3 - {g}, cheat, honest, r.excluded)
    r.unmask[cheat], r.unmask[g] = bad, g_own
    assert r.total().tolist() == plaintext_sum(inputs, set(people) - {g})


def test_an_input_whose_masks_would_all_be_revealed_is_excluded_too() -> None:
    # Prepare: SecAgg+ k = 4 on 12, t = 3, dropouts only. Find l whose U3 neighbours a and b
    # each have no other U3 neighbour: a and b cannot be unmasked (1 + 1 < 3), so they are
    # excluded and their pairwise seeds with l revealed. l itself has 1 + 2 holders of shares
    # of b_l; were it included, b_l would be rebuilt and every mask of y_l known.
    r = Round.start(12, k=4, t=3)
    ctx, people = r.ctx, list(r.ctx.participants)
    found = None
    for l in people:  # noqa: E741
        for a in ctx.neighbours_of(l):
            for b in ctx.neighbours_of(l) - {a}:
                if b in ctx.neighbours_of(a):
                    continue
                gone = (ctx.neighbours_of(l) | ctx.neighbours_of(a) | ctx.neighbours_of(b)) - {
                    l,
                    a,
                    b,
                }
                rest = set(people) - gone - {l, a, b}
                if len(rest) >= 3 and all(len(ctx.neighbours_of(p) & rest) >= 2 for p in rest):
                    found = l, a, b, gone
    assert found, "the graph must allow the scenario"
    l, a, b, gone = found  # noqa: E741
    inputs = random_inputs(people, 6, random.Random(17))

    # Execute
    r = run(12, dict.fromkeys(gone, SHARED), inputs, k=4, t=3)

    # Assert: a and b for lack of shares, then l for lack of a hidden mask
    assert set(r.excluded) == {l, a, b}
    assert "every pairwise mask it shares with an included neighbour" in r.excluded[l]
    assert exposed(r) == []
    assert r.total().tolist() == plaintext_sum(inputs, r.u3 - {l, a, b})


def test_key_shares_for_non_neighbours_or_missing_neighbours_are_refused() -> None:
    people = by_value(addresses(10))
    r = Round.start(10, k=4, t=3)
    r.share(set(people))
    sender = people[0]
    good = r.key_shares[sender]
    check_key_shares(r.ctx, sender, good)
    stranger = next(p for p in people if p != sender and p not in r.ctx.neighbours_of(sender))
    near = sorted(r.ctx.neighbours_of(sender))
    cts = dict(good.ciphertexts)
    cts[stranger] = cts.pop(near[0])
    moved = KeyShares(
        task_id=TASK,
        round=ROUND,
        participant=sender,
        self_mask_commitment=good.self_mask_commitment,
        ciphertexts=cts,
    )
    with pytest.raises(
        MalformedMessage, match=f"non-neighbours {stranger}.*no shares for neighbours {near[0]}"
    ):
        check_key_shares(r.ctx, sender, moved)


def test_a_copied_public_key_stays_in_u1() -> None:
    # U1 is exactly the on-chain set (a dispute must see the same round); the contract refuses
    # unusable keys, and a copier gains nothing (see check_adverts), so readers keep it
    people = by_value(addresses(4))
    r = Round.start(4, k=3, t=2)
    adverts = dict(r.adverts)
    a, b = people[0], people[1]
    adverts[b] = KeyAdvert(
        task_id=TASK,
        round=ROUND,
        participant=b,
        enc_pk=adverts[b].enc_pk,
        mask_pk=adverts[a].mask_pk,
    )
    check_adverts(r.ctx, adverts)  # no error
    assert adverts[b].mask_pk == adverts[a].mask_pk


# --- below threshold --------------------------------------------------------------------------


def test_below_threshold_the_aggregator_names_who_cannot_be_unmasked() -> None:
    # Prepare: t = 4 of k = 4 neighbours (+ each survivor's own share); two neighbours vanish
    # after their masked inputs, so some survivors keep fewer than 4 shares among unmaskers
    people = by_value(addresses(8))
    inputs = random_inputs(people, 4, random.Random(6))
    probe = Round.start(8, k=4, t=4)
    gone = people[0]
    other = by_value(probe.ctx.neighbours_of(gone))[0]
    r = run(8, {gone: MASKED, other: MASKED}, inputs, k=4, t=4)
    u4 = set(r.unmask)
    expected = {j for j in r.u3 if len((r.ctx.neighbours_of(j) | {j}) & u4) < 4}
    assert expected, "the scenario must leave someone unrecoverable"

    # Execute / Assert
    with pytest.raises(UnmaskFailure, match="available, 4 needed") as err:
        r.total()
    assert set(err.value.unrecoverable) == expected


def test_too_few_masked_inputs_aborts() -> None:
    people = by_value(addresses(5))
    inputs = random_inputs(people, 4, random.Random(7))
    r = Round.start(5, k=4, t=3)
    r.share(set(people))
    r.mask({p: inputs[p] for p in people[:2]})
    with pytest.raises(UnmaskFailure, match="only 2 participants sent masked inputs"):
        r.total()


def test_masked_inputs_must_match_u3_and_the_model_length() -> None:
    people = by_value(addresses(5))
    inputs = random_inputs(people, 4, random.Random(8))
    r = run(5, None, inputs, k=4, t=3)

    def total(masked: Mapping[str, np.ndarray], **kw: int) -> np.ndarray:
        return unmask_sum(
            r.ctx,
            r.adverts,
            r.key_shares,
            r.u2,
            r.u3,
            masked,
            r.unmask,
            complaints={},
            ring_bits=64,
            **kw,
        )

    short = dict(r.masked)
    short[people[0]] = short[people[0]][:3]
    with pytest.raises(MalformedMessage, match=f"{people[0]} has 3 words, the model has 4"):
        total(short)
    with pytest.raises(MalformedMessage, match="has 4 words, the model has 5"):
        total(r.masked, length=5)
    missing = dict(r.masked)
    del missing[people[0]]
    with pytest.raises(SecAggError, match="exactly U3"):
        total(missing)

"""Whole SecAgg+ rounds: participants drop out at every phase, the sum over U3 stays exact,
each participant reveals at most one secret of anyone, and below threshold the round aborts."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pytest
from eth_utils import to_checksum_address
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fedchain.aggregation import weighted_sum
from fedchain.secagg import (
    ClientRound,
    KeyAdvert,
    KeyShares,
    MalformedMessage,
    RoundContext,
    SecAggError,
    UnmaskFailure,
    UnmaskShares,
    check_adverts,
    check_key_shares,
    check_unmask_shares,
    unmask_sum,
)
from fedchain.secagg.shamir import PRIME

TASK, ROUND = 11, 4
SEED = hashlib.sha256(b"on-chain round seed").digest()

# The last phase a participant completes (everyone advertises: U1 is everyone).
ADVERTISED, SHARED, MASKED, UNMASKED = 1, 2, 3, 4


def addresses(n: int, tag: str = "p") -> list[str]:
    return [
        to_checksum_address(hashlib.sha256(f"{tag}{i}".encode()).digest()[:20]) for i in range(n)
    ]


@dataclass
class Round:
    """One simulated round, phase by phase, with the sets the chain would record."""

    ctx: RoundContext
    clients: dict[str, ClientRound]
    adverts: dict[str, KeyAdvert] = field(default_factory=dict)
    key_shares: dict[str, KeyShares] = field(default_factory=dict)
    masked: dict[str, np.ndarray] = field(default_factory=dict)
    unmask: dict[str, UnmaskShares] = field(default_factory=dict)
    u2: frozenset[str] = frozenset()
    u3: frozenset[str] = frozenset()

    @classmethod
    def start(cls, n: int, *, k: int | None = None, t: int | None = None) -> Round:
        people = addresses(n)
        ctx = RoundContext.for_round(
            task_id=TASK, round=ROUND, u1=people, seed=SEED, k=k, threshold=t
        )
        clients = {p: ClientRound(task_id=TASK, round=ROUND, address=p) for p in ctx.participants}
        r = cls(ctx=ctx, clients=clients)
        r.adverts = {p: c.advertise() for p, c in clients.items()}
        return r

    def share(self, who: set[str] | frozenset[str]) -> None:
        self.key_shares = {
            p: self.clients[p].share_keys(self.ctx, self.adverts) for p in sorted(who)
        }
        self.u2 = frozenset(self.key_shares)

    def mask(self, inputs: Mapping[str, np.ndarray]) -> None:
        self.masked = {
            p: self.clients[p].masked_input(self.ctx, self.adverts, self.u2, x)
            for p, x in inputs.items()
        }
        self.u3 = frozenset(self.masked)

    def reveal(self, who: set[str] | frozenset[str]) -> None:
        self.unmask = {
            p: self.clients[p].unmask(self.ctx, self.adverts, self.key_shares, self.u2, self.u3)
            for p in sorted(who)
        }

    def total(self) -> np.ndarray:
        return unmask_sum(
            self.ctx, self.adverts, self.key_shares, self.u2, self.u3, self.masked, self.unmask
        )


def run(
    n: int, stages: Mapping[str, int] | None, inputs: Mapping[str, np.ndarray], **kw: int
) -> Round:
    """Every participant goes as far as ``stages[p]`` (default: the whole round)."""
    r = Round.start(n, **kw)
    stage = {p: (stages or {}).get(p, UNMASKED) for p in r.ctx.participants}
    r.share({p for p in r.ctx.participants if stage[p] >= SHARED})
    r.mask({p: inputs[p] for p in r.ctx.participants if stage[p] >= MASKED})
    r.reveal({p for p in r.ctx.participants if stage[p] >= UNMASKED})
    return r


def plaintext_sum(inputs: Mapping[str, np.ndarray], who: frozenset[str]) -> list[int]:
    length = len(next(iter(inputs.values())))
    return [sum(int(inputs[p][i]) for p in who) for i in range(length)]


def random_inputs(people: list[str], length: int, rnd: random.Random) -> dict[str, np.ndarray]:
    bound = (2**63 - 1) // len(people)  # the sum over any subset fits int64 (weighted_sum's bound)
    return {
        p: np.array([rnd.randint(-bound, bound) for _ in range(length)], dtype=np.int64)
        for p in people
    }


def assert_never_both(r: Round) -> None:
    for sender, msg in r.unmask.items():
        selfs, keys = set(msg.self_mask_shares), set(msg.mask_key_shares)
        assert not selfs & keys, sender
        assert selfs <= r.u3 and keys <= r.u2 - r.u3, sender
        # a survivor also reveals its own self-mask share (it holds one, as in Bonawitz et al.)
        assert ((selfs - {sender}) | keys) <= r.ctx.neighbours_of(sender)


def recoverable(r: Round) -> bool:
    """Whether every secret the aggregator needs has ≥ t honest shares among the unmaskers."""
    t, u4 = r.ctx.threshold, set(r.unmask)
    if len(r.u3) < t:
        return False
    for j in r.u3:
        # j's self-mask: shares of its unmasking neighbours, plus its own if it unmasked
        if len((r.ctx.neighbours_of(j) | {j}) & u4) < t:
            return False
    for j in r.u2 - r.u3:
        if r.ctx.neighbours_of(j) & r.u3 and len(r.ctx.neighbours_of(j) & u4) < t:
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
    assert r.total().tolist() == plaintext_sum(inputs, frozenset(people))
    assert_never_both(r)


def test_unmasked_aggregate_is_the_weighted_sum_of_the_survivors() -> None:
    # Prepare: each trainer masks nᵢ·vᵢ of its int32 fixed-point update; one drops after sharing
    people = addresses(6)
    rnd = np.random.default_rng(5)
    updates = {p: rnd.integers(-(2**31), 2**31, size=300, dtype=np.int32) for p in people}
    samples = {p: int(rnd.integers(1, 10_000)) for p in people}
    inputs = {p: updates[p].astype(np.int64) * samples[p] for p in people}
    gone = sorted(people)[2]

    # Execute
    r = run(6, {gone: SHARED}, inputs, k=4, t=3)

    # Assert: bit-for-bit the plaintext protocol's aggregate over the same survivors
    survivors = sorted(r.u3)
    expected = weighted_sum([updates[p] for p in survivors], [samples[p] for p in survivors])
    assert np.array_equal(r.total(), expected)


def test_full_secagg_k_n_minus_1_with_dropouts_at_every_phase() -> None:
    # Prepare
    people = sorted(addresses(9), key=lambda a: int(a, 16))
    inputs = random_inputs(people, 20, random.Random(2))
    stages = {people[0]: ADVERTISED, people[1]: SHARED, people[2]: MASKED}

    # Execute
    r = run(9, stages, inputs, k=8, t=5)

    # Assert
    assert r.u3 == frozenset(people[2:])
    assert r.total().tolist() == plaintext_sum(inputs, r.u3)
    assert_never_both(r)


@st.composite
def round_shapes(draw: st.DrawFn) -> tuple[int, int, int, dict[int, int], int]:
    n = draw(st.integers(3, 12))
    options = [k for k in range(2, n) if k == n - 1 or k % 2 == 0 or n % 2 == 0]
    k = draw(st.sampled_from(options))
    t = draw(st.integers(2, k))
    # each participant stops after some phase; most finish (a dropout rate of about 1/3)
    phase = st.sampled_from([UNMASKED] * 6 + [ADVERTISED, SHARED, MASKED])
    stages = dict(enumerate(draw(st.lists(phase, min_size=n, max_size=n))))
    return n, k, t, stages, draw(st.integers(0, 2**32))


@settings(max_examples=80, deadline=None)
@given(round_shapes())
def test_random_dropouts_sum_over_u3_exactly_or_abort(
    shape: tuple[int, int, int, dict[int, int], int],
) -> None:
    # Prepare
    n, k, t, stage_by_index, seed = shape
    people = sorted(addresses(n), key=lambda a: int(a, 16))
    inputs = random_inputs(people, 8, random.Random(seed))
    stages = {people[i]: s for i, s in stage_by_index.items()}
    r = Round.start(n, k=k, t=t)
    r.share({p for p in people if stages.get(p, UNMASKED) >= SHARED})
    r.mask({p: inputs[p] for p in people if stages.get(p, UNMASKED) >= MASKED})
    if len(r.u3) < t:
        event("fewer than t masked inputs")
        # Execute / Assert: survivors refuse to unmask, the aggregator refuses to sum
        if r.u3:
            with pytest.raises(SecAggError, match="fewer than the threshold"):
                r.clients[min(r.u3)].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3)
        with pytest.raises(UnmaskFailure, match="fewer than the threshold"):
            r.total()
        return

    # Execute
    r.reveal({p for p in people if stages.get(p, UNMASKED) >= UNMASKED})

    # Assert
    assert_never_both(r)
    assert all(not m.bad_senders for m in r.unmask.values())
    event(f"dropouts: {len(r.ctx.participants) - len(r.unmask)}")
    if recoverable(r):
        event("recoverable")
        assert r.total().tolist() == plaintext_sum(inputs, r.u3)
    else:
        event("below threshold for someone")
        with pytest.raises(UnmaskFailure) as err:
            r.total()
        assert err.value.unrecoverable


# --- participants' own refusals ---------------------------------------------------------------


def test_a_participant_outside_u3_does_not_unmask() -> None:
    people = sorted(addresses(5), key=lambda a: int(a, 16))
    r = run(
        5,
        {people[0]: SHARED, people[1]: SHARED},
        random_inputs(people, 3, random.Random(0)),
        k=4,
        t=2,
    )
    with pytest.raises(SecAggError, match="not in U3"):
        r.clients[people[0]].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3)


def test_a_participant_never_answers_unmask_for_two_survivor_sets() -> None:
    # Prepare: the attack — ask first with j dropped (reveals j's mask key share), then with j
    # surviving (would reveal j's self-mask share too)
    people = sorted(addresses(6), key=lambda a: int(a, 16))
    r = Round.start(6, k=5, t=3)
    r.share(set(people))
    r.mask(random_inputs(people, 3, random.Random(0)))
    me, j = people[0], people[1]
    first = r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3 - {j})
    assert j in first.mask_key_shares and j not in first.self_mask_shares

    # Execute / Assert
    with pytest.raises(SecAggError, match="other survivor sets"):
        r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3)
    assert r.clients[me].unmask(r.ctx, r.adverts, r.key_shares, r.u2, r.u3 - {j}) is first


def test_a_participant_masks_once_and_in_order() -> None:
    people = addresses(4)
    r = Round.start(4, k=3, t=2)
    p = people[0]
    x = np.zeros(3, dtype=np.int64)
    with pytest.raises(SecAggError, match="share_keys must run before"):
        r.clients[p].masked_input(r.ctx, r.adverts, set(people), x)
    r.share(set(people))
    r.clients[p].masked_input(r.ctx, r.adverts, r.u2, x)
    with pytest.raises(SecAggError, match="already produced"):
        r.clients[p].masked_input(r.ctx, r.adverts, r.u2, x)
    with pytest.raises(SecAggError, match="already shared"):
        r.clients[p].share_keys(r.ctx, r.adverts)


def test_a_participant_refuses_a_changed_context_or_a_forged_advert() -> None:
    people = addresses(4)
    r = Round.start(4, k=3, t=2)
    p = people[0]
    other = RoundContext.for_round(
        task_id=TASK, round=ROUND, u1=people, seed=bytes(32), k=3, threshold=2
    )
    r.clients[p].share_keys(r.ctx, r.adverts)
    with pytest.raises(SecAggError, match="context changed"):
        r.clients[p].masked_input(other, r.adverts, set(people), np.zeros(1, dtype=np.int64))
    forged = dict(r.adverts)
    forged[p] = KeyAdvert(
        task_id=TASK, round=ROUND, participant=p, enc_pk=b"\x09" * 32, mask_pk=b"\x08" * 32
    )
    with pytest.raises(SecAggError, match="not the one this participant made"):
        r.clients[p].masked_input(r.ctx, forged, set(people), np.zeros(1, dtype=np.int64))


# --- bad input from others --------------------------------------------------------------------


def test_a_tampered_bundle_makes_its_sender_a_bad_sender_and_the_round_completes() -> None:
    # Prepare: full SecAgg on 7, t = 3; the bundle from `liar` to `victim` is corrupted
    people = sorted(addresses(7), key=lambda a: int(a, 16))
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
    r.mask(inputs)
    r.reveal(set(people))

    # Assert
    assert r.unmask[victim].bad_senders == (liar,)
    assert liar not in r.unmask[victim].self_mask_shares
    assert r.total().tolist() == plaintext_sum(inputs, r.u3)


def test_a_wrong_share_value_is_outvoted() -> None:
    # Prepare: one unmasker lies about every share it reveals
    people = sorted(addresses(7), key=lambda a: int(a, 16))
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
    )

    # Execute / Assert
    assert r.total().tolist() == plaintext_sum(inputs, r.u3)


def test_forbidden_unmask_entries_are_reported_and_never_used() -> None:
    # Prepare: a U3 member also "reveals" the mask-key share of a survivor (forbidden) and a
    # self-mask share at someone else's x
    people = sorted(addresses(6), key=lambda a: int(a, 16))
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
        check_unmask_shares(r.ctx, r.u2, r.u3, cheat, bad)
    assert "which the sets forbid" in str(err.value)
    assert f"at x={r.ctx.x_of(victim)}" in str(err.value)
    check_unmask_shares(r.ctx, r.u2, r.u3, cheat, honest)
    r.unmask[cheat] = bad
    assert r.total().tolist() == plaintext_sum(inputs, r.u3)


def test_key_shares_for_non_neighbours_or_missing_neighbours_are_refused() -> None:
    people = sorted(addresses(10), key=lambda a: int(a, 16))
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


def test_a_copied_public_key_is_refused() -> None:
    people = sorted(addresses(4), key=lambda a: int(a, 16))
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
    with pytest.raises(MalformedMessage, match=f"{b} advertises a public key already used by {a}"):
        check_adverts(r.ctx, adverts)


# --- below threshold --------------------------------------------------------------------------


def test_below_threshold_the_aggregator_names_who_cannot_be_unmasked() -> None:
    # Prepare: t = 4 of k = 4 neighbours (+ each survivor's own share); two neighbours vanish
    # after their masked inputs, so some survivors keep fewer than 4 shares among unmaskers
    people = sorted(addresses(8), key=lambda a: int(a, 16))
    inputs = random_inputs(people, 4, random.Random(6))
    probe = run(8, None, inputs, k=4, t=4)
    gone = people[0]
    other = sorted(probe.ctx.neighbours_of(gone), key=lambda a: int(a, 16))[0]
    r = run(8, {gone: MASKED, other: MASKED}, inputs, k=4, t=4)
    u4 = set(r.unmask)
    expected = {j for j in r.u3 if len((r.ctx.neighbours_of(j) | {j}) & u4) < 4}
    assert expected, "the scenario must leave someone unrecoverable"

    # Execute / Assert
    with pytest.raises(UnmaskFailure, match="available, 4 needed") as err:
        r.total()
    assert set(err.value.unrecoverable) == expected


def test_too_few_masked_inputs_aborts() -> None:
    people = sorted(addresses(5), key=lambda a: int(a, 16))
    inputs = random_inputs(people, 4, random.Random(7))
    r = Round.start(5, k=4, t=3)
    r.share(set(people))
    r.mask({p: inputs[p] for p in people[:2]})
    with pytest.raises(UnmaskFailure, match="only 2 participants sent masked inputs"):
        r.total()


def test_masked_inputs_must_match_u3_and_the_model_length() -> None:
    people = sorted(addresses(5), key=lambda a: int(a, 16))
    inputs = random_inputs(people, 4, random.Random(8))
    r = run(5, None, inputs, k=4, t=3)
    short = dict(r.masked)
    short[people[0]] = short[people[0]][:3]
    with pytest.raises(MalformedMessage, match=f"{people[0]} has 3 words, the model has 4"):
        unmask_sum(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, short, r.unmask)
    with pytest.raises(MalformedMessage, match="has 4 words, the model has 5"):
        unmask_sum(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, r.masked, r.unmask, length=5)
    missing = dict(r.masked)
    del missing[people[0]]
    with pytest.raises(SecAggError, match="exactly U3"):
        unmask_sum(r.ctx, r.adverts, r.key_shares, r.u2, r.u3, missing, r.unmask)

"""The watcher's side of a secure round: recompute the unmasked sum, dispute it if it differs.

Anyone can unmask a secure round from public data (the unmask shares are in the store), so the
watcher recomputes the aggregate as the aggregator should have, and plays the secure sum game
(``RoundDisputes.challengeSecureSum``) on the first chunk that differs, then a wrong model in
one step (``proveModel`` holds for secure rounds too). Rounds whose on-chain included set is
not the one the public messages unmask are left alone: their terms are not what anyone can
compute (an exclusion question, not a wrong sum).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fedchain.aggregation.fedavg import apply_aggregate
from fedchain.chain.contracts import revealed_hash
from fedchain.chain.types import GameKind, GameState, TaskInfo
from fedchain.codec.blob import BlobKind
from fedchain.errors import FedchainError
from fedchain.node.events import NodeAction
from fedchain.node.secure_terms import SecureTerms

if TYPE_CHECKING:
    from fedchain.node.watcher import WatcherNode

__all__ = ["watch_secure"]


def watch_secure(w: WatcherNode, info: TaskInfo) -> NodeAction | None:
    """One move of the watcher in a secure round's challenge phase (None: nothing to do)."""
    terms = SecureTerms(w.coordinator, w.blobs, w.task_id, info.round)
    action = _play(w, info, terms)
    if action is not None:
        return action
    now = w.coordinator.chain.next_block_time()
    if now >= info.deadline:
        return None
    posted = w.coordinator.aggregate(w.task_id, info.round)
    if posted is None or posted.epoch != info.epoch or posted.aggregator == w.address:
        return None
    try:
        if not terms.consistent:
            return _prove_revealed_exclusion(w, info, terms, posted.aggregator)
        expected = terms.view.aggregate()
        aggregate = w.blobs.open_vector(BlobKind.AGGREGATE, posted.merkle_root)
    except FedchainError:
        return None  # not unmaskable from public data, or data missing (plaintext DA covers it)
    k = w.blobs.config.chunk_elems
    bad = np.flatnonzero(aggregate.values != expected)
    if bad.size:
        mine = w._asked_this_epoch(info)
        accused = posted.aggregator
        return w._challenge_sum(info, int(bad[0]) // k, mine, accused, GameKind.SECURE_SUM)
    base = w.blobs.open_vector(BlobKind.MODEL, info.global_model_root)
    try:
        model = w.blobs.open_vector(BlobKind.MODEL, posted.model_root)
    except FedchainError:
        return None
    want = apply_aggregate(base.values, aggregate.values, posted.included_weight)
    wrong = np.flatnonzero(model.values != want)
    if not wrong.size:
        return None
    c = int(wrong[0]) // k
    model_chunk, model_proof = model.tree.chunk(c), model.tree.proof(c)
    return w._prove_model(
        info.round, c, base, aggregate, model_chunk, model_proof, posted.aggregator
    )


def _prove_revealed_exclusion(
    w: WatcherNode, info: TaskInfo, terms: SecureTerms, accused: str
) -> NodeAction | None:
    """An aggregate that left out a member some survivor revealed a self-mask share of cannot
    be right (its pairwise masks can never come off): void it from that survivor's on-chain
    bitmap (no slash: see ``RoundDisputes.proveRevealedExclusion``)."""
    committed = {u.participant for u in terms.commits}
    left_out = committed - terms.included
    for survivor, msg in terms.view.unmask_messages.items():
        for member in sorted(set(msg.self_mask_shares) & left_out):
            bitmap = terms.view.revealed_bitmap(msg)
            on_chain = w.coordinator.secure_member_of(w.task_id, survivor).revealed_self_shares
            if revealed_hash(bitmap) != on_chain:
                continue  # the message is not what the survivor committed: not evidence
            r = w.disputes.prove_revealed_exclusion(
                w.account, w.task_id, info.round, survivor, bitmap, member
            )
            return w._did("revealed-excluded", info.round, accused, r)
    return None


def _play(w: WatcherNode, info: TaskInfo, terms: SecureTerms) -> NodeAction | None:
    """Our next move in a secure game we opened: agree or not, or prove the last step."""
    for g in w.disputes.games(w.task_id, info.round):
        if g.challenger != w.address or g.epoch != info.epoch or g.kind != GameKind.SECURE_SUM:
            continue
        if g.state == GameState.AWAIT_CHALLENGER:
            stated = np.frombuffer(w.disputes.openings(g.id)[g.query], dtype=">u8")
            agree = bool(np.array_equal(stated, terms.running_sum(g.chunk, g.query)))
            r = w.disputes.bisect(w.account, g.id, agree)
            return NodeAction(
                w.name, "dispute", info.round, {"game": g.id, "move": "bisect", "gas": r.gas_used}
            )
        if g.state == GameState.AWAIT_PROOF:
            openings = w.disputes.openings(g.id)
            p_lo = terms.running_sum(g.chunk, g.lo).astype(">u8").tobytes()
            step = terms.step(g.chunk, g.hi)
            r = w.disputes.prove_secure_step(
                w.account,
                g.id,
                p_lo,
                openings[g.hi],
                step.commit,
                step.peer,
                step.secret,
                step.masked,
                step.proof,
            )
            return NodeAction(
                w.name,
                "dispute",
                info.round,
                {"game": g.id, "move": "prove", "gas": r.gas_used, "term": g.hi},
            )
    return None

"""Secure aggregation (SecAgg+; full SecAgg when k = n − 1): pure logic, no chain, no I/O.

Nobody — the aggregator included — learns one participant's update, only the sum over the
participants that sent a masked input (less those excluded by complaints about their key
shares: ``complaints``), and the round survives dropouts down to the Shamir threshold. The
chain is the bulletin board that fixes the participant sets U1 ⊇ U2 ⊇ U3 ⊇ U4 and the round's
seed; this package turns those and the participants' messages into masked inputs in the
round's ring Z_2^b (``ring``) and, at the end, into the exact int64 aggregate.

Reading order: ``context`` (what a round agrees on) → ``graph`` (who masks with whom) →
``keys``, ``aead``, ``shamir``, ``prg``, ``ring`` (primitives) → ``masking`` → ``messages`` →
``client`` (one participant) → ``checks``, ``complaints`` and ``server`` (the aggregator).
"""

from __future__ import annotations

from fedchain.secagg.addresses import canonical_order
from fedchain.secagg.checks import (
    check_adverts,
    check_key_shares,
    check_masked_input,
    check_ring_bits,
    check_unmask_shares,
    usable_unmask_shares,
)
from fedchain.secagg.client import ClientRound
from fedchain.secagg.complaints import (
    check_complaint,
    complaint_problems,
    excluded_by_complaints,
    included,
    usable_complaints,
)
from fedchain.secagg.context import RoundContext
from fedchain.secagg.errors import (
    MalformedMessage,
    SecAggError,
    ShareAuthenticationError,
    UnmaskFailure,
)
from fedchain.secagg.graph import ParameterRisks, choose_parameters, neighbours, parameter_risks
from fedchain.secagg.keys import (
    PURPOSE_PAIRWISE_MASK,
    PURPOSE_SHARE_ENCRYPTION,
    RoundKeyPairs,
    agree,
    pair_context,
)
from fedchain.secagg.masking import (
    add_mask,
    add_masks,
    mask_input,
    pairwise_seed,
    pairwise_sign,
    self_mask_commitment,
    sum_masked,
)
from fedchain.secagg.messages import Complaint, KeyAdvert, KeyShares, ShareBundle, UnmaskShares
from fedchain.secagg.prg import expand_mask
from fedchain.secagg.ring import MAX_RING_BITS, reduce_to_ring, ring_bits, ring_to_int64
from fedchain.secagg.server import unmask_sum
from fedchain.secagg.shamir import combine, combine_verified, split

__all__ = [
    "MAX_RING_BITS",
    "ClientRound",
    "Complaint",
    "KeyAdvert",
    "KeyShares",
    "MalformedMessage",
    "PURPOSE_PAIRWISE_MASK",
    "PURPOSE_SHARE_ENCRYPTION",
    "ParameterRisks",
    "RoundContext",
    "RoundKeyPairs",
    "SecAggError",
    "ShareAuthenticationError",
    "ShareBundle",
    "UnmaskFailure",
    "UnmaskShares",
    "add_mask",
    "add_masks",
    "agree",
    "canonical_order",
    "check_adverts",
    "check_complaint",
    "check_key_shares",
    "check_masked_input",
    "check_ring_bits",
    "check_unmask_shares",
    "choose_parameters",
    "complaint_problems",
    "combine",
    "combine_verified",
    "excluded_by_complaints",
    "expand_mask",
    "included",
    "mask_input",
    "neighbours",
    "pair_context",
    "pairwise_seed",
    "pairwise_sign",
    "parameter_risks",
    "reduce_to_ring",
    "ring_bits",
    "ring_to_int64",
    "self_mask_commitment",
    "split",
    "sum_masked",
    "unmask_sum",
    "usable_complaints",
    "usable_unmask_shares",
]

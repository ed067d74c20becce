"""Secure aggregation (SecAgg+; full SecAgg when k = n − 1): pure logic, no chain, no I/O.

Nobody — the aggregator included — learns one participant's update, only the sum over the
participants that sent a masked input, and the round survives dropouts down to the Shamir
threshold. The chain is the bulletin board that fixes the participant sets U1 ⊇ U2 ⊇ U3 ⊇ U4
and the round's seed; this package turns those and the participants' messages into masked
inputs and, at the end, into the exact int64 aggregate.

Reading order: ``context`` (what a round agrees on) → ``graph`` (who masks with whom) →
``keys``, ``aead``, ``shamir``, ``prg`` (primitives) → ``masking`` → ``messages`` →
``client`` (one participant) → ``checks`` and ``server`` (the aggregator).
"""

from __future__ import annotations

from fedchain.secagg.addresses import canonical_order
from fedchain.secagg.checks import (
    check_adverts,
    check_key_shares,
    check_masked_input,
    check_unmask_shares,
    usable_unmask_shares,
)
from fedchain.secagg.client import ClientRound
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
    as_int64,
    mask_input,
    pairwise_seed,
    pairwise_sign,
    self_mask_commitment,
    sum_masked,
)
from fedchain.secagg.messages import KeyAdvert, KeyShares, ShareBundle, UnmaskShares
from fedchain.secagg.prg import expand_mask
from fedchain.secagg.server import unmask_sum
from fedchain.secagg.shamir import combine, combine_verified, split

__all__ = [
    "ClientRound",
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
    "as_int64",
    "canonical_order",
    "check_adverts",
    "check_key_shares",
    "check_masked_input",
    "check_unmask_shares",
    "choose_parameters",
    "combine",
    "combine_verified",
    "expand_mask",
    "mask_input",
    "neighbours",
    "pair_context",
    "pairwise_seed",
    "pairwise_sign",
    "parameter_risks",
    "self_mask_commitment",
    "split",
    "sum_masked",
    "unmask_sum",
    "usable_unmask_shares",
]

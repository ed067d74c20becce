"""SecureTerms recomputes, bit for bit, what ``fedchain.secagg`` computes off-chain: mask chunks
(``prg.expand_mask``), self-mask commitments, X25519 public keys and pairwise seeds
(``keys.agree``), and the SecAgg+ neighbour graph (``graph.choose_parameters``, ``shuffled``,
``neighbours``); it refuses what the Python side refuses.

The shipped artifact is deployed once for the module on an EmbeddedChain of its own. py-evm
runs about 0.5 M gas per second, so the graph is checked on-chain up to n = 200 and its gas
at the maximum group size is extrapolated from two measured sizes (the walk is linear in n).
Gas is read from transaction receipts (one execution each; eth_estimateGas searches) and
printed (``pytest -s``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from fedchain.chain import EmbeddedChain, Transactor, derive_account
from fedchain.chain.artifacts import load_artifact
from fedchain.secagg.errors import SecAggError
from fedchain.secagg.graph import choose_parameters, neighbours, shuffled
from fedchain.secagg.keys import (
    PURPOSE_PAIRWISE_MASK,
    agree,
    pair_context,
    private_from_bytes,
    public_bytes,
)
from fedchain.secagg.masking import self_mask_commitment
from fedchain.secagg.prg import expand_mask

MAX_WORDS = 2**32
TX_GAS = 2**24  # EIP-7825's per-transaction cap
GAS_BUDGET = 8_000_000  # what isNeighbour must stay under at MAX_GRAPH_MEMBERS
#: RFC 7748 section 6.1: Alice's private and public key.
RFC7748_ALICE = (
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
)
#: u-coordinates of small-order points (X25519 with any key gives 0): 0, 1, a point of order 8,
#: and p + 1 (non-canonical 1).
SMALL_ORDER = (
    bytes(32),
    (1).to_bytes(32, "little"),
    bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    (2**255 - 19 + 1).to_bytes(32, "little"),
)

GAS: dict[str, int] = {}  # printed at the end of the module


@dataclass
class Terms:
    chain: EmbeddedChain
    tx: Transactor
    sender: LocalAccount
    contract: Any
    errors: dict[str, list[str]]  # error name -> argument types

    @property
    def f(self) -> Any:
        return self.contract.functions

    def revert_of(self, fn: str, *args: Any) -> bytes | None:
        """The revert data of ``fn(*args)`` (None if it does not revert)."""
        call = {
            "from": self.sender.address,
            "to": self.contract.address,
            "data": self.contract.encode_abi(fn, args=list(args)),
            "gas": TX_GAS,
        }
        return self.chain.revert_data(call, int(self.chain.w3.eth.block_number))

    def error(self, name: str, *values: Any) -> bytes:
        """The revert data of the custom error ``name(values)``."""
        types = self.errors[name]
        return keccak(text=f"{name}({','.join(types)})")[:4] + encode(types, list(values))

    def gas(self, call: Any) -> int:
        """gasUsed of ``call`` sent as a transaction."""
        return self.tx.send(self.sender, call, gas=TX_GAS, operation="measure").gas_used


@pytest.fixture(scope="module")
def terms() -> Iterator[Terms]:
    art = load_artifact("SecureTerms")
    with EmbeddedChain() as chain:
        tx = Transactor(chain)
        sender = derive_account("test-secure-terms", 0)
        chain.fund(sender.address, 10**22)
        factory = chain.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
        r = tx.send(sender, factory.constructor(), gas=5_000_000, operation="deploy")
        assert r.contract_address is not None
        contract = chain.w3.eth.contract(
            address=Web3.to_checksum_address(r.contract_address), abi=art.abi
        )
        errors = {
            i["name"]: [p["type"] for p in i["inputs"]] for i in art.abi if i["type"] == "error"
        }
        yield Terms(chain, tx, sender, contract, errors)
    if GAS:
        print("\nSecureTerms gas (transaction gasUsed):")
        for what, g in GAS.items():
            print(f"  {what:<44} {g:>10,}")


@pytest.fixture(scope="module")
def max_members(terms: Terms) -> int:
    return int(terms.f.MAX_GRAPH_MEMBERS().call())


def test_all_errors_are_prefixed(terms: Terms) -> None:
    assert terms.errors, "SecureTerms declares its errors"
    prefixes = ("SecureTerms", "ChaCha20Mask", "X25519")  # the contract's and its libraries'
    assert all(n.startswith(prefixes) for n in terms.errors), sorted(terms.errors)


def test_runtime_code_fits_eip170() -> None:
    code = load_artifact("SecureTerms").deployed_bytecode
    assert 0 < (len(code) - 2) // 2 <= 24_576


# --------------------------------------------------------------------------- mask chunks


def _keystream_words(seed: bytes, first_block: int, n_words: int) -> list[int]:
    """Mask words from keystream block ``first_block`` on (for chunks expand_mask cannot reach)."""
    nonce16 = first_block.to_bytes(4, "little") + bytes(12)
    enc = Cipher(algorithms.ChaCha20(seed, nonce16), mode=None).encryptor()
    return list(struct.unpack(f"<{n_words}Q", enc.update(bytes(8 * n_words))))


def test_mask_chunks_are_expand_mask_including_the_last_partial_one(terms: Terms) -> None:
    rng = np.random.default_rng(10)
    seed = rng.bytes(32)
    length, k = 1000, 256  # chunks 0..3, the last one 232 words
    want = [int(x) for x in expand_mask(seed, length)]
    got = [list(terms.f.maskChunk(seed, c, k, length).call()) for c in range(4)]
    assert [len(g) for g in got] == [256, 256, 256, 232]
    assert sum(got, []) == want
    GAS["maskChunk(chunkElems 256, full chunk)"] = terms.gas(terms.f.maskChunk(seed, 1, k, length))


@pytest.mark.parametrize(
    ("length", "chunk_elems", "chunk"),
    [
        (1, 1, 0),  # one word
        (100, 7, 14),  # last chunk: 2 words, starting inside a block
        (700, 100, 6),  # starts at word 600, block 75
        (1001, 13, 40),  # starts at word 520, a block boundary
        (10, 256, 0),  # one chunk, shorter than chunkElems
        (10, 2**256 - 1, 0),  # no overflow in chunk·chunkElems
    ],
)
def test_mask_chunk_shapes(terms: Terms, length: int, chunk_elems: int, chunk: int) -> None:
    seed = np.random.default_rng(length + chunk).bytes(32)
    first = chunk * chunk_elems
    want = [int(x) for x in expand_mask(seed, length)[first : first + chunk_elems]]
    assert list(terms.f.maskChunk(seed, chunk, chunk_elems, length).call()) == want


def test_last_chunk_of_the_longest_mask(terms: Terms) -> None:
    seed = np.random.default_rng(11).bytes(32)
    k, length = 256, MAX_WORDS
    last = length // k - 1
    want = _keystream_words(seed, last * k // 8, k)
    assert list(terms.f.maskChunk(seed, last, k, length).call()) == want
    out = terms.error("SecureTermsChunkOutOfRange", last + 1, k, length)
    assert terms.revert_of("maskChunk", seed, last + 1, k, length) == out
    too_long = terms.error("SecureTermsMaskTooLong", length + 1, MAX_WORDS)
    assert terms.revert_of("maskChunk", seed, 0, k, length + 1) == too_long


@pytest.mark.parametrize(
    ("chunk", "chunk_elems", "length"),
    [(4, 256, 1000), (0, 0, 1000), (0, 256, 0), (2**256 - 1, 2, 1000), (1, 2**256 - 1, 10)],
)
def test_mask_chunk_out_of_range(terms: Terms, chunk: int, chunk_elems: int, length: int) -> None:
    want = terms.error("SecureTermsChunkOutOfRange", chunk, chunk_elems, length)
    assert terms.revert_of("maskChunk", bytes(32), chunk, chunk_elems, length) == want


# --------------------------------------------------------------------------- commitments, keys


def test_self_mask_commitment(terms: Terms) -> None:
    rng = np.random.default_rng(12)
    for _ in range(3):
        seed = rng.bytes(32)
        commitment = self_mask_commitment(seed)
        assert terms.f.selfMaskSeedMatches(seed, commitment).call() is True
        flipped = bytes([seed[0] ^ 1]) + seed[1:]
        assert terms.f.selfMaskSeedMatches(flipped, commitment).call() is False
        assert terms.f.selfMaskSeedMatches(seed, bytes(32)).call() is False


def test_public_key_is_cryptographys(terms: Terms) -> None:
    sk, pk = (bytes.fromhex(x) for x in RFC7748_ALICE)
    assert terms.f.publicKeyOf(sk).call() == pk
    rng = np.random.default_rng(13)
    for _ in range(3):
        raw = rng.bytes(32)  # unclamped: both sides clamp
        assert terms.f.publicKeyOf(raw).call() == public_bytes(private_from_bytes(raw))


def _pair(rng: np.random.Generator) -> tuple[str, str]:
    a, b = (Web3.to_checksum_address("0x" + rng.bytes(20).hex()) for _ in range(2))
    first, second = sorted((a, b), key=lambda x: int(x, 16))
    return first, second


def test_pairwise_seed_is_keys_agree_from_both_ends(terms: Terms) -> None:
    rng = np.random.default_rng(14)
    for i in range(2):
        a_sk, b_sk = rng.bytes(32), rng.bytes(32)
        a_pk, b_pk = (public_bytes(private_from_bytes(s)) for s in (a_sk, b_sk))
        task_id = int.from_bytes(rng.bytes(32), "big") if i else 7
        round_ = int(rng.integers(0, 2**63)) if i else 1
        first, second = _pair(rng)
        context = pair_context(task_id, round_, first, second)
        want = agree(private_from_bytes(a_sk), b_pk, purpose=PURPOSE_PAIRWISE_MASK, context=context)
        f = terms.f
        assert f.pairwiseSeed(a_sk, a_pk, b_pk, task_id, round_, first, second).call() == want
        assert f.pairwiseSeed(b_sk, b_pk, a_pk, task_id, round_, first, second).call() == want
        # Bound to the context: another round or the pair swapped is another seed.
        assert f.pairwiseSeed(a_sk, a_pk, b_pk, task_id, round_ ^ 1, first, second).call() != want
        assert f.pairwiseSeed(a_sk, a_pk, b_pk, task_id, round_, second, first).call() != want
    GAS["pairwiseSeed"] = terms.gas(f.pairwiseSeed(a_sk, a_pk, b_pk, 7, 1, first, second))


def test_pairwise_seed_with_a_non_canonical_peer_key(terms: Terms) -> None:
    """Bit 255 of a u-coordinate is ignored by both sides (RFC 7748 section 5)."""
    rng = np.random.default_rng(15)
    a_sk = rng.bytes(32)
    a_pk = public_bytes(private_from_bytes(a_sk))
    peer = bytearray(public_bytes(private_from_bytes(rng.bytes(32))))
    peer[31] |= 0x80
    first, second = _pair(rng)
    context = pair_context(3, 2, first, second)
    want = agree(
        private_from_bytes(a_sk), bytes(peer), purpose=PURPOSE_PAIRWISE_MASK, context=context
    )
    assert terms.f.pairwiseSeed(a_sk, a_pk, bytes(peer), 3, 2, first, second).call() == want


def test_pairwise_seed_refuses_a_secret_that_is_not_the_advertised_keys(terms: Terms) -> None:
    rng = np.random.default_rng(16)
    a_sk, other = rng.bytes(32), rng.bytes(32)
    a_pk, derived = (public_bytes(private_from_bytes(s)) for s in (a_sk, other))
    peer = public_bytes(private_from_bytes(rng.bytes(32)))
    first, second = _pair(rng)
    got = terms.revert_of("pairwiseSeed", other, a_pk, peer, 1, 1, first, second)
    assert got == terms.error("SecureTermsKeyMismatch", a_pk, derived)


@pytest.mark.parametrize("peer", SMALL_ORDER, ids=["zero", "one", "order8", "p_plus_1"])
def test_pairwise_seed_refuses_small_order_peer_keys(terms: Terms, peer: bytes) -> None:
    rng = np.random.default_rng(17)
    a_sk = rng.bytes(32)
    a_pk = public_bytes(private_from_bytes(a_sk))
    first, second = _pair(rng)
    with pytest.raises(SecAggError):  # cryptography refuses the all-zero shared secret too
        agree(
            private_from_bytes(a_sk),
            peer,
            purpose=PURPOSE_PAIRWISE_MASK,
            context=pair_context(1, 1, first, second),
        )
    got = terms.revert_of("pairwiseSeed", a_sk, a_pk, peer, 1, 1, first, second)
    assert got == terms.error("SecureTermsSmallOrderKey", peer)
    assert X25519PrivateKey.from_private_bytes(a_sk)  # the key itself was fine


# --------------------------------------------------------------------------- graph parameters


def exact_parameters(n: int) -> tuple[int, int]:
    """SecureTerms' rule: ⌈6·log2 n⌉ is the least m with 2**m ≥ n**6 (bit length of n**6 − 1)."""
    wanted = (n**6 - 1).bit_length()
    k = min(n - 1, wanted + wanted % 2)
    return k, max(2, k // 2 + 1)


def test_exact_parameters_agree_with_choose_parameters_for_every_n_to_10000() -> None:
    float_wanted = {n: math.ceil(6 * math.log2(n)) for n in range(3, 10_001)}
    disagree_wanted = [n for n, w in float_wanted.items() if w != (n**6 - 1).bit_length()]
    assert not disagree_wanted, f"float ⌈6·log2 n⌉ is off for n = {disagree_wanted}"
    disagree = [n for n in range(3, 10_001) if exact_parameters(n) != choose_parameters(n)]
    assert not disagree, f"choose_parameters differs from the exact rule for n = {disagree}"


def test_graph_parameters_on_chain(terms: Terms, max_members: int) -> None:
    rng = np.random.default_rng(18)
    ns = {*range(3, 80), 3251, 6502, max_members, *(2**e for e in range(7, 13))}
    ns |= {int(x) for x in rng.integers(80, max_members + 1, size=120)}
    ns = {n for n in ns if n <= max_members}
    for n in sorted(ns):
        assert tuple(terms.f.graphParameters(n).call()) == choose_parameters(n), n


@pytest.mark.parametrize("n", [0, 1, 2, "max+1"])
def test_graph_parameters_refuse_bad_sizes(terms: Terms, max_members: int, n: Any) -> None:
    n = max_members + 1 if n == "max+1" else n
    want = terms.error("SecureTermsBadGroupSize", n, max_members)
    assert terms.revert_of("graphParameters", n) == want
    assert terms.revert_of("isNeighbour", bytes(32), n, 0, 1) == want
    assert terms.revert_of("ringPosition", bytes(32), n, 0) == want


# --------------------------------------------------------------------------- neighbour graph


def _members(n: int) -> list[str]:
    """n distinct checksummed addresses, ascending: index i is member i in either order."""
    return [Web3.to_checksum_address(f"0x{i + 1:040x}") for i in range(n)]


def _edge(position: dict[int, int], n: int, k: int, a: int, b: int) -> bool:
    """The rule SecureTerms implements (``position[a]`` = index of a in the shuffled ring)."""
    if k == n - 1:
        return True
    d = abs(position[a] - position[b])
    d = min(d, n - d)
    return 1 <= d <= k // 2 or (k % 2 == 1 and n % 2 == 0 and d == n // 2)


def test_ring_positions_are_shuffled(terms: Terms) -> None:
    rng = np.random.default_rng(19)
    for n in (3, 10, 41, 256):
        seed = rng.bytes(32)
        ring = shuffled(list(range(n)), seed)
        for a in {0, n - 1, ring[0], ring[-1], int(rng.integers(n))}:
            assert terms.f.ringPosition(seed, n, a).call() == ring.index(a), (n, a)


# The graph is complete (k = n − 1) for n ≤ 31 and n = 33, with k odd for even n among them
# (n = 10: k = 9); n = 32 has k = 30 (6·log2 32 is exactly 30), n = 34 and 35 have k = 32.
@pytest.mark.parametrize("n", [3, 4, 10, 31, 32, 33, 34, 35, 64, 101, 200])
def test_is_neighbour_is_the_python_graph(terms: Terms, n: int) -> None:
    rng = np.random.default_rng(1000 + n)
    seed = rng.bytes(32)
    k, _ = choose_parameters(n)
    ring = shuffled(list(range(n)), seed)
    position = {a: p for p, a in enumerate(ring)}
    people = _members(n)
    graph = neighbours(people, k=k, seed=seed)
    index = {p: i for i, p in enumerate(people)}
    adjacency = {index[p]: {index[q] for q in ns} for p, ns in graph.items()}
    assert all(
        adjacency[a] == {b for b in range(n) if b != a and _edge(position, n, k, a, b)}
        for a in range(n)
    )
    pairs: set[tuple[int, int]] = set()
    if n <= 12:
        pairs = {(a, b) for a in range(n) for b in range(n) if a != b}
    else:
        # Both sides of the boundary d = k/2 around two members, the members at ring positions
        # 0 and n−1 (the wrap-around), and random pairs.
        for pos in (0, int(rng.integers(n))):
            a = ring[pos]
            for d in (1, k // 2, k // 2 + 1, n // 2):
                pairs |= {(a, ring[(pos + d) % n]), (ring[(pos - d) % n], a)}
        pairs |= {(int(a), int(b)) for a, b in rng.integers(n, size=(4, 2)) if a != b}
        pairs = {(a, b) for a, b in pairs if a != b}
    for a, b in sorted(pairs):
        assert terms.f.isNeighbour(seed, n, a, b).call() is (b in adjacency[a]), (n, a, b)


def test_is_neighbour_refuses_bad_members(terms: Terms) -> None:
    seed, n = bytes(32), 50
    not_member = "SecureTermsNotMember"
    assert terms.revert_of("isNeighbour", seed, n, n, 0) == terms.error(not_member, n, n)
    assert terms.revert_of("isNeighbour", seed, n, 0, 2**256 - 1) == terms.error(
        not_member, 2**256 - 1, n
    )
    assert terms.revert_of("isNeighbour", seed, n, 7, 7) == terms.error("SecureTermsSameMember", 7)
    assert terms.revert_of("ringPosition", seed, n, n) == terms.error(not_member, n, n)
    # Complete graphs refuse the same way.
    assert terms.revert_of("isNeighbour", seed, 10, 3, 3) == terms.error("SecureTermsSameMember", 3)


def _worst_case_gas(terms: Terms, n: int) -> int:
    """isNeighbour for the members that end at ring positions 0 and 1: every step runs."""
    seed = np.random.default_rng(n).bytes(32)
    ring = shuffled(list(range(n)), seed)
    return terms.gas(terms.f.isNeighbour(seed, n, ring[0], ring[1]))


def test_is_neighbour_gas_stays_under_budget_at_the_maximum(terms: Terms, max_members: int) -> None:
    small, large = 100, 300
    g_small, g_large = _worst_case_gas(terms, small), _worst_case_gas(terms, large)
    per_member = (g_large - g_small) / (large - small)
    at_max = g_large + per_member * (max_members - large)
    GAS["isNeighbour(n=10, complete graph)"] = terms.gas(terms.f.isNeighbour(bytes(32), 10, 0, 1))
    GAS[f"isNeighbour(n={small}, worst case)"] = g_small
    GAS[f"isNeighbour(n={large}, worst case)"] = g_large
    GAS[f"isNeighbour(n={max_members}, worst, extrapolated)"] = int(at_max)
    assert per_member < 1_200, per_member
    assert at_max < GAS_BUDGET * 0.95, at_max

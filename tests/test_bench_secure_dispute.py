"""The benchmark contracts of ``benchmarks/secure_dispute.py`` compute what they claim: the
Solidity ChaCha20 mask chunk is ``fedchain.secagg.prg.expand_mask``'s (and RFC 7539's block),
and the Solidity X25519 is RFC 7748's and ``cryptography``'s.

The contracts are compiled once for the module (solc-js, ``benchmarks/compile_naive.mjs``:
about 10 s) and deployed on a fresh EmbeddedChain of the module's own.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks.secure_dispute import (
    BAD_CHUNK,
    MAX_WORDS,
    RFC7539_BLOCK,
    RFC7539_COUNTER,
    RFC7539_KEY,
    RFC7539_NONCE,
    RFC7748_ALICE,
    RFC7748_BOB,
    RFC7748_SCALAR_MULT,
    RFC7748_SHARED,
    Bench,
    compile_benchmark_contracts,
    deploy,
    keystream_words,
    raw_private,
    raw_public,
    reference_chunk,
)
from fedchain.chain import EmbeddedChain


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    compiled = compile_benchmark_contracts()
    with EmbeddedChain() as chain:
        yield deploy(chain, compiled)


def test_chacha20_block_is_rfc7539_2_3_2(bench: Bench) -> None:
    got = bench.chacha.functions.blockWords(RFC7539_KEY, RFC7539_COUNTER, RFC7539_NONCE).call()
    assert list(got) == list(struct.unpack("<8Q", RFC7539_BLOCK))


@pytest.mark.parametrize(
    ("chunk_elems", "chunk"),
    [(256, 0), (64, 1000), (100, 7)],  # (100, 7) starts at word 700, inside keystream block 87
)
def test_mask_chunk_is_expand_mask(bench: Bench, chunk_elems: int, chunk: int) -> None:
    seed = np.random.default_rng(chunk_elems + chunk).bytes(32)
    want = reference_chunk(seed, chunk, chunk_elems)
    assert list(bench.chacha.functions.maskChunk(seed, chunk, chunk_elems).call()) == want
    for bits in (64, 20):
        got = bench.chacha.functions.maskChunkSum(seed, chunk, chunk_elems, bits).call()
        assert got == sum(want) % 2**bits


def test_last_chunk_of_the_stream_and_no_further(bench: Bench) -> None:
    k = 256
    last = MAX_WORDS // k - 1
    seed = np.random.default_rng(1).bytes(32)
    want = keystream_words(seed, last * k // 8, k)
    assert list(bench.chacha.functions.maskChunk(seed, last, k).call()) == want
    revert = bench.revert_of(bench.chacha, "maskChunk", [seed, last + 1, k])
    assert revert == BAD_CHUNK + (last + 1).to_bytes(32, "big") + k.to_bytes(32, "big")


def test_x25519_rfc7748_vectors(bench: Bench) -> None:
    f = bench.x25519.functions
    k, u, out = RFC7748_SCALAR_MULT[1]  # the u with its top bit set
    assert f.x25519(bytes.fromhex(k), bytes.fromhex(u)).call().hex() == out
    a_sk, a_pk = (bytes.fromhex(x) for x in RFC7748_ALICE)
    b_pk = bytes.fromhex(RFC7748_BOB[1])
    assert f.publicKey(a_sk).call() == a_pk
    assert f.checkedAgreement(a_sk, a_pk, b_pk).call().hex() == RFC7748_SHARED


def test_x25519_matches_cryptography(bench: Bench) -> None:
    rng = np.random.default_rng(2)
    sk = X25519PrivateKey.from_private_bytes(rng.bytes(32))
    peer = X25519PrivateKey.from_private_bytes(rng.bytes(32)).public_key()
    got = bench.x25519.functions.x25519(raw_private(sk), raw_public(peer)).call()
    assert got == sk.exchange(peer)

"""Gas of what a dispute of a secure (SecAgg+) round would add on-chain: re-expanding one chunk
of a ChaCha20 mask, and (to check a revealed pairwise seed) an X25519 scalar multiplication.

    python -m benchmarks.secure_dispute            # ~1-2 min on 2 loaded cores
    python -m benchmarks.secure_dispute --quick    # fewer random checks, no X25519 repeats

A plaintext round's dispute opens a chunk of a committed vector; in a secure round the chain only
sees masked vectors, so a dispute over a dropped member would also have to recompute that
member's mask words for the chunk from a revealed seed. The mask generator is
``fedchain.secagg.prg.expand_mask``: ChaCha20 (RFC 7539 block function) keyed by the 32-byte
seed, block counter 0 and an all-zero nonce, word i = keystream bytes 8i..8i+7 little-endian.

Contracts (benchmark entry points, compiled here with the project's solc-js and the settings
of ``scripts/compile_contracts.mjs``, by ``benchmarks/compile_naive.mjs``, which compiles every
file in ``benchmarks/contracts/``; the libraries they wrap are the project's, in
``contracts/utils/``, which ``SecureTerms`` uses too):

* ``ChaCha20Mask.sol``: ChaCha20 in inline assembly, the 4x4 state as four EVM words of four
  64-bit lanes (one vectorised quarter round per column or diagonal round); ``maskChunk``
  returns chunk c (``chunkElems`` words starting at word c·chunkElems) ABI-encoded, and
  ``maskChunkSum`` expands it into memory and returns its sum mod 2^b, so its gas is the cost
  of producing the chunk's words in memory, the part any dispute step would pay.
* ``X25519.sol`` (RFC 7748): Montgomery ladder over 2^255 − 19 with MULMOD, the final
  inversion by MODEXP (precompile 0x05); ``x25519(k, u)``, ``publicKey(k)`` (u = 9) and
  ``checkedAgreement(sk, ownPublic, peerPublic)`` (two ladders: sk is the key behind ownPublic,
  then the shared secret with peerPublic; the HKDF that turns the shared secret into a seed is
  not implemented here and not measured).

Checks (the script exits with status 1 on any mismatch): ChaCha20 against the RFC 7539
section 2.3.2 block vector and against ``expand_mask`` for random seeds, chunk sizes (also
chunks that start inside a keystream block) and chunk indexes, including the last chunk of the
2^32-word stream (against ``cryptography``'s ChaCha20 started at that block: ``expand_mask``
cannot produce 32 GiB) and the revert one chunk later; the sums against numpy's for several
ring widths b; X25519 against RFC 7748's section 5.2 and 6.1 vectors and against
``cryptography``'s X25519 for random keys.

Measurements: every gas number is the receipt's gasUsed of a transaction to the (pure or view)
function on one ``EmbeddedChain`` (eth-tester + py-evm), sent with a gas limit of 2^24
(EIP-7825's cap). ``intrinsic_gas`` = 21,000 + calldata (4 per zero byte, 16 per non-zero byte
of the transaction's input, the pre-EIP-7623 price that applies when execution dominates);
``execution_gas`` = gas − intrinsic_gas. ChaCha20: chunkElems ∈ {64, 128, 256, 512, 1024} at
chunk 0 and chunk 1000. X25519: the RFC vectors and random keys.

Writes benchmarks/results/secure_dispute.json (one row per measurement, provenance, summary)
and prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from rich.console import Console
from rich.table import Table
from web3 import Web3

from benchmarks.provenance import evm_versions, run_meta
from fedchain.chain import ChainError, EmbeddedChain, Transactor, derive_account
from fedchain.secagg.prg import expand_mask

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
SOURCES = (
    "benchmarks/contracts/ChaCha20Mask.sol",
    "benchmarks/contracts/X25519.sol",
    "contracts/utils/ChaCha20Mask.sol",
    "contracts/utils/X25519.sol",
)
CHACHA_CONTRACT = "ChaCha20MaskBench"
X25519_CONTRACT = "X25519Bench"

CHUNK_SIZES = (64, 128, 256, 512, 1024)
CHUNK_INDEXES = (0, 1000)
RING_BITS = 64  # the widest ring: the sum is reduced mod 2^b, which costs the same for any b
EIP_7825_CAP = 2**24  # 16,777,216: the per-transaction gas cap
HALF_MILLION = 500_000
TX_GAS = EIP_7825_CAP
MAX_WORDS = 2**32  # fedchain.secagg.prg: the longest mask
BAD_CHUNK = keccak(text="ChaCha20MaskBadChunk(uint256,uint256)")[:4]

#: RFC 7539 section 2.3.2: key 00..1f, block counter 1, nonce 00:00:00:09:00:00:00:4a:00:00:00:00.
RFC7539_KEY = bytes(range(32))
RFC7539_COUNTER = 1
RFC7539_NONCE = bytes.fromhex("000000090000004a00000000")
RFC7539_BLOCK = bytes.fromhex(
    "10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
    "d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e"
)
#: RFC 7748 section 5.2 (scalar, u, X25519(scalar, u)); the second u has its top bit set.
RFC7748_SCALAR_MULT = (
    (
        "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
        "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    ),
    (
        "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
        "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
    ),
)
#: RFC 7748 section 6.1: Alice's and Bob's private and public keys and their shared secret.
RFC7748_ALICE = (
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
)
RFC7748_BOB = (
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
)
RFC7748_SHARED = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

console = Console()
if not console.is_terminal:  # logs and pipes: wide enough for the tables
    console = Console(width=160)


class Mismatch(Exception):
    """A contract's output differs from the reference."""


# --------------------------------------------------------------------------- compile and deploy


def compile_benchmark_contracts() -> dict[str, Any]:
    """Every contract in benchmarks/contracts/, compiled now by ``compile_naive.mjs``.

    ``benchmarks.gas.compile_naive`` runs the same script but keeps only NaiveOnChainUpdates;
    this keeps them all. Returns ``{"compiler": str, "contracts": {name: {abi, bytecode}}}``.
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not on PATH: benchmark contracts are compiled with solc-js")
    proc = subprocess.run(
        [node, str(HERE / "compile_naive.mjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"compiling benchmarks/contracts failed:\n{proc.stderr}")
    out: dict[str, Any] = json.loads(proc.stdout)
    for name in (CHACHA_CONTRACT, X25519_CONTRACT):
        if name not in out["contracts"]:
            raise RuntimeError(f"compile_naive.mjs printed no {name}")
    return out


@dataclass
class Bench:
    """The two benchmark contracts deployed on one chain, and a funded sender."""

    chain: EmbeddedChain
    tx: Transactor
    sender: LocalAccount
    chacha: Any
    x25519: Any

    def revert_of(self, contract: Any, fn: str, args: list[Any]) -> bytes | None:
        """The revert data of calling ``fn(*args)`` (None if it does not revert)."""
        call = {
            "from": self.sender.address,
            "to": contract.address,
            "data": contract.encode_abi(fn, args=args),
            "gas": TX_GAS,
        }
        return self.chain.revert_data(call, int(self.chain.w3.eth.block_number))

    def send(self, call: Any, operation: str) -> dict[str, int]:
        """Send ``call`` as a transaction; its gas, intrinsic gas and execution gas."""
        rec = self.tx.send(self.sender, call, gas=TX_GAS, operation=operation)
        data = bytes(self.chain.w3.eth.get_transaction(rec.tx_hash)["input"])
        zeros = data.count(0)
        intrinsic = 21_000 + 4 * zeros + 16 * (len(data) - zeros)
        return {
            "gas": rec.gas_used,
            "intrinsic_gas": intrinsic,
            "execution_gas": rec.gas_used - intrinsic,
            "calldata_bytes": len(data),
        }


def deploy(chain: EmbeddedChain, compiled: dict[str, Any]) -> Bench:
    tx = Transactor(chain)
    sender = derive_account("bench-secure-dispute", 0)
    chain.fund(sender.address, 10**22)
    w3 = chain.w3
    deployed = []
    for name in (CHACHA_CONTRACT, X25519_CONTRACT):
        art = compiled["contracts"][name]
        factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        r = tx.send(sender, factory.constructor(), gas=5_000_000, operation=f"deploy_{name}")
        if r.contract_address is None:
            raise RuntimeError(f"deploying {name} returned no address")
        deployed.append(
            w3.eth.contract(address=Web3.to_checksum_address(r.contract_address), abi=art["abi"])
        )
    return Bench(chain, tx, sender, deployed[0], deployed[1])


# --------------------------------------------------------------------------- references


def reference_chunk(seed: bytes, chunk: int, chunk_elems: int) -> list[int]:
    """Words chunk·k .. (chunk+1)·k − 1 of ``expand_mask(seed, (chunk+1)·k)``."""
    words = expand_mask(seed, (chunk + 1) * chunk_elems)
    return [int(x) for x in words[chunk * chunk_elems :]]


def keystream_words(seed: bytes, first_block: int, n_words: int) -> list[int]:
    """``n_words`` words of the mask of ``seed`` from block ``first_block`` on, by starting
    ``cryptography``'s ChaCha20 at that block counter (for chunks ``expand_mask`` cannot reach)."""
    nonce16 = first_block.to_bytes(4, "little") + bytes(12)
    enc = Cipher(algorithms.ChaCha20(seed, nonce16), mode=None).encryptor()
    return list(struct.unpack(f"<{n_words}Q", enc.update(bytes(8 * n_words))))


def raw_private(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def library_x25519(k: bytes, u: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(k).exchange(X25519PublicKey.from_public_bytes(u))


# --------------------------------------------------------------------------- verification


def _expect(what: str, got: Any, want: Any) -> None:
    if got != want:
        raise Mismatch(f"{what}: contract {got!r} != reference {want!r}")


def verify_chacha_vector(b: Bench) -> None:
    """RFC 7539 section 2.3.2: the serialized block, as 8 little-endian uint64."""
    ks = Cipher(
        algorithms.ChaCha20(RFC7539_KEY, RFC7539_COUNTER.to_bytes(4, "little") + RFC7539_NONCE),
        mode=None,
    ).encryptor()
    _expect("cryptography vs RFC 7539 2.3.2", ks.update(bytes(64)), RFC7539_BLOCK)
    got = b.chacha.functions.blockWords(RFC7539_KEY, RFC7539_COUNTER, RFC7539_NONCE).call()
    _expect("RFC 7539 2.3.2 block", list(got), list(struct.unpack("<8Q", RFC7539_BLOCK)))


def verify_chacha_chunks(b: Bench, rng: np.random.Generator, cases: int) -> list[dict[str, Any]]:
    """Random seeds against ``expand_mask``; every measured (k, chunk) plus odd chunk sizes."""
    combos = [(k, c) for k in CHUNK_SIZES for c in CHUNK_INDEXES]
    combos += [(100, 7), (5, 3), (13, 1000), (1, 0), (1, 9)]  # chunks starting inside a block
    extra = [(int(rng.integers(1, 300)), int(rng.integers(0, 2000))) for _ in range(cases)]
    checked = []
    for k, c in combos + extra:
        seed = rng.bytes(32)
        want = reference_chunk(seed, c, k)
        _expect(
            f"maskChunk(k={k}, chunk={c})",
            list(b.chacha.functions.maskChunk(seed, c, k).call()),
            want,
        )
        for bits in (64, 32, 17, 1):
            got = b.chacha.functions.maskChunkSum(seed, c, k, bits).call()
            _expect(f"maskChunkSum(k={k}, chunk={c}, b={bits})", got, sum(want) % 2**bits)
        checked.append({"chunk_elems": k, "chunk": c, "reference": "expand_mask"})
    # The last chunk of the 2**32-word stream, and the revert one chunk later.
    for k in (256, 1000):
        last = MAX_WORDS // k - 1
        seed = rng.bytes(32)
        first = last * k
        words = keystream_words(seed, first // 8, (first % 8) + k)[first % 8 :]
        _expect(
            f"maskChunk(k={k}, last chunk {last})",
            list(b.chacha.functions.maskChunk(seed, last, k).call()),
            words,
        )
        checked.append({"chunk_elems": k, "chunk": last, "reference": "cryptography at block"})
        revert = b.revert_of(b.chacha, "maskChunk", [seed, last + 1, k])
        want = BAD_CHUNK + (last + 1).to_bytes(32, "big") + k.to_bytes(32, "big")
        _expect(f"maskChunk(k={k}, chunk={last + 1}) beyond 2**32 words", revert, want)
    return checked


def verify_x25519(b: Bench, rng: np.random.Generator, cases: int) -> list[dict[str, Any]]:
    """RFC 7748 5.2 and 6.1 vectors, then random keys against ``cryptography``."""
    checked = []
    f = b.x25519.functions
    for k, u, out in RFC7748_SCALAR_MULT:
        kb, ub = bytes.fromhex(k), bytes.fromhex(u)
        _expect("cryptography vs RFC 7748 5.2", library_x25519(kb, ub).hex(), out)
        _expect(f"x25519 RFC 7748 5.2 ({k[:8]}…)", f.x25519(kb, ub).call().hex(), out)
        checked.append({"case": f"RFC 7748 5.2 scalar {k[:8]}…"})
    for name, (sk, pk) in (("Alice", RFC7748_ALICE), ("Bob", RFC7748_BOB)):
        _expect(f"publicKey RFC 7748 6.1 {name}", f.publicKey(bytes.fromhex(sk)).call().hex(), pk)
        checked.append({"case": f"RFC 7748 6.1 {name}'s public key"})
    for sk, peer in ((RFC7748_ALICE, RFC7748_BOB), (RFC7748_BOB, RFC7748_ALICE)):
        args = (bytes.fromhex(sk[0]), bytes.fromhex(sk[1]), bytes.fromhex(peer[1]))
        _expect(
            "checkedAgreement RFC 7748 6.1", f.checkedAgreement(*args).call().hex(), RFC7748_SHARED
        )
        _expect("x25519 RFC 7748 6.1", f.x25519(args[0], args[2]).call().hex(), RFC7748_SHARED)
    checked.append({"case": "RFC 7748 6.1 shared secret, both ways"})
    wrong = f.checkedAgreement(
        bytes.fromhex(RFC7748_ALICE[0]),
        bytes.fromhex(RFC7748_BOB[1]),
        bytes.fromhex(RFC7748_BOB[1]),
    ).call()
    _expect("checkedAgreement with a public key that is not the secret key's", wrong, bytes(32))
    for _ in range(cases):
        sk = X25519PrivateKey.from_private_bytes(rng.bytes(32))
        peer = X25519PrivateKey.from_private_bytes(rng.bytes(32)).public_key()
        skb, own, pkb = raw_private(sk), raw_public(sk.public_key()), raw_public(peer)
        _expect("x25519 random", f.x25519(skb, pkb).call(), sk.exchange(peer))
        _expect("publicKey random", f.publicKey(skb).call(), own)
        _expect(
            "checkedAgreement random", f.checkedAgreement(skb, own, pkb).call(), sk.exchange(peer)
        )
    # Any 32 bytes are a valid u (RFC 7748 section 5): random strings (top bit set or not), and
    # the non-canonical p + 9, which must act as 9.
    p_plus_9 = (2**255 - 19 + 9).to_bytes(32, "little")
    for ub in [rng.bytes(32) for _ in range(cases)] + [p_plus_9]:
        kb = rng.bytes(32)
        _expect("x25519 random u", f.x25519(kb, ub).call(), library_x25519(kb, ub))
    kb = rng.bytes(32)
    _expect(
        "x25519(k, p + 9) vs publicKey(k)", f.x25519(kb, p_plus_9).call(), f.publicKey(kb).call()
    )
    # u = 0 has small order: the ladder ends with z = 0 and the output is all zero.
    _expect("x25519(k, 0)", f.x25519(kb, bytes(32)).call(), bytes(32))
    checked.append(
        {"case": f"{cases} random key pairs, {cases} random u, u = p + 9 and u = 0 (cryptography)"}
    )
    return checked


# --------------------------------------------------------------------------- measurements


def _row(
    step: str, chunk_elems: int | None, chunk: int | None, m: dict[str, int], **extra: Any
) -> dict[str, Any]:
    return {
        "step": step,
        "chunk_elems": chunk_elems,
        "chunk": chunk,
        **m,
        **extra,
        "fits_eip7825": m["gas"] <= EIP_7825_CAP,
        "under_half_million": m["gas"] <= HALF_MILLION,
    }


def measure_chacha(b: Bench, rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for k in CHUNK_SIZES:
        for c in CHUNK_INDEXES:
            seed = rng.bytes(32)
            first, last = c * k, (c + 1) * k - 1
            blocks = last // 8 - first // 8 + 1
            for step, call in (
                (
                    "chacha20_chunk_in_memory",
                    b.chacha.functions.maskChunkSum(seed, c, k, RING_BITS),
                ),
                ("chacha20_chunk_returned", b.chacha.functions.maskChunk(seed, c, k)),
            ):
                m = b.send(call, step)
                rows.append(
                    _row(
                        step,
                        k,
                        c,
                        m,
                        keystream_blocks=blocks,
                        execution_gas_per_block=round(m["execution_gas"] / blocks, 1),
                    )
                )
    return rows


def measure_x25519(b: Bench, rng: np.random.Generator, repeats: int) -> list[dict[str, Any]]:
    rows = []
    f = b.x25519.functions
    for k, u, _ in RFC7748_SCALAR_MULT:
        m = b.send(f.x25519(bytes.fromhex(k), bytes.fromhex(u)), "x25519")
        rows.append(_row("x25519_scalar_mult", None, None, m, keys=f"RFC 7748 5.2 scalar {k[:8]}…"))
    for _ in range(repeats):
        sk = X25519PrivateKey.from_private_bytes(rng.bytes(32))
        peer = X25519PrivateKey.from_private_bytes(rng.bytes(32)).public_key()
        skb, own, pkb = raw_private(sk), raw_public(sk.public_key()), raw_public(peer)
        rows.append(
            _row(
                "x25519_scalar_mult",
                None,
                None,
                b.send(f.x25519(skb, pkb), "x25519"),
                keys="random",
            )
        )
        rows.append(
            _row(
                "x25519_public_key",
                None,
                None,
                b.send(f.publicKey(skb), "publicKey"),
                keys="random",
            )
        )
        m = b.send(f.checkedAgreement(skb, own, pkb), "checkedAgreement")
        rows.append(_row("x25519_checked_agreement", None, None, m, keys="random"))
    return rows


# --------------------------------------------------------------------------- report


def _fmt(x: float | int | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def _yes(ok: bool) -> str:
    return "[green]yes[/green]" if ok else "[red]no[/red]"


def print_tables(result: dict[str, Any]) -> None:
    rows = result["rows"]
    t = Table(
        title="ChaCha20 mask chunk on-chain (receipt gasUsed; execution = gas − 21,000 − calldata)"
    )
    for col in (
        "step",
        "chunkElems",
        "chunk",
        "blocks",
        "gas",
        "execution",
        "exec/block",
        "≤ 0.5 M",
        "≤ 2^24",
    ):
        t.add_column(col, justify="left" if col == "step" else "right")
    for r in rows:
        if r["chunk_elems"] is None:
            continue
        t.add_row(
            r["step"],
            str(r["chunk_elems"]),
            str(r["chunk"]),
            str(r["keystream_blocks"]),
            _fmt(r["gas"]),
            _fmt(r["execution_gas"]),
            _fmt(r["execution_gas_per_block"]),
            _yes(r["under_half_million"]),
            _yes(r["fits_eip7825"]),
        )
    console.print(t)
    x = [r for r in rows if r["step"].startswith("x25519")]
    if x:
        t = Table(title="X25519 (RFC 7748) on-chain, per transaction")
        for col in (
            "step",
            "n",
            "gas mean",
            "gas min",
            "gas max",
            "execution mean",
            "≤ 0.5 M",
            "≤ 2^24",
        ):
            t.add_column(col, justify="left" if col == "step" else "right")
        for step in ("x25519_scalar_mult", "x25519_public_key", "x25519_checked_agreement"):
            g = [r for r in x if r["step"] == step]
            if not g:
                continue
            gas = [r["gas"] for r in g]
            t.add_row(
                step,
                str(len(g)),
                _fmt(mean(gas)),
                _fmt(min(gas)),
                _fmt(max(gas)),
                _fmt(mean(r["execution_gas"] for r in g)),
                _yes(all(r["under_half_million"] for r in g)),
                _yes(all(r["fits_eip7825"] for r in g)),
            )
        console.print(t)
    console.print(result["summary"])


def summarize(rows: list[dict[str, Any]]) -> str:
    def gas(step: str, k: int, c: int) -> int:
        return next(
            r["gas"]
            for r in rows
            if r["step"] == step and r["chunk_elems"] == k and r["chunk"] == c
        )

    mem = "chacha20_chunk_in_memory"
    worst = max((r for r in rows if r["step"] == mem), key=lambda r: r["gas"])
    per_block = [r["execution_gas_per_block"] for r in rows if r["step"] == mem]
    parts = [
        f"One 256-word ChaCha20 mask chunk expanded into memory: {gas(mem, 256, 0):,} gas per "
        f"transaction at chunk 0 and {gas(mem, 256, 1000):,} at chunk 1000 "
        f"({gas('chacha20_chunk_returned', 256, 0):,} when the words are also returned "
        f"ABI-encoded); {'under' if gas(mem, 256, 0) <= HALF_MILLION else 'over'} 500,000 and "
        f"{'under' if gas(mem, 256, 0) <= EIP_7825_CAP else 'over'} 2^24. Execution is "
        f"{min(per_block):,.0f}-{max(per_block):,.0f} gas per 64-byte keystream block (8 words), "
        f"so the cost is linear in chunkElems and does not depend on the chunk index; the largest "
        f"measured, chunkElems = {worst['chunk_elems']}, costs {worst['gas']:,}."
    ]
    sm = [r["gas"] for r in rows if r["step"] == "x25519_scalar_mult"]
    ca = [r["gas"] for r in rows if r["step"] == "x25519_checked_agreement"]
    if sm:
        parts.append(
            f"X25519 scalar multiplication: {min(sm):,}-{max(sm):,} gas per transaction; checking a "
            f"revealed secret key against its public key and computing the shared secret (two "
            f"ladders, no HKDF): {min(ca):,}-{max(ca):,} gas, one transaction."
            if ca
            else f"X25519 scalar multiplication: {min(sm):,}-{max(sm):,} gas per transaction."
        )
    return " ".join(parts)


def _meta(compiled: dict[str, Any]) -> dict[str, Any]:
    return {
        **run_meta(ROOT),
        "chain": f"embedded ({evm_versions()})",
        "compiler": compiled["compiler"],
        "compiler_settings": "as scripts/compile_contracts.mjs: viaIR, optimizer runs 10000, evmVersion cancun",
        "source_sha256": {
            s: hashlib.sha256((ROOT / s).read_bytes()).hexdigest()[:16] for s in SOURCES
        },
        "bytecode_sha256": {
            n: hashlib.sha256(compiled["contracts"][n]["bytecode"].encode()).hexdigest()[:16]
            for n in (CHACHA_CONTRACT, X25519_CONTRACT)
        },
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer random checks and X25519 repeats")
    ap.add_argument("--no-x25519", action="store_true", help="ChaCha20 only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS, help="directory for secure_dispute.json")
    args = ap.parse_args(argv)
    cases = 2 if args.quick else 8
    repeats = 1 if args.quick else 5
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    try:
        with console.status("compiling benchmarks/contracts with solc-js"):
            compiled = compile_benchmark_contracts()
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/red]")
        return 2
    meta = _meta(compiled)
    verification: dict[str, Any] = {}
    rows: list[dict[str, Any]] = []
    try:
        with EmbeddedChain() as chain:
            meta["block_gas_limit"] = int(chain.w3.eth.get_block("latest")["gasLimit"])
            meta["evm_rules"] = type(chain.tester.backend.chain.get_vm()).__name__
            b = deploy(chain, compiled)
            verify_chacha_vector(b)
            verification["chacha20_rfc7539_2_3_2"] = "match"
            verification["chacha20_chunks"] = verify_chacha_chunks(b, rng, cases)
            console.log(
                f"ChaCha20: RFC 7539 2.3.2 and {len(verification['chacha20_chunks'])} chunks match"
            )
            if not args.no_x25519:
                verification["x25519"] = verify_x25519(b, rng, cases)
                console.log("X25519: RFC 7748 5.2 / 6.1 vectors and cryptography match")
            rows += measure_chacha(b, rng)
            if not args.no_x25519:
                rows += measure_x25519(b, rng, repeats)
    except Mismatch as exc:
        console.print(f"[red]MISMATCH: {exc}[/red]")
        return 1
    except ChainError as exc:
        console.print(f"[red]a measured transaction failed: {exc}[/red]")
        return 1

    meta["wall_seconds"] = round(time.perf_counter() - started, 1)
    result = {
        "benchmark": "secure_dispute",
        "meta": meta,
        "config": {
            "chunk_elems": list(CHUNK_SIZES),
            "chunk_indexes": list(CHUNK_INDEXES),
            "ring_bits": RING_BITS,
            "tx_gas_limit": TX_GAS,
            "random_cases": cases,
            "x25519_repeats": 0 if args.no_x25519 else repeats,
            "seed": args.seed,
            "steps": {
                "chacha20_chunk_in_memory": "ChaCha20MaskBench.maskChunkSum: the chunk's words "
                "expanded into memory, then summed mod 2^b (one uint256 returned)",
                "chacha20_chunk_returned": "ChaCha20MaskBench.maskChunk: the same words returned "
                "ABI-encoded as uint64[]",
                "x25519_scalar_mult": "X25519Bench.x25519(k, u)",
                "x25519_public_key": "X25519Bench.publicKey(k) = x25519(k, 9)",
                "x25519_checked_agreement": "X25519Bench.checkedAgreement: publicKey(sk) == "
                "ownPublic, then x25519(sk, peerPublic); two ladders, no HKDF",
            },
            "gas_fields": "gas = receipt gasUsed; intrinsic_gas = 21000 + 4/zero + 16/non-zero "
            "calldata byte; execution_gas = gas - intrinsic_gas",
        },
        "verification": verification,
        "rows": rows,
        "summary": summarize(rows),
    }
    print_tables(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "secure_dispute.json").write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {args.out / 'secure_dispute.json'} in {meta['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
